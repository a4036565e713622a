"""Pi3X intrinsics estimation: the ray -> pinhole fit, the 255,000-pixel grid rule, and the whole path with a fake
``pi3`` package (the real network and weights are not available here)."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from engine.camera.intrinsics import check_fov, fov_deg
from engine.components import pi3x_intrinsics as p3
from engine.errors import FOVOutOfRangeError, IntrinsicsError, IntrinsicsEstimationError, SanaWMInputError

# ----------------------------------------------------------------------------------------------------------------
# helpers
# ----------------------------------------------------------------------------------------------------------------


def pinhole_rays(width: int, height: int, fx: float, fy: float, cx: float, cy: float, *, seed: int = 0) -> np.ndarray:
    """``(H, W, 3)`` rays through integer pixel coordinates of a pinhole camera, each with a random length."""
    v, u = np.meshgrid(np.arange(height, dtype=np.float64), np.arange(width, dtype=np.float64), indexing="ij")
    rays = np.stack([(u - cx) / fx, (v - cy) / fy, np.ones_like(u)], axis=-1)
    lengths = np.random.default_rng(seed).uniform(0.5, 3.0, size=(height, width, 1))
    return rays * lengths


def gradient_image(width: int, height: int) -> np.ndarray:
    v, u = np.mgrid[0:height, 0:width]
    return np.stack([u * 255 // max(width - 1, 1), v * 255 // max(height - 1, 1), (u * v) % 256], -1).astype(np.uint8)


# ----------------------------------------------------------------------------------------------------------------
# the math
# ----------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("width,height", [(64, 48), (48, 64), (686, 364), (2, 2)])
def test_recover_is_exact_for_pinhole_rays_centred_on_the_integer_grid(width, height):
    fx, fy = 0.9 * width, 1.1 * height
    rays = pinhole_rays(width, height, fx, fy, (width - 1) / 2, (height - 1) / 2)
    got = p3.recover_intrinsics_from_rays(rays, force_center_principal_point=True)
    assert got.dtype == np.float64 and got.shape == (4,)
    np.testing.assert_allclose(got, [fx, fy, (width - 1) / 2, (height - 1) / 2], rtol=1e-9, atol=1e-9)


def test_recover_accepts_a_torch_tensor_and_ignores_ray_lengths():
    rays = pinhole_rays(40, 30, 35.0, 33.0, 19.5, 14.5)
    unit = rays / np.linalg.norm(rays, axis=-1, keepdims=True)
    a = p3.recover_intrinsics_from_rays(torch.from_numpy(unit).float())
    b = p3.recover_intrinsics_from_rays(rays)
    np.testing.assert_allclose(a, [35.0, 33.0, 19.5, 14.5], rtol=1e-5)
    np.testing.assert_allclose(b, [35.0, 33.0, 19.5, 14.5], rtol=1e-9)


def test_forced_principal_point_is_the_integer_grid_centre_not_half_the_size():
    # A camera centred in the half-pixel convention (pixel u covers [u, u+1), cx = W/2) projects pixel u at
    # x = (u + 0.5 - W/2) / f: the same rays as cx = (W-1)/2 on the integer grid, so f is exact and the
    # reported principal point is (W-1)/2, (H-1)/2 (the official convention).
    width, height, f = 50, 30, 40.0
    rays = pinhole_rays(width, height, f, f, width / 2 - 0.5, height / 2 - 0.5)
    got = p3.recover_intrinsics_from_rays(rays)
    assert got[2] == 24.5 and got[3] == 14.5
    np.testing.assert_allclose(got[:2], [f, f], rtol=1e-9)


def test_forced_principal_point_ignores_an_off_centre_camera_while_the_free_fit_recovers_it():
    width, height = 80, 60
    true = [70.0, 65.0, 45.0, 25.0]
    rays = pinhole_rays(width, height, *true)
    forced = p3.recover_intrinsics_from_rays(rays, force_center_principal_point=True)
    free = p3.recover_intrinsics_from_rays(rays, force_center_principal_point=False)
    assert (forced[2], forced[3]) == (39.5, 29.5)
    assert abs(forced[0] - 70.0) > 0.5  # the centred fit is a compromise, not the truth
    np.testing.assert_allclose(free, true, rtol=1e-9)


def test_recover_is_close_on_noisy_rays():
    width, height = 120, 90
    true = np.array([100.0, 95.0, 59.5, 44.5])
    rays = pinhole_rays(width, height, *true)
    rng = np.random.default_rng(7)
    noisy = rays / np.linalg.norm(rays, axis=-1, keepdims=True) + rng.normal(0.0, 0.003, size=rays.shape)
    for forced in (True, False):
        got = p3.recover_intrinsics_from_rays(noisy, force_center_principal_point=forced)
        np.testing.assert_allclose(got[:2], true[:2], rtol=5e-3)
        np.testing.assert_allclose(got[2:], true[2:], atol=1.0)
    assert not np.allclose(p3.recover_intrinsics_from_rays(noisy), true, rtol=1e-9)  # the noise is really there


@pytest.mark.parametrize("shape", [(8, 6), (8, 6, 4), (1, 8, 6, 3), (0, 6, 3), (8, 0, 3)])
def test_recover_rejects_arrays_that_are_not_ray_maps(shape):
    with pytest.raises(IntrinsicsEstimationError, match=r"\(H, W, 3\)"):
        p3.recover_intrinsics_from_rays(np.ones(shape))


def test_recover_rejects_non_finite_and_degenerate_rays():
    rays = pinhole_rays(8, 6, 5.0, 5.0, 3.5, 2.5)
    rays[2, 3, 0] = np.nan
    with pytest.raises(IntrinsicsEstimationError, match="non-finite"):
        p3.recover_intrinsics_from_rays(rays)
    on_axis = np.zeros((6, 8, 3))
    on_axis[..., 2] = 1.0
    with pytest.raises(IntrinsicsEstimationError, match="x = 0"):
        p3.recover_intrinsics_from_rays(on_axis)
    one_column = pinhole_rays(1, 6, 5.0, 5.0, 0.0, 2.5)
    with pytest.raises(IntrinsicsEstimationError, match="does not vary"):
        p3.recover_intrinsics_from_rays(one_column, force_center_principal_point=False)


# ----------------------------------------------------------------------------------------------------------------
# the grid Pi3X sees
# ----------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "size,expected",
    [
        # s = sqrt(255000 / (W H)); k = round(W s / 14), m = round(H s / 14); shrink the relatively longer side
        ((1280, 704), (686, 364)),  # k, m = 49, 27 -> 259,308 px; 49/27 < 1280/704 -> m = 26: 249,704
        ((640, 480), (574, 434)),  # k, m = 42, 31 -> 255,192 px; 42/31 > 4/3 -> k = 41: 249,116
        ((1000, 1000), (504, 504)),  # k = m = round(36.07) = 36: 254,016 px, no shrinking
        ((100, 50), (714, 350)),  # upscaled: k, m = round(51.01), round(25.505) = 51, 26 -> 259,896; m = 25
        ((720, 1280), (378, 672)),  # k, m = round(27.05), round(48.09) = 27, 48: 254,016 px
        ((4000, 1000), (1008, 252)),  # k, m = round(72.14), round(18.04) = 72, 18: 254,016 px
    ],
)
def test_input_size_follows_the_official_rule(size, expected):
    assert p3.pi3x_input_size(*size) == expected


@pytest.mark.parametrize("width", [31, 97, 333, 640, 1023, 1920, 3001])
@pytest.mark.parametrize("height", [29, 101, 480, 1080, 2160])
def test_input_size_is_a_patch_grid_under_the_limit_with_the_image_aspect(width, height):
    w, h = p3.pi3x_input_size(width, height)
    assert w % 14 == 0 and h % 14 == 0 and w * h <= 255_000
    assert w * h > 0.8 * 255_000  # close to the budget, up or down scaled
    assert abs(math.log((w / h) / (width / height))) < math.log(1 + 2 * 14 / min(w, h))


def test_input_size_rejects_an_empty_image():
    with pytest.raises(IntrinsicsEstimationError, match="positive size"):
        p3.pi3x_input_size(0, 10)


def test_resize_is_lanczos_to_the_input_size():
    image = gradient_image(200, 120)
    out = p3.resize_for_pi3x(image)
    assert out.dtype == np.uint8 and out.shape == (392, 644, 3)  # k, m = 47, 28 -> 257,936 px; 47/28 > 5/3 -> k = 46
    pil = Image.fromarray(image)
    np.testing.assert_array_equal(out, np.asarray(pil.resize((644, 392), Image.Resampling.LANCZOS)))
    assert not np.array_equal(out, np.asarray(pil.resize((644, 392), Image.Resampling.BILINEAR)))


@pytest.mark.parametrize("bad", [np.zeros((10, 10, 3), np.float32), np.zeros((10, 10), np.uint8), [[0]]])
def test_resize_rejects_what_is_not_a_uint8_rgb_image(bad):
    with pytest.raises(IntrinsicsEstimationError, match=r"uint8 RGB array of shape \(H, W, 3\)"):
        p3.resize_for_pi3x(bad)


# ----------------------------------------------------------------------------------------------------------------
# the whole path, with the fake network
# ----------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "size,grid",
    [((640, 480), (574, 434)), ((100, 50), (714, 350)), ((720, 1280), (378, 672))],
)
def test_estimate_resizes_runs_recovers_and_rescales_to_the_image(fake_pi3, weights, blocked_network, size, grid):
    image = gradient_image(*size)
    path_before = list(sys.path)
    vec = p3.estimate_intrinsics(image, weights)

    (width, height), (w, h) = size, grid
    tan_x = math.tan(math.radians(fake_pi3.FOV_X_DEG) / 2)
    tan_y = math.tan(math.radians(fake_pi3.FOV_Y_DEG) / 2)
    expected = [width / (2 * tan_x), height / (2 * tan_y), (w - 1) / 2 * width / w, (h - 1) / 2 * height / h]
    assert vec.shape == (4,) and vec.dtype == np.float64
    np.testing.assert_allclose(vec, expected, rtol=2e-6)
    fx_deg, fy_deg = fov_deg(vec, width, height)
    np.testing.assert_allclose([fx_deg[0], fy_deg[0]], [70.0, 50.0], rtol=1e-5)

    loads = [c for c in fake_pi3.CALLS if c[0] == "from_pretrained"]
    assert loads == [("from_pretrained", str(weights.resolve()), {"local_files_only": True})]
    assert ("disable_multimodal",) in fake_pi3.CALLS
    (_, imgs, training, multimodal, kwargs) = next(c for c in fake_pi3.CALLS if c[0] == "forward")
    assert not training and not multimodal and kwargs == {}
    assert imgs.shape == (1, 1, 3, h, w) and imgs.dtype == torch.float32
    lanczos = np.asarray(Image.fromarray(image).resize((w, h), Image.Resampling.LANCZOS))
    np.testing.assert_array_equal(imgs[0, 0].permute(1, 2, 0).numpy(), lanczos.astype(np.float32) / 255.0)
    assert blocked_network == [] and sys.path == path_before


def test_estimate_result_goes_through_the_callers_fov_check(fake_pi3, weights):
    fake_pi3.FOV_X_DEG = 130.0  # a failed estimate: the official script aborts
    vec = p3.estimate_intrinsics(gradient_image(64, 48), weights)
    with pytest.raises(FOVOutOfRangeError, match="horizontal FOV of 130.0"):
        check_fov(vec, 64, 48)


@pytest.mark.parametrize("point_at", ["checkout", "package"])
def test_estimate_imports_pi3_from_a_checkout_folder_and_leaves_sys_path_alone(no_pi3, weights, pi3_checkout,
                                                                                 point_at):
    checkout = pi3_checkout
    models = checkout / "pi3" / "models"
    folder = checkout if point_at == "checkout" else checkout / "pi3"
    with pytest.raises(IntrinsicsEstimationError, match="cannot import pi3.models.pi3x"):
        p3.estimate_intrinsics(gradient_image(64, 48), weights)  # not importable without the folder
    vec = p3.estimate_intrinsics(gradient_image(64, 48), weights, pi3_code=folder)
    module = sys.modules["pi3.models.pi3x"]
    assert Path(module.__file__).resolve() == (models / "pi3x.py").resolve()
    np.testing.assert_allclose(fov_deg(vec, 64, 48)[0], [70.0], rtol=1e-5)
    assert str(checkout) not in sys.path


def test_missing_pi3_package_says_how_to_provide_it(no_pi3, weights):
    with pytest.raises(IntrinsicsEstimationError) as info:
        p3.estimate_intrinsics(gradient_image(64, 48), weights)
    message = str(info.value)
    assert "pi3.models.pi3x" in message and "https://github.com/yyfz/Pi3" in message
    assert "pip install" in message and "--pi3-code" in message and "--intrinsics" in message
    assert isinstance(info.value, IntrinsicsError) and isinstance(info.value, SanaWMInputError)


def test_pi3_code_folder_without_the_package_is_named(no_pi3, weights, tmp_path):
    with pytest.raises(IntrinsicsEstimationError, match=r"Pi3 code: folder .*empty does not exist; .*pi3x\.py"):
        p3.estimate_intrinsics(gradient_image(64, 48), weights, pi3_code=tmp_path / "empty")
    (tmp_path / "empty").mkdir()
    with pytest.raises(IntrinsicsEstimationError, match=r"empty does not hold pi3/models/pi3x\.py"):
        p3.estimate_intrinsics(gradient_image(64, 48), weights, pi3_code=tmp_path / "empty")


def test_a_missing_dependency_of_the_pi3_code_is_named(no_pi3, weights, tmp_path):
    models = tmp_path / "Pi3" / "pi3" / "models"
    models.mkdir(parents=True)
    (models.parent / "__init__.py").write_text("")
    (models / "__init__.py").write_text("")
    (models / "pi3x.py").write_text("import sana_wm_missing_dependency_for_test\n")
    with pytest.raises(IntrinsicsEstimationError, match="needs module 'sana_wm_missing_dependency_for_test'"):
        p3.estimate_intrinsics(gradient_image(64, 48), weights, pi3_code=tmp_path / "Pi3")


@pytest.mark.parametrize("state", ["no folder", "empty folder", "config only", "empty weights file"])
def test_missing_or_empty_weights_folder_names_folder_and_file_and_loads_nothing(fake_pi3, tmp_path, state):
    folder = tmp_path / "Pi3X"
    if state != "no folder":
        folder.mkdir()
    if state == "config only":
        (folder / "config.json").write_text("{}")
    if state == "empty weights file":
        (folder / "model.safetensors").write_bytes(b"")
    with pytest.raises(IntrinsicsEstimationError) as info:
        p3.estimate_intrinsics(gradient_image(64, 48), folder)
    message = str(info.value)
    assert str(folder.resolve()) in message and "model.safetensors" in message and "yyfz233/Pi3X" in message
    assert "nothing is downloaded" in message
    assert fake_pi3.CALLS == []  # from_pretrained would read a missing folder's name as a Hub repo id


def test_unreadable_weights_are_reported_with_the_file(fake_pi3, weights, monkeypatch):
    def broken(cls, path, **kwargs):
        raise OSError("header too large")

    monkeypatch.setattr(fake_pi3.Pi3X, "from_pretrained", classmethod(broken))
    with pytest.raises(IntrinsicsEstimationError, match=r"cannot load .*model\.safetensors .*header too large"):
        p3.estimate_intrinsics(gradient_image(64, 48), weights)


def test_an_output_without_local_points_is_reported(fake_pi3, weights):
    fake_pi3.OUTPUT_KEYS = ("rays", "conf")
    with pytest.raises(IntrinsicsEstimationError, match=r"'local_points' of shape \(1, 1, 434, 574, 3\)"):
        p3.estimate_intrinsics(gradient_image(640, 480), weights)
