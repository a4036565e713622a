"""nerfstudio ``camera_path.json``: the viewer's camera-path export that ``ns-render camera-path`` renders.

Layout, as written by the viewer (``nerfstudio/viewer/render_panel.py``, ``_write_json``) and read by
``nerfstudio/cameras/camera_paths.py::get_path_from_json`` (used by ``nerfstudio/scripts/render.py``), repo
nerfstudio-project/nerfstudio:

* top level: ``render_width``, ``render_height`` (pixels), ``fps``, ``seconds``, ``camera_type``
  (``"perspective"``; fisheye / equirectangular are rejected here), ``keyframes`` and ``camera_path``;
* ``camera_path[i]``: ``camera_to_world`` (16 floats, a row-major 4x4), ``fov`` (vertical FOV in degrees),
  ``aspect`` (width / height, optional on read);
* ``keyframes[i]``: ``matrix`` (16 floats, row-major 4x4), ``fov``, ``aspect`` (the viewer's spline
  control points; read only when ``camera_path`` is absent or empty).

Poses are camera-to-world in OpenGL camera axes (+X right, +Y up, looking down -Z): the viewer rotates its
camera 180 degrees about X before writing. They are converted with
:func:`engine.camera.poses.convert_camera_axes`; world coordinates are kept as they are.

Intrinsics: nerfstudio renders ``fx = fy = (H / 2) / tan(fov / 2)`` with ``cx = W / 2``, ``cy = H / 2``
(``three_js_perspective_camera_focal_length``), so that is what is read. On write the vertical FOV comes
from ``fy``; ``fx != fy`` or an off-centre principal point is logged and lost. ``render.py`` takes
``fps = len(camera_path) / seconds``, so ``seconds`` is written as ``F / fps``.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np

from engine.io.atomic import atomic_write_text
from engine.io.bounded import json_type, read_json
from engine.camera.formats._text import intrinsics_from_vfov, require_file, shorten, vfov_for_export
from engine.camera.poses import convert_camera_axes
from engine.camera.trajectory import DEFAULT_FPS, Trajectory
from engine.errors import TrajectoryFormatError

log = logging.getLogger(__name__)


#: Largest render size accepted (pixels), as for images.
MAX_RENDER_PIXELS = 16384 * 16384


def _number(obj: dict[str, Any], key: str, where: str) -> float:
    value = obj.get(key)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TrajectoryFormatError(f"{where}: expected a number '{key}', found {json_type(value)}")
    return float(value)


def _matrix(entry: Any, key: str, where: str) -> np.ndarray:
    if not isinstance(entry, dict):
        raise TrajectoryFormatError(f"{where}: expected an object with '{key}' and 'fov', found {type(entry).__name__}")
    try:
        mat = np.asarray(entry.get(key), dtype=np.float64)
    except (TypeError, ValueError):
        mat = np.zeros(0)
    if mat.size != 16:
        raise TrajectoryFormatError(
            f"{where}: expected '{key}' as 16 numbers (row-major 4x4), found {shorten(repr(entry.get(key)))}"
        )
    return mat.reshape(4, 4)


def read_nerfstudio(path: Path) -> Trajectory:
    """Read a nerfstudio ``camera_path.json`` (``camera_path`` frames, else the ``keyframes``)."""
    require_file(path)
    data = read_json(path, error=TrajectoryFormatError)
    if not isinstance(data, dict):
        raise TrajectoryFormatError(f"{path}: expected a JSON object with 'camera_path', found {json_type(data)}")
    camera_type = str(data.get("camera_type", "perspective")).lower()
    if camera_type != "perspective":
        raise TrajectoryFormatError(f"{path}: expected camera_type 'perspective', found {shorten(repr(camera_type))}")
    width, height = _number(data, "render_width", str(path)), _number(data, "render_height", str(path))
    if not (width == int(width) > 0 and height == int(height) > 0 and width * height <= MAX_RENDER_PIXELS):
        raise TrajectoryFormatError(
            f"{path}: expected render_width and render_height as positive whole pixels (at most {MAX_RENDER_PIXELS:,} "
            f"in all), found {width:g}x{height:g}"
        )
    width, height = int(width), int(height)
    frames, key = data.get("camera_path"), "camera_to_world"
    if not frames:
        frames, key = data.get("keyframes"), "matrix"
        if not frames:
            raise TrajectoryFormatError(
                f"{path.name}: expected a non-empty 'camera_path' or 'keyframes' list, found neither"
            )
        log.warning("%s: no 'camera_path'; reading the %d keyframes, not an interpolated path", path.name, len(frames))
    if not isinstance(frames, list):
        raise TrajectoryFormatError(f"{path.name}: expected a list of cameras, found {type(frames).__name__}")
    list_name = "camera_path" if key == "camera_to_world" else "keyframes"
    c2w_gl = np.stack([_matrix(f, key, f"{path.name} {list_name}[{i}]") for i, f in enumerate(frames)])
    vfov = np.array([_number(f, "fov", f"{path.name} {list_name}[{i}]") for i, f in enumerate(frames)])
    if "fps" in data:
        fps = _number(data, "fps", path.name)
    elif "seconds" in data and _number(data, "seconds", path.name) > 0:
        fps = len(frames) / _number(data, "seconds", path.name)
    else:
        fps = DEFAULT_FPS
    return Trajectory(
        c2w=convert_camera_axes(c2w_gl),
        intrinsics=intrinsics_from_vfov(vfov, (width, height), where=f"{path.name} fov"),
        image_size=(width, height),
        fps=fps,
    )


def write_nerfstudio(trajectory: Trajectory, path: Path, *, keyframes: bool = True) -> list[Path]:
    """Write a nerfstudio ``camera_path.json``; needs intrinsics and an image size for ``fov`` and the
    render resolution. With ``keyframes`` every frame is also written as a viewer keyframe, so the viewer's
    "Load Path" can open the file (it reads only ``keyframes``)."""
    vfov = vfov_for_export(trajectory, "nerfstudio", required=True)
    assert vfov is not None and trajectory.image_size is not None
    w, h = trajectory.image_size
    c2w_gl = convert_camera_axes(trajectory.c2w)
    aspect = w / h
    path_list = [
        {"camera_to_world": m.reshape(-1).tolist(), "fov": float(f), "aspect": aspect} for m, f in zip(c2w_gl, vfov)
    ]
    data: dict[str, Any] = {
        "camera_type": "perspective",
        "render_width": w,
        "render_height": h,
        "fps": trajectory.fps,
        "seconds": trajectory.num_frames / trajectory.fps,
        "is_cycle": False,
        "smoothness_value": 0.0,
        "default_fov": float(vfov[0]),
        "default_transition_sec": 1.0 / trajectory.fps,
        "keyframes": [
            {"matrix": e["camera_to_world"], "fov": e["fov"], "aspect": aspect,
             "override_transition_enabled": False, "override_transition_sec": None}
            for e in path_list
        ] if keyframes else [],
        "camera_path": path_list,
    }
    atomic_write_text(path, json.dumps(data, indent=2) + "\n")
    return [path]
