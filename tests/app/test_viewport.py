"""The viewport: letterboxed frames, HUD text, placeholder, playback from the display queue, image drops."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QMimeData, QPoint, QPointF, QRect, Qt, QUrl
from PySide6.QtGui import QDropEvent

from app.display_queue import DisplayFrame, DisplayQueue
from app.viewport import Viewport, dropped_image, letterbox, to_qimage


def test_letterbox_keeps_the_aspect_and_centres():
    r = letterbox((320, 176), QRect(0, 0, 640, 640))
    assert (r.width(), r.height()) == (640, 352) and r.y() == (640 - 352) / 2 and r.x() == 0
    r = letterbox((100, 100), QRect(10, 0, 400, 200))
    assert (r.width(), r.height(), r.x()) == (200, 200, 110)


def test_to_qimage_copies_pixels_and_rejects_other_arrays():
    frame = np.zeros((4, 6, 3), np.uint8)
    frame[1, 2] = (255, 10, 20)
    image = to_qimage(frame)
    assert (image.width(), image.height()) == (6, 4) and image.pixelColor(2, 1).getRgb()[:3] == (255, 10, 20)
    frame[1, 2] = 0
    assert image.pixelColor(2, 1).red() == 255  # owns its pixels
    try:
        to_qimage(np.zeros((4, 6), np.uint8))
    except ValueError as exc:
        assert "(H, W, 3) uint8" in str(exc)
    else:
        raise AssertionError("a grey array was accepted")


def test_frames_are_painted_letterboxed_with_black_bars(qtbot):
    view = Viewport()
    qtbot.addWidget(view)
    view.resize(400, 400)
    view.set_frame(np.full((50, 100, 3), 200, np.uint8))
    shot = view.grab().toImage()
    assert shot.pixelColor(200, 200).red() > 150  # the frame in the middle
    assert shot.pixelColor(200, 390).red() < 40  # a bar below it
    assert view.has_frame


def test_hud_text_shows_keys_speed_chunk_and_fps():
    view = Viewport()
    view.set_hud(keys=frozenset("dw"), speed=0.4, fps=12.345)
    view.hud_chunk = 3
    assert view.hud_text() == "keys W D   speed 0.40/s   chunk 3   gen 12.3 fps"
    view.clear()
    assert not view.has_frame and "chunk -" in view.hud_text()


def test_playback_takes_one_frame_per_tick_from_the_queue(qtbot):
    queue = DisplayQueue(8)
    view = Viewport(queue)
    qtbot.addWidget(view)
    view.timer.stop()
    queue.put_many([DisplayFrame(np.full((8, 8, 3), i, np.uint8), 0, i) for i in range(3)])
    shown = []
    view.frame_shown.connect(lambda chunk, frame: shown.append(frame))
    view.play_next()
    view.play_next()
    assert shown == [0, 1] and len(queue) == 1 and view.image.pixelColor(0, 0).red() == 1


def test_dropping_an_image_file_emits_its_path(qtbot, tmp_path):
    path = tmp_path / "drop.png"
    from PIL import Image

    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(path)
    assert dropped_image([str(tmp_path / "notes.txt"), str(path)]) == str(path)
    assert dropped_image([str(tmp_path / "missing.png")]) is None
    view = Viewport()
    qtbot.addWidget(view)
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path))])
    event = QDropEvent(QPointF(5, 5), Qt.DropAction.CopyAction, mime, Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier)
    with qtbot.waitSignal(view.image_dropped) as blocker:
        view.dropEvent(event)
    assert blocker.args == [str(path)]
