"""F (frame everything) in the Path view, without GL: the orbit camera it sets keeps every drawn frustum on screen."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from app.path.gl_view import FRUSTUM_DEPTH, PathGLView
from app.path.view_math import frustum_lines, project
from engine.camera.keyframes import CameraPath, Keyframe


def test_f_keeps_the_far_right_keyframe_frustum_inside_the_view(qtbot):
    # a short path whose last keyframe stands to the right and looks off to the right with a wide lens: its frustum
    # (drawn FRUSTUM_DEPTH deep) reaches well beyond every path sample
    path = CameraPath([Keyframe.from_euler(0, (0.0, 0.0, 0.0), vfov_deg=55.0),
                       Keyframe.from_euler(48, (0.6, 0.0, 0.2), yaw=45.0, vfov_deg=90.0)],
                      length=49, frame_size=(320, 176))
    source = SimpleNamespace(path=path, selected_frame=None, current_frame=48, view_through=False, start_image=None,
                             start_vfov_deg=55.0)
    view = PathGLView(source)
    qtbot.addWidget(view)
    view.resize(900, 360)
    view.orbit.azimuth_deg, view.orbit.elevation_deg = 90.0, 60.0  # seen from the side, from above
    view.frame_all()
    w, h = view.screen_size()
    corners = np.concatenate([frustum_lines(k.c2w, k.vfov_deg, 320 / 176, FRUSTUM_DEPTH) for k in path.keyframes])
    xy, visible = project(corners, view.mvp(), (w, h))
    margin = 0.02 * h
    assert visible.all()
    assert xy[:, 0].min() > margin and xy[:, 0].max() < w - margin
    assert xy[:, 1].min() > margin and xy[:, 1].max() < h - margin
