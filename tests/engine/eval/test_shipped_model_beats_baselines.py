"""The shipped embedded model against the two baselines a user could have without it, on the first two held-out
worlds (paths of ``sana-wm eval --drift-seconds 0``): repeating the start image, and the start image's world cache
rendered along the path with its holes filled from the start image ("cache render + start frame"). PSNR on whole
frames over the protocol's ±2-frame window, per world. The full protocol, over 12 worlds, is in
docs/embedded_model.md; this is the small version CI runs (one rollout per world, no revisit, parallax or drift).

What is asserted is what the shipped model (v2, step 300) does in both worlds: it beats repeat-first-frame at 5 and
20 s and the filled cache render at 20 s. Not asserted, because it does not do it yet (issue 17's aim, measured in
docs/embedded_model.md): beating either baseline at 1 s, where the camera has barely moved (world 0: the start image
itself is then 31 dB, and the model's codec cannot reproduce it that closely), and the filled cache render at 5 s in
world 1 (19.0 against 19.4 dB)."""

import numpy as np
import pytest
import torch

from engine.bundles import load_bundle
from engine.eval.cache_row import filled_cache_frames
from engine.eval.protocol import EvalConfig, horizon_scores, make_scenes
from engine.eval.rollout import rollout
from engine.generation.world_memory import depth_source_for
from engine.synth.renderer import Renderer
from engine.world_cache import CacheRenderer

CONFIG = EvalConfig(scenes=2, drift_seconds=0.0)
HORIZONS = [f"{h:g}s" for h in CONFIG.horizons_s]


@pytest.fixture(scope="module")
def scores() -> dict[str, np.ndarray]:
    """``{row: (worlds, horizons) PSNR}`` for the model and both baselines."""
    torch.set_num_threads(2)
    bundle = load_bundle(None)
    depth = depth_source_for(bundle.source, threads=2)
    assert depth is not None, "the shipped model has no depth estimator beside it"
    with Renderer() as renderer:
        scenes = make_scenes(CONFIG, bundle.frame_size, renderer)
    out = {"model": [], "repeat first frame": [], "cache render + start frame": []}
    with CacheRenderer() as renderer:
        for scene in scenes:
            path, start = scene.path, scene.truth[0]
            rows = {
                "model": rollout(bundle, start, path.c2w, path.intrinsics, seed=CONFIG.session_seed),
                "repeat first frame": np.repeat(start[None], path.num_frames, axis=0),
                "cache render + start frame": filled_cache_frames(path, start, depth(start[None], path.intrinsics[:1])[0],
                                                                  renderer),
            }  # fmt: skip
            for name, frames in rows.items():
                out[name].append([horizon_scores(frames, scene.truth, f, CONFIG.window)[0]
                                  for f in CONFIG.horizon_frames()])  # fmt: skip
    return {name: np.asarray(v) for name, v in out.items()}


@pytest.mark.parametrize(("baseline", "horizon"), [("repeat first frame", "5s"), ("repeat first frame", "20s"),
                                                   ("cache render + start frame", "20s")])  # fmt: skip
def test_the_shipped_model_beats_the_baseline_in_both_worlds(scores, baseline, horizon):
    model, other = scores["model"], scores[baseline]
    assert model.shape == other.shape == (2, len(HORIZONS))
    h = HORIZONS.index(horizon)
    losses = [f"world {w}: model {model[w, h]:.2f} dB, {baseline} {other[w, h]:.2f} dB"
              for w in range(2) if not model[w, h] > other[w, h]]
    assert not losses, f"at {horizon}: " + "; ".join(losses)
