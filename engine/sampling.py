"""Flow-matching samplers for the Stage-1 DiT.

Bidirectional sampling (spec streaming §5, the official ``flow_euler_ltx``): the whole latent volume is
denoised jointly with flow-matching Euler steps on a shifted schedule, with **per-frame timesteps** so
conditioned frames (latent frame 0 = the start image) stay clean at ``t = 0``, and classifier-free
guidance on the text only (camera inputs are the same in both halves of the batch).

Flow convention: ``x_t = (1 - σ) x0 + σ ε`` and the model predicts ``v ≈ ε - x0``; a step from ``σ`` to
``σ' < σ`` is ``x ← x - (σ - σ') v``, computed per token in fp32.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import torch

from engine.errors import ConfigError

log = logging.getLogger(__name__)

#: Official defaults of the bidirectional script.
DEFAULT_STEPS = 60
DEFAULT_CFG_SCALE = 5.0
#: ``inference_flow_shift`` of the released config; the example script and the 60 s benchmark pass 8.0.
CONFIG_FLOW_SHIFT = 9.8
EXAMPLE_FLOW_SHIFT = 8.0
DEFAULT_SEED = 42
NUM_TRAIN_TIMESTEPS = 1000
#: Tolerance of the per-token "next sigma" search, as in the reference scheduler.
_SIGMA_EPS = 1e-6


def shift_sigma(sigma: torch.Tensor | float, shift: float) -> torch.Tensor | float:
    """The flow shift map ``s·u / (1 + (s - 1)·u)`` (more steps at high noise for ``s > 1``)."""
    return shift * sigma / (1 + (shift - 1) * sigma)


def flow_sigmas(num_steps: int, shift: float, num_train_timesteps: int = NUM_TRAIN_TIMESTEPS) -> torch.Tensor:
    """The ``num_steps + 1`` sigmas of the shifted Euler schedule, ending with 0 (float64).

    ``u_min = shift(1 / num_train_timesteps)``, ``u = linspace(1, u_min, n)``, ``σ = shift(u)`` — the
    schedule of ``FlowMatchEulerDiscreteScheduler(shift=s).set_timesteps(n)``.
    """
    if num_steps < 1:
        raise ConfigError(f"steps: expected a positive number of sampling steps, found {num_steps}")
    if not shift > 0:
        raise ConfigError(f"flow_shift: expected a positive number, found {shift}")
    u_min = shift_sigma(1.0 / num_train_timesteps, shift)
    u = torch.linspace(1.0, u_min, num_steps, dtype=torch.float64)
    return torch.cat([shift_sigma(u, shift), torch.zeros(1, dtype=torch.float64)])


def per_token_euler_step(
    latents: torch.Tensor, velocity: torch.Tensor, frame_timesteps: torch.Tensor, sigmas: torch.Tensor
) -> torch.Tensor:
    """One Euler step where every latent frame sits at its own timestep.

    Args:
        latents, velocity: ``(B, C, T, H, W)``.
        frame_timesteps: ``(B, T)`` current timesteps in ``[0, 1000]``.
        sigmas: the schedule (its trailing 0 included).

    Each frame moves from ``σ = t / 1000`` to the largest schedule sigma below ``σ - 1e-6`` (0 if none);
    frames at ``t = 0`` do not move. Computed (and returned) in fp32, or fp64 for fp64 latents.
    """
    work = torch.promote_types(latents.dtype, torch.float32)
    sigma = frame_timesteps.to(work) / NUM_TRAIN_TIMESTEPS  # (B, T)
    sched = sigmas.to(device=latents.device, dtype=work)
    below = sched[:, None, None] < (sigma[None] - _SIGMA_EPS)  # (S, B, T)
    sigma_next = (below * sched[:, None, None]).amax(dim=0)  # (B, T)
    dt = (sigma - sigma_next)[:, None, :, None, None]
    return latents.to(work) - dt * velocity.to(work)


@dataclass
class TextConditioning:
    """Caption embeddings for CFG: ``(B, L, C)`` states with ``(B, L)`` masks; ``negative`` may be None
    (then guidance is off)."""

    caption: torch.Tensor
    mask: torch.Tensor | None = None
    negative: torch.Tensor | None = None
    negative_mask: torch.Tensor | None = None


def seeded_noise(shape: tuple[int, ...], seed: int, *, dtype: torch.dtype, device: torch.device | str = "cpu") -> torch.Tensor:
    """Standard normal noise from ``torch.Generator(device).manual_seed(seed)`` drawn directly in ``dtype``
    (the official scripts draw bf16 noise on the GPU, so CPU draws differ from theirs)."""
    gen = torch.Generator(device=device).manual_seed(int(seed))
    return torch.randn(shape, generator=gen, dtype=dtype, device=device)


def sample_bidirectional(
    model: Callable[..., torch.Tensor],
    first_latent: torch.Tensor,
    num_latent_frames: int,
    *,
    camera_conditions: torch.Tensor | None,
    chunk_plucker: torch.Tensor | None,
    text: TextConditioning | None = None,
    steps: int = DEFAULT_STEPS,
    cfg_scale: float = DEFAULT_CFG_SCALE,
    flow_shift: float = CONFIG_FLOW_SHIFT,
    seed: int = DEFAULT_SEED,
    noise: torch.Tensor | None = None,
    num_condition_frames: int = 1,
    callback: Callable[[int, int, float], None] | None = None,
) -> torch.Tensor:
    """Denoise a whole clip whose first latent frame(s) are given.

    Args:
        model: ``model(latents, timesteps=(B, T), caption=, caption_mask=, camera_conditions=, chunk_plucker=)``
            returning the velocity, e.g. :class:`engine.model.SanaWMTransformer`.
        first_latent: ``(B, C, K, H, W)`` clean latents of the conditioning frames (``K >= num_condition_frames``).
        num_latent_frames: ``T`` of the clip.
        camera_conditions: ``(B, T, 20)``; chunk_plucker: ``(B, 48, T, H, W)``.
        text: captions; CFG runs when ``cfg_scale > 1`` and a negative caption is given (batch order
            ``[uncond, cond]``, camera tensors duplicated, guidance on text only).
        noise: ``(B, C, T, H, W)`` to use instead of :func:`seeded_noise` (for parity with other implementations).
        callback: ``callback(step_index, steps, timestep)`` after each step; raise from it to cancel.

    Returns:
        ``(B, C, T, H, W)`` clean latents in ``first_latent``'s dtype; the condition frames are bit-identical.
    """
    b, c, _, h, w = first_latent.shape
    t_total = int(num_latent_frames)
    k = int(num_condition_frames)
    if not 1 <= k <= min(t_total, first_latent.shape[2]):
        raise ConfigError(f"num_condition_frames: expected 1..{min(t_total, first_latent.shape[2])}, found {k}")
    dtype, device = first_latent.dtype, first_latent.device
    if noise is None:
        latents = seeded_noise((b, c, t_total, h, w), seed, dtype=dtype, device=device)
    else:
        if tuple(noise.shape) != (b, c, t_total, h, w):
            raise ConfigError(f"noise: expected shape {(b, c, t_total, h, w)}, found {tuple(noise.shape)}")
        latents = noise.to(dtype=dtype, device=device).clone()
    latents[:, :, :k] = first_latent[:, :, :k]
    cond_frames = torch.zeros(t_total, dtype=torch.float32, device=device)
    cond_frames[:k] = 1.0

    use_cfg = text is not None and text.negative is not None and cfg_scale > 1.0
    sigmas = flow_sigmas(steps, flow_shift)
    timesteps = (sigmas[:-1] * NUM_TRAIN_TIMESTEPS).tolist()
    for i, t in enumerate(timesteps):
        # per-frame timestep: conditioned frames at 0, the others at t  -> (B, T)
        frame_t = torch.minimum(torch.full_like(cond_frames, t), (1.0 - cond_frames) * NUM_TRAIN_TIMESTEPS)
        frame_t = frame_t.expand(b, t_total)
        velocity = _guided_velocity(model, latents, frame_t, camera_conditions, chunk_plucker, text, use_cfg, cfg_scale)
        stepped = per_token_euler_step(latents, velocity, frame_t, sigmas)
        keep_clean = (t / NUM_TRAIN_TIMESTEPS - _SIGMA_EPS) < (1.0 - cond_frames)  # (T,): True = take the step
        latents = torch.where(keep_clean[None, None, :, None, None], stepped.to(dtype), latents)
        if callback is not None:
            callback(i, steps, float(t))
    return latents


def _guided_velocity(model, latents, frame_t, camera_conditions, chunk_plucker, text, use_cfg, cfg_scale):
    """The model's velocity, with classifier-free guidance on the text when ``use_cfg``."""
    caption = None if text is None else text.caption
    mask = None if text is None else text.mask
    if not use_cfg:
        return model(latents, timesteps=frame_t, caption=caption, caption_mask=mask,
                     camera_conditions=camera_conditions, chunk_plucker=chunk_plucker)

    def twice(x: torch.Tensor | None) -> torch.Tensor | None:
        return None if x is None else torch.cat([x, x])

    neg_mask = text.negative_mask if text.negative_mask is not None else torch.ones(text.negative.shape[:2], device=latents.device)
    pos_mask = mask if mask is not None else torch.ones(caption.shape[:2], device=latents.device)
    out = model(
        twice(latents),
        timesteps=twice(frame_t),
        caption=torch.cat([text.negative, caption]),
        caption_mask=torch.cat([neg_mask.to(pos_mask.dtype), pos_mask]),
        camera_conditions=twice(camera_conditions),
        chunk_plucker=twice(chunk_plucker),
    )
    uncond, cond = out.chunk(2)
    return uncond + cfg_scale * (cond - uncond)
