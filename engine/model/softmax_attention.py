"""Softmax self-attention with the UCPE camera branch (every ``softmax_every_n``-th block; spec model §5.6).

Main: ``q, k`` RMS-normalised (full channel) and RoPE'd, no ReLU / kappa / conv; SDPA over the keys the time mixer
allows (all tokens in the bidirectional model) with scale
``1/sqrt(D)``. Camera: RMS-normalised camera q/k, UCPE-encoded q/k/v (optionally RMS-downscaled, see the
``camera_variant`` table of :class:`~engine.model.config.SanaWMConfig`), SDPA with the variant's scale, decoded.

The reference rounds SDPA operands to bf16 even in an fp32 model (``config.sdpa_bf16``); the zero padding of the
head dim to a FlashAttention size (112 -> 128) changes nothing but the default scale, so it is expressed as the
scale only.
"""

from __future__ import annotations

from functools import partial

import torch
import torch.nn.functional as F

from engine.model.attention import DualBranchAttention
from engine.model.rope import apply_rotary
from engine.model.time_mixing import BIDIRECTIONAL, TimeMixer
from engine.model.ucpe import (
    UCPEEncoding,
    decode_outputs,
    downscale_to_reference_rms,
    encode_keys_values,
    encode_queries,
)


class SoftmaxAttention(DualBranchAttention):
    """Full softmax main branch + softmax camera branch, one shared output gate."""

    def _sdpa(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, scale: float) -> torch.Tensor:
        """SDPA on ``(B, H, N, D)`` operands (bf16 operands if configured), output in ``v``'s dtype."""
        dtype = v.dtype
        if self.config.sdpa_bf16:
            q, k, v = q.to(torch.bfloat16), k.to(torch.bfloat16), v.to(torch.bfloat16)
        return F.scaled_dot_product_attention(q, k, v, scale=scale).to(dtype)

    def forward(
        self,
        u: torch.Tensor,
        num_frames: int,
        rope: torch.Tensor,
        ucpe: UCPEEncoding | None,
        mixer: TimeMixer = BIDIRECTIONAL,
    ) -> torch.Tensor:
        """Same contract as :meth:`engine.model.gdn_attention.GDNAttention.forward`."""
        c = u.shape[-1]
        q, k, v = self.qkv(u).split(c, dim=-1)
        q = apply_rotary(self.split_heads(self.q_norm(q)), rope)  # (B, H, N, D)
        k = apply_rotary(self.split_heads(self.k_norm(k)), rope)
        main_sdpa = partial(self._sdpa, scale=self.head_dim**-0.5)
        o_main = self.merge_heads(mixer.attend("main", q, k, self.split_heads(v), main_sdpa))

        o_cam = None
        if ucpe is not None:
            qc = self.split_heads(self.q_norm_cam(self.q_proj_cam(u)))
            kc = self.split_heads(self.k_norm_cam(self.k_proj_cam(u)))
            vc = self.split_heads(self.v_proj_cam(u))
            qe, ke, ve = encode_queries(qc, ucpe), encode_keys_values(kc, ucpe), encode_keys_values(vc, ucpe)
            if self.config.softmax_camera_downscale:
                qe, ke, ve = (downscale_to_reference_rms(r, x) for r, x in ((qc, qe), (kc, ke), (vc, ve)))
            o_cam = mixer.attend("camera", qe, ke, ve, partial(self._sdpa, scale=self.config.softmax_camera_scale))
            o_cam = self.merge_heads(decode_outputs(o_cam, ucpe))

        return self.gated_output(o_main, o_cam, u)
