"""The records a streaming session produces and keeps: how it samples, each chunk it made, and its state between chunks.

Kept apart from :mod:`engine.generation.session` (which makes them) because everything downstream reads them — the
session document (:mod:`engine.generation.project`), the ``.swm`` format (:mod:`engine.generation.session_file`),
refining (:mod:`engine.generation.refine`) and the explorer — without running a session. All three are frozen:
snapshots share tensors, so a record or snapshot can be kept, saved or handed to another thread as it is.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from engine.components.contrast_floor import check_floor
from engine.components.codec import DecoderState, decoder_state_from_tensors
from engine.errors import SanaWMInputError, WorldCacheError, clip_text
from engine.generation.sampling import SELF_FORCING_TIMESTEPS
from engine.model.chunks import CHUNK_SIZE, AttentionWindow
from engine.model.stream_cache import StreamCache
from engine.world_cache import CacheState
from engine.world_cache import from_tensors as world_from_tensors
from engine.world_cache import to_tensors as world_to_tensors


#: What position 0 of a re-anchored context may hold (:attr:`StreamSettings.reanchor_sink`).
REANCHOR_SINKS = ("recent", "start")


def check_reanchor_sink(sink: Any) -> None:
    """Raise :class:`SanaWMInputError` unless ``sink`` is one of :data:`REANCHOR_SINKS`."""
    if sink not in REANCHOR_SINKS:
        raise SanaWMInputError(f"reanchor_sink: expected one of {', '.join(REANCHOR_SINKS)}, found {clip_text(repr(sink), 60)}")


@dataclass(frozen=True)
class StreamSettings:
    """How a session samples.

    Attributes:
        window: softmax attention window (official: 2 cached chunks with the image chunk as sink).
        timesteps: self-forcing denoising list (the final 0 is implied).
        chunk_latent_frames: latent frames per chunk after chunk 0 (3).
        seed: noise seed; chunk noise is drawn per latent frame from ``(seed, frame)``, so a rewound session
            re-draws exactly the same noise and the noise never depends on how far the stream will go.
        reanchor: re-anchor when the model's trained context is full (see :mod:`engine.generation.session`); only
            models that declare a context (:attr:`ModelBundle.context_frames`) are affected. False = never (for
            measurements).
        sharp_frames: decode with the world cache as a guide (:mod:`engine.components.guided_decode`): detail
            where the cache knows the scene, no block grid, motion instead of a cross-fade between key frames. Only
            sessions with a world cache whose codec offers ``band`` (the embedded patch codec) are affected; False =
            the codec's own decode (for comparisons).
        commit_shown: with sharp frames, the model's context for the next chunks (the t = 0 commit pass and the
            latents a re-anchor restarts from) is the chunk's key frames *as shown*, encoded again, rather than the
            sampled latents: what the decode took from a real image then steadies the model too (docs/embedded_model.md
            "Sharp frames"). The chunk record keeps the sampled latents either way. False = commit what was sampled.
        sharp_decode: which sharp decode (a key of :data:`engine.components.guided_decode.SHARP_DECODES`): 1 as
            first shipped (the cache's detail only), 2 trusting the start image, 3 that with bicubic warps (the
            default). Saved in session files, so a stream continues with the decode it was made with.
        contrast_floor: no shown frame's luma spread falls below this share of the start image's
            (:mod:`engine.components.contrast_floor`: the washed-out haze where the model invents is stretched about
            its mean colour); 0 = off; None = the model's own (:attr:`ModelBundle.contrast_floor`, which the session
            puts here). Saved in session files; files from before it read 0.
        contrast_cap: the largest stretch the floor applies to one frame.
        reanchor_sink: what position 0 of a re-anchored context holds: ``"recent"`` the oldest of the last
            ``n + 1`` committed latent frames (so the context is the stream's last 4 latent frames), ``"start"`` the
            start image's latent, followed by the last ``n`` committed frames, with poses re-based to the start frame
            as in the first context (the sink every chunk attends to stays the real start image). ``"recent"`` is the
            default: on the embedded model ``"start"`` lost about 2 dB at 20 s (docs/embedded_model.md, "The start
            image as the sink"). Saved in session files; files from before it read ``"recent"``.
    """

    window: AttentionWindow = AttentionWindow()
    timesteps: tuple[float, ...] = SELF_FORCING_TIMESTEPS
    chunk_latent_frames: int = CHUNK_SIZE
    seed: int = 42
    reanchor: bool = True
    sharp_frames: bool = True
    commit_shown: bool = True
    sharp_decode: int = 3
    contrast_floor: float | None = None
    contrast_cap: float = 2.0
    reanchor_sink: str = "recent"

    def __post_init__(self) -> None:
        check_floor(0.0 if self.contrast_floor is None else self.contrast_floor, self.contrast_cap)
        check_reanchor_sink(self.reanchor_sink)


@dataclass(frozen=True)
class ChunkRecord:
    """One generated chunk.

    Attributes:
        index: chunk number (0 holds the start image).
        latent_range: ``[a, b)`` latent frames of the stream.
        pixel_range: ``[p, q)`` pixel frames of the stream (chunk 0: ``[0, 25)``, chunk k: ``[24k + 1, 24k + 25)``).
        latents: ``(1, C, b - a, h, w)`` clean latents (chunk 0 includes the image latent).
        frames: ``(q - p, H, W, 3)`` uint8 decoded frames (chunk 0's first frame is the image reconstruction).
        c2w: ``(q - p, 4, 4)`` camera-to-world poses of those frames (session world: frame 0 = start pose).
        intrinsics: ``(q - p, 4)`` ``fx, fy, cx, cy`` in frame pixels.
        timings: seconds: ``reanchor``, ``sample`` (denoising calls), ``cache`` (t = 0 pass), ``decode``, ``total``.
        snapshot: the session state after this chunk (None when the session keeps no snapshots).
    """

    index: int
    latent_range: tuple[int, int]
    pixel_range: tuple[int, int]
    latents: torch.Tensor
    frames: np.ndarray
    c2w: np.ndarray
    intrinsics: np.ndarray
    timings: dict[str, float]
    snapshot: SessionSnapshot | None = field(default=None, repr=False)


@dataclass(frozen=True)
class SessionSnapshot:
    """Everything needed to continue a stream from a chunk boundary. Immutable; holds references only."""

    chunks_done: int
    cache: StreamCache
    decoder_state: DecoderState | None
    c2w: np.ndarray  # (F, 4, 4) pixel-frame poses so far
    intrinsics: np.ndarray  # (F, 4)
    first_latent: torch.Tensor  # (1, C, 1, h, w)
    history_length: int
    anchor: int = 0  # latent frame of the stream that is position 0 of the model's current context
    recent_latents: torch.Tensor | None = None  # (1, C, <= n + 1, h, w) last committed latents (re-anchoring)
    world: CacheState | None = None  # the world cache (None: the session has no depth source)

    def to_tensors(self) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        """Flatten for saving: ``({name: tensor}, json-able metadata)``; :meth:`from_tensors` is the inverse.

        Names: ``cache.<name>`` (:meth:`StreamCache.to_tensors`), ``decoder.<name>`` (the decoder state's
        :meth:`~engine.components.codec.DecoderState.to_tensors`), ``c2w``, ``intrinsics`` (float64, from the
        numpy arrays), ``first_latent`` and ``recent_latents`` (when kept), ``world.<field>`` (the world cache,
        :func:`engine.world_cache.to_tensors`, when there is one). Torch tensors are the snapshot's own (no
        copies), so a writer can store a tensor that several snapshots share (the sink K/V, the first latent) once.
        """
        cache_tensors, cache_meta = self.cache.to_tensors()
        tensors = {f"cache.{name}": t for name, t in cache_tensors.items()}
        decoder = None
        if self.decoder_state is not None:
            state_tensors, state_meta = self.decoder_state.to_tensors()
            tensors.update({f"decoder.{name}": t for name, t in state_tensors.items()})
            decoder = {"kind": self.decoder_state.kind, "meta": state_meta}
        tensors["c2w"] = torch.from_numpy(np.ascontiguousarray(self.c2w))
        tensors["intrinsics"] = torch.from_numpy(np.ascontiguousarray(self.intrinsics))
        tensors["first_latent"] = self.first_latent
        if self.recent_latents is not None:
            tensors["recent_latents"] = self.recent_latents
        meta = {"chunks_done": self.chunks_done, "history_length": self.history_length, "anchor": self.anchor,
                "cache": cache_meta, "decoder": decoder}  # fmt: skip
        if self.world is not None:
            world_tensors, meta["world"] = world_to_tensors(self.world)
            tensors.update({f"world.{name}": t for name, t in world_tensors.items()})
        return tensors, meta

    @classmethod
    def from_tensors(
        cls, tensors: dict[str, torch.Tensor], meta: dict[str, Any], *, world_errors: list[str] | None = None
    ) -> SessionSnapshot:
        """Rebuild a snapshot from :meth:`to_tensors` output (tensors used as given). Raises
        :class:`~engine.errors.SanaWMInputError` naming what is malformed.

        The world cache is an optional part: with a ``world_errors`` list, a missing or malformed world cache is
        reported there and the snapshot comes back without it (a session that opens without its cache, and says
        so); without a list it raises :class:`~engine.errors.WorldCacheError`."""
        groups: dict[str, dict[str, torch.Tensor]] = {"cache": {}, "decoder": {}, "world": {}}
        for name, tensor in tensors.items():
            group, dot, rest = name.partition(".")
            if dot and group in groups:
                groups[group][rest] = tensor
        try:
            cache = StreamCache.from_tensors(groups["cache"], meta["cache"])
        except ValueError as exc:
            raise SanaWMInputError(f"session snapshot: the stream cache is malformed ({exc})") from None
        decoder = meta.get("decoder")
        decoder_state = None
        if decoder is not None:
            decoder_state = decoder_state_from_tensors(decoder["kind"], groups["decoder"], decoder.get("meta", {}))
        missing = [name for name in ("c2w", "intrinsics", "first_latent") if name not in tensors]
        if missing:
            raise SanaWMInputError(f"session snapshot: expected the tensors c2w, intrinsics and first_latent, missing {missing}")
        return cls(
            chunks_done=int(meta["chunks_done"]),
            cache=cache,
            decoder_state=decoder_state,
            c2w=tensors["c2w"].cpu().numpy(),
            intrinsics=tensors["intrinsics"].cpu().numpy(),
            first_latent=tensors["first_latent"],
            history_length=int(meta["history_length"]),
            anchor=int(meta.get("anchor", 0)),
            recent_latents=tensors.get("recent_latents"),
            world=_world_in(groups["world"], meta.get("world"), world_errors),
        )


def _world_in(tensors: dict[str, torch.Tensor], meta: Any, errors: list[str] | None) -> CacheState | None:
    """The snapshot's world cache, None when it was saved without one (see :meth:`SessionSnapshot.from_tensors`)."""
    if meta is None and not tensors:
        return None
    try:
        return world_from_tensors(tensors, meta)
    except WorldCacheError as exc:
        if errors is None:
            raise
        errors.append(str(exc))
        return None
