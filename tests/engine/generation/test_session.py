"""WorldSession: streaming equals the uncached chunk-causal rollout; rewind, branch, causality, flat memory."""

from __future__ import annotations

import gc
import threading
from dataclasses import replace

import numpy as np
import pytest
import torch

from engine.bench.memory import current_rss_bytes
from engine.bundles import ModelBundle
from engine.camera.conditioning import CameraConditioner
from engine.camera.controls import get_mapping
from engine.camera.integrator import MotionIntegrator
from engine.errors import SanaWMInputError
from engine.model.chunks import AttentionWindow, sampler_chunk_starts
from engine.model.time_mixing import ChunkCausalMixer
from engine.generation.sampling import frame_noise, sample_chunk
from engine.errors import Cancelled, SessionStateError
from engine.generation.session import StreamSettings, WorldSession

FRAME = (64, 32)  # (W, H) pixels -> a 4 x 2 latent grid with the 16x patch codec


@pytest.fixture(scope="module")
def bundle() -> ModelBundle:
    return ModelBundle.random("sana-wm-tiny-test", frame_size=FRAME, spatial_factor=16, sdpa_bf16=False)


def start_image(seed: int = 0) -> np.ndarray:
    y, x = np.mgrid[0:40, 0:80]
    rng = np.random.default_rng(seed)
    return np.clip(np.stack([x * 3, y * 5, 128 + 0 * x], -1) + rng.integers(0, 40, (40, 80, 3)), 0, 255).astype(np.uint8)


def drive(keys_per_chunk: list[str], n: int = 24) -> list[np.ndarray]:
    """Poses for each chunk from held keys (the shared integrator, v2 mapping)."""
    integ = MotionIntegrator(get_mapping("v2"), translation_speed=0.05, rotation_speed_deg=2.0)
    return [np.stack([integ.step(set(keys)) for _ in range(n)]) for keys in keys_per_chunk]


def run(bundle, poses, **kwargs) -> WorldSession:
    session = WorldSession(bundle, **kwargs)
    session.start(start_image())
    for p in poses:
        session.step(p)
    return session


def test_streaming_equals_the_uncached_chunk_causal_rollout(bundle):
    """Same weights, noise and cameras: the cached session vs. the teacher re-run on the whole prefix per step."""
    poses = drive(["w", "wd", "d", "wj", "w", "", "s"])
    session = run(bundle, poses)
    model, window = bundle.transformer, session.settings.window
    c2w, intr = session.trajectory
    cond = CameraConditioner(c2w, intr, bundle.frame_size, bundle.latent_grid).conditioning()
    cams, plucker = cond.camera_conditions[None].float(), cond.chunk_plucker[None].float()
    total = 1 + 3 * len(poses)
    starts = sampler_chunk_starts(total)
    w, h = bundle.latent_grid
    clean = session.history[0].latents[:, :, :1]  # the image latent
    for k, record in enumerate(session.history):
        a, b = record.latent_range
        assert (a, b) == (starts[k], starts[k + 1] if k + 1 < len(starts) else total)
        noise = frame_noise(session.settings.seed, a, b, (8, h, w), dtype=torch.float32)
        if k == 0:
            noise[:, :, :1] = clean

        def velocity(x, t, a=a, b=b, k=k, prefix=clean):
            with torch.no_grad():
                out = model(torch.cat([prefix[:, :, :a], x], 2), torch.cat([torch.zeros(1, a), t], 1),
                            camera_conditions=cams[:, :b], chunk_plucker=plucker[:, :, :b],
                            mixing=ChunkCausalMixer(starts[: k + 1], b, window))  # fmt: skip
            return out[:, :, a:]

        expected = sample_chunk(velocity, noise, num_condition_frames=1 if k == 0 else 0)
        assert (expected - record.latents).abs().max() < 1e-4, f"chunk {k}"
        clean = expected if k == 0 else torch.cat([clean, expected], 2)
    assert len(session.history) == 7


