"""Clip paths: integrator-made, inside the limits, clear of objects, reproducible, and with real returns."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from engine.camera.actions import action_to_c2w, expand_action
from engine.camera.integrator import MotionIntegrator
from engine.camera.intrinsics import fov_deg
from engine.camera.poses import relative_to_first
from engine.errors import ConfigError
from engine.synth.trajectories import PathConfig, find_revisits, path_clearance, sample_clip
from engine.synth.world import THEMES, Material, SceneObject, make_world, yaw_rotation

CONFIG = PathConfig(num_frames=49)


@pytest.fixture(scope="module")
def plans():
    out = []
    for seed in range(28):
        world = make_world(100 + seed, THEMES[seed % len(THEMES)])
        out.append((world, sample_clip(world, np.random.default_rng(seed), CONFIG)))
    return out


def test_paths_stay_clear_of_objects_and_inside_the_limits(plans):
    for world, plan in plans:
        assert plan.kind in ("explore", "return")  # the fallback was not needed
        c2w = plan.c2w
        assert c2w.shape == (49, 4, 4) and plan.intrinsics.shape == (49, 4)
        assert path_clearance(world, c2w) >= CONFIG.clearance
        pos = c2w[:, :3, 3]
        assert np.hypot(pos[:, 0], pos[:, 2]).max() <= world.play_radius + 8.0
        eye = world.surface_y(pos[:, 0], pos[:, 2]) - pos[:, 1]
        assert eye.min() >= 0.3 and eye.max() <= 4.0
        assert np.allclose(pos[:, 1], pos[0, 1])  # the integrator moves horizontally
        pitch = np.degrees(np.arcsin(-c2w[:, 1, 2]))
        assert np.abs(pitch).max() <= CONFIG.max_pitch_deg + 1e-6


def test_fov_stays_in_range_and_intrinsics_match_it(plans):
    w, h = CONFIG.size
    fovs = []
    for _, plan in plans:
        fx_deg, _ = fov_deg(plan.intrinsics, w, h)
        assert np.allclose(fx_deg, plan.fov_deg)
        assert CONFIG.fov_range_deg[0] <= plan.fov_deg <= CONFIG.fov_range_deg[1]
        assert np.allclose(plan.intrinsics[:, 2:], [w / 2, h / 2])
        fovs.append(plan.fov_deg)
    assert max(fovs) - min(fovs) > 30.0  # actually spread over the range


def test_action_string_reproduces_the_path(plans):
    for _, plan in plans:
        integ = MotionIntegrator(plan.action_version, translation_speed=plan.translation_speed,
                                 rotation_speed_deg=plan.rotation_speed_deg, smooth=plan.smooth, pose=plan.c2w[0])
        assert np.array_equal(integ.run(expand_action(plan.action)), plan.c2w)
        from_identity = action_to_c2w(plan.action, version=plan.action_version, translation_speed=plan.translation_speed,
                                      rotation_speed_deg=plan.rotation_speed_deg, smooth=plan.smooth)
        assert np.allclose(relative_to_first(plan.c2w), from_identity, atol=1e-9)


def test_motion_is_varied_and_returns_come_back(plans):
    kinds = Counter(plan.kind for _, plan in plans)
    assert kinds["return"] >= 4 and kinds["explore"] >= 10
    keys = set("".join(plan.action for _, plan in plans))
    assert set("wasdijkl") <= keys and "none" in ",".join(plan.action for _, plan in plans)
    moved = [np.linalg.norm(plan.c2w[-1, :3, 3] - plan.c2w[0, :3, 3]) for _, plan in plans if plan.kind == "explore"]
    assert np.median(moved) > 0.3
    for _, plan in plans:
        if plan.kind != "return":
            continue
        pairs = plan.revisits[plan.revisits[:, 1] - plan.revisits[:, 0] >= 16]  # went somewhere in between
        assert len(pairs) > 0
        # back to the same view: rotation exactly, position to ~1 cm (translation uses the turned heading)
        rot_err = np.array([np.abs(plan.c2w[i, :3, :3] - plan.c2w[j, :3, :3]).max() for i, j in pairs])
        pos_err = np.array([np.linalg.norm(plan.c2w[i, :3, 3] - plan.c2w[j, :3, 3]) for i, j in pairs])
        exact = pairs[(rot_err < 1e-6) & (pos_err < 0.02)]
        assert any(_left_the_view(plan.c2w, i, j) for i, j in exact)  # ... after really going away


def _left_the_view(c2w: np.ndarray, i: int, j: int) -> bool:
    between = c2w[i + 1 : j]
    moved = np.linalg.norm(between[:, :3, 3] - c2w[i, :3, 3], axis=1).max()
    cos = (np.einsum("fab,ab->f", between[:, :3, :3], c2w[i, :3, :3]) - 1) / 2
    turned = np.degrees(np.arccos(np.clip(cos, -1, 1))).max()
    return bool(moved >= CONFIG.min_excursion_m or turned >= CONFIG.min_excursion_deg)


def test_same_generator_seed_gives_the_same_plan():
    world = make_world(7, "forest")
    a = sample_clip(world, np.random.default_rng(3), CONFIG)
    b = sample_clip(world, np.random.default_rng(3), CONFIG)
    assert a.action == b.action and np.array_equal(a.c2w, b.c2w) and a.fov_deg == b.fov_deg


def test_crowded_world_falls_back_to_turning_on_the_spot():
    world = make_world(1, "meadow")
    # wall the play area with pillars every 1.2 m: no forward motion fits
    grid = np.arange(-30.0, 30.1, 1.2)
    pillars = tuple(
        SceneObject("pillar", (x, 0.0, z), yaw_rotation(0.0), (0.3, 2.0, 0.3), (Material("concrete"),), 0.2)
        for x in grid for z in grid
    )
    crowded = type(world)(world.seed, world.theme, world.terrain, world.sky, world.lighting, pillars)
    plan = sample_clip(crowded, np.random.default_rng(0), PathConfig(num_frames=17, max_tries=3))
    assert plan.kind == "turn"
    assert np.allclose(plan.c2w[:, :3, 3], plan.c2w[0, :3, 3])


def test_find_revisits_pairs_equal_poses_only():
    c2w = action_to_c2w("d-10,a-10,w-4")
    pairs = find_revisits(c2w)
    assert [0, 20] in pairs.tolist() and all(j - i >= 8 for i, j in pairs)
    assert len(find_revisits(action_to_c2w("w-30"))) == 0


def test_bad_path_settings_are_typed_errors():
    with pytest.raises(ConfigError):
        PathConfig(num_frames=1)
    with pytest.raises(ConfigError):
        PathConfig(fov_range_deg=(100.0, 30.0))
    with pytest.raises(ConfigError):
        PathConfig(versions=("v9",))
