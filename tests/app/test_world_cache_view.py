"""The world cache's debug view in drive mode (issue 16, part 4): off by default; when on, the worker renders the
cache at the latest pose after each chunk and the viewport shows it in a corner. A constant-depth source stands in
for the depth estimator (the embedded bundle ships none)."""

from __future__ import annotations

import numpy as np


def wall(frames: np.ndarray, intrinsics: np.ndarray) -> np.ndarray:
    """``(N, H, W)`` depth of ``(N, H, W, 3)`` frames: every pixel 3 units away, a wall facing the start camera."""
    return np.full(frames.shape[:3], 3.0, np.float32)


def test_the_debug_view_renders_the_cache_at_the_latest_pose(qtbot, driver, make_window, start_image):
    window = make_window()
    window.client.worker.depth = wall
    driver.start(window, start_image)
    views = []
    window.client.cache_view.connect(views.append)
    assert not window.act_cache_view.isChecked()  # off by default
    window.act_cache_view.trigger()
    driver.step(window, "w")
    qtbot.waitUntil(lambda: len(views) == 1, timeout=10000)
    w, h = window.model_info.frame_size
    assert views[0].shape == (h, w, 3) and views[0].dtype == np.uint8 and views[0].any()
    assert window.cache_inset.isVisible() and window.cache_inset.caption == "world cache"
    window.act_cache_view.trigger()
    assert not window.cache_inset.isVisible()
