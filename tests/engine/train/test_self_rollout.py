"""Self-rollout context: the generated context is exactly what a streaming session generates, and the objective
trains the next chunk on it."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from engine.bundles import ModelBundle
from engine.camera.poses import relative_to_first
from engine.components.patch_codec import PatchDCTCodec
from engine.generation.session import StreamSettings, WorldSession
from engine.model import SanaWMTransformer
from engine.errors import ConfigError
from engine.train.config import TrainConfig
from engine.train.data import TrainingData
from engine.model.chunks import teacher_chunk_starts
from engine.model.time_mixing import ChunkCausalMixer
from engine.train.objective import ObjectiveConfig, flow_matching_loss, reanchored_batch, sample_schedule
from engine.train.self_rollout import reanchor_start, rollout_context

SIZE = (48, 32)
WINDOW = 10  # chunks [0, 4) [4, 7) [7, 10): two context chunks, one target chunk


@pytest.fixture(scope="module")
def setup(clip_factory):
    bundle = ModelBundle.random("sana-wm-tiny-test", frame_size=SIZE, spatial_factor=16, seed=3)
    clips = [clip_factory(i, num_frames=97) for i in range(2)]
    data = TrainingData(clips, bundle.codec, SIZE, WINDOW, seed=0)
    return bundle, clips, data


def test_the_rollout_is_the_streaming_sessions_rollout_and_keeps_the_image_and_the_target(setup):
    bundle, clips, data = setup
    sample = data.sample(0)
    batch = data.batch(0, 1)
    model = bundle.transformer
    out = rollout_context(model, batch.latents, batch.camera_conditions, batch.chunk_plucker,
                          StreamSettings().window, torch.Generator().manual_seed(7))  # fmt: skip
    assert torch.equal(out[:, :, 0], batch.latents[:, :, 0])  # the image latent
    assert torch.equal(out[:, :, 7:], batch.latents[:, :, 7:])  # the target chunk stays ground truth
    assert (out[:, :, 1:7] - batch.latents[:, :, 1:7]).abs().mean() > 0.1  # the context is generated

    # The same noise through WorldSession along the window's poses gives the same two chunks.
    noise = torch.randn(batch.latents.shape, generator=torch.Generator().manual_seed(7))
    clip = clips[sample.clip]
    first = 8 * sample.start
    c2w = relative_to_first(clip.c2w[first : first + 8 * (WINDOW - 1) + 1])
    intrinsics = clip.intrinsics[first : first + 8 * (WINDOW - 1) + 1]
    session = WorldSession(bundle, keep_snapshots=False)
    session.start(first_latent=batch.latents[:, :, :1], intrinsics=intrinsics[0], noise=noise)
    latents = [session.step(c2w[1 + 24 * k : 25 + 24 * k], intrinsics[1 + 24 * k : 25 + 24 * k]).latents for k in range(2)]
    streamed = torch.cat(latents, dim=2)
    assert torch.allclose(out[:, :, :7], streamed, atol=1e-5), float((out[:, :, :7] - streamed).abs().max())


def test_a_one_chunk_window_has_no_context_to_generate(setup):
    bundle, _, _ = setup
    latents = torch.randn(1, 8, 4, 2, 3)
    out = rollout_context(bundle.transformer, latents, torch.zeros(1, 4, 20), torch.zeros(1, 48, 4, 2, 3),
                          StreamSettings().window, torch.Generator().manual_seed(0))  # fmt: skip
    assert torch.equal(out, latents)


def test_self_rollout_samples_are_clean_context_samples_trained_on_generated_context(setup):
    bundle, _, data = setup
    batch = data.batch(0, 4)
    config = ObjectiveConfig(clean_context_prob=0.0, self_rollout_prob=0.5)
    model = bundle.transformer
    seen = []
    hook = model.register_forward_pre_hook(lambda _m, args, kwargs: seen.append(args[0].detach().clone()), with_kwargs=True)
    try:
        out = flow_matching_loss(model, batch, config, torch.Generator().manual_seed(2))
    finally:
        hook.remove()
    replay = torch.Generator().manual_seed(2)  # documented order: rollout coins, schedule, noise, rollout noise
    rolled = torch.rand(4, generator=replay) < 0.5
    assert 0 < int(rolled.sum()) < 4, "seed must give a mix of samples"
    sched = sample_schedule(4, WINDOW, config, replay, force_clean=rolled)
    assert torch.equal(out.schedule.clean_context, rolled)  # clean_context_prob 0: only the rollout samples
    assert out.stats["self_rollout"] == pytest.approx(float(rolled.float().mean()))
    assert torch.equal(out.schedule.timesteps, sched.timesteps)
    training_input = seen[-1]  # the last forward is the training call; the ones before it are the rollout
    noise = torch.randn(batch.latents.shape, generator=replay)
    sigma = sched.sigmas[:, None, :, None, None]
    teacher = (1 - sigma) * batch.latents + sigma * noise
    for i in range(4):
        context_equal = torch.allclose(training_input[i, :, :7], teacher[i, :, :7], atol=1e-6)
        assert context_equal != bool(rolled[i])  # rollout samples see generated context, others ground truth
        assert torch.allclose(training_input[i, :, 7:], teacher[i, :, 7:], atol=1e-6)  # the target: ground truth
    out.loss.backward()


def test_without_self_rollout_the_random_draws_are_unchanged(setup):
    _, _, data = setup
    batch = data.batch(0, 2)
    config = ObjectiveConfig()
    gen_a, gen_b = torch.Generator().manual_seed(4), torch.Generator().manual_seed(4)
    sched = sample_schedule(2, WINDOW, config, gen_b)
    out = flow_matching_loss(lambda x, *a, **k: torch.zeros_like(x), batch, config, gen_a)
    assert torch.equal(out.schedule.sigmas, sched.sigmas) and out.stats["self_rollout"] == 0.0
    np.testing.assert_array_equal(out.schedule.timesteps.numpy(), sched.timesteps.numpy())


def test_the_context_as_shown_takes_the_cache_latent_where_the_cache_covers_entirely(setup):
    bundle, _, data = setup
    batch = data.batch(0, 1)
    c = batch.latents.shape[1]
    cache = torch.zeros(1, c + 1, *batch.latents.shape[2:])
    cache[:, :c] = torch.randn(1, c, *batch.latents.shape[2:], generator=torch.Generator().manual_seed(1))
    cache[:, c, :, 0, 0] = 1.0  # one cell covered entirely in every frame
    cache[:, c, :, 1, 1] = 0.5  # one covered in part: keeps the generated latent
    args = (batch.latents, batch.camera_conditions, batch.chunk_plucker, StreamSettings().window)
    torch.manual_seed(0)
    model = SanaWMTransformer(bundle.transformer.config.replace(cache_channels=c + 1)).eval()
    plain = rollout_context(model, *args, torch.Generator().manual_seed(7), cache_input=cache)
    shown = rollout_context(model, *args, torch.Generator().manual_seed(7), cache_input=cache, show_cache=True)
    assert torch.equal(shown[:, :, 1:7, 0, 0], cache[:, :c, 1:7, 0, 0])  # generated frames: the cache's latent
    assert torch.equal(shown[:, :, 0], batch.latents[:, :, 0]) and torch.equal(shown[:, :, 7:], batch.latents[:, :, 7:])
    # The first chunk is sampled before anything is shown: it differs from the plain rollout only in the cell.
    others = torch.ones(shown.shape[-2:], dtype=torch.bool)
    others[0, 0] = False
    assert torch.equal(shown[:, :, 1:4][..., others], plain[:, :, 1:4][..., others])
    # The second chunk was sampled after the first, as shown, was committed: it is not the plain rollout's.
    assert not torch.allclose(shown[:, :, 4:7][..., others], plain[:, :, 4:7][..., others])


def test_the_context_as_shown_needs_a_cache_input(setup):
    bundle, _, data = setup
    batch = data.batch(0, 1)
    with pytest.raises(ValueError, match="show_cache needs the window's cache_input"):
        rollout_context(bundle.transformer, batch.latents, batch.camera_conditions, batch.chunk_plucker,
                        StreamSettings().window, torch.Generator().manual_seed(7), show_cache=True)  # fmt: skip


def test_a_run_showing_the_cache_needs_a_model_with_a_cache_input():
    shows = ObjectiveConfig(self_rollout_prob=0.5, rollout_shows_cache=True)
    with pytest.raises(ConfigError, match="rollout_shows_cache needs a model with a world-cache input"):
        TrainConfig(preset="sana-wm-tiny", objective=shows)
    TrainConfig(preset="sana-wm-tiny", objective=shows, model_overrides={"cache_channels": 33})


def test_reanchor_start_keeps_chunk_zeros_length_before_the_last_chunk():
    assert reanchor_start(13) == 6  # chunks [0, 4) [4, 7) [7, 10) [10, 13): frames 6..9 kept, 10..12 the target
    assert reanchor_start(10) == 3
    with pytest.raises(ValueError, match="at least 3 chunks"):
        reanchor_start(7)


def test_a_reanchored_window_is_what_a_session_holds_after_it_reanchors(setup):
    """The training forward over the re-anchored window gives the target chunk the velocity that a session which
    re-anchored before that chunk computes for the same noisy input: same kept latents, same re-based cameras,
    same positions, same attention."""
    bundle, clips, _ = setup
    data = TrainingData(clips, bundle.codec, SIZE, WINDOW, seed=0, reanchored=True)
    sample = data.sample(0)
    batch = data.batch(0, 1)
    model = bundle.transformer
    config = ObjectiveConfig()
    cut = reanchored_batch(model, batch, config, torch.Generator().manual_seed(7))
    assert cut.latents.shape[2] == WINDOW - 3 and torch.equal(cut.latents[:, :, 4:], batch.latents[:, :, 7:])

    noise = torch.randn(batch.latents.shape, generator=torch.Generator().manual_seed(7))
    clip = clips[sample.clip]
    first = 8 * sample.start
    c2w = relative_to_first(clip.c2w[first : first + 8 * (WINDOW - 1) + 1])
    intrinsics = clip.intrinsics[first : first + 8 * (WINDOW - 1) + 1]
    session = WorldSession(dataclasses.replace(bundle, context_frames=7), keep_snapshots=False)  # re-anchors at chunk 2
    session.start(first_latent=batch.latents[:, :, :1], intrinsics=intrinsics[0], noise=noise)
    for k in range(2):
        session.step(c2w[1 + 24 * k : 25 + 24 * k], intrinsics[1 + 24 * k : 25 + 24 * k])
    calls = []
    hook = model.register_forward_hook(lambda _m, args, kwargs, out: calls.append((args, kwargs, out)), with_kwargs=True)
    try:
        session.step(c2w[49:73], intrinsics[49:73])
    finally:
        hook.remove()
    assert calls[0][1]["frame_offset"] == 0 and calls[0][0][0].shape[2] == 4  # the re-anchor pass over 4 kept frames
    assert torch.allclose(calls[0][0][0].float(), cut.latents[:, :, :4], atol=1e-5)
    (x, frame_t, *_), kwargs, velocity = calls[1]  # the chunk's first sampling call
    assert kwargs["frame_offset"] == 4
    window = torch.cat([cut.latents[:, :, :4], x.float()], dim=2)
    t = torch.cat([torch.zeros(1, 4), frame_t.float().cpu()], dim=1)
    mixer = ChunkCausalMixer(teacher_chunk_starts(7), 7, config.window)
    with torch.no_grad():
        trained = model(window, t, camera_conditions=cut.camera_conditions, chunk_plucker=cut.chunk_plucker,
                        mixing=mixer)  # fmt: skip
    assert torch.allclose(trained[:, :, 4:].float(), velocity.float(), atol=1e-4), \
        float((trained[:, :, 4:].float() - velocity.float()).abs().max())


def test_reanchored_batches_train_the_last_chunk_on_a_generated_sink_without_world_cache(setup):
    bundle, clips, _ = setup
    data = TrainingData(clips, bundle.codec, SIZE, WINDOW, seed=0, reanchored=True)
    batch = data.batch(0, 2)
    c = batch.latents.shape[1]
    batch.cache = torch.rand(2, c + 1, *batch.latents.shape[2:], generator=torch.Generator().manual_seed(1))
    torch.manual_seed(0)
    model = SanaWMTransformer(bundle.transformer.config.replace(cache_channels=c + 1)).eval()
    seen = []
    hook = model.register_forward_pre_hook(lambda _m, args, kwargs: seen.append((args[0], kwargs)), with_kwargs=True)
    try:
        out = flow_matching_loss(model, batch, ObjectiveConfig(reanchor_prob=1.0), torch.Generator().manual_seed(3))
    finally:
        hook.remove()
    x, kwargs = seen[-1]  # the training call
    assert x.shape[2] == 7 and out.stats["reanchored"] == 1.0 and out.stats["self_rollout"] == 1.0
    assert bool(out.schedule.clean_context.all()) and out.schedule.loss_mask[:, :4].sum() == 0  # the target only
    assert torch.equal(kwargs["cache"][:, :, :4], torch.zeros_like(kwargs["cache"][:, :, :4]))  # re-anchor pass: none
    assert torch.equal(kwargs["cache"][:, :, 4:], batch.cache[:, :, 7:])  # the target chunk: its own cache input
    assert torch.equal(kwargs["camera_conditions"], batch.reanchored.camera_conditions)
    out.loss.backward()


def test_reanchored_batches_need_the_re_anchored_cameras_and_three_chunks(setup):
    bundle, _, data = setup
    with pytest.raises(ConfigError, match="re-anchored camera tensors"):
        flow_matching_loss(bundle.transformer, data.batch(0, 1), ObjectiveConfig(reanchor_prob=1.0),
                           torch.Generator().manual_seed(0))  # fmt: skip
    with pytest.raises(ConfigError, match="reanchor_prob needs windows of at least 3 chunks"):
        TrainConfig(window_latent_frames=7, objective=ObjectiveConfig(reanchor_prob=0.5))
