"""Finding a bundle: the embedded default, an embedded-format folder or an official SANA-WM folder.

The one place that knows every bundle kind, so the kinds themselves (:mod:`engine.bundles.embedded`,
:mod:`engine.bundles.official`) need not know each other.
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch

from engine.bundles.bundle import EMBEDDED_MODEL_DIR, FALLBACK_PRESET, ModelBundle
from engine.bundles.embedded import load_embedded_bundle
from engine.bundles.official import load_official_bundle
from engine.errors import BundleError
from engine.memory.fit import choose_memory, official_plans
from engine.memory.extras import require_extras
from engine.memory.fp8 import quantize_fp8
from engine.memory.tiers import FULL, TierPolicy

log = logging.getLogger(__name__)


def load_bundle(
    source: str | Path | None = None,
    *,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str = "cpu",
    refiner: bool = True,
    memory: str | TierPolicy | None = None,
) -> ModelBundle:
    """The bundle at ``source``: None = the embedded default; a folder with ``bundle.json`` = embedded format;
    any other folder = an official SANA-WM bundle (with its refiner unless ``refiner=False``).

    ``memory`` is the memory tier (:mod:`engine.memory.tiers`): a name (``auto``, ``full``, ``balanced``, ``low``),
    a policy, or None (``full``). A name is checked before anything is loaded: for an official bundle on a GPU, the
    tier's planned peak against the free memory (:func:`engine.memory.fit.choose_memory`; :class:`GPUMemoryError`
    when it does not fit); the small embedded models fit any tier, so ``auto`` is ``full`` for them; on the CPU
    every name is ``full``."""
    path = None if source is None else Path(source)
    if path is not None and not path.exists():
        raise BundleError(f"--model {path}: expected a model folder, found nothing at that path")
    official = path is not None and not (path / "bundle.json").is_file()
    policy = _policy(memory, device, official=official, refine=refiner)
    if source is None:
        if (EMBEDDED_MODEL_DIR / "bundle.json").is_file():
            return _with_policy(load_embedded_bundle(EMBEDDED_MODEL_DIR, dtype=dtype, device=device), policy)
        log.warning("no embedded model is shipped yet; using random %s weights (plumbing only)", FALLBACK_PRESET)
        bundle = ModelBundle.random(FALLBACK_PRESET, dtype=dtype)
        bundle.transformer.to(device)
        bundle.label = "random weights: plumbing only, the embedded model is not trained yet"
        return _with_policy(bundle, policy)
    if not official:
        return _with_policy(load_embedded_bundle(path, dtype=dtype, device=device), policy)
    return load_official_bundle(path, dtype=dtype, device=device, refiner=refiner, memory=policy)


def _policy(memory: str | TierPolicy | None, device: torch.device | str, *, official: bool, refine: bool) -> TierPolicy:
    """The policy ``memory`` names, checked against the GPU before loading (see :func:`load_bundle`)."""
    if memory is None:
        return FULL
    if isinstance(memory, TierPolicy):
        policy = memory
    else:
        plans = official_plans if official else None
        policy = choose_memory(memory, device, refine=refine, plans=plans).policy
    require_extras(policy, refine=refine)
    return policy


def _with_policy(bundle: ModelBundle, policy: TierPolicy) -> ModelBundle:
    """An embedded-format bundle in ``policy``: its DiT in fp8 when the tier says so."""
    if policy.dit_fp8:
        quantize_fp8(bundle.transformer)
    bundle.memory = policy
    return bundle
