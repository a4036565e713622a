"""The photo view: a look-at camera in OpenCV axes, and one figure row per photo."""

import numpy as np
from PIL import Image

from engine.generation.world_memory import WorldMemory
from engine.world_cache.photo_view import look_at, photo_row


def test_look_at_points_z_at_the_target_with_y_down():
    c2w = look_at(np.array([2.0, -1.0, 0.0]), np.array([0.0, 0.0, 4.0]))
    forward = c2w[:3, 2]
    assert np.allclose(forward, np.array([-2.0, 1.0, 4.0]) / np.sqrt(21))
    assert c2w[1, 1] > 0  # camera y keeps pointing down (world +y)
    assert np.allclose(c2w[:3, :3].T @ c2w[:3, :3], np.eye(3)) and np.isclose(np.linalg.det(c2w[:3, :3]), 1.0)
    assert np.allclose(look_at(np.zeros(3), np.array([0.0, 0.0, 1.0])), np.eye(4))


def test_a_photo_row_shows_the_frame_its_depth_and_two_cache_views(tmp_path):
    photo = tmp_path / "p.png"
    y, x = np.mgrid[0:90, 0:160]
    Image.fromarray(np.stack([x, y * 2, 200 - x], -1).astype(np.uint8)).save(photo)
    memory = WorldMemory(lambda f, k: np.full(f.shape[:3], 3.0, np.float32))
    try:
        row, stats = photo_row(memory, photo, (96, 64), 60.0)
    finally:
        memory.release()
    assert row.shape == (64, 4 * 96, 3)
    assert "sky 0% of pixels" in stats and "3.0 / 3.0 / 3.0 m" in stats
    forward = row[:, 2 * 96 : 3 * 96]
    assert (forward.sum(-1) > 0).mean() > 0.5  # 1 m closer to a wall 3 m away: most of the view is covered
