"""The objective: per-chunk timestep layout, clean-context batches, context noise, shifted sampling, the loss."""

from __future__ import annotations

import pytest
import torch

from engine.errors import ConfigError
from engine.model.chunks import AttentionWindow
from engine.model.time_mixing import ChunkCausalMixer
from engine.generation.sampling import shift_sigma
from engine.train.data import TrainingBatch
from engine.train.objective import (
    ObjectiveConfig,
    flow_matching_loss,
    frame_stats_error,
    haze_context,
    sample_schedule,
    sample_sigmas,
)

CHUNKS = [(0, 4), (4, 7), (7, 10)]  # teacher chunks of a 10-frame window


def schedule(prob: float, noise: float = 0.0, batch: int = 64, seed: int = 0):
    config = ObjectiveConfig(clean_context_prob=prob, context_noise=noise)
    return sample_schedule(batch, 10, config, torch.Generator().manual_seed(seed))


def test_diffusion_forcing_gives_each_chunk_its_own_timestep_and_frame_0_stays_clean():
    s = schedule(prob=0.0)
    t = s.timesteps
    assert (t[:, 0] == 0).all() and not s.loss_mask[:, 0].any()  # the image latent: clean, not in the loss
    for a, b in CHUNKS:
        first = 1 if a == 0 else a
        assert (t[:, first:b] == t[:, first : first + 1]).all()  # a chunk shares one timestep
    assert (t[:, 1:] >= 1).all() and s.loss_mask[:, 1:].all()
    assert (t[:, 1] != t[:, 4]).float().mean() > 0.9 and (t[:, 4] != t[:, 7]).float().mean() > 0.9  # independent
    assert torch.equal(s.sigmas, t / 1000) and not s.clean_context.any()


def test_clean_context_puts_every_chunk_but_the_last_at_zero_and_trains_only_the_last():
    s = schedule(prob=1.0)
    assert s.clean_context.all()
    assert (s.timesteps[:, :7] == 0).all() and (s.sigmas[:, :7] == 0).all()
    assert (s.timesteps[:, 7:] >= 1).all() and (s.timesteps[:, 7:] == s.timesteps[:, 7:8]).all()
    assert not s.loss_mask[:, :7].any() and s.loss_mask[:, 7:].all()


def test_clean_context_probability_is_per_sample():
    s = schedule(prob=0.5, batch=400)
    assert 0.4 < s.clean_context.float().mean() < 0.6
    mixed = s.timesteps[~s.clean_context]
    assert (mixed[:, 1:] >= 1).all()  # the other samples are diffusion forcing


def test_context_noise_perturbs_clean_context_but_keeps_its_label_and_the_image_exact():
    s = schedule(prob=1.0, noise=0.1)
    assert (s.timesteps[:, :7] == 0).all()  # labelled clean, as the streaming cache pass is
    assert (s.sigmas[:, 0] == 0).all()  # the image latent is never perturbed
    assert (s.sigmas[:, 1:7] > 0).all() and (s.sigmas[:, 1:7] <= 0.1).all()
    assert torch.equal(s.sigmas[:, 7:], s.timesteps[:, 7:] / 1000)


@pytest.mark.parametrize("sampling", ["uniform", "logit-normal"])
@pytest.mark.parametrize("shift", [1.0, 3.0])
def test_sigmas_follow_the_shifted_density_on_the_integer_timestep_grid(sampling, shift):
    config = ObjectiveConfig(timestep_sampling=sampling, shift=shift)
    sigmas = sample_sigmas(20000, config, torch.Generator().manual_seed(1))
    steps = sigmas * 1000
    assert torch.allclose(steps, steps.round(), atol=1e-3) and steps.min() >= 1 and steps.max() <= 1000
    # both densities have median u = 1/2, so the median sigma is shift(1/2)
    assert float(sigmas.median()) == pytest.approx(shift_sigma(0.5, shift), abs=0.02)


def test_logit_normal_spends_fewer_samples_on_the_near_trivial_ends_than_uniform():
    def ends(sampling: str) -> float:
        config = ObjectiveConfig(timestep_sampling=sampling, shift=1.0)
        sigmas = sample_sigmas(20000, config, torch.Generator().manual_seed(2))
        return float(((sigmas < 0.1) | (sigmas > 0.9)).float().mean())

    assert ends("logit-normal") < 0.05 < 0.15 < ends("uniform")


