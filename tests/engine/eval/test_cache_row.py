"""The "cache render" rows of ``sana-wm eval``: scored where covered, with coverage, from exact or estimated depth."""

import math

import numpy as np
import pytest
import torch

from engine.eval.cache_row import FILLED_CACHE_ROW, filled_cache_frames, masked_psnr, score_cache_row, start_cache
from engine.eval.protocol import PSNR_CAP_DB, EvalConfig, cache_rows, make_scenes
from engine.generation.world_memory import WorldCacheSettings
from engine.synth.renderer import Renderer
from engine.world_cache import CacheRenderer

SIZE = (96, 64)
CONFIG = EvalConfig(scenes=2, horizons_s=(0.25, 1.0), window=1, drift_seconds=0.0, revisit_frames=49)


@pytest.fixture(scope="module")
def scenes():
    torch.set_num_threads(1)
    with Renderer(msaa=0, shadow_size=512) as r:
        return make_scenes(CONFIG, SIZE, r, start_depth=True)


@pytest.fixture(scope="module")
def renderer():
    with CacheRenderer() as r:
        yield r


def exact(scene, path, start):
    return scene.start_depth if path is scene.path else scene.revisit_start_depth


def test_masked_psnr_counts_only_the_mask():
    a = np.zeros((4, 4, 3), np.uint8)
    b = a.copy()
    b[0, 0] = 255
    mask = np.ones((4, 4), bool)
    mask[0, 0] = False
    assert masked_psnr(a, b, mask) == PSNR_CAP_DB
    assert masked_psnr(a, b, ~mask) == pytest.approx(0.0)
    assert math.isnan(masked_psnr(a, b, np.zeros((4, 4), bool)))


def test_the_start_frame_cache_reproduces_the_start_frame(scenes, renderer):
    scene = scenes[0]
    cache = start_cache(scene.truth[0], scene.start_depth, scene.path.intrinsics[0], WorldCacheSettings())
    out = renderer.render(cache, np.eye(4), scene.path.intrinsics[0], SIZE)
    sky = ~np.isfinite(scene.start_depth)
    assert out.coverage[~sky].mean() > 0.95 and out.coverage[sky].mean() < 0.15  # splats overlap the horizon a little
    assert masked_psnr(out.colour, scene.truth[0], out.coverage) > 24


def test_the_exact_row_is_scored_where_covered_and_beats_wrong_depth(scenes, renderer):
    row = score_cache_row("exact", "", CONFIG, scenes, exact, renderer)
    wrong = score_cache_row("wrong", "", CONFIG, scenes, lambda s, p, f: 2.0 * exact(s, p, f), renderer)
    assert set(row.coverage) == {"0.25s", "1s"}
    for key in row.coverage:
        assert 0.2 < row.coverage[key] <= 1.0
        assert row.horizons[key]["psnr"] > wrong.horizons[key]["psnr"], key
        assert math.isnan(row.horizons[key]["ssim"])
    assert row.horizons["1s"]["psnr"] > wrong.horizons["1s"]["psnr"] + 1.0  # the error grows as the camera moves
    assert row.coverage["0.25s"] >= row.coverage["1s"] - 0.05  # the start view is left behind, not gained
    assert row.revisit_truth_psnr > 15 and math.isnan(row.drift_in_range)
    assert row.horizons["1s"]["psnr"] == pytest.approx(np.mean([w["1s"]["psnr"] for w in row.per_world]))


def test_cache_rows_add_an_estimated_row_only_with_a_depth_source(scenes):
    names = [r.name for r in cache_rows(CONFIG, scenes, None)]
    assert names == ["cache render, exact depth"]
    flat = lambda frames, k: np.full(frames.shape[:3], 5.0, np.float32)  # noqa: E731
    rows = cache_rows(CONFIG, scenes, flat)
    assert [r.name for r in rows] == ["cache render", FILLED_CACHE_ROW, "cache render, exact depth"]
    assert rows[0].horizons["1s"]["psnr"] != rows[2].horizons["1s"]["psnr"]
    filled = rows[1]  # whole frames, scored like a model: SSIM and drift too, no coverage
    assert filled.coverage is None and not math.isnan(filled.horizons["1s"]["ssim"])


def test_the_filled_cache_row_is_the_render_where_covered_and_the_start_frame_elsewhere(scenes, renderer):
    from engine.camera.poses import relative_to_first

    scene = scenes[0]
    frames = filled_cache_frames(scene.path, scene.truth[0], scene.start_depth, renderer)
    assert frames.shape == scene.truth.shape
    cache = start_cache(scene.truth[0], scene.start_depth, scene.path.intrinsics[0], WorldCacheSettings())
    f = CONFIG.horizon_frames()[1]
    out = renderer.render(cache, relative_to_first(scene.path.c2w)[f], scene.path.intrinsics[f], SIZE)
    assert 0.05 < out.coverage.mean() < 0.95  # both parts are tested
    assert np.array_equal(frames[f][out.coverage], out.colour[out.coverage])
    assert np.array_equal(frames[f][~out.coverage], scene.truth[0][~out.coverage])


def test_the_cache_row_keeps_figure_frames_sharpness_and_parallax(scenes, renderer):
    from engine.eval.cache_row import UNCOVERED_RGB, with_uncovered

    row = score_cache_row("exact", "", CONFIG, scenes, exact, renderer)
    scene = scenes[CONFIG.example_world]
    frames = CONFIG.horizon_frames()
    assert row.examples.shape == (len(frames), SIZE[1], SIZE[0], 3)
    cache = start_cache(scene.truth[0], scene.start_depth, scene.path.intrinsics[0], WorldCacheSettings())
    from engine.camera.poses import relative_to_first

    out = renderer.render(cache, relative_to_first(scene.path.c2w)[frames[1]], scene.path.intrinsics[frames[1]], SIZE)
    assert np.array_equal(row.examples[1], with_uncovered(out))
    assert np.array_equal(row.examples[1][~out.coverage], np.broadcast_to(UNCOVERED_RGB, (int((~out.coverage).sum()), 3)))
    for key, h in row.horizons.items():
        # over covered pixels the splat render is softer than the truth, never sharper by much
        assert 0.2 < h["sharpness"] < 1.2, key
        assert h["sharpness"] == pytest.approx(np.nanmean([w[key]["sharpness"] for w in row.per_world]))
    assert set(row.parallax) == {"expansion_ratio", "flow_cosine", "flow_epe_px", "truth_flow_px", "pairs"}
    assert len(row.per_world_parallax) == len(scenes)
