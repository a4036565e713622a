"""The memory plan: peak GPU memory of every stage of the official 720p stack in every tier, and the tier a card gets.

Why: "will it fit my card?" must be answerable before 100 GB of weights are downloaded, and the tiers
(:mod:`engine.memory.tiers`) must be chosen from numbers, not guesses. A stage's need is the weights on the device
while it runs (:mod:`engine.memory.parts`, exact parameter counts) plus its activations and held state
(:mod:`engine.memory.activations`, traced on the meta device). Stages follow ``sana-wm generate --mode streaming``:

=======================  ==================================================================================
caption (Gemma-2)        the prompt is encoded once; DiT and VAE are already loaded
stage-1 chunk (DiT)      4 denoising calls and the t = 0 pass of a chunk, with the stream cache and the VAE
                         decoder state held
VAE decode of a chunk    the causal streaming decode of the chunk just made
refiner prompt (Gemma-3) refining: Gemma-3 encodes the prompt, the connectors project it
refine block             one refine block with a full K/V window (sink + history)
decode of the refined    the refined clip's decode (one-shot with tiling in ``full``, chunk-wise otherwise)
clip
=======================  ==================================================================================

The three refiner stages happen only with the refiner (not with ``--no_refiner``); a stage-1 stream is freed before
refining starts. A card of ``G`` GiB offers ``G`` minus :data:`CUDA_CONTEXT` minus :data:`HEADROOM` to the plan.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.errors import ConfigError
from engine.memory.activations import (
    DiTActivations,
    RefinerActivations,
    StackActivations,
    VAEActivations,
)
from engine.memory.parts import PartSize
from engine.memory.tiers import POLICIES, TIERS, TierPolicy

GIB = 2**30
#: What a CUDA context with PyTorch's kernels takes before the first tensor (about 0.5 GiB on recent cards).
CUDA_CONTEXT = GIB // 2
#: Slack kept free for what a tensor count does not see: the caching allocator's rounding and fragmentation, cuBLAS /
#: cuDNN workspaces, CUDA graphs. An assumption, not a measurement (docs/gpu.md).
HEADROOM = GIB
#: The card sizes ``sana-wm plan`` always shows (GiB).
PLAN_SIZES = (16, 24, 32, 48, 80)
#: The traced activations shipped with the project (``sana-wm plan --retrace`` recomputes them).
ACTIVATIONS_FILE = Path(__file__).resolve().parents[2] / "resources" / "memory" / "official_720p_activations.json"


@dataclass(frozen=True)
class StageNeed:
    """One stage's need in one tier: ``weights`` on the device and ``working`` memory (activations, held state)."""

    stage: str
    weights: int
    working: int
    refiner: bool = False  # only when refining

    @property
    def total(self) -> int:
        return self.weights + self.working


@dataclass(frozen=True)
class TierPlan:
    """Every stage's need in one tier."""

    tier: str
    stages: tuple[StageNeed, ...]

    def peak(self, refine: bool = True) -> StageNeed:
        """The stage that needs the most (refiner stages only when ``refine``)."""
        return max((s for s in self.stages if refine or not s.refiner), key=lambda s: s.total)


def _offloaded(part: PartSize) -> int:
    """Device bytes of a part under block-level group offloading: what lies outside its blocks, plus the block
    running and the next one being prefetched."""
    return 2 * (part.outside_blocks + 2 * part.largest_block)


