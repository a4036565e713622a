"""Depth maps as pictures: log-scaled "turbo" colours (near warm (red to yellow), far blue), sky (inf) black. numpy only."""

from __future__ import annotations

import numpy as np

# polynomial fit of the turbo colour map (Mikhailov, Google 2019), x in [0, 1]
_TURBO = np.array([
    [0.13572138, 4.61539260, -42.66032258, 132.13108234, -152.94239396, 59.28637943],
    [0.09140261, 2.19418839, 4.84296658, -14.18503333, 4.27729857, 2.82956604],
    [0.10667330, 12.64194608, -60.58204836, 110.36276771, -89.90310912, 27.34824973],
])  # fmt: skip


def depth_to_rgb(depth: np.ndarray, near: float = 0.5, far: float = 100.0) -> np.ndarray:
    """``(..., H, W)`` depth in metres -> ``(..., H, W, 3)`` uint8: ``log`` depth from ``near`` (warm) to ``far``
    (blue), clamped; non-finite or non-positive values (sky) black."""
    d = np.asarray(depth, np.float64)
    valid = np.isfinite(d) & (d > 0)
    x = np.log(np.clip(np.where(valid, d, far), near, far) / near) / np.log(far / near)
    x = 1.0 - x  # near = 1 (red end of turbo)
    powers = np.stack([x**i for i in range(6)], axis=-1)  # (..., 6)
    rgb = np.clip(powers @ _TURBO.T, 0.0, 1.0)
    rgb[~valid] = 0.0
    return (rgb * 255.0 + 0.5).astype(np.uint8)
