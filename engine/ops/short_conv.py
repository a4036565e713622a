"""Bidirectional depthwise short convolution along time (the GDN "short conv on K", spec model §5.4-2).

The official layer runs a causal depthwise conv (FLA ``ShortConvolution``, kernel ``w_0 .. w_{K-1}``, no bias)
forwards and on the time-reversed input, and subtracts the centre tap counted twice:

    y_fwd[t] = sum_j w_j x[t-K+1+j],   y_bwd[t] = sum_j w_j x[t+K-1-j],   y = y_fwd + y_bwd - w_{K-1} x[t]

i.e. a symmetric window ``t-K+1 .. t+K-1``. Each spatial position and channel is filtered independently.

Written as a sum of ``K`` shifted copies on the ``(B, T, S, C)`` token layout (no transposes). ``past`` supplies
the ``K-1`` frames before ``x`` to the causal half, which is what a streaming cache needs (spec streaming §3.2);
the anti-causal half always sees zeros after the last frame of ``x`` (chunk-local).
"""

from __future__ import annotations

import torch


def causal_short_conv(x: torch.Tensor, weight: torch.Tensor, past: torch.Tensor | None = None) -> torch.Tensor:
    """The forward (causal) half ``y_fwd[t] = sum_j w_j x[t-K+1+j]``.

    Args:
        x: ``(B, T, S, C)`` frames of tokens.
        weight: ``(C, 1, K)`` the official ``conv_k.weight`` layout.
        past: ``(B, K-1, S, C)`` frames preceding ``x`` (zeros when None).

    Returns:
        ``(B, T, S, C)`` in ``x``'s dtype.
    """
    t_len = x.shape[1]
    taps = weight[:, 0, :].to(x.dtype)  # (C, K)
    k_size = taps.shape[-1]
    before = x.new_zeros((x.shape[0], k_size - 1, *x.shape[2:])) if past is None else past.to(x.dtype)
    padded = torch.cat([before, x], dim=1)  # frame t of x sits at t + K - 1
    out = taps[:, 0] * padded[:, :t_len]
    for j in range(1, k_size):
        out = out + taps[:, j] * padded[:, j : j + t_len]
    return out


def anticausal_short_conv(x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """The backward half ``y_bwd[t] = sum_j w_j x[t+K-1-j]``, zeros after the last frame of ``x``."""
    return causal_short_conv(x.flip(1), weight).flip(1)


def bidirectional_short_conv(x: torch.Tensor, weight: torch.Tensor, past: torch.Tensor | None = None) -> torch.Tensor:
    """``y_fwd + y_bwd - w_{K-1} x``: the full filter (arguments as :func:`causal_short_conv`)."""
    centre = weight[:, 0, -1].to(x.dtype)
    return causal_short_conv(x, weight, past) + anticausal_short_conv(x, weight) - centre * x
