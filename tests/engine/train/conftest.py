"""Shared builders for the training tests: small random clips with real camera motion, dataset folders.

Tests run the ``sana-wm-tiny-test`` preset on 48x32 frames (a 3x2 latent grid) with one torch thread: the test
machine has two shared cores, where two OpenMP threads competing with other processes are many times slower.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch

from engine.camera.poses import pose_from_rt, rot_y
from engine.train.data import Clip

FRAME_SIZE = (48, 32)  # (width, height): a 3x2 latent grid with spatial factor 16


def make_clip(seed: int, num_frames: int = 49, frame_size: tuple[int, int] = FRAME_SIZE) -> Clip:
    """A clip of moving colour waves seen by a camera that walks forward while turning (intrinsics in pixels)."""
    rng = np.random.default_rng(seed)
    width, height = frame_size
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float64)
    phase = rng.uniform(0, 2 * np.pi, 3)
    def wave(f: int, c: int) -> np.ndarray:
        return 128 + 100 * np.sin(0.25 * xx + 0.15 * f + phase[c]) * np.cos(0.2 * yy + phase[c])

    frames = np.stack([np.stack([wave(f, c) for c in range(3)], -1) for f in range(num_frames)]).astype(np.uint8)
    start = pose_from_rt(rot_y(rng.uniform(-1, 1)), rng.normal(size=3))
    c2w = np.stack([start @ pose_from_rt(rot_y(0.01 * f), np.array([0.0, 0.0, 0.05 * f])) for f in range(num_frames)])
    focal = rng.uniform(0.8, 1.2) * width
    intrinsics = np.tile([focal, focal, width / 2, height / 2], (num_frames, 1))
    return Clip(frames=frames, c2w=c2w, intrinsics=intrinsics, name=f"clip-{seed}")


def with_depth(clip: Clip, metres: float = 6.0) -> Clip:
    """The clip with the exact depth of a static wall ``metres`` in front of its first camera (facing it)."""
    f, height, width, _ = clip.frames.shape
    normal, origin = clip.c2w[0, :3, 2], clip.c2w[0, :3, 3]
    v, u = np.mgrid[0:height, 0:width] + 0.5
    depth = np.empty((f, height, width), np.float32)
    for i, (pose, (fx, fy, cx, cy)) in enumerate(zip(clip.c2w, clip.intrinsics)):
        rays = np.stack([(u - cx) / fx, (v - cy) / fy, np.ones_like(u)], -1) @ pose[:3, :3].T  # world, z_cam = 1
        depth[i] = (normal @ origin + metres - normal @ pose[:3, 3]) / (rays @ normal)
    return dataclasses.replace(clip, depth=depth)


def write_dataset(folder: Path, clips: list[Clip]) -> Path:
    """A dataset folder as ``sana-wm synth`` writes it: ``index.json`` + ``clips/clip_NNNNNN.npz`` (raw frames)."""
    (folder / "clips").mkdir(parents=True)
    names = []
    for i, clip in enumerate(clips):
        name = f"clips/clip_{i:06d}.npz"
        np.savez(folder / name, frames=clip.frames, c2w=clip.c2w, intrinsics=clip.intrinsics)
        names.append(name)
    (folder / "index.json").write_text(json.dumps({"clips": names, "fps": 16}))
    return folder


@pytest.fixture(scope="session")
def clip_factory() -> Callable[..., Clip]:
    return make_clip


@pytest.fixture(scope="session")
def depth_clip_factory() -> Callable[..., Clip]:
    """``make_clip`` with the exact depth of :func:`with_depth` (clips for the world-cache model v2)."""
    return lambda seed, **kwargs: with_depth(make_clip(seed, **kwargs))


@pytest.fixture(scope="session")
def dataset_writer() -> Callable[[Path, list[Clip]], Path]:
    return write_dataset


@pytest.fixture(autouse=True)
def one_thread():
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
