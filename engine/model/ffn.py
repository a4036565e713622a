"""The FFN ``GLUMBConvTemp`` (spec model §5.9): a gated inverted-bottleneck conv per frame plus a temporal conv.

Per latent frame (an ``H x W`` image of C channels): 1x1 conv C -> 2F (+bias, SiLU), depthwise 3x3 (+bias),
``a * SiLU(g)`` on the two halves, 1x1 conv F -> C (no bias) = ``y``. Then across frames, a full
``Conv2d(C, C, (k, 1))`` over the ``(T, S)`` plane: ``out = y + t_conv(y)``, zero-padded at both clip ends
(chunk-causal and streaming calls pad differently: :mod:`engine.model.time_mixing`).

Key names keep the official ``.conv.`` level (``mlp.inverted_conv.conv.weight``); ``t_conv`` has none.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from engine.model.config import SanaWMConfig
from engine.model.time_mixing import BIDIRECTIONAL, TimeMixer


class ConvLayer(nn.Module):
    """A Conv2d under the attribute ``conv`` (for the official key names)."""

    def __init__(self, in_ch: int, out_ch: int, kernel: int, groups: int = 1, bias: bool = True) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_ch, out_ch, kernel, padding=kernel // 2, groups=groups, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


class GLUMBConvTemp(nn.Module):
    def __init__(self, config: SanaWMConfig) -> None:
        super().__init__()
        c, f, kt = config.hidden_size, config.mlp_hidden, config.t_kernel_size
        self.inverted_conv = ConvLayer(c, 2 * f, 1)
        self.depth_conv = ConvLayer(2 * f, 2 * f, 3, groups=2 * f)
        self.point_conv = ConvLayer(f, c, 1, bias=False)
        self.t_conv = nn.Conv2d(c, c, (kt, 1), bias=False)

    def forward(self, x: torch.Tensor, grid: tuple[int, int, int], mixer: TimeMixer = BIDIRECTIONAL) -> torch.Tensor:
        """``x (B, N, C)`` frame-major tokens of the ``(T, H, W)`` grid -> ``(B, N, C)``; ``mixer`` applies the
        temporal conv (zero frames at the clip ends, or the previous chunk's frame when streaming)."""
        b, n, c = x.shape
        t, h, w = grid
        y = x.view(b * t, h, w, c).permute(0, 3, 1, 2)  # (B*T, C, H, W)
        y = self.depth_conv(F.silu(self.inverted_conv(y)))
        a, gate = y.chunk(2, dim=1)
        y = self.point_conv(a * F.silu(gate))  # (B*T, C, H, W)
        y = y.view(b, t, c, h * w).transpose(1, 2)  # (B, C, T, S)
        return mixer.temporal_conv(y, self.t_conv).permute(0, 2, 3, 1).reshape(b, n, c)
