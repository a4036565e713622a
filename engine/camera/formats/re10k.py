"""RealEstate10K camera ``.txt`` (https://google.github.io/realestate10k/download.html).

* Line 1: the source video URL (written as a placeholder: the ``url`` option, the URL read from an earlier
  RE10K file kept in ``extras["url"]``, or ``"sana-wm-explorer"``). A file whose first line is already a
  data line is accepted too.
* Then one line per frame, 19 numbers: ``timestamp_us fx fy cx cy k1 k2 P`` where ``fx fy cx cy`` are
  **normalised** by the image width (``fx``, ``cx``) and height (``fy``, ``cy``), ``k1 k2`` are 0 (written as
  0, ignored on read) and ``P`` is the 3x4 **world-to-camera** matrix, row-major, OpenCV camera axes
  (+X right, +Y down, +Z forward). The camera-to-world pose is its inverse. This is the layout the
  CameraCtrl / AnimateDiff RealEstate10K loaders parse (``fx, fy, cx, cy = entry[1:5]``,
  ``w2c = entry[7:].reshape(3, 4)``).

Image size: the file has none. With ``image_size=(W, H)`` the intrinsics are returned in pixels of that
image; without it they stay in the normalised space, returned as pixels of a ``1 x 1`` image
(``image_size=(1, 1)``) so nothing is invented (the CLI's ``--image-size`` gives real pixels).

Frame rate: from the median timestamp step (microseconds) when positive, else the ``fps`` option or the
default; an explicit ``fps`` option wins. On write, timestamps are ``round(i * 1e6 / fps)``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from engine.io.atomic import atomic_write_text
from engine.camera.formats._text import (
    data_lines,
    fmt_row,
    line_error,
    parse_floats,
    parse_image_size,
    read_lines,
    resolve_fps,
)
from engine.camera.poses import se3_inverse, validate_c2w
from engine.camera.trajectory import Trajectory
from engine.errors import TrajectoryFormatError

_SYNTAX = "19 numbers 'timestamp_us fx fy cx cy k1 k2' + 12 world-to-camera values"
DEFAULT_URL = "sana-wm-explorer"


def _is_data_line(text: str) -> bool:
    tok = text.split()
    if len(tok) != 19:
        return False
    try:
        [float(t) for t in tok]
    except ValueError:
        return False
    return True


def read_re10k(
    path: Path, *, image_size: tuple[int, int] | str | None = None, fps: float | None = None
) -> Trajectory:
    """Read a RealEstate10K camera file (see the module docstring for the units and the image size rule)."""
    lines = data_lines(read_lines(path), comment=None)
    if not lines:
        raise TrajectoryFormatError(f"{path.name}: expected a URL line and one line per frame, found an empty file")
    url = None
    if not _is_data_line(lines[0][1]):
        url, lines = lines[0][1], lines[1:]
    if not lines:
        raise TrajectoryFormatError(f"{path.name}: expected at least one camera line after the URL, found none")
    rows = []
    for lineno, text in lines:
        tok = text.split()
        if len(tok) != 19:
            raise line_error(path, lineno, _SYNTAX, text)
        rows.append(parse_floats(tok, path=path, lineno=lineno, expected=_SYNTAX, line=text))
    arr = np.asarray(rows)
    w2c = np.concatenate([arr[:, 7:].reshape(-1, 3, 4), np.tile([[[0.0, 0.0, 0.0, 1.0]]], (len(arr), 1, 1))], axis=1)
    w2c = validate_c2w(w2c, name=f"{path.name} (world-to-camera poses)")
    size = parse_image_size(image_size) or (1, 1)
    intrinsics = arr[:, 1:5] * np.array([size[0], size[1], size[0], size[1]], dtype=np.float64)
    timestamps = arr[:, 0]
    if fps is None and len(timestamps) > 1:
        step = float(np.median(np.diff(timestamps)))
        if step > 0:
            fps = 1e6 / step
    extras = {"timestamps_us": timestamps.astype(np.int64).tolist()}
    if url is not None:
        extras["url"] = url
    return Trajectory(
        c2w=se3_inverse(w2c), intrinsics=intrinsics, image_size=size, fps=resolve_fps(fps), extras=extras
    )


def write_re10k(trajectory: Trajectory, path: Path, *, url: str | None = None) -> list[Path]:
    """Write a RealEstate10K camera file; needs intrinsics and the image size they refer to."""
    if trajectory.intrinsics is None or trajectory.image_size is None:
        missing = "intrinsics" if trajectory.intrinsics is None else "an image size"
        raise TrajectoryFormatError(
            f"re10k: the trajectory has no {missing}; RealEstate10K stores intrinsics normalised by the image "
            "size (add them, e.g. with --fov/--intrinsics and --image-size)"
        )
    header = url if url is not None else str(trajectory.extras.get("url", DEFAULT_URL))
    if "\n" in header or not header.strip() or _is_data_line(header):
        raise TrajectoryFormatError(f"re10k: expected a one-line URL/placeholder for line 1, found {header!r}")
    w, h = trajectory.image_size
    norm = trajectory.intrinsics / np.array([w, h, w, h], dtype=np.float64)
    w2c = se3_inverse(trajectory.c2w)[:, :3, :].reshape(-1, 12)
    out = [header.strip()]
    for i in range(trajectory.num_frames):
        ts = int(round(i * 1e6 / trajectory.fps))
        out.append(f"{ts} {fmt_row(norm[i])} 0 0 {fmt_row(w2c[i])}")
    atomic_write_text(path, "\n".join(out) + "\n")
    return [path]
