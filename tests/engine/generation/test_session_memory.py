"""WorldSession in a memory tier that decodes in pieces: the same frames as whole-chunk decoding (tiny official
streaming bundle with its causal LTX-2 VAE)."""

from __future__ import annotations

import dataclasses

import numpy as np

from engine.bundles import load_bundle
from engine.camera.actions import action_to_c2w
from engine.generation.session import WorldSession
from engine.memory.tiers import POLICIES


def frames(bundle) -> np.ndarray:
    session = WorldSession(bundle, keep_snapshots=False, depth=None)
    w, h = bundle.frame_size
    session.start(np.full((h, w, 3), 120, np.uint8), intrinsics=[100.0, 100.0, w / 2, h / 2], prompt="w1")
    poses = action_to_c2w("w-48")[1:]
    return np.concatenate([session.step(poses[k * 24 : (k + 1) * 24]).frames for k in range(2)])


def test_decoding_one_or_three_latent_frames_per_call_gives_the_frames_of_whole_chunks(tiny_bundles) -> None:
    bundle = load_bundle(tiny_bundles["streaming"], refiner=False)
    reference = frames(bundle)
    for tier in ("balanced", "low"):
        piecewise = dataclasses.replace(bundle, memory=dataclasses.replace(POLICIES[tier], dit_fp8=False))
        assert np.abs(frames(piecewise).astype(int) - reference.astype(int)).max() <= 1
