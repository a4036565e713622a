"""RealEstate10K camera .txt: normalised intrinsics, world-to-camera rows, timestamps, errors."""

from __future__ import annotations

import numpy as np
import pytest

from engine.camera.formats.re10k import read_re10k, write_re10k
from engine.camera.trajectory import Trajectory
from engine.errors import InputFileError, TrajectoryError, TrajectoryFormatError

# World-to-camera of the +X-looking camera at (1, 2, 3): R^T = [[0,0,1],[0,-1,0],[1,0,0]], t = -R^T c = (-3, 2, -1).
W2C_ROWS = "0 0 1 -3 0 -1 0 2 1 0 0 -1"
HAND = f"""https://www.youtube.com/watch?v=abc
1000000 0.5 0.8 0.5 0.5 0 0 1 0 0 0 0 1 0 0 0 0 1 0
1250000 0.5 0.8 0.5 0.5 0 0 {W2C_ROWS}
1500000 0.25 0.4 0.5 0.5 0 0 {W2C_ROWS}
"""


def test_hand_written_with_image_size(tmp_path, look_plus_x):
    (tmp_path / "cam.txt").write_text(HAND)
    traj = read_re10k(tmp_path / "cam.txt", image_size=(640, 360))
    np.testing.assert_array_equal(traj.c2w[0], np.eye(4))
    np.testing.assert_allclose(traj.c2w[1], look_plus_x, atol=1e-15)
    # fx = 0.5 * 640, fy = 0.8 * 360, cx = 0.5 * 640, cy = 0.5 * 360
    np.testing.assert_allclose(traj.intrinsics[:2], [[320.0, 288.0, 320.0, 180.0]] * 2)
    np.testing.assert_allclose(traj.intrinsics[2], [160.0, 144.0, 320.0, 180.0])
    assert traj.image_size == (640, 360)
    assert traj.fps == pytest.approx(4.0)  # 250 000 us steps
    assert traj.extras["url"] == "https://www.youtube.com/watch?v=abc"


def test_without_image_size_keeps_normalised_intrinsics(tmp_path):
    (tmp_path / "cam.txt").write_text(HAND)
    traj = read_re10k(tmp_path / "cam.txt", fps=30.0)
    assert traj.image_size == (1, 1) and traj.fps == 30.0
    np.testing.assert_allclose(traj.intrinsics[0], [0.5, 0.8, 0.5, 0.5])


def test_round_trip(tmp_path, make_trajectory):
    traj = make_trajectory(10, fps=16.0)
    write_re10k(traj, tmp_path / "cam.txt")
    back = read_re10k(tmp_path / "cam.txt", image_size=traj.image_size)
    np.testing.assert_allclose(back.c2w, traj.c2w, atol=1e-12, rtol=0)
    np.testing.assert_allclose(back.intrinsics, traj.intrinsics, atol=1e-9, rtol=0)
    assert back.fps == pytest.approx(16.0)
    normalised = read_re10k(tmp_path / "cam.txt")
    write_re10k(normalised, tmp_path / "again.txt")
    a, b = ((tmp_path / n).read_text().splitlines() for n in ("again.txt", "cam.txt"))
    assert a[0] == b[0] and [ln.split()[0] for ln in a] == [ln.split()[0] for ln in b]
    np.testing.assert_allclose(np.loadtxt(a[1:]), np.loadtxt(b[1:]), atol=1e-14, rtol=0)


def test_export_numbers(tmp_path, look_plus_x):
    traj = Trajectory(c2w=np.stack([np.eye(4), look_plus_x]), intrinsics=[[320.0, 288.0, 320.0, 180.0]],
                      image_size=(640, 360), fps=4.0)
    write_re10k(traj, tmp_path / "cam.txt", url="https://example.com/v")
    lines = (tmp_path / "cam.txt").read_text().splitlines()
    assert lines[0] == "https://example.com/v"
    tok = lines[2].split()
    assert tok[0] == "250000" and tok[1:7] == ["0.5", "0.8", "0.5", "0.5", "0", "0"]
    np.testing.assert_allclose([float(v) for v in tok[7:]], [float(v) for v in W2C_ROWS.split()], atol=1e-15)
    write_re10k(traj, tmp_path / "default.txt")
    assert (tmp_path / "default.txt").read_text().splitlines()[0] == "sana-wm-explorer"


def test_file_without_url_line(tmp_path):
    (tmp_path / "cam.txt").write_text(HAND.split("\n", 1)[1])
    assert read_re10k(tmp_path / "cam.txt").num_frames == 3


def test_errors(tmp_path, look_plus_x):
    with pytest.raises(InputFileError):
        read_re10k(tmp_path / "none.txt")
    (tmp_path / "short.txt").write_text("url\n0 0.5 0.5 0.5 0.5 0 0 1 0 0 0\n")
    with pytest.raises(TrajectoryFormatError, match="short.txt line 2: expected 19 numbers"):
        read_re10k(tmp_path / "short.txt")
    (tmp_path / "word.txt").write_text(HAND + "2000000 a 0.8 0.5 0.5 0 0 " + W2C_ROWS + "\n")
    with pytest.raises(TrajectoryFormatError, match="word.txt line 5: expected 19 numbers"):
        read_re10k(tmp_path / "word.txt")
    (tmp_path / "scaled.txt").write_text("url\n0 0.5 0.5 0.5 0.5 0 0 2 0 0 0 0 2 0 0 0 0 2 0\n")
    with pytest.raises(TrajectoryError, match="scaled.txt"):
        read_re10k(tmp_path / "scaled.txt")
    with pytest.raises(TrajectoryFormatError, match="no intrinsics"):
        write_re10k(Trajectory(c2w=look_plus_x[None]), tmp_path / "out.txt")
