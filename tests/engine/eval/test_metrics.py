"""PSNR and SSIM against cases computed by hand."""

import math

import numpy as np
import pytest
import torch

from engine.errors import SanaWMInputError
from engine.eval.metrics import SSIM_K1, SSIM_K2, frame_stats, gaussian_window, luma, psnr, ssim


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
