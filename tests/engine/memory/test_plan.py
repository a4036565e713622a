"""engine.memory.plan: the stage arithmetic of each tier, the tier a card gets, and the official numbers."""

from __future__ import annotations

import pytest

from engine.memory.activations import DiTActivations, RefinerActivations, StackActivations, VAEActivations
from engine.memory.parts import PartSize, official_parts
from engine.memory.plan import (
    CUDA_CONTEXT,
    GIB,
    HEADROOM,
    activations_from_dict,
    choose_tier,
    format_plan,
    load_activations,
    plan_all,
    usable_bytes,
)

# Round numbers (GiB) so every stage can be checked by hand.
PARTS = {
    "dit": PartSize("dit", params=2 * GIB, linear_params=GIB, linear_rows=0, largest_linear=GIB // 8),  # 4 / 3 GiB
    "vae_encoder": PartSize("vae_encoder", GIB // 2),  # 1 GiB
    "vae_decoder": PartSize("vae_decoder", GIB // 2),  # 1 GiB
    "gemma2": PartSize("gemma2", GIB),  # 2 GiB
    "refiner": PartSize("refiner", 10 * GIB, largest_block=GIB // 4, outside_blocks=GIB // 4),  # 20 GiB
    "refiner_audio": PartSize("refiner_audio", 4 * GIB),  # 8 GiB
    "connectors": PartSize("connectors", GIB // 2),  # 1 GiB
    "gemma3": PartSize("gemma3", 6 * GIB, largest_block=GIB // 8, outside_blocks=GIB // 2),  # 12 GiB
}
ACTS = StackActivations(
    dit=DiTActivations(tokens=1000, denoise_peak=GIB, commit_peak=2 * GIB, first_chunk_peak=2 * GIB, cache=GIB),
    vae=VAEActivations(per_call={1: GIB, 3: 2 * GIB, 4: 3 * GIB}, state=GIB, clip=5 * GIB),
    caption_peak=GIB,
    refiner=RefinerActivations(prompt_peak=2 * GIB, history=4 * GIB, sink=GIB, captured=GIB, block_peak=GIB,
                               capture_peak=3 * GIB),
)


def totals(plan) -> dict[str, float]:
    return {s.stage: s.total / GIB for s in plan.stages}


def test_each_stage_adds_the_weights_on_the_device_and_the_working_memory() -> None:
    plans = plan_all(PARTS, ACTS)
    full, balanced, low = (totals(plans[t]) for t in ("full", "balanced", "low"))
    # full: DiT 4 + VAE 2 + Gemma-2 2 stay; the whole refiner (20 + 8 + 1) stays once loaded
    assert full["caption (Gemma-2)"] == 4 + 2 + 2 + 1
    assert full["stage-1 chunk (DiT)"] == 8 + 1 + max(2, 1 + 2)  # decoder state + max(chunk 0, cache + t = 0 pass)
    assert full["VAE decode of a chunk"] == 8 + 1 + 1 + 3  # cache + state + a 4-latent call
    assert full["refiner prompt (Gemma-3)"] == 8 + 29 + 12 + 2
    assert full["refine block"] == 8 + 29 + 1 + 4 + 1 + max(1, 3 - 1)
    assert full["decode of the refined clip"] == 8 + 29 + 5
    # balanced: Gemma-2 leaves; Gemma-3 runs before the refiner's video weights (20) arrive; pieces of 3 latents
    assert balanced["stage-1 chunk (DiT)"] == 6 + 1 + 3
    assert balanced["VAE decode of a chunk"] == 6 + 1 + 1 + 2
    assert balanced["refiner prompt (Gemma-3)"] == 6 + 1 + 12 + 2
    assert balanced["refine block"] == 6 + 1 + 20 + 8
    assert balanced["decode of the refined clip"] == 6 + 1 + 2
    # low: fp8 DiT (1 GiB linear in 1 byte + 2 GiB of the rest) and one bf16 linear weight while it runs;
    # offloaded parts keep 2 x (outside + 2 blocks) on the device
    assert low["stage-1 chunk (DiT)"] == 3 + 2 + 0.25 + 1 + 3
    assert low["VAE decode of a chunk"] == 5 + 1 + 1 + 1
    assert low["refiner prompt (Gemma-3)"] == 5 + 1 + 2 * (0.5 + 0.25) + 2
    assert low["refine block"] == 5 + 1 + 2 * (0.25 + 0.5) + 8


def test_the_peak_leaves_out_the_refiner_stages_without_the_refiner() -> None:
    plan = plan_all(PARTS, ACTS)["full"]
    assert plan.peak(refine=True).stage == "refiner prompt (Gemma-3)"
    assert plan.peak(refine=False).stage == "VAE decode of a chunk"


def test_a_card_gets_the_most_resident_tier_that_fits() -> None:
    plans = plan_all(PARTS, ACTS)
    assert usable_bytes(24) == 24 * GIB - CUDA_CONTEXT - HEADROOM
    assert choose_tier(plans, 13 * GIB, refine=False) == "full"
    assert choose_tier(plans, 12 * GIB, refine=False) == "balanced"
    assert choose_tier(plans, 51 * GIB) == "full"
    assert choose_tier(plans, 50 * GIB) == "balanced"
    assert choose_tier(plans, 16 * GIB) == "low"
    assert choose_tier(plans, 8 * GIB) is None


def test_the_table_shows_every_tier_and_marks_the_asked_card() -> None:
    text = format_plan(plan_all(PARTS, ACTS), ACTS, gpu_gib=20)
    assert "full  balanced       low" in text
    assert "<- --gpu-mem" in text.splitlines()[[i for i, l in enumerate(text.splitlines()) if l.startswith("        20")][0]]
    for size in ("16", "24", "32", "48", "80"):
        assert any(line.split()[:1] == [size] for line in text.splitlines())


def test_the_shipped_activations_read_back_and_a_damaged_dict_is_a_typed_error() -> None:
    acts = load_activations()
    assert activations_from_dict(acts.as_dict()) == acts
    assert acts.dit.tokens == 3 * 880
    with pytest.raises(Exception, match="expected the fields of StackActivations"):
        activations_from_dict({"dit": {}})


def test_official_parts_match_the_spec_and_the_official_plan_fits_a_24_gib_card_only_in_low() -> None:
    parts = official_parts()
    buffers = 691_200 + 20  # y_embedding + recall_gate (spec model §8)
    assert parts["dit"].params == 2_661_800_448 + buffers
    assert parts["vae_encoder"].params + parts["vae_decoder"].params == 1_222_479_601  # ltx2_vae_refiner.md §1.2
    plans = plan_all(parts, load_activations())
    peaks = [plans[t].peak().total for t in ("full", "balanced", "low")]
    assert peaks == sorted(peaks, reverse=True)
    assert choose_tier(plans, usable_bytes(24)) == "low"
    assert choose_tier(plans, usable_bytes(24), refine=False) == "full"
    assert choose_tier(plans, usable_bytes(80)) == "full"
