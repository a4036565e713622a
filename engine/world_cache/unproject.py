"""Unprojection: a colour frame and its depth map -> coloured points in world coordinates.

Why a separate step: the world cache fuses *points*, whatever produced the depth (the synth renderer's exact
depth, the monocular estimator of :mod:`engine.depth`, a future multi-view source). Conventions are those of
docs/depth.md: depth is camera-space ``z`` (scene units along the camera's +Z axis, OpenCV axes), pixel ``(u, v)``
(column, row) is the camera point ``z * ((u + 0.5 - cx) / fx, (v + 0.5 - cy) / fy, 1)``, ``inf`` is sky; NaN,
zero and negative depths are never valid. Poses are camera-to-world 4x4.

Each point also carries its **footprint**: the world-space spacing of the samples around it,
``stride * z / min(fx, fy)`` (one pixel's width at that depth, times the stride). The memory keeps it per voxel
so the renderer sizes each splat to close the gaps between neighbouring samples.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine.camera.intrinsics import as_vec4
from engine.camera.poses import validate_c2w
from engine.errors import WorldCacheError


@dataclass(frozen=True)
class Points:
    """Coloured world points: ``positions`` ``(N, 3)`` float64 (scene units), ``colours`` ``(N, 3)`` uint8 RGB,
    ``footprints`` ``(N,)`` float32 (scene units, see the module docstring)."""

    positions: np.ndarray
    colours: np.ndarray
    footprints: np.ndarray

    def __len__(self) -> int:
        return len(self.positions)


def check_frame_and_depth(frame: np.ndarray, depth: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``frame`` as ``(H, W, 3)`` uint8 and ``depth`` as ``(H, W)`` float32, or :class:`WorldCacheError`."""
    frame = np.asarray(frame)
    depth = np.asarray(depth)
    if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
        raise WorldCacheError(f"world cache frame: expected (H, W, 3) uint8 RGB, found {frame.shape} {frame.dtype}")
    if depth.shape != frame.shape[:2] or not np.issubdtype(depth.dtype, np.floating):
        raise WorldCacheError(
            f"world cache depth: expected float (H, W) = {frame.shape[:2]} matching the frame, "
            f"found {depth.shape} {depth.dtype}"
        )
    return frame, depth.astype(np.float32, copy=False)


def unproject(frame: np.ndarray, depth: np.ndarray, c2w: np.ndarray, intrinsics: np.ndarray, *,
              stride: int = 1, max_depth: float = np.inf) -> Points:
    """World points of every ``stride``-th pixel (rows and columns) with a valid depth.

    Args:
        frame: ``(H, W, 3)`` uint8 RGB, row 0 at the top.
        depth: ``(H, W)`` float camera-space z in scene units; ``inf`` (sky), NaN, ``<= 0`` and ``> max_depth`` skipped.
        c2w: ``(4, 4)`` camera-to-world pose, OpenCV axes.
        intrinsics: ``[fx, fy, cx, cy]`` in pixels of ``frame`` (or a 3x3 K).
        stride: keep pixels ``(stride i, stride j)``; the footprint grows with it.
        max_depth: drop surfaces farther than this (scene units).

    Returns:
        :class:`Points` in world coordinates, in row-major pixel order.
    """
    frame, depth = check_frame_and_depth(frame, depth)
    if int(stride) != stride or stride < 1:
        raise WorldCacheError(f"world cache stride: expected a positive integer, found {stride!r}")
    pose = validate_c2w(np.asarray(c2w, dtype=np.float64).reshape(1, 4, 4), name="world cache pose")[0]
    k = as_vec4(intrinsics, name="world cache intrinsics")
    if len(k) != 1:
        raise WorldCacheError(f"world cache intrinsics: expected one [fx, fy, cx, cy], found {len(k)} rows")
    fx, fy, cx, cy = k[0]
    s = int(stride)
    d = depth[::s, ::s]
    with np.errstate(invalid="ignore"):
        valid = np.isfinite(d) & (d > 0) & (d <= max_depth)
    rows, cols = np.nonzero(valid)  # (N,), (N,) in the strided grid, row-major
    z = d[rows, cols].astype(np.float64)
    u = cols * s + 0.5
    v = rows * s + 0.5
    cam = np.stack([(u - cx) / fx * z, (v - cy) / fy * z, z], axis=1)  # (N, 3) camera coordinates
    world = cam @ pose[:3, :3].T + pose[:3, 3]
    colours = frame[::s, ::s][rows, cols]
    footprints = (s * z / min(fx, fy)).astype(np.float32)
    return Points(world, np.ascontiguousarray(colours), footprints)
