"""The session's world cache: grown from the start image and every chunk, part of every snapshot (rewind restores it
exactly, branches never see each other's points), saved in .swm files (a damaged part opens without it and says
so), rendered at any pose, and absent without a depth source with nothing else changed."""

from __future__ import annotations

import zipfile

import numpy as np
import pytest
import torch

from engine.bundles import ModelBundle
from engine.errors import ConfigError, SessionStateError, WorldCacheError
from engine.generation.project import Project, StartSettings
from engine.generation.session import StreamSettings, WorldSession
from engine.generation.session_file import load_project, resume_session, save_project
from engine.generation.world_memory import WorldCacheSettings, WorldMemory, depth_source_for, fused_frame_indices

FRAME = (96, 64)
K = (80.0, 80.0, 48.0, 32.0)


@pytest.fixture(scope="module")
def bundle() -> ModelBundle:
    return ModelBundle.random("sana-wm-tiny-test", frame_size=FRAME, spatial_factor=16, sdpa_bf16=False)


def wall_depth(frames: np.ndarray, intrinsics: np.ndarray) -> np.ndarray:
    """A depth source for tests: a wall 4 m away whose distance depends on the frame's mean colour, so frames that
    differ give different points (a real estimator's property the branch tests need)."""
    shift = frames.reshape(len(frames), -1).mean(1)[:, None, None] / 255.0
    return np.broadcast_to(4.0 + shift, frames.shape[:3]).astype(np.float32).copy()


def image() -> np.ndarray:
    y, x = np.mgrid[0:64, 0:96]
    return np.stack([x * 2, y * 3, 255 - x], -1).clip(0, 255).astype(np.uint8)


def poses(dx: float, first: int = 1) -> np.ndarray:
    c2w = np.tile(np.eye(4), (24, 1, 1))
    c2w[:, 0, 3] = dx * np.arange(first, first + 24)
    return c2w


def session_with_cache(bundle, depth=wall_depth) -> WorldSession:
    session = WorldSession(bundle, StreamSettings(seed=3), depth=depth,
                           world_cache=WorldCacheSettings(voxel_size=0.05, capacity=5000))  # fmt: skip
    session.start(image(), intrinsics=K)
    return session


def test_fused_frames_end_with_the_newest_and_skip_the_start_reconstruction():
    assert fused_frame_indices(24, 4, skip_first=False) == [3, 7, 11, 15, 19, 23]
    assert fused_frame_indices(25, 4, skip_first=True) == [4, 8, 12, 16, 20, 24]
    assert fused_frame_indices(1, 4, skip_first=True) == []
    with pytest.raises(ConfigError, match="fuse every"):
        WorldCacheSettings(fuse_every=0)


def test_the_cache_starts_with_the_image_and_grows_with_each_chunk(bundle):
    session = session_with_cache(bundle)
    start = session.world_cache
    assert start is not None and len(start) > 0 and start.tick == 1
    session.step(poses(0.05))
    after = session.world_cache
    assert after.tick == 1 + 3 and len(after) > len(start)  # chunk 0's key frames 8, 16, 24 fused (frame 0 skipped)
    assert session.history[0].timings["world"] > 0
    xyz, rgb = session.cache_points()
    assert xyz.shape == (len(after), 3) and rgb.shape == (len(after), 3) and xyz.dtype == np.float32
    assert np.allclose(np.median(xyz[:, 2]), 4.5, atol=0.6)  # the wall is 4-5 m in front of the start camera
    sub, _ = session.cache_points(limit=100)
    assert len(sub) == 100


def test_a_stream_of_the_first_sharp_decode_fuses_every_fourth_frame(bundle):
    """``StreamSettings.sharp_decode`` 1 (files made then) keeps the world cache as it grew then."""
    session = WorldSession(bundle, StreamSettings(seed=3, sharp_decode=1), depth=wall_depth,
                           world_cache=WorldCacheSettings(voxel_size=0.05, capacity=5000))  # fmt: skip
    session.start(image(), intrinsics=K)
    session.step(poses(0.05))
    assert session.world_cache.tick == 1 + 6  # frames 4, 8, ..., 24


def test_the_start_pose_render_shows_the_start_image(bundle):
    session = session_with_cache(bundle)
    out = session.render_cache(np.eye(4))
    assert out.colour.shape == (FRAME[1], FRAME[0], 3) and out.coverage.mean() > 0.9
    frame = session.start_frame
    err = np.abs(out.colour.astype(int) - frame)[out.coverage].mean()
    assert err < 12, err  # 5 cm voxels at stride 2 on a smooth gradient: a close copy
    depth = out.depth[out.coverage]
    assert np.allclose(np.median(depth), wall_depth(frame[None], None)[0, 0, 0], atol=0.1)


def test_renders_of_the_latest_states_are_shared_and_bounded():
    """A chunk renders the observed part at the same poses for the model's input and for its decode: once."""
    memory = WorldMemory(wall_depth)
    world = memory.start(image(), np.asarray(K))
    grown = memory.after_chunk(world, np.stack([image()] * 4), poses(0.01)[:4], np.tile(K, (4, 1)))
    seen = memory.observed(grown)
    assert memory.observed(grown) is seen and len(seen) < len(grown)  # the same part while it is the latest
    at = poses(0.02)[5]
    first = memory.render(seen, at, K, FRAME)
    memory.render(grown, at, K, FRAME)  # the decode renders the whole cache in between
    assert memory.render(seen, at.copy(), np.asarray(K), FRAME) is first
    again = memory.render(world, at, K, FRAME)  # a third state: the oldest one's renders go
    rendered_again = memory.render(seen, at, K, FRAME)
    assert rendered_again is not first and np.array_equal(rendered_again.colour, first.colour)
    for i in range(40):
        memory.render(world, poses(0.001 * i)[0], K, FRAME)
    assert len(memory._renders) <= 16 and again.coverage.any()
    memory.release()


