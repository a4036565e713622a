"""The bidirectional flow-Euler sampler: schedule and step against diffusers, exactness, CFG, pinning, seeds."""

from __future__ import annotations

import pytest
import torch

import engine.generation.sampling as S
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


# ----- self-forcing streaming sampler (spec streaming §4)


def test_self_forcing_schedule_is_the_official_list_and_the_shift_8_map():
    sigmas = S.self_forcing_sigmas()
    assert sigmas.tolist() == [1.0, 0.96, 0.889, 0.727, 0.0]
    u = torch.tensor([1.0, 0.75, 0.5, 0.25], dtype=torch.float64)
    assert torch.allclose(sigmas[:-1], S.shift_sigma(u, 8.0), atol=5e-4)


def test_self_forcing_schedule_matches_diffusers_with_explicit_sigmas():
    ref = sched_mod.FlowMatchEulerDiscreteScheduler(shift=1.0)
    ref.set_timesteps(sigmas=[1.0, 0.96, 0.889, 0.727])
    assert torch.allclose(ref.timesteps.double(), torch.tensor(S.SELF_FORCING_TIMESTEPS, dtype=torch.float64))
    assert torch.allclose(ref.sigmas.double(), S.self_forcing_sigmas(), atol=1e-6)


def test_sample_chunk_lands_on_the_target_with_a_perfect_velocity_and_pins_the_image_frame():
    gen = torch.Generator().manual_seed(0)
    target = torch.randn(1, 4, 4, 2, 3, generator=gen)
    noise = torch.randn(1, 4, 4, 2, 3, generator=gen)
    noise[:, :, :1] = target[:, :, :1]
    seen = []

    def velocity(x, frame_t):
        seen.append(frame_t.clone())
        sigma = (frame_t / 1000.0)[:, None, :, None, None]
        return torch.where(sigma > 0, (x - target) / sigma.clamp_min(1e-12), torch.zeros_like(x))

    out = S.sample_chunk(velocity, noise, num_condition_frames=1)
    assert (out - target).abs().max() < 1e-5
    assert torch.equal(out[:, :, :1], noise[:, :, :1])
    assert [t[0].tolist() for t in seen] == [[0.0, t, t, t] for t in S.SELF_FORCING_TIMESTEPS]


def test_sample_chunk_is_deterministic_euler_ending_on_the_x0_estimate():
    gen = torch.Generator().manual_seed(1)
    noise = torch.randn(1, 2, 3, 2, 2, generator=gen)
    velocities = [torch.randn(noise.shape, generator=gen) for _ in range(4)]
    calls = iter(velocities)
    inputs = []

    def velocity(x, frame_t):
        inputs.append(x.clone())
        return next(calls)

    out = S.sample_chunk(velocity, noise, timesteps=(1000.0, 960.0, 889.0, 727.0))
    sig = [1.0, 0.96, 0.889, 0.727, 0.0]
    x = noise.clone()
    for i, v in enumerate(velocities):
        assert torch.allclose(inputs[i], x, atol=1e-6)
        x = x - (sig[i] - sig[i + 1]) * v
    assert torch.allclose(out, x, atol=1e-6)
    assert torch.allclose(out, inputs[-1] - 0.727 * velocities[-1], atol=1e-6)  # x0 = x - sigma v


def test_sample_chunk_steps_are_configurable():
    calls = []
    S.sample_chunk(lambda x, t: calls.append(t[0, 0].item()) or torch.zeros_like(x), torch.zeros(1, 1, 3, 1, 1),
                   timesteps=(1000.0, 500.0))  # fmt: skip
    assert calls == [1000.0, 500.0]


@pytest.mark.parametrize("bad", [(), (500.0, 900.0), (1000.0, 1000.0), (1200.0,), (1000.0, 0.0)])
def test_self_forcing_rejects_bad_timestep_lists(bad):
    with pytest.raises(ConfigError, match="timesteps"):
        S.self_forcing_sigmas(bad)
