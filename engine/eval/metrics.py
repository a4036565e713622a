"""Image metrics of generated frames against ground truth: PSNR and SSIM, written out here (no scikit-image).

* :func:`psnr` — on uint8 RGB, peak 255, MSE over all pixels and channels; ``inf`` for identical frames.
* :func:`ssim` — Wang et al. (2004) SSIM on **luma** (BT.601 ``Y = 0.299 R + 0.587 G + 0.114 B``, 0-255 scale):
  an 11x11 Gaussian window with sigma 1.5, ``K1 = 0.01``, ``K2 = 0.03``, ``L = 255``, evaluated at every
  position where the window fits inside the frame ("valid", as the reference MATLAB code does), averaged.
  Luma rather than per channel because the official papers' SSIM is on luma and colour shifts are already
  in PSNR. Frames must be at least 11x11.
* :func:`frame_stats` — per-frame luma and saturation mean/std for the drift check.
* :func:`sharpness` / :func:`sharpness_ratio` — mean luma gradient magnitude (forward differences, 0-255 scale),
  and its ratio generated / ground truth: 1.0 = as much fine detail as the truth, below 1 = blurrier (a regression
  to the mean looks fine in PSNR and shows here), above 1 = more high-frequency content than the truth (crisper
  or noisier). Optionally over a pixel mask (the cache renders know only the pixels they cover).

Batched: every per-frame function takes ``(H, W, 3)`` or ``(F, H, W, 3)`` and returns a float or an ``(F,)`` array.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from engine.errors import SanaWMInputError

PEAK = 255.0
SSIM_WINDOW = 11
SSIM_SIGMA = 1.5
SSIM_K1 = 0.01
SSIM_K2 = 0.03
LUMA_WEIGHTS = np.array([0.299, 0.587, 0.114])


def _pair(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray, bool]:
    a = np.asarray(a)
    b = np.asarray(b)
    if a.shape != b.shape:
        raise SanaWMInputError(f"frames: expected equal shapes, found {a.shape} and {b.shape}")
    if a.ndim not in (3, 4) or a.shape[-1] != 3:
        raise SanaWMInputError(f"frames: expected (H, W, 3) or (F, H, W, 3), found {a.shape}")
    single = a.ndim == 3
    return (a[None] if single else a), (b[None] if single else b), single


def psnr(a: np.ndarray, b: np.ndarray) -> float | np.ndarray:
    """PSNR in dB (peak 255) of uint8 frames; ``inf`` where the frames are identical."""
    a, b, single = _pair(a, b)
    mse = ((a.astype(np.float64) - b.astype(np.float64)) ** 2).reshape(a.shape[0], -1).mean(axis=1)
    with np.errstate(divide="ignore"):
        out = 10.0 * np.log10(PEAK**2 / mse)
    return float(out[0]) if single else out


def luma(frames: np.ndarray) -> np.ndarray:
    """BT.601 luma ``(..., H, W)`` float64 on the 0-255 scale."""
    return np.asarray(frames, dtype=np.float64) @ LUMA_WEIGHTS


def gaussian_window(size: int = SSIM_WINDOW, sigma: float = SSIM_SIGMA) -> np.ndarray:
    """The normalised 1-D Gaussian ``(size,)``; the 2-D window is its outer product."""
    x = np.arange(size, dtype=np.float64) - (size - 1) / 2
    g = np.exp(-(x**2) / (2 * sigma**2))
    return g / g.sum()


def ssim(a: np.ndarray, b: np.ndarray) -> float | np.ndarray:
    """Mean SSIM on luma (see the module docstring); 1.0 for identical frames, symmetric in ``a`` and ``b``."""
    a, b, single = _pair(a, b)
    if min(a.shape[1:3]) < SSIM_WINDOW:
        raise SanaWMInputError(f"frames: SSIM needs at least {SSIM_WINDOW}x{SSIM_WINDOW} pixels, found {a.shape[1:3]}")
    x = torch.from_numpy(luma(a))[:, None]  # (F, 1, H, W)
    y = torch.from_numpy(luma(b))[:, None]
    g = torch.from_numpy(gaussian_window())

    def blur(t: torch.Tensor) -> torch.Tensor:  # separable valid Gaussian filter
        t = F.conv2d(t, g.view(1, 1, -1, 1))
        return F.conv2d(t, g.view(1, 1, 1, -1))

    c1, c2 = (SSIM_K1 * PEAK) ** 2, (SSIM_K2 * PEAK) ** 2
    mx, my = blur(x), blur(y)
    vx = blur(x * x) - mx * mx
    vy = blur(y * y) - my * my
    cxy = blur(x * y) - mx * my
    s = ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))
    out = s.flatten(1).mean(dim=1).numpy()
    return float(out[0]) if single else out


def frame_stats(frames: np.ndarray) -> np.ndarray:
    """``(F, 4)`` per-frame ``[luma mean, luma std, saturation mean, saturation std]`` on the 0-255 scale
    (saturation = HSV ``max - min`` over RGB, i.e. chroma)."""
    frames = np.asarray(frames)
    if frames.ndim == 3:
        frames = frames[None]
    f = frames.astype(np.float64)
    y = luma(f).reshape(f.shape[0], -1)
    sat = (f.max(axis=-1) - f.min(axis=-1)).reshape(f.shape[0], -1)
    return np.stack([y.mean(1), y.std(1), sat.mean(1), sat.std(1)], axis=1)


def gradient_magnitude(frames: np.ndarray) -> np.ndarray:
    """``(F, H - 1, W - 1)`` luma gradient magnitude ``sqrt(gx^2 + gy^2)`` by forward differences
    (``gx = Y[y, x + 1] - Y[y, x]``, ``gy = Y[y + 1, x] - Y[y, x]``) of ``(H, W, 3)`` or ``(F, H, W, 3)`` frames."""
    frames = np.asarray(frames)
    if frames.ndim == 3:
        frames = frames[None]
    if frames.ndim != 4 or frames.shape[-1] != 3 or min(frames.shape[1:3]) < 2:
        raise SanaWMInputError(f"frames: expected (H, W, 3) or (F, H, W, 3) with H, W >= 2, found {frames.shape}")
    y = luma(frames)  # (F, H, W)
    gx = y[:, :-1, 1:] - y[:, :-1, :-1]
    gy = y[:, 1:, :-1] - y[:, :-1, :-1]
    return np.sqrt(gx * gx + gy * gy)


def _gradient_mask(mask: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Where a forward difference uses only masked pixels: ``(F, H - 1, W - 1)`` from an ``(H, W)`` / ``(F, H, W)``
    mask."""
    mask = np.asarray(mask, dtype=bool)
    if mask.ndim == 2:
        mask = mask[None]
    if mask.shape[1:] != shape[1:3] or mask.shape[0] not in (1, shape[0]):
        raise SanaWMInputError(f"mask: expected (H, W) or (F, H, W) matching frames {shape}, found {mask.shape}")
    m = mask[:, :-1, :-1] & mask[:, :-1, 1:] & mask[:, 1:, :-1]
    return np.broadcast_to(m, (shape[0], *m.shape[1:]))


