"""Demo scenes shipped in ``resources/demos/``: a start frame, its intrinsics, a suggested action and a title.

Layout (written by ``sana-wm synth demos``, :mod:`engine.synth.demos`): ``resources/demos/<name>/image.png`` and
``scene.json`` with at least ``{"title": str, "action": str, "action_version": "v2", "intrinsics": [fx, fy, cx, cy]}``
(intrinsics in pixels of the image; an optional ``"image"`` names another image file). ``sana-wm generate --demo
NAME`` and the explorer's start panel read them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engine.bundles import RESOURCES
from engine.camera.intrinsics import as_vec4
from engine.errors import InputFileError, clip_text
from engine.io.bounded import json_type, read_json

DEMOS_DIR = RESOURCES / "demos"


@dataclass(frozen=True)
class Demo:
    name: str
    title: str
    image_path: Path
    action: str
    action_version: str
    intrinsics: np.ndarray  # (4,)


def list_demos(folder: Path | None = None) -> list[Demo]:
    """Every demo scene, sorted by name (an empty list when none are shipped)."""
    folder = DEMOS_DIR if folder is None else Path(folder)
    if not folder.is_dir():
        return []
    return [load_demo(p.parent.name, folder) for p in sorted(folder.glob("*/scene.json"))]


def load_demo(name: str, folder: Path | None = None) -> Demo:
    """The demo ``name``; an unknown name lists the known ones."""
    folder = DEMOS_DIR if folder is None else Path(folder)
    scene = folder / name / "scene.json"
    if Path(name).name != name or name in ("", ".", "..") or not scene.is_file():  # a name, never a path
        known = ", ".join(p.parent.name for p in sorted(folder.glob("*/scene.json"))) or "none shipped"
        raise InputFileError(f"--demo {clip_text(repr(name), 60)}: no such demo scene (known: {known})")
    meta = read_json(scene, error=InputFileError, expect=dict)
    texts = {key: meta.get(key, default) for key, default in (("title", None), ("action", None), ("image", "image.png"),
                                                               ("action_version", "v2"))}  # fmt: skip
    bad = next((key for key, value in texts.items() if not isinstance(value, str)), None)
    if bad is not None:
        raise InputFileError(f"{scene}: {bad}: expected text, found {json_type(texts[bad])}")
    if Path(texts["image"]).name != texts["image"]:  # the image lives beside scene.json, never elsewhere
        raise InputFileError(f"{scene}: image: expected a file name in the scene's folder, found {clip_text(repr(texts['image']), 60)}")
    raw = meta.get("intrinsics")
    if not isinstance(raw, list) or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in raw):
        raise InputFileError(f"{scene}: intrinsics: expected [fx, fy, cx, cy] in pixels, found {clip_text(raw, 60)}")
    return Demo(
        name=name,
        title=texts["title"],
        image_path=scene.parent / texts["image"],
        action=texts["action"],
        action_version=texts["action_version"],
        intrinsics=as_vec4(np.asarray(raw, dtype=np.float64), name=f"{scene} intrinsics")[0],
    )
