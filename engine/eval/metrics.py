"""Image metrics of generated frames against ground truth: PSNR and SSIM, written out here (no scikit-image).

* :func:`psnr` — on uint8 RGB, peak 255, MSE over all pixels and channels; ``inf`` for identical frames.
* :func:`ssim` — Wang et al. (2004) SSIM on **luma** (BT.601 ``Y = 0.299 R + 0.587 G + 0.114 B``, 0-255 scale):
  an 11x11 Gaussian window with sigma 1.5, ``K1 = 0.01``, ``K2 = 0.03``, ``L = 255``, evaluated at every
  position where the window fits inside the frame ("valid", as the reference MATLAB code does), averaged.
  Luma rather than per channel because the official papers' SSIM is on luma and colour shifts are already
  in PSNR. Frames must be at least 11x11.
* :func:`frame_stats` — per-frame luma and saturation mean/std for the drift check.

Batched: every function takes ``(H, W, 3)`` or ``(F, H, W, 3)`` and returns a float or an ``(F,)`` array.
"""

from __future__ import annotations

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
