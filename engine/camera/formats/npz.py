"""Native ``.npz`` trajectory: the project's lossless format.

Arrays (numpy ``.npz`` container, https://numpy.org/doc/stable/reference/generated/numpy.savez.html):

* ``c2w`` ``(F, 4, 4)`` float64 camera-to-world, OpenCV camera axes (+X right, +Y down, +Z forward);
* ``intrinsics`` ``(F, 4)`` float64 ``[fx, fy, cx, cy]`` in pixels of ``image_size`` (omitted when absent);
* ``image_size`` ``(2,)`` int64 ``(width, height)`` (omitted when absent);
* ``fps`` float64 scalar;
* ``convention`` the string ``"opencv_c2w"``: readers reject any other tag instead of guessing;
* ``action`` / ``action_version`` strings when present; ``format_version`` int scalar (currently 1).

Everything is a plain numeric or unicode array, so files load with no pickles (:func:`engine.io.bounded.load_npz`). ``extras`` is not
stored (it may hold arbitrary Python objects).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from engine.io.atomic import atomic_path
from engine.io.bounded import load_npz
from engine.camera.formats._text import require_file
from engine.camera.trajectory import Trajectory
from engine.errors import TrajectoryFormatError, clip_text

CONVENTION = "opencv_c2w"
FORMAT_VERSION = 1


def _scalar_str(data: dict[str, np.ndarray], key: str, path: Path) -> str | None:
    if key not in data:
        return None
    arr = data[key]
    if arr.shape != () or arr.dtype.kind != "U":
        raise TrajectoryFormatError(f"{path}: expected '{key}' to be a string, found {arr.dtype} {arr.shape}")
    return str(arr)


def _scalar_number(data: dict[str, np.ndarray], key: str, path: Path, kinds: str) -> float | None:
    if key not in data:
        return None
    arr = data[key]
    if arr.shape != () or arr.dtype.kind not in kinds:
        raise TrajectoryFormatError(f"{path}: expected '{key}' to be a real number, found {arr.dtype} {arr.shape}")
    return arr.item()


def read_npz(path: Path) -> Trajectory:
    """Read a native ``.npz`` trajectory (see the module docstring for the arrays)."""
    require_file(path)
    data = load_npz(path, error=TrajectoryFormatError)
    convention = _scalar_str(data, "convention", path)
    if convention != CONVENTION:
        raise TrajectoryFormatError(
            f"{path}: expected convention '{CONVENTION}', found "
            f"{'no convention tag' if convention is None else repr(clip_text(convention, 40))}; "
            "refusing to guess the axes and pose direction"
        )
    version = _scalar_number(data, "format_version", path, "iu")
    if version is not None and version > FORMAT_VERSION:
        raise TrajectoryFormatError(
            f"{path}: expected format_version <= {FORMAT_VERSION}, found {version} (written by a newer version)"
        )
    if "c2w" not in data:
        raise TrajectoryFormatError(f"{path}: expected an array 'c2w', found only {clip_text(sorted(data), 100)}")
    c2w = data["c2w"]
    if c2w.ndim != 3 or c2w.shape[1:] != (4, 4):
        raise TrajectoryFormatError(f"{path}: expected 'c2w' of shape (F, 4, 4), found {c2w.shape}")
    image_size = None
    if "image_size" in data:
        size = data["image_size"]
        if size.shape != (2,) or size.dtype.kind not in "iu":
            raise TrajectoryFormatError(f"{path}: expected 'image_size' as 2 integers, found {size.dtype} {size.shape}")
        image_size = (int(size[0]), int(size[1]))
    fps = _scalar_number(data, "fps", path, "iuf")
    return Trajectory(
        c2w=c2w,
        intrinsics=data.get("intrinsics"),
        image_size=image_size,
        action=_scalar_str(data, "action", path),
        action_version=_scalar_str(data, "action_version", path),
        **({} if fps is None else {"fps": float(fps)}),
    )


def write_npz(trajectory: Trajectory, path: Path) -> list[Path]:
    """Write ``trajectory`` as a native ``.npz`` (atomically; an open file object, so no suffix is appended)."""
    arrays: dict[str, np.ndarray] = {
        "c2w": np.asarray(trajectory.c2w, dtype=np.float64),
        "fps": np.asarray(trajectory.fps, dtype=np.float64),
        "convention": np.asarray(CONVENTION),
        "format_version": np.asarray(FORMAT_VERSION, dtype=np.int64),
    }
    if trajectory.intrinsics is not None:
        arrays["intrinsics"] = np.asarray(trajectory.intrinsics, dtype=np.float64)
    if trajectory.image_size is not None:
        arrays["image_size"] = np.asarray(trajectory.image_size, dtype=np.int64)
    if trajectory.action is not None:
        arrays["action"] = np.asarray(trajectory.action)
    if trajectory.action_version is not None:
        arrays["action_version"] = np.asarray(trajectory.action_version)
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.savez(fh, **arrays)
    return [path]
