"""Simple CSV camera path for spreadsheets and scripts: ``frame,x,y,z,qw,qx,qy,qz,vfov_deg``.

* ``x, y, z``: the camera centre in world coordinates (the translation of the camera-to-world pose);
* ``qw, qx, qy, qz``: the camera-to-world rotation as a unit quaternion, scalar first, in **OpenCV**
  camera axes (+X right, +Y down, +Z forward), the project's own convention (see
  :mod:`engine.camera.poses`); quaternions are normalised on read;
* ``vfov_deg``: vertical field of view in degrees (optional on read). It implies square pixels and a
  centred principal point: ``fx != fy`` or an off-centre principal point is logged and lost on write.

Reading needs the header row (any column order, matched by name; extra columns are ignored), orders rows
by ``frame`` and reports the line number of a bad row. As with Nuke ``.chan``, a ``vfov_deg`` column needs
``image_size=`` to become pixel intrinsics (or ``ignore_fov=True``); the file has no frame rate (``fps=``).
Written with Python's :mod:`csv` module (RFC 4180 style, ``\\n`` line ends), no comment lines.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np

from engine.io.atomic import atomic_write_text
from engine.camera.formats._text import (
    QUATERNION_NORM_TOLERANCE,
    fmt,
    intrinsics_from_vfov,
    line_error,
    order_by_frame,
    parse_floats,
    parse_frame_number,
    parse_image_size,
    read_lines,
    resolve_fps,
    vfov_for_export,
)
from engine.camera.poses import pose_from_rt, quaternion_to_rotation, rotation_to_quaternion
from engine.camera.trajectory import Trajectory
from engine.errors import TrajectoryFormatError

REQUIRED = ("frame", "x", "y", "z", "qw", "qx", "qy", "qz")
HEADER = (*REQUIRED, "vfov_deg")


def read_csv(
    path: Path,
    *,
    image_size: tuple[int, int] | str | None = None,
    fps: float | None = None,
    ignore_fov: bool = False,
) -> Trajectory:
    """Read a camera CSV (header required; columns matched by name)."""
    size = parse_image_size(image_size)
    lines = read_lines(path)
    numbered = [(i, line) for i, line in enumerate(lines, start=1) if line.strip()]
    if not numbered:
        raise TrajectoryFormatError(f"{path.name}: expected a header '{','.join(HEADER)}', found an empty file")
    header_no, header_line = numbered[0]
    header = [h.strip().lower() for h in next(csv.reader([header_line]))]
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        raise TrajectoryFormatError(
            f"{path.name} line {header_no}: expected a header with {','.join(HEADER)} (vfov_deg optional), "
            f"found '{header_line.strip()}' (missing {', '.join(missing)})"
        )
    use_fov = "vfov_deg" in header and not ignore_fov
    cols = [header.index(c) for c in (*REQUIRED[1:], *(("vfov_deg",) if use_fov else ()))]
    expected = f"{len(header)} comma-separated values matching the header"
    frames, linenos, rows = [], [], []
    for lineno, line in numbered[1:]:
        cells = [c.strip() for c in next(csv.reader([line]))]
        if len(cells) != len(header):
            raise line_error(path, lineno, expected, line)
        frames.append(parse_frame_number(cells[header.index("frame")], path=path, lineno=lineno,
                                         expected="an integer frame number", line=line))
        rows.append(parse_floats([cells[c] for c in cols], path=path, lineno=lineno, expected=expected, line=line))
        norm = float(np.linalg.norm(rows[-1][3:7])) if max(map(abs, rows[-1][3:7])) < 1e150 else float("inf")
        if abs(norm - 1.0) > QUATERNION_NORM_TOLERANCE:  # a rotation is a unit quaternion; anything else is a mistake
            raise line_error(path, lineno, f"a unit quaternion qw,qx,qy,qz (its norm is {norm:.6g})", line)
        linenos.append(lineno)
    if not rows:
        raise TrajectoryFormatError(f"{path.name}: expected at least one row after the header, found none")
    arr = np.asarray(rows)[order_by_frame(frames, linenos, path)]
    c2w = pose_from_rt(quaternion_to_rotation(arr[:, 3:7]), arr[:, :3])
    intrinsics = None
    if use_fov:
        if size is None:
            raise TrajectoryFormatError(
                f"{path.name}: found a vfov_deg column but no image size; pass image_size=(W, H) "
                "(CLI --image-size) to turn it into pixel intrinsics, or ignore_fov=True to read poses only"
            )
        intrinsics = intrinsics_from_vfov(arr[:, 7], size, where=f"{path.name} vfov_deg")
    return Trajectory(c2w=c2w, intrinsics=intrinsics, image_size=size, fps=resolve_fps(fps))


def write_csv(trajectory: Trajectory, path: Path, *, start_frame: int = 0) -> list[Path]:
    """Write a camera CSV, frames numbered from ``start_frame``. The ``vfov_deg`` column is written only when
    the trajectory has intrinsics and an image size (otherwise the header omits it)."""
    vfov = vfov_for_export(trajectory, "csv", required=False)
    quats = rotation_to_quaternion(trajectory.c2w[:, :3, :3])
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(HEADER if vfov is not None else REQUIRED)
    for i in range(trajectory.num_frames):
        row = [str(start_frame + i)] + [fmt(v) for v in (*trajectory.c2w[i, :3, 3], *quats[i])]
        if vfov is not None:
            row.append(fmt(vfov[i]))
        writer.writerow(row)
    atomic_write_text(path, buf.getvalue())
    return [path]
