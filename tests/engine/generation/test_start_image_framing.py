"""Framing a start image before the model's resize (a placed crop or a letterbox), and the one-line account of the
official resize + centre crop that ``sana-wm generate`` prints (issue 18, item 6)."""

from __future__ import annotations

import numpy as np
import pytest

from engine.camera.intrinsics import plan_resize_crop
from engine.errors import SanaWMInputError
from engine.generation.start_image import describe_fit, frame_image, frame_on, framed_intrinsics, prepare_start_frame


def portrait() -> np.ndarray:
    """512 x 600, each row and column numbered in the red and green channels (so a crop's place can be read)."""
    y, x = np.mgrid[0:600, 0:512]
    return np.stack([x % 256, y % 256, np.full_like(x, 77)], -1).astype(np.uint8)


def test_the_default_framing_is_the_official_centre_crop_and_leaves_the_image_alone():
    image = portrait()
    framing = frame_on((512, 600), (320, 176))
    assert framing.centred_crop and not framing.letterboxed
    assert frame_image(image, framing) is image  # so the default start stays bit-identical
    np.testing.assert_array_equal(framed_intrinsics([400, 400, 256, 300], framing), [400, 400, 256, 300])


def test_a_crop_placed_at_the_top_keeps_the_top_rows_and_moves_the_principal_point():
    image = portrait()
    framing = frame_on((512, 600), (320, 176), position=0.0)
    assert framing.box == (0, 0, 512, 282)  # 512 * 176 / 320 = 281.6 rows of the frame's aspect
    out = frame_image(image, framing)
    assert out.shape == (282, 512, 3) and out[0, 0, 1] == 0 and out[-1, 0, 1] == 281 % 256
    bottom = frame_on((512, 600), (320, 176), position=1.0)
    assert bottom.box[1] == 600 - 282 and frame_image(image, bottom)[-1, 0, 1] == 599 % 256
    intr = framed_intrinsics([400, 400, 256, 300], bottom)
    np.testing.assert_allclose(intr, [400, 400, 256, 300 - 318])


def test_a_letterbox_keeps_the_whole_picture_on_black_bars_with_the_point_shifted():
    image = portrait()
    framing = frame_on((512, 600), (320, 176), letterbox=True)
    left, top, w, h = framing.box
    assert framing.letterboxed and (top, h) == (0, 600) and w == round(600 * 320 / 176) and left == -((w - 512) // 2)
    out = frame_image(image, framing)
    assert out.shape == (600, w, 3)
    np.testing.assert_array_equal(out[:, -left : -left + 512], image)
    assert out[:, : -left].max() == 0 and out[:, -left + 512 :].max() == 0
    np.testing.assert_allclose(framed_intrinsics([400, 400, 256, 300], framing), [400, 400, 256 - left, 300])
    # after framing, the model's resize only scales: the picture's centre stays the frame's centre
    frame, k = prepare_start_frame(out, (320, 176), framed_intrinsics([400, 400, 256, 300], framing))
    assert frame.shape == (176, 320, 3) and k[2] == pytest.approx(160, abs=0.5) and k[3] == pytest.approx(88, abs=0.5)


def test_framing_refuses_a_position_outside_the_image_and_a_foreign_image():
    with pytest.raises(SanaWMInputError, match=r"crop position: expected a fraction in \[0, 1\], found 1.5"):
        frame_on((512, 600), (320, 176), position=1.5)
    with pytest.raises(SanaWMInputError, match="framing: made for a 512x600 image, found 600x512"):
        frame_image(np.zeros((512, 600, 3), np.uint8), frame_on((512, 600), (320, 176), position=0))


@pytest.mark.parametrize(
    ("src", "expected"),
    [((640, 360), "640x360 resized to 320x180 and centre-cropped to 320x176, the model's frame size (4 rows cut at "
                  "the top and bottom: 2% of the picture)"),
     ((512, 600), "512x600 resized to 320x375 and centre-cropped to 320x176, the model's frame size (199 rows cut at "
                  "the top and bottom: 53% of the picture)"),
     ((640, 352), "640x352 resized to 320x176, the model's frame size"),
     ((320, 176), "320x176, the model's frame size: used as it is")],
)
def test_describe_fit_says_what_the_official_resize_and_crop_do(src, expected):
    assert describe_fit(src, (320, 176)) == expected
    plan = plan_resize_crop(src, (320, 176))  # the sentence's numbers are the plan's
    assert f"{plan.resized[0]}x{plan.resized[1]}" in expected
