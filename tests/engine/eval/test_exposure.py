"""The exposure check: free vs teacher-forced per-chunk PSNR on a tiny setup."""

import numpy as np
import pytest
import torch

from engine.bundles import ModelBundle
from engine.eval.exposure import chunk_psnr, exposure_curves
from engine.eval.metrics import psnr
from engine.eval.protocol import EvalConfig, make_scenes
from engine.eval.rollout import repeat_first_frame, rollout
from engine.synth.renderer import Renderer

SIZE = (64, 32)


@pytest.fixture(scope="module")
def scenes():
    torch.set_num_threads(1)
    renderer = Renderer(msaa=0, shadow_size=512)
    try:
        return make_scenes(EvalConfig(scenes=1, horizons_s=(1.0,), window=0, drift_seconds=0, exposure_chunks=3,
                                      revisit_frames=25), SIZE, renderer)  # fmt: skip
    finally:
        renderer.release()


@pytest.fixture(scope="module")
def bundle():
    return ModelBundle.random("sana-wm-tiny-test", frame_size=SIZE, spatial_factor=16, seed=1)


def test_chunk_psnr_averages_the_24_frames_of_each_chunk():
    rng = np.random.default_rng(0)
    truth = rng.integers(0, 256, (49, 4, 6, 3), dtype=np.uint8)
    generated = rng.integers(0, 256, (49, 4, 6, 3), dtype=np.uint8)
    generated[25:] = truth[25:]  # chunk 1 perfect: capped at 100 dB
    scores = chunk_psnr(generated, truth, 2)
    assert scores[0] == pytest.approx(float(np.mean(psnr(generated[1:25], truth[1:25]))))
    assert scores[1] == 100.0


def test_teacher_forcing_changes_only_the_context_of_later_chunks(bundle, scenes):
    scene = scenes[0]
    assert scene.truth.shape[0] >= 73  # the path covers the exposure chunks
    curves = exposure_curves(bundle, scenes, 3, seed=42, fps=16.0)
    assert len(curves.free) == len(curves.teacher_forced) == len(curves.repeat_first) == 3
    assert curves.free[0] == curves.teacher_forced[0]  # chunk 0 is sampled before anything is committed
    assert curves.free[1] != curves.teacher_forced[1]  # chunk 1 saw the truth's chunk 0 instead of its own
    truth = scene.truth[:73]
    free = rollout(bundle, truth[0], scene.path.c2w[:73], scene.path.intrinsics[:73], seed=42)
    assert curves.free == pytest.approx(list(chunk_psnr(free, truth, 3)))
    assert curves.repeat_first == pytest.approx(list(chunk_psnr(repeat_first_frame(truth[0], 73), truth, 3)))
    assert "| 2 | 4.5 |" in curves.to_markdown()
