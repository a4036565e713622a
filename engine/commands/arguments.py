"""Argument types shared by the ``sana-wm`` sub-commands."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np

from engine.io.atomic import atomic_write_text
from engine.camera.intrinsics import as_vec4
from engine.errors import InputFileError


def image_size(text: str) -> tuple[int, int]:
    """``"1280x704"`` -> ``(1280, 704)`` (width, height), for ``type=`` of argparse options."""
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT such as 1280x704, found {text!r}") from None
    if w <= 0 or h <= 0:
        raise argparse.ArgumentTypeError(f"expected positive WIDTHxHEIGHT, found {text!r}")
    return w, h


def load_intrinsics_file(path: Path) -> np.ndarray:
    """An official intrinsics ``.npy`` (``(4,)``, ``(3, 3)``, ``(F, 4)`` or ``(F, 3, 3)``) as ``(F, 4)`` rows."""
    if not path.is_file():
        raise InputFileError(f"intrinsics file {path}: not found")
    try:
        arr = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise InputFileError(f"intrinsics file {path}: expected a .npy array, could not read it ({exc})") from None
    return as_vec4(arr, name=f"intrinsics file {path}")


def check_output_folders(**outputs: Path | None) -> None:
    """Fail in a second, before hours of work, when an output file's folder does not exist (``-`` = stdout)."""
    for option, target in outputs.items():
        if target is not None and str(target) != "-" and not Path(target).parent.is_dir():
            raise InputFileError(
                f"--{option.replace('_', '-')} {target}: expected a file in an existing folder, "
                f"found no folder {Path(target).parent}"
            )


def write_json_result(target: Path | None, data: Any) -> None:
    """``--json PATH``: write ``data`` atomically; ``-`` prints it; None does nothing."""
    if target is None:
        return
    text = json.dumps(data, indent=2)
    if str(target) == "-":
        print(text)
    else:
        atomic_write_text(target, text + "\n")
