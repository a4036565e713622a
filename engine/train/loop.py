"""The training loop: :class:`TrainConfig` (everything a run depends on) and :func:`train`.

One step: draw the next ``batch_size`` windows (:class:`~engine.train.data.TrainingData`), compute the
chunk-causal flow-matching loss (:func:`~engine.train.objective.flow_matching_loss`) under optional bf16 autocast,
AdamW with gradient clipping and a warm-up (+ optional cosine) learning rate, then an EMA update of the weights.

A run folder ``OUT`` holds:

* ``config.json`` — the full :class:`TrainConfig`, the resolved model config, the data, and one record per
  (re)start with its environment (torch version, device, threads);
* ``checkpoints/step_NNNNNNN.pt`` every ``checkpoint_every`` steps and at the end (:mod:`engine.train.checkpoint`);
* ``loss.csv`` and ``loss.png`` (:mod:`engine.train.curves`), rewritten at every checkpoint;
* ``bundle/`` at the end — an embedded-format model bundle (:func:`engine.bundles.save_bundle`) with the EMA
  weights, the codec, the frame size, the data's median field of view as default intrinsics and a training
  summary in ``extras``.

Determinism: the model is built from ``seed``; the data order is a function of ``(seed, samples seen)``; each
step's noise and timesteps come from a generator seeded by ``(seed, step)``. A run resumed from a checkpoint
(``resume=True``) therefore continues bit for bit as if it had never stopped, given the same thread count and
device (measured on the CPU; GPU kernels may not be bitwise reproducible).
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import json
import logging
import math
import os
import platform
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import torch

from engine import __version__
from engine.io.atomic import atomic_write_text
from engine.bundles import ModelBundle, save_bundle
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
from engine.train.curves import plot_loss, write_loss_csv
from engine.train.data import TrainingData, check_window, median_intrinsics
from engine.train.init import init_weights, load_initial_weights
from engine.train.objective import ObjectiveConfig, flow_matching_loss

log = logging.getLogger(__name__)

CONFIG_FORMAT = "sana-wm-train-config/1"
CODECS = ("patch-dct",)
LR_SCHEDULES = ("constant", "cosine")
#: TrainConfig fields a resumed run may change; any other difference is refused.
RESUMABLE_CHANGES = frozenset({"steps", "checkpoint_every", "keep_checkpoints", "threads", "device", "data"})


class TrainingDiverged(ConfigError):
    """The loss became NaN or infinite (usually a learning rate that is too high)."""


@dataclass(frozen=True)
class TrainConfig:
    """Everything a training run depends on (recorded in ``config.json`` and in every checkpoint).

    Attributes:
        preset: model preset (:data:`engine.model.config.PRESETS`); ``model_overrides`` change its fields.
        codec: ``"patch-dct"`` (:class:`PatchDCTCodec` with the model's latent channels); ``spatial_factor``
            pixels per latent cell.
        frame_size: ``(width, height)`` of the training clips (and of the bundle).
        data: where the clips came from (recorded only; :func:`train` takes the clips themselves).
        batch_size: windows per step; ``window_latent_frames``: ``1 + 3k`` latent frames per window.
        steps: total optimizer steps of the run.
        lr, lr_schedule, min_lr_ratio, warmup_steps: AdamW learning rate; linear warm-up over ``warmup_steps``,
            then constant or cosine decay to ``lr * min_lr_ratio`` at ``steps``.
        weight_decay, betas: AdamW (decay on matrices only, not on biases, norms, gates or tables).
        grad_clip: max global gradient norm (0 = no clipping).
        ema_decay: EMA of the weights (the shipped weights); warmed up as ``min(decay, (1 + n) / (10 + n))``.
        seed: model init, data order, noise.
        checkpoint_every, keep_checkpoints: checkpoint interval in steps; how many to keep (0 = all).
        bf16: bf16 autocast for the forward pass (weights, optimizer and loss stay fp32).
        device: ``"cpu"``, ``"cuda"``, ``"cuda:1"`` ...; threads: torch CPU threads (None = torch's choice).
        objective: :class:`ObjectiveConfig`.
        bundle_name: name of the bundle written at the end.
        init_from: an embedded bundle folder whose weights start the run (a fine-tune) instead of the
            from-scratch initialisation; its architecture, frame size and codec must be the run's.
    """

    preset: str = "sana-wm-small"
    model_overrides: dict[str, Any] = field(default_factory=dict)
    codec: str = "patch-dct"
    spatial_factor: int = 16
    frame_size: tuple[int, int] = (320, 176)
    data: str | None = None
    batch_size: int = 2
    window_latent_frames: int = 7
    steps: int = 1000
    lr: float = 3e-4
    lr_schedule: str = "cosine"
    min_lr_ratio: float = 0.1
    warmup_steps: int = 100
    weight_decay: float = 0.01
    betas: tuple[float, float] = (0.9, 0.999)
    grad_clip: float = 1.0
    ema_decay: float = 0.999
    seed: int = 0
    checkpoint_every: int = 100
    keep_checkpoints: int = 3
    bf16: bool = False
    device: str = "cpu"
    threads: int | None = None
    objective: ObjectiveConfig = field(default_factory=ObjectiveConfig)
    bundle_name: str = "sana-wm-trained"
    init_from: str | None = None

    def __post_init__(self) -> None:
        problems = []
        positive = ("spatial_factor", "batch_size", "steps", "checkpoint_every")
        problems += [f"{name} must be >= 1, got {getattr(self, name)}" for name in positive if getattr(self, name) < 1]
        if self.codec not in CODECS:
            problems.append(f"codec must be one of {', '.join(CODECS)}, got {self.codec!r}")
        if len(self.frame_size) != 2 or min(self.frame_size) < 1:
            problems.append(f"frame_size must be (width, height) > 0, got {self.frame_size}")
        elif self.frame_size[0] % self.spatial_factor or self.frame_size[1] % self.spatial_factor:
            problems.append(f"frame_size {self.frame_size[0]}x{self.frame_size[1]} is not a multiple of the "
                            f"spatial factor {self.spatial_factor}")  # fmt: skip
        if not self.lr > 0:
            problems.append(f"lr must be positive, got {self.lr}")
        if self.lr_schedule not in LR_SCHEDULES:
            problems.append(f"lr_schedule must be one of {', '.join(LR_SCHEDULES)}, got {self.lr_schedule!r}")
        if not 0 <= self.min_lr_ratio <= 1:
            problems.append(f"min_lr_ratio must be in [0, 1], got {self.min_lr_ratio}")
        if self.warmup_steps < 0 or self.weight_decay < 0 or self.grad_clip < 0 or self.keep_checkpoints < 0:
            problems.append("warmup_steps, weight_decay, grad_clip and keep_checkpoints must be >= 0")
        if not 0 <= self.ema_decay < 1:
            problems.append(f"ema_decay must be in [0, 1), got {self.ema_decay}")
        if self.threads is not None and self.threads < 1:
            problems.append(f"threads must be >= 1, got {self.threads}")
        if problems:
            raise ConfigError("invalid training config: " + "; ".join(problems))
        check_window(self.window_latent_frames)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (tuples as lists, the objective nested)."""
        return json.loads(json.dumps(dataclasses.asdict(self)))

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrainConfig:
        """Inverse of :meth:`to_dict`; unknown keys are an error (they would be silently ignored otherwise)."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ConfigError(
                f"unknown training config field(s) {', '.join(unknown)}; valid: {', '.join(sorted(known))}"
            )
        values = dict(values)
        if isinstance(values.get("objective"), dict):
            obj_known = {f.name for f in dataclasses.fields(ObjectiveConfig)}
            bad = sorted(set(values["objective"]) - obj_known)
            if bad:
                raise ConfigError(f"unknown objective field(s) {', '.join(bad)}; valid: {', '.join(sorted(obj_known))}")
            values["objective"] = ObjectiveConfig(**values["objective"])
        for key in ("frame_size", "betas"):
            if key in values:
                values[key] = tuple(values[key])
        try:
            return cls(**values)
        except TypeError as exc:
            raise ConfigError(f"invalid training config: {exc}") from None

    def model_config(self) -> SanaWMConfig:
        """The resolved model config (preset + overrides); text conditioning is refused (the data has no captions)."""
        config = SanaWMConfig.from_preset(self.preset, **self.model_overrides)
        if config.text_conditioning:
            raise ConfigError(
                f"preset {self.preset!r} is text-conditioned, but training data has no captions: "
                "override caption_channels=null"
            )
        return config


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


def learning_rate(config: TrainConfig, step: int) -> float:
    """Learning rate of 0-based ``step``: linear warm-up, then constant or cosine to ``lr * min_lr_ratio``."""
    warm = min(1.0, (step + 1) / config.warmup_steps) if config.warmup_steps else 1.0
    if config.lr_schedule == "constant":
        return config.lr * warm
    span = max(1, config.steps - config.warmup_steps)
    progress = min(1.0, max(0.0, (step - config.warmup_steps) / span))
    cosine = 0.5 * (1.0 + math.cos(math.pi * progress))
    return config.lr * warm * (config.min_lr_ratio + (1.0 - config.min_lr_ratio) * cosine)


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


def environment(device: torch.device) -> dict[str, Any]:
    """Where a run executes: versions, device, threads (recorded in ``config.json`` and the bundle)."""
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
    else:
        name = platform.processor() or platform.machine()
        with contextlib.suppress(OSError):
            for line in Path("/proc/cpuinfo").read_text().splitlines():
                if line.startswith("model name"):
                    name = line.split(":", 1)[1].strip()
                    break
    return {
        "engine": __version__,
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "numpy": np.__version__,
        "platform": platform.platform(),
        "device": str(device),
        "device_name": name,
        "threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(),
    }


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


def _check_resume(saved_json: str, config: TrainConfig, path: Path) -> None:
    saved = TrainConfig.from_dict(json.loads(saved_json)).to_dict()  # fields added since then take their defaults
    now = config.to_dict()
    changed = sorted(k for k in set(saved) | set(now) if k not in RESUMABLE_CHANGES and saved.get(k) != now.get(k))
    if changed:
        details = "; ".join(f"{k}: {saved.get(k)!r} -> {now.get(k)!r}" for k in changed)
        raise ConfigError(
            f"--resume: the settings differ from the run in {path.parent.parent} ({details}); only "
            f"{', '.join(sorted(RESUMABLE_CHANGES))} may change when resuming"
        )


def _write_config(out_dir: Path, config: TrainConfig, model_config: SanaWMConfig, parameters: int,
                  clips: int, start_step: int, env: dict[str, Any]) -> None:  # fmt: skip
    path = out_dir / "config.json"
    runs: list[dict[str, Any]] = []
    if start_step > 0 and path.is_file():
        with contextlib.suppress(OSError, ValueError):
            runs = list(json.loads(path.read_text()).get("runs", []))
    runs.append({"started_at": datetime.now(timezone.utc).isoformat(timespec="seconds"), "start_step": start_step,
                 "environment": env})  # fmt: skip
    record = {
        "format": CONFIG_FORMAT,
        "train": config.to_dict(),
        "model": {k: v for k, v in dataclasses.asdict(model_config).items()},
        "parameters": parameters,
        "data": {"path": config.data, "clips": clips, "frame_size": list(config.frame_size),
                 "window_latent_frames": config.window_latent_frames,
                 "window_pixel_frames": 8 * (config.window_latent_frames - 1) + 1},  # fmt: skip
        "runs": runs,
    }
    atomic_write_text(path, json.dumps(record, indent=2) + "\n")


def train(
    config: TrainConfig,
    clips: Sequence[Any],
    out_dir: str | Path,
    progress: Callable[[StepReport], None] | None = None,
    *,
    resume: bool = False,
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
            :data:`RESUMABLE_CHANGES` may differ from the checkpoint's config (e.g. more ``steps``).

    Raises:
        ConfigError: invalid settings, an occupied ``out_dir`` without ``resume``, nothing to resume, or settings
            that differ from the checkpoint's; :class:`TrainingDiverged` on a non-finite loss.
    """
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
    data = TrainingData(clips, codec, config.frame_size, config.window_latent_frames, config.seed)

    previous_threads = torch.get_num_threads()
    if config.threads:
        torch.set_num_threads(config.threads)
    try:
        return _run(config, model_config, data, out_dir, device, progress, existing[-1] if resume else None)
    finally:
        torch.set_num_threads(previous_threads)


def _run(config: TrainConfig, model_config: SanaWMConfig, data: TrainingData, out_dir: Path, device: torch.device,
         progress: Callable[[StepReport], None] | None, resume_from: Path | None) -> TrainResult:  # fmt: skip
    model = build_model(config, load_init=resume_from is None).to(device).train()
    ema = copy.deepcopy(model).eval().requires_grad_(False)
    optimizer = make_optimizer(model, config)
    state = RunState()
    config_json = json.dumps(config.to_dict(), sort_keys=True)
    if resume_from is not None:
        payload = load_checkpoint(resume_from)
        _check_resume(payload["config"], config, resume_from)
        model.load_state_dict(payload["model"])
        ema.load_state_dict(payload["ema"])
        optimizer.load_state_dict(payload["optimizer"])
        restore_rng(payload["rng"])
        state = run_state(payload)
        log.info("resuming from %s (step %d)", resume_from, state.step)
    parameters = sum(p.numel() for p in model.parameters())
    _write_config(out_dir, config, model_config, parameters, len(data), state.step, environment(device))
    autocast = (lambda: torch.autocast(device.type, dtype=torch.bfloat16)) if config.bf16 else (lambda: None)

    last_checkpoint = resume_from  # the loop always checkpoints its last step
    while state.step < config.steps:
        started = time.perf_counter()
        lr = learning_rate(config, state.step)
        for group in optimizer.param_groups:
            group["lr"] = lr
        batch = data.batch(state.samples_seen, config.batch_size).to(device)
        out = flow_matching_loss(model, batch, config.objective, step_generator(config.seed, state.step),
                                 autocast=autocast())  # fmt: skip
        if not torch.isfinite(out.loss):
            raise TrainingDiverged(
                f"step {state.step + 1}: the loss is {out.stats['loss']}; lower the learning rate (--lr {config.lr:g}) "
                f"or clip gradients, then resume from {last_checkpoint or 'the start'}"
            )
        optimizer.zero_grad(set_to_none=True)
        out.loss.backward()
        max_norm = config.grad_clip if config.grad_clip > 0 else float("inf")
        grad_norm = float(torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm))
        optimizer.step()
        update_ema(ema, model, config.ema_decay, state.step)
        state.step += 1
        state.samples_seen += config.batch_size
        elapsed = time.perf_counter() - started
        state.wall_time_s += elapsed
        state.history.append({
            "step": state.step, "samples_seen": state.samples_seen, "loss": out.stats["loss"], "lr": lr,
            "grad_norm": grad_norm, "sigma_mean": out.stats["sigma_mean"], "clean_context": out.stats["clean_context"],
            "self_rollout": out.stats["self_rollout"], "samples_per_s": config.batch_size / elapsed,
            "elapsed_s": state.wall_time_s,
        })  # fmt: skip
        written = None
        if state.step % config.checkpoint_every == 0 or state.step == config.steps:
            written = _checkpoint(out_dir, config, model, ema, optimizer, state, config_json)
            last_checkpoint = written
        if progress is not None:
            progress(StepReport(state.step, config.steps, out.stats["loss"], lr, grad_norm,
                                config.batch_size / elapsed, state.wall_time_s, written))  # fmt: skip

    bundle_dir = _write_bundle(out_dir, config, ema, data, state, parameters, device)
    return TrainResult(out_dir, bundle_dir, state.step, state.samples_seen, _final_loss(state.history),
                       state.wall_time_s, last_checkpoint)  # fmt: skip


def _checkpoint(out_dir: Path, config: TrainConfig, model: torch.nn.Module, ema: torch.nn.Module,
                optimizer: torch.optim.Optimizer, state: RunState, config_json: str) -> Path:  # fmt: skip
    path = save_checkpoint(checkpoint_path(out_dir, state.step), model=model, ema=ema, optimizer=optimizer,
                           state=state, config_json=config_json)  # fmt: skip
    prune_checkpoints(out_dir, config.keep_checkpoints)
    write_loss_csv(state.history, out_dir / "loss.csv")
    plot_loss(state.history, out_dir / "loss.png", title=f"{config.preset}: chunk-causal flow matching")
    return path


def _final_loss(history: list[dict[str, float]]) -> float:
    """Mean loss of the last 10% of steps (at least one): a less noisy summary than the last step."""
    if not history:
        return float("nan")
    tail = history[-max(1, len(history) // 10) :]
    return float(np.mean([row["loss"] for row in tail]))


def _base_bundle_record(folder: str) -> dict[str, Any]:
    """Name, label and training summary of a fine-tune's starting bundle (its lineage), from its bundle.json."""
    record: dict[str, Any] = {"path": folder, "name": Path(folder).name}
    with contextlib.suppress(OSError, ValueError):
        meta = json.loads((Path(folder) / "bundle.json").read_text())
        record.update(name=meta.get("name", record["name"]), label=meta.get("label", ""),
                      training=meta.get("extras", {}).get("training"))  # fmt: skip
    return record


def _write_bundle(out_dir: Path, config: TrainConfig, ema: SanaWMTransformer, data: TrainingData, state: RunState,
                  parameters: int, device: torch.device) -> Path:  # fmt: skip
    env = environment(device)
    summary = {
        "steps": state.step,
        "samples_seen": state.samples_seen,
        "wall_time_s": round(state.wall_time_s, 3),
        "final_loss": _final_loss(state.history),
        "clips": len(data),
        "data": config.data,
        "preset": config.preset,
        "parameters": parameters,
        "seed": config.seed,
        "device": env["device"],
        "device_name": env["device_name"],
        "threads": env["threads"],
        "torch": env["torch"],
        "weights": "EMA",
    }
    label = f"trained {state.step} steps on {len(data)} clips"
    if config.init_from:
        base = _base_bundle_record(config.init_from)
        summary["init_from"] = base
        label = f"{base.get('label') or base['name']}, then {state.step} steps" + (
            " with self-rollout context" if config.objective.self_rollout_prob > 0 else ""
        )
    model = copy.deepcopy(ema).cpu().eval()
    bundle = ModelBundle(
        name=config.bundle_name,
        transformer=model,
        codec=data.codec,
        frame_size=config.frame_size,
        default_intrinsics=median_intrinsics(data.clips, config.frame_size),
        label=label,
        extras={"training": summary, "train_config": config.to_dict()},
        context_frames=config.window_latent_frames,
    )
    return save_bundle(bundle, out_dir / "bundle")
