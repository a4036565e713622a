"""SANA-WM ``.npy`` camera input: what the official inference script takes as ``--camera``.

* ``<name>.npy``: ``(F, 4, 4)`` camera-to-world matrices, OpenCV camera axes (+X right, +Y down, +Z forward),
  float32 like the official examples (``(F, 3, 4)`` is accepted on read; the bottom row is added).
* Intrinsics are a separate ``.npy`` in any official form, ``(4,)``, ``(3, 3)``, ``(F', 4)`` or ``(F', 3, 3)``,
  in pixels, fitted to the frames the way the official script does (broadcast, truncate or interpolate:
  :func:`engine.camera.intrinsics.fit_to_frames`). Reading takes ``intrinsics_path=`` or, when absent, the
  sidecar ``<name>_intrinsics.npy`` next to the poses; writing writes that sidecar as ``(F, 4)`` rows.
* Neither the image size nor the frame rate is stored: pass ``image_size=`` / ``fps=`` on read.

Files are plain ``.npy`` arrays (https://numpy.org/doc/stable/reference/generated/numpy.lib.format.html)
loaded by :func:`engine.io.bounded.load_npy` (no pickles; the header is checked before the data is read).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from engine.io.atomic import atomic_path
from engine.io.bounded import load_npy
from engine.camera.formats._text import parse_image_size, require_file, resolve_fps
from engine.camera.intrinsics import fit_to_frames
from engine.camera.trajectory import Trajectory
from engine.errors import TrajectoryFormatError

log = logging.getLogger(__name__)

_DTYPES = {"float32": np.float32, "float64": np.float64}


def sidecar_path(path: Path) -> Path:
    """The intrinsics file that accompanies ``path``: ``<stem>_intrinsics.npy`` in the same folder."""
    return path.with_name(f"{path.stem}_intrinsics.npy")


def _load_array(path: Path, what: str) -> np.ndarray:
    """One ``.npy`` array, its header checked before any data is read (:func:`engine.io.bounded.load_npy`)."""
    require_file(path, what)
    return load_npy(path, error=TrajectoryFormatError, where=f"{path} ({what})")


def read_sana_npy(
    path: Path,
    *,
    intrinsics_path: str | Path | None = None,
    image_size: tuple[int, int] | str | None = None,
    fps: float | None = None,
) -> Trajectory:
    """Read an official ``--camera`` array plus its intrinsics (explicit path or ``<stem>_intrinsics.npy``)."""
    c2w = _load_array(path, "camera-to-world poses")
    if c2w.ndim != 3 or c2w.shape[1:] not in ((4, 4), (3, 4)):
        raise TrajectoryFormatError(
            f"{path}: expected (F, 4, 4) camera-to-world matrices (OpenCV axes), found shape {c2w.shape}"
        )
    intr_file = Path(intrinsics_path) if intrinsics_path is not None else sidecar_path(path)
    intrinsics = None
    if intrinsics_path is not None or intr_file.exists():
        raw = _load_array(intr_file, "intrinsics")
        intrinsics = fit_to_frames(raw, c2w.shape[0], name=f"{intr_file} (intrinsics)")
    return Trajectory(c2w=c2w, intrinsics=intrinsics, image_size=parse_image_size(image_size), fps=resolve_fps(fps))


def write_sana_npy(trajectory: Trajectory, path: Path, *, dtype: str = "float32") -> list[Path]:
    """Write the ``(F, 4, 4)`` poses (``dtype`` ``"float32"``, the official, or ``"float64"``) and, when the
    trajectory has intrinsics, the ``<stem>_intrinsics.npy`` sidecar of ``(F, 4)`` rows in the same dtype."""
    if dtype not in _DTYPES:
        raise TrajectoryFormatError(f"sana-npy: expected dtype 'float32' or 'float64', found {dtype!r}")
    np_dtype = _DTYPES[dtype]
    written = [path]
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.save(fh, np.asarray(trajectory.c2w, dtype=np_dtype))
    side = sidecar_path(path)
    if trajectory.intrinsics is not None:
        with atomic_path(side) as tmp, open(tmp, "wb") as fh:
            np.save(fh, np.asarray(trajectory.intrinsics, dtype=np_dtype))
        written.append(side)
    elif side.exists():
        log.warning("%s: left untouched, but it no longer matches %s (no intrinsics written)", side, path.name)
    return written