def plan_tier(policy: TierPolicy, parts: dict[str, PartSize], acts: StackActivations) -> TierPlan:
    """The stages of ``policy`` (see the module docstring) from part sizes and traced activations."""
    dit, vae, ref = acts.dit, acts.vae, acts.refiner
    dit_weights = parts["dit"].fp8_bytes() if policy.dit_fp8 else parts["dit"].bytes()
    dequantised = 2 * parts["dit"].largest_linear if policy.dit_fp8 else 0  # one bf16 weight while its layer runs
    vae_weights = parts["vae_encoder"].bytes() + parts["vae_decoder"].bytes()
    base = dit_weights + vae_weights + (parts["gemma2"].bytes() if policy.text_encoder_resident else 0)
    frames = policy.decode_latents_per_call or 4  # a session decodes whole chunks; chunk 0 has 4 latent frames
    whole_refiner = parts["refiner"].bytes() + parts["refiner_audio"].bytes() + parts["connectors"].bytes()
    if policy.refiner_offload:
        gemma3 = parts["connectors"].bytes() + _offloaded(parts["gemma3"])
        refiner = parts["connectors"].bytes() + _offloaded(parts["refiner"])
    elif policy.refiner_audio_on_device:  # full: the whole refiner stays from the first refine on
        gemma3 = whole_refiner + parts["gemma3"].bytes()
        refiner = whole_refiner
    else:  # balanced: the prompt is encoded before the transformer moves to the device
        gemma3 = parts["connectors"].bytes() + parts["gemma3"].bytes()
        refiner = parts["connectors"].bytes() + parts["refiner"].bytes()
    after_refine = whole_refiner if policy.refiner_resident else 0
    clip_decode = vae.clip if policy.decode_latents_per_call is None else vae.state + vae.per_call[frames]
    stages = (
        StageNeed("caption (Gemma-2)", dit_weights + vae_weights + parts["gemma2"].bytes(), acts.caption_peak),
        StageNeed("stage-1 chunk (DiT)", base, dequantised + vae.state + max(
            dit.first_chunk_peak, dit.cache + max(dit.denoise_peak, dit.commit_peak))),
        StageNeed("VAE decode of a chunk", base, dit.cache + vae.state + vae.per_call[frames]),
        StageNeed("refiner prompt (Gemma-3)", base + gemma3, ref.prompt_peak, refiner=True),
        StageNeed("refine block", base + refiner, ref.sink + ref.history + ref.captured + max(
            ref.block_peak, ref.capture_peak - ref.captured), refiner=True),
        StageNeed("decode of the refined clip", base + after_refine, clip_decode, refiner=True),
    )  # fmt: skip
    return TierPlan(policy.name, stages)


def plan_all(parts: dict[str, PartSize], acts: StackActivations) -> dict[str, TierPlan]:
    """:func:`plan_tier` of every tier, in :data:`~engine.memory.tiers.TIERS` order."""
    return {name: plan_tier(POLICIES[name], parts, acts) for name in TIERS}


def usable_bytes(card_gib: float) -> int:
    """What a card of ``card_gib`` GiB offers the plan (see the module docstring)."""
    return int(card_gib * GIB) - CUDA_CONTEXT - HEADROOM


def choose_tier(plans: dict[str, TierPlan], available: int, *, refine: bool = True) -> str | None:
    """The most resident tier whose peak fits ``available`` bytes; None when none does."""
    return next((name for name, plan in plans.items() if plan.peak(refine).total <= available), None)


# ----- the traced activations file -------------------------------------------------------------------------------
def activations_from_dict(data: dict[str, Any]) -> StackActivations:
    """The inverse of :meth:`StackActivations.as_dict` (JSON turns the per-call keys into strings)."""
    try:
        vae = dict(data["vae"])
        vae["per_call"] = {int(k): int(v) for k, v in vae["per_call"].items()}
        return StackActivations(DiTActivations(**data["dit"]), VAEActivations(**vae), int(data["caption_peak"]),
                                RefinerActivations(**data["refiner"]))  # fmt: skip
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ConfigError(f"traced activations: expected the fields of StackActivations, found {exc}") from None


