"""Training the depth network on procedural frames with exact depth: resumable, CPU-friendly.

A run folder ``OUT`` holds::

    OUT/config.json                     the TrainConfig (JSON)
    OUT/checkpoints/step_0001234.pt     model + optimiser + counters (the newest 3 are kept, written atomically)
    OUT/log.csv                         step, loss, lr, seconds per step, wall time (appended)
    OUT/heldout.csv                     AbsRel / δ<1.25 on a small held-out set at every checkpoint

``train(out, config, resume=True)`` continues from the newest checkpoint: the step counter, the optimiser, the
learning-rate schedule and the data stream (clip counter) carry on; the in-memory frame pool is re-rendered
from the clips it last held. A checkpoint is written every ``checkpoint_minutes`` and at the end.

Loss: L1 between predicted and true ``log z`` over pixels with a surface, plus ``sky_weight`` times the
binary cross-entropy of the sky logit against "no surface".
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from engine.depth.data import EVAL_SEED, KEEP_FRAMES, TRAIN_SEED, FramePool, FrameSource, Frames
from engine.depth.metrics import DepthScores
from engine.depth.net import DepthNet, DepthNetConfig, to_depth
from engine.errors import CheckpointError, ConfigError
from engine.io.atomic import atomic_path, atomic_write_text

log = logging.getLogger(__name__)

CHECKPOINT_FORMAT = "sana-wm-depth-checkpoint/1"


@dataclass(frozen=True)
class DepthTrainConfig:
    """A depth training run. ``steps`` may be raised when resuming (the schedule stretches); the rest must match."""

    widths: tuple[int, ...] = (16, 32, 64, 96, 128)
    size: tuple[int, int] = (320, 176)
    #: train on random ``(W, H)`` crops of the frames (cheaper steps; the ray-slope input says where the crop
    #: lies, so the network still sees the geometry of the whole camera); None = whole frames
    crop: tuple[int, int] | None = (192, 112)
    batch_size: int = 8
    steps: int = 5000
    lr: float = 2e-3
    warmup_steps: int = 200
    min_lr_ratio: float = 0.05
    weight_decay: float = 1e-4
    sky_weight: float = 0.2
    pool_clips: int = 150
    refresh_every: int = 4
    heldout_clips: int = 8
    seed: int = 0
    threads: int = 1
    checkpoint_minutes: float = 4.0
    keep_checkpoints: int = 3
    quality: str = "default"

    def __post_init__(self) -> None:
        w, h = self.size
        if w % 16 or h % 16:
            raise ConfigError(f"depth training size: expected multiples of 16, found {w}x{h}")
        if self.crop is not None:
            cw, ch = self.crop
            if cw % 16 or ch % 16 or cw > w or ch > h or cw < 16 or ch < 16:
                raise ConfigError(f"depth training crop: expected multiples of 16 within {w}x{h}, found {cw}x{ch}")
        if self.batch_size < 2 or self.batch_size > len(KEEP_FRAMES) * self.pool_clips:
            raise ConfigError(f"depth training batch: expected 2..{len(KEEP_FRAMES) * self.pool_clips}, found {self.batch_size}")
        if self.steps < 1 or self.lr <= 0 or self.threads < 1 or self.refresh_every < 1:
            raise ConfigError("depth training: steps, lr, threads and refresh_every must be positive")

    def net_config(self) -> DepthNetConfig:
        return DepthNetConfig(widths=tuple(self.widths))

    def to_json(self) -> dict:
        d = asdict(self)
        d["widths"], d["size"] = list(self.widths), list(self.size)
        d["crop"] = None if self.crop is None else list(self.crop)
        return d

    @classmethod
    def from_json(cls, data: dict) -> "DepthTrainConfig":
        known = {f.name for f in fields(cls)}
        d = {k: v for k, v in data.items() if k in known}
        d["widths"], d["size"] = tuple(d["widths"]), tuple(d["size"])
        if d.get("crop") is not None:
            d["crop"] = tuple(d["crop"])
        return cls(**d)


def depth_loss(log_depth: torch.Tensor, sky_logit: torch.Tensor, gt: torch.Tensor, sky_weight: float = 0.2) -> torch.Tensor:
    """The training loss (module docstring). ``gt`` ``(B, H, W)`` metres, ``inf`` for sky."""
    surface = torch.isfinite(gt)
    target = torch.log(torch.where(surface, gt, torch.ones_like(gt)))
    l1 = ((log_depth - target).abs() * surface).sum() / surface.sum().clamp(min=1)
    sky = F.binary_cross_entropy_with_logits(sky_logit, (~surface).to(sky_logit.dtype))
    return l1 + sky_weight * sky


def to_tensors(frames: Frames, flip: np.ndarray | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(images (B,3,H,W) in [0,1], intrinsics (B,4), depth (B,H,W))``; rows where ``flip`` is set are mirrored
    left-right (``cx -> W - cx``)."""
    images = torch.from_numpy(frames.images).permute(0, 3, 1, 2).float().div_(255.0)
    depth = torch.from_numpy(np.ascontiguousarray(frames.depth))
    k = torch.from_numpy(np.ascontiguousarray(frames.intrinsics, np.float32)).clone()
    if flip is not None and flip.any():
        f = torch.from_numpy(flip)
        images[f] = images[f].flip(-1)
        depth = depth.clone()
        depth[f] = depth[f].flip(-1)
        k[f, 2] = images.shape[-1] - k[f, 2]
    return images, k, depth


