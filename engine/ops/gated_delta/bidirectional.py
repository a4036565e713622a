"""The bidirectional frame-wise gated delta scan, as every SANA-WM attention branch and every time-mixing mode uses it.

A bidirectional scan is an *inclusive forward* pass plus an *exclusive reverse* pass of the same delta rule (spec
model §5.4-6..7); the three ways the model mixes time differ only in where those passes start and stop:

==================  ==========================================  ===========================================
mode                forward pass                                exclusive reverse pass
==================  ==========================================  ===========================================
bidirectional       all frames of the call, from zeros          all frames of the call
chunk-causal        all frames of the call, from zeros          inside each chunk (``reverse_segments``)
streaming           this chunk, from the cached state           inside this chunk
==================  ==========================================  ===========================================

so the functions here take the forward pass's ``initial_state``, the frame ranges the reverse pass is cut into,
and return the forward pass's final state (what a streaming cache keeps). The two compositions:

* :func:`bidirectional_gated_delta` — GDN main branch (§5.4-8): numerator on the RoPE'd ``q~, k~``, normaliser
  "Z" on the un-rotated ``q, k``, then ``o = (num_fwd + num_rev) / (den_fwd + den_rev + eps)``;
* :func:`bidirectional_delta_numerator` — camera branch (§5.5-6): numerator only, no normaliser, no division.

Layout as in :mod:`engine.ops.gated_delta.naive`: features ``(B, H, T, S, D)``, ``beta (B, H, T, S)``,
``g (B, H, T)``, fp32; states ``(B, H, D, D)`` (numerator) and ``(B, H, D)`` (normaliser). The implementation is
a :class:`~engine.ops.gated_delta.scan.GatedDeltaScan` chosen by the caller once.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

from engine.ops.gated_delta.scan import GatedDeltaScan

#: Frame ranges ``[(a, b), ...]`` covering ``[0, T)`` in order; None = one range, the whole call.
Segments = Sequence[tuple[int, int]] | None


def _exclusive_reverse(
    scan: Callable[..., tuple[torch.Tensor, torch.Tensor]],
    features: tuple[torch.Tensor, ...],
    beta: torch.Tensor,
    g: torch.Tensor,
    segments: Segments,
) -> torch.Tensor:
    """The reverse pass run separately inside each segment (state zero after each segment's last frame)."""
    if segments is None:
        return scan(*features, beta, g, reverse=True)[0]
    pieces = [
        scan(*(f[:, :, a:b] for f in features), beta[:, :, a:b], g[:, :, a:b], reverse=True)[0] for a, b in segments
    ]
    return torch.cat(pieces, dim=2)


def bidirectional_delta_numerator(
    scan: GatedDeltaScan,
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    beta: torch.Tensor,
    g: torch.Tensor,
    *,
    initial_state: torch.Tensor | None = None,
    reverse_segments: Segments = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``M_t q_t + R_t q_t`` (numerator only).

    Args:
        scan: the implementation.
        q, k, v: ``(B, H, T, S, D)``; beta ``(B, H, T, S)``; g ``(B, H, T)``.
        initial_state: ``(B, H, D, D)`` state before frame 0 of the forward pass (None = zeros).
        reverse_segments: where the reverse pass is cut (None = the whole call).

    Returns:
        ``(out (B, H, T, S, D), forward final state (B, H, D, D))``.
    """
    forward, final = scan.numerator(q, k, v, beta, g, initial_state=initial_state)
    return forward + _exclusive_reverse(scan.numerator, (q, k, v), beta, g, reverse_segments), final


def bidirectional_normaliser(
    scan: GatedDeltaScan,
    q: torch.Tensor,
    k: torch.Tensor,
    beta: torch.Tensor,
    g: torch.Tensor,
    *,
    initial_state: torch.Tensor | None = None,
    reverse_segments: Segments = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``z_t^T q_t + zeta_t^T q_t``: ``(den (B, H, T, S), forward final state (B, H, D))``; arguments as
    :func:`bidirectional_delta_numerator` without ``v`` (``initial_state (B, H, D)``)."""
    forward, final = scan.normaliser(q, k, beta, g, initial_state=initial_state)
    return forward + _exclusive_reverse(scan.normaliser, (q, k), beta, g, reverse_segments), final


def bidirectional_gated_delta(
    scan: GatedDeltaScan,
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    q_rot: torch.Tensor,
    k_rot: torch.Tensor,
    beta: torch.Tensor,
    g: torch.Tensor,
    *,
    eps: float,
    initial_state: tuple[torch.Tensor, torch.Tensor] | None = None,
    reverse_segments: Segments = None,
) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
    """GDN main-branch output ``(num_fwd + num_rev) / (den_fwd + den_rev + eps)``.

    Args:
        q, k: ``(B, H, T, S, D)`` un-rotated (the normaliser's); q_rot, k_rot: RoPE'd (the numerator's); v values.
        eps: the block's ``1e-8``, added to the denominator.
        initial_state: ``(M (B, H, D, D), z (B, H, D))`` before frame 0 of the forward passes (None = zeros).
        reverse_segments: as :func:`bidirectional_delta_numerator`.

    Returns:
        ``(o (B, H, T, S, D), (M, z) after the last frame of the forward passes)``.
    """
    m0, z0 = (None, None) if initial_state is None else initial_state
    num, m = bidirectional_delta_numerator(
        scan, q_rot, k_rot, v, beta, g, initial_state=m0, reverse_segments=reverse_segments
    )
    den, z = bidirectional_normaliser(scan, q, k, beta, g, initial_state=z0, reverse_segments=reverse_segments)
    return num / (den + eps)[..., None], (m, z)
