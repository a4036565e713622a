"""Demo scenes shipped in ``resources/demos/``: a start frame, its intrinsics, a suggested action and a title.

Layout (written by ``sana-wm synth demos``, :mod:`engine.synth.demos`): ``resources/demos/<name>/image.png`` and
``scene.json`` with at least ``{"title": str, "action": str, "action_version": "v2", "intrinsics": [fx, fy, cx, cy]}``
(intrinsics in pixels of the image; an optional ``"image"`` names another image file). ``sana-wm generate --demo
NAME`` and the explorer's start panel read them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engine.bundles import RESOURCES
from engine.errors import InputFileError

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
    if not scene.is_file():
        known = ", ".join(p.parent.name for p in sorted(folder.glob("*/scene.json"))) or "none shipped"
        raise InputFileError(f"--demo {name!r}: no such demo scene (known: {known})")
    try:
        meta = json.loads(scene.read_text())
        return Demo(
            name=name,
            title=str(meta["title"]),
            image_path=scene.parent / meta.get("image", "image.png"),
            action=str(meta["action"]),
            action_version=str(meta.get("action_version", "v2")),
            intrinsics=np.asarray(meta["intrinsics"], dtype=np.float64),
        )
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise InputFileError(f"{scene}: expected title, image, action and intrinsics ({exc})") from None
