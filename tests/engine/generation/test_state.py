"""Session records: a snapshot flattens into named tensors and JSON metadata and back, sharing its tensors."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch

from engine.bundles import ModelBundle
from engine.errors import SanaWMInputError
from engine.generation.session import StreamSettings, WorldSession
from engine.generation.state import SessionSnapshot


@pytest.fixture(scope="module")
def snapshot() -> SessionSnapshot:
    bundle = ModelBundle.random("sana-wm-tiny-test", frame_size=(64, 32), spatial_factor=16)
    bundle = dataclasses.replace(bundle, context_frames=7)  # keeps recent_latents
    session = WorldSession(bundle, StreamSettings(seed=1))
    session.start(np.full((32, 64, 3), 90, np.uint8))
    for _ in range(2):
        session.step(np.tile(np.eye(4), (24, 1, 1)))
    return session.snapshot()


def test_a_snapshot_round_trips_through_tensors_and_json_metadata(snapshot):
    tensors, meta = snapshot.to_tensors()
    json.dumps(meta)  # the metadata is JSON as it is
    assert {"c2w", "intrinsics", "first_latent", "recent_latents", "decoder.last"} <= set(tensors)
    assert tensors["first_latent"] is snapshot.first_latent  # no copies: a writer can store shared tensors once
    back = SessionSnapshot.from_tensors(tensors, meta)
    assert (back.chunks_done, back.history_length, back.anchor) == (snapshot.chunks_done, snapshot.history_length, snapshot.anchor)
    np.testing.assert_array_equal(back.c2w, snapshot.c2w)
    assert back.c2w.dtype == np.float64 and torch.equal(back.decoder_state.last, snapshot.decoder_state.last)
    assert torch.equal(back.recent_latents, snapshot.recent_latents)
    ta, tb = snapshot.cache.to_tensors()[0], back.cache.to_tensors()[0]
    assert ta.keys() == tb.keys() and all(ta[k] is tb[k] for k in ta)


def test_a_malformed_snapshot_names_what_is_wrong(snapshot):
    tensors, meta = snapshot.to_tensors()
    with pytest.raises(SanaWMInputError, match="missing \\['first_latent'\\]"):
        SessionSnapshot.from_tensors({k: v for k, v in tensors.items() if k != "first_latent"}, meta)
    with pytest.raises(SanaWMInputError, match="stream cache is malformed"):
        SessionSnapshot.from_tensors({**tensors, "cache.blocks.x": torch.zeros(1)}, meta)
    with pytest.raises(SanaWMInputError, match="expected kind 'tensor' or 'ltx2' or 'guided', found 'vq'"):
        SessionSnapshot.from_tensors(tensors, {**meta, "decoder": {"kind": "vq", "meta": {}}})
