"""Normalisations of the DiT: full-channel RMSNorm and the per-frame adaLN modulation.

RMSNorm (spec §5.2, [M12]): ``w * (u * rsqrt(mean(u^2) + eps))`` computed in fp32 and cast back to the input
dtype. It normalises over *all* channels (2240 for the official model), not per head, which is why q/k norms act
before the head split. LayerNorm in the blocks and final layer has no affine parameters (eps 1e-6).
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F


class RMSNorm(nn.Module):
    """RMSNorm over the last dim with a learned scale ``weight`` (no bias)."""

    def __init__(self, dim: int, eps: float) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x32 = x.float()
        x32 = x32 * torch.rsqrt(x32.pow(2).mean(-1, keepdim=True) + self.eps)
        return (x32 * self.weight.float()).to(x.dtype)


def modulated_layer_norm(
    h: torch.Tensor, shift: torch.Tensor, scale: torch.Tensor, num_frames: int, eps: float
) -> torch.Tensor:
    """``LN(h) * (1 + scale) + shift`` with one (shift, scale) per latent frame.

    Args:
        h: ``(B, N, C)`` tokens, frame-major (``N = T * S``).
        shift, scale: ``(B, T, C)`` per-frame modulation (adaLN-single rows, spec §4).
    """
    b, n, c = h.shape
    x = F.layer_norm(h, (c,), eps=eps).view(b, num_frames, n // num_frames, c)  # (B, T, S, C)
    return (x * (1 + scale[:, :, None]) + shift[:, :, None]).view(b, n, c)


def frame_gate(x: torch.Tensor, gate: torch.Tensor, num_frames: int) -> torch.Tensor:
    """``gate[f] * x`` for the tokens of every frame ``f``; ``x (B, N, C)``, ``gate (B, T, C)``."""
    b, n, c = x.shape
    return (x.view(b, num_frames, n // num_frames, c) * gate[:, :, None]).view(b, n, c)
