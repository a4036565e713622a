"""What a world-cache render returns (shared by the GL renderer and the numpy reference)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class CacheRender:
    """``colour`` ``(H, W, 3)`` uint8 RGB (0 where not covered), ``coverage`` ``(H, W)`` bool (the cache knows the
    pixel), ``depth`` ``(H, W)`` float32 camera-space z in scene units (``inf`` where not covered). Row 0 at the top."""

    colour: np.ndarray
    coverage: np.ndarray
    depth: np.ndarray
