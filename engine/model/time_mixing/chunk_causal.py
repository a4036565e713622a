"""Chunk-causal time mixing: the uncached teacher over a whole clip cut into chunks (spec streaming §2, §3.3).

Forward scans and the causal half of the short conv run over all history; reverse scans and the anti-causal conv
half stay inside each chunk; softmax queries of a chunk see their own chunk plus the earlier chunks an
:class:`~engine.model.chunks.AttentionWindow` allows; the FFN temporal conv sees the previous chunk's last frame and
zeros after the chunk.

This is the reference the cached streaming mode (:mod:`.streaming`) is tested against. It is written on the whole
clip (no states carried between chunks), so the two share no streaming logic, only the ops.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from engine.model.chunks import AttentionWindow, chunk_bounds
from engine.model.time_mixing.bidirectional import zero_padded_temporal_conv
from engine.model.time_mixing.protocol import Attend
from engine.ops.gated_delta import GatedDeltaScan, bidirectional_delta_numerator, bidirectional_gated_delta
from engine.ops.short_conv import anticausal_short_conv, causal_short_conv


class ChunkCausalMixer:
    """The uncached chunk-causal teacher on a whole clip.

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

    def gated_delta(self, scan: GatedDeltaScan, q, k, v, q_rot, k_rot, beta, g, *, eps: float) -> torch.Tensor:
        return bidirectional_gated_delta(scan, q, k, v, q_rot, k_rot, beta, g, eps=eps, reverse_segments=self.bounds)[0]

    def delta_numerator(self, scan: GatedDeltaScan, q, k, v, beta, g) -> torch.Tensor:
        return bidirectional_delta_numerator(scan, q, k, v, beta, g, reverse_segments=self.bounds)[0]

    def attend(self, slot: str, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, sdpa: Attend) -> torch.Tensor:
        s = q.shape[2] // self.bounds[-1][1]  # tokens per frame

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
