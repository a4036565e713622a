"""Frame-recurrent reference of the frame-wise gated delta rule (the specification; slow and obvious).

SANA-WM's linear attention keeps one ``D x D`` state per (batch, head) and updates it once per latent frame
with *all* ``S`` tokens of that frame at once (a frame-parallel delta rule, spec model §5.4):

    M_t = g_t * M_{t-1} (I - K_t B_t K_t^T) + V_t B_t K_t^T          (numerator state, D_v x D_k)
    z_t = g_t * (I - K_t B_t K_t^T) z_{t-1} + K_t beta_t             (normaliser "Z", D)

where the columns of ``K_t, V_t`` are the frame's tokens and ``B_t = diag(beta_t)``. A *forward* pass is
inclusive (the output of frame t reads ``M_t``); a *reverse* pass is exclusive (frame t reads the state built
from frames ``t+1 .. T-1`` only, each entering with its own gate).

Layout used by every implementation in :mod:`engine.ops.gated_delta`: token features ``(B, H, T, S, D)``,
``beta (B, H, T, S)``, per-frame decay ``g (B, H, T)``; states ``(B, H, D, D)`` (numerator, rows = value
dims) and ``(B, H, D)`` (normaliser). All arithmetic is fp32; the caller casts.

Every function takes an optional ``initial_state`` (the state "before" the first processed frame: the cached
state of earlier frames for a forward pass, the state of later frames for a reverse pass) and returns the final
state, so a streaming caller can seed a forward scan from a cache and run chunk-local reverse passes.
"""

from __future__ import annotations

import torch


def numerator_scan(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    beta: torch.Tensor,
    g: torch.Tensor,
    *,
    reverse: bool = False,
    initial_state: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Numerator stream ``o_t = M q_t`` of the delta rule, frame by frame.

    Args:
        q, k, v: ``(B, H, T, S, D)`` queries, keys, values (for GDN blocks: the RoPE-rotated ``q~, k~``).
        beta: ``(B, H, T, S)`` per-token write strength.
        g: ``(B, H, T)`` per-frame decay in (0, 1].
        reverse: False = inclusive forward pass; True = exclusive reverse pass.
        initial_state: ``(B, H, D, D)`` or None (zeros).

    Returns:
        ``(out (B, H, T, S, D), final_state (B, H, D, D))``.
    """
    b, h, t_len, _, d = q.shape
    state = q.new_zeros(b, h, d, d) if initial_state is None else initial_state.clone()
    out = torch.empty_like(v)
    frames = range(t_len - 1, -1, -1) if reverse else range(t_len)
    for t in frames:
        if reverse:  # exclusive: read before writing frame t
            out[:, :, t] = q[:, :, t] @ state.transpose(-1, -2)
        kt, vt = k[:, :, t], v[:, :, t]  # (B, H, S, D)
        bk = beta[:, :, t, :, None] * kt  # rows of B_t K_t^T
        # M_t = g_t * M (I - K B K^T) + V B K^T, with K B K^T = k^T (beta * k) in row layout
        state = g[:, :, t, None, None] * (state - (state @ kt.transpose(-1, -2)) @ bk) + vt.transpose(-1, -2) @ bk
        if not reverse:  # inclusive: read after writing frame t
            out[:, :, t] = q[:, :, t] @ state.transpose(-1, -2)
    return out, state


def normaliser_scan(
    q: torch.Tensor,
    k: torch.Tensor,
    beta: torch.Tensor,
    g: torch.Tensor,
    *,
    reverse: bool = False,
    initial_state: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Normaliser stream ``den_t = z^T q_t`` ("Z", target 1), frame by frame.

    Args:
        q, k: ``(B, H, T, S, D)`` un-rotated queries and keys.
        beta, g, reverse: as :func:`numerator_scan`.
        initial_state: ``(B, H, D)`` or None (zeros).

    Returns:
        ``(den (B, H, T, S), final_state (B, H, D))``.
    """
    b, h, t_len, s, d = q.shape
    z = q.new_zeros(b, h, d) if initial_state is None else initial_state.clone()
    den = q.new_empty(b, h, t_len, s)
    frames = range(t_len - 1, -1, -1) if reverse else range(t_len)
    for t in frames:
        if reverse:
            den[:, :, t] = (q[:, :, t] @ z[..., None])[..., 0]
        kt, bt = k[:, :, t], beta[:, :, t]
        kz = (kt @ z[..., None])[..., 0]  # (B, H, S): K^T z
        z = g[:, :, t, None] * (z - ((bt * kz)[..., None] * kt).sum(-2)) + (bt[..., None] * kt).sum(-2)
        if not reverse:
            den[:, :, t] = (q[:, :, t] @ z[..., None])[..., 0]
    return den, z
