"""WorldCache snapshots: restore gives exactly the snapshot's state, branches do not see each other's points."""

from __future__ import annotations

import numpy as np

from engine.camera.poses import pose_from_rt, rot_y
from engine.world_cache.cache import WorldCache
from engine.world_cache.memory import CacheConfig

from .conftest import K, textured_plane


def _voxels(cache: WorldCache) -> np.ndarray:
    return cache.state.voxels.copy()


def test_restore_returns_exactly_the_snapshot_state_and_branches_are_isolated():
    cache = WorldCache(CacheConfig(voxel_size=0.05, capacity=20_000))
    frame, depth = textured_plane()
    cache.add_frame(frame, depth, np.eye(4), K)
    snap = cache.snapshot()
    at_snap = _voxels(cache)

    left = pose_from_rt(rot_y(-0.6), np.array([-1.0, 0.0, 0.0]))
    right = pose_from_rt(rot_y(0.6), np.array([1.0, 0.0, 0.0]))
    cache.add_frame(*textured_plane(seed=1), left, K)
    branch_a = cache.snapshot()
    a_voxels = _voxels(cache)
    assert len(cache) > len(at_snap)

    cache.restore(snap)
    assert cache.state is snap and np.array_equal(_voxels(cache), at_snap) and cache.state.tick == 1
    cache.add_frame(*textured_plane(seed=2), right, K)
    b_keys = set(cache.state.keys.tolist())
    a_keys = set(branch_a.keys.tolist())
    snap_keys = set(snap.keys.tolist())
    assert (a_keys - snap_keys) and (b_keys - snap_keys)
    assert not (a_keys - snap_keys) & b_keys and not (b_keys - snap_keys) & a_keys  # neither sees the other's points
    assert np.array_equal(branch_a.voxels, a_voxels)  # branch A untouched by branch B's update

    cache.restore(branch_a)
    assert np.array_equal(_voxels(cache), a_voxels)
