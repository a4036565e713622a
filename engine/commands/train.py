"""``sana-wm train``: train a small SANA-WM model on a dataset folder, resumably.

Settings come from, in increasing priority: the defaults of :class:`~engine.train.config.TrainConfig` (or the
recorded config of the run being resumed, or ``--config FILE``), then the flags given on the command line. For a
new run without ``--size`` the frame size is the dataset's. Writes the run folder described in
:mod:`engine.train.loop` and prints one progress line (step, loss, learning rate, samples/s, time left).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from engine.commands.arguments import image_size
from engine.errors import ConfigError, InputFileError
from engine.model.config import PRESETS
from engine.synth.dataset import read_clip
from engine.train.config import LR_SCHEDULES, TrainConfig
from engine.train.data import ClipFolder, read_raw_clip
from engine.train.loop import StepReport, train
from engine.train.objective import TIMESTEP_SAMPLINGS

#: Flag destination -> TrainConfig field (top level).
_TOP = {
    "preset": "preset", "size": "frame_size", "spatial_factor": "spatial_factor", "batch": "batch_size",
    "window": "window_latent_frames", "steps": "steps", "lr": "lr", "lr_schedule": "lr_schedule",
    "min_lr_ratio": "min_lr_ratio", "warmup": "warmup_steps", "weight_decay": "weight_decay",
    "grad_clip": "grad_clip", "ema_decay": "ema_decay", "seed": "seed", "checkpoint_every": "checkpoint_every",
    "keep_checkpoints": "keep_checkpoints", "bf16": "bf16", "device": "device", "threads": "threads",
    "name": "bundle_name", "checkpoint_minutes": "checkpoint_minutes", "data_workers": "data_workers",
}  # fmt: skip
#: Flag destination -> ObjectiveConfig field.
_OBJECTIVE = {
    "clean_context_prob": "clean_context_prob", "context_noise": "context_noise",
    "timestep_sampling": "timestep_sampling", "shift": "shift", "window_chunks": "window_chunks",
    "self_rollout_prob": "self_rollout_prob", "rollout_shows_cache": "rollout_shows_cache",
    "frame_stats_weight": "frame_stats_weight", "reanchor_prob": "reanchor_prob",
    "context_haze_prob": "context_haze_prob",
    "context_haze_contrast": "context_haze_contrast", "context_haze_shift": "context_haze_shift",
}  # fmt: skip


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train",
        help="train a small model on a dataset folder (chunk-causal flow matching, resumable)",
        description="Train a SANA-WM preset chunk-causally (diffusion forcing with clean-context batches) on the "
        "clips of a dataset folder (index.json + clips/*.npz with frames, c2w, intrinsics). Writes config.json, "
        "checkpoints/, loss.csv, loss.png and, at the end, an embedded model bundle in OUT/bundle.",
    )
    io = p.add_argument_group("run")
    io.add_argument("--data", type=Path, required=True, help="dataset folder (index.json + clips/)")
    io.add_argument("--out", type=Path, required=True, help="run folder (created; must hold no checkpoints unless --resume)")
    io.add_argument("--resume", action="store_true", help="continue the run in --out from its newest checkpoint")
    io.add_argument("--config", type=Path, help="start from a recorded config.json (flags still override it)")
    io.add_argument("--quiet", action="store_true", help="no progress line")
    m = p.add_argument_group("model and data")
    m.add_argument("--preset", choices=sorted(PRESETS), help="model preset (default sana-wm-small)")
    m.add_argument("--override", action="append", default=[], metavar="FIELD=VALUE",
                   help="change a model config field, e.g. depth=4 (JSON values; repeatable)")  # fmt: skip
    m.add_argument("--size", type=image_size, metavar="WxH", help="frame size (default: the dataset's)")
    m.add_argument("--spatial-factor", type=int, help="pixels per latent cell (default 16)")
    m.add_argument("--window", type=int, help="latent frames per training window, 1+3k (default 7 = 49 frames)")
    m.add_argument("--name", help="name of the bundle written at the end (default sana-wm-trained)")
    m.add_argument("--init-from", metavar="BUNDLE",
                   help="fine-tune: start from this embedded bundle's weights (same preset, size and codec)")
    o = p.add_argument_group("optimisation")
    o.add_argument("--steps", type=int, help="total optimizer steps (default 1000)")
    o.add_argument("--batch", type=int, help="windows per step (default 2)")
    o.add_argument("--lr", type=float, help="peak learning rate (default 3e-4)")
    o.add_argument("--lr-schedule", choices=LR_SCHEDULES, help="after warm-up (default cosine)")
    o.add_argument("--min-lr-ratio", type=float, help="cosine floor as a fraction of --lr (default 0.1)")
    o.add_argument("--warmup", type=int, help="linear warm-up steps (default 100)")
    o.add_argument("--weight-decay", type=float, help="AdamW weight decay (default 0.01)")
    o.add_argument("--grad-clip", type=float, help="max gradient norm, 0 = off (default 1.0)")
    o.add_argument("--ema-decay", type=float, help="EMA of the weights that are shipped (default 0.999)")
    o.add_argument("--seed", type=int, help="model init, data order and noise (default 0)")
    o.add_argument("--checkpoint-every", type=int, help="steps between checkpoints (default 100)")
    o.add_argument("--checkpoint-minutes", type=float,
                   help="also checkpoint after this many minutes since the last checkpoint (default 0 = off)")
    o.add_argument("--keep-checkpoints", type=int, help="checkpoints kept, 0 = all (default 3)")
    o.add_argument("--max-minutes", type=float,
                   help="stop this start of the run after this many minutes: checkpoint, write the bundle; "
                   "--resume continues (default: run to --steps)")
    o.add_argument("--bf16", action=argparse.BooleanOptionalAction, default=None, help="bf16 autocast (default off)")
    o.add_argument("--device", help="cpu, cuda, cuda:N (default cpu)")
    o.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice)")
    o.add_argument("--data-workers", type=int,
                   help="processes that build training windows ahead of the step; the batches are the same for "
                   "any count (default 0: in the training process)")
    obj = p.add_argument_group("objective")
    obj.add_argument("--clean-context-prob", type=float, help="share of clean-context samples (default 0.5)")
    obj.add_argument("--context-noise", type=float, help="max noise on clean context frames (default 0 = off)")
    obj.add_argument("--timestep-sampling", choices=TIMESTEP_SAMPLINGS, help="default logit-normal")
    obj.add_argument("--shift", type=float, help="timestep shift (default 3)")
    obj.add_argument("--window-chunks", type=int, help="cached chunks seen by softmax blocks (default 2, as streaming)")
    obj.add_argument("--self-rollout-prob", type=float,
                     help="share of samples whose context chunks are the model's own streaming rollout (default 0)")
    obj.add_argument("--rollout-shows-cache", action="store_true", default=None,
                     help="the rollout's context is the one sessions show the model: cells the world-cache input "
                          "covers entirely take its latent (models with a cache input)")
    obj.add_argument("--frame-stats-weight", type=float,
                     help="weight of a loss on each frame's latent mean and contrast against the truth's "
                          "(default 0 = off; aimed at washed-out long rollouts)")
    obj.add_argument("--reanchor-prob", type=float,
                     help="share of batches whose windows are cut as a session re-anchors them, the sink a generated "
                          "frame (needs windows of at least 10 latent frames; default 0 = off)")
    obj.add_argument("--context-haze-prob", type=float,
                     help="share of clean-context samples whose context is washed out (contrast and brightness) "
                          "while the target stays true (default 0 = off)")
    obj.add_argument("--context-haze-contrast", type=float, help="lowest contrast of a hazy context (default 0.3)")
    obj.add_argument("--context-haze-shift", type=float,
                     help="largest brightness shift of a hazy context, latent DC units (default 0.3)")
    p.set_defaults(handler=run)


def _bundle_folder(text: str) -> str:
    """``--init-from``: an embedded bundle folder, as an absolute path (the config records it)."""
    path = Path(text).expanduser()
    if not (path / "bundle.json").is_file():
        raise InputFileError(f"--init-from {text}: expected an embedded model bundle folder with bundle.json, "
                             "found none there")  # fmt: skip
    return str(path.resolve())


def _parse_override(text: str) -> tuple[str, Any]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise ConfigError(f"--override {text!r}: expected FIELD=VALUE, e.g. depth=4")
    try:
        return key.strip(), json.loads(value)
    except ValueError:
        return key.strip(), value


def read_training_clip(path: Path):
    """A clip archive with JPEG-compressed frames (the ``sana-wm synth`` default) goes through the synth reader;
    one with raw ``frames`` needs only ``frames``, ``c2w`` and ``intrinsics``."""
    with np.load(path, allow_pickle=False) as data:
        compressed = "frames_jpeg" in data.files
    return read_clip(path) if compressed else read_raw_clip(path)


def _read_config(path: Path, what: str) -> TrainConfig:
    if not path.is_file():
        raise InputFileError(f"{what} {path}: not found")
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise InputFileError(f"{what} {path}: could not read it as JSON ({exc})") from None
    return TrainConfig.from_dict(record.get("train", record) if isinstance(record, dict) else {})


def resolve_config(args: argparse.Namespace, clips: ClipFolder) -> TrainConfig:
    """The run's TrainConfig from the base (defaults / resumed run / --config) and the flags given."""
    if args.resume:
        base = _read_config(args.out / "config.json", "--resume: the run's config")
    elif args.config is not None:
        base = _read_config(args.config, "--config")
    else:
        base = TrainConfig(frame_size=clips[0].frame_size if args.size is None else args.size)
    top = {field: getattr(args, dest) for dest, field in _TOP.items() if getattr(args, dest) is not None}
    objective = {field: getattr(args, dest) for dest, field in _OBJECTIVE.items() if getattr(args, dest) is not None}
    if args.init_from is not None:
        top["init_from"] = _bundle_folder(args.init_from)
    if args.override:
        top["model_overrides"] = {**base.model_overrides, **dict(_parse_override(t) for t in args.override)}
    values = {**base.to_dict(), **top, "data": str(args.data)}
    values["objective"] = {**dataclasses.asdict(base.objective), **objective}
    return TrainConfig.from_dict(values)


