"""Keyframe math of Path mode (no Qt): interpolation, rotations, FOV, sampling, Trajectory and file round trips."""

from __future__ import annotations

import math

import numpy as np
import pytest

from app.path.files import dialog_filters, export_path, format_from_filter, import_path
from engine.camera.keyframes import (
    CameraPath,
    Keyframe,
    default_path,
    euler_deg_from_rotation,
    rotation_from_euler_deg,
    slerp,
    snap_length,
)
from engine.camera.formats import FORMATS, read_trajectory, write_trajectory
from engine.camera.intrinsics import focal_to_fov_deg
from engine.camera.poses import rotation_to_quaternion
from engine.camera.trajectory import Trajectory
from engine.errors import IntrinsicsError, TrajectoryError


def curvy_path() -> CameraPath:
    return CameraPath(
        [
            Keyframe.from_euler(0, (0.0, 0.0, 0.0), vfov_deg=60.0),
            Keyframe.from_euler(20, (1.0, -0.3, 2.0), yaw=35.0, pitch=-10.0, vfov_deg=50.0),
            Keyframe.from_euler(30, (1.5, -0.2, 4.0), yaw=80.0, pitch=5.0, roll=10.0, vfov_deg=50.0),
            Keyframe.from_euler(60, (4.0, 0.0, 5.0), yaw=140.0, vfov_deg=70.0),
        ],
        frame_size=(160, 96),
    )


def test_interpolation_passes_exactly_through_keyframes():
    path = curvy_path()
    c2w, intr = path.sample()
    for k in path.keyframes:
        np.testing.assert_allclose(c2w[k.frame], k.c2w, atol=1e-12)
        assert focal_to_fov_deg(intr[k.frame, 1], 96) == pytest.approx(k.vfov_deg)


def test_positions_are_smooth_between_keyframes():
    c2w, _ = curvy_path().sample()
    pos = c2w[:, :3, 3]
    step = np.linalg.norm(np.diff(pos, axis=0), axis=1)
    # no jumps: every per-frame step is small compared with the keyframe spacing
    assert step.max() < 0.4
    # inside each segment the curve is a smooth cubic: tiny second differences (keyframes may change the speed)
    for a, b in [(0, 20), (20, 30), (30, 60)]:
        assert np.linalg.norm(np.diff(pos[a : b + 1], 2, axis=0), axis=1).max() < 0.05


def test_catmull_rom_is_centripetal_and_handles_repeated_positions():
    path = CameraPath([Keyframe(0), Keyframe(10), Keyframe(20, (1.0, 0.0, 0.0))])
    c2w, _ = path.sample(21)
    # the segment between two identical keyframes stays put instead of swinging out
    np.testing.assert_allclose(c2w[:11, :3, 3], 0.0, atol=1e-12)
    assert np.all(np.isfinite(c2w))


def test_rotations_stay_orthonormal_and_unit():
    c2w, _ = curvy_path().sample(97)
    rot = c2w[:, :3, :3]
    np.testing.assert_allclose(rot.transpose(0, 2, 1) @ rot, np.broadcast_to(np.eye(3), rot.shape), atol=1e-10)
    np.testing.assert_allclose(np.linalg.det(rot), 1.0, atol=1e-10)


def test_slerp_takes_the_short_way():
    q0 = rotation_to_quaternion(rotation_from_euler_deg(170.0, 0.0, 0.0))
    q1 = rotation_to_quaternion(rotation_from_euler_deg(-170.0, 0.0, 0.0))
    mid = slerp(q0, q1, 0.5)
    yaw, _, _ = euler_deg_from_rotation(rotation_from_euler_deg(0, 0, 0) @ _rot(mid))
    assert abs(abs(yaw) - 180.0) < 1e-6  # through 180, not through 0
    # and in a path: the camera turns 20 degrees over the segment, never 340
    path = CameraPath([Keyframe.from_euler(0, (0, 0, 0), yaw=170.0), Keyframe.from_euler(10, (0, 0, 0), yaw=-170.0)])
    c2w, _ = path.sample(11)
    fwd = c2w[:, :3, 2]
    angles = np.degrees(np.arccos(np.clip(np.sum(fwd[1:] * fwd[:-1], axis=1), -1, 1)))
    assert angles.sum() == pytest.approx(20.0, abs=1e-6)


