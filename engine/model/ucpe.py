"""UCPE camera encoding of the camera branch (spec model §5.5-4, §5.5-7; geometry in streaming §7.10).

Every token ``n`` has a ray matrix ``P_n`` (4x4, world -> ray-local frame of its pixel). Per head of ``D`` dims:

* dims ``0 .. D/2-1`` are ``D/8`` groups of 4: queries get ``P_n^T q``, keys and values ``P_n^-1 k`` / ``P_n^-1 v``,
  and outputs are mapped back with ``P_n o``. Then ``q'^T k'`` depends on ``P_m P_n^-1`` — the relative pose of the
  two rays — so attention sees camera geometry, not absolute positions.
* dims ``D/2 .. D-1`` get a RoPE rotation with the camera slice of the Wan table
  (:meth:`WanRotaryEmbedding.camera_table`), on q, k *and* v; outputs get the inverse rotation.

Features here are ``(B, H, N, D)``; the matrices are shared by all heads and blocks and prepared once per call
(:class:`UCPEEncoding`: the camera layer's :class:`~engine.camera.conditioning.UCPETransforms` plus the camera
RoPE factors).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import torch

from engine.camera.conditioning import UCPETransforms, ucpe_transforms
from engine.model.rope import apply_rotary


@dataclass(frozen=True)
class UCPEEncoding:
    """Everything the camera branches of one model call need to UCPE-encode their features.

    Attributes:
        rays: the per-token ray matrices ``(B, N, 4, 4)`` from the camera layer: ``P`` (world -> ray-local, applied
            to outputs), ``P_T`` (queries), ``P_inv`` (keys and values).
        rope: ``(N, D/4)`` complex64 camera RoPE factors of this call's frames (the rotated half of each head).
    """

    rays: UCPETransforms
    rope: torch.Tensor

    @classmethod
    def from_cameras(
        cls, camera_conditions: torch.Tensor, height: int, width: int, camera_rope: torch.Tensor
    ) -> UCPEEncoding:
        """Ray matrices from ``(B, T, 20)`` camera conditions at latent-grid resolution (built by the camera
        layer's :func:`engine.camera.conditioning.ucpe_transforms`), plus this call's camera RoPE factors.

        The geometry runs in fp32 (the reference runs it in the conditions' dtype; on CPU only fp32/fp64 work),
        also under autocast (bf16 training), which would otherwise run its matmuls in bf16.
        """
        device = camera_conditions.device.type
        # meta tensors (memory planning, engine.memory.activations) have no autocast to switch off
        no_autocast = torch.autocast(device, enabled=False) if device != "meta" else contextlib.nullcontext()
        with no_autocast:
            rays = ucpe_transforms(camera_conditions.float(), (width, height))
        return cls(rays=rays, rope=camera_rope)


def _transform(x: torch.Tensor, matrix: torch.Tensor, rope: torch.Tensor, inverse_rope: bool) -> torch.Tensor:
    """Groups of 4 in the first half times ``matrix``; RoPE on the second half. ``x (B, H, N, D)``."""
    b, h, n, d = x.shape
    grouped, rotated = x.split(d // 2, dim=-1)
    grouped = grouped.float().reshape(b, h, n, d // 8, 4)  # (B, H, N, groups, 4)
    grouped = torch.einsum("bnij,bhngj->bhngi", matrix.float(), grouped).reshape(b, h, n, d // 2)
    rotated = apply_rotary(rotated, rope, inverse=inverse_rope)
    return torch.cat([grouped.to(x.dtype), rotated], dim=-1)


def encode_queries(q: torch.Tensor, enc: UCPEEncoding) -> torch.Tensor:
    """``P^T q`` on the grouped half, camera RoPE on the rest."""
    return _transform(q, enc.rays.P_T, enc.rope, inverse_rope=False)


def encode_keys_values(x: torch.Tensor, enc: UCPEEncoding) -> torch.Tensor:
    """``P^-1 x`` on the grouped half, camera RoPE on the rest (keys and values alike)."""
    return _transform(x, enc.rays.P_inv, enc.rope, inverse_rope=False)


def decode_outputs(o: torch.Tensor, enc: UCPEEncoding) -> torch.Tensor:
    """Back to world space: ``P o`` on the grouped half, inverse camera RoPE on the rest."""
    return _transform(o, enc.rays.P, enc.rope, inverse_rope=True)


def downscale_to_reference_rms(reference: torch.Tensor, transformed: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """Scale each head vector of ``transformed`` by ``min(1, rms(reference) / rms(transformed))``.

    The "RMS downscale" of some camera-branch versions (see the ``camera_variant`` table in
    :class:`~engine.model.config.SanaWMConfig`): the UCPE translation can inflate features; this keeps them within the
    pre-transform envelope. RMS over the head dim (last), with ``+eps`` inside the root.
    """
    ref = reference.float().square().mean(-1, keepdim=True).add(eps).sqrt()
    out = transformed.float().square().mean(-1, keepdim=True).add(eps).sqrt()
    return (transformed.float() * (ref / out.clamp_min(eps)).clamp(max=1.0)).to(transformed.dtype)
