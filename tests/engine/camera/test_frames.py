"""Frame counts: the official snapping rule."""

from __future__ import annotations

import pytest

from engine.camera.frames import latent_frame_count, pixel_frame_count, resolve_num_frames, snap_num_frames
from engine.errors import TrajectoryError

import diffusers.pipelines.sana_wm.cam_utils as cam_utils  # noqa: E402


@pytest.mark.parametrize("stride", [8, 24])
def test_snapping_matches_diffusers_for_every_count(stride):
    for n in range(-2, 400):
        for bound in (None, 150, 321):
            assert snap_num_frames(n, stride, upper_bound=bound) == cam_utils.snap_num_frames(n, stride, upper_bound=bound)


def test_hand_values():
    assert snap_num_frames(161) == 161
    assert snap_num_frames(164) == 161  # 3 below the upper candidate's 5: lower is closer
    assert snap_num_frames(165) == 169  # tie goes up
    assert snap_num_frames(165, upper_bound=166) == 161
    assert snap_num_frames(250, 24) == 241
    assert snap_num_frames(0) == 1


def test_resolve_uses_the_shorter_of_request_and_trajectory():
    assert resolve_num_frames(None, 321) == 321
    assert resolve_num_frames(161, 321) == 161
    assert resolve_num_frames(1000, 300) == 297  # 300 -> 297 (closer than 305, which is beyond the path)
    assert resolve_num_frames(None, 321, 24) == 313
    with pytest.raises(TrajectoryError):
        resolve_num_frames(0, 10)


def test_latent_pixel_counts():
    assert latent_frame_count(241) == 31 and pixel_frame_count(31) == 241
    assert latent_frame_count(1) == 1
