"""Choosing a memory tier for the device at hand, before anything is loaded.

Why: a model that does not fit should fail in a second with a sentence, not after minutes of loading with a CUDA
out-of-memory traceback. :func:`choose_memory` compares the plan's peak for the tier (:mod:`engine.memory.plan`) with
the GPU's free memory *now* (``torch.cuda.mem_get_info``: other programs' memory and the CUDA context are already
taken off) minus :data:`~engine.memory.plan.HEADROOM`; ``auto`` takes the most resident tier that fits. On the CPU
no tier changes anything (everything already lives in main memory): the choice is ``full`` and an explicit
``balanced`` / ``low`` earns a one-line notice, not an error.

The plan is the official stack's (:func:`official_plans`): the tiers exist for it; smaller models fit any tier.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

import torch

from engine.errors import GPUMemoryError
from engine.memory.plan import GIB, HEADROOM, TierPlan, load_activations, plan_all
from engine.memory.tiers import FULL, MEMORY_CHOICES, TIERS, TierPolicy, tier_policy


@dataclass(frozen=True)
class MemoryChoice:
    """The outcome of :func:`choose_memory`: the policy to load with, and for the record the bytes the tier needs
    and the bytes that were free (both None on the CPU); ``notice`` is a line to show the user, or None."""

    policy: TierPolicy
    need: int | None = None
    free: int | None = None
    notice: str | None = None


@functools.cache
def official_plans() -> dict[str, TierPlan]:
    """The official stack's plan (part sizes built on the meta device once per process, shipped activations)."""
    from engine.memory.parts import official_parts

    return plan_all(official_parts(), load_activations())


def cpu_notice(requested: str) -> str | None:
    """The line an explicit tier earns on the CPU (None for ``auto`` and ``full``, which are what the CPU does)."""
    if requested in ("auto", "full"):
        return None
    return f"--memory {requested} has no effect on the CPU: every part already lives in main memory"


def free_gpu_bytes(device: torch.device) -> int:
    """Free memory of a CUDA device now (bytes)."""
    free, _total = torch.cuda.mem_get_info(device)
    return int(free)


def choose_memory(
    requested: str,
    device: torch.device | str,
    *,
    refine: bool = True,
    plans: Callable[[], dict[str, TierPlan]] | None = official_plans,
    free: int | None = None,
) -> MemoryChoice:
    """The tier to load with (see the module docstring).

    Args:
        requested: ``auto``, ``full``, ``balanced`` or ``low``.
        device: where the model will run.
        refine: whether the refiner will run (its stages count only then).
        plans: the plan of every tier, computed only on a CUDA device; None = a model that fits any tier (the small
            embedded models): ``auto`` is ``full`` and a named tier is taken as it is.
        free: free device memory in bytes (default: asked from CUDA).

    Raises:
        GPUMemoryError: the tier (or, for ``auto``, the leanest tier) needs more than is free; one line naming the
            tier, the stage that needs the most, the need and the free memory.
    """
    if requested not in MEMORY_CHOICES:
        raise GPUMemoryError(f"--memory: expected one of {', '.join(MEMORY_CHOICES)}, found {requested!r}")
    device = torch.device(device)
    if device.type != "cuda":
        return MemoryChoice(FULL, notice=cpu_notice(requested))
    if plans is None:
        return MemoryChoice(FULL if requested == "auto" else tier_policy(requested))
    tiers = plans()
    free = free_gpu_bytes(device) if free is None else free
    budget = free - HEADROOM
    candidates = TIERS if requested == "auto" else (requested,)
    for name in candidates:
        need = tiers[name].peak(refine)
        if need.total <= budget:
            return MemoryChoice(tier_policy(name), need.total, free)
    name = candidates[-1]
    need = tiers[name].peak(refine)
    what = "no tier fits: the leanest, low," if requested == "auto" else f"tier {name}"
    raise GPUMemoryError(
        f"--memory {requested}: {what} needs {need.total / GIB:.1f} GiB on {device} (its peak: {need.stage}, plus "
        f"{HEADROOM / GIB:.1f} GiB headroom), found {free / GIB:.1f} GiB free"
        + ("; try --memory low" if name != "low" else "; free the GPU or skip the refiner (--no_refiner)" if refine else "")
    )


__all__ = ["MemoryChoice", "choose_memory", "cpu_notice", "free_gpu_bytes", "official_plans"]
