"""The world cache: a bounded 3D point memory of the world, rendered at any camera pose (issue 16, part 3).

Frames with depth are unprojected to coloured world points (:mod:`.unproject`), fused on a voxel grid with a fixed
capacity and least-recently-observed eviction (:mod:`.memory`: budget, fusion rule), held by a :class:`WorldCache`
with O(1) immutable snapshots (:mod:`.cache`), saved as tensors + JSON (:mod:`.tensors`), and rendered to colour +
coverage + depth as depth-sized splats with moderngl/EGL (:mod:`.render_gl`) against a numpy z-buffer reference
(:mod:`.render_reference`), both following :mod:`.splats`. Conventions: camera-to-world 4x4, OpenCV axes,
intrinsics ``[fx, fy, cx, cy]`` in pixels, depth = camera-space z in scene units, ``inf`` = sky. See
docs/world_cache.md.
"""

from engine.world_cache.cache import WorldCache
from engine.world_cache.memory import (
    BYTES_PER_VOXEL,
    OBSERVED_WEIGHT,
    CacheConfig,
    CacheState,
    empty_state,
    observed_part,
    positions,
    update,
)
from engine.world_cache.render_gl import CacheRenderer
from engine.world_cache.render_reference import render_reference
from engine.world_cache.render_types import CacheRender
from engine.world_cache.tensors import from_tensors, to_tensors
from engine.world_cache.unproject import Points, unproject

__all__ = [
    "BYTES_PER_VOXEL", "OBSERVED_WEIGHT", "CacheConfig", "CacheRender", "CacheRenderer", "CacheState", "Points",
    "WorldCache", "empty_state", "from_tensors", "observed_part", "positions", "render_reference", "to_tensors",
    "unproject", "update",
]
