"""Path playback: chunk rows of a 1 + n k rollout, poses relative to frame 0, clear errors for short paths."""

from __future__ import annotations

import numpy as np
import pytest

from engine.camera.keyframes import CameraPath, Keyframe, intrinsics_for
from engine.camera.playback import chunk_poses, chunk_rows, frames_through_chunk, path_chunk, path_chunk_count
from engine.errors import TrajectoryError


def straight(n: int, x: float = 3.0) -> np.ndarray:
    """``n`` poses forward along +Z, 0.05 per frame, in a world whose frame 0 is not the origin."""
    c2w = np.tile(np.eye(4), (n, 1, 1))
    c2w[:, 0, 3] = x
    c2w[:, 2, 3] = 0.05 * np.arange(n)
    return c2w


def test_chunk_rows_skip_the_start_frame_and_tile_the_rollout():
    assert frames_through_chunk(0, 24) == 25 and frames_through_chunk(2, 24) == 73
    assert chunk_rows(0, 24) == slice(1, 25) and chunk_rows(1, 24) == slice(25, 49)
    covered = np.concatenate([np.arange(73)[chunk_rows(i, 24)] for i in range(3)])
    np.testing.assert_array_equal(covered, np.arange(1, 73))


def test_path_chunk_count_counts_whole_chunks_after_the_start_frame():
    assert [path_chunk_count(n, 24) for n in (1, 24, 25, 48, 49, 73)] == [0, 0, 1, 1, 2, 3]


def test_chunk_poses_are_relative_to_frame_0_whatever_the_paths_world():
    c2w = straight(49)
    intr = np.tile([80.0, 80.0, 48.0, 32.0], (49, 1))
    poses, got = chunk_poses(c2w, intr, 1, 24)
    assert poses.shape == (24, 4, 4) and got.shape == (24, 4)
    np.testing.assert_allclose(poses[:, 0, 3], 0.0, atol=1e-12)  # the world's x = 3 is gone
    np.testing.assert_allclose(poses[:, 2, 3], c2w[25:49, 2, 3], atol=1e-12)
    assert chunk_poses(c2w, None, 0, 24)[1] is None


def test_a_path_too_short_for_the_chunk_is_an_error_naming_what_it_needs():
    with pytest.raises(TrajectoryError, match="path chunk 1: expected at least 49 poses"):
        chunk_poses(straight(30), None, 1, 24)
    with pytest.raises(TrajectoryError, match="chunk index >= 0"):
        chunk_poses(straight(30), None, -1, 24)


def test_path_chunk_samples_an_authored_path_past_its_end_holding_the_last_pose():
    path = CameraPath([Keyframe(0, vfov_deg=50.0), Keyframe(24, (0.0, 0.0, 1.2), vfov_deg=50.0)], length=25,
                      frame_size=(96, 64))  # fmt: skip
    first, intr = path_chunk(path, 0, 24)
    np.testing.assert_allclose(first[-1][:3, 3], [0.0, 0.0, 1.2], atol=1e-12)  # the keyframe, exactly
    np.testing.assert_allclose(intr, np.tile(intrinsics_for(50.0, (96, 64)), (24, 1)))
    second, _ = path_chunk(path, 1, 24)  # beyond the path's length: held at its last keyframe
    np.testing.assert_allclose(second[:, :3, 3], np.tile([0.0, 0.0, 1.2], (24, 1)), atol=1e-12)
