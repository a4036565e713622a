"""Demo scenes: a start frame, its camera, a title and a suggested action string, written to a folder.

Why: the explorer and the README need starting images whose camera is known exactly (so the embedded
model's output can be compared with the ground-truth render of the same path) and whose suggested drive
is collision-free. Each demo is ``DIR/<name>/image.png`` plus ``DIR/<name>/scene.json``::

    {"name", "title", "description", "theme", "world_seed",
     "action", "action_version",          # suggested drive, v2 keys at the default v2 speeds
     "num_frames",                        # poses the action gives (sum of N + 1)
     "image_size": [W, H], "fov_deg",     # horizontal FOV
     "intrinsics": [fx, fy, cx, cy],      # pixels of image.png
     "c2w": 4x4 start pose (world frame of engine.synth.scene, OpenCV axes)}

The start pose is searched deterministically (from the world seed) for a place where the suggested action
stays clear of objects and the first view has objects at a readable distance.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from engine.io.atomic import atomic_path, atomic_write_text
from engine.camera.actions import action_to_c2w
from engine.camera.intrinsics import from_fov
from engine.errors import ConfigError
from engine.synth.trajectories import PathConfig, path_problem, sample_start
from engine.synth.world import World, make_world


@dataclass(frozen=True)
class DemoSpec:
    """One demo scene: which world, which lens, which suggested drive (``v2`` keys)."""

    name: str
    title: str
    theme: str
    world_seed: int
    action: str
    fov_deg: float
    eye_height: float = 1.6
    description: str = ""


DEMOS: tuple[DemoSpec, ...] = (
    DemoSpec("meadow_stroll", "Meadow stroll", "meadow", 11, "w-48,dw-32,w-48,aw-32", 70.0,
             description="Walk through a meadow toward groves of trees, turning right then left."),
    DemoSpec("pine_forest", "Between the pines", "forest", 23, "w-64,aw-24,w-40,d-40", 75.0, 1.4,
             "Walk into a dense forest and weave between the trunks."),
    DemoSpec("desert_colonnade", "Desert colonnade", "desert", 5, "w-40,l-48,w-40,a-40", 60.0,
             description="Approach sandstone columns in the desert, strafe right, then look left."),
    DemoSpec("town_square", "Town square", "town", 7, "w-32,d-60,w-48,a-30", 80.0,
             description="Stand on a paved square among houses, turn right and walk down a street."),
    DemoSpec("snowfield", "Snowfield", "snow", 31, "w-40,aw-40,i-16,k-16,w-48", 65.0,
             description="Cross a snowfield among pines, look up at the sky and back down."),
    DemoSpec("temple_ruins", "Temple ruins", "ruins", 3, "w-48,jw-24,lw-24,a-48", 55.0,
             description="Walk between rows of ruined pillars in the evening light."),
    DemoSpec("container_yard", "Container yard", "industrial", 9, "w-40,dw-40,w-40,s-24", 90.0, 1.8,
             "Drive past shipping containers and crates in a concrete yard, then back up."),
    DemoSpec("look_around", "Look around and back", "meadow", 42, "d-120,a-120", 70.0,
             description="Turn 72 degrees right and back to the start view: a revisit test for memory."),
)


def demo_start(world: World, spec: DemoSpec, *, tries: int = 400) -> np.ndarray:
    """A start pose (4x4 c2w) where ``spec.action`` is collision-free and the view is busy but not blocked."""
    rng = np.random.default_rng([spec.world_seed, 0xDE])
    config = PathConfig(num_frames=2, max_pitch_deg=60.0, min_view_distance=4.0, clearance=1.0)
    relative = action_to_c2w(spec.action)
    best, best_score = None, -math.inf
    for _ in range(tries):
        start = sample_start(world, rng, spec.eye_height, clearance=2.0)
        c2w = start @ relative
        if path_problem(world, c2w, config) is not None:
            continue
        score = _view_score(world, start, spec.fov_deg)
        if score > best_score:
            best, best_score = start, score
    if best is None:
        raise ConfigError(f"demo {spec.name}: no collision-free start found for action {spec.action!r}")
    return best


def _view_score(world: World, c2w: np.ndarray, fov_deg: float) -> float:
    """How many objects the first frame shows at 4..35 m (more is better), favouring nearer ones."""
    obs = world.obstacles()
    if len(obs) == 0:
        return 0.0
    rel = obs[:, :2] - c2w[[0, 2], 3]
    fwd = c2w[[0, 2], 2]
    fwd = fwd / np.linalg.norm(fwd)
    dist = np.hypot(rel[:, 0], rel[:, 1])
    ahead = rel @ fwd
    angle = np.degrees(np.arccos(np.clip(ahead / np.maximum(dist, 1e-9), -1, 1)))
    seen = (angle < fov_deg / 2 * 0.9) & (dist > 4.0) & (dist < 35.0)
    return float(np.sum(seen / np.sqrt(dist)))


def write_demos(out_dir: str | os.PathLike, *, size: tuple[int, int] = (1280, 704), renderer=None,
                demos: tuple[DemoSpec, ...] = DEMOS) -> list[Path]:
    """Render and write every demo (``image.png`` + ``scene.json`` per folder); returns the scene files."""
    from engine.synth.renderer import Renderer

    out = Path(out_dir)
    own = renderer is None
    r = Renderer(msaa=4, supersample=2) if own else renderer
    written = []
    try:
        for spec in demos:
            world = make_world(spec.world_seed, spec.theme)
            start = demo_start(world, spec)
            w, h = size
            intr = from_fov(w, h, fov_x_deg=spec.fov_deg)
            image = r.render(world, start[None], intr, size)[0]
            folder = out / spec.name
            folder.mkdir(parents=True, exist_ok=True)
            with atomic_path(folder / "image.png") as tmp:
                Image.fromarray(image).save(tmp)
            scene = {
                "name": spec.name,
                "title": spec.title,
                "description": spec.description,
                "theme": spec.theme,
                "world_seed": spec.world_seed,
                "action": spec.action,
                "action_version": "v2",
                "num_frames": int(len(action_to_c2w(spec.action))),
                "image_size": [w, h],
                "fov_deg": spec.fov_deg,
                "intrinsics": [float(v) for v in intr],
                "c2w": start.tolist(),
            }
            atomic_write_text(folder / "scene.json", json.dumps(scene, indent=1) + "\n")
            written.append(folder / "scene.json")
    finally:
        if own:
            r.release()
    return written
