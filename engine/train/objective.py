"""The training objective: chunk-causal flow matching with diffusion forcing and clean-context batches.

Flow convention as in :mod:`engine.generation.sampling`: ``x_t = (1 - σ) x0 + σ ε``, the model predicts ``v ≈ ε - x0``,
timesteps ``t = 1000 σ``. The model runs over the whole window with the chunk-causal mixer
(:class:`~engine.model.time_mixing.ChunkCausalMixer` on ``teacher_chunk_starts(T)``, softmax window = the
streaming session's :class:`~engine.model.chunks.AttentionWindow`), so every chunk is trained on exactly the
context a cached streaming rollout gives it; one forward trains all chunks of the window at once.

Per-frame timesteps (:func:`sample_schedule`):

* latent frame 0 is the conditioning image: always clean (``t = 0``) and never in the loss, as in inference;
* **diffusion forcing**: every chunk draws its own σ (the frames of a chunk share it), so a chunk learns to
  denoise whatever mix of cleaner and noisier context precedes it — one forward covers many context conditions;
* **clean context** (with probability ``clean_context_prob`` per sample): all chunks but the last are clean at
  ``t = 0`` and only the last chunk is in the loss. This is exactly the streaming condition, where the cache of
  earlier chunks is written by a ``t = 0`` pass over clean (generated) latents; diffusion forcing alone would
  spend most samples on noisy contexts that inference never shows;
* optional **context noise**: the clean context frames (not frame 0, which is a real encoded image at inference)
  get a little noise, ``σ ~ U(0, context_noise)``, while their timestep *label* stays 0. At inference the context
  is the model's own imperfect output presented at ``t = 0``; training on slightly perturbed "clean" context
  makes the next chunk less sensitive to those errors (a cheap guard against drift).
* optional **self-rollout context** (with probability ``self_rollout_prob`` per sample): the sample is a
  clean-context sample whose context chunks are the model's own streaming rollout
  (:func:`engine.train.self_rollout.rollout_context`) instead of ground truth; the target chunk stays ground
  truth. This trains the model on the errors it actually makes, the remedy for drift that context noise only
  approximates. It costs a no-grad streaming rollout of the context per such sample.

Timestep sampling (:func:`sample_sigmas`): ``u`` is logit-normal (default; Esser et al. 2024 found it the best
simple density for rectified flow: it concentrates on mid-range σ where predicting ``v`` is hardest, instead of
the near-trivial ends) or uniform, then shifted with ``σ = s u / (1 + (s - 1) u)``. A shift ``s > 1`` moves
training towards high noise, where the few-step streaming sampler evaluates the model (σ = 1, .96, .889, .727
before its final ``x0`` estimate); the default ``s = 3`` puts half the samples above σ = 0.75 and still covers
low noise for the 60-step bidirectional sampler. σ is quantised to the integer timesteps the model sees (it
truncates ``t``), so inputs and labels agree exactly.

* optional **re-anchored windows** (with probability ``reanchor_prob`` per *batch*, since a batch shares one
  window length): every sample's context is rolled out as for self-rollout, then the window is cut to what a
  session holds after it re-anchors (:func:`engine.train.self_rollout.reanchor_start`): the last 4 rolled-out frames
  as a fresh chunk 0, whose sink is thus a *generated* frame, and the ground-truth last chunk as the target, camera
  poses re-based to the cut's first frame, the cut's chunk 0 shown no world cache (a session's re-anchor pass
  gives zeros) and the target chunk its own cache input. Why: every other training window's sink is the true
  start image, while from 6 s on every chunk a session makes follows a re-anchor, whose sink is the model's own
  frame (often already hazy). Needs a dataset built with ``reanchored=True`` and windows of at least 3 chunks.
* optional **hazy context** (with probability ``context_haze_prob`` per clean-context sample): the context frames,
  frame 0 included, are washed out the way a long rollout washes them out: every latent channel's deviation from
  its frame mean is scaled by a contrast ``c ~ U(context_haze_contrast, 1)`` and the three DC colour channels of the
  patch codec (channels 0-2) are shifted by a brightness ``b ~ U(-context_haze_shift, context_haze_shift)``, the
  same ``c`` and ``b`` for the whole context of a sample. The target chunk stays ground truth, so the model learns
  to give a washed-out context its contrast and colour back instead of copying the haze forward (after a re-anchor
  the whole context, sink included, is generated).

The loss is the mean squared error of ``v`` over the frames in the loss (all channels and cells), plus, when
``frame_stats_weight`` is above 0, a **frame-statistics** term: per frame in the loss and per latent channel, the
squared error of the spatial mean and of the spatial standard deviation of the predicted clean latents
``x̂0 = x_t - σ v`` against the truth's. Why: far from what the start image shows, the model's few-step estimate
is the mean of what might be there, a haze whose colour walks and whose contrast collapses (luma std 11-13 where
the truth's is 40-48; docs/embedded_model.md, "Washed out where it invents"). The MSE counts the frame's mean colour
and contrast only as one part of every cell's error; this term asks for them directly.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any

import torch

from engine.errors import ConfigError
from engine.model.chunks import AttentionWindow, chunk_bounds, teacher_chunk_starts
from engine.model.time_mixing import ChunkCausalMixer
from engine.generation.sampling import NUM_TRAIN_TIMESTEPS, shift_sigma
from engine.train.data import TrainingBatch
from engine.train.self_rollout import reanchor_start, rollout_context

TIMESTEP_SAMPLINGS = ("logit-normal", "uniform")
#: Latent channels that hold each cell's mean colour: the DC coefficients of R, G and B, the first channels of the
#: patch codec (:mod:`engine.components.patch_codec` orders frequencies by ``u + v``, three colours each), the only
#: codec training uses.
DC_CHANNELS = 3


@dataclass(frozen=True)
class ObjectiveConfig:
    """Settings of :func:`flow_matching_loss` (see the module docstring for why each exists).

    Attributes:
        clean_context_prob: probability that a sample uses clean context (all chunks but the last at ``t = 0``).
        context_noise: largest σ of the perturbation of clean context frames (0 = off); their label stays 0.
        timestep_sampling: ``"logit-normal"`` or ``"uniform"`` density of ``u`` before the shift.
        logit_mean, logit_std: parameters of the logit-normal density.
        shift: flow shift ``s`` applied to ``u`` (1 = none).
        window_chunks, window_sink: the softmax window (:class:`AttentionWindow`); train with the one the
            streaming session uses (2 cached chunks with the image chunk as sink).
        self_rollout_prob: probability that a sample's context is the model's own rollout (0 = off; the
            random draws of a run with 0 are those of a run without this option).
        rollout_shows_cache: the rollout's context is the one a session that commits the chunk as shown gives the
            model: cells the world-cache input covers entirely take its latent
            (:func:`engine.train.self_rollout.rollout_context`, ``show_cache``). Only for models with a cache input.
        frame_stats_weight: weight of the frame-statistics term (:func:`frame_stats_error`; 0 = off, the loss
            and its random draws are then exactly those of a run without it).
        reanchor_prob: probability that a batch is made of re-anchored windows (module docstring; 0 = off, no
            draws).
        context_haze_prob, context_haze_contrast, context_haze_shift: hazy context (module docstring): the share
            of clean-context samples whose context is washed out (0 = off, no draws), the lowest contrast and the
            largest brightness shift (latent DC units: 0.3 is about 19 levels of 255).
    """

    clean_context_prob: float = 0.5
    context_noise: float = 0.0
    timestep_sampling: str = "logit-normal"
    logit_mean: float = 0.0
    logit_std: float = 1.0
    shift: float = 3.0
    window_chunks: int = 2
    window_sink: bool = True
    self_rollout_prob: float = 0.0
    rollout_shows_cache: bool = False
    frame_stats_weight: float = 0.0
    reanchor_prob: float = 0.0
    context_haze_prob: float = 0.0
    context_haze_contrast: float = 0.3
    context_haze_shift: float = 0.3

    def __post_init__(self) -> None:
        problems = []
        if not 0.0 <= self.clean_context_prob <= 1.0:
            problems.append(f"clean_context_prob must be in [0, 1], got {self.clean_context_prob}")
        if not 0.0 <= self.context_noise < 1.0:
            problems.append(f"context_noise must be in [0, 1), got {self.context_noise}")
        if self.timestep_sampling not in TIMESTEP_SAMPLINGS:
            choices = ", ".join(TIMESTEP_SAMPLINGS)
            problems.append(f"timestep_sampling must be one of {choices}, got {self.timestep_sampling!r}")
        if not self.logit_std > 0:
            problems.append(f"logit_std must be positive, got {self.logit_std}")
        if not self.shift > 0:
            problems.append(f"shift must be positive, got {self.shift}")
        if not 0.0 <= self.self_rollout_prob <= 1.0:
            problems.append(f"self_rollout_prob must be in [0, 1], got {self.self_rollout_prob}")
        if not 0.0 <= self.reanchor_prob <= 1.0:
            problems.append(f"reanchor_prob must be in [0, 1], got {self.reanchor_prob}")
        if not self.frame_stats_weight >= 0.0:
            problems.append(f"frame_stats_weight must be >= 0, got {self.frame_stats_weight}")
        if not 0.0 <= self.context_haze_prob <= 1.0:
            problems.append(f"context_haze_prob must be in [0, 1], got {self.context_haze_prob}")
        if not 0.0 <= self.context_haze_contrast <= 1.0:
            problems.append(f"context_haze_contrast must be in [0, 1], got {self.context_haze_contrast}")
        if not self.context_haze_shift >= 0.0:
            problems.append(f"context_haze_shift must be >= 0, got {self.context_haze_shift}")
        if self.window_chunks < -1:
            problems.append(f"window_chunks must be -1 (all) or >= 0, got {self.window_chunks}")
        if problems:
            raise ConfigError("invalid objective: " + "; ".join(problems))

    @property
    def window(self) -> AttentionWindow:
        return AttentionWindow(self.window_chunks, sink=self.window_sink)


@dataclass
class FrameSchedule:
    """Per-frame noise of one batch, all ``(B, T)`` except ``clean_context (B,)``.

    ``timesteps`` are the model's input labels (integers in [0, 1000]); ``sigmas`` the noise actually mixed in
    (``timesteps / 1000``, except perturbed clean-context frames); ``loss_mask`` marks the frames in the loss.
    """

    timesteps: torch.Tensor
    sigmas: torch.Tensor
    loss_mask: torch.Tensor
    clean_context: torch.Tensor


@dataclass
class LossOutput:
    """``loss`` (scalar, differentiable), ``stats`` (floats for logging) and the ``schedule`` used."""

    loss: torch.Tensor
    stats: dict[str, float]
    schedule: FrameSchedule


def sample_sigmas(count: int, config: ObjectiveConfig, generator: torch.Generator) -> torch.Tensor:
    """``(count,)`` float32 noise levels in ``[0.001, 1]`` on the integer timestep grid (see the module docstring)."""
    if config.timestep_sampling == "logit-normal":
        u = torch.sigmoid(config.logit_mean + config.logit_std * torch.randn(count, generator=generator))
    else:
        u = torch.rand(count, generator=generator)
    sigma = shift_sigma(u.double(), config.shift)
    steps = torch.clamp(torch.floor(sigma * NUM_TRAIN_TIMESTEPS), 1, NUM_TRAIN_TIMESTEPS)
    return (steps / NUM_TRAIN_TIMESTEPS).float()


def sample_schedule(
    batch_size: int,
    num_frames: int,
    config: ObjectiveConfig,
    generator: torch.Generator,
    force_clean: torch.Tensor | None = None,
) -> FrameSchedule:
    """Per-frame timesteps of a batch of ``num_frames``-frame windows (chunks: ``teacher_chunk_starts``).

    Random draws, in this order: one σ per (sample, chunk), one clean-context coin per sample, one context-noise
    level per (sample, frame); the same generator state therefore always gives the same schedule.
    ``force_clean`` ``(B,)`` bool makes those samples clean-context whatever their coin (self-rollout samples).
    """
    bounds = chunk_bounds(teacher_chunk_starts(num_frames), num_frames)
    chunk_sigma = sample_sigmas(batch_size * len(bounds), config, generator).view(batch_size, len(bounds))
    clean = torch.rand(batch_size, generator=generator) < config.clean_context_prob  # (B,)
    if force_clean is not None:
        clean = clean | force_clean.cpu()
    jitter = torch.rand(batch_size, num_frames, generator=generator) * config.context_noise  # (B, T)

    labels = torch.zeros(batch_size, num_frames)
    for c, (a, b) in enumerate(bounds):
        labels[:, a:b] = chunk_sigma[:, c : c + 1]
    context = torch.zeros(batch_size, num_frames, dtype=torch.bool)  # clean-context frames (frame 0 excluded)
    context[:, 1 : bounds[-1][0]] = clean[:, None]
    labels[context] = 0.0
    labels[:, 0] = 0.0  # the image latent
    sigmas = torch.where(context, jitter, labels)
    timesteps = torch.round(labels * NUM_TRAIN_TIMESTEPS)  # exact integers (σ is on the grid)
    return FrameSchedule(timesteps=timesteps, sigmas=sigmas, loss_mask=timesteps > 0, clean_context=clean)


def frame_stats_error(predicted: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """``(B, T)`` squared error of each frame's latent statistics, averaged over channels: the spatial mean and the
    spatial standard deviation of every channel of ``predicted`` against ``target`` (both ``(B, C, T, h, w)``).

    For the patch codec a channel's spatial mean is the frame's mean of that coefficient (the DC channels: its mean
    colour) and its spatial standard deviation how much it varies across the frame (the DC channels: contrast
    between 16-pixel cells, what a washed-out frame has lost)."""
    dims = (3, 4)
    mean_error = (predicted.mean(dim=dims) - target.mean(dim=dims)).pow(2)  # (B, C, T)
    std_error = (predicted.std(dim=dims, correction=0) - target.std(dim=dims, correction=0)).pow(2)
    return (mean_error + std_error).mean(dim=1)


def haze_context(latents: torch.Tensor, context_end: int, contrast: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
    """Frames ``[0, context_end)`` of ``latents (B, C, T, h, w)`` washed out: each channel's deviation from its
    frame mean scaled by ``contrast (B,)``, the DC colour channels shifted by ``shift (B,)``; later frames as
    given. A new tensor."""
    out = latents.clone()
    context = out[:, :, :context_end]
    mean = context.mean(dim=(3, 4), keepdim=True)
    c = contrast.to(out)[:, None, None, None, None]
    hazed = mean + c * (context - mean)
    hazed[:, :DC_CHANNELS] += shift.to(out)[:, None, None, None, None]
    out[:, :, :context_end] = hazed
    return out


def reanchored_batch(model: torch.nn.Module, batch: TrainingBatch, config: ObjectiveConfig,
                     generator: torch.Generator) -> TrainingBatch:
    """The re-anchored windows of ``batch`` (module docstring): its context rolled out by ``model``
    (:func:`rollout_context`, no gradient), cut at :func:`reanchor_start`, with the re-anchored camera tensors and
    a world-cache input that is zero on the cut's chunk 0."""
    if batch.reanchored is None:
        raise ConfigError("reanchor_prob > 0 needs batches with re-anchored camera tensors "
                          "(TrainingData(..., reanchored=True)); found none")  # fmt: skip
    t = batch.latents.shape[2]
    r = reanchor_start(t)
    rolled = rollout_context(model, batch.latents, batch.camera_conditions, batch.chunk_plucker, config.window,
                             generator, cache_input=batch.cache, show_cache=config.rollout_shows_cache)  # fmt: skip
    cache = None
    if batch.cache is not None:
        kept = chunk_bounds(teacher_chunk_starts(t - r), t - r)[0][1]  # the cut's chunk 0: the re-anchor pass's frames
        cache = batch.cache[:, :, r:].clone()
        cache[:, :, :kept] = 0.0
    return TrainingBatch(rolled[:, :, r:], batch.reanchored.camera_conditions, batch.reanchored.chunk_plucker,
                         batch.sources, cache)  # fmt: skip


