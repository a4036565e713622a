"""The embedded bundle's folder format: ``bundle.json`` (config, codec, frame size, default intrinsics, trained
context) + ``model.safetensors``, written by :func:`save_bundle` and read strictly by :func:`load_embedded_bundle`.
``sana-wm train`` writes it; the shipped default lives in ``resources/models/sana-wm-tiny``.
"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import torch

from engine.bundles.bundle import ModelBundle
from engine.bundles.weights import load_transformer
from engine.components.codec import LatentCodec
from engine.components.patch_codec import PatchDCTCodec
from engine.camera.intrinsics import as_vec4
from engine.errors import BundleError, SanaWMInputError, clip_text
from engine.io.atomic import atomic_path, atomic_write_text
from engine.io.bounded import json_type, read_json
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
        "contrast_floor": bundle.contrast_floor,
        "extras": bundle.extras,
    }
    state = {k: v.detach().contiguous().cpu() for k, v in bundle.transformer.state_dict().items()}
    with atomic_path(folder / "model.safetensors") as tmp:
        save_file(state, str(tmp))
    atomic_write_text(folder / "bundle.json", json.dumps(meta, indent=2) + "\n")
    return folder


#: Largest whole-number config value accepted from a bundle.json (a guard: a depth of 10^9 would spend minutes
#: building modules before the weights could disagree).
MAX_CONFIG_INT = 65536


def _config_from(meta_path: Path, raw: Any, preset: Any) -> SanaWMConfig:
    """The model config a bundle.json describes, each value checked against its field's type before use."""
    if not isinstance(raw, dict):
        raise BundleError(f"{meta_path}: expected 'config' as an object of model settings, found {json_type(raw)}")
    fields = {f.name: str(f.type) for f in dataclasses.fields(SanaWMConfig) if f.name != "preset"}
    unknown = sorted(set(raw) - set(fields))
    if unknown:
        raise BundleError(f"{meta_path}: config has unknown setting(s) {clip_text(', '.join(unknown), 80)}; "
                          "was it written by a newer version?")  # fmt: skip
    for key, value in raw.items():
        kind = fields[key]
        ok = (value is None and "None" in kind) or (
            isinstance(value, bool) if kind == "bool" else
            isinstance(value, str) if kind.startswith("str") else
            (not isinstance(value, bool) and isinstance(value, int) and 0 <= value <= MAX_CONFIG_INT)
            if kind.startswith("int") else
            (not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(value))
        )  # fmt: skip
        if not ok:
            expected = {"bool": "true or false", "float": "a finite number"}.get(kind, f"{kind} (whole numbers 0..{MAX_CONFIG_INT})")
            raise BundleError(f"{meta_path}: config.{key}: expected {expected}, found {json_type(value)}")
    if preset is not None and not isinstance(preset, str):
        raise BundleError(f"{meta_path}: preset: expected a name or null, found {json_type(preset)}")
    try:
        return SanaWMConfig(**raw, preset=preset)
    except SanaWMInputError as exc:
        raise BundleError(f"{meta_path}: config is not a valid model ({exc})") from None


def _codec_from(meta_path: Path, raw: Any) -> LatentCodec:
    if not isinstance(raw, dict) or not isinstance(raw.get("type"), str):
        raise BundleError(f"{meta_path}: expected 'codec' as an object with a 'type', found {clip_text(json_type(raw), 40)}")
    spec = dict(raw)
    codec_type = spec.pop("type")
    if codec_type not in _CODECS:
        raise BundleError(f"{meta_path}: unknown codec {clip_text(repr(codec_type), 40)}; expected one of {', '.join(_CODECS)}")
    allowed = {"latent_channels", "spatial_factor", "temporal_factor"}
    bad = sorted(k for k, v in spec.items() if k not in allowed or isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= 1024)
    if bad:
        raise BundleError(f"{meta_path}: codec.{clip_text(bad[0], 40)}: expected one of {', '.join(sorted(allowed))} "
                          f"as a whole number in 1..1024, found {json_type(spec.get(bad[0]))}")  # fmt: skip
    try:
        return _CODECS[codec_type](**spec)
    except (SanaWMInputError, TypeError) as exc:
        raise BundleError(f"{meta_path}: codec is not valid ({clip_text(exc, 120)})") from None


