"""The renderer: deterministic pixels, and poses that match the images (a projected 3D point lands on its marker)."""

from __future__ import annotations

import numpy as np
import pytest

from engine.camera.intrinsics import from_fov
from engine.camera.poses import pose_from_rt, rot_x, rot_y
from engine.errors import IntrinsicsError
from engine.synth.renderer import Renderer, project_points, projection_matrix, visible_runs
from engine.synth.world import Lighting, Material, SceneObject, Sky, World, flat_terrain, make_world

SIZE = (96, 56)


def _rot_z(a: float) -> np.ndarray:
    c, s = np.cos(a), np.sin(a)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def _calibration_world(objects: tuple[SceneObject, ...]) -> World:
    """Grey ground and sky (R == G everywhere), no fog: only the red marker has R != G."""
    grey = (0.5, 0.5, 0.5)
    return World(
        seed=0,
        theme="calibration",
        terrain=flat_terrain(Material("flat", (0.4, 0.4, 0.4)), elevation=0.0),
        sky=Sky(zenith=grey, horizon=grey, cloud_cover=0.0, cloud_color=grey),
        lighting=Lighting(sun_direction=(0.3, -0.9, 0.3), sun_color=grey, sky_ambient=(0.3,) * 3,
                          ground_ambient=(0.3,) * 3, fog_density=0.0),
        objects=objects,
    )


def _marker_centroid(image: np.ndarray) -> tuple[np.ndarray, float]:
    """Coverage-weighted centroid of the red marker in continuous pixel coordinates (pixel i's centre is i + 0.5)."""
    img = image.astype(np.float64)
    weight = np.clip(img[..., 0] - img[..., 1], 0.0, None)
    weight[weight < 3.0] = 0.0  # 8-bit rounding noise
    total = weight.sum()
    if total == 0:
        return np.full(2, np.nan), 0.0
    v, u = np.mgrid[0 : image.shape[0], 0 : image.shape[1]] + 0.5
    return np.array([(weight * u).sum() / total, (weight * v).sum() / total]), total


def _plate_facing(c2w: np.ndarray, point: np.ndarray, size: float) -> SceneObject:
    """A square red unlit plate centred at ``point``, parallel to the image plane of ``c2w``: its image is an
    exact (axis-aligned) square, so its coverage centroid is the projection of its centre."""
    return SceneObject("plate", point, c2w[:3, :3], (size, size, 0.0), (Material("flat", (1.0, 0.0, 0.0), 1.0),), 0.1)


CASES = [
    # (camera rotation, camera position, point in camera coords, intrinsics [fx, fy, cx, cy])
    (np.eye(3), (0.0, -1.5, 0.0), (0.0, 0.0, 6.0), (60.0, 60.0, 48.0, 28.0)),
    (rot_y(0.7) @ rot_x(-0.2), (2.0, -1.7, -3.0), (1.1, -0.4, 5.0), (60.0, 60.0, 48.0, 28.0)),
    (rot_y(-2.1) @ rot_x(0.3), (-4.0, -1.2, 5.0), (-1.3, 0.5, 7.0), (55.0, 55.0, 40.3, 31.7)),  # off-centre principal point
    (rot_y(1.2) @ rot_x(0.1) @ _rot_z(0.25), (1.0, -2.0, 1.0), (0.9, 0.7, 6.5), (45.0, 70.0, 51.2, 24.9)),  # fx != fy, roll
    (rot_y(3.0), (0.0, -0.8, 0.0), (-2.5, -1.0, 9.0), (130.0, 130.0, 48.0, 28.0)),  # narrow FOV
]


@pytest.mark.parametrize("rotation, position, point_cam, intr", CASES)
def test_projected_point_lands_on_the_drawn_marker(renderer, rotation, position, point_cam, intr):
    c2w = pose_from_rt(rotation, np.array(position))
    point = (c2w @ np.r_[point_cam, 1.0])[:3]
    world = _calibration_world((_plate_facing(c2w, point, 0.08 * point_cam[2]),))
    image = renderer.render(world, c2w, np.array(intr), SIZE)[0]
    centroid, total = _marker_centroid(image)
    assert total > 0, "marker not drawn"
    expected = project_points(point[None], c2w, np.array(intr))[0]
    # MSAA coverage makes the centroid sub-pixel accurate; a half-pixel convention error would be 0.5 px
    assert np.abs(centroid - expected).max() < 0.12, (centroid, expected)


