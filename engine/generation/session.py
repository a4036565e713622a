"""WorldSession: generate a world chunk by chunk from a start image while camera poses arrive.

The public entry point for interactive use (the explorer's engine worker, users' scripts)::

    session = WorldSession(bundle)
    session.start("photo.jpg", intrinsics=[fx, fy, cx, cy])      # or first_latent=...
    record = session.step(poses)          # (24, 4, 4) c2w of the next 24 pixel frames -> ChunkRecord
    snap = session.snapshot()             # cheap: references, no copies
    session.step(other_poses)             # ... explore
    session.restore(snap)                 # rewind; stepping from here makes a branch

One chunk is 3 latent frames = 24 pixel frames at 16 fps (1.5 s); chunk 0 also holds the start image (latent
frame 0, pixel frame 0). ``step`` takes the poses *just before* the chunk is sampled, so a live controller can
steer every chunk. Per chunk (spec streaming §4): the chunk's seeded noise, 4 self-forcing Euler steps through the
DiT on the chunk alone with the cached context of earlier chunks, a causal decode of the chunk, and one t = 0 pass
over the clean chunk that writes the next cache. Time and memory per chunk are constant: Gated-DeltaNet blocks
carry history in fixed-size states, softmax blocks see a fixed window (the image chunk as a permanent sink plus
the last chunk).

**Re-anchoring** (models that declare a trained context, :attr:`ModelBundle.context_frames`; the embedded model):
a model trained on windows of ``W`` latent frames has never seen a recurrent state built from more frames, nor
time positions past ``W - 1``. Before a chunk would end past ``W`` frames of the current context, the session
starts a fresh context whose chunk 0 is the last ``n + 1`` committed latent frames (``n`` = chunk size), exactly
as if they were a start image plus its first chunk: one t = 0 pass over them (poses re-based to the first of them)
replaces the cache, and generation continues at context position ``n + 1``. The stream keeps its absolute frame
numbers, noise and poses; only the model's view restarts. This bounds what the model sees to its training
distribution (it measurably cuts long-horizon drift, docs/embedded_model.md) at the price of forgetting anything
older than the kept frames (:attr:`StreamSettings.reanchor_sink` ``"start"`` keeps the start image as position 0
instead, a measured loss). The official checkpoints declare no limit and stream with the reference semantics.

**World cache** (bundles with a depth source, :mod:`engine.generation.world_memory`): the start image and then
each committed chunk's frames are fused, with their depth, into a bounded 3D point memory of the world
(:mod:`engine.world_cache`), part of every snapshot; :meth:`WorldSession.render_cache` shows it from any pose and
:meth:`WorldSession.cache_points` lists its points. Without a depth source (the official checkpoints) there is no
world cache and nothing else changes. A model with a world-cache input (``cache_channels > 0``, the embedded model
v2) is conditioned on it: before a chunk is sampled, what the model is shown of the cache as it stands *before* the
chunk (by default only the observed voxels, the start image's: :meth:`WorldMemory.model_view`) is rendered at the
pose of each of the chunk's latent key frames and encoded (:func:`~engine.generation.world_memory.cache_conditioning`),
the input of the sampling steps and of the commit pass, as in training (:mod:`engine.train.cache_data`).
Such a model without a world cache, and a re-anchor's pass over past frames, see "nothing known" (zeros).

**Sharp frames** (:attr:`StreamSettings.sharp_frames`, :mod:`engine.components.guided_decode`): the decode is guided
by the world cache before the chunk and by the start view (the start frame and its depth, kept from :meth:`start`),
which it trusts where it sees the scene again. The decode runs before the commit pass, so with
:attr:`StreamSettings.commit_shown` the key frames as shown, encoded again, are what the next chunks see
(:meth:`_shown_latents`). Session files saved before that setting read it as off: their model context continues as
it was made (the model's cache input is the start image's voxels, which the decode change leaves alone), while
their new chunks are decoded with the current decode (their stored frames are kept as they are).

**Memory tier** (:attr:`ModelBundle.memory`, :mod:`engine.memory.tiers`): a chunk is decoded in pieces of the tier's
``decode_latents_per_call`` latent frames (the same frames from the causal decoder, less VAE memory on a GPU).

State is only committed when a step completes: a cancelled or failed step leaves the session as it was.
Everything a rewind needs (model cache, decoder state, trajectory, world cache) is immutable, so snapshots share
tensors.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from engine.bundles import ModelBundle
from engine.camera.conditioning import CameraConditioner, CameraConditioning
from engine.camera.intrinsics import as_vec4
from engine.camera.poses import validate_c2w
from engine.components.codec import DecoderState, StreamDecoder
from engine.components.contrast_floor import floor_contrast, luma_std
from engine.components.guided_decode import (
    FrameGuide,
    GuidedStreamDecoder,
    KeyView,
    observed_render,
    sharp_decode,
    start_view,
)
from engine.errors import Cancelled, SanaWMInputError, SessionStateError
from engine.generation.sampling import frame_noise, sample_chunk
from engine.generation.start_image import prepare_start_frame
from engine.generation.state import ChunkRecord, SessionSnapshot, StreamSettings
from engine.memory.decode import decode_pieces
from engine.generation.world_memory import (
    DepthSource,
    WorldCacheSettings,
    WorldMemory,
    cache_conditioning,
    encode_each,
    cache_points,
    depth_source_for,
    key_frame_poses,
)
from engine.model.stream_cache import CachedStep, StreamCache
from engine.world_cache import CacheRender, CacheState

log = logging.getLogger(__name__)

#: :meth:`WorldSession.step` progress callback: ``progress(stage, done, total)``.
Progress = Callable[[str, int, int], None]

__all__ = ["ChunkRecord", "Progress", "SessionSnapshot", "StreamSettings", "WorldSession"]


@dataclass(frozen=True)
class _Chunk:
    """What one :meth:`WorldSession.step` works on: chunk ``index``, its latent frames ``[a, b)`` of the stream, and
    the trajectory so far including the chunk's new poses (``c2w (F, 4, 4)``, ``intrinsics (F, 4)``)."""

    index: int
    a: int
    b: int
    c2w: np.ndarray
    intrinsics: np.ndarray


