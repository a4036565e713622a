"""Unprojection: pixel centres at their depth land back on their pixels; sky and invalid depth are skipped."""

from __future__ import annotations

import numpy as np
import pytest

from engine.camera.poses import pose_from_rt, rot_x, rot_y
from engine.errors import IntrinsicsError, TrajectoryError, WorldCacheError
from engine.synth.renderer import project_points
from engine.world_cache.unproject import unproject

from .conftest import K, SIZE, textured_plane


def test_unprojected_points_project_back_onto_their_pixel_centres_at_their_depth():
    frame, depth = textured_plane()
    depth = depth + np.linspace(0, 3, SIZE[0], dtype=np.float32)[None]  # a slanted surface
    c2w = pose_from_rt(rot_y(0.4) @ rot_x(-0.2), np.array([1.0, -1.5, 2.0]))
    pts = unproject(frame, depth, c2w, K)
    assert len(pts) == SIZE[0] * SIZE[1] and pts.colours.dtype == np.uint8
    v, u = np.mgrid[0 : SIZE[1], 0 : SIZE[0]] + 0.5
    assert np.abs(project_points(pts.positions, c2w, K) - np.c_[u.ravel(), v.ravel()]).max() < 1e-6
    cam = (pts.positions - c2w[:3, 3]) @ c2w[:3, :3]
    assert np.allclose(cam[:, 2], depth.ravel(), rtol=1e-6)
    assert np.array_equal(pts.colours, frame.reshape(-1, 3))
    assert np.allclose(pts.footprints, depth.ravel() / 60.0, rtol=1e-6)


def test_sky_nan_zero_and_negative_depth_are_skipped_and_stride_subsamples():
    frame, depth = textured_plane()
    depth[0, :] = np.inf
    depth[1, :] = np.nan
    depth[2, :] = 0.0
    depth[3, :] = -1.0
    assert len(unproject(frame, depth, np.eye(4), K)) == (SIZE[1] - 4) * SIZE[0]
    pts = unproject(frame, depth, np.eye(4), K, stride=2)
    assert len(pts) == (SIZE[1] // 2 - 2) * (SIZE[0] // 2)
    assert np.allclose(pts.footprints, 2 * 5.0 / 60.0)
    assert len(unproject(frame, depth, np.eye(4), K, max_depth=4.0)) == 0


def test_bad_inputs_raise_typed_errors_naming_the_part():
    frame, depth = textured_plane()
    with pytest.raises(WorldCacheError, match="frame"):
        unproject(frame.astype(np.float32), depth, np.eye(4), K)
    with pytest.raises(WorldCacheError, match="depth"):
        unproject(frame, depth[:-1], np.eye(4), K)
    with pytest.raises(WorldCacheError, match="stride"):
        unproject(frame, depth, np.eye(4), K, stride=0)
    with pytest.raises(TrajectoryError, match="world cache pose"):
        unproject(frame, depth, np.full((4, 4), np.nan), K)
    with pytest.raises(IntrinsicsError, match="world cache intrinsics"):
        unproject(frame, depth, np.eye(4), [0.0, 60.0, 48.0, 28.0])