def test_marker_position_matches_without_antialiasing_too():
    rotation, position, point_cam, intr = CASES[2]
    c2w = pose_from_rt(rotation, np.array(position))
    point = (c2w @ np.r_[point_cam, 1.0])[:3]
    world = _calibration_world((_plate_facing(c2w, point, 0.1 * point_cam[2]),))
    with Renderer(msaa=0, supersample=2) as r:
        image = r.render(world, c2w, np.array(intr), SIZE)[0]
    centroid, _ = _marker_centroid(image)
    expected = project_points(point[None], c2w, np.array(intr))[0]
    assert np.abs(centroid - expected).max() < 0.2, (centroid, expected)


def test_a_marker_behind_the_camera_is_not_drawn(renderer):
    c2w = pose_from_rt(rot_y(0.4), np.array([0.0, -1.5, 0.0]))
    point = (c2w @ np.array([0.0, 0.0, -5.0, 1.0]))[:3]
    world = _calibration_world((_plate_facing(c2w, point, 0.5),))
    image = renderer.render(world, c2w, np.array(CASES[0][3]), SIZE)[0]
    assert _marker_centroid(image)[1] == 0


def _clip_poses(world: World, n: int = 3) -> np.ndarray:
    y = float(world.surface_y(0.0, 0.0)) - 1.6
    return np.stack([pose_from_rt(rot_y(0.5 + 0.3 * k) @ rot_x(-0.1), np.array([0.1 * k, y, 0.2 * k])) for k in range(n)])


def test_same_seed_gives_identical_pixels_and_another_seed_differs(renderer):
    intr = from_fov(*SIZE, fov_x_deg=70.0)
    world = make_world(5, "ruins")
    poses = _clip_poses(world)
    first = renderer.render(world, poses, intr, SIZE)
    with Renderer() as other:  # a fresh context and a freshly built world
        again = other.render(make_world(5, "ruins"), poses, intr, SIZE)
    assert first.dtype == np.uint8 and first.shape == (3, SIZE[1], SIZE[0], 3)
    assert np.array_equal(first, again)
    different = renderer.render(make_world(6, "ruins"), poses, intr, SIZE)
    assert np.abs(first.astype(int) - different.astype(int)).mean() > 2.0
    assert first.std() > 10.0  # not a blank image


def test_frames_follow_the_poses(renderer):
    world = make_world(5, "ruins")
    poses = _clip_poses(world, 2)
    frames = renderer.render(world, poses, from_fov(*SIZE, fov_x_deg=70.0), SIZE)
    assert not np.array_equal(frames[0], frames[1])


def test_render_rejects_mismatched_intrinsics(renderer):
    world = _calibration_world(())
    with pytest.raises(IntrinsicsError, match="one per pose"):
        renderer.render(world, np.stack([np.eye(4)] * 3), np.zeros((2, 4)) + 50.0, SIZE)


def test_projection_matrix_maps_pixels_to_ndc_exactly():
    intr = np.array([50.0, 70.0, 40.5, 20.25])
    m = projection_matrix(intr, (80, 44), near=0.1, far=100.0)
    cam = np.array([0.3, -0.2, 2.0, 1.0])
    clip = m @ cam
    ndc = clip[:3] / clip[3]
    u, v = 50.0 * 0.3 / 2.0 + 40.5, 70.0 * -0.2 / 2.0 + 20.25
    assert np.allclose(ndc[:2], [2 * u / 80 - 1, 2 * v / 44 - 1])
    near = m @ np.array([0.0, 0.0, 0.1, 1.0])
    far = m @ np.array([0.0, 0.0, 100.0, 1.0])
    assert np.isclose(near[2] / near[3], -1.0) and np.isclose(far[2] / far[3], 1.0)


def test_frustum_culling_keeps_visible_groups_and_drops_the_rest():
    intr = np.array([50.0, 50.0, 40.0, 22.0])
    vp = projection_matrix(intr, (80, 44))  # camera at the origin looking down +Z
    groups = np.array([[0, 2], [2, 3], [5, 1], [6, 4]])
    spheres = np.array([[0.0, 0.0, 10.0, 1.0], [0.0, 0.0, -10.0, 1.0], [30.0, 0.0, 10.0, 1.0], [0.0, 0.0, 0.5, 1.0]])
    assert visible_runs(groups, spheres, vp) == [(0, 2), (6, 4)]
    spheres[1, 2] = 5.0  # now in view: adjacent runs merge
    assert visible_runs(groups, spheres, vp) == [(0, 5), (6, 4)]
