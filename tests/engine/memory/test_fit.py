"""engine.memory.fit: a tier is chosen (or refused, in one line) from the plan and the free memory, before loading."""

from __future__ import annotations

import pytest

from engine.errors import GPUMemoryError
from engine.memory.fit import choose_memory, cpu_notice
from engine.memory.plan import GIB, HEADROOM, StageNeed, TierPlan


def plans() -> dict[str, TierPlan]:
    def tier(name: str, stage1: float, refine: float) -> TierPlan:
        return TierPlan(name, (StageNeed("stage-1 chunk (DiT)", int(stage1 * GIB), 0),
                               StageNeed("refine block", int(refine * GIB), 0, refiner=True)))  # fmt: skip

    return {"full": tier("full", 16, 60), "balanced": tier("balanced", 12, 40), "low": tier("low", 10, 20)}


def test_on_the_cpu_every_tier_is_full_and_only_explicit_lean_tiers_get_a_notice() -> None:
    for requested in ("auto", "full", "balanced", "low"):
        choice = choose_memory(requested, "cpu", plans=lambda: pytest.fail("no plan is needed on the CPU"))
        assert choice.policy.name == "full" and choice.need is None
        assert (choice.notice is None) == (requested in ("auto", "full"))
    assert cpu_notice("low") == "--memory low has no effect on the CPU: every part already lives in main memory"


def test_auto_takes_the_most_resident_tier_that_fits_the_free_memory() -> None:
    free = 25 * GIB + HEADROOM
    assert choose_memory("auto", "cuda", plans=plans, free=free).policy.name == "low"
    assert choose_memory("auto", "cuda", refine=False, plans=plans, free=free).policy.name == "full"
    choice = choose_memory("auto", "cuda", refine=False, plans=plans, free=13 * GIB + HEADROOM)
    assert choice.policy.name == "balanced" and choice.need == 12 * GIB and choice.free == 13 * GIB + HEADROOM


def test_a_tier_that_does_not_fit_fails_in_one_line_naming_tier_need_and_free_memory() -> None:
    with pytest.raises(GPUMemoryError) as err:
        choose_memory("balanced", "cuda:0", plans=plans, free=30 * GIB)
    message = str(err.value)
    assert message.startswith("--memory balanced: tier balanced needs 40.0 GiB on cuda:0 (its peak: refine block")
    assert "found 30.0 GiB free" in message and "try --memory low" in message and "\n" not in message
    with pytest.raises(GPUMemoryError, match="--memory auto: no tier fits: the leanest, low, needs 20.0 GiB .* found 8.0 GiB free"):
        choose_memory("auto", "cuda", plans=plans, free=8 * GIB)


def test_a_model_without_a_plan_fits_any_tier() -> None:
    assert choose_memory("auto", "cuda", plans=None, free=0).policy.name == "full"
    assert choose_memory("low", "cuda", plans=None, free=0).policy.name == "low"
    with pytest.raises(GPUMemoryError, match="expected one of auto, full, balanced, low"):
        choose_memory("huge", "cuda", plans=None, free=0)
