"""The contract of a time-mixing mode: the five cross-frame operations a block hands over (spec streaming §2).

Everything else in a block (norms, projections, gates, UCPE, adaLN, cross-attention, the FFN's spatial part) works
per token or per frame and is the same in every mode. Tensor layouts are those of :mod:`engine.ops`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import torch

from engine.ops.gated_delta import GatedDeltaScan

#: ``sdpa(q, k, v) -> out`` with the block's scale and precision already bound.
Attend = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]


class TimeMixer(Protocol):
    """The cross-frame operations of one block in one model call."""

    def short_conv(self, slot: str, x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        """``x (B, T, S, C)`` pre-conv K of branch ``slot`` ("main" or "camera"), ``weight (C, 1, K)`` -> same shape."""
        ...

    def gated_delta(
        self, scan: GatedDeltaScan, q, k, v, q_rot, k_rot, beta, g, *, eps: float
    ) -> torch.Tensor:  # fmt: skip
        """GDN main branch ``(num_f + num_r) / (den_f + den_r + eps)``: fp32 features ``(B, H, T, S, D)``,
        ``beta (B, H, T, S)``, ``g (B, H, T)`` -> ``(B, H, T, S, D)``."""
        ...

    def delta_numerator(self, scan: GatedDeltaScan, q, k, v, beta, g) -> torch.Tensor:
        """GDN camera branch (numerator only), same layouts."""
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
