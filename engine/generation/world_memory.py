"""A session's world memory: depth for the frames it makes, fused into the world cache, rendered at any pose.

Why a separate piece: :class:`~engine.generation.session.WorldSession` should only say *when* the world grows (the
start image, then each chunk it commits); which frames are fused, at which pixel stride, from which depth source,
and how the cache is rendered are this module's policy. The memory itself holds no state: every method takes a
:class:`~engine.world_cache.CacheState` and returns a new one, so the session keeps the state in its immutable
snapshots (a rewind restores the world exactly, branches never see each other's points).

**Depth source.** Anything with the :data:`DepthSource` signature: the embedded bundle's shipped estimator
(``depth.safetensors`` beside ``model.safetensors``, :func:`depth_source_for`), a test's function, or none. A bundle
without one (the official checkpoints today) gets no world memory and streams exactly as before.

**Cost per chunk** (the defaults): the depth of every ``fuse_every``-th frame of the chunk, counted back from its last
(3 of 24: the latent key frames; the sharp decode makes the frames between them by warping the key frames, so they
show nothing new), unprojected at ``stride`` 2 and fused on a :class:`~engine.world_cache.CacheConfig` of 5 cm voxels
and 40,000 voxels (960 KB per state, see docs/world_cache.md for the measured time and prediction quality).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from engine.errors import ConfigError, WorldCacheError
from engine.world_cache import (
    CacheConfig,
    CacheRender,
    CacheState,
    empty_state,
    observed_part,
    positions,
    unproject,
    update,
)

log = logging.getLogger(__name__)

#: Grey of pixels the cache does not know before encoding (encodes to ~0; cells with no coverage are zeroed).
UNCOVERED_GREY = 128

#: Renders are kept for this many states (a chunk renders the whole cache and its observed part; a render holds its
#: state, so an id is never reused while it is kept).
RENDERS_KEPT_FOR = 2
#: ... and at most this many renders in all (a chunk asks for 6-12; a viewer may ask for many poses of one state).
RENDERS_KEPT = 16

#: ``depth(frames (N, H, W, 3) uint8, intrinsics (N, 4)) -> (N, H, W) float32`` camera-space z in scene units,
#: ``inf`` = sky (what :class:`engine.depth.estimator.DepthEstimator` computes).
DepthSource = Callable[[np.ndarray, np.ndarray], np.ndarray]


@dataclass(frozen=True)
class WorldCacheSettings:
    """How a session builds its world cache.

    Attributes:
        voxel_size: fusion grid in scene units (metres for the embedded and official models).
        capacity: voxels kept (least recently observed are evicted); memory is 24 bytes per voxel per state.
        stride: pixel stride of unprojection (2 = every other row and column).
        fuse_every: fuse every ``fuse_every``-th pixel frame of a chunk, counted back from its last (8: the key frames;
            the shipped model v2 was trained with 4, which only changes its training windows that show generated
            frames, never what a session shows it; fusing every 4th cost 35 ms more per chunk for the same PSNR).
        model_sees_generated: what a cache-conditioned model (v2) is shown: False = only the observed voxels (the
            start image, :func:`~engine.world_cache.memory.observed_part`), True = every voxel, the generated
            frames' included. The cache grows with generated frames either way (the explorer's points, the sharp
            decode's guide, revisits); False is the default because feeding the model its own frames back through
            the cache made it collapse by 20 s (docs/embedded_model.md, "What the model sees").
    """

    voxel_size: float = 0.05
    capacity: int = 40_000
    stride: int = 2
    fuse_every: int = 8
    model_sees_generated: bool = False

    def __post_init__(self) -> None:
        for name in ("stride", "fuse_every"):
            value = getattr(self, name)
            if int(value) != value or value < 1:
                raise ConfigError(f"world cache {name.replace('_', ' ')}: expected a positive integer, found {value!r}")

    @property
    def cache_config(self) -> CacheConfig:
        return CacheConfig(voxel_size=self.voxel_size, capacity=self.capacity)


def depth_source_for(source: Path | None, threads: int | None = None) -> DepthSource | None:
    """The depth estimator shipped beside a bundle folder (``depth.safetensors``), or None when there is none.

    A present but broken file raises :class:`~engine.errors.BundleError` naming it (never a silent fallback)."""
    from engine.depth.estimator import DepthEstimator, find_depth_weights

    if source is None or not Path(source).is_dir():
        return None
    path = find_depth_weights(source)
    return None if path is None else DepthEstimator.load(path, threads=threads)


def fused_frame_indices(count: int, every: int, skip_first: bool) -> list[int]:
    """Which of a chunk's ``count`` frames are fused: every ``every``-th (counted back from the last, so the
    newest frame is always included); ``skip_first`` leaves out frame 0 (chunk 0's start-image reconstruction,
    whose original is already in the cache)."""
    first = 1 if skip_first else 0
    return sorted(i for i in range(count - 1, first - 1, -every))


class WorldMemory:
    """Builds and renders world-cache states for one session (see the module docstring).

    Example::

        memory = WorldMemory(depth_source)
        world = memory.start(frame, intrinsics)                  # the start image at the identity pose
        world = memory.after_chunk(world, frames, c2w, intrinsics)  # a chunk's frames
        out = memory.render(world, c2w[-1], intrinsics[-1], (320, 176))
    """

    def __init__(self, depth: DepthSource, settings: WorldCacheSettings | None = None) -> None:
        self.depth = depth
        self.settings = settings or WorldCacheSettings()
        self._renderer = None
        self._observed: tuple[CacheState, CacheState] | None = None  # (world, its observed part), the latest
        self._renders: dict[tuple, tuple[CacheState, CacheRender]] = {}  # by (state id, pose, intrinsics, size)

    def empty(self) -> CacheState:
        return empty_state(self.settings.cache_config)

    def start(self, frame: np.ndarray, intrinsics: np.ndarray, *, depth: np.ndarray | None = None) -> CacheState:
        """The cache of the start frame alone (camera at the identity), its voxels marked observed; ``depth`` = the
        frame's :meth:`depth_of` when the caller has it already."""
        k = np.asarray(intrinsics, np.float64).reshape(1, 4)
        return self.fuse(self.empty(), frame[None], np.eye(4)[None], k, observed=True,
                         depth=None if depth is None else np.asarray(depth)[None])  # fmt: skip

    def after_chunk(self, world: CacheState | None, frames: np.ndarray, c2w: np.ndarray, intrinsics: np.ndarray,
                    *, first_chunk: bool = False, fuse_every: int | None = None) -> CacheState:  # fmt: skip
        """``world`` grown by the chunk's frames (``(F, H, W, 3)`` with their ``(F, 4, 4)`` poses and ``(F, 4)``
        intrinsics); a ``world`` of None (a session opened without its cache) starts a new cache here.
        ``fuse_every`` overrides the settings' (a stream made with another, :data:`~engine.components.guided_decode.SHARP_DECODES`)."""
        every = self.settings.fuse_every if fuse_every is None else fuse_every
        picks = fused_frame_indices(len(frames), every, skip_first=first_chunk)
        base = self.empty() if world is None else world
        return self.fuse(base, frames[picks], c2w[picks], intrinsics[picks])

    def fuse(self, world: CacheState, frames: np.ndarray, c2w: np.ndarray, intrinsics: np.ndarray, *,
             observed: bool = False, depth: np.ndarray | None = None) -> CacheState:  # fmt: skip
        """Estimate the frames' depth in one batch (unless ``depth`` gives it) and fuse them in order (one update
        tick each); ``observed``: they are real images (:func:`~engine.world_cache.update`)."""
        if not len(frames):
            return world
        if depth is None:
            depth = self.depth_of(frames, intrinsics)  # checks the shape
        elif depth.shape != frames.shape[:3]:
            raise WorldCacheError(f"depth: expected depth of shape {frames.shape[:3]}, found {depth.shape}")
        for frame, z, pose, k in zip(frames, depth, c2w, intrinsics):
            world = update(world, unproject(frame, z, pose, k, stride=self.settings.stride), observed=observed)
        return world

    def depth_of(self, frames: np.ndarray, intrinsics: np.ndarray) -> np.ndarray:
        """``(N, H, W)`` depth of ``frames (N, H, W, 3)`` uint8 seen with ``intrinsics (N, 4)`` from the depth source."""
        depth = np.asarray(self.depth(np.ascontiguousarray(frames), np.asarray(intrinsics, np.float32)))
        if depth.shape != frames.shape[:3]:
            raise WorldCacheError(f"depth source: expected depth of shape {frames.shape[:3]}, found {depth.shape}")
        return depth

    def render(self, world: CacheState, c2w: np.ndarray, intrinsics: np.ndarray, size: tuple[int, int]) -> CacheRender:
        """``world`` seen from ``c2w`` with ``[fx, fy, cx, cy]`` at ``size = (W, H)`` (colour, coverage, depth).
        The GL context is made on first use, on the calling thread; keep rendering on that thread. The latest
        renders are kept and returned again for the same state, pose and size (read them, do not write to them)."""
        if self._renderer is None:
            from engine.world_cache.render_gl import CacheRenderer

            self._renderer = CacheRenderer()
        c2w, intrinsics = np.asarray(c2w, np.float64), np.asarray(intrinsics, np.float64)
        key = (id(world), c2w.tobytes(), intrinsics.tobytes(), tuple(size))
        if key not in self._renders:  # a chunk renders the same poses for the model's input and for its decode
            states = list(dict.fromkeys(id(w) for w, _ in self._renders.values()))
            if id(world) not in states and len(states) >= RENDERS_KEPT_FOR:
                self._renders = {k: v for k, v in self._renders.items() if k[0] != states[0]}  # the oldest state's
            while len(self._renders) >= RENDERS_KEPT:
                del self._renders[next(iter(self._renders))]  # the oldest
            self._renders[key] = (world, self._renderer.render(world, c2w, intrinsics, size))
        return self._renders[key][1]

    def render_frames(self, world: CacheState, c2w: np.ndarray, intrinsics: np.ndarray,
                      size: tuple[int, int]) -> list[CacheRender]:  # fmt: skip
        """``world`` seen from each of ``c2w (T, 4, 4)`` with ``intrinsics (T, 4)`` (one render per pose)."""
        return [self.render(world, pose, k, size) for pose, k in zip(c2w, intrinsics)]

    def observed(self, world: CacheState) -> CacheState:
        """The observed part of ``world`` (:func:`~engine.world_cache.observed_part`: the real images' voxels); the
        same object for the same ``world`` while it is the latest asked, so its renders are shared."""
        if self._observed is None or self._observed[0] is not world:
            self._observed = (world, observed_part(world))
        return self._observed[1]

    def model_view(self, world: CacheState) -> CacheState:
        """The part of ``world`` a cache-conditioned model is shown (:attr:`WorldCacheSettings.model_sees_generated`)."""
        return world if self.settings.model_sees_generated else self.observed(world)

    def release(self) -> None:
        self._renders, self._observed = {}, None
        if self._renderer is not None:
            self._renderer.release()
            self._renderer = None


