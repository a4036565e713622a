"""Final layer (spec model §5.10): per-frame adaLN with the *timestep embedding* (not ``t_block``), then a linear
map to the latent channels. ``scale_shift_table`` row 0 is the shift, row 1 the scale."""

from __future__ import annotations

import torch
import torch.nn as nn

from engine.model.norms import modulated_layer_norm


class FinalLayer(nn.Module):
    def __init__(self, hidden_size: int, out_channels: int, eps: float) -> None:
        super().__init__()
        self.eps = eps
        self.scale_shift_table = nn.Parameter(torch.randn(2, hidden_size) / hidden_size**0.5)
        self.linear = nn.Linear(hidden_size, out_channels)

    def forward(self, h: torch.Tensor, e: torch.Tensor) -> torch.Tensor:
        """``h (B, N, C)``, ``e (B, T, C)`` timestep embeddings -> ``(B, N, C_out)``."""
        shift, scale = (self.scale_shift_table[None, None] + e[:, :, None]).unbind(dim=2)  # (B, T, C) each
        return self.linear(modulated_layer_norm(h, shift, scale, e.shape[1], self.eps))
