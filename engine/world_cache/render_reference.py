"""The numpy z-buffer reference renderer of the world cache: slow, exact, obvious; the GL renderer is tested
against it.

It applies the splat model of :mod:`engine.world_cache.splats` literally: every point is expanded to the pixels
its square covers, each pixel keeps the candidate with the smallest offset depth. Cost is O(points x splat area)
memory and time, fine for test sizes (thousands of points), not for a rollout.
"""

from __future__ import annotations

import numpy as np

from engine.camera.intrinsics import as_vec4
from engine.world_cache.memory import CacheState, positions
from engine.world_cache.render_types import CacheRender
from engine.world_cache.splats import DEPTH_OFFSET, project_splats


def render_reference(state: CacheState, c2w: np.ndarray, intrinsics: np.ndarray, size: tuple[int, int]) -> CacheRender:
    """Render ``state`` at pose ``c2w`` ``(4, 4)`` with ``[fx, fy, cx, cy]`` to a ``size = (W, H)`` image."""
    w, h = (int(x) for x in size)
    k = as_vec4(intrinsics, name="world cache render intrinsics")[0]
    colour = np.zeros((h, w, 3), np.uint8)
    depth = np.full((h, w), np.inf, np.float32)
    coverage = np.zeros((h, w), bool)
    if len(state) == 0:
        return CacheRender(colour, coverage, depth)
    sizes = state.sizes.astype(np.float64)
    u, v, z, side, keep = project_splats(positions(state), sizes, c2w, k)
    idx = np.nonzero(keep)[0]
    half = side[idx] / 2
    # pixel columns i with |i + 0.5 - u| <= s / 2, i.e. ceil(u - s/2 - 0.5) <= i <= floor(u + s/2 - 0.5)
    i0 = np.maximum(np.ceil(u[idx] - half - 0.5), 0).astype(np.int64)
    i1 = np.minimum(np.floor(u[idx] + half - 0.5), w - 1).astype(np.int64)
    j0 = np.maximum(np.ceil(v[idx] - half - 0.5), 0).astype(np.int64)
    j1 = np.minimum(np.floor(v[idx] + half - 0.5), h - 1).astype(np.int64)
    nx, ny = np.maximum(i1 - i0 + 1, 0), np.maximum(j1 - j0 + 1, 0)
    count = nx * ny
    owner = np.repeat(np.arange(len(idx)), count)  # one row per (point, covered pixel)
    local = np.arange(count.sum()) - np.repeat(np.cumsum(count) - count, count)
    px = i0[owner] + local % np.maximum(nx[owner], 1)
    py = j0[owner] + local // np.maximum(nx[owner], 1)
    p = idx[owner]
    r2 = ((2 * (px + 0.5 - u[p]) / side[p]) ** 2 + (2 * (py + 0.5 - v[p]) / side[p]) ** 2)
    key = z[p] + DEPTH_OFFSET * sizes[p] * r2
    pixel = py * w + px
    order = np.lexsort((key, pixel))  # by pixel, then nearest first
    first = order[np.r_[True, pixel[order][1:] != pixel[order][:-1]]] if len(order) else order
    win = p[first]
    flat = pixel[first]
    colour.reshape(-1, 3)[flat] = state.colours[win]
    depth.reshape(-1)[flat] = z[win]
    coverage.reshape(-1)[flat] = True
    return CacheRender(colour, coverage, depth)
