"""COLMAP text model: world-to-camera quaternions, camera models, IMAGE_ID order, layout, errors."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from engine.camera.formats.colmap import read_colmap, write_colmap
from engine.camera.trajectory import Trajectory
from engine.errors import InputFileError, TrajectoryFormatError

R = 0.7071067811865476  # sqrt(1/2)

CAMERAS = """\
# Camera list with one line of data per camera:
#   CAMERA_ID, MODEL, WIDTH, HEIGHT, PARAMS[]
1 PINHOLE 640 480 500 510 320 240
2 SIMPLE_PINHOLE 640 480 400 321 241
"""

# Image 7 is the +X-looking camera at (1, 2, 3): its world-to-camera rotation is the symmetric matrix
# [[0,0,1],[0,-1,0],[1,0,0]] (a half turn about (1,0,1)/sqrt2 -> q = (0, R, 0, R)) and t = -R^T c = (-3, 2, -1).
# Image 3 is the identity camera at the origin. Image 7 comes first in the file; IMAGE_ID order puts 3 first.
IMAGES = f"""\
# Image list with two lines of data per image:
#   IMAGE_ID, QW, QX, QY, QZ, TX, TY, TZ, CAMERA_ID, NAME
#   POINTS2D[] as (X, Y, POINT3D_ID)
7 0 {R} 0 {R} -3 2 -1 2 b.png
10.5 20.5 -1 11.0 12.0 4

3 1 0 0 0 0 0 0 1 a.png

