"""The Path view's camera math (no Qt, no GL): projection, orbit camera, picking, handle drags, geometry."""

from __future__ import annotations

import numpy as np
import pytest

from app.path.view_math import (
    GROUND_Y,
    OrbitCamera,
    camera_view,
    drag_along_axis,
    frustum_corners,
    frustum_lines,
    grid_lines,
    look_at,
    perspective,
    pick_handle,
    pick_nearest,
    pick_ring,
    polyline_lines,
    project,
    ring_angle,
    ring_points,
    unproject_ray,
)
from engine.camera.keyframes import rotation_from_euler_deg

SIZE = (400.0, 300.0)


def test_camera_view_of_the_start_camera_projects_like_opencv_intrinsics():
    # through the identity camera, a point projects where a pinhole with the same vertical FOV puts it
    vfov, (w, h) = 60.0, SIZE
    mvp = perspective(vfov, w / h, 0.1, 100.0) @ camera_view(np.eye(4))
    f = (h / 2) / np.tan(np.radians(vfov / 2))
    pts = np.array([[0.0, 0.0, 5.0], [1.0, 0.5, 4.0], [-2.0, -1.0, 10.0]])
    xy, vis = project(pts, mvp, SIZE)
    expected = np.stack([f * pts[:, 0] / pts[:, 2] + w / 2, f * pts[:, 1] / pts[:, 2] + h / 2], axis=1)
    np.testing.assert_allclose(xy, expected, atol=1e-9)
    assert vis.all()
    _, behind = project(np.array([[0.0, 0.0, -1.0]]), mvp, SIZE)
    assert not behind[0]


def test_orbit_camera_keeps_world_up_on_screen():
    cam = OrbitCamera(target=np.zeros(3), distance=5.0, azimuth_deg=30.0, elevation_deg=20.0)
    mvp = cam.projection(SIZE[0] / SIZE[1]) @ cam.view()
    (centre, above), _ = project(np.array([[0.0, 0.0, 0.0], [0.0, -1.0, 0.0]]), mvp, SIZE)
    np.testing.assert_allclose(centre, [200.0, 150.0], atol=1e-9)  # the target is the screen centre
    assert above[1] < centre[1] and abs(above[0] - centre[0]) < 1e-6  # -Y (up) is up on screen
    np.testing.assert_allclose(np.linalg.norm(cam.eye()), 5.0)


def test_orbit_pan_zoom_and_frame_all():
    cam = OrbitCamera.default()
    cam.orbit(10, 1000)
    assert cam.elevation_deg == 89.0
    d = cam.distance
    cam.zoom(1)
    assert cam.distance == pytest.approx(0.85 * d)
    t = cam.target.copy()
    cam.pan(100, 0, 300)
    assert np.linalg.norm(cam.target - t) > 0
    pts = np.array([[0.0, 0.0, 0.0], [4.0, -1.0, 10.0], [-3.0, 1.0, 5.0]])
    cam = OrbitCamera.default()
    cam.frame_all(pts, SIZE[0] / SIZE[1])
    xy, vis = project(pts, cam.projection(SIZE[0] / SIZE[1]) @ cam.view(), SIZE)
    assert vis.all() and (xy >= 0).all() and (xy[:, 0] <= SIZE[0]).all() and (xy[:, 1] <= SIZE[1]).all()


def test_click_selects_the_nearest_keyframe_within_the_radius():
    cam = OrbitCamera(target=np.array([0.0, 0.0, 3.0]), distance=6.0)
    mvp = cam.projection(SIZE[0] / SIZE[1]) @ cam.view()
    keys = np.array([[0.0, 0.0, 0.0], [1.0, 0.0, 3.0], [0.0, -0.5, 6.0]])
    xy, vis = project(keys, mvp, SIZE)
    for i in range(3):
        assert pick_nearest(xy, vis, tuple(xy[i] + [3.0, -4.0])) == i
    far = xy[1] + [40.0, 0.0]
    assert pick_nearest(xy, vis, tuple(far)) is None
    assert pick_nearest(xy, np.array([True, False, True]), tuple(xy[1])) is None  # hidden points are not picked
    assert pick_nearest(np.zeros((0, 2)), np.zeros(0, bool), (0, 0)) is None


def test_handle_pick_and_drag_along_the_axis():
    cam = OrbitCamera(target=np.zeros(3), distance=5.0, azimuth_deg=35.0, elevation_deg=25.0)
    mvp = cam.projection(SIZE[0] / SIZE[1]) @ cam.view()
    origin = np.zeros(3)
    for axis in range(3):
        tip = origin.copy()
        tip[axis] = 1.0
        (a, b), _ = project(np.stack([origin, tip]), mvp, SIZE)
        grab = a + 0.8 * (b - a)
        assert pick_handle(origin, 1.0, mvp, SIZE, tuple(grab)) == axis
        # dragging by the screen length of 0.5 units along the axis moves 0.5 units
        assert drag_along_axis(origin, axis, mvp, SIZE, tuple(grab), tuple(grab + 0.5 * (b - a))) == pytest.approx(0.5)
        # moving across the axis does not move along it
        across = np.array([-(b - a)[1], (b - a)[0]])
        assert drag_along_axis(origin, axis, mvp, SIZE, tuple(grab), tuple(grab + across)) == pytest.approx(0.0)
    assert pick_handle(origin, 1.0, mvp, SIZE, (5.0, 5.0)) is None


