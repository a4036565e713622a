"""Rendering the cache: the GL splats agree with the numpy z-buffer reference, a frame comes back where covered,
coverage follows the camera, depth is the surface's z."""

from __future__ import annotations

import numpy as np
import pytest

from engine.camera.poses import pose_from_rt, rot_x, rot_y
from engine.world_cache.bench import masked_psnr
from engine.world_cache.cache import WorldCache
from engine.world_cache.memory import CacheConfig, empty_state
from engine.world_cache.render_reference import render_reference

from .conftest import K, SIZE, textured_plane


def _plane_cache(voxel_size=0.02) -> WorldCache:
    cache = WorldCache(CacheConfig(voxel_size=voxel_size, capacity=50_000))
    cache.add_frame(*textured_plane(), np.eye(4), K)
    return cache


def test_a_textured_plane_renders_back_at_its_own_pose(cache_renderer):
    frame, _ = textured_plane()
    out = cache_renderer.render(_plane_cache().state, np.eye(4), K, SIZE)
    assert out.coverage.all()
    assert masked_psnr(out.colour, frame, out.coverage) > 30.0
    assert np.abs(out.depth - 5.0).max() < 1e-3


@pytest.mark.parametrize("rotation, shift", [(np.eye(3), (0.0, 0.0, 0.0)), (rot_y(0.25), (0.3, 0.0, 0.4)),
                                             (rot_y(-0.4) @ rot_x(0.2), (-0.5, 0.2, 1.5))])
def test_gl_render_agrees_with_the_numpy_reference(cache_renderer, synth_clip, rotation, shift):
    cache = WorldCache(CacheConfig(voxel_size=0.02, capacity=50_000))
    plan = synth_clip.plan
    cache.add_frame(synth_clip.frames[0], synth_clip.depth[0], plan.c2w[0], plan.intrinsics[0])
    cache.add_frame(*textured_plane(distance=3.0), pose_from_rt(rot_y(1.0), np.array([0.0, -1.0, 0.0])), K)
    pose = plan.c2w[0] @ pose_from_rt(rotation, np.asarray(shift))
    gl = cache_renderer.render(cache.state, pose, plan.intrinsics[0], SIZE)
    ref = render_reference(cache.state, pose, plan.intrinsics[0], SIZE)
    iou = (gl.coverage & ref.coverage).sum() / max((gl.coverage | ref.coverage).sum(), 1)
    assert iou > 0.98
    both = gl.coverage & ref.coverage
    same = (np.abs(gl.colour.astype(int) - ref.colour).max(axis=-1) <= 1)[both]
    assert same.mean() > 0.97
    assert (np.abs(gl.depth[both] / ref.depth[both] - 1) < 1e-4).mean() > 0.97


def test_a_synth_frame_with_exact_depth_renders_back_and_predicts_a_nearby_frame(cache_renderer, synth_clip):
    plan = synth_clip.plan
    cache = WorldCache(CacheConfig(voxel_size=0.02))
    cache.add_frame(synth_clip.frames[0], synth_clip.depth[0], plan.c2w[0], plan.intrinsics[0])
    same = cache_renderer.render(cache.state, plan.c2w[0], plan.intrinsics[0], SIZE)
    assert (same.coverage == np.isfinite(synth_clip.depth[0])).mean() > 0.99  # sky stays uncovered
    assert masked_psnr(same.colour, synth_clip.frames[0], same.coverage) > 30.0
    later = cache_renderer.render(cache.state, plan.c2w[4], plan.intrinsics[4], SIZE)
    assert later.coverage.mean() > 0.3
    assert masked_psnr(later.colour, synth_clip.frames[4], later.coverage) > 24.0


def _expected_coverage(yaw: float) -> np.ndarray:
    """Pixels of a camera at the origin turned by ``yaw`` whose ray hits the plane z = 5 inside the first view."""
    w, h = SIZE
    v, u = np.mgrid[0:h, 0:w] + 0.5
    d = np.stack([(u - K[2]) / K[0], (v - K[3]) / K[1], np.ones_like(u)], -1) @ rot_y(yaw).T
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.where(d[..., 2] > 1e-9, 5.0 / d[..., 2], np.nan)
        u0 = K[0] * d[..., 0] * t / 5.0 + K[2]
        v0 = K[1] * d[..., 1] * t / 5.0 + K[3]
    return np.isfinite(t) & (u0 >= 0) & (u0 < w) & (v0 >= 0) & (v0 < h)


def test_coverage_shrinks_as_the_camera_turns_away_and_vanishes_behind(cache_renderer):
    state = _plane_cache().state
    shares = []
    for yaw in (0.0, 0.2, 0.4, 0.6):
        out = cache_renderer.render(state, pose_from_rt(rot_y(yaw), np.zeros(3)), K, SIZE)
        expected = _expected_coverage(yaw)
        iou = (out.coverage & expected).sum() / (out.coverage | expected).sum()
        assert iou > 0.95, yaw
        shares.append(out.coverage.mean())
    assert shares == sorted(shares, reverse=True) and shares[-1] < 0.6
    behind = cache_renderer.render(state, pose_from_rt(rot_y(np.pi), np.zeros(3)), K, SIZE)
    assert not behind.coverage.any() and np.isinf(behind.depth).all() and not behind.colour.any()


def test_an_empty_cache_renders_nothing(cache_renderer):
    for out in (cache_renderer.render(empty_state(), np.eye(4), K, SIZE),
                render_reference(empty_state(), np.eye(4), K, SIZE)):
        assert out.colour.shape == (56, 96, 3) and not out.coverage.any() and np.isinf(out.depth).all()
