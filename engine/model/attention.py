"""Parameter layout and shared pieces of the dual-branch self-attention (spec model §5.4-5.6, §7).

GDN blocks and softmax blocks have the *same* checkpoint layout (softmax blocks only lack the short convs): a
main branch (``qkv``, ``q_norm``, ``k_norm``), the GDN gates (``beta_proj``, ``gate_proj``, ``A_log``,
``dt_bias``; present but unused in softmax blocks), a camera branch (``q/k/v_proj_cam``, ``q/k_norm_cam``,
``out_proj_cam``) and one output gate shared by both branches:

    Attn(u) = proj( (o_main + out_proj_cam(o_cam)) * SiLU(output_gate(u)) )

The SiLU gate and the product run in fp32 and are cast to ``proj``'s dtype. ``recall_gate`` is a zero buffer
kept only so official checkpoints round-trip.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from engine.model.config import SanaWMConfig
from engine.model.norms import RMSNorm


class DualBranchAttention(nn.Module):
    """Shared parameters and helpers of :class:`GDNAttention` and :class:`SoftmaxAttention`."""

    def __init__(self, config: SanaWMConfig) -> None:
        super().__init__()
        c, heads = config.hidden_size, config.self_attn_heads
        self.config = config
        self.heads = heads
        self.head_dim = config.head_dim
        # main branch
        self.qkv = nn.Linear(c, 3 * c, bias=False)
        self.q_norm = RMSNorm(c, config.qk_norm_eps)
        self.k_norm = RMSNorm(c, config.qk_norm_eps)
        # gates (per token beta, per frame decay), shared by both branches of GDN blocks
        self.beta_proj = nn.Linear(c, heads)
        self.gate_proj = nn.Linear(c, heads)
        # official init: A ~ U(0, 16); the lower bound 1 avoids log(0)
        self.A_log = nn.Parameter(torch.log(torch.empty(heads).uniform_(1.0, 16.0)))
        dt = torch.exp(torch.rand(heads) * (math.log(0.1) - math.log(0.001)) + math.log(0.001)).clamp(min=1e-4)
        self.dt_bias = nn.Parameter(dt + torch.log(-torch.expm1(-dt)))  # softplus^-1(dt), the official init
        self.register_buffer("recall_gate", torch.zeros(1))
        # camera branch
        self.q_proj_cam = nn.Linear(c, c)
        self.k_proj_cam = nn.Linear(c, c)
        self.v_proj_cam = nn.Linear(c, c)
        self.out_proj_cam = nn.Linear(c, c)
        self.q_norm_cam = RMSNorm(c, config.qk_norm_eps)
        self.k_norm_cam = RMSNorm(c, config.qk_norm_eps)
        # shared output
        self.output_gate = nn.Linear(c, c)
        self.proj = nn.Linear(c, c)

    def split_heads(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, N, C) -> (B, H, N, D)``."""
        b, n, _ = x.shape
        return x.view(b, n, self.heads, self.head_dim).transpose(1, 2)

    @staticmethod
    def merge_heads(x: torch.Tensor) -> torch.Tensor:
        """``(B, H, N, D) -> (B, N, H*D)``."""
        b, h, n, d = x.shape
        return x.transpose(1, 2).reshape(b, n, h * d)

    def gated_output(self, o_main: torch.Tensor, o_cam: torch.Tensor | None, u: torch.Tensor) -> torch.Tensor:
        """``proj((o_main + out_proj_cam(o_cam)) * SiLU(output_gate(u)))`` with the fp32 gate."""
        combined = o_main if o_cam is None else o_main + self.out_proj_cam(o_cam)
        gated = combined * F.silu(self.output_gate(u).float())
        return self.proj(gated.to(self.proj.weight.dtype))
