"""The `sana-wm-explorer` entry point: --help, the no-display message, argument checks, a scripted screenshot run."""

from __future__ import annotations

import pytest

from app import main as entry
from app.main import NO_DISPLAY, has_display, main


def test_help_lists_the_options(capsys):
    with pytest.raises(SystemExit) as stop:
        main(["--help"])
    assert stop.value.code == 0
    out = capsys.readouterr().out
    for option in ("--demo", "--model", "--image", "--session", "--screenshot", "--after-chunks",
                   "--quit-after-first-frame"):  # fmt: skip
        assert option in out


def test_without_a_display_it_says_how_to_run_it_and_exits_2(monkeypatch, capsys):
    for name in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(entry.sys, "platform", "linux")
    assert main([]) == 2
    err = capsys.readouterr().err.strip()
    assert err == NO_DISPLAY and "QT_QPA_PLATFORM=offscreen" in err and "Xvfb" in err and "\n" not in err


def test_has_display_reads_the_environment():
    assert not has_display({}, "linux")
    assert has_display({"DISPLAY": ":0"}, "linux") and has_display({"WAYLAND_DISPLAY": "wayland-0"}, "linux")
    assert has_display({"QT_QPA_PLATFORM": "offscreen"}, "linux")
    assert has_display({}, "darwin") and has_display({}, "win32")


def test_scripted_runs_need_a_world_to_start(capsys):
    assert main(["--screenshot", "x.png"]) == 2
    assert "need --demo, --image or --session" in capsys.readouterr().err
    assert main(["--demo", "meadow_stroll", "--after-chunks", "0", "--screenshot", "x.png"]) == 2


def test_screenshot_run_drives_forward_saves_the_window_and_quits(qtbot, tmp_path, tiny_bundle, monkeypatch, capsys):
    """The README screenshot command end to end, on the tiny model (the embedded one is too slow for a unit test)."""
    from app import main_window

    real_init = main_window.MainWindow.__init__

    def tiny_init(self, settings=None, bundle_factory=None):
        real_init(self, settings, lambda source: tiny_bundle)

    monkeypatch.setattr(main_window.MainWindow, "__init__", tiny_init)
    shot = tmp_path / "shots" / "drive.png"
    assert main(["--demo", "meadow_stroll", "--screenshot", str(shot), "--after-chunks", "2"]) == 0
    assert shot.is_file() and shot.stat().st_size > 1000
    assert f"screenshot: {shot}" in capsys.readouterr().out
    from PySide6.QtGui import QImage

    image = QImage(str(shot))
    assert image.width() > 300 and image.height() > 200


def test_unknown_demo_is_a_one_line_error(capsys):
    assert main(["--demo", "atlantis"]) == 2
    assert "no such demo scene" in capsys.readouterr().err


def test_a_bad_model_folder_in_a_scripted_run_is_a_one_line_error_and_exit_2(tmp_path, capsys):
    missing = tmp_path / "no-model"
    assert main(["--demo", "meadow_stroll", "--model", str(missing), "--quit-after-first-frame"]) == 2
    err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("sana-wm-explorer")]
    assert err == [f"sana-wm-explorer: --model {missing}: expected a model folder, found nothing at that path"]


def test_a_missing_image_is_a_one_line_error_and_exit_2(tmp_path, capsys):
    assert main(["--image", str(tmp_path / "none.png"), "--screenshot", str(tmp_path / "s.png")]) == 2
    assert "expected an image file, found no file" in capsys.readouterr().err
