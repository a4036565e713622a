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

log = logging.getLogger(__name__)


def load_bundle(
    source: str | Path | None = None,
    *,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str = "cpu",
    refiner: bool = True,
) -> ModelBundle:
    """The bundle at ``source``: None = the embedded default; a folder with ``bundle.json`` = embedded format;
    any other folder = an official SANA-WM bundle (with its refiner unless ``refiner=False``)."""
    if source is None:
        if (EMBEDDED_MODEL_DIR / "bundle.json").is_file():
            return load_embedded_bundle(EMBEDDED_MODEL_DIR, dtype=dtype, device=device)
        log.warning("no embedded model is shipped yet; using random %s weights (plumbing only)", FALLBACK_PRESET)
        bundle = ModelBundle.random(FALLBACK_PRESET, dtype=dtype)
        bundle.transformer.to(device)
        bundle.label = "random weights: plumbing only, the embedded model is not trained yet"
        return bundle
    path = Path(source)
    if not path.exists():
        raise BundleError(f"--model {path}: expected a model folder, found nothing at that path")
    if (path / "bundle.json").is_file():
        return load_embedded_bundle(path, dtype=dtype, device=device)
    return load_official_bundle(path, dtype=dtype, device=device, refiner=refiner)
