"""Memory tiers: which parts of the SANA-WM stack sit on the GPU when, named so that a user can pick one.

Why: the official stack (Stage-1 DiT, its Gemma-2 caption encoder, the LTX-2 VAE, the LTX-2 refiner with its Gemma-3
text encoder) does not fit a 24 GB card when everything stays resident. Most parts are needed only briefly: the
caption encoder once per prompt, the refiner and Gemma-3 only while refining, the VAE decoder one chunk at a time.
A tier is a placement policy over those facts; :mod:`engine.memory.plan` computes what each tier needs, and the
loaders and the session read the policy (:attr:`engine.bundles.ModelBundle.memory`).

=========  ==================================================================================================
full       everything that is loaded stays on the device (today's behaviour; the reference scripts' layout).
balanced   Gemma-2 runs once per prompt and leaves; the VAE decodes chunk by chunk (3 latent frames per call, also
           the refined clip); the refiner loads only to refine, encodes its prompt with Gemma-3 before its own
           transformer moves to the device, keeps its audio weights in host memory, and leaves after.
low        balanced, plus: the DiT holds fp8 weight-only copies of its linear layers (torchao), the VAE decodes one
           latent frame per call, the refiner's transformer and Gemma-3 stay in host memory and are streamed to
           the device one block / layer at a time (diffusers' group offloading).
=========  ==================================================================================================

``auto`` picks the first of full, balanced, low that fits the free GPU memory (:mod:`engine.memory.fit`). On the
CPU every tier is ``full``: everything already lives in main memory.
"""

from __future__ import annotations

from dataclasses import dataclass

from engine.errors import ConfigError

#: The tiers, from the most to the least resident.
TIERS = ("full", "balanced", "low")
#: What ``--memory`` accepts.
MEMORY_CHOICES = ("auto", *TIERS)


@dataclass(frozen=True)
class TierPolicy:
    """One tier's placement decisions (see the module docstring).

    Attributes:
        name: the tier.
        text_encoder_resident: Gemma-2 stays on the device after encoding (False: freed after each new prompt;
            captions are cached per prompt, so it runs once per prompt).
        decode_latents_per_call: latent frames per VAE decoder call when a clip or chunk is decoded (None: the
            codec's own way: a session decodes whole chunks, a clip is decoded one-shot with tiling).
        refiner_resident: the refiner's transformer and connectors stay on the device after a refine.
        refiner_audio_on_device: the refiner transformer's audio weights (unused: SANA-WM refines video only) go to
            the device with the rest.
        refiner_offload: the refiner transformer and Gemma-3 stay in host memory and are moved to the device block
            by block / layer by layer while they run (diffusers group offloading).
        dit_fp8: the DiT's linear layers hold fp8 (e4m3) weight-only copies with one scale per row (torchao).
    """

    name: str
    text_encoder_resident: bool
    decode_latents_per_call: int | None
    refiner_resident: bool
    refiner_audio_on_device: bool
    refiner_offload: bool
    dit_fp8: bool


POLICIES: dict[str, TierPolicy] = {
    "full": TierPolicy("full", True, None, True, True, False, False),
    "balanced": TierPolicy("balanced", False, 3, False, False, False, False),
    "low": TierPolicy("low", False, 1, False, False, True, True),
}

#: The policy of a bundle nobody chose a tier for (CPU runs, tests, the embedded model).
FULL = POLICIES["full"]


def tier_policy(name: str) -> TierPolicy:
    """The policy of tier ``name`` (one of :data:`TIERS`; ``auto`` is resolved by :func:`engine.memory.fit.choose_tier`)."""
    if name not in POLICIES:
        raise ConfigError(f"--memory: expected one of {', '.join(TIERS)}, found {name!r}")
    return POLICIES[name]


__all__ = ["FULL", "MEMORY_CHOICES", "POLICIES", "TIERS", "TierPolicy", "tier_policy"]
