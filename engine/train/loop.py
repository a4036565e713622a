"""The training loop: :func:`train` runs a :class:`~engine.train.config.TrainConfig` on clips.

One step: draw the next ``batch_size`` windows (:class:`~engine.train.data.TrainingData`), compute the
chunk-causal flow-matching loss (:func:`~engine.train.objective.flow_matching_loss`) under optional bf16 autocast,
AdamW with gradient clipping and a warm-up (+ optional cosine) learning rate, then an EMA update of the weights.

A run folder ``OUT`` holds:

* ``config.json`` — the full :class:`~engine.train.config.TrainConfig`, the resolved model config, the data, and
  one record per (re)start with its environment (torch version, device, threads) (:mod:`engine.train.run_folder`);
* ``checkpoints/step_NNNNNNN.pt`` every ``checkpoint_every`` steps and at the end (:mod:`engine.train.checkpoint`);
* ``loss.csv`` and ``loss.png`` (:mod:`engine.train.curves`), rewritten at every checkpoint;
* ``bundle/`` at the end (:mod:`engine.train.run_folder`) — an embedded-format model bundle
  (:func:`engine.bundles.save_bundle`) with the EMA weights, the codec, the frame size, the data's median field of
  view as default intrinsics and a training summary in ``extras``.

Determinism: the model is built from ``seed``; the data order is a function of ``(seed, samples seen)``; each
step's noise and timesteps come from a generator seeded by ``(seed, step)``. A run resumed from a checkpoint
(``resume=True``) therefore continues bit for bit as if it had never stopped, given the same thread count and
device (measured on the CPU; GPU kernels may not be bitwise reproducible). The data workers
(``data_workers``, :mod:`engine.train.loader`) change nothing: batches are the same for any count.

Wall-clock limits, for machines lent for minutes: ``max_minutes`` ends this start of the run after that long
(checkpoint, then the bundle, as at the last step; ``--resume`` continues), and ``checkpoint_minutes`` adds a
checkpoint whenever that long has passed since the last one. A checkpoint without optimizer state
(:func:`~engine.train.checkpoint.strip_optimizer`, small enough to carry to and from such a machine) resumes with
fresh AdamW moments.
"""

from __future__ import annotations

import copy
import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from engine.components.patch_codec import PatchDCTCodec
from engine.errors import ConfigError
from engine.model.config import SanaWMConfig
from engine.model.transformer import SanaWMTransformer
from engine.train.checkpoint import (
    RunState,
    checkpoint_path,
    list_checkpoints,
    load_checkpoint,
    prune_checkpoints,
    restore_rng,
    run_state,
    save_checkpoint,
)
from engine.train.cache_data import WindowCacheBuilder
from engine.train.config import TrainConfig, check_resume, learning_rate
from engine.train.curves import plot_loss, write_loss_csv
from engine.train.data import TrainingData
from engine.train.loader import batch_stream
from engine.train.init import init_weights, load_initial_weights
from engine.train.objective import flow_matching_loss
from engine.train.run_folder import environment, final_loss, write_bundle, write_run_config

log = logging.getLogger(__name__)


class TrainingDiverged(ConfigError):
    """The loss became NaN or infinite (usually a learning rate that is too high)."""


@dataclass(frozen=True)
class StepReport:
    """What :func:`train` reports after each step (``step`` counts from 1; ``checkpoint`` = file written now)."""

    step: int
    steps: int
    loss: float
    lr: float
    grad_norm: float
    samples_per_s: float
    elapsed_s: float
    checkpoint: Path | None = None


@dataclass(frozen=True)
class TrainResult:
    """The outcome of :func:`train`."""

    out_dir: Path
    bundle_dir: Path
    steps: int
    samples_seen: int
    final_loss: float
    wall_time_s: float
    last_checkpoint: Path | None
    stopped_early: bool = False  # ``max_minutes`` ended this start before ``steps``


def step_generator(seed: int, step: int) -> torch.Generator:
    """The CPU generator of one step's noise and timesteps, keyed by ``(seed, step)``."""
    key = int(np.random.SeedSequence([int(seed), 2, int(step)]).generate_state(1, dtype=np.uint64)[0] >> np.uint64(1))
    return torch.Generator().manual_seed(key)


