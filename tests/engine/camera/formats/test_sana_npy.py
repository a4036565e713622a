"""SANA-WM .npy camera input: poses + intrinsics sidecar, official intrinsics forms, dtypes, errors."""

from __future__ import annotations

import numpy as np
import pytest

from engine.camera.formats.sana_npy import read_sana_npy, sidecar_path, write_sana_npy
from engine.errors import InputFileError, IntrinsicsError, TrajectoryFormatError


def test_round_trip_float64_is_exact(tmp_path, make_trajectory):
    traj = make_trajectory(10)
    written = write_sana_npy(traj, tmp_path / "cam.npy", dtype="float64")
    assert written == [tmp_path / "cam.npy", tmp_path / "cam_intrinsics.npy"]
    back = read_sana_npy(tmp_path / "cam.npy", image_size=traj.image_size, fps=traj.fps)
    np.testing.assert_allclose(back.c2w, traj.c2w, atol=1e-12, rtol=0)
    np.testing.assert_array_equal(back.intrinsics, traj.intrinsics)
    assert back.image_size == traj.image_size


def test_default_dtype_is_float32_like_the_official(tmp_path, make_trajectory):
    traj = make_trajectory(6)
    write_sana_npy(traj, tmp_path / "cam.npy")
    raw = np.load(tmp_path / "cam.npy")
    assert raw.dtype == np.float32 and raw.shape == (6, 4, 4)
    assert np.load(tmp_path / "cam_intrinsics.npy").shape == (6, 4)
    back = read_sana_npy(tmp_path / "cam.npy")
    np.testing.assert_allclose(back.c2w, traj.c2w, atol=1e-5, rtol=0)
    assert back.image_size is None and back.fps == 16.0


def test_no_intrinsics_writes_no_sidecar(tmp_path, make_trajectory):
    write_sana_npy(make_trajectory(3, intrinsics=False), tmp_path / "cam.npy")
    assert not sidecar_path(tmp_path / "cam.npy").exists()
    assert read_sana_npy(tmp_path / "cam.npy").intrinsics is None


def test_hand_written_poses_and_k_matrix(tmp_path, look_plus_x):
    poses = np.stack([np.eye(4), look_plus_x]).astype(np.float32)
    np.save(tmp_path / "cam.npy", poses)
    np.save(tmp_path / "K.npy", np.array([[500.0, 0.0, 320.0], [0.0, 510.0, 240.0], [0.0, 0.0, 1.0]]))
    traj = read_sana_npy(tmp_path / "cam.npy", intrinsics_path=tmp_path / "K.npy", image_size="640x480")
    np.testing.assert_array_equal(traj.c2w[1], look_plus_x)
    np.testing.assert_array_equal(traj.intrinsics, [[500.0, 510.0, 320.0, 240.0]] * 2)
    assert traj.image_size == (640, 480)


def test_sidecar_shorter_than_poses_is_interpolated(tmp_path):
    np.save(tmp_path / "cam.npy", np.repeat(np.eye(4)[None], 5, axis=0))
    np.save(tmp_path / "cam_intrinsics.npy", np.array([[400.0, 400.0, 320.0, 240.0], [600.0, 600.0, 320.0, 240.0]]))
    traj = read_sana_npy(tmp_path / "cam.npy")
    np.testing.assert_allclose(traj.intrinsics[:, 0], [400.0, 450.0, 500.0, 550.0, 600.0])


def test_errors(tmp_path):
    with pytest.raises(InputFileError, match="not found"):
        read_sana_npy(tmp_path / "none.npy")
    np.save(tmp_path / "flat.npy", np.zeros((5, 16)))
    with pytest.raises(TrajectoryFormatError, match=r"expected \(F, 4, 4\).*found shape \(5, 16\)"):
        read_sana_npy(tmp_path / "flat.npy")
    np.save(tmp_path / "cam.npy", np.eye(4)[None])
    with pytest.raises(InputFileError, match="missing.npy: intrinsics not found"):
        read_sana_npy(tmp_path / "cam.npy", intrinsics_path=tmp_path / "missing.npy")
    np.save(tmp_path / "cam_intrinsics.npy", np.ones((2, 5)))
    with pytest.raises(IntrinsicsError, match="cam_intrinsics.npy"):
        read_sana_npy(tmp_path / "cam.npy")


def test_bad_dtype_option(tmp_path, make_trajectory):
    with pytest.raises(TrajectoryFormatError, match="dtype"):
        write_sana_npy(make_trajectory(2), tmp_path / "cam.npy", dtype="float16")
