"""The take player: play / pause / scrub the current take at 16 fps in the viewport (Space, the slider's arrow
keys), live frames back when generation starts, and the frames kept in view in path mode (issue 18, item 8)."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt

from app.main_window import DRIVE_MODE, PATH_MODE
from app.player import clock


def test_clock_reads_frames_as_video_time():
    assert clock(0) == "0:00.0" and clock(24) == "0:01.5" and clock(16 * 61) == "1:01.0"


def test_the_player_plays_and_scrubs_the_take_in_the_viewport(qtbot, driver, make_window, start_image):
    window = make_window()
    assert not window.player.isEnabled() and not window.act_play.isEnabled()
    driver.start(window, start_image)
    first = driver.step(window, "w")
    second = driver.step(window, "w")
    window.drive.clear_held()
    player = window.player
    n = first.frames.shape[0] + second.frames.shape[0]
    assert player.isEnabled() and window.act_play.isEnabled() and player.num_frames == n
    player.seek(first.frames.shape[0] + 3)  # scrubbing shows that very frame of the take
    assert window.viewport.reviewing and window.viewport.hud_chunk == 1
    np.testing.assert_array_equal(_shown(window), second.frames[3])
    player.slider.setFocus()
    qtbot.keyClick(player.slider, Qt.Key.Key_Left)  # one frame back
    np.testing.assert_array_equal(_shown(window), second.frames[2])
    qtbot.keyClick(player.slider, Qt.Key.Key_Home)
    np.testing.assert_array_equal(_shown(window), first.frames[0])
    window.act_play.trigger()  # Space
    assert player.playing and player.timer.interval() == round(1000 / 16)
    qtbot.waitUntil(lambda: player.position >= 5, timeout=5000)
    window.act_play.trigger()
    assert not player.playing
    at = player.position
    qtbot.wait(200)
    assert player.position == at  # paused
    player.play()
    qtbot.waitUntil(lambda: not player.playing, timeout=10000)  # stops at the end of the take
    assert player.position == n - 1
    np.testing.assert_array_equal(_shown(window), second.frames[-1])


def test_space_is_the_play_shortcut_and_generating_ends_the_review(qtbot, driver, make_window, start_image):
    window = make_window()
    driver.start(window, start_image)
    driver.step(window, "w")
    assert window.act_play.shortcut().toString() == "Space"
    window.player.seek(0)
    assert window.viewport.reviewing
    record = driver.step(window, "w")  # a new chunk: the live frames show again
    assert not window.viewport.reviewing and not window.player.playing
    assert window.player.num_frames == len(window.project.frames()) and record.index == 1


def test_path_mode_keeps_the_frames_in_view_while_a_path_is_generated(qtbot, driver, make_window, start_image):
    window = make_window()
    driver.start(window, start_image)
    window.set_mode(PATH_MODE)
    assert window.pip.isVisible()  # the start image until the first chunk plays
    window.generate_path()
    qtbot.waitUntil(lambda: window.viewport.hud_chunk is not None and window.pip.caption.startswith("chunk"),
                    timeout=30000)  # fmt: skip
    assert window.pip.image is window.viewport.image and window.pip.isVisible()
    geometry, host = window.pip.geometry(), window.path_editor.rect()
    assert host.contains(geometry) and geometry.width() < host.width() / 2
    window.cancel()
    driver.idle(window)
    window.set_mode(DRIVE_MODE)
    assert not window.pip.isVisible()


def _shown(window) -> np.ndarray:
    image = window.viewport.image
    ptr = image.constBits()
    return np.frombuffer(ptr, np.uint8).reshape(image.height(), image.bytesPerLine())[:, : 3 * image.width()].reshape(
        image.height(), image.width(), 3)  # fmt: skip