def test_records_cover_the_stream_without_gaps(bundle):
    session = run(bundle, drive(["w", "a", "w"]))
    ranges = [r.pixel_range for r in session.history]
    assert ranges == [(0, 25), (25, 49), (49, 73)]
    for r in session.history:
        n = r.pixel_range[1] - r.pixel_range[0]
        assert r.frames.shape == (n, FRAME[1], FRAME[0], 3) and r.frames.dtype == np.uint8
        assert r.c2w.shape == (n, 4, 4) and r.intrinsics.shape == (n, 4)
        assert set(r.timings) == {"reanchor", "sample", "cache", "decode", "world", "total"}
    assert np.allclose(session.history[0].c2w[0], np.eye(4))
    assert session.trajectory[0].shape == (73, 4, 4)


def test_restoring_a_snapshot_reproduces_later_chunks_exactly_and_branches_leave_the_past(bundle):
    poses = drive(["w", "w", "wd", "d", "w"])
    session = run(bundle, poses)
    original = [(r.latents.clone(), r.frames.copy()) for r in session.history]
    session.rewind(2)
    assert session.chunks_done == 3 and len(session.history) == 3
    for p in poses[3:]:
        session.step(p)
    for (lat, frames), r in zip(original, session.history):
        assert torch.equal(lat, r.latents) and np.array_equal(frames, r.frames)
    # a branch with other poses from chunk 2
    session.rewind(2)
    for p in drive(["w", "w", "wd", "a", "a"])[3:]:
        session.step(p)
    for k in range(3):
        assert torch.equal(original[k][0], session.history[k].latents)
    assert (original[3][0] - session.history[3].latents).abs().max() > 1e-3


def test_restore_with_an_explicit_snapshot_and_rewind_to_the_start(bundle):
    poses = drive(["w", "d", "w"])
    session = run(bundle, poses[:1])
    snap = session.snapshot()
    first = session.step(poses[1]).latents
    session.restore(snap)
    assert torch.equal(session.step(poses[1]).latents, first)
    session.rewind(-1)
    assert session.chunks_done == 0 and session.history == [] and session.trajectory[0].shape == (1, 4, 4)
    again = session.step(poses[0])
    assert again.index == 0


def test_changing_the_poses_of_chunk_k_changes_chunk_k_and_later_never_earlier(bundle):
    base = drive(["w", "w", "w", "w", "w"])
    other = base[:2] + drive(["w", "w", "d", "d", "d"])[2:]
    other[3], other[4] = base[3], base[4]  # same poses after chunk 2: only chunk 2 differs in the input
    a, b = run(bundle, base), run(bundle, other)
    for k in range(2):
        assert torch.equal(a.history[k].latents, b.history[k].latents)
        assert np.array_equal(a.history[k].frames, b.history[k].frames)
    for k in range(2, 5):
        assert (a.history[k].latents - b.history[k].latents).abs().max() > 1e-4, k


def test_committed_latents_replace_the_context_of_later_chunks_but_not_the_chunk_itself(bundle):
    poses = drive(["w", "w", "d"])
    plain = run(bundle, poses)
    session = WorldSession(bundle)
    session.start(start_image())
    own = session.step(poses[0], commit_latents=plain.history[0].latents)  # its own latents: nothing changes
    assert torch.equal(own.latents, plain.history[0].latents)
    other = torch.zeros_like(plain.history[1].latents)
    forced = session.step(poses[1], commit_latents=other)
    assert torch.equal(forced.latents, plain.history[1].latents)  # the record holds the sampled chunk
    assert (session.step(poses[2]).latents - plain.history[2].latents).abs().max() > 1e-3  # later context changed
    with pytest.raises(SanaWMInputError, match=r"commit_latents: expected shape \(1, 8, 3, 2, 4\)"):
        session.step(poses[2], commit_latents=torch.zeros(1, 8, 4, 2, 4))


