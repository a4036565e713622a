"""Demo scenes: an image, exact intrinsics and start pose, and a suggested action that stays clear of objects."""

from __future__ import annotations

import json

import numpy as np
from PIL import Image

from engine.camera.actions import action_to_c2w
from engine.synth.demos import DEMOS, write_demos
from engine.synth.trajectories import path_clearance
from engine.synth.world import THEMES, make_world


def test_demos_cover_the_themes_with_titles_and_actions():
    assert len(DEMOS) >= 6 and len({d.name for d in DEMOS}) == len(DEMOS)
    assert {d.theme for d in DEMOS} == set(THEMES)
    for d in DEMOS:
        assert d.title and d.description and len(action_to_c2w(d.action)) > 100


def test_written_demo_matches_its_scene_file(tmp_path, renderer):
    written = write_demos(tmp_path, size=(80, 44), renderer=renderer, demos=DEMOS[:2])
    assert [p.parent.name for p in written] == [d.name for d in DEMOS[:2]]
    for path, spec in zip(written, DEMOS[:2]):
        scene = json.loads(path.read_text())
        image = np.asarray(Image.open(path.parent / "image.png"))
        assert image.shape == (44, 80, 3) and image.std() > 10
        assert scene["title"] == spec.title and scene["action"] == spec.action and scene["action_version"] == "v2"
        fx, fy, cx, cy = scene["intrinsics"]
        assert np.isclose(np.degrees(2 * np.arctan(80 / (2 * fx))), spec.fov_deg) and (cx, cy) == (40.0, 22.0)
        start = np.array(scene["c2w"])
        world = make_world(scene["world_seed"], scene["theme"])
        path_c2w = start @ action_to_c2w(scene["action"])
        assert len(path_c2w) == scene["num_frames"]
        assert path_clearance(world, path_c2w) >= 1.0
        # the scene file is enough to re-render the start image exactly
        again = renderer.render(world, start, np.array(scene["intrinsics"]), (80, 44))[0]
        assert np.array_equal(again, image)
