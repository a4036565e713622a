"""Native .npz format: round trip, a hand-written archive, and the convention / shape checks."""

from __future__ import annotations

import numpy as np
import pytest

from engine.camera.formats.npz import read_npz, write_npz
from engine.camera.trajectory import Trajectory
from engine.errors import InputFileError, TrajectoryError, TrajectoryFormatError


def test_round_trip_is_exact(tmp_path, make_trajectory):
    traj = make_trajectory(9)
    traj.action, traj.action_version = "w-3, left-2", "v2"
    assert write_npz(traj, tmp_path / "t.npz") == [tmp_path / "t.npz"]
    back = read_npz(tmp_path / "t.npz")
    np.testing.assert_array_equal(back.c2w, traj.c2w)
    np.testing.assert_array_equal(back.intrinsics, traj.intrinsics)
    assert back.image_size == traj.image_size and back.fps == traj.fps
    assert (back.action, back.action_version) == ("w-3, left-2", "v2")


def test_round_trip_without_intrinsics_and_odd_suffix(tmp_path, make_trajectory):
    traj = make_trajectory(4, intrinsics=False)
    path = tmp_path / "poses.bin"  # numpy must not append ".npz" to the final name
    write_npz(traj, path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["poses.bin"]
    back = read_npz(path)
    assert back.intrinsics is None and back.image_size is None and back.action is None
    np.testing.assert_array_equal(back.c2w, traj.c2w)


def test_hand_written_archive(tmp_path, look_plus_x):
    path = tmp_path / "hand.npz"
    np.savez(
        path,
        c2w=look_plus_x[None],
        intrinsics=np.array([[500.0, 500.0, 320.0, 240.0]]),
        image_size=np.array([640, 480]),
        fps=np.float64(24.0),
        convention=np.array("opencv_c2w"),
        format_version=np.int64(1),
    )
    traj = read_npz(path)
    np.testing.assert_array_equal(traj.c2w[0], look_plus_x)
    np.testing.assert_array_equal(traj.intrinsics, [[500.0, 500.0, 320.0, 240.0]])
    assert traj.image_size == (640, 480) and traj.fps == 24.0


def test_written_arrays_are_as_documented(tmp_path, look_plus_x):
    write_npz(Trajectory(c2w=look_plus_x[None], fps=10.0), tmp_path / "t.npz")
    with np.load(tmp_path / "t.npz", allow_pickle=False) as data:
        assert sorted(data.files) == ["c2w", "convention", "format_version", "fps"]
        assert str(data["convention"]) == "opencv_c2w" and int(data["format_version"]) == 1
        assert data["c2w"].dtype == np.float64
        np.testing.assert_array_equal(data["c2w"][0], look_plus_x)


@pytest.mark.parametrize("convention", ["opengl_c2w", "opencv_w2c"])
def test_unknown_convention_is_rejected(tmp_path, convention):
    path = tmp_path / "t.npz"
    np.savez(path, c2w=np.eye(4)[None], convention=np.array(convention))
    with pytest.raises(TrajectoryFormatError, match=f"expected convention 'opencv_c2w', found '{convention}'"):
        read_npz(path)


def test_missing_convention_is_rejected(tmp_path):
    np.savez(tmp_path / "t.npz", c2w=np.eye(4)[None])
    with pytest.raises(TrajectoryFormatError, match="no convention tag"):
        read_npz(tmp_path / "t.npz")


def test_wrong_shape_and_bad_rotation(tmp_path):
    np.savez(tmp_path / "a.npz", c2w=np.eye(4)[None, :3], convention=np.array("opencv_c2w"))
    with pytest.raises(TrajectoryFormatError, match=r"'c2w' of shape \(F, 4, 4\), found \(1, 3, 4\)"):
        read_npz(tmp_path / "a.npz")
    scaled = np.eye(4)[None] * 2.0
    scaled[0, 3, 3] = 1.0
    np.savez(tmp_path / "b.npz", c2w=scaled, convention=np.array("opencv_c2w"))
    with pytest.raises(TrajectoryError, match="not orthonormal"):
        read_npz(tmp_path / "b.npz")


def test_missing_and_corrupt_files(tmp_path):
    with pytest.raises(InputFileError, match="not found"):
        read_npz(tmp_path / "nope.npz")
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    with pytest.raises(TrajectoryFormatError, match="bad.npz: expected a numpy .npz archive"):
        read_npz(tmp_path / "bad.npz")
