"""The eval protocol on a tiny setup: all rows, finite numbers, and the repeat baseline checked by hand."""

import json
import math
from dataclasses import replace

import numpy as np
import pytest
import torch

from engine.bundles import ModelBundle
from engine.errors import ConfigError
from engine.eval.metrics import psnr, ssim
from engine.eval.protocol import (
    HELD_OUT_SEED_BASE,
    PSNR_CAP_DB,
    STAT_NAMES,
    EvalConfig,
    EvalResult,
    drift_breakdown,
    drift_in_range,
    evaluate,
    horizon_scores,
    make_scenes,
    repeat_first_frame,
    rollout,
    untrained_like,
)
from engine.eval.rows import RowResult
from engine.generation.session import StreamSettings
from engine.synth.renderer import Renderer

SIZE = (64, 32)
TINY = EvalConfig(scenes=1, horizons_s=(1.0, 2.0), window=1, drift_seconds=2.0, revisit_frames=49)


@pytest.fixture(scope="module")
def renderer():
    torch.set_num_threads(1)
    r = Renderer(msaa=0, shadow_size=512)
    yield r
    r.release()


@pytest.fixture(scope="module")
def bundle():
    return ModelBundle.random("sana-wm-tiny-test", frame_size=SIZE, spatial_factor=16)


@pytest.fixture(scope="module")
def result(bundle, renderer):
    torch.set_num_threads(1)
    return evaluate(bundle, TINY, renderer=renderer)


def test_held_out_world_seeds_are_outside_the_training_range():
    assert EvalConfig(scenes=3, seed=5).world_seeds() == [HELD_OUT_SEED_BASE + 5 + i for i in range(3)]
    assert HELD_OUT_SEED_BASE >= 2**31  # training world seeds are uint32 >> 1


def test_path_covers_horizons_and_drift_in_whole_chunks():
    cfg = EvalConfig()
    n = cfg.path_frames()
    assert (n - 1) % 24 == 0 and n >= 960 + 1 and n > 320 + cfg.window
    assert cfg.horizon_frames() == [16, 80, 320]
    assert TINY.path_frames() == 49


def test_bad_config_is_rejected():
    with pytest.raises(ConfigError, match="scenes"):
        EvalConfig(scenes=0)
    with pytest.raises(ConfigError, match="horizons"):
        EvalConfig(horizons_s=())


def test_eval_gives_every_row_with_finite_numbers(result):
    names = ["model", "repeat first frame", "untrained model", "cache render, exact depth"]
    assert [r.name for r in result.rows] == names
    for row in result.rows[:3]:
        assert list(row.horizons) == ["1s", "2s"]
        values = [v for h in row.horizons.values() for v in h.values()]
        values += [row.revisit_self_psnr, row.revisit_self_ssim, row.revisit_truth_psnr, row.revisit_truth_ssim]
        assert all(math.isfinite(v) for v in values), row
        assert 0.0 <= row.drift_in_range <= 1.0
    table = result.to_markdown()
    assert table.count("\n| ") == 4 and "PSNR 1s" in table and "revisit" in table
    data = result.as_dict()
    assert data["rows"][0]["horizons"]["1s"]["psnr"] > 0 and data["world_seeds"] == TINY.world_seeds()


def test_repeat_first_frame_row_equals_a_hand_computation(result, renderer):
    scene = make_scenes(TINY, SIZE, renderer)[0]
    truth = scene.truth
    row = result.rows[1]
    for key, frame in zip(["1s", "2s"], [16, 32]):
        idx = range(frame - 1, frame + 2)
        expected_psnr = np.mean([min(psnr(truth[0], truth[t]), PSNR_CAP_DB) for t in idx])
        expected_ssim = np.mean([ssim(truth[0], truth[t]) for t in idx])
        assert row.horizons[key]["psnr"] == pytest.approx(expected_psnr)
        assert row.horizons[key]["ssim"] == pytest.approx(expected_ssim)
    assert row.revisit_self_psnr == PSNR_CAP_DB and row.revisit_self_ssim == pytest.approx(1.0)


