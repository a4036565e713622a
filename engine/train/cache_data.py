"""The world-cache input of training windows (the embedded model v2, docs/embedded_model.md).

A streaming session conditions chunk ``c`` on its world cache as it stands *before* the chunk: the start image,
then every ``fuse_every``-th frame of chunks ``0 .. c - 1`` (:func:`~engine.generation.world_memory.fused_frame_indices`),
rendered at the pose of each of the chunk's latent key frames and encoded
(:func:`~engine.generation.world_memory.cache_conditioning`). A training window is built the same way from the
clip's ground-truth frames, so no render ever sees a frame of its own chunk or a later one.

What differs from inference, on purpose (:class:`CacheAugment`), so that the model copies the cache where it is
right and never depends on it being right:

* **depth**: exact (the clip's), exact with a global scale error and smooth per-frame relative noise, or predicted
  by the depth estimator that ships with the bundle (what a session uses) for a share of the samples;
* **dropout**: the whole window's cache (a session without depth), one chunk's cache (a re-anchor's pass, which
  has no cache input), or a random rectangle of cells per chunk (a cache that is wrong or missing there);
* **start frame only** (``start_only_prob``): the cache of the window's start frame alone, what a session shows
  the model (the observed voxels of its start image, not its own generated frames).

Each window costs a few fusions and one render per latent frame (GL, :class:`~engine.world_cache.CacheRenderer`),
computed on the fly: the augmentations differ per sample, so nothing is precomputed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

from engine.errors import ConfigError
from engine.generation.world_memory import (
    WorldCacheSettings,
    WorldMemory,
    cache_conditioning,
    fused_frame_indices,
    key_frame_poses,
)

#: Latent frames per chunk after chunk 0 (the streaming chunk); pixel frames per chunk = 8 * this.
CHUNK_LATENT_FRAMES = 3


@dataclass(frozen=True)
class CacheAugment:
    """How training perturbs the world-cache input (see the module docstring).

    Attributes:
        depth_scale: exact depth is scaled by ``exp(u)``, ``u ~ U(-log(1 + s), log(1 + s))`` per window (a
            monocular estimate's metric scale error).
        depth_noise: std of the smooth per-frame relative depth noise (``depth * exp(n)``, ``n`` a bilinearly
            upsampled 6x10 Gaussian field per frame).
        predicted_depth_prob: share of windows whose depth comes from the depth estimator instead (needs
            ``depth_weights``).
        depth_weights: the estimator's ``depth.safetensors`` (the one shipped beside the bundle).
        drop_all_prob: share of windows with no cache input at all (zeros).
        drop_chunk_prob: per chunk, the chance its cache input is zeros.
        drop_region_prob: per chunk, the chance a random rectangle of 20-60 % of the cells per side is zeroed.
        start_only_prob: share of windows whose cache holds the window's start frame alone, as sessions show a v2
            model (the observed voxels of its start image, :meth:`WorldMemory.model_view`); 0 draws nothing, so
            runs made before this field get the same windows.
    """

    depth_scale: float = 0.15
    depth_noise: float = 0.05
    predicted_depth_prob: float = 0.0
    depth_weights: str | None = None
    drop_all_prob: float = 0.1
    drop_chunk_prob: float = 0.1
    drop_region_prob: float = 0.3
    start_only_prob: float = 0.0

    def __post_init__(self) -> None:
        problems = []
        for name in ("predicted_depth_prob", "drop_all_prob", "drop_chunk_prob", "drop_region_prob", "start_only_prob"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                problems.append(f"{name} must be in [0, 1], got {getattr(self, name)}")
        for name in ("depth_scale", "depth_noise"):
            if not 0.0 <= getattr(self, name) < 10.0:
                problems.append(f"{name} must be in [0, 10), got {getattr(self, name)}")
        if self.predicted_depth_prob > 0 and not self.depth_weights:
            problems.append("predicted_depth_prob > 0 needs depth_weights (the estimator's depth.safetensors)")
        if problems:
            raise ConfigError("invalid cache augmentation: " + "; ".join(problems))


def chunk_of_latent(j: int) -> int:
    """The chunk that window latent frame ``j`` belongs to (chunk 0 = the image latent and the first chunk)."""
    return 0 if j <= CHUNK_LATENT_FRAMES else (j - 1) // CHUNK_LATENT_FRAMES


def fused_before_chunk(chunk: int, temporal_factor: int, fuse_every: int) -> list[int]:
    """Window pixel frames in the cache before chunk ``chunk``, in fusion order: the start image, then the frames a
    session fuses after each earlier chunk (chunk 0's frames ``0 .. n`` without frame 0, later chunks' ``n`` frames)."""
    n = CHUNK_LATENT_FRAMES * temporal_factor
    frames = [0]
    for c in range(chunk):
        if c == 0:
            frames += fused_frame_indices(n + 1, fuse_every, skip_first=True)
        else:
            frames += [1 + n * c + i for i in fused_frame_indices(n, fuse_every, skip_first=False)]
    return frames


class WindowCacheBuilder:
    """Builds ``(C + 1, W, h, w)`` cache inputs of training windows (see the module docstring).

    Args:
        codec: the bundle's frame-local codec (encodes the renders).
        frame_size: ``(width, height)`` of the clips.
        augment: perturbations.
        settings: the world cache's settings (the session's defaults).
        depth_estimator: ``depth(frames, intrinsics)`` for predicted-depth windows (loaded from
            ``augment.depth_weights`` when None and needed).
    """

    def __init__(self, codec, frame_size: tuple[int, int], augment: CacheAugment,
                 settings: WorldCacheSettings | None = None,
                 depth_estimator: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None) -> None:  # fmt: skip
        self.codec = codec
        self.frame_size = (int(frame_size[0]), int(frame_size[1]))
        self.augment = augment
        self.settings = settings or WorldCacheSettings()
        self._estimator = depth_estimator
        self._loaded_estimator = False  # True once the estimator was read from ``augment.depth_weights``
        self._memory = WorldMemory(self._depth_of_batch, self.settings)
        self._depth_batch: np.ndarray | None = None

    def __getstate__(self) -> dict:
        """Pickled for a data worker process (:mod:`engine.train.loader`): without the GL renderer (a context
        belongs to the process that made it) and without an estimator read from ``augment.depth_weights`` (the
        worker reads its own); both are made again on first use. A caller's estimator is sent as it is."""
        state = dict(self.__dict__)
        del state["_memory"]
        state["_depth_batch"] = None
        if self._loaded_estimator:
            state["_estimator"], state["_loaded_estimator"] = None, False
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._memory = WorldMemory(self._depth_of_batch, self.settings)

    def _depth_of_batch(self, frames: np.ndarray, intrinsics: np.ndarray) -> np.ndarray:
        """The memory's depth source: the depth prepared for the frames being fused (see :meth:`window_input`)."""
        depth, self._depth_batch = self._depth_batch, None
        return depth

    def _estimator_fn(self) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
        if self._estimator is None:
            from engine.depth.estimator import DepthEstimator

            self._estimator = DepthEstimator.load(self.augment.depth_weights, threads=None)
            self._loaded_estimator = True
        return self._estimator

    def channels(self) -> int:
        return self.codec.latent_channels + 1

    def window_input(self, frames: np.ndarray, depth: np.ndarray, c2w: np.ndarray, intrinsics: np.ndarray,
                     start: int, window: int, rng: np.random.Generator) -> torch.Tensor:  # fmt: skip
        """The cache input of the window of latent frames ``[start, start + window)`` of a clip.

        Args:
            frames: ``(F, H, W, 3)`` uint8, ``depth`` ``(F, H, W)`` float32 (``inf`` = sky), ``c2w (F, 4, 4)``,
                ``intrinsics (F, 4)``: the whole clip.
            start, window: the window's first latent frame and its length ``1 + 3k``.
            rng: the sample's generator (augmentations).

        Returns:
            ``(C + 1, window, h, w)`` float32; chunk ``c``'s frames see only pixel frames before the chunk.
        """
        aug = self.augment
        tf = self.codec.temporal_factor
        p0 = tf * start
        chunks = chunk_of_latent(window - 1) + 1
        w_cells, h_cells = self.frame_size[0] // self.codec.spatial_factor, self.frame_size[1] // self.codec.spatial_factor
        out = torch.zeros(self.channels(), window, h_cells, w_cells)
        if rng.random() < aug.drop_all_prob:
            return out
        predicted = rng.random() < aug.predicted_depth_prob
        scale = math.exp(rng.uniform(-math.log1p(aug.depth_scale), math.log1p(aug.depth_scale)))
        start_only = aug.start_only_prob > 0 and rng.random() < aug.start_only_prob
        world = self._memory.empty()
        fused = 0  # how many of the fusion list are in ``world``
        for c in range(chunks):
            order = fused_before_chunk(c, tf, self.settings.fuse_every)[: 1 if start_only else None]
            new = [p0 + i for i in order[fused:]]
            world = self._fuse(world, frames, depth, c2w, intrinsics, new, predicted, scale, rng)
            fused = len(order)
            latents = range(0 if c == 0 else 1 + CHUNK_LATENT_FRAMES * c, min(window, 1 + CHUNK_LATENT_FRAMES * (c + 1)))
            if rng.random() < aug.drop_chunk_prob:
                continue
            poses, ks = key_frame_poses(c2w, intrinsics, range(start + latents[0], start + latents[-1] + 1), tf)
            cond = cache_conditioning(self._memory.render_frames(world, poses, ks, self.frame_size), self.codec)[0]
            if rng.random() < aug.drop_region_prob:
                cond = self._drop_region(cond, rng)
            out[:, latents[0] : latents[-1] + 1] = cond
        return out

    def _fuse(self, world, frames, depth, c2w, intrinsics, picks: list[int], predicted: bool, scale: float,
              rng: np.random.Generator):  # fmt: skip
        if not picks:
            return world
        if predicted:
            z = np.asarray(self._estimator_fn()(np.ascontiguousarray(frames[picks]), intrinsics[picks].astype(np.float32)))
        else:
            z = depth[picks].astype(np.float32) * np.float32(scale)
            if self.augment.depth_noise > 0:
                z = z * self._noise_field(len(picks), z.shape[1:], rng)
        self._depth_batch = z
        return self._memory.fuse(world, frames[picks], c2w[picks], intrinsics[picks])

    def _noise_field(self, count: int, size: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
        """``(count, H, W)`` float32 ``exp(n)``: smooth relative depth noise (a coarse Gaussian field, upsampled)."""
        coarse = torch.from_numpy(rng.normal(0.0, self.augment.depth_noise, (count, 1, 6, 10)).astype(np.float32))
        field = torch.nn.functional.interpolate(coarse, size=size, mode="bilinear", align_corners=False)
        return torch.exp(field[:, 0]).numpy()

    @staticmethod
    def _drop_region(cond: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
        """``cond (C + 1, T, h, w)`` with a random rectangle of cells set to "nothing known" (zeros)."""
        _, _, h, w = cond.shape
        rh, rw = max(1, int(h * rng.uniform(0.2, 0.6))), max(1, int(w * rng.uniform(0.2, 0.6)))
        y, x = int(rng.integers(0, h - rh + 1)), int(rng.integers(0, w - rw + 1))
        cond = cond.clone()
        cond[:, :, y : y + rh, x : x + rw] = 0.0
        return cond
