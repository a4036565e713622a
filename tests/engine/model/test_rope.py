"""Wan 3-D RoPE: the official head split, absolute frame offsets and the camera slice (spec model §5.3, §5.5)."""

from __future__ import annotations

import pytest
import torch

from engine.errors import SanaWMInputError
from engine.model.rope import WanRotaryEmbedding, apply_rotary, axis_dims


def test_official_split_is_40_36_36() -> None:
    assert axis_dims(112) == (40, 36, 36)
    assert axis_dims(32) == (12, 10, 10)


def test_factors_of_one_token_follow_the_formula() -> None:
    rope = WanRotaryEmbedding(112)
    table = rope.table(3, 4, 5)  # (60, 56)
    f, r, c = 2, 1, 3
    n = f * 20 + r * 5 + c
    expected = [f * 10000 ** (-2 * i / 40) for i in range(20)]
    expected += [r * 10000 ** (-2 * i / 36) for i in range(18)] + [c * 10000 ** (-2 * i / 36) for i in range(18)]
    angles = torch.tensor(expected, dtype=torch.float64)
    torch.testing.assert_close(table[n], torch.polar(torch.ones_like(angles), angles).to(torch.complex64))


def test_frame_offset_gives_absolute_time_rows() -> None:
    rope = WanRotaryEmbedding(32)
    full = rope.table(6, 2, 3)
    chunk = rope.table(3, 2, 3, frame_offset=3)
    torch.testing.assert_close(chunk, full[3 * 6 :])


def test_camera_table_takes_the_leading_factors_of_each_axis() -> None:
    rope = WanRotaryEmbedding(112)
    full, cam = rope.table(2, 3, 4), rope.camera_table(2, 3, 4)
    assert cam.shape == (24, 28)
    torch.testing.assert_close(cam[:, :10], full[:, :10])
    torch.testing.assert_close(cam[:, 10:19], full[:, 20:29])
    torch.testing.assert_close(cam[:, 19:28], full[:, 38:47])


def test_rotation_is_pairwise_and_inverse_undoes_it() -> None:
    torch.manual_seed(0)
    x = torch.randn(2, 5, 8)
    factors = torch.polar(torch.ones(5, 4), torch.randn(5, 4))
    y = apply_rotary(x, factors)
    a, b = x[..., 0::2], x[..., 1::2]
    cos, sin = factors.real, factors.imag
    torch.testing.assert_close(y[..., 0::2], a * cos - b * sin)
    torch.testing.assert_close(y[..., 1::2], a * sin + b * cos)
    torch.testing.assert_close(apply_rotary(y, factors, inverse=True), x, atol=1e-6, rtol=1e-6)


def test_positions_beyond_the_table_are_refused() -> None:
    with pytest.raises(SanaWMInputError, match="1024"):
        WanRotaryEmbedding(32).table(4, 2, 2, frame_offset=1022)
