"""Shared helpers for the export tests: synthetic frames and a look at what a folder holds."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest


def _make_frames(num: int, height: int = 176, width: int = 320, *, seed: int = 0) -> np.ndarray:
    """``(num, H, W, 3)`` uint8 frames: a smooth colour gradient with a bright bar that moves each frame.

    Smooth content keeps H.264 errors small, so decoded frames can be compared with the originals; the bar
    makes every frame different.
    """
    rng = np.random.default_rng(seed)
    y = np.linspace(0.0, 1.0, height)[:, None]
    x = np.linspace(0.0, 1.0, width)[None, :]
    base = np.stack([40 + 150 * x + 0 * y, 60 + 120 * y + 0 * x, 90 + 60 * (x * y)], axis=-1)
    frames = np.repeat(base[None], num, axis=0)
    bar = max(2, width // 16)
    for i in range(num):
        left = (i * bar) % max(1, width - bar)
        frames[i, :, left:left + bar] = 230
    frames += rng.integers(0, 2, size=frames.shape)
    return frames.clip(0, 255).astype(np.uint8)


def _listing(folder: Path) -> list[str]:
    """Every name in ``folder`` (hidden temporaries included), sorted."""
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


@pytest.fixture
def make_frames():
    """The frame factory ``make_frames(num, height=176, width=320, seed=0)``."""
    return _make_frames


@pytest.fixture
def listing():
    """``listing(folder)``: every name in the folder, hidden temporaries included, sorted."""
    return _listing
