"""AbsRel, δ<1.25 and RMSE(log) on arrays with known answers; invalid ground truth is skipped."""

from __future__ import annotations

import numpy as np
import pytest

from engine.depth.metrics import DepthScores, depth_scores, median_scale


def test_scores_on_hand_made_arrays():
    gt = np.array([[1.0, 2.0, 4.0, 10.0]])
    pred = np.array([[1.1, 2.0, 5.2, 5.0]])  # ratios 1.1, 1, 1.3, 0.5
    s = depth_scores(pred, gt)
    assert s["pixels"] == 4
    assert s["abs_rel"] == pytest.approx((0.1 + 0.0 + 0.3 + 0.5) / 4)
    assert s["delta1"] == pytest.approx(2 / 4)
    assert s["rmse_log"] == pytest.approx(np.sqrt(np.mean(np.log([1.1, 1.0, 1.3, 0.5]) ** 2)))


def test_sky_and_far_ground_truth_are_skipped_and_predictions_are_clamped():
    gt = np.array([np.inf, 200.0, 10.0, 20.0])
    pred = np.array([3.0, 3.0, np.inf, 20.0])  # a sky prediction on a surface counts as the 80 m cap
    s = depth_scores(pred, gt)
    assert s["pixels"] == 2
    assert s["abs_rel"] == pytest.approx((70.0 / 10.0 + 0.0) / 2)
    assert s["delta1"] == pytest.approx(0.5)


def test_running_sums_equal_one_pass_over_all_pixels():
    rng = np.random.default_rng(0)
    gt = rng.uniform(0.5, 60.0, (3, 8, 8))
    pred = gt * rng.uniform(0.7, 1.4, gt.shape)
    running = DepthScores()
    for p, g in zip(pred, gt):
        running.add(p, g)
    assert running.result() == pytest.approx(depth_scores(pred, gt))


def test_a_perfect_prediction_scores_zero_and_one():
    gt = np.linspace(1.0, 50.0, 100)
    s = depth_scores(gt.copy(), gt)
    assert s["abs_rel"] == 0.0 and s["delta1"] == 1.0


def test_shapes_must_match():
    with pytest.raises(ValueError, match="shape"):
        depth_scores(np.ones((2, 3)), np.ones((3, 2)))


def test_median_scale_undoes_a_global_scale_error():
    gt = np.array([[2.0, 4.0, np.inf], [8.0, 16.0, 30.0]])
    pred = gt / 1.7
    pred[0, 2] = 5.0  # a sky pixel does not count
    assert median_scale(pred, gt) == pytest.approx(1.7)
    assert depth_scores(pred * median_scale(pred, gt), gt)["abs_rel"] == pytest.approx(0.0, abs=1e-12)