def test_rewind_restores_the_world_exactly_and_branches_do_not_share_points(bundle):
    session = session_with_cache(bundle)
    session.step(poses(0.05))
    after0 = session.world_cache
    keys0 = after0.keys.copy()
    session.step(poses(0.05, 25))
    take1 = session.world_cache
    session.rewind(0)
    assert session.world_cache is after0 and np.array_equal(session.world_cache.keys, keys0)
    session.step(poses(-0.08, 25))  # a branch going the other way
    take2 = session.world_cache
    assert not np.array_equal(take2.keys, take1.keys)
    assert np.array_equal(after0.keys, keys0)  # neither branch changed the state they share
    session.rewind(-1)
    assert session.world_cache.tick == 1  # back to the start image's cache


def test_without_a_depth_source_nothing_else_changes(bundle):
    """The cache never feeds this model: the same latents with or without it, and the same frames once sharp frames
    (the one thing the cache changes, docs/embedded_model.md) are off."""
    plain = WorldSession(bundle, StreamSettings(seed=3), depth=None)
    plain.start(image(), intrinsics=K)
    cached = session_with_cache(bundle)
    unsharp = WorldSession(bundle, StreamSettings(seed=3, sharp_frames=False), depth=wall_depth,
                           world_cache=WorldCacheSettings(voxel_size=0.05, capacity=5000))  # fmt: skip
    unsharp.start(image(), intrinsics=K)
    a, b, c = plain.step(poses(0.05)), cached.step(poses(0.05)), unsharp.step(poses(0.05))
    assert plain.world_cache is None and plain.cache_points()[0].shape == (0, 3)
    assert torch.equal(a.latents, b.latents) and torch.equal(a.latents, c.latents)
    assert np.array_equal(a.frames, c.frames)
    with pytest.raises(SessionStateError, match="no depth source"):
        plain.render_cache(np.eye(4))


def test_auto_finds_no_estimator_for_a_random_bundle_and_refuses_a_broken_file(bundle, tmp_path):
    assert WorldSession(bundle).world_memory is None  # random bundles have no folder
    assert depth_source_for(tmp_path) is None
    (tmp_path / "depth.safetensors").write_bytes(b"not safetensors")
    with pytest.raises(Exception, match="depth.safetensors"):
        depth_source_for(tmp_path)


def test_a_depth_source_of_the_wrong_shape_is_refused(bundle):
    memory = WorldMemory(lambda f, k: np.ones((1, 2, 2), np.float32))
    with pytest.raises(WorldCacheError, match="depth source: expected depth of shape"):
        memory.start(image(), np.asarray(K))


def saved_project(bundle, path):
    session = session_with_cache(bundle)
    project = Project(StartSettings(image=image(), intrinsics=K, seed=3))
    project.stream_settings = session.settings
    for k in range(2):
        project.add_chunk(session.step(poses(0.05, 1 + 24 * k)))
    save_project(project, path)
    return session, project


def test_sessions_save_and_load_the_world_cache(bundle, tmp_path):
    path = tmp_path / "s.swm"
    session, project = saved_project(bundle, path)
    loaded = load_project(path)
    assert loaded.warnings == []
    for k in range(2):
        before, after = project.snapshot_at(k).world, loaded.snapshot_at(k).world
        assert after.tick == before.tick and after.config == before.config
        assert np.array_equal(after.voxels, before.voxels)
    with zipfile.ZipFile(path) as z:
        assert "chunks/0001/world.safetensors" in z.namelist()
    fresh = WorldSession(bundle, depth=wall_depth, world_cache=WorldCacheSettings(voxel_size=0.05, capacity=5000))
    resume_session(fresh, loaded)
    assert np.array_equal(fresh.world_cache.voxels, session.world_cache.voxels)


def test_a_damaged_world_part_opens_without_the_cache_and_says_so(bundle, tmp_path):
    path = tmp_path / "s.swm"
    saved_project(bundle, path)
    damaged = tmp_path / "damaged.swm"
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(damaged, "w") as dst:
        for item in src.infolist():
            data = src.read(item.filename)
            if item.filename == "chunks/0001/world.safetensors":
                data = data[: len(data) // 2]
            dst.writestr(item, data)
    loaded = load_project(damaged)
    assert len(loaded.warnings) == 1 and "world cache" in loaded.warnings[0] and str(damaged) in loaded.warnings[0]
    assert loaded.snapshot_at(1).world is None and loaded.snapshot_at(0).world is not None
    session = WorldSession(bundle, depth=wall_depth, world_cache=WorldCacheSettings(voxel_size=0.05, capacity=5000))
    resume_session(session, loaded)
    assert session.world_cache is None
    session.step(poses(0.05, 49))
    assert session.world_cache is not None and session.world_cache.tick == 3  # a new cache from this chunk on
