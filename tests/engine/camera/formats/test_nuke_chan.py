"""Nuke .chan: ZXY degrees (R = Ry Rx Rz), Y-up camera axes, vertical FOV column, frame order, errors."""

from __future__ import annotations

import numpy as np
import pytest

from engine.camera.formats.nuke_chan import (
    ROTATION_ORDERS,
    euler_to_matrix,
    matrix_to_euler,
    read_nuke_chan,
    write_nuke_chan,
)
from engine.camera.trajectory import Trajectory
from engine.errors import InputFileError, TrajectoryFormatError

FLIP = np.diag([1.0, -1.0, -1.0])  # Nuke/OpenGL camera axes <-> OpenCV camera axes


def test_zxy_applies_z_then_x_then_y():
    # Hand products: Ry(90) @ Rx(90) and Ry(90) @ Rz(90).
    np.testing.assert_allclose(euler_to_matrix([90, 90, 0]), [[0, 1, 0], [0, 0, -1], [-1, 0, 0]], atol=1e-15)
    np.testing.assert_allclose(euler_to_matrix([0, 90, 90]), [[0, 0, 1], [1, 0, 0], [0, 1, 0]], atol=1e-15)
    # The other order differs: XYZ means Rz @ Ry @ Rx, so (90, 90, 0) gives Ry(90) @ Rx(90) as well,
    # but (90, 0, 90) gives Rz(90) @ Rx(90) instead of ZXY's Rx(90) @ Rz(90).
    np.testing.assert_allclose(euler_to_matrix([90, 0, 90], "XYZ"), [[0, 0, 1], [1, 0, 0], [0, 1, 0]], atol=1e-15)
    np.testing.assert_allclose(euler_to_matrix([90, 0, 90], "ZXY"), [[0, -1, 0], [0, 0, -1], [1, 0, 0]], atol=1e-15)


@pytest.mark.parametrize("order", ROTATION_ORDERS)
def test_euler_decomposition_round_trips(order):
    rng = np.random.default_rng(1)
    for k in range(300):
        angles = rng.uniform(-179, 179, 3)
        if k % 10 == 0:  # gimbal lock: middle axis at +-90
            angles["XYZ".index(order[1])] = 90.0 * rng.choice([-1, 1])
        rot = euler_to_matrix(angles, order)
        np.testing.assert_allclose(euler_to_matrix(matrix_to_euler(rot, order), order), rot, atol=1e-12)


def test_hand_written_file(tmp_path, look_plus_x):
    # Frame 1: the +X-looking camera at (1, 2, 3): Nuke cameras look down -Z, so a -90 deg turn about Y.
    # Frame 2: rx = 90, ry = 90 (ZXY) -> R_gl = [[0,1,0],[0,0,-1],[-1,0,0]] at the origin. 90 deg vertical FOV.
    (tmp_path / "cam.chan").write_text("2\t0 0 0\t90 90 0\t90\n1\t1 2 3\t0 -90 0\t90\n")
    traj = read_nuke_chan(tmp_path / "cam.chan", image_size=(640, 480), fps=25)
    np.testing.assert_allclose(traj.c2w[0], look_plus_x, atol=1e-15)
    expected = np.eye(4)
    expected[:3, :3] = np.array([[0, 1, 0], [0, 0, -1], [-1, 0, 0]]) @ FLIP
    np.testing.assert_allclose(traj.c2w[1], expected, atol=1e-15)
    # f = (480 / 2) / tan(45 deg) = 240, square pixels, centred.
    np.testing.assert_allclose(traj.intrinsics, [[240.0, 240.0, 320.0, 240.0]] * 2)
    assert traj.fps == 25.0


def test_fov_column_needs_image_size(tmp_path):
    (tmp_path / "cam.chan").write_text("1 0 0 0 0 0 0 50\n")
    with pytest.raises(TrajectoryFormatError, match="vertical FOV column but no image size"):
        read_nuke_chan(tmp_path / "cam.chan")
    traj = read_nuke_chan(tmp_path / "cam.chan", ignore_fov=True)
    assert traj.intrinsics is None and traj.image_size is None
    (tmp_path / "nofov.chan").write_text("1 0 0 0 0 0 0\n")
    assert read_nuke_chan(tmp_path / "nofov.chan").intrinsics is None


def test_export_numbers(tmp_path, look_plus_x):
    traj = Trajectory(c2w=look_plus_x[None], intrinsics=[[240.0, 240.0, 320.0, 240.0]], image_size=(640, 480))
    write_nuke_chan(traj, tmp_path / "out.chan")
    tok = (tmp_path / "out.chan").read_text().split()
    assert tok[0] == "1"
    np.testing.assert_allclose([float(v) for v in tok[1:]], [1, 2, 3, 0, -90, 0, 90], atol=1e-12)
    write_nuke_chan(traj, tmp_path / "nofov.chan", start_frame=101, fov=False)
    assert (tmp_path / "nofov.chan").read_text().split()[0] == "101"
    assert len((tmp_path / "nofov.chan").read_text().split()) == 7


@pytest.mark.parametrize("order", ["ZXY", "XYZ"])
def test_round_trip(tmp_path, make_trajectory, order):
    traj = make_trajectory(12, square=True)
    write_nuke_chan(traj, tmp_path / "cam.chan", rotation_order=order)
    back = read_nuke_chan(tmp_path / "cam.chan", image_size=traj.image_size, rotation_order=order)
    np.testing.assert_allclose(back.c2w, traj.c2w, atol=1e-12, rtol=0)
    np.testing.assert_allclose(back.intrinsics, traj.intrinsics, atol=1e-9, rtol=0)


def test_errors(tmp_path):
    with pytest.raises(InputFileError):
        read_nuke_chan(tmp_path / "none.chan")
    (tmp_path / "a.chan").write_text("1 0 0 0 0 0 0\n2 0 0 0 0 0\n")
    with pytest.raises(TrajectoryFormatError, match=r"a.chan line 2: expected 'frame tx ty tz rx ry rz \[vfov\]'"):
        read_nuke_chan(tmp_path / "a.chan")
    (tmp_path / "b.chan").write_text("1 0 0 0 0 0 0\n\n2 0 0 zero 0 0 0\n")
    with pytest.raises(TrajectoryFormatError, match="b.chan line 3: expected"):
        read_nuke_chan(tmp_path / "b.chan")
    (tmp_path / "c.chan").write_text("1 0 0 0 0 0 0\n1 0 0 0 0 0 0\n")
    with pytest.raises(TrajectoryFormatError, match="c.chan line 2: expected unique frame numbers"):
        read_nuke_chan(tmp_path / "c.chan")
    (tmp_path / "d.chan").write_text("1 0 0 0 0 0 0 40\n2 0 0 0 0 0 0\n")
    with pytest.raises(TrajectoryFormatError, match="d.chan line 2: expected 8 columns"):
        read_nuke_chan(tmp_path / "d.chan")
    with pytest.raises(TrajectoryFormatError, match="rotation_order"):
        read_nuke_chan(tmp_path / "d.chan", rotation_order="XXY")