def random_crop(frames: Frames, crop: tuple[int, int], rng: np.random.Generator) -> Frames:
    """One random ``crop = (W, H)`` window per frame; the principal point moves with it."""
    cw, ch = crop
    n, h, w = frames.depth.shape
    xs, ys = rng.integers(0, w - cw + 1, n), rng.integers(0, h - ch + 1, n)
    k = frames.intrinsics.copy()
    k[:, 2] -= xs
    k[:, 3] -= ys
    images = np.stack([im[y : y + ch, x : x + cw] for im, x, y in zip(frames.images, xs, ys)])
    depth = np.stack([d[y : y + ch, x : x + cw] for d, x, y in zip(frames.depth, xs, ys)])
    return Frames(images, depth, k, frames.world_seeds)


def train_step(net: DepthNet, optimizer: torch.optim.Optimizer, images, intrinsics, depth, sky_weight: float = 0.2) -> float:
    """One optimiser step on a batch; returns the loss before the step."""
    net.train()
    log_depth, sky = net(images, intrinsics)
    loss = depth_loss(log_depth, sky, depth, sky_weight)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
    optimizer.step()
    return float(loss.detach())


def lr_at(config: DepthTrainConfig, step: int) -> float:
    """Linear warm-up, then cosine decay to ``min_lr_ratio * lr`` at ``steps``."""
    if step < config.warmup_steps:
        return config.lr * (step + 1) / config.warmup_steps
    t = min(1.0, (step - config.warmup_steps) / max(1, config.steps - config.warmup_steps))
    return config.lr * (config.min_lr_ratio + (1 - config.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * t)))


@torch.inference_mode()
def predict_depth(net: DepthNet, frames: Frames, batch: int = 8) -> np.ndarray:
    """``(N, H, W)`` float32 metres (inf = predicted sky) for a stack of frames."""
    net.eval()
    out = []
    for a in range(0, len(frames.images), batch):
        part = Frames(*(getattr(frames, n)[a : a + batch] for n in ("images", "depth", "intrinsics", "world_seeds")))
        images, k, _ = to_tensors(part)
        out.append(to_depth(*net(images, k)).numpy())
    return np.concatenate(out).astype(np.float32)


def score(net: DepthNet, frames: Frames) -> dict[str, float]:
    scores = DepthScores()
    scores.add(predict_depth(net, frames), frames.depth)
    return scores.result()


# -- checkpoints -------------------------------------------------------------------------------------------------

def checkpoint_dir(out: Path) -> Path:
    return out / "checkpoints"


def list_checkpoints(out: str | os.PathLike) -> list[Path]:
    folder = checkpoint_dir(Path(out))
    return sorted(folder.glob("step_*.pt")) if folder.is_dir() else []


def save_checkpoint(out: Path, net: DepthNet, optimizer, step: int, next_clip: int, wall_s: float,
                    config: DepthTrainConfig, keep: int = 3) -> Path:
    path = checkpoint_dir(out) / f"step_{step:07d}.pt"
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {"format": CHECKPOINT_FORMAT, "step": step, "next_clip": next_clip, "wall_time_s": wall_s,
               "model": net.state_dict(), "optimizer": optimizer.state_dict(),
               "config": json.dumps(config.to_json())}  # fmt: skip
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)
    for old in list_checkpoints(out)[:-keep]:
        old.unlink(missing_ok=True)
    return path


def load_checkpoint(path: str | os.PathLike) -> dict:
    path = Path(path)
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for a truncated or foreign file
        raise CheckpointError(f"depth checkpoint {path}: could not read it ({exc})") from None
    if not isinstance(data, dict) or data.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"depth checkpoint {path}: expected format {CHECKPOINT_FORMAT!r}")
    return data


