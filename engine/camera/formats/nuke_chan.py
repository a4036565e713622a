"""Nuke ``.chan`` channel file: ``frame tx ty tz rx ry rz [vfov]`` per line, whitespace separated.

Sources:

* Foundry Nuke reference guide, Camera / Axis nodes: "Import chan file" / "Export chan file" store the
  node's translate and rotate channels per frame; the default ``rot_order`` is ``ZXY`` and the default
  ``xform_order`` is ``SRT`` (https://learn.foundry.com/nuke/content/reference_guide/3d_nodes/axis.html).
* Foundry's ``nukescripts/snap3d.py``: ``rotateMatrixZXY`` builds the ZXY matrix with ``rotateY(ry)``,
  ``rotateX(rx)``, ``rotateZ(rz)`` applied in that order to an identity ``Matrix4``, which post-multiplies,
  i.e. ``R = Ry(ry) @ Rx(rx) @ Rz(rz)`` acting on column vectors: Z is applied first, then X, then Y
  (``rotateMatrixXYZ`` correspondingly gives ``Rz @ Ry @ Rx``). Angles are in **degrees** in the file.
* Blender's "Nuke Animation Format (.chan)" add-on (``io_anim_nuke_chan``, Michael Krupa; Blender manual
  "Import-Export -> Nuke Animation (chan)"): columns ``frame location.xyz rotation_euler.xyz angle_y``,
  where the 8th column ``angle_y`` is the camera's **vertical** field of view in degrees, and the world is
  made Y-up before export.

Camera axes are Nuke's (OpenGL-style): +X right, +Y up, looking down -Z; the pose is camera-to-world,
``c2w = T(tx, ty, tz) @ R``. It is converted to our OpenCV axes with
:func:`engine.camera.poses.convert_camera_axes`; world coordinates are kept as they are (Nuke's world is
Y-up, so a Y-down OpenCV world shows upside down there). Other rotation orders: option ``rotation_order``
(the letters name the axes in the order they are applied, ``"XYZ"`` -> ``Rz @ Ry @ Rx``).

Intrinsics: square pixels and a centred principal point. Because the vertical FOV alone cannot give pixel
focal lengths without the image height (and, unlike RealEstate10K's normalised ``fx, fy``, it does not fix
the horizontal focal length without the aspect ratio), reading a file that has the FOV column needs
``image_size=``; without it a :class:`TrajectoryFormatError` says so, unless ``ignore_fov=True`` drops the
FOV (intrinsics ``None``). Files without the FOV column read as poses only. Frame numbers order the poses;
the file has no frame rate (``fps=`` option). On write frames are numbered from ``start_frame`` (1).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from engine.io.atomic import atomic_write_text
from engine.camera.formats._text import (
    data_lines,
    fmt_row,
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
from engine.camera.poses import convert_camera_axes, pose_from_rt, rot_x, rot_y
from engine.camera.trajectory import Trajectory
from engine.errors import TrajectoryFormatError

_SYNTAX = "'frame tx ty tz rx ry rz [vfov]' (7 or 8 numbers)"
_AXES = "XYZ"
ROTATION_ORDERS = ("XYZ", "XZY", "YXZ", "YZX", "ZXY", "ZYX")


def _rot_z(angle_rad: float) -> np.ndarray:
    c, s = np.cos(angle_rad), np.sin(angle_rad)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


_ROT = (rot_x, rot_y, _rot_z)


def _check_order(order: str) -> str:
    order = order.upper()
    if order not in ROTATION_ORDERS:
        raise TrajectoryFormatError(f"nuke-chan: expected rotation_order in {ROTATION_ORDERS}, found {order!r}")
    return order


def euler_to_matrix(angles_deg: np.ndarray, order: str = "ZXY") -> np.ndarray:
    """Rotation from ``(rx, ry, rz)`` degrees; ``order`` lists the axes in the order they are applied."""
    rad = np.radians(np.asarray(angles_deg, dtype=np.float64))
    m = np.eye(3)
    for axis in order:  # each later rotation multiplies from the left
        a = _AXES.index(axis)
        m = _ROT[a](rad[a]) @ m
    return m


def matrix_to_euler(rot: np.ndarray, order: str = "ZXY") -> np.ndarray:
    """Inverse of :func:`euler_to_matrix`: ``(rx, ry, rz)`` degrees, the middle angle in [-90, 90].

    With ``R = R_i(a_i) R_j(a_j) R_k(a_k)`` (``k`` applied first, ``order = k j i``), ``s = +1`` for a cyclic
    ``(i, j, k)``: ``a_j = atan2(s R[i,k], hypot(R[i,i], R[i,j]))``, ``a_i = atan2(-s R[j,k], R[k,k])``; ``a_k`` is
    then read from the remaining single-axis rotation, which also covers gimbal lock (``a_i = 0`` there).
    """
    k, j, i = (_AXES.index(c) for c in order)
    s = 1.0 if (i, j, k) in ((0, 1, 2), (1, 2, 0), (2, 0, 1)) else -1.0
    r = np.asarray(rot, dtype=np.float64)
    a_j = np.arctan2(s * r[i, k], np.hypot(r[i, i], r[i, j]))
    a_i = np.arctan2(-s * r[j, k], r[k, k]) if np.cos(a_j) > 1e-9 else 0.0
    angles = np.zeros(3)
    angles[i], angles[j] = a_i, a_j
    rest = (_ROT[i](a_i) @ _ROT[j](a_j)).T @ r  # = R_k(a_k)
    angles[k] = np.arctan2(rest[(k + 2) % 3, (k + 1) % 3], rest[(k + 1) % 3, (k + 1) % 3])
    return np.degrees(angles)


def read_nuke_chan(
    path: Path,
    *,
    image_size: tuple[int, int] | str | None = None,
    fps: float | None = None,
    rotation_order: str = "ZXY",
    ignore_fov: bool = False,
) -> Trajectory:
    """Read a Nuke ``.chan`` camera (see the module docstring for the axes, rotation order and FOV rule)."""
    order = _check_order(rotation_order)
    size = parse_image_size(image_size)
    frames, linenos, rows = [], [], []
    lines = data_lines(read_lines(path))
    if not lines:
        raise TrajectoryFormatError(f"{path.name}: expected one {_SYNTAX} line per frame, found no data")
    width = len(lines[0][1].split())
    for lineno, text in lines:
        tok = text.split()
        if len(tok) not in (7, 8):
            raise line_error(path, lineno, _SYNTAX, text)
        if len(tok) != width:
            raise line_error(path, lineno, f"{width} columns like line {lines[0][0]}", text)
        frames.append(parse_frame_number(tok[0], path=path, lineno=lineno, expected=_SYNTAX, line=text))
        rows.append(parse_floats(tok[1:], path=path, lineno=lineno, expected=_SYNTAX, line=text))
        linenos.append(lineno)
    arr = np.asarray(rows)[order_by_frame(frames, linenos, path)]
    rot_gl = np.stack([euler_to_matrix(r[3:6], order) for r in arr])
    c2w = convert_camera_axes(pose_from_rt(rot_gl, arr[:, :3]))
    intrinsics = None
    if width == 8 and not ignore_fov:
        if size is None:
            raise TrajectoryFormatError(
                f"{path.name}: found a vertical FOV column but no image size; pass image_size=(W, H) "
                "(CLI --image-size) to turn it into pixel intrinsics, or ignore_fov=True to read poses only"
            )
        intrinsics = intrinsics_from_vfov(arr[:, 6], size, where=f"{path.name} vfov")
    return Trajectory(c2w=c2w, intrinsics=intrinsics, image_size=size, fps=resolve_fps(fps))


def write_nuke_chan(
    trajectory: Trajectory, path: Path, *, start_frame: int = 1, rotation_order: str = "ZXY", fov: bool = True
) -> list[Path]:
    """Write a Nuke ``.chan``; the vertical FOV column is added when ``fov`` and the trajectory has intrinsics
    and an image size (``fx != fy`` or an off-centre principal point is logged and lost)."""
    order = _check_order(rotation_order)
    vfov = vfov_for_export(trajectory, "nuke-chan", required=False) if fov else None
    c2w_gl = convert_camera_axes(trajectory.c2w)
    out = []
    for i in range(trajectory.num_frames):
        values = list(c2w_gl[i, :3, 3]) + list(matrix_to_euler(c2w_gl[i, :3, :3], order))
        if vfov is not None:
            values.append(vfov[i])
        out.append("\t".join([str(start_frame + i), fmt_row(values, sep="\t")]))
    atomic_write_text(path, "\n".join(out) + "\n")
    return [path]
