"""PSNR and SSIM against cases computed by hand."""

import math

import numpy as np
import pytest
import torch

from engine.errors import SanaWMInputError
from engine.eval.metrics import (
    SSIM_K1,
    SSIM_K2,
    frame_stats,
    gaussian_window,
    gradient_magnitude,
    luma,
    psnr,
    sharpness,
    sharpness_ratio,
    ssim,
)


@pytest.fixture(autouse=True)
def _one_thread():
    torch.set_num_threads(1)


def _noise(shape, seed=0):
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


def test_identical_frames_give_infinite_psnr_and_ssim_one():
    a = _noise((20, 24, 3))
    assert psnr(a, a) == math.inf
    assert ssim(a, a) == pytest.approx(1.0, abs=1e-12)


def test_known_mse_gives_known_psnr():
    a = np.full((8, 8, 3), 100, np.uint8)
    b = a + np.uint8(10)  # MSE 100 -> 10 log10(255^2 / 100)
    assert psnr(a, b) == pytest.approx(10 * math.log10(255**2 / 100))
    c = a.copy()
    c[0, 0, 0] = 100 + 64  # one value of 192 off by 64: MSE = 64^2 / 192
    assert psnr(a, c) == pytest.approx(10 * math.log10(255**2 * 192 / 64**2))


def test_batched_metrics_match_single_frames():
    a, b = _noise((3, 16, 16, 3), 1), _noise((3, 16, 16, 3), 2)
    np.testing.assert_allclose(psnr(a, b), [psnr(x, y) for x, y in zip(a, b)])
    np.testing.assert_allclose(ssim(a, b), [ssim(x, y) for x, y in zip(a, b)])


def test_ssim_of_noise_against_a_constant_matches_the_formula_by_hand():
    # an 11x11 frame has exactly one valid window: SSIM = l * cs with sigma_y = sigma_xy = 0
    x = _noise((11, 11, 3), 3)
    y = np.full((11, 11, 3), 128, np.uint8)
    g = gaussian_window()
    w = np.outer(g, g)
    lx = luma(x)
    mx, my = (w * lx).sum(), 128.0
    vx = (w * (lx - mx) ** 2).sum()
    c1, c2 = (SSIM_K1 * 255) ** 2, (SSIM_K2 * 255) ** 2
    expected = (2 * mx * my + c1) / (mx**2 + my**2 + c1) * c2 / (vx + c2)
    assert ssim(x, y) == pytest.approx(expected, rel=1e-9)
    assert expected < 0.05  # structure is gone


def test_ssim_is_symmetric_and_bounded():
    a, b = _noise((24, 30, 3), 4), _noise((24, 30, 3), 5)
    assert ssim(a, b) == pytest.approx(ssim(b, a), abs=1e-12)
    assert -1.0 <= ssim(a, b) < 0.2
    blurred = ((a.astype(np.int32) + b) // 2).astype(np.uint8)
    assert ssim(a, blurred) > ssim(a, b)


def test_gaussian_window_is_normalised_and_has_sigma_1_5():
    g = gaussian_window()
    assert g.shape == (11,) and g.sum() == pytest.approx(1.0)
    assert g[6] / g[5] == pytest.approx(math.exp(-1 / (2 * 1.5**2)))


def test_metrics_reject_mismatched_or_small_frames():
    with pytest.raises(SanaWMInputError, match="equal shapes"):
        psnr(np.zeros((4, 4, 3), np.uint8), np.zeros((4, 5, 3), np.uint8))
    with pytest.raises(SanaWMInputError, match="11x11"):
        ssim(np.zeros((10, 40, 3), np.uint8), np.zeros((10, 40, 3), np.uint8))


def test_frame_stats_of_a_flat_colour():
    f = np.zeros((2, 4, 4, 3), np.uint8)
    f[..., 0] = 200  # pure red-ish: luma 0.299 * 200, chroma 200
    stats = frame_stats(f)
    np.testing.assert_allclose(stats, [[0.299 * 200, 0, 200, 0]] * 2)


def _box_blur(frames: np.ndarray) -> np.ndarray:
    """3x3 box blur per channel (edges replicated), back to uint8."""
    f = np.pad(frames.astype(np.float64), [(0, 0), (1, 1), (1, 1), (0, 0)], mode="edge")
    h, w = frames.shape[1:3]
    out = sum(f[:, dy : dy + h, dx : dx + w] for dy in range(3) for dx in range(3)) / 9.0
    return np.round(out).astype(np.uint8)


def test_sharpness_ratio_of_the_truth_is_one_and_of_a_blurred_copy_below_one():
    truth = _noise((3, 24, 32, 3), 6)
    assert sharpness_ratio(truth, truth) == pytest.approx(1.0)
    blurred = _box_blur(truth)
    ratio = sharpness_ratio(blurred, truth)
    assert 0.0 < ratio < 0.6  # a 3x3 box removes most of white noise's gradient
    assert sharpness_ratio(_box_blur(blurred), truth) < ratio  # blurring more: less again
    assert sharpness_ratio(truth, blurred) > 1.0  # more detail than the reference: above 1
    flat = np.full_like(truth, 90)
    assert sharpness_ratio(flat, truth) == 0.0
    assert math.isnan(sharpness_ratio(truth, flat))  # no gradient to compare with


def test_sharpness_is_the_mean_forward_difference_gradient_of_luma():
    frame = np.zeros((3, 4, 3), np.uint8)
    frame[:, 2:] = 100  # a vertical edge between columns 1 and 2: gx = 100 there, gy = 0 everywhere
    g = gradient_magnitude(frame)
    assert g.shape == (1, 2, 3)
    np.testing.assert_allclose(g[0], [[0, 100, 0], [0, 100, 0]])
    assert sharpness(frame) == pytest.approx(100 / 3)
    np.testing.assert_allclose(sharpness(np.stack([frame, frame[:, ::-1]])), [100 / 3, 100 / 3])


def test_sharpness_ratio_pools_frames_and_counts_only_the_mask():
    truth = _noise((2, 16, 16, 3), 7)
    gen = truth.copy()
    gen[:, :, 8:] = 0  # right half flat
    mask = np.zeros((16, 16), bool)
    mask[:, :8] = True
    assert sharpness_ratio(gen, truth, mask) == pytest.approx(1.0)  # the left half is the truth
    assert sharpness_ratio(gen, truth) < 0.6
    both = np.concatenate([truth[:1], gen[1:]])  # one exact frame, one half flat
    expected = (gradient_magnitude(both).sum()) / gradient_magnitude(truth).sum()
    assert sharpness_ratio(both, truth) == pytest.approx(expected)
    assert math.isnan(sharpness(gen[0], np.zeros((16, 16), bool)))
    with pytest.raises(SanaWMInputError, match="mask"):
        sharpness_ratio(gen, truth, np.ones((8, 8), bool))
