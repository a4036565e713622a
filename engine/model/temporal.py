"""How the latent frames of one model call mix in time: bidirectional, chunk-causal, or cached streaming.

Only five operations of the DiT look across frames (spec streaming §2): the short conv on K, the Gated-DeltaNet
scans (main branch with normaliser, camera branch numerator-only), softmax attention (main and camera) and the
FFN's temporal conv. Every block hands these to a *time mixer*, so one block implementation serves all modes:

* :class:`BidirectionalMixer` — the bidirectional model: whole-clip scans, full attention, zero-padded conv;
* :class:`ChunkCausalMixer` — the uncached chunk-causal teacher over a whole clip cut into chunks: forward
  scans over all history, reverse scans and anti-causal conv halves inside each chunk, softmax queries of a chunk
  see their own chunk plus the chunks an :class:`~engine.model.chunks.AttentionWindow` allows, the FFN temporal
  conv sees the previous chunk's last frame and zeros after the chunk;
* :class:`engine.model.stream_cache.CachedMixer` — one chunk at a time from cached state (streaming).

The chunk-causal mixer is the reference the cached one is tested against; it is written on the whole clip (no
states carried between chunks) so the two share no streaming logic.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import torch
import torch.nn.functional as F

from engine.model.chunks import AttentionWindow, chunk_bounds
from engine.ops import bidirectional_delta_numerator, bidirectional_gated_delta, bidirectional_short_conv
from engine.ops.dispatch import gated_delta_kernels
from engine.ops.short_conv import anticausal_short_conv, causal_short_conv

#: ``sdpa(q, k, v) -> out`` with the block's scale and precision already bound.
Attend = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]


class TimeMixer(Protocol):
    """The cross-frame operations of one block in one call. Tensor layouts as in :mod:`engine.ops`."""

    def short_conv(self, slot: str, x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        """``x (B, T, S, C)`` (pre-conv K of branch ``slot``: "main" or "camera") -> filtered, same shape."""
        ...

    def gated_delta(
        self, q, k, v, q_rot, k_rot, beta, g, *, eps: float, impl: str
    ) -> torch.Tensor:  # fmt: skip
        """Main GDN branch ``(num_f + num_r) / (den_f + den_r + eps)`` on ``(B, H, T, S, D)`` fp32 features."""
        ...

    def delta_numerator(self, q, k, v, beta, g, *, impl: str) -> torch.Tensor:
        """Camera GDN branch (numerator only)."""
        ...

    def attend(self, slot: str, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, sdpa: Attend) -> torch.Tensor:
        """Softmax attention of branch ``slot`` on ``(B, H, N, D)`` post-RoPE / post-UCPE operands."""
        ...

    def temporal_conv(self, y: torch.Tensor, t_conv: torch.nn.Conv2d) -> torch.Tensor:
        """FFN ``y + t_conv(y)`` on ``y (B, C, T, S)``."""
        ...


class TimeMixing(Protocol):
    """Hands each block its mixer for one model call (stateless modes return one shared mixer)."""

    def for_block(self, index: int) -> TimeMixer: ...


def zero_padded_temporal_conv(
    y: torch.Tensor, t_conv: torch.nn.Conv2d, before: torch.Tensor | None = None
) -> torch.Tensor:
    """``y + t_conv([before, y, zeros])`` on ``y (B, C, T, S)``; ``before`` = the ``k // 2`` frames preceding
    ``y`` (zeros when None). The frames after ``y`` are always zeros (chunk-local right edge)."""
    half = t_conv.kernel_size[0] // 2
    if before is None:
        padded = F.pad(y, (0, 0, half, half))
    else:
        padded = torch.cat([before.to(y.dtype), F.pad(y, (0, 0, 0, half))], dim=2)
    return y + t_conv(padded)


class BidirectionalMixer:
    """The bidirectional model: every frame sees every frame of the call."""

    def for_block(self, index: int) -> BidirectionalMixer:
        return self

    def short_conv(self, slot: str, x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        return bidirectional_short_conv(x, weight)

    def gated_delta(self, q, k, v, q_rot, k_rot, beta, g, *, eps: float, impl: str) -> torch.Tensor:
        return bidirectional_gated_delta(q, k, v, q_rot, k_rot, beta, g, eps=eps, impl=impl)

    def delta_numerator(self, q, k, v, beta, g, *, impl: str) -> torch.Tensor:
        return bidirectional_delta_numerator(q, k, v, beta, g, impl=impl)

    def attend(self, slot: str, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, sdpa: Attend) -> torch.Tensor:
        return sdpa(q, k, v)

    def temporal_conv(self, y: torch.Tensor, t_conv: torch.nn.Conv2d) -> torch.Tensor:
        return zero_padded_temporal_conv(y, t_conv)


#: The shared (stateless) bidirectional mixer, the default of every block.
BIDIRECTIONAL = BidirectionalMixer()


class ChunkCausalMixer:
    """The uncached chunk-causal teacher on a whole clip (spec streaming §2, windowed softmax as §3.3).

    Args:
        starts: chunk start frames (``chunks.sampler_chunk_starts`` / ``teacher_chunk_starts``).
        num_frames: frames of the call.
        window: which earlier chunks softmax queries see; :meth:`AttentionWindow.full` is the teacher of the
            spec (all of ``[0, b)``); the streaming window gives what a cached rollout computes.
    """

    def __init__(self, starts: tuple[int, ...], num_frames: int, window: AttentionWindow | None = None) -> None:
        self.bounds = chunk_bounds(starts, num_frames)
        self.window = window or AttentionWindow.full()

    def for_block(self, index: int) -> ChunkCausalMixer:
        return self

    def short_conv(self, slot: str, x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        # causal half over the whole clip, anti-causal half inside each chunk, the centre tap counted once
        backward = torch.cat([anticausal_short_conv(x[:, a:b], weight) for a, b in self.bounds], dim=1)
        return causal_short_conv(x, weight) + backward - weight[:, 0, -1].to(x.dtype) * x

    def _reverse_per_chunk(self, scan, *features, beta, g) -> torch.Tensor:
        pieces = [
            scan(*(f[:, :, a:b] for f in features), beta[:, :, a:b], g[:, :, a:b], reverse=True)[0]
            for a, b in self.bounds
        ]
        return torch.cat(pieces, dim=2)

    def gated_delta(self, q, k, v, q_rot, k_rot, beta, g, *, eps: float, impl: str) -> torch.Tensor:
        kernels = gated_delta_kernels(impl, q.device)
        num_f, _ = kernels.numerator_scan(q_rot, k_rot, v, beta, g)
        den_f, _ = kernels.normaliser_scan(q, k, beta, g)
        num_r = self._reverse_per_chunk(kernels.numerator_scan, q_rot, k_rot, v, beta=beta, g=g)
        den_r = self._reverse_per_chunk(kernels.normaliser_scan, q, k, beta=beta, g=g)
        return (num_f + num_r) / (den_f + den_r + eps)[..., None]

    def delta_numerator(self, q, k, v, beta, g, *, impl: str) -> torch.Tensor:
        kernels = gated_delta_kernels(impl, q.device)
        fwd, _ = kernels.numerator_scan(q, k, v, beta, g)
        return fwd + self._reverse_per_chunk(kernels.numerator_scan, q, k, v, beta=beta, g=g)

    def attend(self, slot: str, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, sdpa: Attend) -> torch.Tensor:
        num_frames = self.bounds[-1][1]
        s = q.shape[2] // num_frames  # tokens per frame

        def tokens(frames: list[tuple[int, int]]) -> torch.Tensor:
            return torch.cat([torch.arange(a * s, b * s, device=q.device) for a, b in frames])

        outputs = []
        for index, (a, b) in enumerate(self.bounds):
            keys = tokens([self.bounds[j] for j in self.window.visible(index)] + [(a, b)])
            outputs.append(sdpa(q[:, :, a * s : b * s], k[:, :, keys], v[:, :, keys]))
        return torch.cat(outputs, dim=2)

    def temporal_conv(self, y: torch.Tensor, t_conv: torch.nn.Conv2d) -> torch.Tensor:
        half = t_conv.kernel_size[0] // 2
        pieces = []
        for a, b in self.bounds:
            before = F.pad(y[:, :, max(a - half, 0) : a], (0, 0, max(half - a, 0), 0))  # zeros before frame 0
            pieces.append(zero_padded_temporal_conv(y[:, :, a:b], t_conv, before))
        return torch.cat(pieces, dim=2)
