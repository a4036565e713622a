"""The renderer's depth: exact camera-space z of the visible surface (a ground plane, a plate), inf for sky."""

from __future__ import annotations

import numpy as np
import pytest

from engine.camera.poses import pose_from_rt, rot_x, rot_y
from engine.synth.scene import Lighting, Material, SceneObject, Sky, World, flat_terrain

SIZE = (96, 56)
K = np.array([60.0, 60.0, 48.0, 28.0])
GREY = (0.5, 0.5, 0.5)


def _world(objects=()) -> World:
    return World(
        seed=0, theme="calibration",
        terrain=flat_terrain(Material("flat", (0.4, 0.4, 0.4)), elevation=0.0),
        sky=Sky(zenith=GREY, horizon=GREY, cloud_cover=0.0, cloud_color=GREY),
        lighting=Lighting(sun_direction=(0.3, -0.9, 0.3), sun_color=GREY, sky_ambient=(0.3,) * 3,
                          ground_ambient=(0.3,) * 3, fog_density=0.0),
        objects=tuple(objects),
    )  # fmt: skip


def _ground_depth(c2w: np.ndarray, k: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Analytic camera z of the plane world y = 0 through every pixel centre (inf where the ray misses it)."""
    w, h = size
    v, u = np.mgrid[0:h, 0:w] + 0.5
    ray = np.stack([(u - k[2]) / k[0], (v - k[3]) / k[1], np.ones_like(u)], -1)  # camera ray with z = 1
    dy = ray @ c2w[:3, :3].T  # world direction per unit of camera z
    z = -c2w[1, 3] / dy[..., 1]
    return np.where(z > 0, z, np.inf)


@pytest.mark.parametrize("rotation, height", [(rot_x(-0.3), 1.5), (rot_y(0.8) @ rot_x(-0.45), 0.9)])
def test_ground_plane_depth_matches_the_analytic_plane(renderer, rotation, height):
    c2w = pose_from_rt(rotation, np.array([1.0, -height, 2.0]))
    frames, depth = renderer.render(_world(), c2w, K, SIZE, depth=True)
    assert frames.shape == (1, 56, 96, 3) and depth.shape == (1, 56, 96) and depth.dtype == np.float32
    expected = _ground_depth(c2w, K, SIZE)
    near = np.isfinite(expected) & (expected < 60.0)  # the flat test ground is 200 m wide
    assert near.sum() > 1000
    assert np.abs(depth[0][near] / expected[near] - 1).max() < 1e-4
    # rays that point above the horizon see sky: no surface, inf
    assert np.isinf(depth[0][~np.isfinite(expected)]).all()


def test_a_plate_at_a_known_distance_has_that_depth_and_hides_what_is_behind(renderer):
    c2w = pose_from_rt(np.eye(3), np.array([0.0, -1.5, 0.0]))
    plate = SceneObject("plate", np.array([0.0, -1.5, 7.25]), np.eye(3), (2.0, 2.0, 0.0),
                        (Material("flat", (1.0, 0.0, 0.0), 1.0),), 0.1)  # fmt: skip
    _, depth = renderer.render(_world([plate]), c2w, K, SIZE, depth=True)
    # the plate spans |x|, |y| <= 1 m at z = 7.25: pixels within 60 * 1 / 7.25 = 8.3 px of the centre
    centre = depth[0, 28 - 7 : 28 + 7, 48 - 7 : 48 + 7]
    assert np.abs(centre - 7.25).max() < 1e-4
    assert np.isinf(depth[0, 0, 0])


def test_depth_is_sampled_at_output_pixel_centres_with_supersampling_and_msaa():
    from engine.synth.renderer import Renderer

    c2w = pose_from_rt(rot_x(-0.3), np.array([0.0, -1.5, 0.0]))
    expected = _ground_depth(c2w, K, SIZE)
    near = np.isfinite(expected) & (expected < 60.0)
    with Renderer(msaa=4, supersample=2) as r:
        _, depth = r.render(_world(), c2w, K, SIZE, depth=True)
    assert np.abs(depth[0][near] / expected[near] - 1).max() < 1e-4


def test_colour_is_the_same_with_or_without_depth(renderer):
    c2w = pose_from_rt(rot_x(-0.2), np.array([0.0, -1.2, 0.0]))
    plain = renderer.render(_world(), c2w, K, SIZE)
    frames, _ = renderer.render(_world(), c2w, K, SIZE, depth=True)
    assert np.array_equal(plain, frames)
