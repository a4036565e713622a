"""The drift probe (``python -m engine.eval.drift_probe``): its split of the palette's walk by chunk kind, its
variants, and bad flags end in one ``error:`` line naming the flag before anything is loaded."""

from __future__ import annotations

import math

import numpy as np
import pytest

from engine.errors import SanaWMInputError
from engine.eval.drift_probe import miss_summary, palette_walk, parse_variants


def stats(luma: list[float]) -> np.ndarray:
    out = np.zeros((len(luma), 4))
    out[:, 0] = luma
    return out


def test_the_walk_is_split_by_chunk_kind_and_discounts_the_worlds_own_change():
    truth = stats([100, 110, 120, 130, 140])  # the world brightens by 10 a chunk
    generated = stats([100, 108, 118, 121, 129])  # gaps 0, -2, -2, -9, -11
    walk = palette_walk(generated, truth, np.array([False, False, False, True, False]))
    assert walk.at_reanchor == pytest.approx(-7.0)  # chunk 3: -9 - (-2)
    assert walk.elsewhere == pytest.approx((-2 + 0 - 2) / 3)  # chunks 1, 2, 4
    assert walk.final_gap == pytest.approx(-11.0)
    assert walk.jump_at_reanchor == pytest.approx(7.0) and walk.jump_elsewhere == pytest.approx(4 / 3)
    # following the truth exactly is no walk at all, whatever the world does
    still = palette_walk(truth, truth, np.array([False, True, False, True, False]))
    assert (still.at_reanchor, still.elsewhere, still.jump_at_reanchor, still.final_gap) == (0.0, 0.0, 0.0, 0.0)


def test_no_reanchor_gives_nan_there_and_mismatched_shapes_are_refused():
    walk = palette_walk(stats([1, 2, 3]), stats([1, 1, 1]), np.zeros(3, bool))
    assert math.isnan(walk.at_reanchor) and walk.elsewhere == pytest.approx(1.0)
    with pytest.raises(SanaWMInputError, match="palette_walk: expected"):
        palette_walk(stats([1, 2]), stats([1, 2, 3]), np.zeros(3, bool))


def test_the_miss_summary_names_the_statistic_and_side_that_left_the_range():
    rng = np.random.default_rng(0)
    truth = np.clip(rng.normal(128, 20, (8, 16, 16, 3)), 0, 255).astype(np.uint8)
    dark = truth.copy()
    dark[4:] = (truth[4:] * 0.5).astype(np.uint8)  # half the frames lose half their brightness
    summary = miss_summary(dark, truth, margin=10.0)
    assert summary.startswith("luma mean 50 % low / 0 % high,")
    assert miss_summary(truth, truth, margin=0.0).count(" 0 % low / 0 % high") == 4


def test_variants_set_stream_settings_fields():
    variants = parse_variants('{"a": {}, "b": {"timesteps": [1000, 960, 889], "commit_shown": false}}')
    assert variants["a"].timesteps == (1000.0, 960.0, 889.0, 727.0) and variants["a"].commit_shown
    assert variants["b"].timesteps == (1000.0, 960.0, 889.0) and not variants["b"].commit_shown
    assert variants["a"].contrast_floor is None  # the model's own
    floored = parse_variants('{"f": {"contrast_floor": 0.6, "contrast_cap": 1.5}}')["f"]
    assert (floored.contrast_floor, floored.contrast_cap) == (0.6, 1.5)
    assert variants["a"].reanchor_sink == "recent"
    assert parse_variants('{"s": {"reanchor_sink": "start"}}')["s"].reanchor_sink == "start"


@pytest.mark.parametrize("text, message", [
    ("[1]", "--variants: expected a non-empty JSON object"),
    ("{", "--variants: expected a JSON object"),
    ('{"a": {"gamma": 1}}', "--variants a: expected an object with keys among timesteps"),
    ('{"a": {"timesteps": [727, 1000]}}', "--variants a: timesteps: expected a strictly decreasing list"),
    ('{"a": {"timesteps": "fast"}}', "--variants a: timesteps: expected a list of numbers"),
    ('{"a": {"reanchor": 1}}', "--variants a: reanchor: expected true or false, found 1"),
    ('{"a": {"contrast_floor": "high"}}', '--variants a: contrast_floor: expected a number, found "high"'),
    ('{"a": {"contrast_floor": 1.5}}', "--variants a: contrast_floor: expected a share of the start image's contrast in [0, 1], found 1.5"),
    ('{"a": {"contrast_cap": 0.5}}', "--variants a: contrast_cap: expected a finite stretch of at least 1, found 0.5"),
    ('{"a": {"reanchor_sink": "first"}}', "--variants a: reanchor_sink: expected one of recent, start, found 'first'"),
])  # fmt: skip
def test_bad_variants_name_the_variant_and_what_was_expected(text, message):
    with pytest.raises(SanaWMInputError, match=message.replace("[", r"\[")):
        parse_variants(text)


@pytest.mark.parametrize("flags, message", [
    (["--variants", '{"a": {"seed": "x"}}'], "--variants a: seed: expected an integer"),
    (["--worlds", "0"], "--worlds: expected at least 1, found 0"),
    (["--seconds", "-5"], "--seconds: expected a positive number of seconds, found -5"),
    (["--model", "/nonexistent/bundle"], "--model /nonexistent/bundle: expected a model folder"),
])  # fmt: skip
def test_bad_flags_are_one_error_line(flags, message, refused_flags):
    assert message in refused_flags("engine.eval.drift_probe", *flags)
