"""Worlds: a pure function of the seed, a terrain whose queries agree with its mesh, a flat-ish play area."""

from __future__ import annotations

import numpy as np
import pytest

from engine.errors import ConfigError
from engine.synth.meshes import terrain_mesh
from engine.synth.world import OBJECT_KINDS, THEMES, Material, SceneObject, make_world


def _fingerprint(world):
    return (
        world.theme,
        world.terrain.elevation.tobytes(),
        world.obstacles().tobytes(),
        tuple(o.kind for o in world.objects),
        world.texture_variants,
        world.lighting,
        world.sky,
    )


def test_same_seed_same_world_and_other_seeds_differ():
    assert _fingerprint(make_world(17)) == _fingerprint(make_world(17))
    assert _fingerprint(make_world(17)) != _fingerprint(make_world(18))


@pytest.mark.parametrize("theme", THEMES)
def test_every_theme_builds_a_populated_world_with_a_flat_play_area(theme):
    world = make_world(3, theme)
    assert world.theme == theme
    assert len(world.objects) >= 15
    assert {o.kind for o in world.objects} <= set(OBJECT_KINDS)
    r = np.linspace(-world.play_radius, world.play_radius, 41)
    x, z = np.meshgrid(r, r)
    inside = np.hypot(x, z) <= world.play_radius
    elev = world.terrain.elevation_at(x[inside], z[inside])
    assert np.ptp(elev) < 1.5
    # and hills or mountains further out
    assert world.terrain.elevation.max() > elev.max() + 3.0


def test_elevation_queries_agree_with_the_mesh_triangles():
    world = make_world(4, "meadow")
    mesh = terrain_mesh(world.terrain)
    pos = mesh.vertices[:, :3].astype(np.float64)
    tris = pos[mesh.indices]  # (T, 3, 3)
    rng = np.random.default_rng(0)
    pts = rng.uniform(-60, 60, size=(25, 2))
    a, b, c = tris[:, 0, [0, 2]], tris[:, 1, [0, 2]], tris[:, 2, [0, 2]]
    for px, pz in pts:
        p = np.array([px, pz])
        v0, v1, v2 = b - a, c - a, p - a
        den = v0[:, 0] * v1[:, 1] - v1[:, 0] * v0[:, 1]
        l1 = (v2[:, 0] * v1[:, 1] - v1[:, 0] * v2[:, 1]) / den
        l2 = (v0[:, 0] * v2[:, 1] - v2[:, 0] * v0[:, 1]) / den
        inside = (l1 >= -1e-9) & (l2 >= -1e-9) & (l1 + l2 <= 1 + 1e-9)
        t = int(np.argmax(inside))
        y = tris[t, 0, 1] + l1[t] * (tris[t, 1, 1] - tris[t, 0, 1]) + l2[t] * (tris[t, 2, 1] - tris[t, 0, 1])
        assert np.isclose(world.surface_y(px, pz), y, atol=1e-4)


def test_objects_stand_on_the_ground_and_leave_room_in_the_play_area():
    world = make_world(8, "town")
    for obj in world.objects:
        # +y is down: a base above the ground would have a smaller y (boxes may be stacked on boxes)
        ground = float(world.surface_y(obj.position[0], obj.position[2]))
        assert obj.position[1] >= ground - 1e-6 or obj.kind == "box"
        if np.hypot(obj.position[0], obj.position[2]) < world.play_radius:
            assert obj.position[1] - ground < 0.6  # nor sunk deep where the ground is flat
    # most of the play area is open enough for a camera, yet there are things close by
    r = np.linspace(-world.play_radius, world.play_radius, 61)
    x, z = np.meshgrid(r, r)
    inside = np.hypot(x, z) <= world.play_radius
    clearance = world.clearance(x[inside], z[inside])
    assert (clearance >= 1.5).mean() > 0.25  # a dense town: streets and a square
    assert (clearance < 6.0).mean() > 0.2


def test_bad_theme_seed_or_object_kind_are_typed_errors():
    with pytest.raises(ConfigError, match="theme"):
        make_world(1, "moon")
    with pytest.raises(ConfigError, match="seed"):
        make_world(-1)
    with pytest.raises(ConfigError, match="kind"):
        SceneObject("ufo", (0, 0, 0), np.eye(3), (1, 1, 1), (Material("flat"),), 1.0)
    with pytest.raises(ConfigError, match="texture kind"):
        Material("velvet")
