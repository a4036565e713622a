"""The contrast floor in a session (:attr:`StreamSettings.contrast_floor`): the model's own unless the settings say
otherwise, every shown frame at the floor when on, frames already there untouched, deterministic across replay, and
kept by a resumed session file (older files: test_session_file.py)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from engine.bundles import ModelBundle
from engine.components.contrast_floor import luma_std
from engine.generation.project import Project, StartSettings
from engine.generation.session import StreamSettings, WorldSession
from engine.generation.session_file import load_project, resume_session, save_project
from engine.generation.world_memory import WorldCacheSettings

FRAME = (96, 64)
K = (80.0, 80.0, 48.0, 32.0)
CACHE = WorldCacheSettings(voxel_size=0.05, capacity=5000)


@pytest.fixture(scope="module")
def bundle() -> ModelBundle:
    return ModelBundle.random("sana-wm-tiny-test", frame_size=FRAME, spatial_factor=16, sdpa_bf16=False)


def wall_depth(frames: np.ndarray, intrinsics: np.ndarray) -> np.ndarray:
    return np.full(frames.shape[:3], 4.0, np.float32)


def image() -> np.ndarray:
    """Strong stripes: a start image far more contrasted than a random model's frames."""
    y, x = np.mgrid[0:64, 0:96]
    stripes = 160 * ((x // 6 + y // 8) % 2)
    return np.stack([40 + stripes, 60 + stripes // 2, 200 - stripes], -1).clip(0, 255).astype(np.uint8)


def poses(k: int) -> np.ndarray:
    c2w = np.tile(np.eye(4), (24, 1, 1))
    c2w[:, 0, 3] = 0.01 * np.arange(24 * k + 1, 24 * k + 25)
    return c2w


def run(bundle, chunks: int = 2, **settings) -> tuple[WorldSession, list]:
    session = WorldSession(bundle, StreamSettings(seed=3, **settings), depth=wall_depth, world_cache=CACHE)
    session.start(image(), intrinsics=K)
    return session, [session.step(poses(k)) for k in range(chunks)]


def test_the_floor_is_the_models_unless_the_settings_say_otherwise(bundle):
    assert StreamSettings().contrast_floor is None and bundle.contrast_floor == 0.0  # random bundles have none
    assert WorldSession(bundle).settings.contrast_floor == 0.0
    floored = dataclasses.replace(bundle, contrast_floor=0.4)
    assert WorldSession(floored).settings.contrast_floor == 0.4
    assert WorldSession(floored, StreamSettings(contrast_floor=0.0)).settings.contrast_floor == 0.0


def test_every_shown_frame_reaches_the_floor_and_frames_there_are_untouched(bundle):
    # the codec's own decode: a random model's first frames are far flatter than the stripes (the sharp decode
    # would copy the stripes); the replay test below covers the sharp decode
    _, plain = run(bundle, chunks=1, sharp_frames=False)
    _, floored = run(bundle, chunks=1, sharp_frames=False, contrast_floor=0.8, contrast_cap=50.0)
    target = 0.8 * luma_std(image())
    before, after = plain[0].frames, floored[0].frames
    stretched = [i for i, f in enumerate(before) if luma_std(f) < target]
    assert 0 < len(stretched) < len(before)
    for i, (a, b) in enumerate(zip(before, after)):  # chunk 0: the same sampled latents, so the same decode
        if i in stretched:
            assert luma_std(b) >= target - 1.0  # uint8 rounding and clipping
        else:
            assert np.array_equal(a, b)


def test_replay_rebuilds_the_floored_frames_bit_for_bit(bundle):
    session, records = run(bundle, chunks=3, contrast_floor=1.0)
    assert min(luma_std(f) for r in records for f in r.frames) >= luma_std(image()) - 1.0
    for k in (1, 2):
        _, frames = session.replay(records[k - 1].snapshot, records[k])
        assert np.array_equal(frames, records[k].frames)


def test_a_resumed_session_file_keeps_the_floor(bundle, tmp_path):
    session, records = run(bundle, contrast_floor=0.7, contrast_cap=1.5)
    project = Project(StartSettings(image=image(), intrinsics=K, seed=3))
    project.stream_settings = session.settings
    for record in records:
        project.add_chunk(record)
    save_project(project, tmp_path / "floor.swm")
    expected = session.step(poses(2))
    loaded = load_project(tmp_path / "floor.swm")
    assert (loaded.stream_settings.contrast_floor, loaded.stream_settings.contrast_cap) == (0.7, 1.5)
    fresh = WorldSession(bundle, depth=wall_depth, world_cache=CACHE)
    resume_session(fresh, loaded)
    assert np.array_equal(fresh.step(poses(2)).frames, expected.frames)
