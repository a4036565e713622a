"""Cross-attention from video tokens to the caption (spec model §5.8).

``q = RMSNorm(q_linear(h))``, ``[k | v] = kv_linear(c)`` with ``k = RMSNorm(k)`` (full-channel norms, eps 1e-6),
``num_heads`` heads, default scale, padded caption tokens masked with the official additive bias
``(1 - mask) * -10000``; ``proj`` at the end. It reads the un-normalised residual stream and has no adaLN gate.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from engine.model.config import SanaWMConfig
from engine.model.norms import RMSNorm


def caption_bias(mask: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """``(B, L)`` 1 = valid -> additive ``(B, 1, 1, L)`` bias, 0 or -10000."""
    return ((1.0 - mask.to(torch.float32)) * -10000.0).to(dtype)[:, None, None, :]


class CrossAttention(nn.Module):
    def __init__(self, config: SanaWMConfig) -> None:
        super().__init__()
        c = config.hidden_size
        self.heads = config.num_heads
        self.q_linear = nn.Linear(c, c)
        self.kv_linear = nn.Linear(c, 2 * c)
        self.proj = nn.Linear(c, c)
        self.q_norm = RMSNorm(c, config.cross_norm_eps)
        self.k_norm = RMSNorm(c, config.cross_norm_eps)

    def forward(self, h: torch.Tensor, caption: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        """``h (B, N, C)``, ``caption (B, L, C)`` embedded text, ``bias (B, 1, 1, L)`` -> ``(B, N, C)``."""
        b, n, c = h.shape
        heads = lambda x: x.view(b, -1, self.heads, c // self.heads).transpose(1, 2)  # (B, H, *, D)  # noqa: E731
        q = heads(self.q_norm(self.q_linear(h)))
        k, v = self.kv_linear(caption).split(c, dim=-1)
        out = F.scaled_dot_product_attention(q, heads(self.k_norm(k)), heads(v), attn_mask=bias.to(q.dtype))
        return self.proj(out.transpose(1, 2).reshape(b, n, c))