def _rot(q: np.ndarray) -> np.ndarray:
    from engine.camera.poses import quaternion_to_rotation

    return quaternion_to_rotation(q)


def test_no_flip_with_sign_flipped_quaternions():
    # the same rotation stored as q and -q must not make the camera spin a full turn
    k0 = Keyframe.from_euler(0, (0, 0, 0), yaw=10.0)
    k1 = Keyframe(10, (0, 0, 1), tuple(-np.array(Keyframe.from_euler(0, (0, 0, 0), yaw=20.0).quaternion)))
    k2 = Keyframe.from_euler(20, (0, 0, 2), yaw=30.0)
    c2w, _ = CameraPath([k0, k1, k2]).sample(21)
    yaws = [euler_deg_from_rotation(r)[0] for r in c2w[:, :3, :3]]
    assert np.all(np.diff(yaws) > 0) and yaws[0] == pytest.approx(10) and yaws[-1] == pytest.approx(30)


def test_euler_round_trip():
    for ypr in [(0, 0, 0), (30, -20, 10), (-120, 45, -80), (179, 5, 0)]:
        assert euler_deg_from_rotation(rotation_from_euler_deg(*ypr)) == pytest.approx(ypr, abs=1e-9)
    # +yaw turns right (+X), +pitch looks up (-Y): forward axis checks
    assert rotation_from_euler_deg(90, 0, 0)[:, 2] == pytest.approx([1, 0, 0], abs=1e-12)
    assert rotation_from_euler_deg(0, 90, 0)[:, 2] == pytest.approx([0, -1, 0], abs=1e-12)


def test_fov_is_interpolated_linearly_and_held_at_the_ends():
    path = CameraPath([Keyframe(4, vfov_deg=40.0), Keyframe(14, (0, 0, 1), vfov_deg=60.0)], length=25)
    _, intr = path.sample(25, (100, 80))
    vfov = focal_to_fov_deg(intr[:, 1], 80)
    assert vfov[0] == pytest.approx(40.0) and vfov[4] == pytest.approx(40.0)
    assert vfov[9] == pytest.approx(50.0)
    assert vfov[24] == pytest.approx(60.0)
    np.testing.assert_allclose(intr[:, 0], intr[:, 1])  # square pixels
    np.testing.assert_allclose(intr[:, 2:], np.broadcast_to([50.0, 40.0], (25, 2)))  # centred principal point


def test_sample_shapes_and_streaming_length():
    path = default_path(frame_size=(96, 64))
    assert path.num_frames == 49
    c2w, intr = path.sample()
    assert c2w.shape == (49, 4, 4) and intr.shape == (49, 4)
    assert path.sample(7)[0].shape == (7, 4, 4)
    np.testing.assert_allclose(c2w[0], np.eye(4))  # the start image's camera
    assert [snap_length(n) for n in (1, 2, 25, 26, 49, 50)] == [25, 25, 25, 49, 49, 73]
    path.insert(Keyframe(60, (0, 0, 3)))
    assert path.num_frames == 73  # grows to hold the last keyframe


@pytest.mark.parametrize(
    "build, words",
    [
        (lambda: CameraPath([]), ["at least 1 keyframe", "found 0"]),
        (lambda: CameraPath([Keyframe(5), Keyframe(5, (1, 0, 0))]), ["unique", "frame(s) 5"]),
        (lambda: Keyframe(3, vfov_deg=0.0), ["frame 3", "vertical FOV", "found 0"]),
        (lambda: Keyframe(3, vfov_deg=float("nan")), ["frame 3", "vertical FOV"]),
        (lambda: Keyframe(-1), ["frame", ">= 0", "-1"]),
        (lambda: Keyframe(2, (0.0, float("inf"), 0.0)), ["frame 2", "position"]),
        (lambda: Keyframe(2, quaternion=(0, 0, 0, 0)), ["frame 2", "quaternion"]),
        (lambda: Keyframe.from_c2w(7, np.diag([2.0, 1, 1, 1])), ["frame 7", "orthonormal"]),
    ],
)
def test_bad_input_errors_name_the_input(build, words):
    with pytest.raises((TrajectoryError, IntrinsicsError)) as info:
        build()
    for w in words:
        assert w in str(info.value)