def flow_matching_loss(
    model: torch.nn.Module,
    batch: TrainingBatch,
    config: ObjectiveConfig,
    generator: torch.Generator,
    *,
    autocast: Any = None,
) -> LossOutput:
    """The chunk-causal flow-matching loss of one batch.

    Args:
        model: a :class:`~engine.model.SanaWMTransformer` without text conditioning.
        batch: ``latents (B, C, T, h, w)`` clean windows with their camera tensors (on the model's device).
        config: objective settings.
        generator: CPU generator for the schedule and the noise ``ε (B, C, T, h, w)`` (drawn on the CPU so a
            seed gives the same numbers on every device).
        autocast: a context manager around the forward (e.g. ``torch.autocast("cpu", torch.bfloat16)``).

    Returns:
        :class:`LossOutput`; ``stats`` holds ``loss``, ``sigma_mean`` (over frames in the loss),
        ``clean_context`` and ``self_rollout`` (fractions of samples), ``frames_in_loss`` (per sample, mean) and,
        when those options are on, ``frame_stats``, ``hazy_context`` and ``reanchored`` (1 for a re-anchored batch).
    """
    reanchored = False
    if config.reanchor_prob > 0:  # drawn first; a run without re-anchored windows makes no draw here
        reanchored = bool(torch.rand(1, generator=generator)[0] < config.reanchor_prob)
        if reanchored:
            batch = reanchored_batch(model, batch, config, generator)
    x0 = batch.latents.float()  # (B, C, T, h, w)
    b, _, t, _, _ = x0.shape
    rolled = None
    if reanchored:  # the context is already the model's own
        rolled = torch.ones(b, dtype=torch.bool)
    elif config.self_rollout_prob > 0:  # a run without self-rollout makes no draw here
        rolled = torch.rand(b, generator=generator) < config.self_rollout_prob  # (B,)
    schedule = sample_schedule(b, t, config, generator, force_clean=rolled)
    noise = torch.randn(x0.shape, generator=generator).to(x0.device)  # (B, C, T, h, w)
    if rolled is not None and bool(rolled.any()) and not reanchored:
        idx = rolled.nonzero()[:, 0].to(x0.device)
        x0 = x0.clone()
        x0[idx] = rollout_context(model, x0[idx], batch.camera_conditions[idx], batch.chunk_plucker[idx],
                                  config.window, generator,
                                  cache_input=None if batch.cache is None else batch.cache[idx],
                                  show_cache=config.rollout_shows_cache)  # fmt: skip
    hazed = None
    if config.context_haze_prob > 0:  # drawn last; a run without hazy context makes no draw here
        coin = torch.rand(b, generator=generator) < config.context_haze_prob
        contrast = config.context_haze_contrast + (1.0 - config.context_haze_contrast) * torch.rand(b, generator=generator)
        shift = config.context_haze_shift * (2.0 * torch.rand(b, generator=generator) - 1.0)
        hazed = coin & schedule.clean_context
        if bool(hazed.any()):
            idx = hazed.nonzero()[:, 0].to(x0.device)
            context_end = chunk_bounds(teacher_chunk_starts(t), t)[-1][0]
            x0 = x0.clone()
            x0[idx] = haze_context(x0[idx], context_end, contrast[hazed], shift[hazed])
    sigma = schedule.sigmas.to(x0.device)[:, None, :, None, None]
    noisy = (1.0 - sigma) * x0 + sigma * noise
    mixer = ChunkCausalMixer(teacher_chunk_starts(t), t, config.window)
    extra = {} if batch.cache is None else {"cache": batch.cache}  # the world-cache input (models v2)
    with autocast or contextlib.nullcontext():
        velocity = model(
            noisy,
            schedule.timesteps.to(x0.device),
            camera_conditions=batch.camera_conditions,
            chunk_plucker=batch.chunk_plucker,
            mixing=mixer,
            **extra,
        )
    per_frame = (velocity.float() - (noise - x0)).pow(2).mean(dim=(1, 3, 4))  # (B, T)
    mask = schedule.loss_mask.to(x0.device)
    loss = (per_frame * mask).sum() / mask.sum()
    extra_stats = {}
    if config.frame_stats_weight > 0:
        predicted_x0 = noisy - sigma * velocity.float()
        frame_stats = (frame_stats_error(predicted_x0, x0) * mask).sum() / mask.sum()
        loss = loss + config.frame_stats_weight * frame_stats
        extra_stats["frame_stats"] = float(frame_stats.detach())
    stats = {
        **extra_stats,
        "loss": float(loss.detach()),
        "sigma_mean": float(schedule.sigmas[schedule.loss_mask].mean()),
        "clean_context": float(schedule.clean_context.float().mean()),
        "self_rollout": 0.0 if rolled is None else float(rolled.float().mean()),
        **({} if hazed is None else {"hazy_context": float(hazed.float().mean())}),
        **({"reanchored": float(reanchored)} if config.reanchor_prob > 0 else {}),
        "frames_in_loss": float(schedule.loss_mask.sum(dim=1).float().mean()),
    }
    return LossOutput(loss=loss, stats=stats, schedule=schedule)
