"""Frames with exact depth for training and evaluating the depth network, rendered from procedural worlds.

Frames come from :class:`engine.synth.dataset.ClipMaker` (the same worlds, paths, FOVs (30-100°) and eye
heights as the dataset clips) with the renderer's exact depth. Training and held-out evaluation use different
dataset seeds (:data:`TRAIN_SEED`, :data:`EVAL_SEED`), hence different worlds: a world seed is drawn from
``(dataset seed, world index)`` with 63 random bits.

Training keeps a :class:`FramePool` in memory and replaces a few of its frames with freshly rendered ones as it
goes, so the network keeps seeing new worlds at a rendering cost well below that of the optimiser step.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from engine.synth.dataset import DatasetConfig

log = logging.getLogger(__name__)

TRAIN_SEED = 1601
EVAL_SEED = 916_001
#: Frames of each 9-frame clip that are kept (the others are near-duplicates).
KEEP_FRAMES = (0, 4, 8)


def clip_config(seed: int, clips: int, size: tuple[int, int] = (320, 176), quality: str = "default",
                clips_per_world: int = 2) -> DatasetConfig:
    """The dataset configuration the depth frames are drawn from (9-frame clips with depth)."""
    return DatasetConfig(seed=seed, clips=clips, num_frames=9, size=size, clips_per_world=clips_per_world,
                         quality=quality, frames_codec="raw", depth=True)  # fmt: skip


@dataclass
class Frames:
    """A stack of frames: ``images`` (N, H, W, 3) uint8, ``depth`` (N, H, W) float32 metres (inf = sky),
    ``intrinsics`` (N, 4) float32, ``world_seeds`` (N,) int64."""

    images: np.ndarray
    depth: np.ndarray
    intrinsics: np.ndarray
    world_seeds: np.ndarray


class FrameSource:
    """Renders frames with depth from clip ``index`` of a dataset seed (one renderer, kept)."""

    def __init__(self, seed: int, size: tuple[int, int] = (320, 176), quality: str = "default") -> None:
        from engine.synth.dataset import ClipMaker

        self.config = clip_config(seed, 1 << 30, size, quality)
        self.maker = ClipMaker(self.config)

    def clip(self, index: int, keep: tuple[int, ...] = KEEP_FRAMES) -> Frames:
        clip = self.maker.make(index)
        k = list(keep)
        n = len(k)
        return Frames(clip.frames[k], clip.depth[k], clip.plan.intrinsics[k].astype(np.float32),
                      np.full(n, clip.spec.world_seed, np.int64))  # fmt: skip

    def frames(self, first: int, count: int, keep: tuple[int, ...] = KEEP_FRAMES) -> Frames:
        return concat([self.clip(i, keep) for i in range(first, first + count)])

    def release(self) -> None:
        self.maker.release()


def concat(parts: list[Frames]) -> Frames:
    return Frames(*(np.concatenate([getattr(p, f) for p in parts]) for f in ("images", "depth", "intrinsics", "world_seeds")))


def frames_from_dataset(folder, max_clips: int | None = None, keep: tuple[int, ...] | None = None) -> Frames:
    """Frames with depth from a ``sana-wm synth dataset`` folder (format version 2 with depth)."""
    from pathlib import Path

    from engine.errors import InputFileError
    from engine.synth.dataset import read_clip, read_index

    index = read_index(folder)
    parts = []
    for record in index["clips"][:max_clips]:
        path = Path(folder) / record["file"]
        clip = read_clip(path)
        if clip["depth"] is None:
            raise InputFileError(f"synth clip {path}: holds no depth (format version {clip.get('format_version', 1)}; "
                                 "re-render with sana-wm synth dataset, format version 2)")
        k = list(range(len(clip["frames"]))) if keep is None else [i for i in keep if i < len(clip["frames"])]
        parts.append(Frames(clip["frames"][k], clip["depth"][k], clip["intrinsics"][k].astype(np.float32),
                            np.full(len(k), int(clip["world_seed"]), np.int64)))  # fmt: skip
    if not parts:
        raise InputFileError(f"synth dataset {folder}: lists no clips")
    return concat(parts)


class FramePool:
    """A fixed-size pool of training frames; :meth:`replace` swaps random entries for new frames."""

    def __init__(self, frames: Frames) -> None:
        self.frames = frames

    def __len__(self) -> int:
        return len(self.frames.images)

    def replace(self, new: Frames, rng: np.random.Generator) -> None:
        slots = rng.choice(len(self), size=len(new.images), replace=False)
        for name in ("images", "depth", "intrinsics", "world_seeds"):
            getattr(self.frames, name)[slots] = getattr(new, name)

    def batch(self, size: int, rng: np.random.Generator) -> Frames:
        idx = rng.choice(len(self), size=size, replace=False)
        f = self.frames
        return Frames(f.images[idx], f.depth[idx], f.intrinsics[idx], f.world_seeds[idx])
