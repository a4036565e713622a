"""Gated-DeltaNet self-attention with the UCPE camera branch (GDN blocks; spec model §5.4, §5.5).

Main branch, per head (``S`` tokens per frame, ``kappa = D^-1/2 S^-1/2``)::

    k <- shortconv_t(k);   Q = ReLU(RMSNorm(q)),  K = ReLU(RMSNorm(k)) * kappa,  V = v
    o = (num_fwd + num_rev)(RoPE(Q), RoPE(K), V) / (den_fwd + den_rev)(Q, K) + eps)

where the numerators run the frame-wise delta rule on RoPE-rotated q/k and the "Z" normaliser on un-rotated q/k.
Gates: ``beta = sigmoid(beta_proj(u))`` per token and head; ``g = exp(-exp(A_log) softplus(gate_proj(mean_s u) +
dt_bias))`` per frame and head (fp32).

Camera branch: same projections/conv/norm/kernel on its own weights, UCPE-encoded (:mod:`engine.model.ucpe`),
β discounted by the UCPE inflation ``iota = |k'|^2 / |k|^2`` (frame mean, never amplified), a numerator-only
bidirectional delta rule with the shared gates, then decoded back to world space.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from engine.model.attention import DualBranchAttention
from engine.model.config import SanaWMConfig
from engine.model.rope import apply_rotary
from engine.model.time_mixing import BIDIRECTIONAL, TimeMixer
from engine.model.ucpe import (
    UCPEEncoding,
    decode_outputs,
    downscale_to_reference_rms,
    encode_keys_values,
    encode_queries,
)
from engine.ops.gated_delta import gated_delta_scan


class ShortConv(nn.Module):
    """Holds a short-conv kernel ``weight (C, 1, K)`` (official key ``conv_k.weight``).

    The filter itself belongs to the call's time mixer (:mod:`engine.model.time_mixing`): bidirectional,
    chunk-causal or continued from a streaming cache.
    """

    def __init__(self, channels: int, kernel_size: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(channels, 1, kernel_size))
        nn.init.normal_(self.weight, std=kernel_size**-0.5)

    def forward(self, x: torch.Tensor, num_frames: int, mixer: TimeMixer, slot: str) -> torch.Tensor:
        """``x (B, N, C)`` frame-major -> same shape."""
        b, n, c = x.shape
        return mixer.short_conv(slot, x.view(b, num_frames, n // num_frames, c), self.weight).view(b, n, c)


class GDNAttention(DualBranchAttention):
    """Bidirectional GDN main branch + GDN camera branch, one shared output gate.

    The scan implementation named by ``config.gated_delta_impl`` is resolved here, once, and handed to the time
    mixer with every scan (a plain attribute: no parameters, not in the state dict).
    """

    def __init__(self, config: SanaWMConfig) -> None:
        super().__init__(config)
        self.conv_k = ShortConv(config.hidden_size, config.conv_kernel_size)
        self.conv_k_cam = ShortConv(config.hidden_size, config.conv_kernel_size)
        self.scan = gated_delta_scan(config.gated_delta_impl)

    def gates(self, u: torch.Tensor, num_frames: int) -> tuple[torch.Tensor, torch.Tensor]:
        """``beta (B, H, T, S)`` and decay ``g (B, H, T)``, both fp32."""
        b, n, c = u.shape
        beta = torch.sigmoid(self.beta_proj(u).float())  # (B, N, H)
        beta = beta.view(b, num_frames, n // num_frames, self.heads).permute(0, 3, 1, 2)
        frame_mean = u.view(b, num_frames, n // num_frames, c).mean(dim=2)  # (B, T, C)
        rate = F.softplus(self.gate_proj(frame_mean).float() + self.dt_bias.float())
        g = torch.exp(-torch.exp(self.A_log.float()) * rate)  # (B, T, H)
        return beta, g.transpose(1, 2)

    def forward(
        self,
        u: torch.Tensor,
        num_frames: int,
        rope: torch.Tensor,
        ucpe: UCPEEncoding | None,
        mixer: TimeMixer = BIDIRECTIONAL,
    ) -> torch.Tensor:
        """Args: ``u (B, N, C)`` modulated block input; ``rope (N, D/2)`` complex factors; ``ucpe`` or None (no
        camera branch); ``mixer`` runs the cross-frame parts (conv, scans). Returns ``(B, N, C)``."""
        b, n, c = u.shape
        s = n // num_frames
        kappa = self.head_dim**-0.5 * s**-0.5
        beta, g = self.gates(u, num_frames)

        def frames(x: torch.Tensor) -> torch.Tensor:
            """``(B, H, N, D)`` -> fp32 ``(B, H, T, S, D)``: the scans run in fp32 (spec §9)."""
            return x.float().reshape(b, self.heads, num_frames, s, self.head_dim)

        # ---- main branch
        q, k, v = self.qkv(u).split(c, dim=-1)  # (B, N, C) each
        k = self.conv_k(k, num_frames, mixer, "main")
        q = self.split_heads(F.relu(self.q_norm(q))).float()  # (B, H, N, D), fp32 from here on
        k = self.split_heads(F.relu(self.k_norm(k)) * kappa).float()
        v = self.split_heads(v)
        q_rot, k_rot = apply_rotary(q, rope), apply_rotary(k, rope)  # RoPE on the numerator stream only
        features = (frames(x) for x in (q, k, v, q_rot, k_rot))
        o_main = mixer.gated_delta(self.scan, *features, beta, g, eps=self.config.gdn_eps)
        o_main = self.merge_heads(o_main.reshape(b, self.heads, n, self.head_dim)).to(u.dtype)

        # ---- camera branch
        o_cam = None
        if ucpe is not None:
            qc = F.relu(self.q_norm_cam(self.q_proj_cam(u)))
            kc = F.relu(self.k_norm_cam(self.conv_k_cam(self.k_proj_cam(u), num_frames, mixer, "camera"))) * kappa
            qc, kc, vc = (self.split_heads(x).float() for x in (qc, kc, self.v_proj_cam(u)))  # fp32 up to the scan
            qe, ke, ve = encode_queries(qc, ucpe), encode_keys_values(kc, ucpe), encode_keys_values(vc, ucpe)
            if self.config.gdn_camera_downscale:
                qe, ke, ve = (downscale_to_reference_rms(r, x) for r, x in ((qc, qe), (kc, ke), (vc, ve)))
            # dynamic beta discount: the UCPE translation inflates |k|; never let a frame write harder than beta
            inflation = ke.square().sum(-1).clamp_min(1e-12) / kc.square().sum(-1).clamp_min(1e-12)  # (B, H, N)
            frame_inflation = inflation.view(b, self.heads, num_frames, s).mean(-1, keepdim=True)  # (B, H, T, 1)
            beta_cam = beta / frame_inflation.clamp_min(1.0)
            o_cam = mixer.delta_numerator(self.scan, *(frames(x) for x in (qe, ke, ve)), beta_cam, g)
            o_cam = decode_outputs(o_cam.reshape(b, self.heads, n, self.head_dim), ucpe)
            o_cam = self.merge_heads(o_cam).to(u.dtype)

        return self.gated_output(o_main, o_cam, u)
