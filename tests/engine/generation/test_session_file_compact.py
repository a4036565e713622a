"""Compact session files: only some snapshots are stored, the rest are rebuilt on resume bit for bit (model cache,
decoder state, re-anchoring state, world cache, exact frames), and the file is several times smaller."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from engine.bundles import ModelBundle
from engine.errors import SessionFileError, SessionStateError
from engine.generation.project import Project, StartSettings
from engine.generation.session import StreamSettings, WorldSession
from engine.generation.session_file import load_project, read_manifest, resume_session, save_project
from engine.generation.world_memory import WorldCacheSettings

FRAME = (96, 64)
K = (80.0, 80.0, 48.0, 32.0)
SETTINGS = WorldCacheSettings(voxel_size=0.05, capacity=3000)


def depth(frames, intrinsics):
    shift = frames.reshape(len(frames), -1).mean(1)[:, None, None] / 255.0
    return np.broadcast_to(3.0 + shift, frames.shape[:3]).astype(np.float32).copy()


@pytest.fixture(scope="module")
def bundle() -> ModelBundle:
    b = ModelBundle.random("sana-wm-tiny-test", frame_size=FRAME, spatial_factor=16, sdpa_bf16=False)
    return dataclasses.replace(b, context_frames=10)  # re-anchors every other chunk from chunk 3 on


def image() -> np.ndarray:
    y, x = np.mgrid[0:64, 0:96]
    return np.stack([x * 2, y * 3, 255 - x], -1).clip(0, 255).astype(np.uint8)


def poses(k: int, dx: float) -> np.ndarray:
    c2w = np.tile(np.eye(4), (24, 1, 1))
    c2w[:, 0, 3] = dx * np.arange(24 * k + 1, 24 * k + 25)
    c2w[:, 2, 3] = 0.02 * np.arange(24 * k + 1, 24 * k + 25)
    return c2w


def session(bundle) -> WorldSession:
    return WorldSession(bundle, StreamSettings(seed=5), depth=depth, world_cache=SETTINGS)


@pytest.fixture(scope="module")
def walk(bundle, tmp_path_factory):
    """Take 1: chunks 0-9; Take 2 forks after chunk 3 with chunks 4-6; Take 1 current, cursor after chunk 9."""
    s = session(bundle)
    s.start(image(), intrinsics=K)
    project = Project(StartSettings(image=image(), intrinsics=K, seed=5))
    project.stream_settings = s.settings
    for k in range(10):
        project.add_chunk(s.step(poses(k, 0.01)))
    project.rewind(3)
    s.restore(project.snapshot_at(3))
    for k in range(4, 7):
        project.add_chunk(s.step(poses(k, -0.02)))
    project.switch(0)
    project.rewind(9)
    folder = tmp_path_factory.mktemp("compact")
    save_project(project, folder / "compact.swm")
    save_project(project, folder / "full.swm", snapshot_every=1)
    save_project(project, folder / "every4.swm", snapshot_every=4)
    return project, folder


def snapshot_tensors(snap):
    tensors, meta = snap.to_tensors()
    return tensors, meta


def test_a_compact_file_stores_chunk_0_every_nth_chunk_the_tips_and_the_cursor(walk):
    project, folder = walk
    manifest = read_manifest(folder / "compact.swm")
    replay = sorted(spec["index"] for spec in manifest["entries"].values() if spec.get("replay"))
    # take 1: chunks 1-8 (0 always, 9 = tip and cursor); take 2: chunks 4, 5 (6 = its tip)
    assert replay == [1, 2, 3, 4, 4, 5, 5, 6, 7, 8]
    every4 = read_manifest(folder / "every4.swm")["entries"].values()
    assert sorted(spec["index"] for spec in every4 if spec.get("replay")) == [1, 2, 4, 4, 5, 5, 6, 8]
    compact, full = (folder / "compact.swm").stat().st_size, (folder / "full.swm").stat().st_size
    assert compact < 0.5 * full


def test_resume_rebuilds_every_snapshot_bit_for_bit(walk, bundle):
    project, folder = walk
    loaded = load_project(folder / "compact.swm")
    assert sum(e.replay for b in loaded.branches.values() for e in b.chunks) > 0
    assert loaded.branches[0].chunks[1].record.snapshot is None
    rebuilt = {id(e) for b in loaded.branches.values() for e in b.chunks if e.replay}
    steps = []
    resume_session(session(bundle), loaded, progress=steps.append)
    assert [(p.stage, p.done, p.total) for p in steps[-2:]] == [("resume", 9, 10), ("resume", 10, 10)]
    for bid, branch in project.branches.items():
        for old, new in zip(branch.chunks, loaded.branches[bid].chunks, strict=True):
            a, b = old.record.snapshot, new.record.snapshot
            assert not new.replay and b is not None
            ta, ma = snapshot_tensors(a)
            tb, mb = snapshot_tensors(b)
            assert ma == mb, (bid, old.index)
            assert ta.keys() == tb.keys()
            for name in ta:
                assert torch.equal(ta[name], tb[name]), (bid, old.index, name)
            if id(new) in rebuilt:  # exact frames come with a rebuilt snapshot (the others keep their JPEG previews)
                np.testing.assert_array_equal(old.record.frames, new.record.frames)


def test_a_rebuilt_chunk_continues_exactly(walk, bundle):
    project, folder = walk
    original = session(bundle)
    original.start(image(), intrinsics=K)
    loaded = load_project(folder / "compact.swm")
    fresh = session(bundle)
    resume_session(fresh, loaded)
    # rewind both to chunk 5 of take 2 (rebuilt on resume) and step the same poses
    first = fresh.snapshot().first_latent
    snap = project.branches[1].chunks[5].record.snapshot
    original_snap = dataclasses.replace(snap, first_latent=original.snapshot().first_latent)
    original.restore(original_snap)
    loaded.switch(1)
    fresh.restore(loaded.snapshot_at(5))
    assert fresh.snapshot().first_latent is first
    a, b = original.step(poses(6, 0.03)), fresh.step(poses(6, 0.03))
    assert torch.equal(a.latents, b.latents) and np.array_equal(a.frames, b.frames)
    assert np.array_equal(original.world_cache.voxels, fresh.world_cache.voxels)


def test_replay_refuses_a_chunk_that_does_not_follow(walk, bundle):
    project, _ = walk
    s = session(bundle)
    s.start(image(), intrinsics=K)
    with pytest.raises(SessionStateError, match="another stream"):
        s.replay(project.snapshot_at(2), project.current.chunks[3].record)
    root = s.snapshot()
    with pytest.raises(SessionStateError, match="does not follow"):
        s.replay(root, project.current.chunks[3].record)
    with pytest.raises(SessionFileError, match="snapshot_every"):
        save_project(project, "/tmp/never.swm", snapshot_every=0)