"""


def write_model(folder, cameras=CAMERAS, images=IMAGES):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "cameras.txt").write_text(cameras)
    (folder / "images.txt").write_text(images)
    return folder


def test_hand_written_model(tmp_path, look_plus_x):
    write_model(tmp_path / "m")
    traj = read_colmap(tmp_path / "m", fps=10.0)
    np.testing.assert_allclose(traj.c2w[0], np.eye(4), atol=1e-15)
    np.testing.assert_allclose(traj.c2w[1], look_plus_x, atol=1e-15)
    np.testing.assert_array_equal(traj.intrinsics, [[500, 510, 320, 240], [400, 400, 321, 241]])
    assert traj.image_size == (640, 480) and traj.fps == 10.0
    assert traj.extras["image_names"] == ["a.png", "b.png"]


@pytest.mark.parametrize("target", ["m", "m/cameras.txt", "m/images.txt", "."])
def test_path_may_be_folder_either_file_or_sparse_parent(tmp_path, target):
    write_model(tmp_path / "sparse" / "0" if target == "." else tmp_path / "m")
    traj = read_colmap(tmp_path / target)
    assert traj.num_frames == 2


def test_distorted_models_use_pinhole_part(tmp_path, caplog):
    cams = "1 OPENCV 640 480 500 505 320 240 0.1 0 0 0\n2 SIMPLE_RADIAL 640 480 450 320 240 -0.02\n"
    imgs = "1 1 0 0 0 0 0 0 1 a.png\n\n2 1 0 0 0 0 0 1 2 b.png\n"
    write_model(tmp_path, cams, imgs)
    with caplog.at_level(logging.WARNING):
        traj = read_colmap(tmp_path)
    assert "distortion is ignored" in caplog.text
    np.testing.assert_array_equal(traj.intrinsics, [[500, 505, 320, 240], [450, 450, 320, 240]])


def test_round_trip_and_camera_sharing(tmp_path, make_trajectory):
    traj = make_trajectory(8)
    written = write_colmap(traj, tmp_path / "model")
    assert [p.name for p in written] == ["cameras.txt", "images.txt", "points3D.txt"]
    back = read_colmap(tmp_path / "model", fps=traj.fps)
    np.testing.assert_allclose(back.c2w, traj.c2w, atol=1e-12, rtol=0)
    np.testing.assert_array_equal(back.intrinsics, traj.intrinsics)
    assert back.image_size == traj.image_size
    assert back.extras["image_names"][:2] == ["frame_00000.png", "frame_00001.png"]
    cam_lines = [ln for ln in (tmp_path / "model" / "cameras.txt").read_text().splitlines() if not ln.startswith("#")]
    assert len(cam_lines) == 8  # per-frame intrinsics -> one camera per distinct row

    const = Trajectory(c2w=traj.c2w, intrinsics=traj.intrinsics[0], image_size=traj.image_size)
    write_colmap(const, tmp_path / "const" / "images.txt")
    cam_text = (tmp_path / "const" / "cameras.txt").read_text()
    assert [ln for ln in cam_text.splitlines() if not ln.startswith("#")] == [
        "1 PINHOLE 832 480 " + " ".join(repr(float(v)) for v in traj.intrinsics[0])
    ]
    assert (tmp_path / "const" / "points3D.txt").exists()


def test_export_numbers(tmp_path):
    # Camera-to-world: a quarter turn about world Z, centre (1, 2, 3). World-to-camera rotation is the
    # quarter turn back, q = (cos 45, 0, 0, -sin 45), and t = -R^T c = -(2, -1, 3).
    c2w = np.array([[0.0, -1.0, 0.0, 1.0], [1.0, 0.0, 0.0, 2.0], [0.0, 0.0, 1.0, 3.0], [0.0, 0.0, 0.0, 1.0]])
    traj = Trajectory(c2w=c2w[None], intrinsics=[[500.0, 500.0, 320.0, 240.0]], image_size=(640, 480))
    write_colmap(traj, tmp_path)
    lines = (tmp_path / "images.txt").read_text().split("\n")
    assert lines[0] == "# Image list with two lines of data per image:"
    data = [ln for ln in lines if not ln.startswith("#")]
    tok = data[0].split()
    assert tok[0] == "1" and tok[8] == "1" and tok[9] == "frame_00000.png"
    np.testing.assert_allclose([float(v) for v in tok[1:8]], [R, 0, 0, -R, -2, 1, -3], atol=1e-15)
    assert data[1] == ""  # empty POINTS2D line


def test_export_needs_intrinsics(tmp_path, look_plus_x):
    with pytest.raises(TrajectoryFormatError, match="no intrinsics"):
        write_colmap(Trajectory(c2w=look_plus_x[None]), tmp_path)


def test_read_errors(tmp_path):
    with pytest.raises(InputFileError, match="not found"):
        read_colmap(tmp_path / "nothing")
    (tmp_path / "only").mkdir()
    (tmp_path / "only" / "images.txt").write_text(IMAGES)
    with pytest.raises(InputFileError, match="cameras.txt not found"):
        read_colmap(tmp_path / "only")

    write_model(tmp_path / "a", cameras="# c\n1 PINHOLE 640 480 500 500 320\n")
    with pytest.raises(TrajectoryFormatError, match=r"cameras.txt line 2: expected 'CAMERA_ID MODEL WIDTH HEIGHT"):
        read_colmap(tmp_path / "a")
    write_model(tmp_path / "b", cameras="1 OPENCV_FISHEYE 640 480 1 1 1 1 0 0 0 0\n")
    with pytest.raises(TrajectoryFormatError, match="line 1: expected a pinhole-type camera model"):
        read_colmap(tmp_path / "b")
    write_model(tmp_path / "c", images="# h\n1 1 0 0 x 0 0 0 1 a.png\n\n")
    with pytest.raises(TrajectoryFormatError, match=r"images.txt line 2: expected 'IMAGE_ID QW QX"):
        read_colmap(tmp_path / "c")
    write_model(tmp_path / "q", images="1 0 0 0 0 0 0 0 1 a.png\n\n")
    with pytest.raises(TrajectoryFormatError, match="images.txt line 1: expected a unit quaternion"):
        read_colmap(tmp_path / "q")
    write_model(tmp_path / "d", images="1 1 0 0 0 0 0 0 9 a.png\n\n")
    with pytest.raises(TrajectoryFormatError, match="line 1: expected a CAMERA_ID defined in cameras.txt, found 9"):
        read_colmap(tmp_path / "d")
    write_model(tmp_path / "e", images="1 1 0 0 0 0 0 0 1 a.png\n\n1 1 0 0 0 0 0 0 1 b.png\n")
    with pytest.raises(TrajectoryFormatError, match="line 3: expected unique IMAGE_IDs"):
        read_colmap(tmp_path / "e")
    write_model(tmp_path / "f", cameras="1 PINHOLE 640 480 1 1 1 1\n2 PINHOLE 320 240 1 1 1 1\n",
                images="1 1 0 0 0 0 0 0 1 a.png\n\n2 1 0 0 0 0 0 0 2 b.png\n")
    with pytest.raises(TrajectoryFormatError, match="one image size"):
        read_colmap(tmp_path / "f")
