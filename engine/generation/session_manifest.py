"""Typed checks of the values a ``.swm`` manifest holds (:mod:`engine.generation.session_file`).

A manifest is JSON from a file, so any value may have any type: a frame count may be 10^9, a stride negative, a start
intrinsics row NaN. Each helper here checks one kind of value before the loader uses it and raises ``ValueError``
naming the manifest key; the loader turns that into one :class:`~engine.errors.SessionFileError` naming the file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from engine.camera.intrinsics import as_vec4
from engine.errors import clip_text
from engine.generation.project import StartSettings
from engine.io.bounded import json_type


def count(value: Any, name: str, *, low: int = 0, high: int = 1_000_000) -> int:
    """A whole number from the manifest in ``[low, high]`` (a float, a string or a bool is refused, not rounded)."""
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(f"{name}: expected a whole number in {low}..{high}, found {json_type(value)}")
    return value


def start_settings(spec: Any, path: Path, image: np.ndarray) -> StartSettings:
    """The ``start`` member, every field checked (the intrinsics real, finite and positive, as the camera layer
    requires of any intrinsics)."""
    if not isinstance(spec, dict):
        raise ValueError(f"start: expected an object, found {json_type(spec)}")
    kinds = {"image_name": str, "prompt": str, "model": (str, type(None)), "intrinsics": (list, type(None)),
             "seed": int, "keymap": str, "extras": dict}  # fmt: skip
    fields = dict(spec)
    for key, value in fields.items():
        if key not in kinds or isinstance(value, bool) or not isinstance(value, kinds[key]):
            raise ValueError(f"start.{clip_text(key, 30)}: expected {'a known setting' if key not in kinds else 'a value of its type'}, found {json_type(value)}")
    if fields.get("intrinsics") is not None:
        vec = as_vec4(np.asarray(fields["intrinsics"], dtype=np.float64), name=f"{path}: manifest.json start.intrinsics")
        fields["intrinsics"] = tuple(float(v) for v in vec[0])
    return StartSettings(image=image, **fields)


def index_range(value: Any, name: str) -> tuple[int, int]:
    if not isinstance(value, list) or len(value) != 2:
        raise ValueError(f"{name}: expected [start, stop], found {json_type(value)}")
    first, stop = (count(v, name, high=10**9) for v in value)
    return first, stop


def strides(spec: dict[str, Any]) -> dict[str, list[int]]:
    """The ``strides`` member: for each stored view, non-negative whole-number strides (checked again against the
    tensor's shape when it is read, :class:`~engine.generation.swm_archive.TensorReader`)."""
    for ref, strides in spec.items():
        if not isinstance(strides, list) or not all(
            not isinstance(v, bool) and isinstance(v, int) and 0 <= v <= 2**40 for v in strides
        ):
            raise ValueError(f"strides.{clip_text(ref, 40)}: expected non-negative whole numbers, found {clip_text(strides, 60)}")
    return spec
