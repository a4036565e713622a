"""CSV camera path: header by name, camera centre + OpenCV c2w quaternion, optional vfov, errors."""

from __future__ import annotations

import numpy as np
import pytest

from engine.camera.formats.csv_format import read_csv, write_csv
from engine.camera.trajectory import Trajectory
from engine.errors import InputFileError, TrajectoryFormatError

R = 0.7071067811865476  # sqrt(1/2)


def test_hand_written_file_any_column_order(tmp_path, look_plus_x):
    # The +X-looking camera: c2w rotation [[0,0,1],[0,-1,0],[1,0,0]] is a half turn about (1,0,1)/sqrt2,
    # q = (0, R, 0, R). Rows are out of order and there is an extra column.
    (tmp_path / "cam.csv").write_text(
        "qw,qx,qy,qz,x,y,z,vfov_deg,frame,note\n"
        f"0,{R},0,{R},1,2,3,90,1,second\n"
        "1,0,0,0,0,0,0,90,0,first\n"
    )
    traj = read_csv(tmp_path / "cam.csv", image_size=(640, 480), fps=12)
    np.testing.assert_allclose(traj.c2w[0], np.eye(4), atol=1e-15)
    np.testing.assert_allclose(traj.c2w[1], look_plus_x, atol=1e-15)
    np.testing.assert_allclose(traj.intrinsics, [[240.0, 240.0, 320.0, 240.0]] * 2)
    assert traj.fps == 12.0


def test_vfov_optional_and_needs_image_size(tmp_path):
    (tmp_path / "poses.csv").write_text("frame,x,y,z,qw,qx,qy,qz\n0,0,0,0,1,0,0,0\n")
    traj = read_csv(tmp_path / "poses.csv")
    assert traj.intrinsics is None and traj.image_size is None
    (tmp_path / "fov.csv").write_text("frame,x,y,z,qw,qx,qy,qz,vfov_deg\n0,0,0,0,1,0,0,0,60\n")
    with pytest.raises(TrajectoryFormatError, match="vfov_deg column but no image size"):
        read_csv(tmp_path / "fov.csv")
    assert read_csv(tmp_path / "fov.csv", ignore_fov=True).intrinsics is None


def test_export_numbers(tmp_path, look_plus_x):
    traj = Trajectory(c2w=look_plus_x[None], intrinsics=[[240.0, 240.0, 320.0, 240.0]], image_size=(640, 480))
    write_csv(traj, tmp_path / "out.csv")
    lines = (tmp_path / "out.csv").read_text().splitlines()
    assert lines[0] == "frame,x,y,z,qw,qx,qy,qz,vfov_deg"
    cells = lines[1].split(",")
    assert cells[0] == "0"
    np.testing.assert_allclose([float(c) for c in cells[1:]], [1, 2, 3, 0, R, 0, R, 90], atol=1e-12)
    write_csv(Trajectory(c2w=look_plus_x[None]), tmp_path / "poses.csv", start_frame=5)
    assert (tmp_path / "poses.csv").read_text().splitlines()[0] == "frame,x,y,z,qw,qx,qy,qz"
    assert (tmp_path / "poses.csv").read_text().splitlines()[1].startswith("5,1.0,2.0,3.0,")


def test_round_trip(tmp_path, make_trajectory):
    traj = make_trajectory(12, square=True)
    write_csv(traj, tmp_path / "cam.csv")
    back = read_csv(tmp_path / "cam.csv", image_size=traj.image_size, fps=traj.fps)
    np.testing.assert_allclose(back.c2w, traj.c2w, atol=1e-12, rtol=0)
    np.testing.assert_allclose(back.intrinsics, traj.intrinsics, atol=1e-9, rtol=0)


def test_errors(tmp_path):
    with pytest.raises(InputFileError):
        read_csv(tmp_path / "none.csv")
    (tmp_path / "nohead.csv").write_text("0,0,0,0,1,0,0,0\n")
    with pytest.raises(TrajectoryFormatError, match="nohead.csv line 1: expected a header"):
        read_csv(tmp_path / "nohead.csv")
    (tmp_path / "bad.csv").write_text("frame,x,y,z,qw,qx,qy,qz\n0,0,0,0,1,0,0,0\n1,0,0,zero,1,0,0,0\n")
    with pytest.raises(TrajectoryFormatError, match="bad.csv line 3: expected 8 comma-separated values"):
        read_csv(tmp_path / "bad.csv")
    (tmp_path / "short.csv").write_text("frame,x,y,z,qw,qx,qy,qz\n\n0,0,0,0,1,0,0\n")
    with pytest.raises(TrajectoryFormatError, match="short.csv line 3"):
        read_csv(tmp_path / "short.csv")
    (tmp_path / "frac.csv").write_text("frame,x,y,z,qw,qx,qy,qz\n0.5,0,0,0,1,0,0,0\n")
    with pytest.raises(TrajectoryFormatError, match="frac.csv line 2: expected an integer frame number"):
        read_csv(tmp_path / "frac.csv")
    (tmp_path / "zero.csv").write_text("frame,x,y,z,qw,qx,qy,qz\n0,0,0,0,0,0,0,0\n")
    with pytest.raises(TrajectoryFormatError, match="zero.csv line 2: expected a unit quaternion"):
        read_csv(tmp_path / "zero.csv")
