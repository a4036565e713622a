"""Argument types shared by the ``sana-wm`` sub-commands."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np

from engine.io.atomic import atomic_write_text
from engine.io.bounded import load_npy
from engine.camera.intrinsics import as_vec4
from engine.errors import InputFileError, clip_text


#: Longest image side accepted by ``--image-size`` (pixels).
MAX_SIDE = 16384


def image_size(text: str) -> tuple[int, int]:
    """``"1280x704"`` -> ``(1280, 704)`` (width, height), for ``type=`` of argparse options."""
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT such as 1280x704, found {clip_text(repr(text), 40)}") from None
    if not (0 < w <= MAX_SIDE and 0 < h <= MAX_SIDE):
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT with sides in 1..{MAX_SIDE}, found {clip_text(repr(text), 40)}")
    return w, h


def load_intrinsics_file(path: Path, *, option: str = "--intrinsics") -> np.ndarray:
    """An official intrinsics ``.npy`` (``(4,)``, ``(3, 3)``, ``(F, 4)`` or ``(F, 3, 3)``) as ``(F, 4)`` rows; errors
    name ``option`` and the file."""
    where = f"{option} {path}"
    return as_vec4(load_npy(path, error=InputFileError, where=where), name=where)


def check_output_folders(**outputs: Path | None) -> None:
    """Fail in a second, before hours of work, when an output file's folder does not exist (``-`` = stdout)."""
    for option, target in outputs.items():
        if target is not None and str(target) != "-" and Path(target).is_dir():  # also "" (argparse makes it ".")
            raise InputFileError(f"--{option.replace('_', '-')} {str(target)!r}: expected a file to write, found a folder")
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
