"""Shared fixtures for the trajectory format tests: random smooth trajectories and hand-made cameras."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from engine.camera.poses import pose_from_rt, rot_x, rot_y
from engine.camera.trajectory import Trajectory


def rot_z(angle_rad: float) -> np.ndarray:
    c, s = np.cos(angle_rad), np.sin(angle_rad)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def smooth_trajectory(
    num_frames: int = 12,
    *,
    seed: int = 0,
    square: bool = False,
    intrinsics: bool = True,
    image_size: tuple[int, int] = (832, 480),
    fps: float = 16.0,
) -> Trajectory:
    """A smooth path with large rotations about all three axes, a wandering translation and per-frame
    intrinsics (``square``: fx == fy and a centred principal point, as single-FOV formats need)."""
    rng = np.random.default_rng(seed)
    t = np.linspace(0.0, 2.0, num_frames)
    phase = rng.uniform(0, 2 * np.pi, 3)
    yaw = np.radians(70) * np.sin(t + phase[0])
    pitch = np.radians(35) * np.sin(1.7 * t + phase[1])
    roll = np.radians(25) * np.sin(0.9 * t + phase[2])
    rot = np.stack([rot_y(a) @ rot_x(b) @ rot_z(c) for a, b, c in zip(yaw, pitch, roll)])
    pos = np.cumsum(rng.normal(scale=0.3, size=(num_frames, 3)), axis=0) + rng.normal(scale=2.0, size=3)
    c2w = pose_from_rt(rot, pos)
    intr = None
    if intrinsics:
        w, h = image_size
        f = 450.0 + 60.0 * np.sin(t)
        if square:
            intr = np.stack([f, f, np.full_like(f, w / 2), np.full_like(f, h / 2)], axis=1)
        else:
            intr = np.stack([f * 1.02, f, w / 2 + 3.0 * np.sin(t), h / 2 - 2.0 * np.cos(t)], axis=1)
    return Trajectory(c2w=c2w, intrinsics=intr, image_size=image_size if intrinsics else None, fps=fps)


@pytest.fixture
def make_trajectory() -> Callable[..., Trajectory]:
    """Factory for :func:`smooth_trajectory`."""
    return smooth_trajectory


#: Hand-checkable camera: centre (1, 2, 3), looking along world +X, world +Y up (so camera "down", the
#: OpenCV +Y axis, is world -Y and camera right is world +Z). Columns are the camera axes in world.
LOOK_PLUS_X_C2W = np.array(
    [
        [0.0, 0.0, 1.0, 1.0],
        [0.0, -1.0, 0.0, 2.0],
        [1.0, 0.0, 0.0, 3.0],
        [0.0, 0.0, 0.0, 1.0],
    ]
)


@pytest.fixture
def look_plus_x() -> np.ndarray:
    return LOOK_PLUS_X_C2W.copy()