def build_model(config: TrainConfig, *, load_init: bool = True) -> SanaWMTransformer:
    """The model of ``config`` at step 0: freshly initialised, or ``init_from``'s weights (global RNG untouched).
    ``load_init=False`` skips reading ``init_from`` (a resumed run overwrites the weights anyway)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        model = SanaWMTransformer(config.model_config())
    if config.init_from and load_init:
        load_initial_weights(model, config.init_from, config.frame_size, config.spatial_factor)
    else:
        init_weights(model, config.seed)
    return model


def make_optimizer(model: torch.nn.Module, config: TrainConfig) -> torch.optim.AdamW:
    """AdamW with weight decay on matrices and conv kernels only (``ndim >= 2``)."""
    decay = [p for p in model.parameters() if p.ndim >= 2 and p.requires_grad]
    rest = [p for p in model.parameters() if p.ndim < 2 and p.requires_grad]
    groups = [{"params": decay, "weight_decay": config.weight_decay}, {"params": rest, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=config.lr, betas=config.betas, foreach=False)


@torch.no_grad()
def update_ema(ema: torch.nn.Module, model: torch.nn.Module, decay: float, updates: int) -> None:
    """``ema <- d ema + (1 - d) model`` with ``d = min(decay, (1 + n) / (10 + n))`` (early EMA follows faster)."""
    d = min(decay, (1.0 + updates) / (10.0 + updates))
    for e, p in zip(ema.parameters(), model.parameters()):
        e.lerp_(p.detach(), 1.0 - d)
    for e, b in zip(ema.buffers(), model.buffers()):
        e.copy_(b)


def _resolve_device(name: str) -> torch.device:
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ConfigError(f"device: expected cpu or cuda[:N], found {name!r}") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device {name!r}: CUDA is not available in this torch build or machine; use --device cpu")
    if device.type not in ("cpu", "cuda"):
        raise ConfigError(f"device: expected cpu or cuda[:N], found {name!r}")
    return device


def train(
    config: TrainConfig,
    clips: Sequence[Any],
    out_dir: str | Path,
    progress: Callable[[StepReport], None] | None = None,
    *,
    resume: bool = False,
    max_minutes: float | None = None,
) -> TrainResult:
    """Train a model of ``config`` on ``clips``, writing the run folder ``out_dir`` (see the module docstring).

    Args:
        config: the run's settings.
        clips: training clips (see :mod:`engine.train.data`), e.g. a :class:`~engine.train.data.ClipFolder`.
        out_dir: run folder; must not hold checkpoints unless ``resume`` (a folder whose run stopped before its
            first checkpoint is started afresh).
        progress: called after every step with a :class:`StepReport`. An exception raised from it stops the run
            (the checkpoints written so far stay; ``resume=True`` continues from the last one).
        resume: continue from the newest checkpoint in ``out_dir``; only the fields in
            :data:`~engine.train.config.RESUMABLE_CHANGES` may differ from the checkpoint's config (e.g. more
            ``steps``).
        max_minutes: wall-clock budget of this call, counted from its start: the first step that ends past it is
            the last (checkpointed, then the bundle is written; ``TrainResult.stopped_early`` says so). None = run
            to ``steps``.

    Raises:
        ConfigError: invalid settings, an occupied ``out_dir`` without ``resume``, nothing to resume, or settings
            that differ from the checkpoint's; :class:`TrainingDiverged` on a non-finite loss.
    """
    started = time.perf_counter()
    if max_minutes is not None and not 0 < max_minutes < 1e6:
        raise ConfigError(f"max_minutes: expected a positive number of minutes, found {max_minutes}")
    deadline = None if max_minutes is None else started + 60.0 * max_minutes
    out_dir = Path(out_dir)
    device = _resolve_device(config.device)
    model_config = config.model_config()
    existing = list_checkpoints(out_dir)
    if resume and not existing:
        raise ConfigError(f"--resume: no checkpoint in {out_dir / 'checkpoints'} to continue from (a run stopped "
                          "before its first checkpoint starts again without --resume)")  # fmt: skip
    if not resume and existing:
        raise ConfigError(f"--out {out_dir}: already holds a training run; pass --resume to continue it or choose "
                          "another folder")  # fmt: skip
    codec = PatchDCTCodec(model_config.in_channels, config.spatial_factor)
    builder = None
    if model_config.cache_channels:
        builder = WindowCacheBuilder(codec, config.frame_size, config.cache_augment)
        if model_config.cache_channels != builder.channels():
            raise ConfigError(f"cache_channels: expected {builder.channels()} (the codec's {codec.latent_channels} "
                              f"latent channels + coverage), found {model_config.cache_channels}")  # fmt: skip
    data = TrainingData(clips, codec, config.frame_size, config.window_latent_frames, config.seed, builder,
                        reanchored=config.objective.reanchor_prob > 0)  # fmt: skip

    previous_threads = torch.get_num_threads()
    if config.threads:
        torch.set_num_threads(config.threads)
    try:
        return _run(config, model_config, data, out_dir, device, progress, existing[-1] if resume else None,
                    deadline)  # fmt: skip
    finally:
        torch.set_num_threads(previous_threads)


def _run(config: TrainConfig, model_config: SanaWMConfig, data: TrainingData, out_dir: Path, device: torch.device,
         progress: Callable[[StepReport], None] | None, resume_from: Path | None,
         deadline: float | None) -> TrainResult:  # fmt: skip
    model = build_model(config, load_init=resume_from is None).to(device).train()
    ema = copy.deepcopy(model).eval().requires_grad_(False)
    optimizer = make_optimizer(model, config)
    state = RunState()
    config_json = json.dumps(config.to_dict(), sort_keys=True)
    if resume_from is not None:
        payload = load_checkpoint(resume_from)
        check_resume(payload["config"], config, resume_from)
        model.load_state_dict(payload["model"])
        ema.load_state_dict(payload["ema"])
        if payload["optimizer"]:
            optimizer.load_state_dict(payload["optimizer"])
        else:
            log.warning("%s holds no optimizer state: AdamW starts with fresh moments", resume_from)
        restore_rng(payload["rng"])
        state = run_state(payload)
        if not payload["optimizer"]:
            state.rewarm_from = state.step
        log.info("resuming from %s (step %d)", resume_from, state.step)
    parameters = sum(p.numel() for p in model.parameters())
    write_run_config(out_dir, config, model_config, parameters, len(data), state.step, environment(device))
    autocast = (lambda: torch.autocast(device.type, dtype=torch.bfloat16)) if config.bf16 else (lambda: None)

    last_checkpoint = resume_from  # the loop always checkpoints its last step
    last_checkpoint_time = time.perf_counter()
    stopped_early = False
    pin = device.type == "cuda" and config.data_workers > 0
    batches = batch_stream(data, state.samples_seen, config.batch_size, config.data_workers, pin_memory=pin)
    try:
        while state.step < config.steps and not stopped_early:
            started = time.perf_counter()
            lr = learning_rate(config, state.step, state.rewarm_from)
            for group in optimizer.param_groups:
                group["lr"] = lr
            batch = next(batches).to(device, non_blocking=True)
            data_wait = time.perf_counter() - started  # the step waited this long for its windows
            out = flow_matching_loss(model, batch, config.objective, step_generator(config.seed, state.step),
                                     autocast=autocast())  # fmt: skip
            if not torch.isfinite(out.loss):
                raise TrainingDiverged(
                    f"step {state.step + 1}: the loss is {out.stats['loss']}; lower the learning rate (--lr "
                    f"{config.lr:g}) or clip gradients, then resume from {last_checkpoint or 'the start'}"
                )
            optimizer.zero_grad(set_to_none=True)
            out.loss.backward()
            max_norm = config.grad_clip if config.grad_clip > 0 else float("inf")
            grad_norm = float(torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm))
            optimizer.step()
            update_ema(ema, model, config.ema_decay, state.step)
            state.step += 1
            state.samples_seen += config.batch_size
            now = time.perf_counter()
            elapsed = now - started
            state.wall_time_s += elapsed
            state.history.append({
                "step": state.step, "samples_seen": state.samples_seen, "loss": out.stats["loss"], "lr": lr,
                "grad_norm": grad_norm, "sigma_mean": out.stats["sigma_mean"],
                "clean_context": out.stats["clean_context"], "self_rollout": out.stats["self_rollout"],
                "samples_per_s": config.batch_size / elapsed, "elapsed_s": state.wall_time_s, "data_wait_s": data_wait,
                **{k: out.stats[k] for k in ("frame_stats", "reanchored") if k in out.stats},
            })  # fmt: skip
            stopped_early = deadline is not None and now >= deadline and state.step < config.steps
            timed = config.checkpoint_minutes > 0 and now - last_checkpoint_time >= 60.0 * config.checkpoint_minutes
            written = None
            if state.step % config.checkpoint_every == 0 or state.step == config.steps or stopped_early or timed:
                written = _checkpoint(out_dir, config, model, ema, optimizer, state, config_json)
                last_checkpoint, last_checkpoint_time = written, time.perf_counter()
            if progress is not None:
                progress(StepReport(state.step, config.steps, out.stats["loss"], lr, grad_norm,
                                    config.batch_size / elapsed, state.wall_time_s, written))  # fmt: skip
    finally:
        batches.close()  # stops the data workers

    bundle_dir = write_bundle(out_dir, config, ema, data, state, parameters, device)
    return TrainResult(out_dir, bundle_dir, state.step, state.samples_seen, final_loss(state.history),
                       state.wall_time_s, last_checkpoint, stopped_early)  # fmt: skip


def _checkpoint(out_dir: Path, config: TrainConfig, model: torch.nn.Module, ema: torch.nn.Module,
                optimizer: torch.optim.Optimizer, state: RunState, config_json: str) -> Path:  # fmt: skip
    path = save_checkpoint(checkpoint_path(out_dir, state.step), model=model, ema=ema, optimizer=optimizer,
                           state=state, config_json=config_json)  # fmt: skip
    prune_checkpoints(out_dir, config.keep_checkpoints)
    write_loss_csv(state.history, out_dir / "loss.csv")
    plot_loss(state.history, out_dir / "loss.png", title=f"{config.preset}: chunk-causal flow matching")
    return path
