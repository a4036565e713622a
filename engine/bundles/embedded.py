"""The embedded bundle's folder format: ``bundle.json`` (config, codec, frame size, default intrinsics, trained
context) + ``model.safetensors``, written by :func:`save_bundle` and read strictly by :func:`load_embedded_bundle`.
``sana-wm train`` writes it; the shipped default lives in ``resources/models/sana-wm-tiny``.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

from engine.bundles.bundle import ModelBundle
from engine.bundles.weights import load_transformer
from engine.components.codec import LatentCodec
from engine.components.patch_codec import PatchDCTCodec
from engine.errors import BundleError
from engine.io.atomic import atomic_path, atomic_write_text
from engine.model.config import SanaWMConfig

BUNDLE_FORMAT = "sana-wm-embedded/1"
_CODECS = {"patch-dct": PatchDCTCodec}


def _codec_spec(codec: LatentCodec) -> dict[str, Any]:
    if not isinstance(codec, PatchDCTCodec):
        raise BundleError(f"save_bundle: codec {codec.name!r} has no embedded-format description")
    return {"type": codec.name, "latent_channels": codec.latent_channels, "spatial_factor": codec.spatial_factor,
            "temporal_factor": codec.temporal_factor}  # fmt: skip


def save_bundle(bundle: ModelBundle, folder: str | Path) -> Path:
    """Write ``bundle`` as an embedded-format folder (``bundle.json`` + ``model.safetensors``, atomically each)."""
    from safetensors.torch import save_file

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    config = {k: v for k, v in dataclasses.asdict(bundle.config).items() if k != "preset"}
    meta = {
        "format": BUNDLE_FORMAT,
        "name": bundle.name,
        "label": bundle.label,
        "preset": bundle.config.preset,
        "config": config,
        "codec": _codec_spec(bundle.codec),
        "frame_size": list(bundle.frame_size),
        "default_intrinsics": None if bundle.default_intrinsics is None else [float(v) for v in bundle.default_intrinsics],
        "context_latent_frames": bundle.context_frames,
        "extras": bundle.extras,
    }
    state = {k: v.detach().contiguous().cpu() for k, v in bundle.transformer.state_dict().items()}
    with atomic_path(folder / "model.safetensors") as tmp:
        save_file(state, str(tmp))
    atomic_write_text(folder / "bundle.json", json.dumps(meta, indent=2) + "\n")
    return folder


def load_embedded_bundle(
    folder: str | Path, *, dtype: torch.dtype = torch.float32, device: torch.device | str = "cpu"
) -> ModelBundle:
    """Load an embedded-format folder strictly (every weight present and shaped as the config says)."""
    folder = Path(folder)
    meta_path = folder / "bundle.json"
    if not meta_path.is_file():
        raise BundleError(f"{folder}: expected an embedded model bundle with bundle.json, found no such file")
    try:
        meta = json.loads(meta_path.read_text())
    except (OSError, ValueError) as exc:
        raise BundleError(f"{meta_path}: could not read the bundle description ({exc})") from None
    if meta.get("format") != BUNDLE_FORMAT:
        raise BundleError(f"{meta_path}: expected format {BUNDLE_FORMAT!r}, found {meta.get('format')!r}")
    context = meta.get("context_latent_frames")
    if context is not None and (isinstance(context, bool) or not isinstance(context, int) or context < 1):
        raise BundleError(f"{meta_path}: context_latent_frames: expected a positive integer or null, found {context!r}")
    weights = folder / "model.safetensors"
    if not weights.is_file():
        raise BundleError(f"{folder}: expected the model weights in model.safetensors, found no such file")
    config = SanaWMConfig(**meta["config"], preset=meta.get("preset"))
    codec_spec = dict(meta["codec"])
    codec_type = codec_spec.pop("type")
    if codec_type not in _CODECS:
        raise BundleError(f"{meta_path}: unknown codec {codec_type!r}; expected one of {', '.join(_CODECS)}")
    model = load_transformer(weights, config=config, dtype=dtype, device=device).eval()
    intr = meta.get("default_intrinsics")
    return ModelBundle(
        name=meta["name"],
        transformer=model,
        codec=_CODECS[codec_type](**codec_spec),
        frame_size=tuple(meta["frame_size"]),
        default_intrinsics=None if intr is None else np.asarray(intr, dtype=np.float64),
        source=folder,
        label=meta.get("label", ""),
        extras=meta.get("extras", {}),
        context_frames=context,
    )