class RecordingModel(torch.nn.Module):
    """Returns zeros and remembers what it was called with."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[dict] = []
        self.anchor = torch.nn.Parameter(torch.zeros(()))

    def forward(self, latents, timesteps, caption=None, caption_mask=None, camera_conditions=None, chunk_plucker=None,
                *, frame_offset=0, mixing=None):  # fmt: skip
        self.calls.append(dict(latents=latents, timesteps=timesteps, mixing=mixing, cams=camera_conditions))
        return torch.zeros_like(latents) + self.anchor


def test_the_loss_is_the_velocity_error_on_the_frames_in_the_loss_with_the_streaming_window():
    gen = torch.Generator().manual_seed(3)
    x0 = torch.randn(3, 4, 10, 2, 3, generator=gen)
    batch = TrainingBatch(x0, torch.zeros(3, 10, 20), torch.zeros(3, 48, 10, 2, 3), [(0, 0)] * 3)
    config = ObjectiveConfig(clean_context_prob=0.5)
    model = RecordingModel()
    out = flow_matching_loss(model, batch, config, torch.Generator().manual_seed(11))

    replay = torch.Generator().manual_seed(11)  # the same draws, in the documented order
    sched = sample_schedule(3, 10, config, replay)
    noise = torch.randn(x0.shape, generator=replay)
    assert torch.equal(out.schedule.timesteps, sched.timesteps)
    call = model.calls[0]
    sigma = sched.sigmas[:, None, :, None, None]
    assert torch.allclose(call["latents"], (1 - sigma) * x0 + sigma * noise)
    assert torch.equal(call["latents"][:, :, 0], x0[:, :, 0])  # the image latent goes in clean
    assert torch.equal(call["timesteps"], sched.timesteps)
    per_frame = (noise - x0).pow(2).mean(dim=(1, 3, 4))  # zero prediction: error = |eps - x0|^2
    expected = per_frame[sched.loss_mask].mean()
    assert float(out.loss.detach()) == pytest.approx(float(expected), rel=1e-6)
    assert out.stats["loss"] == pytest.approx(float(expected), rel=1e-6)

    mixer = call["mixing"]
    assert isinstance(mixer, ChunkCausalMixer)
    assert mixer.bounds == CHUNKS and mixer.window == AttentionWindow(2, sink=True)
    out.loss.backward()
    assert model.anchor.grad is not None


def test_frame_stats_error_sees_a_washed_out_frame_that_has_the_right_mean():
    truth = torch.randn(1, 2, 3, 4, 5, generator=torch.Generator().manual_seed(0))
    mean = truth.mean(dim=(3, 4), keepdim=True)
    washed = mean + 0.25 * (truth - mean)  # the same mean, a quarter of the contrast
    error = frame_stats_error(washed, truth)
    expected = ((0.75 * truth.std(dim=(3, 4), correction=0)) ** 2).mean(dim=1)
    assert error.shape == (1, 3)
    assert torch.allclose(error, expected)
    shifted = truth + torch.tensor([1.0, -2.0])[None, :, None, None, None]  # the palette moved, contrast kept
    assert torch.allclose(frame_stats_error(shifted, truth), torch.full((1, 3), 2.5))
    assert torch.equal(frame_stats_error(truth, truth), torch.zeros(1, 3))


def test_the_frame_stats_term_adds_the_weighted_error_of_the_predicted_clean_frames_and_off_changes_nothing():
    x0 = torch.randn(3, 4, 10, 2, 3, generator=torch.Generator().manual_seed(3))
    batch = TrainingBatch(x0, torch.zeros(3, 10, 20), torch.zeros(3, 48, 10, 2, 3), [(0, 0)] * 3)
    plain = flow_matching_loss(RecordingModel(), batch, ObjectiveConfig(), torch.Generator().manual_seed(11))
    off = flow_matching_loss(RecordingModel(), batch, ObjectiveConfig(frame_stats_weight=0.0),
                             torch.Generator().manual_seed(11))  # fmt: skip
    assert float(off.loss) == float(plain.loss) and "frame_stats" not in off.stats

    model = RecordingModel()
    weighted = flow_matching_loss(model, batch, ObjectiveConfig(frame_stats_weight=0.5), torch.Generator().manual_seed(11))
    assert torch.equal(weighted.schedule.timesteps, plain.schedule.timesteps)  # the same draws
    noisy = model.calls[0]["latents"]  # a zero velocity predicts x0 = x_t
    mask = plain.schedule.loss_mask
    term = frame_stats_error(noisy, x0)[mask].mean()
    assert weighted.stats["frame_stats"] == pytest.approx(float(term), rel=1e-6)
    assert float(weighted.loss) == pytest.approx(float(plain.loss) + 0.5 * float(term), rel=1e-6)
    weighted.loss.backward()
    assert model.anchor.grad is not None


def test_haze_context_washes_out_the_context_frames_only():
    x = torch.randn(2, 5, 6, 2, 3, generator=torch.Generator().manual_seed(1))
    out = haze_context(x, 4, torch.tensor([0.5, 1.0]), torch.tensor([0.2, 0.0]))
    assert torch.equal(out[:, :, 4:], x[:, :, 4:]) and torch.allclose(out[1], x[1])  # target frames; c = 1, b = 0
    mean = x[0, :, :4].mean(dim=(2, 3), keepdim=True)
    expected = mean + 0.5 * (x[0, :, :4] - mean)
    expected[:3] += 0.2  # the DC colour channels
    assert torch.allclose(out[0, :, :4], expected)
    assert torch.allclose(out[0, 3:, :4].std(dim=(2, 3)), 0.5 * x[0, 3:, :4].std(dim=(2, 3)))


def test_hazy_context_touches_only_clean_context_samples_and_off_makes_no_draw():
    x0 = torch.randn(8, 4, 10, 2, 3, generator=torch.Generator().manual_seed(3))
    batch = TrainingBatch(x0, torch.zeros(8, 10, 20), torch.zeros(8, 48, 10, 2, 3), [(0, 0)] * 8)
    plain_model, hazy_model = RecordingModel(), RecordingModel()
    plain = flow_matching_loss(plain_model, batch, ObjectiveConfig(), torch.Generator().manual_seed(5))
    off = flow_matching_loss(RecordingModel(), batch, ObjectiveConfig(context_haze_prob=0.0), torch.Generator().manual_seed(5))
    assert float(off.loss) == float(plain.loss) and "hazy_context" not in off.stats
    config = ObjectiveConfig(context_haze_prob=1.0, context_haze_contrast=0.5, context_haze_shift=0.0)
    hazy = flow_matching_loss(hazy_model, batch, config, torch.Generator().manual_seed(5))
    clean = plain.schedule.clean_context
    assert torch.equal(hazy.schedule.timesteps, plain.schedule.timesteps) and bool(clean.any()) and not bool(clean.all())
    assert hazy.stats["hazy_context"] == pytest.approx(float(clean.float().mean()))
    a, b = plain_model.calls[0]["latents"], hazy_model.calls[0]["latents"]
    assert torch.equal(a[~clean], b[~clean])  # diffusion-forcing samples are untouched
    assert torch.equal(a[clean][:, :, 7:], b[clean][:, :, 7:])  # the target chunk stays true
    assert not torch.equal(a[clean][:, :, :7], b[clean][:, :, :7])  # the context is washed out


def test_invalid_objective_settings_are_named():
    with pytest.raises(ConfigError, match="clean_context_prob"):
        ObjectiveConfig(clean_context_prob=1.5)
    with pytest.raises(ConfigError, match="timestep_sampling"):
        ObjectiveConfig(timestep_sampling="cosine")
    with pytest.raises(ConfigError, match="frame_stats_weight"):
        ObjectiveConfig(frame_stats_weight=-1.0)
    with pytest.raises(ConfigError, match="context_haze_prob"):
        ObjectiveConfig(context_haze_prob=2.0)
    with pytest.raises(ConfigError, match="context_haze_contrast"):
        ObjectiveConfig(context_haze_contrast=-0.1)
