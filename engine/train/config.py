"""What a training run depends on: :class:`TrainConfig` (recorded in ``config.json`` and in every checkpoint),
the learning-rate schedule it defines, and which of its fields a resumed run may change.

Used by :mod:`engine.train.loop` (the run) and by ``sana-wm train`` (:mod:`engine.commands.train`), which builds a
config from defaults, a resumed run's ``config.json``, ``--config`` and flags.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.errors import ConfigError
from engine.model.config import SanaWMConfig
from engine.train.cache_data import CacheAugment
from engine.train.data import check_window
from engine.train.objective import ObjectiveConfig

CODECS = ("patch-dct",)
LR_SCHEDULES = ("constant", "cosine")
#: TrainConfig fields a resumed run may change; any other difference is refused.
RESUMABLE_CHANGES = frozenset({"steps", "checkpoint_every", "checkpoint_minutes", "keep_checkpoints", "threads",
                               "device", "data", "data_workers"})


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
        checkpoint_minutes: also checkpoint when this much wall-clock time has passed since the last checkpoint
            (0 = off): on a lent machine that can be taken back at any moment, a checkpoint every minute bounds the
            loss whatever a step costs there.
        bf16: bf16 autocast for the forward pass (weights, optimizer and loss stay fp32).
        device: ``"cpu"``, ``"cuda"``, ``"cuda:1"`` ...; threads: torch CPU threads (None = torch's choice).
        data_workers: processes that build training windows ahead of the step (0 = in the training process);
            windows of a world-cache model cost fusions, GL renders and depth estimates on the CPU, which alone
            would leave a GPU idle (:mod:`engine.train.loader`). Batches are the same for any count.
        objective: :class:`ObjectiveConfig`.
        bundle_name: name of the bundle written at the end.
        init_from: an embedded bundle folder whose weights start the run (a fine-tune) instead of the
            from-scratch initialisation; its architecture, frame size and codec must be the run's, except that a
            model with a world-cache input may start from one without (its cache weights start at zero).
        cache_augment: how the world-cache input is perturbed (:class:`~engine.train.cache_data.CacheAugment`);
            used only by models with ``cache_channels > 0`` (``model_overrides``), which need clips with depth.
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
    checkpoint_minutes: float = 0.0
    keep_checkpoints: int = 3
    bf16: bool = False
    device: str = "cpu"
    threads: int | None = None
    data_workers: int = 0
    objective: ObjectiveConfig = field(default_factory=ObjectiveConfig)
    bundle_name: str = "sana-wm-trained"
    init_from: str | None = None
    cache_augment: CacheAugment = field(default_factory=CacheAugment)

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
        if not 0 <= self.checkpoint_minutes < 1e6:
            problems.append(f"checkpoint_minutes must be >= 0 (0 = off), got {self.checkpoint_minutes}")
        if not 0 <= self.data_workers <= 256:
            problems.append(f"data_workers must be in 0..256, got {self.data_workers}")
        if self.objective.rollout_shows_cache and not self.model_overrides.get("cache_channels"):
            problems.append("objective.rollout_shows_cache needs a model with a world-cache input "
                            "(model_overrides cache_channels > 0)")
        if self.objective.reanchor_prob > 0 and self.window_latent_frames < 10:
            problems.append(f"objective.reanchor_prob needs windows of at least 3 chunks (10 latent frames), "
                            f"found window_latent_frames {self.window_latent_frames}")
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
        if isinstance(values.get("cache_augment"), dict):
            aug_known = {f.name for f in dataclasses.fields(CacheAugment)}
            bad = sorted(set(values["cache_augment"]) - aug_known)
            if bad:
                raise ConfigError(f"unknown cache_augment field(s) {', '.join(bad)}; valid: {', '.join(sorted(aug_known))}")
            values["cache_augment"] = CacheAugment(**values["cache_augment"])
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


def learning_rate(config: TrainConfig, step: int, rewarm_from: int | None = None) -> float:
    """Learning rate of 0-based ``step``: linear warm-up, then constant or cosine to ``lr * min_lr_ratio``; a second
    linear warm-up from ``rewarm_from`` on (where a resume restarted the optimizer's moments)."""
    warm = min(1.0, (step + 1) / config.warmup_steps) if config.warmup_steps else 1.0
    if rewarm_from is not None and config.warmup_steps:
        warm *= min(1.0, (step - rewarm_from + 1) / config.warmup_steps)
    if config.lr_schedule == "constant":
        return config.lr * warm
    span = max(1, config.steps - config.warmup_steps)
    progress = min(1.0, max(0.0, (step - config.warmup_steps) / span))
    cosine = 0.5 * (1.0 + math.cos(math.pi * progress))
    return config.lr * warm * (config.min_lr_ratio + (1.0 - config.min_lr_ratio) * cosine)


def check_resume(saved_json: str, config: TrainConfig, path: Path) -> None:
    """Refuse to resume the checkpoint at ``path`` (whose config is ``saved_json``) with ``config`` if any field
    outside :data:`RESUMABLE_CHANGES` differs."""
    saved = TrainConfig.from_dict(json.loads(saved_json)).to_dict()  # fields added since then take their defaults
    now = config.to_dict()
    changed = sorted(k for k in set(saved) | set(now) if k not in RESUMABLE_CHANGES and saved.get(k) != now.get(k))
    if changed:
        details = "; ".join(f"{k}: {saved.get(k)!r} -> {now.get(k)!r}" for k in changed)
        raise ConfigError(
            f"--resume: the settings differ from the run in {path.parent.parent} ({details}); only "
            f"{', '.join(sorted(RESUMABLE_CHANGES))} may change when resuming"
        )
