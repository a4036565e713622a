"""nerfstudio camera_path.json: OpenGL axes, vertical FOV, fps/seconds, keyframes fallback, errors."""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest

from engine.camera.formats.nerfstudio import read_nerfstudio, write_nerfstudio
from engine.camera.trajectory import Trajectory
from engine.errors import InputFileError, TrajectoryFormatError

# The +X-looking camera of the conftest in OpenGL camera axes: camera +Y (up) is world +Y and the camera
# looks down its -Z, so its +Z column is world -X. Row-major, as nerfstudio flattens it.
LOOK_PLUS_X_GL = [0.0, 0.0, -1.0, 1.0, 0.0, 1.0, 0.0, 2.0, 1.0, 0.0, 0.0, 3.0, 0.0, 0.0, 0.0, 1.0]


def test_round_trip(tmp_path, make_trajectory):
    traj = make_trajectory(11, square=True, fps=12.0)
    write_nerfstudio(traj, tmp_path / "camera_path.json")
    back = read_nerfstudio(tmp_path / "camera_path.json")
    np.testing.assert_allclose(back.c2w, traj.c2w, atol=1e-12, rtol=0)
    np.testing.assert_allclose(back.intrinsics, traj.intrinsics, atol=1e-9, rtol=0)
    assert back.image_size == traj.image_size and back.fps == pytest.approx(12.0)


def test_hand_written_file(tmp_path, look_plus_x):
    (tmp_path / "camera_path.json").write_text(
        json.dumps(
            {
                "render_width": 640,
                "render_height": 480,
                "seconds": 2.0,
                "camera_type": "perspective",
                "camera_path": [{"camera_to_world": LOOK_PLUS_X_GL, "fov": 90.0}] * 4,  # no "aspect"
            }
        )
    )
    traj = read_nerfstudio(tmp_path / "camera_path.json")
    np.testing.assert_allclose(traj.c2w[0], look_plus_x, atol=1e-15)
    # fov 90 over 480 rows: f = 240 / tan(45 deg) = 240, square pixels, centred.
    np.testing.assert_allclose(traj.intrinsics[0], [240.0, 240.0, 320.0, 240.0])
    assert traj.fps == 2.0  # no "fps": render.py's len(camera_path) / seconds


def test_keyframes_only_file(tmp_path, look_plus_x, caplog):
    (tmp_path / "kf.json").write_text(
        json.dumps({"render_width": 100, "render_height": 50, "fps": 30,
                    "keyframes": [{"matrix": LOOK_PLUS_X_GL, "fov": 60.0, "aspect": 2.0}]})
    )
    with caplog.at_level(logging.WARNING):
        traj = read_nerfstudio(tmp_path / "kf.json")
    assert "keyframes" in caplog.text
    np.testing.assert_allclose(traj.c2w[0], look_plus_x, atol=1e-15)
    assert traj.fps == 30.0


def test_export_numbers(tmp_path, look_plus_x):
    traj = Trajectory(c2w=look_plus_x[None], intrinsics=[[240.0, 240.0, 320.0, 240.0]], image_size=(640, 480), fps=8.0)
    write_nerfstudio(traj, tmp_path / "out.json")
    data = json.loads((tmp_path / "out.json").read_text())
    assert (data["render_width"], data["render_height"], data["camera_type"]) == (640, 480, "perspective")
    assert data["fps"] == 8.0 and data["seconds"] == pytest.approx(1 / 8.0)
    frame = data["camera_path"][0]
    np.testing.assert_allclose(frame["camera_to_world"], LOOK_PLUS_X_GL, atol=1e-15)
    assert frame["fov"] == pytest.approx(90.0) and frame["aspect"] == pytest.approx(640 / 480)
    np.testing.assert_allclose(data["keyframes"][0]["matrix"], LOOK_PLUS_X_GL, atol=1e-15)


def test_export_warns_about_non_square_pixels(tmp_path, look_plus_x, caplog):
    traj = Trajectory(c2w=look_plus_x[None], intrinsics=[[250.0, 240.0, 300.0, 240.0]], image_size=(640, 480))
    with caplog.at_level(logging.WARNING):
        write_nerfstudio(traj, tmp_path / "out.json")
    assert "fx != fy" in caplog.text and "principal point" in caplog.text
    back = read_nerfstudio(tmp_path / "out.json")
    np.testing.assert_allclose(back.intrinsics[0], [240.0, 240.0, 320.0, 240.0])


def test_export_needs_intrinsics(tmp_path, look_plus_x):
    with pytest.raises(TrajectoryFormatError, match="no intrinsics"):
        write_nerfstudio(Trajectory(c2w=look_plus_x[None]), tmp_path / "out.json")


def test_read_errors(tmp_path):
    with pytest.raises(InputFileError):
        read_nerfstudio(tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text('{"render_width": 10,\n "render_height": }')
    with pytest.raises(TrajectoryFormatError, match="bad.json: expected JSON, found invalid syntax at line 2"):
        read_nerfstudio(tmp_path / "bad.json")
    base = {"render_width": 10, "render_height": 10}
    (tmp_path / "fish.json").write_text(json.dumps({**base, "camera_type": "fisheye", "camera_path": []}))
    with pytest.raises(TrajectoryFormatError, match="expected camera_type 'perspective', found 'fisheye'"):
        read_nerfstudio(tmp_path / "fish.json")
    (tmp_path / "short.json").write_text(
        json.dumps({**base, "camera_path": [{"camera_to_world": [1.0] * 12, "fov": 50.0}]})
    )
    with pytest.raises(TrajectoryFormatError, match=r"camera_path\[0\]: expected 'camera_to_world' as 16 numbers"):
        read_nerfstudio(tmp_path / "short.json")
    (tmp_path / "empty.json").write_text(json.dumps(base))
    with pytest.raises(TrajectoryFormatError, match="'camera_path' or 'keyframes'"):
        read_nerfstudio(tmp_path / "empty.json")