class WorldSession:
    """A streaming rollout of one bundle (see the module docstring).

    Args:
        bundle: model, codec and frame size.
        settings: sampling settings.
        keep_snapshots: store a snapshot in every :class:`ChunkRecord` (needed to rewind to any chunk; the caches
            share tensors, so each costs roughly one chunk's states).
        keep_history: keep the :class:`ChunkRecord` list (frames and latents); off for long headless rollouts.
        depth: the world cache's depth source: ``"auto"`` = the estimator shipped beside the bundle's weights, if any
            (:func:`~engine.generation.world_memory.depth_source_for`); None = no world cache.
        world_cache: how the world cache is built (voxel size, capacity, stride, which frames).
    """

    def __init__(
        self,
        bundle: ModelBundle,
        settings: StreamSettings | None = None,
        *,
        keep_snapshots: bool = True,
        keep_history: bool = True,
        depth: DepthSource | str | None = "auto",
        world_cache: WorldCacheSettings | None = None,
    ) -> None:
        self.bundle = bundle
        self.settings = settings or StreamSettings()
        self.keep_snapshots = keep_snapshots
        self.keep_history = keep_history
        self.history: list[ChunkRecord] = []
        self.caption: tuple[torch.Tensor, torch.Tensor] | None = None
        self.prompt: str = ""
        self.start_frame: np.ndarray | None = None
        self._state: SessionSnapshot | None = None
        self._fixed_noise: torch.Tensor | None = None
        self._cancel = threading.Event()
        if isinstance(depth, str):
            if depth != "auto":
                raise SanaWMInputError(f"depth: expected 'auto', None or a depth function, found {depth!r}")
            depth = depth_source_for(bundle.source)
        self.world_memory = None if depth is None else WorldMemory(depth, world_cache)
        self._decoder = self._new_decoder()
        self._root_world: CacheState | None = None
        self._start_view: KeyView | None = None  # the start frame and its depth, the sharp decode's observed view
        limit = self.context_limit
        if limit is not None and limit < 1 + 2 * self.settings.chunk_latent_frames:
            raise SanaWMInputError(
                f"{bundle.name}: context_frames: expected at least {1 + 2 * self.settings.chunk_latent_frames} latent "
                f"frames (the re-anchored chunk 0 plus one chunk of {self.settings.chunk_latent_frames}), found {limit}"
            )

    # ----- set-up -------------------------------------------------------------------------------------------------
    @property
    def settings(self) -> StreamSettings:
        """How the session samples. Settings that leave the contrast floor to the model (None) get the model's own
        here, as a number, so what a session file saves is what the stream used."""
        return self._settings

    @settings.setter
    def settings(self, settings: StreamSettings) -> None:
        if settings.contrast_floor is None:
            settings = replace(settings, contrast_floor=self.bundle.contrast_floor)
        self._settings = settings

    @property
    def frames_per_chunk(self) -> int:
        """Pixel frames each :meth:`step` generates and needs poses for (24)."""
        return self.settings.chunk_latent_frames * self.bundle.codec.temporal_factor

    @property
    def context_limit(self) -> int | None:
        """Latent frames of context after which the session re-anchors (None = never)."""
        return self.bundle.context_frames if self.settings.reanchor else None

    @property
    def started(self) -> bool:
        return self._state is not None

    @property
    def chunks_done(self) -> int:
        return 0 if self._state is None else self._state.chunks_done

    @property
    def trajectory(self) -> tuple[np.ndarray, np.ndarray]:
        """``(c2w (F, 4, 4), intrinsics (F, 4))`` of every pixel frame generated so far (plus the start frame)."""
        state = self._require_started()
        return state.c2w, state.intrinsics

    @property
    def pose(self) -> np.ndarray:
        """The latest camera pose ``(4, 4)`` (where the next chunk continues from)."""
        return self.trajectory[0][-1]

    @property
    def world_cache(self) -> CacheState | None:
        """The world cache now (immutable); None without a depth source, before start, or when a loaded session's
        cache could not be read (it grows again from the next chunk)."""
        return None if self._state is None else self._state.world

    def cache_points(self, limit: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """``(xyz float32 (N, 3), rgb uint8 (N, 3))`` world points of the cache in the session's world (OpenCV axes,
        start camera = identity), at most ``limit`` (an even subsample); empty without a cache."""
        return cache_points(self.world_cache, limit)

    def render_cache(self, c2w: np.ndarray, intrinsics: np.ndarray | None = None,
                     size: tuple[int, int] | None = None) -> CacheRender:  # fmt: skip
        """The world cache seen from ``c2w`` ``(4, 4)`` with ``[fx, fy, cx, cy]`` (default: the latest) at
        ``size = (W, H)`` (default: the frame size). Call it from one thread (the GL context lives there)."""
        if self.world_memory is None:
            raise SessionStateError(f"render_cache: the model {self.bundle.name!r} has no depth source, so no world cache")
        state = self._require_started()
        world = state.world if state.world is not None else self.world_memory.empty()
        k = state.intrinsics[-1] if intrinsics is None else as_vec4(intrinsics)[0]
        return self.world_memory.render(world, c2w, k, size or self.bundle.frame_size)

    def start(
        self,
        image: np.ndarray | str | Path | None = None,
        *,
        intrinsics: np.ndarray | list[float] | None = None,
        first_latent: torch.Tensor | None = None,
        prompt: str = "",
        caption: tuple[torch.Tensor, torch.Tensor] | None = None,
        seed: int | None = None,
        noise: torch.Tensor | None = None,
        start_frame: np.ndarray | None = None,
    ) -> None:
        """Begin a new stream (forgets the previous one).

        Args:
            image: start image (path or ``uint8 (H, W, 3)``); resized and centre-cropped to the bundle's frame
                size. Give either ``image`` or ``first_latent``.
            intrinsics: ``[fx, fy, cx, cy]`` (or a 3x3 K) in pixels of the *given* image; None = the bundle's
                default intrinsics (an error if it has none).
            first_latent: ``(1, C, 1, h, w)`` normalised latent of the start frame (intrinsics then refer to the
                bundle's frame size).
            prompt: text prompt (encoded with the bundle's text encoder when the model is text-conditioned).
            caption: pre-encoded ``(states (1, L, C_y), mask (1, L))`` instead of ``prompt``.
            seed: noise seed (default: the settings' seed).
            noise: ``(1, C, T, h, w)`` noise for a stream of known length, drawn up front as the official script
                does (:func:`engine.generation.sampling.seeded_noise`); chunk ``[a, b)`` uses ``noise[:, :, a:b]`` and the stream
                cannot go past ``T``. None = per-frame seeded noise (:func:`engine.generation.sampling.frame_noise`) for streams
                of any length.
            start_frame: with ``first_latent``, the ``(H, W, 3)`` uint8 frame (at the bundle's frame size) it was
                encoded from, so the world cache starts from the same pixels as the original session (a resumed
                session file); None = from the decoded latent.
        """
        if (image is None) == (first_latent is None):
            raise SanaWMInputError("start: give exactly one of image or first_latent")
        width, height = self.bundle.frame_size
        if image is not None:
            frame, intr = prepare_start_frame(image, (width, height), None if intrinsics is None else as_vec4(intrinsics))
            first_latent = self.bundle.codec.encode(frame[None])
            self.start_frame = frame
        else:
            intr = None if intrinsics is None else as_vec4(intrinsics)[0]
            self.start_frame = None if start_frame is None else self._check_start_frame(start_frame)
        first_latent = self._check_first_latent(first_latent)
        if intr is None:
            if self.bundle.default_intrinsics is None:
                raise SanaWMInputError(
                    f"intrinsics: the model {self.bundle.name!r} has no default field of view; pass [fx, fy, cx, cy]"
                )
            intr = np.asarray(self.bundle.default_intrinsics, dtype=np.float64)
        if seed is not None:
            self.settings = replace(self.settings, seed=int(seed))
        self.prompt = prompt
        self.caption = self._encode_caption(prompt, caption)
        self._fixed_noise = None if noise is None else self._check_noise(noise)
        self._decoder = self._new_decoder()
        self.history = []
        intr = np.asarray(intr, dtype=np.float64).reshape(1, 4)
        self._reference_std: float | None = None  # the start image's luma spread, measured when first needed
        self._root_world = self._start_world(first_latent, intr)
        self._state = SessionSnapshot(
            chunks_done=0, cache=self._empty_cache(), decoder_state=self._decoder.snapshot(), c2w=np.eye(4)[None],
            intrinsics=intr, first_latent=first_latent, history_length=0, world=self._root_world,
        )  # fmt: skip

    def _start_world(self, first_latent: torch.Tensor, intrinsics: np.ndarray) -> CacheState | None:
        """The world cache of the start frame (the image itself, or the decoded first latent)."""
        self._start_view = None
        if self.world_memory is None:
            return None
        frame = self.start_frame
        if frame is None:
            frame = self.bundle.codec.decode(first_latent.float())[0]
        depth = self.world_memory.depth_of(frame[None], intrinsics)[0]
        if self._guided:
            self._start_view = start_view(frame, depth, intrinsics[0])
        return self.world_memory.start(frame, intrinsics[0], depth=depth)

    def _check_start_frame(self, frame: np.ndarray) -> np.ndarray:
        w, h = self.bundle.frame_size
        frame = np.asarray(frame)
        if frame.shape != (h, w, 3) or frame.dtype != np.uint8:
            raise SanaWMInputError(f"start_frame: expected uint8 ({h}, {w}, 3), found {frame.dtype} {frame.shape}")
        return frame

    def _check_first_latent(self, latent: torch.Tensor) -> torch.Tensor:
        w, h = self.bundle.latent_grid
        expected = (1, self.bundle.config.in_channels, 1, h, w)
        if tuple(latent.shape) != expected:
            raise SanaWMInputError(f"first_latent: expected shape {expected}, found {tuple(latent.shape)}")
        model = self.bundle.transformer
        return latent.to(dtype=model.dtype, device=self._device).clone()

    def _encode_caption(self, prompt: str, caption) -> tuple[torch.Tensor, torch.Tensor] | None:
        if not self.bundle.config.text_conditioning:
            return None
        if caption is None:
            if self.bundle.text_encoder is None:
                raise SanaWMInputError(f"the model {self.bundle.name!r} needs a caption but the bundle has no text encoder")
            caption = self.bundle.text_encoder.encode(prompt)
        states, mask = caption
        return states.to(self._device), mask.to(self._device)

    @property
    def _device(self) -> torch.device:
        return next(self.bundle.transformer.parameters()).device

    # ----- snapshots ----------------------------------------------------------------------------------------------
    def snapshot(self) -> SessionSnapshot:
        """The current state (immutable; cheap)."""
        return self._require_started()

    def restore(self, snapshot: SessionSnapshot) -> None:
        """Go back to ``snapshot`` (taken from this stream). History after it is dropped from this session; callers
        that keep branches keep their own references to the dropped records."""
        self._require_started()
        if snapshot.first_latent is not self._state.first_latent:
            raise SessionStateError("restore: the snapshot belongs to another stream (start() was called since)")
        self._state = snapshot
        self._decoder.restore(snapshot.decoder_state)
        del self.history[snapshot.history_length :]

    def rewind(self, chunk_index: int) -> None:
        """Restore the state right after chunk ``chunk_index`` (-1 = before chunk 0). Needs ``keep_snapshots``."""
        if chunk_index == -1:
            snap = self._root_snapshot()
        else:
            if not 0 <= chunk_index < len(self.history) or self.history[chunk_index].snapshot is None:
                raise SessionStateError(
                    f"rewind: no snapshot of chunk {chunk_index} (have {len(self.history)} chunks; "
                    f"keep_snapshots={self.keep_snapshots})"
                )
            snap = self.history[chunk_index].snapshot
        self.restore(snap)

    def _root_snapshot(self) -> SessionSnapshot:
        state = self._require_started()
        return SessionSnapshot(chunks_done=0, cache=self._empty_cache(), decoder_state=None, c2w=state.c2w[:1],
                               intrinsics=state.intrinsics[:1], first_latent=state.first_latent, history_length=0,
                               world=self._root_world)  # fmt: skip

    def cancel(self) -> None:
        """Ask a running :meth:`step` (on another thread) to stop at the next model call; it raises
        :class:`Cancelled` and leaves the session unchanged."""
        self._cancel.set()

    def _empty_cache(self) -> StreamCache:
        """The model state before any chunk: of a new stream, a rewind to its start, or a re-anchored context."""
        return StreamCache.empty(self.bundle.config.depth, self.settings.window)

    def _require_started(self) -> SessionSnapshot:
        if self._state is None:
            raise SessionStateError("the session has not been started: call start() first")
        return self._state

    # ----- generation ---------------------------------------------------------------------------------------------
    def chunk_latent_range(self, chunk_index: int) -> tuple[int, int]:
        """Latent frames ``[a, b)`` of chunk ``chunk_index`` (chunk 0 = image latent + one chunk)."""
        n = self.settings.chunk_latent_frames
        a = 0 if chunk_index == 0 else 1 + n * chunk_index
        return a, 1 + n * (chunk_index + 1)

    def step(
        self,
        poses: np.ndarray,
        intrinsics: np.ndarray | None = None,
        *,
        progress: Progress | None = None,
        commit_latents: torch.Tensor | None = None,
    ) -> ChunkRecord:
        """Generate the next chunk: re-anchor (when the trained context is full), sample, decode, commit (the t = 0
        cache pass, of the latents :meth:`_shown_latents` picks), grow the world cache — one private method each, in
        that order.

        Args:
            poses: ``(frames_per_chunk, 4, 4)`` camera-to-world poses of the next pixel frames, in the session's
                world (the start frame is the identity), OpenCV axes.
            intrinsics: ``(4,)`` or ``(frames_per_chunk, 4)`` in frame pixels; None = the latest intrinsics.
            progress: ``progress(stage, done, total)`` with stages "sample", "decode", "cache" (the last).
            commit_latents: teacher forcing, for measurements: ``(1, C, n, h, w)`` latents of this chunk (chunk 0:
                with the image latent) that the cache pass commits *instead of* the sampled ones, so later chunks
                see this context (e.g. the ground truth's encoding). The record still holds the sampled chunk.

        Returns:
            The chunk's :class:`ChunkRecord` (also appended to :attr:`history` when it is kept).

        Raises:
            Cancelled: :meth:`cancel` was called; the session is unchanged.
        """
        state = self._require_started()
        self._cancel.clear()
        chunk = self._next_chunk(state, poses, intrinsics)
        started = time.perf_counter()
        state = self._reanchor(state, chunk)
        reanchored = time.perf_counter()
        cond = self._chunk_conditioning(state, chunk)
        seen = self._cache_input(state, chunk)
        latents = self._sample(state, chunk, cond, seen, progress)
        sampled = time.perf_counter()
        frames, decoder_state = self._decode(state, chunk, latents)
        decoded = time.perf_counter()
        if progress is not None:
            progress("decode", 1, 1)
        if commit_latents is not None:
            committed = self._check_commit(commit_latents, chunk.b - chunk.a)
        else:
            committed = self._shown_latents(chunk, frames, latents)
        next_cache = self._commit(state, chunk, cond, seen, committed)
        cached = time.perf_counter()
        if progress is not None:
            progress("cache", 1, 1)
        k = chunk.index
        p0 = 0 if k == 0 else state.c2w.shape[0]
        world = self._grow_world(state, frames, chunk.c2w[p0:], chunk.intrinsics[p0:], first_chunk=k == 0)
        done = time.perf_counter()

        history_length = len(self.history) + (1 if self.keep_history else 0)
        new_state = self._snapshot_after(state, chunk, next_cache, decoder_state, committed, world, history_length)
        timings = {"reanchor": reanchored - started, "sample": sampled - reanchored, "decode": decoded - sampled,
                   "cache": cached - decoded, "world": done - cached, "total": done - started}  # fmt: skip
        record = ChunkRecord(
            index=k, latent_range=(chunk.a, chunk.b), pixel_range=(p0, chunk.c2w.shape[0]), latents=latents.detach(),
            frames=frames, c2w=chunk.c2w[p0:], intrinsics=chunk.intrinsics[p0:], timings=timings,
            snapshot=new_state if self.keep_snapshots else None,
        )  # fmt: skip
        self._state = new_state
        if self.keep_history:
            self.history.append(record)
        log.debug("chunk %d: %.3f s", k, record.timings["total"])
        return record

    def replay(self, snapshot: SessionSnapshot, record: ChunkRecord) -> tuple[SessionSnapshot, np.ndarray]:
        """The state after ``record``'s chunk rebuilt from ``snapshot``, the state before it, without sampling:
        the chunk's stored (sampled) latents go through the same stages as in :meth:`step` (re-anchor, the decode,
        the commit pass of :meth:`_shown_latents`, the world cache), so the result is bit-identical to the snapshot :meth:`step` made, given the
        same code, thread count and device. Returns ``(snapshot, frames)`` (the exact decoded frames). Session
        files store some snapshots only and rebuild the others with this
        (:func:`engine.generation.session_file.resume_session`). The session's own state does not change."""
        self._require_started()
        if snapshot.first_latent is not self._state.first_latent:
            raise SessionStateError("replay: the snapshot belongs to another stream (start() was called since)")
        if record.index != snapshot.chunks_done:
            raise SessionStateError(f"replay: chunk {record.index} does not follow a snapshot after {snapshot.chunks_done} chunks")
        p0 = 1 if record.index == 0 else 0
        chunk = self._next_chunk(snapshot, record.c2w[p0:], record.intrinsics[p0:])
        state = self._reanchor(snapshot, chunk)
        cond = self._chunk_conditioning(state, chunk)
        frames, decoder_state = self._decode(state, chunk, record.latents)
        committed = self._shown_latents(chunk, frames, record.latents)
        next_cache = self._commit(state, chunk, cond, self._cache_input(state, chunk), committed)
        q0 = 0 if chunk.index == 0 else state.c2w.shape[0]
        world = self._grow_world(state, frames, chunk.c2w[q0:], chunk.intrinsics[q0:], first_chunk=chunk.index == 0)
        # the count of the session that made it: one more per chunk when it kept its history, else unchanged
        history = snapshot.history_length + (1 if snapshot.history_length == record.index else 0)
        return self._snapshot_after(state, chunk, next_cache, decoder_state, committed, world, history), frames

    def _snapshot_after(
        self, state: SessionSnapshot, chunk: _Chunk, next_cache: StreamCache, decoder_state: DecoderState | None,
        committed: torch.Tensor, world: CacheState | None, history_length: int,
    ) -> SessionSnapshot:  # fmt: skip
        """The state after ``chunk`` (``state``: the re-anchored state before it)."""
        return SessionSnapshot(
            chunks_done=chunk.index + 1, cache=next_cache, decoder_state=decoder_state, c2w=chunk.c2w,
            intrinsics=chunk.intrinsics, first_latent=state.first_latent, history_length=history_length,
            anchor=state.anchor, recent_latents=self._keep_recent(state.recent_latents, committed), world=world,
        )  # fmt: skip

    # ----- the stages of a step -----------------------------------------------------------------------------------
    def _next_chunk(self, state: SessionSnapshot, poses: np.ndarray, intrinsics: np.ndarray | None) -> _Chunk:
        """Check the chunk's poses and intrinsics and append them to the trajectory."""
        n = self.frames_per_chunk
        poses = validate_c2w(np.asarray(poses, dtype=np.float64), name="poses")
        if poses.shape[0] != n:
            raise SanaWMInputError(f"poses: expected {n} poses (one per pixel frame of a chunk), found {poses.shape[0]}")
        intr = state.intrinsics[-1:] if intrinsics is None else as_vec4(intrinsics)
        if intr.shape[0] not in (1, n):
            raise SanaWMInputError(f"intrinsics: expected (4,) or ({n}, 4), found {intr.shape}")
        a, b = self.chunk_latent_range(state.chunks_done)
        c2w = np.concatenate([state.c2w, poses])
        all_intr = np.concatenate([state.intrinsics, np.broadcast_to(intr, (n, 4))])
        return _Chunk(state.chunks_done, a, b, c2w, all_intr)

    def _reanchor(self, state: SessionSnapshot, chunk: _Chunk) -> SessionSnapshot:
        """Re-anchor: when the chunk would end past the model's trained context, a state whose cache is a fresh
        context made of the last ``n + 1`` committed latent frames (see the module docstring); else ``state``."""
        context = self.context_limit
        if context is None or chunk.b - state.anchor <= context:
            return state
        anchor = chunk.a - (self.settings.chunk_latent_frames + 1)
        latents = self._recent_latents(state)
        if self.settings.reanchor_sink == "start":
            latents = torch.cat([state.first_latent.to(latents), latents[:, :, 1:]], dim=2)
        saving = CachedStep(self._empty_cache(), save=True)
        count = latents.shape[2]
        cond = self._conditioning(chunk, anchor, 0, count)
        self._forward(chunk, latents, torch.zeros(1, count, device=self._device), saving, cond, 0)
        return replace(state, cache=saving.next_cache(), anchor=anchor)

    def _chunk_conditioning(self, state: SessionSnapshot, chunk: _Chunk) -> CameraConditioning:
        """The chunk's camera conditioning at its position in the current context (checks the model's length)."""
        la, lb = chunk.a - state.anchor, chunk.b - state.anchor
        limit = self.bundle.config.rope_max_seq_len
        if lb > limit:
            raise SessionStateError(
                f"the stream has reached the model's maximum length ({limit} latent frames, {chunk.index} chunks): "
                "rewind, or start a new stream from a frame of this one"
            )
        return self._conditioning(chunk, state.anchor, la, lb)

    def _cache_input(self, state: SessionSnapshot, chunk: _Chunk) -> torch.Tensor | None:
        """The world-cache input of the chunk's latent frames (see the module docstring): the model's view of the
        state's cache, from before this chunk, rendered at each latent key frame's pose; None for models without
        that input, and for sessions without a world cache (the model then sees zeros)."""
        if not self.bundle.config.cache_channels or self.world_memory is None or state.world is None:
            return None
        tf = self.bundle.codec.temporal_factor
        c2w, intrinsics = key_frame_poses(chunk.c2w, chunk.intrinsics, range(chunk.a, chunk.b), tf)
        seen = self.world_memory.model_view(state.world)
        renders = self.world_memory.render_frames(seen, c2w, intrinsics, self.bundle.frame_size)
        return cache_conditioning(renders, self.bundle.codec).to(self._device)

    def _sample(
        self, state: SessionSnapshot, chunk: _Chunk, cond: CameraConditioning, seen: torch.Tensor | None,
        progress: Progress | None,
    ) -> torch.Tensor:  # fmt: skip
        """Sample: the self-forcing Euler steps on the chunk's seeded noise with the cached context (chunk 0 keeps
        the image latent clean) -> clean chunk latents ``(1, C, b - a, h, w)``."""
        noise = self._noise(chunk.a, chunk.b)
        num_cond = 0
        if chunk.index == 0:
            noise[:, :, :1] = state.first_latent
            num_cond = 1
        offset = chunk.a - state.anchor
        return sample_chunk(
            lambda x, t: self._forward(chunk, x, t, CachedStep(state.cache), cond, offset, seen),
            noise,
            num_condition_frames=num_cond,
            timesteps=self.settings.timesteps,
            callback=None if progress is None else lambda i, total, _t: progress("sample", i + 1, total),
        )

    def _commit(
        self, state: SessionSnapshot, chunk: _Chunk, cond: CameraConditioning, seen: torch.Tensor | None,
        committed: torch.Tensor,
    ) -> StreamCache:  # fmt: skip
        """Commit: the t = 0 pass over the clean chunk that writes the next cache."""
        saving = CachedStep(state.cache, save=True)
        frame_t = torch.zeros(1, chunk.b - chunk.a, device=self._device)
        self._forward(chunk, committed, frame_t, saving, cond, chunk.a - state.anchor, seen)
        return saving.next_cache()

    def _shown_latents(self, chunk: _Chunk, frames: np.ndarray, latents: torch.Tensor) -> torch.Tensor:
        """What the chunk commits as the model's context: with sharp frames and ``commit_shown``, the decoded key
        frames (latent frame ``j`` is pixel frame ``temporal_factor * j``; chunk 0's image latent stays) encoded
        again, so the start view the decode trusted steadies the next chunks and the latents a re-anchor restarts
        from; otherwise the sampled ``latents``."""
        if not (self._guided and self.settings.commit_shown):
            return latents
        tf, codec = self.bundle.codec.temporal_factor, self.bundle.codec
        n = latents.shape[2]
        if chunk.index == 0:  # frames 0 .. 24; its first latent is the start image's, kept as it is
            first, keys = 1, [tf * j for j in range(1, n)]
        else:  # frames 1 .. 24 after the previous chunk's last
            first, keys = 0, [tf * (j + 1) - 1 for j in range(n)]
        shown = encode_each(codec, frames[keys]).to(latents)
        return torch.cat([latents[:, :, :first], shown], dim=2)

    def _grow_world(self, state: SessionSnapshot, frames: np.ndarray, c2w: np.ndarray, intrinsics: np.ndarray,
                    *, first_chunk: bool) -> CacheState | None:  # fmt: skip
        """World: the chunk's frames fused into the world cache (None without a depth source)."""
        if self.world_memory is None:
            return None
        return self.world_memory.after_chunk(state.world, frames, c2w, intrinsics, first_chunk=first_chunk,
                                             fuse_every=self._fuse_every)  # fmt: skip

    def _decode(self, state: SessionSnapshot, chunk: _Chunk,
                latents: torch.Tensor) -> tuple[np.ndarray, DecoderState | None]:  # fmt: skip
        """Decode: the causal decode of the chunk from the state's decoder state -> (frames, the next state). With
        sharp frames, guided by the world cache as it stood before the chunk, rendered at the frames' poses."""
        self._decoder.restore(state.decoder_state)
        if not self._guided:  # in pieces when the memory tier says so (the same frames, less memory)
            frames = decode_pieces(self._decoder, latents, self.bundle.memory.decode_latents_per_call)
            return self._floor_contrast(frames), self._decoder.snapshot()
        guide = None
        if state.world is not None:
            q0 = 0 if chunk.index == 0 else state.c2w.shape[0]
            world, size, memory = state.world, self.bundle.frame_size, self.world_memory
            observed = None
            if self._start_view is not None:
                seen = memory.observed(world)
                observed = observed_render(self._start_view, self._decoder.settings,
                                           lambda c2w, k: memory.render(seen, c2w, k, size))  # fmt: skip
            guide = FrameGuide(chunk.c2w[q0:], chunk.intrinsics[q0:],
                               lambda c2w, k: memory.render(world, c2w, k, size), observed)  # fmt: skip
        frames = self._decoder.decode_next(latents, guide)
        return self._floor_contrast(frames), self._decoder.snapshot()

    def _floor_contrast(self, frames: np.ndarray) -> np.ndarray:
        """The decoded frames with :attr:`StreamSettings.contrast_floor` applied (the start image's luma spread as
        the reference), before they are shown, committed or fused, so all three see the same frame."""
        floor = self.settings.contrast_floor
        if floor == 0.0:
            return frames
        if self._reference_std is None:
            reference = self.start_frame
            if reference is None:  # started from a latent without its frame
                reference = self.bundle.codec.decode(self._state.first_latent.float())[0]
            self._reference_std = luma_std(reference)
        return floor_contrast(frames, self._reference_std, floor, self.settings.contrast_cap)

    def _new_decoder(self) -> StreamDecoder:
        """The stream decoder of a new stream: guided by the world cache when the settings ask for sharp frames,
        the session has a world cache and the codec can say what its latents carry (``band``); else the codec's."""
        codec = self.bundle.codec
        self._guided = self.settings.sharp_frames and self.world_memory is not None and hasattr(codec, "band")
        self._fuse_every: int | None = None  # the world cache's own setting
        if not self._guided:
            return codec.stream_decoder()
        decode = sharp_decode(self.settings.sharp_decode)
        self._fuse_every = decode.fuse_every
        return GuidedStreamDecoder(codec, decode.settings)

    def _forward(
        self, chunk: _Chunk, latents: torch.Tensor, frame_t: torch.Tensor, mixing: CachedStep,
        cond: CameraConditioning, offset: int, seen: torch.Tensor | None = None,
    ) -> torch.Tensor:  # fmt: skip
        """One model call on context positions from ``offset`` (raises :class:`Cancelled` when asked to stop);
        ``seen`` is the world-cache input of models that take one (:meth:`_cache_input`)."""
        if self._cancel.is_set():
            raise Cancelled(f"chunk {chunk.index} cancelled")
        model = self.bundle.transformer
        caption, mask = self.caption if self.caption is not None else (None, None)
        cameras, plucker = cond.camera_conditions[None], cond.chunk_plucker[None].to(model.dtype)
        extra = {} if seen is None else {"cache": seen}
        with torch.inference_mode():
            return model(latents, frame_t, caption, mask, cameras, plucker, frame_offset=offset, mixing=mixing, **extra)

    def _conditioning(self, chunk: _Chunk, anchor: int, start: int, end: int) -> CameraConditioning:
        """Camera tensors of context frames ``[start, end)`` with poses re-based to latent frame ``anchor``. With
        ``reanchor_sink="start"`` a re-anchored context is the trajectory of a fresh stream made of the start frame
        (pixel frame 0) and the pixel frames after latent frame ``anchor``, so context position ``p >= 1`` is latent
        frame ``anchor + p`` and every pose is re-based to the start frame."""
        tf = self.bundle.codec.temporal_factor
        c2w, intrinsics = chunk.c2w[tf * anchor :], chunk.intrinsics[tf * anchor :]
        if self.settings.reanchor_sink == "start" and anchor > 0:
            c2w = np.concatenate([chunk.c2w[:1], chunk.c2w[tf * anchor + 1 :]])
            intrinsics = np.concatenate([chunk.intrinsics[:1], chunk.intrinsics[tf * anchor + 1 :]])
        conditioner = CameraConditioner(c2w, intrinsics, self.bundle.frame_size, self.bundle.latent_grid)
        return conditioner.conditioning(start, end).to(dtype=torch.float32, device=self._device)

    def _keep_recent(self, recent: torch.Tensor | None, committed: torch.Tensor) -> torch.Tensor | None:
        """The last ``n + 1`` committed latent frames (what a re-anchored chunk 0 is made of); None when the
        session never re-anchors."""
        if self.context_limit is None:
            return None
        frames = committed.detach() if recent is None else torch.cat([recent, committed.detach()], dim=2)
        return frames[:, :, -(self.settings.chunk_latent_frames + 1) :]

    def _recent_latents(self, state: SessionSnapshot) -> torch.Tensor:
        """The latents a re-anchor commits (kept in every snapshot of a session that can re-anchor)."""
        need = self.settings.chunk_latent_frames + 1
        if state.recent_latents is None or state.recent_latents.shape[2] != need:
            raise SessionStateError(
                f"re-anchoring needs the last {need} latent frames of the stream, which this state does not hold "
                "(it was made with re-anchoring off); continue it with settings.reanchor=False"
            )
        return state.recent_latents

    def _check_commit(self, latents: torch.Tensor, frames: int) -> torch.Tensor:
        w, h = self.bundle.latent_grid
        expected = (1, self.bundle.config.in_channels, frames, h, w)
        if tuple(latents.shape) != expected:
            raise SanaWMInputError(f"commit_latents: expected shape {expected}, found {tuple(latents.shape)}")
        return latents.to(dtype=self.bundle.transformer.dtype, device=self._device)

    def _check_noise(self, noise: torch.Tensor) -> torch.Tensor:
        w, h = self.bundle.latent_grid
        c = self.bundle.config.in_channels
        if noise.ndim != 5 or tuple(noise.shape[:2]) != (1, c) or tuple(noise.shape[3:]) != (h, w):
            raise SanaWMInputError(f"noise: expected shape (1, {c}, T, {h}, {w}), found {tuple(noise.shape)}")
        return noise.to(dtype=self.bundle.transformer.dtype, device=self._device)

    def _noise(self, a: int, b: int) -> torch.Tensor:
        """``(1, C, b - a, h, w)`` noise of latent frames ``[a, b)``: the fixed tensor's slice, or per-frame draws."""
        if self._fixed_noise is not None:
            if b > self._fixed_noise.shape[2]:
                raise SessionStateError(
                    f"the noise given to start() covers {self._fixed_noise.shape[2]} latent frames; chunk needs [{a}, {b})"
                )
            return self._fixed_noise[:, :, a:b].clone()
        w, h = self.bundle.latent_grid
        shape = (self.bundle.config.in_channels, h, w)
        return frame_noise(self.settings.seed, a, b, shape, dtype=self.bundle.transformer.dtype, device=self._device)
