"""Chunked, vectorised form of the frame-wise gated delta rule (same contract as :mod:`.naive`).

The frame-parallel rule is an affine recurrence on a small state: with token rows ``k_s``,

    M_t = M_{t-1} W_t + U_t,     W_t = g_t (I - k^T (beta * k)),     U_t = v^T (beta * k)

(and the normaliser is the same recurrence with ``v = 1`` and a ``1 x D`` state). The algorithm, in three phases:

1. **Transitions** ``W_t, U_t`` for all frames at once (batched matmuls; this is where most FLOPs are).
2. **Chunked scan**: frames are cut into chunks of ``chunk_size``; inside a chunk the affine maps are composed
   by a log-depth inclusive prefix scan (Hillis-Steele: ``(W_a, U_a) . (W_b, U_b) = (W_a W_b, U_a W_b + U_b)``),
   so a chunk costs ``log2(chunk_size)`` batched matmul rounds; chunks are chained through the carried state.
3. **Outputs** ``o_t = q_t M_t^T`` for all frames at once.

The exclusive reverse pass reuses the same scan on the time-reversed transitions and shifts the states by one
frame (frame t reads the state of frames ``t+1 ..``), instead of padding inputs.

This is the form a GPU kernel (Triton / fla) replaces; it is tested against :mod:`.naive`.
"""

from __future__ import annotations

import torch

DEFAULT_CHUNK_SIZE = 16


def _transitions(
    k: torch.Tensor, v: torch.Tensor, beta: torch.Tensor, g: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """``W (B, H, T, D, D)`` and ``U (B, H, T, R, D)`` of every frame (``R`` = value rows)."""
    d = k.shape[-1]
    bk = beta[..., None] * k  # (B, H, T, S, D)
    eye = torch.eye(d, dtype=k.dtype, device=k.device)
    w = g[..., None, None] * (eye - k.transpose(-1, -2) @ bk)  # (B, H, T, D, D)
    u = v.transpose(-1, -2) @ bk  # (B, H, T, R, D)
    return w, u


def _prefix_compose(w: torch.Tensor, u: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Inclusive prefix composition over dim 2: entry t maps the state before frame 0 to the state after frame t."""
    n = w.shape[2]
    step = 1
    while step < n:
        w_new = w[:, :, :-step] @ w[:, :, step:]
        u_new = u[:, :, :-step] @ w[:, :, step:] + u[:, :, step:]
        w = torch.cat([w[:, :, :step], w_new], dim=2)
        u = torch.cat([u[:, :, :step], u_new], dim=2)
        step *= 2
    return w, u


def _affine_scan(
    w: torch.Tensor, u: torch.Tensor, initial: torch.Tensor, chunk_size: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """States after every frame of ``state <- state W_t + U_t``; returns ``(states (B,H,T,R,D), last)``."""
    states = []
    carry = initial  # (B, H, R, D)
    for start in range(0, w.shape[2], chunk_size):
        w_cum, u_cum = _prefix_compose(w[:, :, start : start + chunk_size], u[:, :, start : start + chunk_size])
        chunk_states = carry[:, :, None] @ w_cum + u_cum  # (B, H, n, R, D)
        states.append(chunk_states)
        carry = chunk_states[:, :, -1]
    return torch.cat(states, dim=2), carry


def _scan_states(
    w: torch.Tensor, u: torch.Tensor, initial: torch.Tensor, reverse: bool, chunk_size: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """The state each frame reads (inclusive forward / exclusive reverse) and the final state."""
    if not reverse:
        return _affine_scan(w, u, initial, chunk_size)
    # Reverse: scan frames T-1 .. 0; frame t reads the state holding frames t+1 .. T-1 (the initial state for t = T-1).
    states, final = _affine_scan(w.flip(2), u.flip(2), initial, chunk_size)
    read = torch.cat([initial[:, :, None], states[:, :, :-1]], dim=2).flip(2)
    return read, final


def numerator_scan(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    beta: torch.Tensor,
    g: torch.Tensor,
    *,
    reverse: bool = False,
    initial_state: torch.Tensor | None = None,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Same contract as :func:`engine.ops.gated_delta.naive.numerator_scan`."""
    b, h, _, _, d = q.shape
    initial = q.new_zeros(b, h, d, d) if initial_state is None else initial_state
    w, u = _transitions(k, v, beta, g)
    states, final = _scan_states(w, u, initial, reverse, chunk_size)  # (B, H, T, D, D)
    return q @ states.transpose(-1, -2), final


def normaliser_scan(
    q: torch.Tensor,
    k: torch.Tensor,
    beta: torch.Tensor,
    g: torch.Tensor,
    *,
    reverse: bool = False,
    initial_state: torch.Tensor | None = None,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Same contract as :func:`engine.ops.gated_delta.naive.normaliser_scan` (a 1-row numerator with ``v = 1``)."""
    b, h, _, _, d = q.shape
    initial = q.new_zeros(b, h, 1, d) if initial_state is None else initial_state[:, :, None]
    w, u = _transitions(k, torch.ones_like(k[..., :1]), beta, g)
    states, final = _scan_states(w, u, initial, reverse, chunk_size)  # (B, H, T, 1, D)
    return (q @ states.transpose(-1, -2))[..., 0], final[:, :, 0]