def test_repeat_first_frame_on_a_static_camera_is_perfect(renderer):
    scene = make_scenes(TINY, SIZE, renderer)[0]
    still = np.repeat(scene.path.c2w[:1], 25, axis=0)
    truth = renderer.render(scene.world, still, scene.path.intrinsics[0], SIZE)
    gen = repeat_first_frame(truth[0], 25)
    assert horizon_scores(gen, truth, 16, 2) == (PSNR_CAP_DB, pytest.approx(1.0))
    assert drift_in_range(gen, truth, margin=0.0) == 1.0


def test_rollout_needs_whole_chunks(bundle):
    with pytest.raises(ConfigError, match="1 \\+ 24 k"):
        rollout(bundle, np.zeros((32, 64, 3), np.uint8), np.repeat(np.eye(4)[None], 30, 0), np.ones((30, 4)))


def test_untrained_baseline_has_the_exact_architecture_of_the_model():
    """A preset with overrides (like the shipped sana-wm-tiny) must not fall back to the bare preset's shape."""
    model = ModelBundle.random("sana-wm-tiny-test", frame_size=SIZE, hidden_size=96, num_heads=3, seed=1)
    baseline = untrained_like(model)
    assert baseline.config == model.config
    assert baseline.config.hidden_size == 96
    assert baseline.frame_size == model.frame_size
    weights = dict(baseline.transformer.named_parameters())
    assert any(not torch.equal(p, weights[n]) for n, p in model.transformer.named_parameters())
    model.context_frames = 7
    assert untrained_like(model).context_frames == 7  # rolled out the same way (re-anchored)