def test_memory_stays_flat_over_a_long_rollout(bundle):
    session = WorldSession(bundle, keep_history=False, keep_snapshots=False)
    session.start(start_image())
    integ = MotionIntegrator(get_mapping("v2"))
    cache_bytes, rss = {}, {}
    for k in range(61):
        session.step(np.stack([integ.step({"w", "l"} if k % 4 else {"w"}) for _ in range(24)]))
        if k in (10, 60):
            gc.collect()
            cache_bytes[k] = session.snapshot().cache.nbytes()
            rss[k] = current_rss_bytes()  # after returning freed pages: what is held, not allocator slack
    assert cache_bytes[60] == cache_bytes[10]
    assert rss[60] < 1.02 * rss[10], (rss[10], rss[60])
    assert session.history == []


def test_cancel_raises_and_leaves_the_session_unchanged(bundle):
    poses = drive(["w", "d"])
    session = run(bundle, poses[:1])
    expected = WorldSession(bundle)
    expected.start(start_image())
    expected.step(poses[0])
    reference = expected.step(poses[1]).latents

    def cancel_midway(stage, done, total):
        if stage == "sample" and done == 2:
            threading.Thread(target=session.cancel).start()
            threading.Event().wait(0.05)

    with pytest.raises(Cancelled):
        session.step(poses[1], progress=cancel_midway)
    assert session.chunks_done == 1 and len(session.history) == 1
    assert torch.equal(session.step(poses[1]).latents, reference)


def test_windows_and_steps_are_settings(bundle):
    poses = drive(["w"] * 4)
    official = run(bundle, poses)
    full = run(bundle, poses, settings=StreamSettings(window=AttentionWindow.full()))
    fewer = run(bundle, poses, settings=StreamSettings(timesteps=(1000.0, 500.0)))
    assert torch.equal(official.history[2].latents, full.history[2].latents)  # both windows see everything so far
    assert (official.history[3].latents - full.history[3].latents).abs().max() > 1e-4
    assert (official.history[0].latents - fewer.history[0].latents).abs().max() > 1e-4


def test_same_seed_same_world_other_seed_other_world(bundle):
    poses = drive(["w", "w"])
    a, b = run(bundle, poses), run(bundle, poses)
    c = WorldSession(bundle)
    c.start(start_image(), seed=7)
    for p in poses:
        c.step(p)
    assert torch.equal(a.history[1].latents, b.history[1].latents)
    assert (a.history[1].latents - c.history[1].latents).abs().max() > 1e-3


def test_noise_drawn_up_front_is_sliced_per_chunk_like_the_official_sampler(bundle):
    w, h = bundle.latent_grid
    noise = torch.randn(1, 8, 7, h, w, generator=torch.Generator().manual_seed(0))
    poses = drive(["w", "w", "w"])
    a = WorldSession(bundle)
    a.start(start_image(), noise=noise)
    b = WorldSession(bundle)
    b.start(start_image(), noise=torch.cat([noise[:, :, :4], torch.randn(1, 8, 3, h, w)], 2))
    assert torch.equal(a.step(poses[0]).latents, b.step(poses[0]).latents)  # chunk 0 reads frames [0, 4) only
    assert not torch.equal(a.step(poses[1]).latents, b.step(poses[1]).latents)
    with pytest.raises(SessionStateError, match="covers 7 latent frames"):
        a.step(poses[2])
    with pytest.raises(SanaWMInputError, match="noise: expected shape"):
        WorldSession(bundle).start(start_image(), noise=torch.zeros(1, 8, 7, h + 1, w))


def test_start_from_a_latent_and_intrinsics_follow_the_crop(bundle):
    session = WorldSession(bundle)
    image = start_image()  # 80 x 40 -> resized to cover 64 x 32 (no crop needed: same aspect)
    session.start(image, intrinsics=[80.0, 80.0, 40.0, 20.0])
    assert np.allclose(session.trajectory[1][0], [64.0, 64.0, 32.0, 16.0])
    latent = bundle.codec.encode(session.start_frame[None])
    other = WorldSession(bundle)
    other.start(first_latent=latent, intrinsics=[64.0, 64.0, 32.0, 16.0])
    pose = drive(["w"])[0]
    assert torch.equal(session.step(pose).latents, other.step(pose).latents)