def net_from_checkpoint(path: str | os.PathLike) -> tuple[DepthNet, dict]:
    data = load_checkpoint(path)
    config = DepthTrainConfig.from_json(json.loads(data["config"]))
    net = DepthNet(config.net_config())
    net.load_state_dict(data["model"])
    return net.eval(), data


# -- the loop ----------------------------------------------------------------------------------------------------

@dataclass
class TrainReport:
    step: int
    loss: float
    lr: float
    seconds_per_step: float
    wall_time_s: float
    heldout: dict[str, float] | None = None


def train(out: str | os.PathLike, config: DepthTrainConfig, *, resume: bool = False,
          progress: Callable[[TrainReport], None] | None = None, max_minutes: float | None = None) -> Path:
    """Train (or continue) the run in ``out``; returns the last checkpoint's path."""
    out = Path(out)
    existing = list_checkpoints(out)
    if existing and not resume:
        raise ConfigError(f"depth run {out}: already holds checkpoints; pass --resume to continue it or choose another folder")
    if resume and not existing:
        raise ConfigError(f"depth run {out}: no checkpoints to resume from")
    torch.set_num_threads(config.threads)
    os.environ.setdefault("LP_NUM_THREADS", "1")  # read by llvmpipe when the renderer's context is made
    net = DepthNet(config.net_config())
    opt = torch.optim.AdamW(net.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    step, next_clip, wall = 0, 0, 0.0
    if resume:
        data = load_checkpoint(existing[-1])
        previous = DepthTrainConfig.from_json(json.loads(data["config"]))
        if replace(previous, steps=config.steps, threads=config.threads, checkpoint_minutes=config.checkpoint_minutes) != config:
            raise ConfigError(f"depth run {out}: the configuration differs from the run's (only --steps, --threads "
                              "and --checkpoint-minutes may change when resuming)")
        net.load_state_dict(data["model"])
        opt.load_state_dict(data["optimizer"])
        step, next_clip, wall = int(data["step"]), int(data["next_clip"]), float(data["wall_time_s"])
        log.info("depth run %s: resuming at step %d", out, step)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "config.json", json.dumps(config.to_json(), indent=1) + "\n")

    source = FrameSource(TRAIN_SEED + config.seed, config.size, config.quality)
    heldout_source = FrameSource(EVAL_SEED, config.size, config.quality)
    try:
        heldout = heldout_source.frames(0, config.heldout_clips)
        heldout_source.release()
        first = max(0, next_clip - config.pool_clips)
        pool = FramePool(source.frames(first, config.pool_clips))
        next_clip = max(next_clip, first + config.pool_clips)
        last_ckpt = time.monotonic()
        t0, wall0 = time.monotonic(), wall
        path = existing[-1] if existing else None
        with open(out / "log.csv", "a", encoding="utf-8") as log_file:
            if log_file.tell() == 0:
                log_file.write("step,loss,lr,seconds_per_step,wall_time_s\n")
            while step < config.steps:
                rng = np.random.default_rng([config.seed, step])
                if step % config.refresh_every == 0:
                    pool.replace(source.clip(next_clip), rng)
                    next_clip += 1
                batch = pool.batch(config.batch_size, rng)
                if config.crop is not None:
                    batch = random_crop(batch, config.crop, rng)
                images, k, depth = to_tensors(batch, flip=rng.random(config.batch_size) < 0.5)
                lr = lr_at(config, step)
                for group in opt.param_groups:
                    group["lr"] = lr
                ts = time.monotonic()
                loss = train_step(net, opt, images, k, depth, config.sky_weight)
                step += 1
                wall = wall0 + time.monotonic() - t0
                report = TrainReport(step, loss, lr, time.monotonic() - ts, wall)
                log_file.write(f"{step},{loss:.5f},{lr:.3e},{report.seconds_per_step:.3f},{wall:.1f}\n")
                done = step >= config.steps or (max_minutes is not None and wall - wall0 >= 60 * max_minutes)
                if done or time.monotonic() - last_ckpt >= 60 * config.checkpoint_minutes:
                    log_file.flush()
                    path = save_checkpoint(out, net, opt, step, next_clip, wall, config, config.keep_checkpoints)
                    last_ckpt = time.monotonic()
                    report.heldout = score(net, heldout)
                    with open(out / "heldout.csv", "a", encoding="utf-8") as f:
                        if f.tell() == 0:
                            f.write("step,wall_time_s,abs_rel,delta1,rmse_log\n")
                        h = report.heldout
                        f.write(f"{step},{wall:.1f},{h['abs_rel']:.4f},{h['delta1']:.4f},{h['rmse_log']:.4f}\n")
                if progress is not None:
                    progress(report)
                if done:
                    break
    finally:
        source.release()
    return path
