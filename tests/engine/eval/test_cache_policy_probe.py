"""The cache policies the probe compares build the caches they name (docs/embedded_model.md, "What the model sees")."""

import numpy as np
import pytest

from engine.eval.cache_policy_probe import POLICIES, memory_class
from engine.generation.world_memory import WorldCacheSettings
from engine.world_cache import observed_part

K = np.array([[80.0, 80.0, 48.0, 32.0]] * 8)
#: the grey of each frame of a chunk; no mean of two of them is one of them
GREYS = (10, 20, 35, 60, 90, 125, 165, 250)


def wall(frames: np.ndarray, intrinsics: np.ndarray) -> np.ndarray:
    return np.full(frames.shape[:3], 4.0, np.float32)


def chunk(first: int) -> tuple[np.ndarray, np.ndarray]:
    c2w = np.tile(np.eye(4), (8, 1, 1))
    c2w[:, 0, 3] = 0.1 * np.arange(first, first + 8)  # sideways: each frame sees some new wall
    frames = np.empty((8, 64, 96, 3), np.uint8)
    frames[:] = np.array(GREYS)[:, None, None, None]
    return frames, c2w


@pytest.mark.parametrize("policy", POLICIES)
def test_each_policy_builds_the_cache_it_names(policy):
    memory = memory_class(policy)(wall, WorldCacheSettings(voxel_size=0.05, capacity=20000, fuse_every=4))
    start = memory.start(np.full((64, 96, 3), 50, np.uint8), K[0])
    frames, c2w = chunk(1)
    try:
        grown = memory.after_chunk(start, frames, c2w, K, first_chunk=True)
    finally:
        memory.release()
    if policy == "start-only":
        assert grown is start
        return
    assert len(grown) > len(start)
    kept = observed_part(grown)
    fields = ["keys", "colours", "offsets"]
    assert np.array_equal(kept.voxels[fields], start.voxels[fields])  # generated frames never repaint the start image
    assert memory.settings.model_sees_generated == (policy in ("shown-all", "fill-only"))
    shown = memory.model_view(grown)
    if policy == "hidden":  # the whole cache grows as shipped, and the model is shown none of it
        assert len(shown) == 0 and len(observed_part(grown)) == len(start)
    else:
        assert len(shown) == (len(grown) if memory.settings.model_sees_generated else len(start))
    generated = np.unique(grown.colours[grown.weights != 255][:, 0])
    firsts = set(GREYS)
    if policy == "fill-only":  # each new voxel keeps the colour of the one frame that added it
        assert set(generated.tolist()) <= firsts
    else:  # fused frames average where they overlap
        assert not set(generated.tolist()) <= firsts