def test_the_stream_stops_at_the_rope_table_length():
    small = ModelBundle.random("sana-wm-tiny-test", frame_size=FRAME, spatial_factor=16, rope_max_seq_len=8)
    session = WorldSession(small)
    session.start(start_image())
    poses = drive(["w", "w", "w"])
    session.step(poses[0])  # frames [0, 4)
    session.step(poses[1])  # [4, 7)
    with pytest.raises(SessionStateError, match="maximum length \\(8 latent frames, 2 chunks\\)"):
        session.step(poses[2])
    assert session.chunks_done == 2


@pytest.mark.parametrize(
    "call, error, message",
    [
        (lambda s: s.step(np.tile(np.eye(4), (24, 1, 1))), SessionStateError, "start"),
        (lambda s: s.start(), SanaWMInputError, "exactly one"),
        (lambda s: (s.start(start_image()), s.step(np.tile(np.eye(4), (5, 1, 1)))), SanaWMInputError, "24 poses"),
        (lambda s: (s.start(start_image()), s.step(np.zeros((24, 4, 4)))), SanaWMInputError, "poses"),
        (lambda s: s.start(first_latent=torch.zeros(1, 8, 1, 3, 3)), SanaWMInputError, "first_latent"),
        (lambda s: (s.start(start_image()), s.rewind(3)), SessionStateError, "no snapshot"),
    ],
)
def test_bad_calls_name_the_problem(bundle, call, error, message):
    with pytest.raises(error, match=message):
        call(WorldSession(bundle))


# ----- re-anchoring (models that declare a trained context) ----------------------------------------------------------
def with_context(bundle: ModelBundle, frames: int | None) -> ModelBundle:
    return replace(bundle, context_frames=frames)


def rebased(c2w: np.ndarray, origin: np.ndarray) -> np.ndarray:
    return np.linalg.inv(origin) @ c2w


def test_reanchoring_equals_a_fresh_stream_started_from_the_last_four_latents(bundle):
    """Context 10: chunk 3 ([10, 13)) would end past 10 frames, so its context restarts at latent frame 6 with
    frames 6..9 as chunk 0. A new session given those frames as its chunk 0 (teacher-forced commit) and the same
    per-frame noise must produce the same chunk, bit for bit up to float rounding."""
    poses = drive(["w", "wd", "d", "wj"])
    session = run(with_context(bundle, 10), poses[:3])
    assert session.snapshot().anchor == 0
    recent = session.snapshot().recent_latents
    assert torch.equal(recent, torch.cat([r.latents for r in session.history], 2)[:, :, 6:10])
    chunk3 = session.step(poses[3])
    assert session.snapshot().anchor == 6 and chunk3.latent_range == (10, 13) and chunk3.timings["reanchor"] > 0

    c2w, intr = session.trajectory  # pixel frame 8 * 6 = 48 is the new context's frame 0
    fresh = WorldSession(bundle)
    w, h = bundle.latent_grid
    noise = torch.zeros(1, bundle.config.in_channels, 7, h, w)
    noise[:, :, 4:] = frame_noise(session.settings.seed, 10, 13, (bundle.config.in_channels, h, w), dtype=torch.float32)
    fresh.start(first_latent=recent[:, :, :1], intrinsics=intr[48], noise=noise)
    fresh.step(rebased(c2w[49:73], c2w[48]), commit_latents=recent)
    again = fresh.step(rebased(c2w[73:97], c2w[48]))
    assert (again.latents - chunk3.latents).abs().max() < 1e-4


