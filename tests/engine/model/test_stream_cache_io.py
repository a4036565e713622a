"""StreamCache.to_tensors / from_tensors: a flattened cache rebuilds the same cache, and a session continued from
the rebuilt one generates exactly the same next chunk."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from engine.bundles import ModelBundle
from engine.model.chunks import AttentionWindow
from engine.model.stream_cache import StreamCache
from engine.generation.session import WorldSession


@pytest.fixture(scope="module")
def session() -> WorldSession:
    bundle = ModelBundle.random("sana-wm-tiny-test", frame_size=(96, 64), spatial_factor=16)
    session = WorldSession(bundle)
    session.start(np.full((64, 96, 3), 90, np.uint8))
    for _ in range(3):
        session.step(np.tile(np.eye(4), (24, 1, 1)))
    return session


def test_round_trip_keeps_every_tensor_name_and_the_window(session):
    cache = session.snapshot().cache
    tensors, meta = cache.to_tensors()
    assert any(".kv.0.main.k" in name for name in tensors)  # the sink chunk's K
    assert any(name.endswith(".states.gdn_m") for name in tensors)
    rebuilt = StreamCache.from_tensors({k: v.clone() for k, v in tensors.items()}, meta)
    assert rebuilt.chunks_done == cache.chunks_done == 3 and rebuilt.window == cache.window
    for old, new in zip(cache.blocks, rebuilt.blocks, strict=True):
        assert old.states.keys() == new.states.keys() and old.kv.keys() == new.kv.keys()
        for name in old.states:
            assert torch.equal(old.states[name], new.states[name])
        for chunk in old.kv:
            for slot, (k, v) in old.kv[chunk].items():
                assert torch.equal(k, new.kv[chunk][slot][0]) and torch.equal(v, new.kv[chunk][slot][1])


def test_to_tensors_returns_the_cache_tensors_themselves(session):
    """No copies: a writer can store a tensor shared by several snapshots (the sink's K/V) once, by identity."""
    first, second = session.history[1].snapshot.cache, session.history[2].snapshot.cache
    a, _ = first.to_tensors()
    b, _ = second.to_tensors()
    name = next(n for n in a if ".kv.0." in n)
    assert a[name] is b[name]


def test_a_session_continued_from_a_rebuilt_cache_matches_the_original_exactly(session):
    snap = session.history[1].snapshot
    tensors, meta = snap.cache.to_tensors()
    rebuilt = dataclasses.replace(snap, cache=StreamCache.from_tensors({k: v.clone() for k, v in tensors.items()}, meta))
    poses = np.tile(np.eye(4), (24, 1, 1))
    poses[:, 2, 3] = np.linspace(0.02, 0.5, 24)
    session.restore(snap)
    expected = session.step(poses)
    session.restore(rebuilt)
    found = session.step(poses)
    assert torch.equal(expected.latents, found.latents)
    np.testing.assert_array_equal(expected.frames, found.frames)


def test_an_empty_cache_and_other_windows_round_trip():
    cache = StreamCache.empty(3, AttentionWindow(1, False))
    tensors, meta = cache.to_tensors()
    assert tensors == {}
    assert StreamCache.from_tensors(tensors, meta) == cache


@pytest.mark.parametrize("name", ["blocks.9.states.gdn_m", "blocks.0.kv.x.main.k", "blocks.0.kv.0.main.q", "other"])
def test_malformed_names_are_refused_with_the_name(name):
    meta = {"depth": 2, "chunks_done": 1, "window": {"num_cached_chunks": 2, "sink": True}}
    with pytest.raises(ValueError, match="stream cache tensor"):
        StreamCache.from_tensors({name: torch.zeros(1)}, meta)


def test_a_key_without_its_value_is_refused():
    meta = {"depth": 1, "chunks_done": 1, "window": {"num_cached_chunks": 2, "sink": True}}
    with pytest.raises(ValueError, match="expected k and v, found \\['k'\\]"):
        StreamCache.from_tensors({"blocks.0.kv.0.main.k": torch.zeros(1)}, meta)
