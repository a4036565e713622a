"""Flow-matching samplers for the Stage-1 DiT.

Bidirectional sampling (spec streaming §5, the official ``flow_euler_ltx``): the whole latent volume is
denoised jointly with flow-matching Euler steps on a shifted schedule, with **per-frame timesteps** so
conditioned frames (latent frame 0 = the start image) stay clean at ``t = 0``, and classifier-free
guidance on the text only (camera inputs are the same in both halves of the batch).

Self-forcing streaming sampling (spec streaming §4, the distilled streaming model): each chunk of 3 latent frames
is denoised by a few deterministic Euler steps on a fixed timestep list (1000, 960, 889, 727 -> 0), reading the
cached context of earlier chunks; :func:`sample_chunk` is that loop for one chunk, whatever the model call is.

Flow convention: ``x_t = (1 - σ) x0 + σ ε`` and the model predicts ``v ≈ ε - x0``; a step from ``σ`` to
``σ' < σ`` is ``x ← x - (σ - σ') v``, computed per token in fp32.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
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
#: Timesteps of the self-forcing streaming sampler (the shift-8 map of 1, .75, .5, .25); the schedule ends at 0.
SELF_FORCING_TIMESTEPS = (1000.0, 960.0, 889.0, 727.0)
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


def frame_noise(
    seed: int, start: int, stop: int, frame_shape: tuple[int, ...], *, dtype: torch.dtype, device: torch.device | str = "cpu"
) -> torch.Tensor:
    """Noise of latent frames ``[start, stop)`` of a stream: ``(1, C, stop - start, H, W)`` for ``frame_shape =
    (C, H, W)``, each frame drawn from its own generator seeded by ``(seed, frame)``.

    Streams have no known length and can be rewound, so noise is keyed by frame instead of drawn up front (the
    official script draws ``(1, C, T, H, W)`` once, which needs ``T``): rewinding redraws the same noise.
    """
    frames = []
    for frame in range(start, stop):
        key = int(np.random.SeedSequence([int(seed), frame]).generate_state(1, dtype=np.uint64)[0] >> np.uint64(1))
        gen = torch.Generator().manual_seed(key)
        frames.append(torch.randn(1, frame_shape[0], 1, *frame_shape[1:], generator=gen))
    return torch.cat(frames, dim=2).to(dtype=dtype, device=device)


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


def self_forcing_sigmas(timesteps: tuple[float, ...] = SELF_FORCING_TIMESTEPS) -> torch.Tensor:
    """``[t / 1000 for t in timesteps] + [0]`` (float64): the schedule is used verbatim, no shift."""
    values = [float(t) for t in timesteps]
    if not values or any(not 0 < t <= NUM_TRAIN_TIMESTEPS for t in values) or values != sorted(values, reverse=True):
        raise ConfigError(
            f"timesteps: expected a strictly decreasing list of values in (0, {NUM_TRAIN_TIMESTEPS}], found {values}"
        )
    if len(set(values)) != len(values):
        raise ConfigError(f"timesteps: expected distinct values, found {values}")
    return torch.tensor([*values, 0.0], dtype=torch.float64) / NUM_TRAIN_TIMESTEPS


def sample_chunk(
    velocity: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    noise: torch.Tensor,
    *,
    num_condition_frames: int = 0,
    timesteps: tuple[float, ...] = SELF_FORCING_TIMESTEPS,
    callback: Callable[[int, int, float], None] | None = None,
) -> torch.Tensor:
    """Denoise one streaming chunk with the self-forcing Euler loop (CFG 1, no fresh noise).

    Args:
        velocity: ``velocity(latents (B, C, n, H, W), frame_timesteps (B, n)) -> (B, C, n, H, W)``: the model
            call on this chunk with its cached context.
        noise: ``(B, C, n, H, W)`` the chunk's starting latents: seeded noise, with the first
            ``num_condition_frames`` frames already set to their clean latents (chunk 0: the image latent).
        num_condition_frames: leading frames kept clean at ``t = 0`` (1 for chunk 0, else 0).
        timesteps: the denoising list without its final 0.
        callback: ``callback(step_index, steps, timestep)`` after each step; raise from it to cancel.

    Returns:
        Clean latents in ``noise``'s dtype; the condition frames are bit-identical to the input. Each step is the
        per-token Euler update ``x <- x - (σ_tok - σ_next) v`` in fp32, written back to the latents' dtype; the
        last step (σ -> 0) returns the model's ``x0`` estimate.
    """
    b, _, n, _, _ = noise.shape
    if not 0 <= num_condition_frames <= n:
        raise ConfigError(f"num_condition_frames: expected 0..{n}, found {num_condition_frames}")
    sigmas = self_forcing_sigmas(timesteps)
    cond = torch.zeros(n, dtype=torch.float32, device=noise.device)
    cond[:num_condition_frames] = 1.0
    latents = noise.clone()
    for i, t in enumerate(timesteps):
        frame_t = ((1.0 - cond) * float(t)).expand(b, n)  # (B, n): condition frames at 0
        stepped = per_token_euler_step(latents, velocity(latents, frame_t), frame_t, sigmas)
        latents = stepped.to(noise.dtype)
        latents[:, :, :num_condition_frames] = noise[:, :, :num_condition_frames]
        if callback is not None:
            callback(i, len(timesteps), float(t))
    return latents