def sharpness(frames: np.ndarray, mask: np.ndarray | None = None) -> float | np.ndarray:
    """Mean luma gradient magnitude (:func:`gradient_magnitude`) per frame, over ``mask`` when given (a gradient
    counts where the pixel and its right and lower neighbours are all in the mask; NaN for a frame with none)."""
    frames = np.asarray(frames)
    single = frames.ndim == 3
    g = gradient_magnitude(frames)
    if mask is None:
        out = g.reshape(g.shape[0], -1).mean(axis=1)
    else:
        m = _gradient_mask(mask, (g.shape[0], frames.shape[-3], frames.shape[-2]))
        n = m.reshape(m.shape[0], -1).sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            out = np.where(n > 0, (g * m).reshape(g.shape[0], -1).sum(axis=1) / np.maximum(n, 1), np.nan)
    return float(out[0]) if single else out


def sharpness_ratio(generated: np.ndarray, truth: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Sharpness of ``generated`` over sharpness of ``truth``: the mean gradient magnitude of all the given frames
    (pooled over frames, and over ``mask`` — ``(H, W)`` or ``(F, H, W)`` — when given) of one over the other.
    1.0 for the truth itself, below 1 for a blurred copy, 0 for a flat image; NaN when the truth has no gradient
    (a flat image) or the mask leaves nothing."""
    generated, truth, _ = _pair(generated, truth)
    g, t = gradient_magnitude(generated), gradient_magnitude(truth)
    if mask is not None:
        m = _gradient_mask(mask, (g.shape[0], generated.shape[1], generated.shape[2]))
        g, t = g[m], t[m]
    num, den = float(g.sum()), float(t.sum())
    return num / den if den > 0 else math.nan
