"""Start images: loading, the official cover-resize + centre crop, intrinsics carried along."""

import numpy as np
import pytest
from PIL import Image

from engine.errors import InputFileError, SanaWMInputError
from engine.generation.start_image import fit_image, load_image, prepare_start_frame


def test_loads_paths_pil_images_and_arrays_as_rgb(tmp_path):
    rgba = np.zeros((4, 6, 4), dtype=np.uint8)
    rgba[..., 0] = 200
    Image.fromarray(rgba).save(tmp_path / "a.png")
    for source in (tmp_path / "a.png", str(tmp_path / "a.png"), Image.fromarray(rgba), rgba, rgba[..., 0]):
        img = load_image(source)
        assert img.shape == (4, 6, 3) and img.dtype == np.uint8
    assert load_image(rgba)[0, 0, 0] == 200


def test_wider_image_is_cropped_left_and_right_and_intrinsics_follow():
    image = np.zeros((100, 400, 3), dtype=np.uint8)
    image[:, 195:205] = 255  # a bright bar at the centre column
    frame, intr = prepare_start_frame(image, (64, 32), np.array([200.0, 200.0, 200.0, 50.0]))
    assert frame.shape == (32, 64, 3)
    # scale 0.32 (height decides) -> 128 x 32, crop 32 px on the left
    assert np.allclose(intr, [64.0, 64.0, 200 * 0.32 - 32, 50 * 0.32])
    bar = frame[16].mean(-1)
    assert abs(int(np.argmax(bar)) - intr[2]) <= 2  # the principal point still sits on the bar


def test_exact_size_is_passed_through_untouched():
    image = np.random.default_rng(0).integers(0, 256, (32, 64, 3), dtype=np.uint8)
    frame, plan = fit_image(image, (64, 32))
    assert frame is image and plan.offset == (0, 0)


@pytest.mark.parametrize(
    "source, error, message",
    [
        ("/no/such/file.png", InputFileError, "no file"),
        (np.zeros((4, 4, 3), dtype=np.float32), SanaWMInputError, "uint8"),
        (np.zeros((4, 4, 2), dtype=np.uint8), SanaWMInputError, "uint8 array"),
    ],
)
def test_bad_images_name_the_problem(source, error, message):
    with pytest.raises(error, match=message):
        load_image(source)


def test_unreadable_file_is_reported(tmp_path):
    bad = tmp_path / "x.png"
    bad.write_text("not an image")
    with pytest.raises(InputFileError, match="could not read"):
        load_image(bad)
