"""COLMAP text model: ``cameras.txt`` + ``images.txt`` (+ an empty ``points3D.txt`` on write).

Format (COLMAP docs, "Output Format" -> "Text Format", https://colmap.github.io/format.html, and the reader
``ReadImagesText`` / ``ReadCamerasText`` in colmap/colmap ``src/colmap/scene/reconstruction_io.cc``):

* ``cameras.txt``: ``CAMERA_ID MODEL WIDTH HEIGHT PARAMS[]``. Read: ``PINHOLE fx fy cx cy``,
  ``SIMPLE_PINHOLE f cx cy``; ``SIMPLE_RADIAL f cx cy k``, ``RADIAL f cx cy k1 k2``, ``OPENCV`` and
  ``FULL_OPENCV fx fy cx cy k...`` give their pinhole part (the distortion is ignored, with a warning).
  Written: ``PINHOLE``, one camera per distinct intrinsics row.
* ``images.txt``: two lines per image, ``IMAGE_ID QW QX QY QZ TX TY TZ CAMERA_ID NAME`` then the
  ``POINTS2D[]`` line, which may be empty. Like COLMAP's reader, blank and ``#`` lines are skipped while
  looking for an image line, and the line right after it is always its POINTS2D line.
* The pose ``(q, t)`` is **world-to-camera** in OpenCV camera axes (COLMAP: +X right, +Y down, +Z forward);
  the camera-to-world pose is its inverse. Frames are ordered by ``IMAGE_ID``.
* COLMAP puts the centre of the top-left pixel at (0.5, 0.5). Our intrinsics use the same continuous pixel
  coordinates, so ``cx``/``cy`` are stored verbatim, with no half-pixel shift.

The path may be a model folder (holding the files, or holding ``sparse/0`` or ``sparse`` with them) or
either file. The frame rate is not stored: pass ``fps=`` on read.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from engine.io.atomic import atomic_write_text
from engine.camera.formats._text import (
    QUATERNION_NORM_TOLERANCE,
    fmt_row,
    line_error,
    parse_floats,
    read_lines,
    resolve_fps,
)
from engine.camera.poses import pose_from_rt, quaternion_to_rotation, rotation_to_quaternion, se3_inverse
from engine.camera.trajectory import Trajectory
from engine.errors import InputFileError, TrajectoryFormatError

log = logging.getLogger(__name__)

#: Camera model -> (number of params, indices of fx, fy, cx, cy in the params).
_MODELS: dict[str, tuple[int, tuple[int, int, int, int]]] = {
    "SIMPLE_PINHOLE": (3, (0, 0, 1, 2)),
    "PINHOLE": (4, (0, 1, 2, 3)),
    "SIMPLE_RADIAL": (4, (0, 0, 1, 2)),
    "RADIAL": (5, (0, 0, 1, 2)),
    "OPENCV": (8, (0, 1, 2, 3)),
    "FULL_OPENCV": (12, (0, 1, 2, 3)),
}
_DISTORTED = {"SIMPLE_RADIAL", "RADIAL", "OPENCV", "FULL_OPENCV"}
_MODEL_FILES = ("cameras.txt", "images.txt")
_CAMERA_SYNTAX = "'CAMERA_ID MODEL WIDTH HEIGHT PARAMS...'"
_IMAGE_SYNTAX = "'IMAGE_ID QW QX QY QZ TX TY TZ CAMERA_ID NAME'"


def model_folder(path: Path) -> Path:
    """The folder holding ``cameras.txt`` and ``images.txt`` for a folder or file ``path``."""
    if path.is_dir():
        for cand in (path, path / "sparse" / "0", path / "sparse"):
            if all((cand / name).is_file() for name in _MODEL_FILES):
                return cand
        return path
    return path.parent


def _read_cameras(path: Path) -> dict[int, tuple[tuple[int, int], np.ndarray]]:
    cameras: dict[int, tuple[tuple[int, int], np.ndarray]] = {}
    for lineno, raw in enumerate(read_lines(path), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        tok = line.split()
        if len(tok) < 5:
            raise line_error(path, lineno, _CAMERA_SYNTAX, line)
        model = tok[1].upper()
        if model not in _MODELS:
            raise TrajectoryFormatError(
                f"{path.name} line {lineno}: expected a pinhole-type camera model ({', '.join(_MODELS)}), "
                f"found '{tok[1]}'"
            )
        nparams, idx = _MODELS[model]
        values = parse_floats(tok[2:], path=path, lineno=lineno, expected=_CAMERA_SYNTAX, line=line)
        if not (tok[0].isdigit() and tok[2].isdigit() and tok[3].isdigit()) or len(values) != 2 + nparams:
            raise line_error(path, lineno, f"{_CAMERA_SYNTAX} with {nparams} {model} params", line)
        if model in _DISTORTED and any(v != 0 for v in values[2 + idx[3] + 1 :]):
            log.warning("%s line %d: %s distortion is ignored; only the pinhole part is used", path.name, lineno, model)
        params = values[2:]
        cameras[int(tok[0])] = ((int(values[0]), int(values[1])), np.array([params[i] for i in idx]))
    return cameras


def _read_images(path: Path) -> list[tuple[int, int, str, np.ndarray, int]]:
    """``(image_id, camera_id, name, w2c, line)`` per image, in file order."""
    lines = read_lines(path)
    images = []
    i = 0
    while i < len(lines):
        line = lines[i].strip()
        lineno = i + 1
        i += 1
        if not line or line.startswith("#"):
            continue
        tok = line.split()
        if len(tok) < 10 or not tok[0].isdigit() or not tok[8].isdigit():
            raise line_error(path, lineno, _IMAGE_SYNTAX, line)
        vals = parse_floats(tok[1:8], path=path, lineno=lineno, expected=_IMAGE_SYNTAX, line=line)
        norm = float(np.linalg.norm(vals[:4]))
        if abs(norm - 1.0) > QUATERNION_NORM_TOLERANCE:  # COLMAP writes unit quaternions; anything else is not one
            raise line_error(path, lineno, f"a unit quaternion QW QX QY QZ (its norm is {norm:.6g})", line)
        w2c = pose_from_rt(quaternion_to_rotation(np.array(vals[:4])), np.array(vals[4:]))
        images.append((int(tok[0]), int(tok[8]), " ".join(tok[9:]), w2c, lineno))
        i += 1  # the POINTS2D line that always follows (possibly empty)
    return images


def read_colmap(path: Path, *, fps: float | None = None) -> Trajectory:
    """Read a COLMAP text model (folder, ``cameras.txt`` or ``images.txt``); frames ordered by IMAGE_ID."""
    if not path.exists():
        raise InputFileError(f"{path}: COLMAP model folder or file not found")
    folder = model_folder(path)
    for name in _MODEL_FILES:
        if not (folder / name).is_file():
            raise InputFileError(f"{folder / name}: COLMAP {name} not found (expected next to the model's other files)")
    cam_path, img_path = folder / "cameras.txt", folder / "images.txt"
    cameras = _read_cameras(cam_path)
    images = _read_images(img_path)
    if not images:
        raise TrajectoryFormatError(f"{img_path.name}: expected at least one image, found none")
    seen: dict[int, int] = {}
    for image_id, camera_id, _, _, lineno in images:
        if image_id in seen:
            raise TrajectoryFormatError(
                f"{img_path.name} line {lineno}: expected unique IMAGE_IDs, "
                f"found {image_id} again (line {seen[image_id]})"
            )
        seen[image_id] = lineno
        if camera_id not in cameras:
            raise TrajectoryFormatError(
                f"{img_path.name} line {lineno}: expected a CAMERA_ID defined in cameras.txt, found {camera_id}"
            )
    images.sort(key=lambda im: im[0])
    sizes = {cameras[im[1]][0] for im in images}
    if len(sizes) > 1:
        raise TrajectoryFormatError(
            f"{cam_path.name}: expected one image size for all images, found {sorted(sizes)}; "
            "a trajectory has a single image size"
        )
    return Trajectory(
        c2w=se3_inverse(np.stack([im[3] for im in images])),
        intrinsics=np.stack([cameras[im[1]][1] for im in images]),
        image_size=sizes.pop(),
        fps=resolve_fps(fps),
        extras={"image_names": [im[2] for im in images]},
    )


def write_colmap(trajectory: Trajectory, path: Path, *, name_template: str = "frame_{:05d}.png") -> list[Path]:
    """Write ``cameras.txt``, ``images.txt`` and an empty ``points3D.txt`` into the folder ``path`` (or, when
    ``path`` names one of those files, into its folder). Needs intrinsics and an image size. Images are named
    ``name_template.format(frame_index)`` and numbered IMAGE_ID = frame index + 1."""
    if trajectory.intrinsics is None or trajectory.image_size is None:
        missing = "intrinsics" if trajectory.intrinsics is None else "an image size"
        raise TrajectoryFormatError(
            f"colmap: the trajectory has no {missing}; cameras.txt needs fx fy cx cy with WIDTH HEIGHT "
            "(add them, e.g. with --fov/--intrinsics and --image-size)"
        )
    folder = path.parent if path.name in (*_MODEL_FILES, "points3D.txt") else path
    w, h = trajectory.image_size
    rows, cam_index = np.unique(trajectory.intrinsics, axis=0, return_inverse=True)
    cam_index = cam_index.reshape(-1)
    # Number cameras in order of first use so a constant camera is CAMERA_ID 1.
    first_use = {int(c): n for n, c in reversed(list(enumerate(cam_index)))}
    order = sorted(first_use, key=first_use.get)
    cam_id = {old: new for new, old in enumerate(order, start=1)}
    cam_lines = [
        "# Camera list with one line of data per camera:",
        "#   CAMERA_ID, MODEL, WIDTH, HEIGHT, PARAMS[]",
        f"# Number of cameras: {len(order)}",
    ] + [f"{cam_id[old]} PINHOLE {w} {h} {fmt_row(rows[old])}" for old in order]
    w2c = se3_inverse(trajectory.c2w)
    quats = rotation_to_quaternion(w2c[:, :3, :3])
    img_lines = [
        "# Image list with two lines of data per image:",
        "#   IMAGE_ID, QW, QX, QY, QZ, TX, TY, TZ, CAMERA_ID, NAME",
        "#   POINTS2D[] as (X, Y, POINT3D_ID)",
        f"# Number of images: {trajectory.num_frames}, mean observations per image: 0",
    ]
    for i in range(trajectory.num_frames):
        pose = fmt_row(np.concatenate([quats[i], w2c[i, :3, 3]]))
        img_lines += [f"{i + 1} {pose} {cam_id[int(cam_index[i])]} {name_template.format(i)}", ""]
    pts_lines = [
        "# 3D point list with one line of data per point:",
        "#   POINT3D_ID, X, Y, Z, R, G, B, ERROR, TRACK[] as (IMAGE_ID, POINT2D_IDX)",
        "# Number of points: 0, mean track length: 0",
    ]
    written = []
    for name, lines in (("cameras.txt", cam_lines), ("images.txt", img_lines), ("points3D.txt", pts_lines)):
        atomic_write_text(folder / name, "\n".join(lines) + "\n")
        written.append(folder / name)
    return written
