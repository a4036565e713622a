"""The sharp-decode probe (``python -m engine.eval.sharp_probe``): its pulse measure, and bad flags end in one
``error:`` line naming the flag before anything is loaded."""

from __future__ import annotations

import numpy as np
import pytest

from engine.eval.sharp_probe import between_over_key


def stripes(n: int, contrast: float) -> np.ndarray:
    x = np.arange(32)
    frame = (128 + contrast * np.sign(np.sin(x * 1.3)))[None, :, None].repeat(16, 0).repeat(3, 2)
    return np.repeat(frame[None], n, 0).clip(0, 255).astype(np.uint8)


def test_the_pulse_is_one_for_even_sharpness_and_below_for_soft_frames_between_key_frames():
    truth = stripes(25, 60)
    assert between_over_key(truth, truth) == pytest.approx(1.0)
    pulsing = truth.copy()
    soft = np.arange(25) % 8 != 0
    pulsing[soft] = stripes(int(soft.sum()), 30)
    assert between_over_key(pulsing, truth) == pytest.approx(0.5, abs=0.02)


@pytest.mark.parametrize("flags, message", [
    (["--horizons", "1,x"], "--horizons: expected seconds"),
    (["--variants", "[1]"], "--variants: expected a JSON object"),
    (["--variants", '{"a": {"sharp_decode": 9}}'], "--variants a: sharp_decode: expected one of 1, 2, 3, found 9"),
    (["--variants", '{"a": {"sampling": "nearest"}}'], "--variants a: sharp settings sampling: expected"),
    (["--variants", '{"a": {"gamma": 1}}'], "--variants a: expected null or an object with keys among"),
])  # fmt: skip
def test_bad_flags_are_one_error_line(flags, message, refused_flags):
    assert message in refused_flags("engine.eval.sharp_probe", *flags)