class TrainProgress:
    """One status line: ``step 120/1000  loss 0.4312  lr 3.0e-04  2.1 samples/s  eta 7m02s`` (stderr).

    The loss shown is an exponential moving average (single steps are noisy). On a terminal the line is redrawn
    every step; otherwise a line is printed every ``interval_s`` seconds, at checkpoints and at the end.
    """

    def __init__(self, enabled: bool = True, interval_s: float = 10.0) -> None:
        self.enabled = enabled
        self.stream = sys.stderr
        self.interactive = self.stream.isatty()
        self.interval_s = interval_s
        self._loss: float | None = None
        self._rate: float | None = None
        self._last = 0.0

    def __call__(self, report: StepReport) -> None:
        self._loss = report.loss if self._loss is None else 0.9 * self._loss + 0.1 * report.loss
        self._rate = report.samples_per_s if self._rate is None else 0.9 * self._rate + 0.1 * report.samples_per_s
        if not self.enabled:
            return
        per_step = report.elapsed_s / max(report.step, 1)
        eta = _duration(per_step * (report.steps - report.step))
        text = (f"step {report.step}/{report.steps}  loss {self._loss:.4f}  lr {report.lr:.1e}  "
                f"{self._rate:.2f} samples/s  eta {eta}")  # fmt: skip
        if report.checkpoint is not None:
            text += f"  [checkpoint {report.checkpoint.name}]"
        now = time.perf_counter()
        if self.interactive:
            self.stream.write("\r" + text + "   ")
            if report.checkpoint is not None or report.step == report.steps:
                self.stream.write("\n")
            self.stream.flush()
        elif report.checkpoint is not None or report.step == report.steps or now - self._last >= self.interval_s:
            self.stream.write(text + "\n")
            self._last = now


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s"


def run(args: argparse.Namespace) -> int:
    clips = ClipFolder(args.data, reader=read_training_clip)
    config = resolve_config(args, clips)
    progress = TrainProgress(enabled=not args.quiet)
    try:
        result = train(config, clips, args.out, progress, resume=args.resume, max_minutes=args.max_minutes)
    except KeyboardInterrupt:
        print(f"\nsana-wm: interrupted; continue from the last checkpoint with: sana-wm train --data {args.data} "
              f"--out {args.out} --resume", file=sys.stderr)  # fmt: skip
        return 130
    print(f"trained {result.steps} steps ({result.samples_seen} samples) in {_duration(result.wall_time_s)}; "
          f"final loss {result.final_loss:.4f}")  # fmt: skip
    if result.stopped_early:
        print(f"stopped after --max-minutes {args.max_minutes:g} at step {result.steps} of {config.steps}; continue "
              f"with: sana-wm train --data {args.data} --out {args.out} --resume")  # fmt: skip
    print(f"bundle: {result.bundle_dir}")
    print(f"checkpoint: {result.last_checkpoint}")
    return 0

