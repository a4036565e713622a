"""Camera moves in words, for hand-built and integrated trajectories with known motion."""

from __future__ import annotations

import math

import numpy as np
import pytest

from engine.camera.actions import action_to_c2w
from engine.camera.poses import pose_from_rt, rot_x, rot_y
from engine.export.camera_moves import CameraMove, camera_move, describe_camera_move, describe_move, yaw_pitch_roll

I = np.eye(4)


def rot_z(angle_rad: float) -> np.ndarray:
    c, s = math.cos(angle_rad), math.sin(angle_rad)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def test_pure_forward_is_a_dolly():
    c2w = action_to_c2w("w-16", version="v1")  # 16 frames x 0.05
    assert describe_camera_move(c2w[0], c2w[-1]) == "dolly forward 0.80"
    back = action_to_c2w("s-4", version="v1")
    assert describe_camera_move(back[0], back[-1]) == "dolly back 0.20"


def test_pure_yaw_right_is_a_yaw():
    c2w = action_to_c2w("l-25", version="v1")  # v1: l turns right 1.2 deg per frame
    move = camera_move(c2w[0], c2w[-1])
    assert move.yaw_deg == pytest.approx(30.0) and move.distance == pytest.approx(0.0, abs=1e-12)
    assert describe_move(move) == "yaw right 30°"
    assert describe_camera_move(I, pose_from_rt(rot_y(math.radians(-45)), np.zeros(3))) == "yaw left 45°"


def test_pitch_up_is_a_tilt():
    c2w = action_to_c2w("i-10", version="v1")  # 10 x 1.2 deg up
    assert describe_camera_move(c2w[0], c2w[-1]) == "tilt up 12°"
    assert describe_camera_move(I, pose_from_rt(rot_x(math.radians(-5)), np.zeros(3))) == "tilt down 5.0°"


def test_strafe_is_a_truck():
    c2w = action_to_c2w("d-10", version="v1")  # v1: d strafes right 0.05 per frame
    assert describe_camera_move(c2w[0], c2w[-1]) == "truck right 0.50"
    c2w = action_to_c2w("j-10", version="v2", smooth=False)  # v2: j strafes left 0.025 per frame
    assert describe_camera_move(c2w[0], c2w[-1]) == "truck left 0.25"


def test_combined_move_lists_translation_then_rotation():
    target = pose_from_rt(rot_y(math.radians(30)) @ rot_x(math.radians(5)), [0.0, -0.1, 1.2])
    assert describe_camera_move(I, target) == "dolly forward 1.20, pedestal up 0.10, yaw right 30°, tilt up 5.0°"


def test_displacement_is_measured_in_the_start_heading_frame():
    start = pose_from_rt(rot_y(math.radians(90)) @ rot_x(math.radians(-40)), [1.0, 0.0, 2.0])  # facing +X, looking down
    end = start.copy()
    end[:3, 3] += [0.5, 0.0, 0.0]  # along the ground, where it is heading
    move = camera_move(start, end)
    assert (move.forward, move.right, move.up) == pytest.approx((0.5, 0.0, 0.0))
    end[:3, 3] += [0.0, 0.0, 0.3]  # world +Z is to the camera's left when it faces +X
    assert describe_camera_move(start, end) == "dolly forward 0.50, truck left 0.30"


def test_roll_and_angle_wrap():
    assert describe_camera_move(I, pose_from_rt(rot_z(math.radians(10)), np.zeros(3))) == "roll right 10°"
    a = pose_from_rt(rot_y(math.radians(170)), np.zeros(3))
    b = pose_from_rt(rot_y(math.radians(-170)), np.zeros(3))
    assert camera_move(a, b).yaw_deg == pytest.approx(20.0)  # across the ±180° seam, the short way


def test_yaw_pitch_roll_inverts_the_composition():
    rng = np.random.default_rng(3)
    for _ in range(20):
        yaw, pitch, roll = rng.uniform(-3.0, 3.0), rng.uniform(-1.5, 1.5), rng.uniform(-3.0, 3.0)
        rot = rot_y(yaw) @ rot_x(pitch) @ rot_z(roll)
        assert yaw_pitch_roll(rot) == pytest.approx((yaw, pitch, roll), abs=1e-9)


def test_small_components_are_dropped_and_nothing_reads_static():
    tiny = CameraMove(forward=0.004, right=0.0, up=0.0, yaw_deg=0.2, pitch_deg=0.0, roll_deg=0.0)
    assert describe_move(tiny) == "static"
    assert describe_move(tiny, min_distance=0.001, min_angle_deg=0.1, units=" m") == "dolly forward 0.004 m, yaw right 0.2°"