def test_path_edits_keep_frames_sorted_and_unique():
    path = default_path()
    path.insert(Keyframe(24, (0, 0, 1)))
    assert path.frames == [0, 24, 48]
    with pytest.raises(TrajectoryError, match="frame 24 already has a keyframe"):
        path.insert(Keyframe(24))
    with pytest.raises(TrajectoryError, match="to frame 48, which already has one"):
        path.replace(24, Keyframe(48))
    path.replace(24, Keyframe(60, (0, 0, 5)))
    assert path.frames == [0, 48, 60]
    path.remove(0)
    path.remove(48)
    with pytest.raises(TrajectoryError, match="only keyframe"):
        path.remove(60)


def test_trajectory_round_trip_keeps_keyframes():
    path = curvy_path()
    traj = path.to_trajectory()
    assert traj.image_size == (160, 96) and traj.num_frames == 73
    back = CameraPath.from_trajectory(traj, every=10)
    assert back.frames == [0, 10, 20, 30, 40, 50, 60, 70, 72]
    assert back.length == 73 and back.frame_size == (160, 96)
    for f in back.frames:
        np.testing.assert_allclose(back.get(f).c2w, traj.c2w[f], atol=1e-9)
        assert back.get(f).vfov_deg == pytest.approx(focal_to_fov_deg(traj.intrinsics[f, 1], 96))
    # picking every frame reproduces the dense path exactly
    dense = CameraPath.from_trajectory(traj, every=1)
    np.testing.assert_allclose(dense.sample()[0], traj.c2w, atol=1e-9)


def test_from_trajectory_without_intrinsics_uses_the_default_fov():
    traj = Trajectory(c2w=np.repeat(np.eye(4)[None], 5, axis=0))
    path = CameraPath.from_trajectory(traj, every=2, default_vfov_deg=45.0)
    assert path.frames == [0, 2, 4] and all(k.vfov_deg == 45.0 for k in path.keyframes)
    with pytest.raises(TrajectoryError, match="every >= 1"):
        CameraPath.from_trajectory(traj, every=0)


@pytest.mark.parametrize("name, filename", [("npz", "path.npz"), ("csv", "path.csv"), ("nerfstudio", "path.json"),
                                            ("re10k", "path.txt"), ("nuke-chan", "path.chan"),
                                            ("sana-npy", "path.npy"), ("colmap", "model")])
def test_export_then_import_through_engine_formats(tmp_path, name, filename):
    path = curvy_path()
    written = export_path(path, tmp_path / filename, format=name)
    assert written and all(p.exists() for p in written)
    traj = read_trajectory(tmp_path / filename, format=name, **(
        {"image_size": (160, 96)} if "image_size" in FORMATS[name].read_options else {}))
    ref = path.to_trajectory()
    # world axes may differ per format only by the documented conventions; poses come back in OpenCV c2w
    np.testing.assert_allclose(traj.c2w, ref.c2w, atol=1e-5)
    back = import_path(tmp_path / filename, format=name, every=6, frame_size=(160, 96))
    for k in path.keyframes:
        if k.frame in back.frames:
            np.testing.assert_allclose(back.get(k.frame).position, k.position, atol=1e-5)
            if name != "sana-npy" or (tmp_path / "path_intrinsics.npy").exists():
                assert back.get(k.frame).vfov_deg == pytest.approx(k.vfov_deg, abs=1e-3)


def test_round_trip_via_write_trajectory_npz(tmp_path):
    path = curvy_path()
    write_trajectory(path.to_trajectory(), tmp_path / "a.npz")
    back = import_path(tmp_path / "a.npz", every=1)
    np.testing.assert_allclose(back.sample()[0], path.sample()[0], atol=1e-12)
    np.testing.assert_allclose(back.sample()[1], path.sample()[1], atol=1e-9)


def test_dialog_filters_name_every_format():
    filters = dialog_filters()
    assert [format_from_filter(f) for f in filters[:-1]] == list(FORMATS)
    assert format_from_filter(filters[-1]) is None
    assert math.isclose(len(filters), len(FORMATS) + 1)