def test_a_start_image_sink_equals_a_fresh_stream_of_the_start_image_and_the_last_three_latents(bundle):
    """reanchor_sink="start": chunk 3's context restarts with the start image's latent and latent frames 7..9 as
    chunk 0, on the trajectory of pixel frame 0 followed by the frames after latent frame 6 (pixel 48), poses in the
    start frame's world. A new session given exactly that must produce the same chunk."""
    poses = drive(["w", "wd", "d", "wj"])
    settings = StreamSettings(reanchor_sink="start")
    session = run(with_context(bundle, 10), poses, settings=settings)
    start_latent = session.snapshot().first_latent
    chunk3 = session.history[3]
    assert chunk3.snapshot.anchor == 6
    recent = torch.cat([r.latents for r in session.history[:3]], 2)[:, :, 7:10]

    c2w, intr = session.trajectory
    fresh = WorldSession(bundle)
    w, h = bundle.latent_grid
    noise = torch.zeros(1, bundle.config.in_channels, 7, h, w)
    noise[:, :, 4:] = frame_noise(settings.seed, 10, 13, (bundle.config.in_channels, h, w), dtype=torch.float32)
    fresh.start(first_latent=start_latent, intrinsics=intr[0], noise=noise)
    fresh.step(c2w[49:73], commit_latents=torch.cat([start_latent, recent], 2))
    again = fresh.step(c2w[73:97])
    assert (again.latents - chunk3.latents).abs().max() < 1e-4
    recent_sink = run(with_context(bundle, 10), poses)
    assert (recent_sink.history[3].latents - chunk3.latents).abs().max() > 1e-3


def test_an_unknown_reanchor_sink_is_refused():
    with pytest.raises(SanaWMInputError, match="reanchor_sink: expected one of recent, start, found 'first'"):
        StreamSettings(reanchor_sink="first")


def test_reanchoring_changes_only_chunks_past_the_context_and_rewinds_reproduce_it(bundle):
    poses = drive(["w", "w", "wd", "d", "w", "a"])
    plain = run(bundle, poses)
    anchored = run(with_context(bundle, 10), poses)
    for k in range(3):
        assert torch.equal(plain.history[k].latents, anchored.history[k].latents)
    assert (plain.history[3].latents - anchored.history[3].latents).abs().max() > 1e-3
    assert [r.snapshot.anchor for r in anchored.history] == [0, 0, 0, 6, 6, 12]
    original = [r.latents.clone() for r in anchored.history]
    anchored.rewind(2)
    for p in poses[3:]:
        anchored.step(p)
    assert all(torch.equal(a, r.latents) for a, r in zip(original, anchored.history, strict=True))


def test_without_a_context_or_with_reanchor_off_the_stream_never_reanchors(bundle):
    poses = drive(["w", "w", "d", "d"])
    plain = run(bundle, poses)
    off = run(with_context(bundle, 7), poses, settings=StreamSettings(reanchor=False))
    assert off.context_limit is None and plain.context_limit is None
    for a, b in zip(plain.history, off.history, strict=True):
        assert torch.equal(a.latents, b.latents)
        assert b.snapshot.anchor == 0 and b.snapshot.recent_latents is None


def test_reanchoring_lets_the_stream_pass_the_rope_table_length():
    small = ModelBundle.random("sana-wm-tiny-test", frame_size=FRAME, spatial_factor=16, rope_max_seq_len=8)
    session = WorldSession(with_context(small, 7))
    session.start(start_image())
    for p in drive(["w"] * 5):
        session.step(p)
    assert session.chunks_done == 5 and session.history[-1].latent_range == (13, 16)


def test_a_state_without_recent_latents_cannot_be_reanchored(bundle):
    session = run(with_context(bundle, 7), drive(["w", "w"]), settings=StreamSettings(reanchor=False))
    session.settings = replace(session.settings, reanchor=True)
    with pytest.raises(SessionStateError, match="needs the last 4 latent frames"):
        session.step(drive(["w"])[0])
    assert session.chunks_done == 2


def test_a_context_too_short_for_one_chunk_after_reanchoring_is_refused(bundle):
    with pytest.raises(SanaWMInputError, match="context_frames: expected at least 7 latent frames .* found 6"):
        WorldSession(with_context(bundle, 6))
