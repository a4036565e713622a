"""The Trajectory record: validation, derived quantities."""

from __future__ import annotations

import numpy as np
import pytest

from engine.camera.actions import action_to_c2w
from engine.camera.trajectory import Trajectory
from engine.errors import IntrinsicsError, TrajectoryError


def test_single_intrinsics_row_is_broadcast_and_fov_reported():
    traj = Trajectory(action_to_c2w("w-16"), intrinsics=[640.0, 640.0, 640.0, 352.0], image_size=(1280, 704))
    assert traj.intrinsics.shape == (17, 4)
    (h_lo, h_hi), _ = traj.fov_range_deg()
    assert h_lo == pytest.approx(90.0) and h_hi == pytest.approx(90.0)
    assert traj.duration_s == pytest.approx(1.0)
    assert traj.path_length == pytest.approx(16 * 0.025 / (1 + 1e-6))


def test_mismatched_intrinsics_and_bad_values_rejected():
    with pytest.raises(IntrinsicsError, match="one row per pose"):
        Trajectory(np.eye(4)[None].repeat(3, 0), intrinsics=np.ones((2, 4)))
    with pytest.raises(TrajectoryError, match="fps"):
        Trajectory(np.eye(4)[None], fps=0)
    with pytest.raises(TrajectoryError, match="image size"):
        Trajectory(np.eye(4)[None], image_size=(0, 10))
