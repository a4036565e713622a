"""The voxel memory: fusion by voxel, the capacity bound with least-recently-observed eviction, immutability."""

from __future__ import annotations

import numpy as np
import pytest

from engine.errors import ConfigError
from engine.world_cache.memory import (
    BYTES_PER_VOXEL,
    OBSERVED_WEIGHT,
    CacheConfig,
    empty_state,
    observed_part,
    positions,
    update,
    voxel_coords,
)
from engine.world_cache.unproject import Points


def _grid(origin, n=10, spacing=1.0, colour=(10, 20, 30)) -> Points:
    """``n x n`` points on the plane z = origin z, one per 1 m cell (so one per voxel of size 1)."""
    i, j = np.mgrid[0:n, 0:n]
    p = np.c_[i.ravel() * spacing, j.ravel() * spacing, np.zeros(n * n)] + np.asarray(origin, float) + 0.25
    return Points(p, np.tile(np.array(colour, np.uint8), (n * n, 1)), np.full(n * n, 0.5, np.float32))


def test_points_in_one_voxel_fuse_to_their_mean_and_reobservation_is_a_capped_running_mean():
    cfg = CacheConfig(voxel_size=1.0, capacity=100, max_weight=2)
    p = Points(np.array([[0.2, 0.2, 0.2], [0.4, 0.6, 0.2], [5.5, 0.5, 0.5]]),
               np.array([[0, 0, 0], [100, 100, 100], [7, 7, 7]], np.uint8), np.full(3, 0.1, np.float32))
    s = update(empty_state(cfg), p)
    assert len(s) == 2 and s.tick == 1
    assert np.array_equal(voxel_coords(s.keys), [[0, 0, 0], [5, 0, 0]])
    assert s.colours[0].tolist() == [50, 50, 50] and s.weights.tolist() == [2, 1]
    assert np.allclose(positions(s)[0], [0.3, 0.4, 0.2], atol=1 / 256)
    assert s.sizes.astype(float).tolist() == [1.0, 1.0]  # never below the voxel size
    # weight capped at 2: the old mean counts twice, one new observation once
    s2 = update(s, Points(np.array([[0.3, 0.4, 0.2]]), np.array([[200, 200, 200]], np.uint8), np.ones(1, np.float32)))
    assert s2.colours[0].tolist() == [100, 100, 100] and s2.weights[0] == 2 and s2.last_seen.tolist() == [2, 1]


def test_capacity_holds_and_the_least_recently_observed_voxels_are_evicted_first():
    cfg = CacheConfig(voxel_size=1.0, capacity=250)
    a, b, c = _grid((0, 0, 0)), _grid((100, 0, 0)), _grid((200, 0, 0))
    s = update(update(empty_state(cfg), a), b)  # 200 voxels
    s = update(s, a)  # a is seen again: b is now the oldest
    s = update(s, c)  # 300 > 250: 50 voxels of b go
    assert len(s) == 250
    x = voxel_coords(s.keys)[:, 0]
    assert (x < 100).sum() == 100 and (x >= 200).sum() == 100 and ((x >= 100) & (x < 200)).sum() == 50
    assert (np.diff(s.keys) > 0).all()  # still sorted and unique
    for _ in range(30):  # a long rollout of new places: the bound holds at every step
        s = update(s, _grid((300 + 20 * s.tick, 0, 0)))
        assert len(s) <= 250 and s.nbytes == len(s) * BYTES_PER_VOXEL
    assert set(s.last_seen.tolist()) >= {s.tick, s.tick - 1}


def test_a_frame_larger_than_the_capacity_keeps_a_capacity_sized_subset_of_itself():
    s = update(empty_state(CacheConfig(voxel_size=1.0, capacity=40)), _grid((0, 0, 0)))
    assert len(s) == 40 and (np.diff(s.keys) > 0).all() and (s.last_seen == 1).all()


def test_updates_never_change_an_earlier_state():
    s1 = update(empty_state(CacheConfig(voxel_size=1.0, capacity=150)), _grid((0, 0, 0)))
    before = s1.voxels.copy()
    s2 = update(s1, _grid((0, 0, 0), colour=(200, 0, 0)))
    update(s2, _grid((50, 0, 0)))
    assert np.array_equal(s1.voxels, before) and not s1.voxels.flags.writeable
    with pytest.raises(ValueError):
        s1.voxels["colours"][0] = 0


def test_empty_frames_and_points_outside_the_key_range_are_ignored():
    s = update(empty_state(CacheConfig(voxel_size=1.0)), Points(np.zeros((0, 3)), np.zeros((0, 3), np.uint8),
                                                                 np.zeros(0, np.float32)))
    assert len(s) == 0 and s.tick == 1
    far = Points(np.array([[3e6, 0.0, 0.0], [1.0, 1.0, 1.0]]), np.zeros((2, 3), np.uint8), np.ones(2, np.float32))
    assert len(update(s, far)) == 1


def test_generated_frames_never_repaint_or_move_an_observed_voxel_but_add_their_own():
    cfg = CacheConfig(voxel_size=1.0, capacity=1000)
    start = update(empty_state(cfg), _grid((0, 0, 0), n=4), observed=True)
    assert (start.weights == OBSERVED_WEIGHT).all()
    repaint = Points(positions(start) + 0.2, np.full((16, 3), 250, np.uint8), np.full(16, 0.5, np.float32))
    s = update(update(start, repaint), _grid((10, 0, 0), n=4, colour=(1, 2, 3)))
    kept = np.isin(s.keys, start.keys)
    assert kept.sum() == 16 and len(s) == 32
    assert np.array_equal(s.voxels[kept][["keys", "offsets", "colours", "weights", "sizes"]],
                          start.voxels[["keys", "offsets", "colours", "weights", "sizes"]])
    assert (s.last_seen[kept] == 2).all()  # seen again: refreshed, so a revisit keeps them
    assert (s.weights[~kept] < OBSERVED_WEIGHT).all()
    part = observed_part(s)
    assert np.array_equal(part.voxels, s.voxels[kept]) and part.tick == s.tick
    # another observed image does average with what was observed (both are real pixels)
    again = update(start, repaint, observed=True)
    assert (again.colours > start.colours).all() and (again.weights == OBSERVED_WEIGHT).all()


def test_eviction_takes_unobserved_voxels_before_observed_ones():
    cfg = CacheConfig(voxel_size=1.0, capacity=250)
    s = update(empty_state(cfg), _grid((0, 0, 0)), observed=True)  # 100 observed, the oldest
    s = update(update(s, _grid((100, 0, 0))), _grid((200, 0, 0)))  # 300 > 250: 50 of the first generated go
    x = voxel_coords(s.keys)[:, 0]
    assert len(s) == 250 and (x < 100).sum() == 100 and ((x >= 100) & (x < 200)).sum() == 50
    for k in range(5):  # still bounded when only observed voxels are left to evict
        s = update(s, _grid((300 + 20 * k, 0, 0), n=16))
        assert len(s) <= 250


@pytest.mark.parametrize("kwargs", [dict(voxel_size=0.0), dict(capacity=0), dict(max_weight=0), dict(max_weight=300),
                                    dict(max_weight=OBSERVED_WEIGHT)])
def test_invalid_configs_are_refused(kwargs):
    with pytest.raises(ConfigError, match="world cache"):
        CacheConfig(**kwargs)