def _frame_size_from(meta_path: Path, raw: Any, codec: LatentCodec) -> tuple[int, int]:
    s = codec.spatial_factor
    ok = isinstance(raw, list) and len(raw) == 2 and all(
        not isinstance(v, bool) and isinstance(v, int) and 0 < v <= 16384 and v % s == 0 for v in raw
    )
    if not ok:
        raise BundleError(f"{meta_path}: frame_size: expected [width, height], positive multiples of the codec's {s} "
                          f"pixels (at most 16384), found {clip_text(raw, 60)}")  # fmt: skip
    return int(raw[0]), int(raw[1])


def load_embedded_bundle(
    folder: str | Path, *, dtype: torch.dtype = torch.float32, device: torch.device | str = "cpu"
) -> ModelBundle:
    """Load an embedded-format folder strictly: every ``bundle.json`` field checked for type and range before it is
    used, every weight present, shaped as the config says, floating point and finite."""
    folder = Path(folder)
    meta_path = folder / "bundle.json"
    if not meta_path.is_file():
        raise BundleError(f"{folder}: expected an embedded model bundle with bundle.json, found no such file")
    meta = read_json(meta_path, error=BundleError, expect=dict)
    if meta.get("format") != BUNDLE_FORMAT:
        raise BundleError(f"{meta_path}: expected format {BUNDLE_FORMAT!r}, found {clip_text(repr(meta.get('format')), 60)}")
    for key in ("config", "codec", "frame_size"):
        if key not in meta:
            raise BundleError(f"{meta_path}: expected a {key!r} entry, found none")
    context = meta.get("context_latent_frames")
    if context is not None and (isinstance(context, bool) or not isinstance(context, int) or context < 1):
        raise BundleError(f"{meta_path}: context_latent_frames: expected a positive integer or null, found {json_type(context)}")
    floor = meta.get("contrast_floor", 0.0)
    if isinstance(floor, bool) or not isinstance(floor, (int, float)) or not 0.0 <= floor <= 1.0:
        raise BundleError(f"{meta_path}: contrast_floor: expected a share in [0, 1], found {clip_text(floor, 60)}")
    for key, kind in (("name", str), ("label", str), ("extras", dict)):
        if key in meta and not isinstance(meta[key], kind):
            raise BundleError(f"{meta_path}: {key}: expected {'text' if kind is str else 'an object'}, found {json_type(meta[key])}")
    config = _config_from(meta_path, meta["config"], meta.get("preset"))
    codec = _codec_from(meta_path, meta["codec"])
    if codec.latent_channels != config.in_channels:
        raise BundleError(f"{meta_path}: codec latent_channels {codec.latent_channels} != config in_channels {config.in_channels}")
    frame_size = _frame_size_from(meta_path, meta["frame_size"], codec)
    intr = meta.get("default_intrinsics")
    if intr is not None:
        if not isinstance(intr, list) or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in intr):
            raise BundleError(f"{meta_path}: default_intrinsics: expected [fx, fy, cx, cy] or null, found {clip_text(intr, 60)}")
        try:
            intr = as_vec4(np.asarray(intr, dtype=np.float64), name=f"{meta_path} default_intrinsics")[0]
        except SanaWMInputError as exc:
            raise BundleError(str(exc)) from None
    weights = folder / "model.safetensors"
    if not weights.is_file():
        raise BundleError(f"{folder}: expected the model weights in model.safetensors, found no such file")
    model = load_transformer(weights, config=config, dtype=dtype, device=device).eval()
    return ModelBundle(
        name=meta.get("name", folder.name),
        transformer=model,
        codec=codec,
        frame_size=frame_size,
        default_intrinsics=intr,
        source=folder,
        label=meta.get("label", ""),
        extras=meta.get("extras", {}),
        context_frames=context,
        contrast_floor=float(floor),
    )
