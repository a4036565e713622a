"""Sharp frames in a session (:mod:`engine.components.guided_decode`): on by default for a session with a world
cache, deterministic across rewind, replay and a saved and resumed session file, off on request (then the codec's
own decode), and the 16-px block grid is gone. Then the other stage of the decode, the contrast floor
(:attr:`StreamSettings.contrast_floor`): the model's own unless the settings say otherwise, every shown frame at the
floor when on, frames already there untouched, deterministic across replay, and kept by a resumed session file
(older files: test_session_file.py)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from engine.bundles import ModelBundle
from engine.components.contrast_floor import luma_std
from engine.components.guided_decode import GuidedState, block_grid_energy
from engine.components.patch_codec import PatchDCTState
from engine.errors import SanaWMInputError
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
    """Fine stripes on a gradient: detail the codec's latent cannot carry."""
    y, x = np.mgrid[0:64, 0:96]
    stripes = 50 * ((x // 3 + y // 5) % 2)
    return np.stack([x * 2 + stripes, y * 3, 255 - x - stripes], -1).clip(0, 255).astype(np.uint8)


def poses(k: int, dx: float = 0.01) -> np.ndarray:
    c2w = np.tile(np.eye(4), (24, 1, 1))
    c2w[:, 0, 3] = dx * np.arange(24 * k + 1, 24 * k + 25)
    return c2w


def session_of(bundle, sharp: bool = True, commit_shown: bool = True) -> WorldSession:
    settings = StreamSettings(seed=3, sharp_frames=sharp, commit_shown=commit_shown)
    session = WorldSession(bundle, settings, depth=wall_depth, world_cache=CACHE)
    session.start(image(), intrinsics=K)
    return session


def decoder_tensors(snapshot) -> dict[str, torch.Tensor]:
    return snapshot.decoder_state.to_tensors()[0]


def test_rewind_and_replay_give_the_same_frames_bit_for_bit(bundle):
    session = session_of(bundle)
    records = [session.step(poses(k)) for k in range(3)]
    assert isinstance(records[2].snapshot.decoder_state, GuidedState)
    session.rewind(0)
    again = [session.step(poses(k)) for k in (1, 2)]
    for first, second in zip(records[1:], again):
        assert np.array_equal(first.frames, second.frames)
    for k in (1, 2):
        snap, frames = session.replay(records[k - 1].snapshot, records[k])
        assert np.array_equal(frames, records[k].frames)
        expected = decoder_tensors(records[k].snapshot)
        assert all(torch.equal(t, expected[name]) for name, t in decoder_tensors(snap).items())


def test_a_resumed_session_file_continues_with_the_same_frames(bundle, tmp_path):
    session = session_of(bundle)
    project = Project(StartSettings(image=image(), intrinsics=K, seed=3))
    project.stream_settings = session.settings
    for k in range(3):
        project.add_chunk(session.step(poses(k)))
    save_project(project, tmp_path / "s.swm")  # compact: the middle snapshot is rebuilt by replay
    next_chunk = session.step(poses(3))
    loaded = load_project(tmp_path / "s.swm")
    assert loaded.stream_settings.sharp_frames
    fresh = WorldSession(bundle, depth=wall_depth, world_cache=CACHE)
    resume_session(fresh, loaded)
    assert np.array_equal(fresh.step(poses(3)).frames, next_chunk.frames)


@pytest.mark.parametrize("version", [1, 2])
def test_a_file_made_with_an_earlier_decode_continues_with_it(bundle, tmp_path, version):
    """A session file keeps its :data:`~engine.components.guided_decode.SHARP_DECODES` version: a session of
    today's default resumes it with the frames the older decode gives, which differ from today's."""
    session = WorldSession(bundle, StreamSettings(seed=3, sharp_decode=version), depth=wall_depth, world_cache=CACHE)
    session.start(image(), intrinsics=K)
    project = Project(StartSettings(image=image(), intrinsics=K, seed=3))
    project.stream_settings = session.settings
    for k in range(3):
        project.add_chunk(session.step(poses(k)))
    save_project(project, tmp_path / "s.swm")
    next_chunk = session.step(poses(3))
    fresh = WorldSession(bundle, depth=wall_depth, world_cache=CACHE)
    resume_session(fresh, load_project(tmp_path / "s.swm"))
    assert fresh.settings.sharp_decode == version
    assert np.array_equal(fresh.step(poses(3)).frames, next_chunk.frames)
    today = session_of(bundle)
    frames = [today.step(poses(k)).frames for k in range(4)]
    assert not np.array_equal(frames[3], next_chunk.frames)


def test_an_unknown_sharp_decode_is_refused_by_name(bundle):
    with pytest.raises(SanaWMInputError, match="sharp decode: expected a version among 1, 2, 3, found 7"):
        WorldSession(bundle, StreamSettings(sharp_decode=7), depth=wall_depth, world_cache=CACHE)


def test_off_it_is_the_codec_decode_and_on_the_block_grid_is_gone(bundle):
    sharp, plain = session_of(bundle, commit_shown=False), session_of(bundle, sharp=False)
    reference = bundle.codec.stream_decoder()
    for k in range(2):
        a, b = sharp.step(poses(k)), plain.step(poses(k))
        assert torch.equal(a.latents, b.latents)  # only the decode changes
        assert np.array_equal(b.frames, reference.decode_next(b.latents))
        assert isinstance(b.snapshot.decoder_state, PatchDCTState)
        assert block_grid_energy(a.frames) < 0.6 * block_grid_energy(b.frames)


def test_the_start_frame_keeps_the_start_images_detail(bundle):
    """Frame 0 is the start image itself (the observed view, warped to its own pose), not its blocky low-pass."""
    sharp, plain = session_of(bundle), session_of(bundle, sharp=False)
    a, b = sharp.step(poses(0)).frames[0], plain.step(poses(0)).frames[0]
    err = lambda f: np.abs(f.astype(float) - image().astype(float)).mean()  # noqa: E731
    assert err(b) > 10 and err(a) < 0.5  # measured 17.1 and 0.15 levels


def test_the_context_is_the_chunk_as_shown_encoded_again(bundle):
    """``commit_shown``: the next chunks see the key frames as the sharp decode showed them, re-encoded (chunk 0's
    image latent kept); off, they see the sampled latents. The records hold the sampled latents either way."""
    bundle = dataclasses.replace(bundle, context_frames=13)  # a trained context: the session keeps recent latents
    shown, sampled = session_of(bundle), session_of(bundle, commit_shown=False)
    a, b = shown.step(poses(0)), sampled.step(poses(0))
    assert torch.equal(a.latents, b.latents) and np.array_equal(a.frames, b.frames)  # the same chunk 0
    expected = torch.cat([a.latents[:, :, :1]] + [bundle.codec.encode(a.frames[i][None]) for i in (8, 16, 24)], dim=2)
    assert torch.equal(shown.snapshot().recent_latents[:, :, -4:], expected.to(a.latents))
    assert torch.equal(sampled.snapshot().recent_latents[:, :, -4:], b.latents)
    assert not torch.equal(shown.step(poses(1)).latents, sampled.step(poses(1)).latents)  # a different context


# ----- the contrast floor (StreamSettings.contrast_floor), applied to the decoded frames -------------------------
def contrasted_image() -> np.ndarray:
    """Strong stripes: a start image far more contrasted than a random model's frames."""
    y, x = np.mgrid[0:64, 0:96]
    stripes = 160 * ((x // 6 + y // 8) % 2)
    return np.stack([40 + stripes, 60 + stripes // 2, 200 - stripes], -1).clip(0, 255).astype(np.uint8)


def floored_run(bundle, chunks: int = 2, **settings) -> tuple[WorldSession, list]:
    session = WorldSession(bundle, StreamSettings(seed=3, **settings), depth=wall_depth, world_cache=CACHE)
    session.start(contrasted_image(), intrinsics=K)
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
    _, plain = floored_run(bundle, chunks=1, sharp_frames=False)
    _, floored = floored_run(bundle, chunks=1, sharp_frames=False, contrast_floor=0.8, contrast_cap=50.0)
    target = 0.8 * luma_std(contrasted_image())
    before, after = plain[0].frames, floored[0].frames
    stretched = [i for i, f in enumerate(before) if luma_std(f) < target]
    assert 0 < len(stretched) < len(before)
    for i, (a, b) in enumerate(zip(before, after)):  # chunk 0: the same sampled latents, so the same decode
        if i in stretched:
            assert luma_std(b) >= target - 1.0  # uint8 rounding and clipping
        else:
            assert np.array_equal(a, b)


def test_replay_rebuilds_the_floored_frames_bit_for_bit(bundle):
    session, records = floored_run(bundle, chunks=3, contrast_floor=1.0)
    assert min(luma_std(f) for r in records for f in r.frames) >= luma_std(contrasted_image()) - 1.0
    for k in (1, 2):
        _, frames = session.replay(records[k - 1].snapshot, records[k])
        assert np.array_equal(frames, records[k].frames)


def test_a_resumed_session_file_keeps_the_floor(bundle, tmp_path):
    session, records = floored_run(bundle, contrast_floor=0.7, contrast_cap=1.5)
    project = Project(StartSettings(image=contrasted_image(), intrinsics=K, seed=3))
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
