"""Similarity alignment and the benchmark's camera errors, on exact synthetic paths (no SfM)."""

from __future__ import annotations

import numpy as np

from engine.camera.poses import pose_from_rt, rot_x, rot_y
from engine.score.align import Similarity, fit_similarity, project_to_rotation
from engine.score.metrics import path_errors, rotation_angles_deg
from engine.score.scorer import MIN_SCORED_FRAMES, scored_indices


def _path(n: int = 20, translate: bool = True) -> np.ndarray:
    poses = [pose_from_rt(rot_y(0.05 * i) @ rot_x(0.02 * i), np.array([0.3 * i, 0.01 * i**1.5, 0.1 * i]) * translate)
             for i in range(n)]
    return np.stack(poses)


def _random_similarity(rng: np.random.Generator) -> Similarity:
    return Similarity(project_to_rotation(rng.normal(size=(3, 3))), float(rng.uniform(0.2, 5.0)), rng.normal(size=3))


def test_the_fitted_similarity_undoes_an_unknown_frame_and_scale_exactly() -> None:
    requested = _path()
    hidden = _random_similarity(np.random.default_rng(1))
    estimated = hidden.apply(requested)  # what SfM returns: the same path in its own frame and scale
    fit = fit_similarity(estimated, requested)
    np.testing.assert_allclose(fit.apply(estimated), requested, atol=1e-9)
    errors = path_errors(requested, fit.apply(estimated))
    assert errors.rot_deg.max() < 1e-5 and errors.trans.max() < 1e-9 and errors.cammc.max() < 1e-7


def test_a_constant_rotation_offset_is_the_rotation_error_after_alignment_of_a_turning_path() -> None:
    requested = _path(translate=False)
    estimated = requested.copy()
    estimated[:, :3, :3] = estimated[:, :3, :3] @ rot_x(np.radians(2.0))  # each camera pitched 2 degrees
    errors = path_errors(requested, estimated)
    np.testing.assert_allclose(errors.rot_deg, 2.0, atol=1e-9)
    assert errors.trans is None and errors.cammc is None and errors.path_size == 0.0


def test_translation_error_is_relative_to_the_path_size() -> None:
    requested = _path()
    estimated = requested.copy()
    estimated[:, :3, 3] += np.array([0.5, 0.0, 0.0])
    errors = path_errors(requested, estimated)
    size = np.linalg.norm(requested[:, :3, 3] - requested[0, :3, 3], axis=1).max()
    np.testing.assert_allclose(errors.trans, 0.5 / size)
    scaled = requested.copy()
    scaled[:, :3, 3] *= 100.0  # the same path in centimetres
    estimated_cm = estimated.copy()
    estimated_cm[:, :3, 3] *= 100.0
    np.testing.assert_allclose(path_errors(scaled, estimated_cm).trans, errors.trans)


def test_a_camera_that_stays_put_aligns_with_zero_scale_and_keeps_its_errors() -> None:
    requested = _path()
    still = np.repeat(np.eye(4)[None], len(requested), axis=0)
    fit = fit_similarity(still, requested)
    assert fit.scale == 0.0
    errors = path_errors(requested, fit.apply(still))
    assert errors.rot_deg.mean() > 5 and errors.trans.mean() > 0.2


def test_rotation_angles_are_symmetric_and_in_degrees() -> None:
    a = np.stack([rot_y(np.radians(30.0)), np.eye(3)])
    b = np.stack([np.eye(3), rot_x(np.radians(-45.0))])
    np.testing.assert_allclose(rotation_angles_deg(a, b), [30.0, 45.0])
    np.testing.assert_allclose(rotation_angles_deg(b, a), [30.0, 45.0])


def test_scored_frames_include_the_last_and_shrink_the_stride_for_short_videos() -> None:
    assert scored_indices(97, 4) == list(range(0, 97, 4))
    assert scored_indices(98, 4)[-2:] == [96, 97]
    short = scored_indices(15, 4)
    assert short[0] == 0 and short[-1] == 14 and len(short) >= MIN_SCORED_FRAMES


def test_revisits_compare_the_frames_where_the_path_returns_to_a_pose() -> None:
    from engine.score.scorer import revisit_scores

    out = [pose_from_rt(np.eye(3), np.array([0.0, 0.0, 0.1 * i])) for i in range(10)]
    c2w = np.stack(out + out[::-1])  # forward 10 frames, then back through the same poses
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, size=(20, 16, 16, 3), dtype=np.uint8)
    frames[10:] = frames[:10][::-1]  # a perfect memory: the way back shows what the way out showed
    pairs, p, s = revisit_scores(frames, c2w)
    assert pairs > 0 and p == 100.0 and s == 1.0
    frames[10:] = rng.integers(0, 256, size=(10, 16, 16, 3), dtype=np.uint8)  # no memory at all
    pairs_again, p_noise, s_noise = revisit_scores(frames, c2w)
    assert pairs_again == pairs and p_noise < 15 and s_noise < 0.2
    assert revisit_scores(frames[:10], c2w[:10]) == (0, None, None)
