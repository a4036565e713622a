"""The bidirectional short conv against a direct evaluation of its symmetric-window formula."""

from __future__ import annotations

import torch

from engine.ops import bidirectional_short_conv


def _direct(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """y[t] = sum_{j} w_j x[t-K+1+j] + sum_j w_j x[t+K-1-j] - w_{K-1} x[t], zeros outside [0, T)."""
    t_len, k_size = x.shape[1], w.shape[-1]
    out = torch.zeros_like(x)
    for t in range(t_len):
        for j in range(k_size):
            for src in (t - k_size + 1 + j, t + k_size - 1 - j):
                if 0 <= src < t_len:
                    out[:, t] += w[:, 0, j] * x[:, src]
        out[:, t] -= w[:, 0, -1] * x[:, t]
    return out


def test_short_conv_is_the_symmetric_window_with_the_centre_counted_once() -> None:
    torch.manual_seed(0)
    w = torch.randn(6, 1, 4)
    for t_len in (1, 2, 3, 5, 9):
        x = torch.randn(2, t_len, 3, 6)
        torch.testing.assert_close(bidirectional_short_conv(x, w), _direct(x, w), atol=1e-5, rtol=1e-5)


def test_past_frames_feed_only_the_causal_half() -> None:
    torch.manual_seed(1)
    w = torch.randn(4, 1, 4)
    x = torch.randn(1, 8, 2, 4)
    full = bidirectional_short_conv(x, w)
    tail = bidirectional_short_conv(x[:, 5:], w, past=x[:, 2:5])
    # frames 5..7 end the clip, so with frames 2..4 as the causal context they equal the full clip's rows
    torch.testing.assert_close(tail, full[:, 5:], atol=1e-5, rtol=1e-5)
    head = bidirectional_short_conv(x[:, :5], w)
    assert not torch.allclose(head[:, -1], full[:, 4])  # the anti-causal half of frame 4 misses frames 5..7