def test_geometry_builders():
    minor, major = grid_lines(extent=10, spacing=1.0)
    assert len(minor) % 2 == 0 and np.all(minor[:, 1] == GROUND_Y) and np.all(major[:, 1] == GROUND_Y)
    assert len(major) == 2 * 2 * 5 and len(minor) == 2 * 2 * 16  # -10..10: 5 major and 16 minor lines per direction
    corners = frustum_corners(np.eye(4), 90.0, 2.0, 1.0)
    np.testing.assert_allclose(corners, [[-2, -1, 1], [2, -1, 1], [2, 1, 1], [-2, 1, 1]], atol=1e-12)
    lines = frustum_lines(np.eye(4), 90.0, 2.0, 1.0)
    assert lines.shape == (18, 3) and lines[-1][1] < lines[-2][1]  # the up tick points to -Y
    assert polyline_lines(np.arange(9.0).reshape(3, 3)).shape == (4, 3)
    assert polyline_lines(np.zeros((1, 3))).shape == (0, 3)


def test_look_at_is_a_rigid_transform():
    m = look_at(np.array([1.0, -2.0, -3.0]), np.array([0.0, 0.0, 4.0]))
    np.testing.assert_allclose(m[:3, :3] @ m[:3, :3].T, np.eye(3), atol=1e-12)
    np.testing.assert_allclose(np.linalg.det(m[:3, :3]), 1.0)


def test_unproject_ray_inverts_project():
    cam = OrbitCamera(target=np.array([0.5, 0.0, 2.0]), distance=4.0, azimuth_deg=-20.0, elevation_deg=30.0)
    mvp = cam.projection(SIZE[0] / SIZE[1]) @ cam.view()
    point = np.array([1.0, -0.3, 2.5])
    (xy,), _ = project(point[None], mvp, SIZE)
    origin, direction = unproject_ray(mvp, SIZE, tuple(xy))
    # the point lies on the ray
    t = (point - origin) @ direction
    np.testing.assert_allclose(origin + t * direction, point, atol=1e-6)


@pytest.mark.parametrize("kind", ["yaw", "pitch"])
def test_ring_angle_reads_the_angle_under_the_mouse(kind):
    rot = rotation_from_euler_deg(20.0, -15.0, 0.0)
    centre = np.array([0.5, -0.5, 3.0])
    cam = OrbitCamera(target=centre, distance=3.0, azimuth_deg=50.0, elevation_deg=35.0)
    mvp = cam.projection(SIZE[0] / SIZE[1]) @ cam.view()
    pts = ring_points(centre, rot, kind, 0.5, n=8)  # angles 0, 45, ..., 315 degrees
    xy, _ = project(pts, mvp, SIZE)
    for i in (1, 3, 6):
        assert np.degrees(ring_angle(centre, rot, kind, mvp, SIZE, tuple(xy[i]))) % 360 == pytest.approx(45 * i)
    other = "pitch" if kind == "yaw" else "yaw"
    other_xy, _ = project(ring_points(centre, rot, other, 0.5, n=256), mvp, SIZE)
    # on every ring point clear of the other ring's outline, the click picks this ring
    clear = [p for p in project(ring_points(centre, rot, kind, 0.5, n=32), mvp, SIZE)[0]
             if np.linalg.norm(other_xy - p, axis=1).min() > 12]
    assert len(clear) > 8
    assert all(pick_ring(centre, rot, 0.5, mvp, SIZE, tuple(p)) == kind for p in clear)
    assert pick_ring(centre, rot, 0.5, mvp, SIZE, (1.0, 1.0)) is None


def test_grid_extent_grows_to_cover_the_path_in_steps_of_five():
    from app.path.view_math import grid_extent

    assert grid_extent(np.zeros((3, 3))) == 20
    assert grid_extent(np.array([[0.0, -50.0, 3.0], [31.2, 0.0, -4.0]])) == 35  # y (height) does not count
    assert grid_extent(np.array([[0.0, 0.0, -96.0]])) == 100
    assert grid_extent(np.array([[1e6, 0.0, 0.0]])) == 1000
    minor, major = grid_lines(35)
    assert np.abs(np.concatenate([minor, major])[:, [0, 2]]).max() == 35


def test_grid_fade_keeps_near_lines_exact_and_fades_far_minor_lines_before_major_ones():
    from app.path.view_math import grid_fade

    eye = np.array([0.0, GROUND_Y - 0.5, 0.0])  # half a unit above the ground: a grazing view far out
    pts = np.array([[0.0, GROUND_Y, z] for z in (1.0, 5.0, 12.0, 25.0, 60.0)])
    minor, major = grid_fade(pts, eye, 500.0, 1.0), grid_fade(pts, eye, 500.0, 5.0)
    assert minor[0] == 1.0 and major[0] == 1.0  # near: the exact colour
    assert np.all(np.diff(minor) <= 0) and minor[-1] == 0.0  # fading with distance, gone far away
    assert np.all(major >= minor) and major[2] > minor[2]  # major lines (5 apart) outlast minor ones
    higher = grid_fade(pts, eye - [0.0, 4.0, 0.0], 500.0, 1.0)
    assert higher[3] > minor[3]  # from higher up the same lines stand further apart
