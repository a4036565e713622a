"""``WorldCache``: the mutable handle a session holds (one current :class:`CacheState`), with snapshots.

Why a handle over immutable states: the session wants ``cache.add_frame(...)`` and ``cache.snapshot()`` /
``cache.restore(snap)`` like the rest of its state, while :mod:`engine.world_cache.memory` keeps every state
immutable. A snapshot *is* the state object (no copy, O(1)); an update builds new arrays, so a snapshot never
changes afterwards and two branches restored from the same snapshot never see each other's points.
"""

from __future__ import annotations

import numpy as np

from engine.world_cache.memory import CacheConfig, CacheState, empty_state, update
from engine.world_cache.unproject import Points, unproject


class WorldCache:
    """A bounded 3D point memory of the world (see :mod:`engine.world_cache.memory` for fusion and budget).

    Example::

        cache = WorldCache(CacheConfig(voxel_size=0.02, capacity=200_000))
        cache.add_frame(frame, depth, c2w, intrinsics)      # (H, W, 3) uint8, (H, W) float32 z, (4, 4), [fx, fy, cx, cy]
        snap = cache.snapshot()
        cache.add_frame(...)                                  # snap is unaffected
        cache.restore(snap)                                   # exactly the state at snapshot time
    """

    def __init__(self, config: CacheConfig = CacheConfig(), *, stride: int = 1) -> None:
        self._state = empty_state(config)
        self.stride = stride

    @property
    def config(self) -> CacheConfig:
        return self._state.config

    @property
    def state(self) -> CacheState:
        return self._state

    def __len__(self) -> int:
        return len(self._state)

    def add_points(self, points: Points) -> None:
        """Fuse one frame's world points (one update tick)."""
        self._state = update(self._state, points)

    def add_frame(self, frame: np.ndarray, depth: np.ndarray, c2w: np.ndarray, intrinsics: np.ndarray) -> None:
        """Unproject one frame with its depth (skipping sky and invalid depth) and fuse it."""
        self.add_points(unproject(frame, depth, c2w, intrinsics, stride=self.stride))

    def snapshot(self) -> CacheState:
        """The current state (immutable; O(1))."""
        return self._state

    def restore(self, snapshot: CacheState) -> None:
        """Make ``snapshot`` the current state again (exactly: the same arrays)."""
        if not isinstance(snapshot, CacheState):
            raise TypeError(f"world cache restore: expected a CacheState, found {type(snapshot).__name__}")
        self._state = snapshot
