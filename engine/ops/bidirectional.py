"""Bidirectional compositions of the gated delta scans, as the SANA-WM attention branches use them.

* :func:`bidirectional_gated_delta` — GDN main branch (spec model §5.4-6..8): inclusive forward + exclusive
  reverse of both the RoPE'd numerator and the un-rotated normaliser, then ``o = num / (den + eps)``.
* :func:`bidirectional_delta_numerator` — camera branch (§5.5-6): numerator only, no normaliser, no division.

Layout as in :mod:`engine.ops.gated_delta.naive`: features ``(B, H, T, S, D)``, ``beta (B, H, T, S)``,
``g (B, H, T)``, fp32. A streaming caller will seed the forward scans from cached states and keep the reverse
scans chunk-local; these helpers are the uncached (bidirectional) case.
"""

from __future__ import annotations

import torch

from engine.ops.dispatch import gated_delta_kernels


def bidirectional_gated_delta(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    q_rot: torch.Tensor,
    k_rot: torch.Tensor,
    beta: torch.Tensor,
    g: torch.Tensor,
    *,
    eps: float = 1e-8,
    impl: str = "auto",
) -> torch.Tensor:
    """``(num_fwd + num_rev) / (den_fwd + den_rev + eps)``, ``(B, H, T, S, D)``."""
    kernels = gated_delta_kernels(impl, q.device)
    num_f, _ = kernels.numerator_scan(q_rot, k_rot, v, beta, g)
    num_r, _ = kernels.numerator_scan(q_rot, k_rot, v, beta, g, reverse=True)
    den_f, _ = kernels.normaliser_scan(q, k, beta, g)
    den_r, _ = kernels.normaliser_scan(q, k, beta, g, reverse=True)
    return (num_f + num_r) / (den_f + den_r + eps)[..., None]


def bidirectional_delta_numerator(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, beta: torch.Tensor, g: torch.Tensor, *, impl: str = "auto"
) -> torch.Tensor:
    """``M_t q_t + R_t q_t`` (numerator only), ``(B, H, T, S, D)``."""
    kernels = gated_delta_kernels(impl, q.device)
    fwd, _ = kernels.numerator_scan(q, k, v, beta, g)
    rev, _ = kernels.numerator_scan(q, k, v, beta, g, reverse=True)
    return fwd + rev
