"""The bidirectional flow-Euler sampler: schedule and step against diffusers, exactness, CFG, pinning, seeds."""

from __future__ import annotations

import pytest
import torch

from engine import sampling as S
from engine.errors import ConfigError

import diffusers.schedulers.scheduling_flow_match_euler_discrete as sched_mod  # noqa: E402


@pytest.mark.parametrize("steps, shift", [(60, 9.8), (60, 8.0), (10, 3.0), (1, 9.8)])
def test_schedule_matches_diffusers(steps, shift):
    ref = sched_mod.FlowMatchEulerDiscreteScheduler(shift=shift)
    ref.set_timesteps(steps)
    ours = S.flow_sigmas(steps, shift)
    assert ours.shape == ref.sigmas.shape
    assert (ours - ref.sigmas.double()).abs().max() < 1e-6
    assert ours[0] == 1.0 and ours[-1] == 0.0


def test_schedule_hand_values_for_the_config_shift():
    sig = S.flow_sigmas(60, 9.8)
    assert float(sig[59]) == pytest.approx(0.0877, abs=1e-4)  # spec: sigma_59 ~ 0.0877


def test_per_token_step_matches_diffusers_scheduler_step():
    torch.manual_seed(0)
    ref = sched_mod.FlowMatchEulerDiscreteScheduler(shift=9.8)
    ref.set_timesteps(20)
    t = ref.timesteps[3]
    x = torch.randn(2, 4, 5, 3, 3)
    v = torch.randn_like(x)
    frame_t = torch.tensor([[0.0, t, t, t, t], [0.0, t, t, 500.0, t]])
    ours = S.per_token_euler_step(x, v, frame_t, S.flow_sigmas(20, 9.8))
    tokens_t = frame_t[:, :, None, None].expand(2, 5, 3, 3).reshape(2, -1)
    expected = ref.step(-v.reshape(2, 4, -1).transpose(1, 2), t, x.reshape(2, 4, -1).transpose(1, 2),
                        per_token_timesteps=tokens_t, return_dict=False)[0]
    assert (ours - expected.transpose(1, 2).reshape_as(x)).abs().max() < 1e-6
    assert torch.equal(ours[:, :, 0], x[:, :, 0])  # t = 0 frames do not move


class PerfectVelocity(torch.nn.Module):
    """Returns the exact flow velocity (x_t - x0) / sigma toward a known clean target."""

    def __init__(self, target):
        super().__init__()
        self.target = target
        self.calls = []

    def forward(self, latents, timesteps, caption=None, caption_mask=None, camera_conditions=None, chunk_plucker=None):
        self.calls.append(timesteps.clone())
        sigma = (timesteps / 1000.0)[:, None, :, None, None]
        v = (latents.float() - self.target) / sigma.clamp_min(1e-12)
        return torch.where(sigma > 0, v, torch.zeros_like(v))


def test_a_perfect_velocity_lands_on_the_target_and_frame_zero_is_pinned():
    torch.manual_seed(0)
    target = torch.randn(1, 4, 6, 3, 5, dtype=torch.float64)
    first = torch.randn(1, 4, 1, 3, 5, dtype=torch.float64)
    model = PerfectVelocity(target)
    out = S.sample_bidirectional(model, first, 6, camera_conditions=None, chunk_plucker=None, steps=12, cfg_scale=1.0)
    assert torch.equal(out[:, :, :1], first)
    assert (out[:, :, 1:] - target[:, :, 1:]).abs().max() < 1e-5
    assert len(model.calls) == 12
    assert all(float(c[0, 0]) == 0.0 for c in model.calls)
    assert float(model.calls[0][0, 1]) == 1000.0


def test_cfg_combines_uncond_then_cond_and_duplicates_camera():
    seen = {}

    def model(latents, timesteps, caption, caption_mask, camera_conditions, chunk_plucker):
        seen.update(batch=latents.shape[0], caption=caption.clone(), cam=camera_conditions.clone(), mask=caption_mask)
        v = torch.zeros_like(latents, dtype=torch.float32)
        v[0] = 1.0  # uncond
        v[1] = 3.0  # cond
        return v

    cam = torch.randn(1, 3, 20)
    text = S.TextConditioning(caption=torch.ones(1, 2, 4), negative=torch.zeros(1, 2, 4))
    first = torch.zeros(1, 2, 1, 2, 2)
    out = S.sample_bidirectional(model, first, 3, camera_conditions=cam, chunk_plucker=None, text=text,
                                 steps=1, cfg_scale=5.0, noise=torch.zeros(1, 2, 3, 2, 2))
    assert seen["batch"] == 2
    assert torch.equal(seen["caption"][0], torch.zeros(2, 4)) and torch.equal(seen["caption"][1], torch.ones(2, 4))
    assert torch.equal(seen["cam"][0], cam[0]) and torch.equal(seen["cam"][1], cam[0])
    # v = 1 + 5 (3 - 1) = 11; one step from sigma 1 to 0: x = 0 - 1 * 11
    assert torch.allclose(out[:, :, 1:], torch.full_like(out[:, :, 1:], -11.0))


def test_seeds_reproduce_and_differ():
    first = torch.zeros(1, 2, 1, 2, 2)

    def model(latents, **_):
        return latents * 0.5

    run = lambda seed: S.sample_bidirectional(model, first, 4, camera_conditions=None, chunk_plucker=None,  # noqa: E731
                                              steps=3, seed=seed)
    assert torch.equal(run(7), run(7))
    assert not torch.equal(run(7), run(8))


def test_bad_options_raise_config_errors():
    with pytest.raises(ConfigError, match="steps"):
        S.flow_sigmas(0, 9.8)
    with pytest.raises(ConfigError, match="flow_shift"):
        S.flow_sigmas(10, 0.0)
    with pytest.raises(ConfigError, match="noise"):
        S.sample_bidirectional(lambda *a, **k: None, torch.zeros(1, 2, 1, 2, 2), 3, camera_conditions=None,
                               chunk_plucker=None, noise=torch.zeros(1, 2, 2, 2, 2))


def test_official_defaults():
    assert (S.DEFAULT_STEPS, S.DEFAULT_CFG_SCALE, S.CONFIG_FLOW_SHIFT, S.EXAMPLE_FLOW_SHIFT) == (60, 5.0, 9.8, 8.0)