def forward_drive() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A grey start frame and 73 poses (3 chunks) dollying 0.5 forward: ``(start, c2w, intrinsics)``."""
    c2w = np.repeat(np.eye(4)[None], 73, 0)
    c2w[:, 2, 3] = np.linspace(0, 0.5, 73)
    return np.full((32, 64, 3), 120, np.uint8), c2w, np.tile([60.0, 60.0, 32.0, 16.0], (73, 1))


def test_rollouts_follow_the_reanchor_setting(bundle):
    """Past the declared context the re-anchored rollout differs; before it, and with re-anchoring off, it cannot."""
    anchored = replace(bundle, context_frames=7)
    start, c2w, intr = forward_drive()
    plain = rollout(bundle, start, c2w, intr)
    off = rollout(anchored, start, c2w, intr, reanchor=False)
    on = rollout(anchored, start, c2w, intr)
    assert np.array_equal(plain, off)
    assert np.array_equal(plain[:49], on[:49]) and not np.array_equal(plain[49:], on[49:])


def test_a_rollout_says_which_chunks_reanchored_and_takes_whole_settings(bundle):
    """Context 7 latent frames: chunks 0 ([0, 4)) and 1 ([4, 7)) fit, chunk 2 ([7, 10)) starts a fresh context."""
    anchored = replace(bundle, context_frames=7)
    start, c2w, intr = forward_drive()
    flags: list[bool] = []
    on = rollout(anchored, start, c2w, intr, reanchored=flags)
    assert flags == [False, False, True]
    flags_off: list[bool] = []
    off = rollout(anchored, start, c2w, intr, settings=StreamSettings(reanchor=False), reanchored=flags_off)
    assert flags_off == [False, False, False]
    assert np.array_equal(off, rollout(anchored, start, c2w, intr, reanchor=False))
    assert not np.array_equal(on[49:], off[49:])


def test_the_table_says_how_the_stream_was_anchored(result):
    assert "re-anchor" not in result.to_markdown()  # the random model declares no context
    noted = replace(result, context_frames=13)
    assert "re-anchored every time the model's trained context of 13 latent frames is full" in noted.to_markdown()
    off = replace(noted, config=replace(noted.config, reanchor=False))
    assert "re-anchoring off (the model's trained context is 13 latent frames)" in off.to_markdown()


def test_examples_are_the_frames_the_horizons_score(result):
    frames = TINY.horizon_frames()
    repeat = next(r for r in result.rows if r.name == "repeat first frame")
    assert result.truth_examples.shape == (len(frames), SIZE[1], SIZE[0], 3)
    # the repeat baseline shows the start image at every horizon
    assert all(np.array_equal(repeat.examples[k], repeat.examples[0]) for k in range(len(frames)))
    assert "examples" not in json.dumps(result.as_dict())


def test_the_figure_puts_truth_above_each_row(result, tmp_path):
    from PIL import Image

    from engine.eval.figure import LABEL_HEIGHT, write_horizon_figure

    path = write_horizon_figure(result, tmp_path / "fig.png", rows=("model",))
    image = np.asarray(Image.open(path).convert("RGB"))
    w, h = SIZE
    assert image.shape[0] == 2 * (h + LABEL_HEIGHT) + 4 and image.shape[1] == 2 * w + 4
    truth_tile = image[LABEL_HEIGHT : LABEL_HEIGHT + h, :w]
    model_tile = image[2 * LABEL_HEIGHT + h + 4 : 2 * LABEL_HEIGHT + 2 * h + 4, :w]
    assert np.array_equal(truth_tile, result.truth_examples[0])
    assert np.array_equal(model_tile, result.rows[0].examples[0])
    with pytest.raises(ConfigError, match="figure rows"):
        write_horizon_figure(result, tmp_path / "bad.png", rows=("nope",))


@pytest.fixture(scope="module")
def two_worlds(bundle, renderer):
    config = EvalConfig(scenes=2, horizons_s=(1.0,), window=1, drift_seconds=0.0, revisit_frames=25, example_world=1)
    return evaluate(bundle, config, renderer=renderer)


def test_per_world_scores_are_what_the_row_averages(two_worlds):
    two, config = two_worlds, two_worlds.config
    for row in two.rows:
        assert len(row.per_world) == 2
        assert row.horizons["1s"]["psnr"] == pytest.approx(np.mean([w["1s"]["psnr"] for w in row.per_world]))
        assert row.horizons["1s"]["ssim"] == pytest.approx(np.mean([w["1s"]["ssim"] for w in row.per_world]), nan_ok=True)
    # the two worlds differ, so the per-world numbers are not one value copied
    repeat = two.rows[1]
    assert repeat.per_world[0]["1s"]["psnr"] != repeat.per_world[1]["1s"]["psnr"]
    table = two.to_markdown()
    assert "Per world" in table and "| world seed | model 1s | repeat first frame 1s |" in table
    assert f"| {config.world_seeds()[1]} | {two.rows[0].per_world[1]['1s']['psnr']:.2f} |" in table
    assert json.loads(json.dumps(two.as_dict()))["rows"][0]["per_world"][0]["1s"]["psnr"] > 0


def test_a_single_world_has_no_per_world_table(result):
    assert "Per world" not in result.to_markdown()


def test_the_figure_world_supplies_the_example_frames(two_worlds, renderer):
    second = make_scenes(two_worlds.config, SIZE, renderer)[1]
    frames = two_worlds.config.horizon_frames()
    assert np.array_equal(two_worlds.truth_examples, second.truth[frames])
    repeat = two_worlds.rows[1]
    assert np.array_equal(repeat.examples[0], second.truth[0])  # the repeat row shows world 1's start image
    with pytest.raises(ConfigError, match="figure world"):
        EvalConfig(scenes=2, example_world=2)


def test_the_table_has_sharpness_and_parallax_columns(result):
    table = result.to_markdown()
    head = table.splitlines()[0]
    assert "| sharpness 1s | sharpness 2s | parallax | flow cos / EPE px |" in head
    repeat = result.rows[1]
    cells = next(line for line in table.splitlines() if line.startswith("| repeat first frame |")).split(" | ")
    assert cells[-4:-2] == [f"{repeat.horizons[h]['sharpness']:.2f}" for h in ("1s", "2s")]
    # 64x32 frames are smaller than one flow tile and its search border: no parallax, and the table says so
    assert math.isnan(result.rows[0].parallax["expansion_ratio"]) and result.rows[0].parallax["pairs"] == 0
    assert "not measured" in table
    data = json.loads(json.dumps(result.as_dict()))
    assert data["rows"][0]["horizons"]["1s"]["sharpness"] > 0 and "parallax" in data["rows"][0]
    assert data["rows"][1]["per_world"][0]["2s"]["sharpness"] == pytest.approx(repeat.horizons["2s"]["sharpness"])


def test_per_world_tables_of_sharpness_and_parallax(two_worlds):
    table = two_worlds.to_markdown()
    assert "Per world, sharpness (generated / ground truth) at each horizon:" in table
    assert "Per world, parallax: expansion ratio, flow cosine (frame pairs):" in table
    seed = two_worlds.config.world_seeds()[1]
    model = two_worlds.rows[0]
    sharp_rows = [line for line in table.splitlines() if line.startswith(f"| {seed} |")]
    assert len(sharp_rows) == 3  # PSNR, sharpness, parallax
    assert sharp_rows[1].startswith(f"| {seed} | {model.per_world[1]['1s']['sharpness']:.2f} |")


def test_the_figure_shows_the_cache_render_after_the_truth(result, tmp_path):
    from PIL import Image

    from engine.eval.cache_row import UNCOVERED_RGB
    from engine.eval.figure import LABEL_HEIGHT, write_horizon_figure

    image = np.asarray(Image.open(write_horizon_figure(result, tmp_path / "all.png")).convert("RGB"))
    w, h = SIZE
    tile = h + LABEL_HEIGHT + 4
    assert image.shape[0] == 5 * tile - 4  # truth, cache render, model, repeat, untrained
    cache = next(r for r in result.rows if r.name == "cache render, exact depth")
    order = [cache, *result.rows[:3]]
    for k, row in enumerate(order, start=1):
        top = k * tile + LABEL_HEIGHT
        assert np.array_equal(image[top : top + h, :w], row.examples[0]), row.name
    # the cache render's uncovered pixels are the neutral grey (the sky and what the start view never saw)
    assert (cache.examples == np.asarray(UNCOVERED_RGB, np.uint8)).all(axis=-1).any()


def test_the_drift_breakdown_names_the_statistic_and_side_that_left_the_range():
    truth = np.zeros((4, 8, 8, 3), np.uint8)
    truth[:, :, :4] = 200  # luma mean 100, std 100, no saturation
    washed = np.full((4, 8, 8, 3), 100, np.uint8)  # same mean, no contrast
    gen = np.concatenate([truth[:2], washed[:2]])
    shares = drift_breakdown(gen, truth, margin=10.0)
    assert shares["in_range"] == drift_in_range(gen, truth, 10.0) == 0.5
    assert shares["luma std low"] == 0.5
    assert all(v == 0.0 for k, v in shares.items() if k not in ("in_range", "luma std low"))


def test_each_world_keeps_its_drift_check(result):
    model = result.rows[0]
    assert len(model.per_world_drift) == 1
    assert model.per_world_drift[0]["in_range"] == model.drift_in_range
    assert set(model.per_world_drift[0]) == {"in_range", *(f"{n} {s}" for n in STAT_NAMES for s in ("low", "high"))}
    data = json.loads(json.dumps(result.as_dict()))
    assert data["rows"][0]["per_world_drift"][0]["in_range"] == model.drift_in_range


def test_the_per_world_drift_table_says_which_statistic_fails(result):
    """Two worlds: the table lists each world's share in range and only the statistics that miss."""
    quiet = {f"{n} {s}": 0.0 for n in STAT_NAMES for s in ("low", "high")}
    row = replace(result.rows[0], per_world=[], per_world_parallax=[], per_world_drift=[{**quiet, "in_range": 1.0},
                                                   {**quiet, "in_range": 0.69, "luma std low": 0.29,
                                                    "luma mean high": 0.05}])  # fmt: skip
    baseline = replace(result.rows[1], per_world=[], per_world_parallax=[], per_world_drift=[])  # rows without a drift check are left out
    two = EvalResult(model="m", frame_size=SIZE, config=replace(TINY, scenes=2), world_seeds=[7, 8], rows=[row, baseline])
    table = two.to_markdown()
    assert "Per world, frames in range over 2 s" in table
    assert "| world seed | model |" in table
    assert "| 7 | 100 % |" in table
    assert "| 8 | 69 % (luma mean 5 % high, luma std 29 % low) |" in table