def cache_points(world: CacheState | None, limit: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``(xyz float32 (N, 3), rgb uint8 (N, 3))`` of a state's fused points, at most ``limit`` of them (an even
    subsample, so a viewer's cost stays bounded); empty arrays for no state."""
    if world is None or not len(world):
        return np.zeros((0, 3), np.float32), np.zeros((0, 3), np.uint8)
    index = slice(None)
    if limit is not None and len(world) > limit:
        index = np.linspace(0, len(world) - 1, int(limit)).astype(np.int64)
    return positions(world, np.float32)[index], np.ascontiguousarray(world.colours[index])


def cache_conditioning(renders: list[CacheRender], codec) -> torch.Tensor:
    """The model v2's world-cache input for latent frames seen from the renders' poses: ``(1, C + 1, T, h, w)``
    float32, the codec latents of each render's colour (``C`` channels) and the share of covered pixels per latent
    cell (the last channel).

    Pixels the cache does not know are mid-grey before encoding and the latents of cells with no covered pixel are
    exactly 0, so "nothing known" is all zeros, the same as a missing or dropped cache (the model's default input).
    ``codec`` must be frame-local in space with ``spatial_factor`` pixels per cell (the embedded patch codec).
    """
    if not renders:
        raise WorldCacheError("cache conditioning: expected at least one render, found none")
    p = codec.spatial_factor
    colours = np.stack([np.where(r.coverage[..., None], r.colour, np.uint8(UNCOVERED_GREY)) for r in renders])
    covered = np.stack([r.coverage for r in renders]).astype(np.float32)  # (T, H, W)
    t, height, width = covered.shape
    cells = covered.reshape(t, height // p, p, width // p, p).mean(axis=(2, 4))  # (T, h, w)
    latents = encode_each(codec, colours).float()  # (1, C, T, h, w)
    share = torch.from_numpy(cells)[None, None]  # (1, 1, T, h, w)
    latents = latents * (share > 0)
    return torch.cat([latents, share], dim=1)


def encode_each(codec, frames: np.ndarray) -> torch.Tensor:
    """``(N, H, W, 3)`` uint8 frames, each encoded on its own as one latent frame -> ``(1, C, N, h, w)``: what a
    frame-local codec (the embedded patch codec, whose latent frame ``j`` is pixel frame ``8 j``) holds for them,
    since ``encode`` itself takes 1 + 8k consecutive frames."""
    with torch.no_grad():
        return torch.cat([codec.encode(np.asarray(frame)[None]) for frame in frames], dim=2)


def key_frame_poses(c2w: np.ndarray, intrinsics: np.ndarray, latent_frames: range,
                    temporal_factor: int) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """The poses and intrinsics of latent frames ``latent_frames`` of a trajectory: latent frame ``j`` is pixel frame
    ``temporal_factor * j`` (the key frame of the frame-local patch codec), in ``c2w (F, 4, 4)``/``intrinsics (F, 4)``."""
    picks = [temporal_factor * j for j in latent_frames]
    if picks and picks[-1] >= len(c2w):
        raise WorldCacheError(f"cache conditioning: latent frame {latent_frames[-1]} needs pixel frame {picks[-1]}, "
                              f"the trajectory has {len(c2w)}")  # fmt: skip
    return np.asarray(c2w)[picks], np.asarray(intrinsics)[picks]
