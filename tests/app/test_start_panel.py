"""The start panel: image, demos, field of view / intrinsics, model and seed become StartSettings."""

from __future__ import annotations

import math

import numpy as np
import pytest
from PySide6.QtCore import QSettings

from app.settings import AppSettings
from app.start_panel import FOV_DEFAULT, FOV_EXPLICIT, FOV_VERTICAL, StartPanel, vertical_fov_intrinsics
from engine.io.demos import load_demo
from engine.errors import SanaWMInputError


@pytest.fixture
def panel(qtbot, tmp_path):
    made = StartPanel(AppSettings(QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat)))
    qtbot.addWidget(made)
    return made


def test_no_image_is_an_error_signal(qtbot, panel):
    with qtbot.waitSignal(panel.error) as err:
        panel.request_start()
    assert "expected an image" in err.args[0]


def test_an_unreadable_image_is_reported_and_the_previous_one_kept(qtbot, panel, tmp_path, start_image):
    panel.set_image(start_image, name="a.png")
    bad = tmp_path / "bad.png"
    bad.write_text("not an image")
    with qtbot.waitSignal(panel.error) as err:
        assert not panel.set_image(bad)
    assert "could not read" in err.args[0] and panel.image_name == "a.png"


def test_vertical_fov_becomes_intrinsics_in_pixels_of_the_image(panel, start_image):
    fx, fy, cx, cy = vertical_fov_intrinsics(90.0, 120, 80)
    assert fy == pytest.approx(40.0) and fx == fy and (cx, cy) == (60, 40)
    panel.set_image(start_image)
    panel.fov_mode.setCurrentIndex(FOV_VERTICAL)
    panel.vfov.setValue(60.0)
    f = 40.0 / math.tan(math.radians(30))
    assert panel.start_settings().intrinsics == pytest.approx((f, f, 60.0, 40.0))
    panel.fov_mode.setCurrentIndex(FOV_DEFAULT)
    assert panel.start_settings().intrinsics is None
    with pytest.raises(SanaWMInputError, match="expected degrees"):
        vertical_fov_intrinsics(180.0, 10, 10)


def test_a_demo_fills_image_intrinsics_and_suggested_action(qtbot, panel):
    assert "meadow_stroll" in panel.demo_names
    with qtbot.waitSignal(panel.demo_selected):
        panel.demo_box.setCurrentIndex(panel.demo_box.findData("meadow_stroll"))
    demo = load_demo("meadow_stroll")
    settings = panel.start_settings()
    assert settings.image.shape == (352, 640, 3) and settings.image_name == "meadow_stroll.png"
    assert settings.intrinsics == pytest.approx(tuple(demo.intrinsics), rel=1e-4)  # spin boxes keep 2 decimals
    assert panel.fov_mode.currentIndex() == FOV_EXPLICIT and demo.action in panel.action_label.text()
    assert settings.extras == {"demo": "meadow_stroll", "suggested_action": demo.action}
    assert not panel.select_demo("atlantis")


def test_a_reopened_demo_session_shows_its_demo_and_suggested_path(qtbot, panel, tmp_path):
    panel.select_demo("meadow_stroll")
    saved = panel.start_settings()
    reopened = StartPanel(AppSettings(QSettings(str(tmp_path / "t.ini"), QSettings.Format.IniFormat)))
    qtbot.addWidget(reopened)
    reopened.load_settings(saved)
    assert reopened.demo_box.currentData() == "meadow_stroll"  # not "(none)"
    assert load_demo("meadow_stroll").action in reopened.action_label.text()
    assert reopened.start_settings().extras == saved.extras  # saving again keeps them
    assert reopened.start_settings().intrinsics == pytest.approx(saved.intrinsics)


def test_start_emits_settings_with_prompt_model_and_seed(qtbot, panel, start_image):
    panel.set_image(start_image, name="grad.png")
    panel.prompt.setPlainText("  a quiet street  ")
    panel.model_edit.setText("/models/SANA-WM_streaming")
    panel.seed.setValue(7)
    panel.fov_mode.setCurrentIndex(FOV_EXPLICIT)
    for box, v in zip((panel.fx, panel.fy, panel.cx, panel.cy), (100, 101, 60, 40)):
        box.setValue(v)
    with qtbot.waitSignal(panel.start_requested) as sent:
        panel.start_button.click()
    s = sent.args[0]
    assert (s.prompt, s.model, s.seed, s.image_name) == ("a quiet street", "/models/SANA-WM_streaming", 7, "grad.png")
    assert s.intrinsics == (100, 101, 60, 40) and np.array_equal(s.image, start_image)
    panel.load_settings(s.__class__(image=start_image, prompt="p", seed=3))
    assert panel.fov_mode.currentIndex() == FOV_DEFAULT and panel.seed.value() == 3 and panel.model_edit.text() == ""


def test_the_gpu_memory_tier_is_offered_and_remembered(panel):
    assert [panel.memory_box.itemText(i) for i in range(panel.memory_box.count())] == ["auto", "full", "balanced", "low"]
    panel.memory_box.setCurrentText("balanced")
    assert panel.app_settings.memory() == "balanced"
