"""Shared fixtures: one EGL context for the synth renderer and the cache renderer, a textured plane frame, and a
small synth clip with exact depth."""

from __future__ import annotations

import numpy as np
import pytest

from engine.synth.dataset import ClipMaker, DatasetConfig
from engine.synth.renderer import Renderer
from engine.world_cache.render_gl import CacheRenderer

SIZE = (96, 56)
K = np.array([60.0, 60.0, 48.0, 28.0])


@pytest.fixture(scope="session")
def synth_renderer():
    r = Renderer(msaa=0)
    yield r
    r.release()


@pytest.fixture(scope="session")
def cache_renderer(synth_renderer):
    r = CacheRenderer(ctx=synth_renderer.ctx)
    yield r
    r.release()


def textured_plane(size=SIZE, k=K, distance=5.0, seed=0) -> tuple[np.ndarray, np.ndarray]:
    """A frame of a fronto-parallel plane at ``distance`` with a random block texture (4 px blocks) plus a smooth
    gradient, and its exact depth ``(H, W)``; the camera is the identity pose."""
    w, h = size
    rng = np.random.default_rng(seed)
    blocks = rng.integers(0, 256, (h // 4 + 1, w // 4 + 1, 3)).repeat(4, 0).repeat(4, 1)[:h, :w]
    v, u = np.mgrid[0:h, 0:w]
    frame = (0.7 * blocks + 0.3 * np.stack([u * 255 / w, v * 255 / h, np.full_like(u, 128)], -1)).astype(np.uint8)
    return frame, np.full((h, w), distance, np.float32)


@pytest.fixture(scope="session")
def synth_clip(synth_renderer):
    """A 9-frame synth clip at 96x56 with exact depth (frames (9, 56, 96, 3), depth (9, 56, 96))."""
    config = DatasetConfig(seed=916001, clips=1, num_frames=9, size=SIZE, clips_per_world=1, themes=("meadow",))
    return ClipMaker(config, renderer=synth_renderer).make(0)
