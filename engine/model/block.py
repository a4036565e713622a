"""One DiT block (spec model §4): adaLN-single per latent frame, dual-branch self-attention, Plücker injection,
cross-attention, GLUMBConvTemp FFN.

    (sh_a, sc_a, g_a, sh_m, sc_m, g_m) = scale_shift_table + t_block(e)[f]          per frame f
    h <- h + g_a * Attn(LN(h) (1 + sc_a) + sh_a)
    h <- h + plucker_proj(plucker_emb)
    h <- h + CrossAttn(h, caption)                                                    (if text conditioning)
    h <- h + g_m * FFN(LN(h) (1 + sc_m) + sh_m)
"""

from __future__ import annotations

import torch
import torch.nn as nn

from engine.model.config import SanaWMConfig
from engine.model.cross_attention import CrossAttention
from engine.model.ffn import GLUMBConvTemp
from engine.model.gdn_attention import GDNAttention
from engine.model.norms import frame_gate, modulated_layer_norm
from engine.model.softmax_attention import SoftmaxAttention
from engine.model.time_mixing import BIDIRECTIONAL, TimeMixer
from engine.model.ucpe import UCPEEncoding


class SanaWMBlock(nn.Module):
    def __init__(self, config: SanaWMConfig, index: int) -> None:
        super().__init__()
        c = config.hidden_size
        self.eps = config.layer_norm_eps
        self.is_softmax = config.is_softmax_block(index)
        self.scale_shift_table = nn.Parameter(torch.randn(6, c) / c**0.5)
        self.attn = SoftmaxAttention(config) if self.is_softmax else GDNAttention(config)
        self.plucker_proj = nn.Linear(c, c)
        self.cross_attn = CrossAttention(config) if config.text_conditioning else None
        self.mlp = GLUMBConvTemp(config)

    def forward(
        self,
        h: torch.Tensor,
        e6: torch.Tensor,
        grid: tuple[int, int, int],
        rope: torch.Tensor,
        ucpe: UCPEEncoding | None,
        plucker_emb: torch.Tensor | None,
        caption: torch.Tensor | None,
        caption_bias: torch.Tensor | None,
        mixer: TimeMixer = BIDIRECTIONAL,
    ) -> torch.Tensor:
        """Args: ``h (B, N, C)`` tokens; ``e6 (B, T, 6C)`` = ``t_block(e)``; ``grid (T, H, W)``; ``rope (N, D/2)``;
        ``ucpe`` camera transforms or None; ``plucker_emb (B, N, C)`` or None; ``caption (B, L, C)`` embedded and
        ``caption_bias (B, 1, 1, L)`` (ignored without text conditioning); ``mixer`` = how frames mix in time
        (:mod:`engine.model.time_mixing`). Returns ``(B, N, C)``."""
        b, _, c = h.shape
        t = grid[0]
        mods = self.scale_shift_table[None, None] + e6.view(b, t, 6, c)  # (B, T, 6, C)
        shift_a, scale_a, gate_a, shift_m, scale_m, gate_m = mods.unbind(dim=2)  # (B, T, C) each

        u = modulated_layer_norm(h, shift_a, scale_a, t, self.eps)
        h = h + frame_gate(self.attn(u, t, rope, ucpe, mixer), gate_a, t)
        if plucker_emb is not None:
            h = h + self.plucker_proj(plucker_emb)
        if self.cross_attn is not None:
            h = h + self.cross_attn(h, caption, caption_bias)
        u = modulated_layer_norm(h, shift_m, scale_m, t, self.eps)
        return h + frame_gate(self.mlp(u, grid, mixer), gate_m, t)
