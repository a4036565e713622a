"""The contrast floor (:mod:`engine.components.contrast_floor`): flat frames are stretched about their mean colour up
to the floor (or the cap), frames at the floor are left bit for bit, and bad settings are named."""

from __future__ import annotations

import numpy as np
import pytest

from engine.components.contrast_floor import floor_contrast, luma_std
from engine.errors import SanaWMInputError


def scene(spread: float, mean: tuple[float, float, float] = (120.0, 140.0, 100.0), seed: int = 0) -> np.ndarray:
    """A ``(64, 96, 3)`` frame: a vertical gradient plus noise, its luma spread about ``spread``."""
    rng = np.random.default_rng(seed)
    base = np.linspace(-1, 1, 64)[:, None, None] + 0.3 * rng.standard_normal((64, 96, 1))
    x = np.asarray(mean) + spread / base.std() * base * np.array([1.0, 0.9, 1.1])
    return np.clip(x + 0.5, 0, 255).astype(np.uint8)


def test_a_washed_out_frame_is_stretched_to_the_floor_and_keeps_its_mean_colour():
    flat = scene(12.0)
    out = floor_contrast(flat[None], reference_std=40.0, floor=0.6, cap=3.0)[0]
    assert luma_std(flat) == pytest.approx(12.0, rel=0.1)
    assert luma_std(out) == pytest.approx(24.0, abs=0.5)  # 0.6 x 40
    assert np.abs(out.reshape(-1, 3).mean(0) - flat.reshape(-1, 3).mean(0)).max() < 0.6
    # the layout is the same frame's: the stretch is affine per channel
    assert np.corrcoef(out[..., 1].ravel(), flat[..., 1].ravel())[0, 1] > 0.99


def test_frames_at_the_floor_are_left_bit_for_bit_and_only_flat_ones_change():
    sharp, flat = scene(30.0, seed=1), scene(10.0, seed=2)
    out = floor_contrast(np.stack([sharp, flat, sharp]), reference_std=40.0, floor=0.5, cap=2.0)
    assert np.array_equal(out[0], sharp) and np.array_equal(out[2], sharp)
    assert not np.array_equal(out[1], flat)


def test_the_cap_bounds_the_stretch():
    flat = scene(5.0)
    out = floor_contrast(flat[None], reference_std=40.0, floor=0.8, cap=2.0)[0]
    assert luma_std(out) == pytest.approx(2.0 * luma_std(flat), rel=0.05)  # 32 wanted, 10 allowed


def test_floor_zero_is_off():
    frames = np.stack([scene(3.0), scene(8.0, seed=4)])
    assert floor_contrast(frames, reference_std=50.0, floor=0.0, cap=2.0) is frames


@pytest.mark.parametrize(("floor", "cap", "message"), [
    (1.5, 2.0, r"contrast_floor: expected a share of the start image's contrast in \[0, 1\], found 1.5"),
    (float("nan"), 2.0, r"contrast_floor: expected .* found nan"),
    (0.5, 0.5, r"contrast_cap: expected a finite stretch of at least 1, found 0.5"),
    (0.5, float("inf"), r"contrast_cap: expected a finite stretch of at least 1, found inf"),
])  # fmt: skip
def test_bad_settings_are_named(floor, cap, message):
    with pytest.raises(SanaWMInputError, match=message):
        floor_contrast(scene(10.0)[None], reference_std=40.0, floor=floor, cap=cap)


def test_bad_frames_are_named():
    with pytest.raises(SanaWMInputError, match=r"frames: expected \(F, H, W, 3\) uint8, found \(64, 96, 3\) uint8"):
        floor_contrast(scene(10.0), reference_std=40.0, floor=0.5, cap=2.0)
