"""Bidirectional time mixing (the released bidirectional model): every frame of the call sees every frame.

The short conv is the symmetric window with zeros outside the clip, the gated delta scans run forward and reverse
over the whole call from zero states, softmax attends over all tokens, and the FFN's temporal conv sees zero frames
at both ends. The other modes reuse :func:`zero_padded_temporal_conv` with the frames before a chunk.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from engine.model.time_mixing.protocol import Attend
from engine.ops.gated_delta import GatedDeltaScan, bidirectional_delta_numerator, bidirectional_gated_delta
from engine.ops.short_conv import bidirectional_short_conv


def zero_padded_temporal_conv(
    y: torch.Tensor, t_conv: torch.nn.Conv2d, before: torch.Tensor | None = None
) -> torch.Tensor:
    """``y + t_conv([before, y, zeros])`` on ``y (B, C, T, S)``.

    ``before (B, C, k // 2, S)`` = the frames preceding ``y`` (zeros when None: the clip's start). The frames after
    ``y`` are always zeros: the right edge is the clip's (or the chunk's) end.
    """
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

    def gated_delta(self, scan: GatedDeltaScan, q, k, v, q_rot, k_rot, beta, g, *, eps: float) -> torch.Tensor:
        return bidirectional_gated_delta(scan, q, k, v, q_rot, k_rot, beta, g, eps=eps)[0]

    def delta_numerator(self, scan: GatedDeltaScan, q, k, v, beta, g) -> torch.Tensor:
        return bidirectional_delta_numerator(scan, q, k, v, beta, g)[0]

    def attend(self, slot: str, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, sdpa: Attend) -> torch.Tensor:
        return sdpa(q, k, v)

    def temporal_conv(self, y: torch.Tensor, t_conv: torch.nn.Conv2d) -> torch.Tensor:
        return zero_padded_temporal_conv(y, t_conv)


#: The shared (stateless) bidirectional mixer, the default of every block.
BIDIRECTIONAL = BidirectionalMixer()
