"""Intrinsics: official forms, fitting to frames, resize + crop, FOV and its range check."""

from __future__ import annotations

import numpy as np
import pytest

from engine.camera import intrinsics as intr
from engine.errors import FOVOutOfRangeError, IntrinsicsError

import diffusers.pipelines.sana_wm.cam_utils as cam_utils  # noqa: E402

K = np.array([[500.0, 0, 320], [0, 510.0, 240], [0, 0, 1]])


@pytest.mark.parametrize(
    "form",
    [np.array([500.0, 510.0, 320.0, 240.0]), K, np.array([[500.0, 510.0, 320.0, 240.0]] * 3), np.stack([K] * 3)],
)
def test_every_official_form_becomes_rows(form):
    vec = intr.as_vec4(form)
    assert vec.shape[1] == 4
    assert np.allclose(vec, [500.0, 510.0, 320.0, 240.0])


@pytest.mark.parametrize("shape", [(3,), (2, 2), (5, 3), (0, 4), (2, 3, 4)])
def test_bad_shapes_name_the_expected_forms(shape):
    with pytest.raises(IntrinsicsError, match=r"\(F, 3, 3\)"):
        intr.as_vec4(np.ones(shape))


def test_non_finite_and_non_positive_focal_rejected():
    with pytest.raises(IntrinsicsError, match="non-finite"):
        intr.as_vec4([np.nan, 1, 1, 1])
    with pytest.raises(IntrinsicsError, match="positive"):
        intr.as_vec4([-1.0, 1, 1, 1])


def test_fit_truncates_broadcasts_and_interpolates_like_the_official_script():
    rows = np.array([[100.0, 100, 50, 40], [200.0, 300, 60, 50]])
    assert np.array_equal(intr.fit_to_frames(np.tile(rows[:1], (7, 1)), 5), np.tile(rows[:1], (5, 1)))
    assert np.array_equal(intr.fit_to_frames(rows[0], 4), np.tile(rows[0], (4, 1)))
    out = intr.fit_to_frames(rows, 5)  # linspace(0,1,2) -> linspace(0,1,5)
    assert np.allclose(out[:, 0], [100, 125, 150, 175, 200])
    assert np.allclose(out[:, 1], [100, 150, 200, 250, 300])
    assert np.array_equal(intr.fit_to_frames(rows, 2), rows)


def test_fov_round_trip_and_hand_values():
    assert intr.focal_to_fov_deg(50.0, 100.0) == pytest.approx(90.0)
    assert intr.fov_deg_to_focal(90.0, 100.0) == pytest.approx(50.0)
    f = intr.fov_deg_to_focal(np.array([30.0, 60.0, 100.0]), 1280)
    assert np.allclose(intr.focal_to_fov_deg(f, 1280), [30.0, 60.0, 100.0])
    assert np.allclose(intr.from_fov(1280, 704, fov_x_deg=90.0), [640.0, 640.0, 640.0, 352.0])
    with pytest.raises(IntrinsicsError):
        intr.fov_deg_to_focal(180.0, 10)
    with pytest.raises(IntrinsicsError, match="exactly one"):
        intr.from_fov(10, 10)


def test_fov_check_is_exclusive_and_overridable():
    good = intr.from_fov(1280, 704, fov_x_deg=60.0)
    intr.check_fov(good, 1280, 704)
    wide = intr.from_fov(1280, 704, fov_x_deg=130.0)
    with pytest.raises(FOVOutOfRangeError, match="horizontal FOV of 130.0"):
        intr.check_fov(wide, 1280, 704)
    intr.check_fov(wide, 1280, 704, allow_out_of_range=True)
    narrow_v = np.array([2000.0, 2000.0, 640.0, 352.0])  # vertical FOV ~ 20 deg
    with pytest.raises(FOVOutOfRangeError, match="vertical"):
        intr.check_fov(narrow_v, 1280, 704)
    assert intr.focal_to_fov_deg(50.0, 100.0) == 90.0  # exactly on the bound below
    with pytest.raises(FOVOutOfRangeError):
        intr.check_fov([50.0, 50.0, 50.0, 50.0], 100, 100, fov_range=(25.0, 90.0))


@pytest.mark.parametrize("src", [(1920, 1080), (640, 480), (1000, 1000), (1280, 704), (300, 900)])
def test_resize_crop_plan_and_intrinsics_match_diffusers(src):
    from PIL import Image

    plan = intr.plan_resize_crop(src, (1280, 704))
    _, src_size, resized, offset = cam_utils.resize_and_center_crop(Image.new("RGB", src), 704, 1280)
    assert (plan.src, plan.resized, plan.offset) == (src_size, resized, offset)
    k = np.array([[0.8 * src[0], 0.9 * src[0], 0.47 * src[0], 0.52 * src[1]]])
    ours = intr.apply_crop(k, plan)
    ref = cam_utils.transform_intrinsics_for_crop(k.copy(), src_size, resized, offset)
    assert np.allclose(ours, ref, atol=1e-9)


def test_crop_hand_computed():
    plan = intr.plan_resize_crop((1920, 1080), (1280, 704))
    # scale = max(704/1080, 1280/1920) = 0.6667 -> 1280 x 720, crop top 8
    assert plan.resized == (1280, 720) and plan.offset == (0, 8)
    out = intr.apply_crop([960.0, 960.0, 960.0, 540.0], plan)
    assert np.allclose(out, [[640.0, 640.0, 640.0, 352.0]])


def test_scale_to_latent_grid():
    out = intr.scale_to_grid([640.0, 640.0, 640.0, 352.0], (1280, 704), (40, 22))
    assert np.allclose(out, [[20.0, 20.0, 20.0, 11.0]])


@pytest.mark.parametrize("src, target", [((1920, 1080), (1280, 704)), ((640, 480), (320, 176)), ((300, 900), (64, 32))])
def test_undo_crop_inverts_apply_crop(src, target):
    plan = intr.plan_resize_crop(src, target)
    k = np.array([[700.0, 710.0, 300.0, 200.0], [500.0, 500.0, 100.0, 50.0]])
    assert np.allclose(intr.undo_crop(intr.apply_crop(k, plan), plan), k)
