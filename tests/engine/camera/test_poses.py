"""Poses: validation errors, SE(3) inverse, relative poses, axis conventions, quaternions."""

from __future__ import annotations

import numpy as np
import pytest

from engine.camera import poses as P
from engine.errors import TrajectoryError


def _random_poses(n, seed=0):
    rng = np.random.default_rng(seed)
    rot = P.quaternion_to_rotation(rng.normal(size=(n, 4)))
    return P.pose_from_rt(rot, rng.normal(size=(n, 3)))


def test_validate_accepts_3x4_and_returns_float64():
    out = P.validate_c2w(_random_poses(3)[:, :3].astype(np.float32))
    assert out.shape == (3, 4, 4) and out.dtype == np.float64


@pytest.mark.parametrize(
    "make, fragment",
    [
        (lambda a: a[0], r"shape \(F, 4, 4\)"),
        (lambda a: a[:, :, :3], r"found \(4, 4, 3\)"),
        (lambda a: a[:0], "0 frames"),
        (lambda a: np.where(np.arange(4)[:, None, None] == 2, np.nan, a), "frame 2 has non-finite"),
        (lambda a: a * np.array([1, 1, 1, 1.0])[None, None] * np.where(np.arange(4)[:, None, None] == 1, 2.0, 1.0), "frame 1"),
        (lambda a: a @ np.diag([1.0, 1, -1, 1]), "det"),
    ],
)
def test_validation_errors_name_the_problem(make, fragment):
    with pytest.raises(TrajectoryError, match=fragment):
        P.validate_c2w(make(_random_poses(4)))


def test_non_numeric_rejected():
    with pytest.raises(TrajectoryError, match="numeric"):
        P.validate_c2w(np.array([["a"] * 4] * 4, dtype=object)[None])


def test_se3_inverse_and_relative_to_first():
    poses = _random_poses(5)
    assert np.allclose(P.se3_inverse(poses) @ poses, np.eye(4), atol=1e-12)
    rel = P.relative_to_first(poses)
    assert np.array_equal(rel[0], np.eye(4))
    assert np.allclose(poses[0] @ rel, poses, atol=1e-12)


def test_axis_flip_is_self_inverse_and_flips_forward():
    poses = _random_poses(3)
    gl = P.convert_camera_axes(poses)
    assert np.allclose(P.convert_camera_axes(gl), poses)
    assert np.allclose(gl[:, :3, 2], -poses[:, :3, 2])  # OpenGL looks down -Z
    assert np.allclose(gl[:, :3, 3], poses[:, :3, 3])


def test_quaternion_round_trip_including_180_degree_rotations():
    rots = np.concatenate([_random_poses(50)[:, :3, :3], np.stack([np.diag([1.0, -1, -1]), np.diag([-1.0, 1, -1]), np.diag([-1.0, -1, 1])])])
    q = P.rotation_to_quaternion(rots)
    assert np.allclose(np.linalg.norm(q, axis=1), 1.0)
    assert (q[:, 0] >= 0).all()
    assert np.allclose(P.quaternion_to_rotation(q), rots, atol=1e-12)


def test_quaternion_hand_value_90_degrees_about_y():
    rot = P.rot_y(np.pi / 2)
    assert np.allclose(P.rotation_to_quaternion(rot), [np.sqrt(0.5), 0, np.sqrt(0.5), 0])
    with pytest.raises(TrajectoryError, match="zero-length"):
        P.quaternion_to_rotation(np.zeros(4))
