"""Saving the cache as tensors + JSON meta: exact round trip, and damaged parts refused naming the part."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from engine.errors import WorldCacheError
from engine.world_cache.cache import WorldCache
from engine.world_cache.memory import CacheConfig, empty_state
from engine.world_cache.tensors import from_tensors, to_tensors

from .conftest import K, textured_plane


@pytest.fixture(scope="module")
def state():
    cache = WorldCache(CacheConfig(voxel_size=0.05, capacity=5000, max_weight=4))
    cache.add_frame(*textured_plane(), np.eye(4), K)
    cache.add_frame(*textured_plane(seed=3, distance=6.0), np.eye(4), K)
    return cache.state


def test_tensors_round_trip_exactly_through_json_meta(state):
    tensors, meta = to_tensors(state)
    back = from_tensors({k: v.clone() for k, v in tensors.items()}, json.loads(json.dumps(meta)))
    assert back.config == state.config and back.tick == state.tick == 2
    assert np.array_equal(back.voxels, state.voxels)
    assert tensors["sizes"].dtype == torch.float16 and tensors["keys"].shape == (len(state),)
    empty = from_tensors(*to_tensors(empty_state()))
    assert len(empty) == 0


def _damaged(state, name, value):
    tensors, meta = to_tensors(state)
    if name in tensors:
        tensors[name] = value(tensors[name])
    else:
        meta[name] = value(meta.get(name))
    return tensors, meta


@pytest.mark.parametrize("name, change, match", [
    ("sizes", lambda t: torch.where(torch.arange(len(t)) == 3, torch.tensor(float("nan"), dtype=t.dtype), t), "'sizes'"),
    ("sizes", lambda t: -t, "'sizes'"),
    ("colours", lambda t: t[:, :2], "'colours'.*shape"),
    ("offsets", lambda t: t.float(), "'offsets'.*uint8"),
    ("keys", lambda t: t.flip(0), "'keys'.*increasing"),
    ("weights", lambda t: t * 0, "'weights'"),
    ("last_seen", lambda t: t + 10, "'last_seen'"),
    ("format", lambda v: "sana-wm-world-cache/9", "'format'"),
    ("voxels", lambda v: 10**9, "'voxels'"),
    ("voxel_size", lambda v: -1.0, "voxel size"),
])  # fmt: skip
def test_damaged_tensors_or_meta_are_refused_naming_the_part(state, name, change, match):
    with pytest.raises(WorldCacheError, match=match):
        from_tensors(*_damaged(state, name, change))


def test_a_missing_tensor_is_refused_naming_it(state):
    tensors, meta = to_tensors(state)
    del tensors["colours"]
    with pytest.raises(WorldCacheError, match="'colours': missing"):
        from_tensors(tensors, meta)