def load_activations(path: Path = ACTIVATIONS_FILE) -> StackActivations:
    """The traced activations stored at ``path`` (default: the file shipped in ``resources/memory``)."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{path}: expected the traced activations as JSON ({exc}); run sana-wm plan --retrace") from None
    return activations_from_dict(data["activations"] if "activations" in data else data)


# ----- the table -------------------------------------------------------------------------------------------------
def _gib(n: int) -> str:
    return f"{n / GIB:.1f}"


def format_plan(plans: dict[str, TierPlan], acts: StackActivations, *, gpu_gib: float | None = None,
                sizes: tuple[float, ...] = PLAN_SIZES, source: str = "") -> str:  # fmt: skip
    """The plan as text: stages x tiers (GiB), per-token activations, then the tier each card size gets."""
    tiers = list(plans)
    names = [s.stage for s in plans[tiers[0]].stages]
    lines = ["peak GPU memory of the official SANA-WM 720p stack per stage and memory tier (GiB; weights from the",
             "official configs built on the meta device, activations traced on the meta device: computed, not measured)"]
    if source:
        lines.append(source)
    lines.append(f"{'stage':<30}" + "".join(f"{t:>10}" for t in tiers))
    for i, name in enumerate(names):
        mark = " *" if plans[tiers[0]].stages[i].refiner else ""
        lines.append(f"{name + mark:<30}" + "".join(f"{_gib(plans[t].stages[i].total):>10}" for t in tiers))
    for refine, label in ((False, "peak, stage 1 only"), (True, "peak, with the refiner")):
        lines.append(f"{label:<30}" + "".join(f"{_gib(plans[t].peak(refine).total):>10}" for t in tiers))
    dit, vae = acts.dit, acts.vae
    lines.append("* only when refining. Activations per token (2,640-token chunk): DiT denoising call "
                 f"{dit.denoise_peak / dit.tokens / 1024:.0f} KiB, t = 0 pass {dit.commit_peak / dit.tokens / 1024:.0f} "
                 f"KiB (with the cache it writes); stream cache {dit.cache / GIB:.2f} GiB, VAE decoder state "
                 f"{vae.state / GIB:.2f} GiB.")  # fmt: skip
    shown = sorted(set(sizes) | ({gpu_gib} if gpu_gib is not None else set()))
    lines.append(f"card (GiB)  usable  {'stage 1 only':>14}  {'with refiner':>14}")
    for size in shown:
        usable = usable_bytes(size)
        picks = [choose_tier(plans, usable, refine=r) or "none fits" for r in (False, True)]
        arrow = "  <- --gpu-mem" if gpu_gib is not None and size == gpu_gib else ""
        lines.append(f"{size:>10g}  {_gib(usable):>6}  {picks[0]:>14}  {picks[1]:>14}{arrow}")
    lines.append(f"usable = card - {_gib(CUDA_CONTEXT)} GiB CUDA context - {_gib(HEADROOM)} GiB headroom "
                 "(allocator slack, workspaces; assumed)")  # fmt: skip
    return "\n".join(lines)


def plan_as_dict(plans: dict[str, TierPlan], *, gpu_gib: float | None = None,
                 sizes: tuple[float, ...] = PLAN_SIZES) -> dict[str, Any]:  # fmt: skip
    """The plan as JSON-able data (bytes)."""
    shown = sorted(set(sizes) | ({gpu_gib} if gpu_gib is not None else set()))
    return {
        "tiers": {t: {"stages": [{"stage": s.stage, "weights": s.weights, "working": s.working, "total": s.total,
                                  "refiner": s.refiner} for s in p.stages],
                      "peak_stage1": p.peak(False).total, "peak_refine": p.peak(True).total}
                  for t, p in plans.items()},
        "cards": [{"gib": g, "usable": usable_bytes(g), "stage1_only": choose_tier(plans, usable_bytes(g), refine=False),
                   "with_refiner": choose_tier(plans, usable_bytes(g), refine=True)} for g in shown],
        "cuda_context": CUDA_CONTEXT, "headroom": HEADROOM,
    }  # fmt: skip


__all__ = ["ACTIVATIONS_FILE", "CUDA_CONTEXT", "GIB", "HEADROOM", "PLAN_SIZES", "StageNeed", "TierPlan",
           "activations_from_dict", "choose_tier", "format_plan", "load_activations", "plan_all", "plan_as_dict",
           "plan_tier", "usable_bytes"]  # fmt: skip
