"""The viewport: the live generated frames, letterboxed to keep their aspect, with a small HUD.

It plays frames from the engine's :class:`~app.display_queue.DisplayQueue` at the video frame rate (one per tick of
its own timer), so a chunk that arrives in one burst is shown as 1.5 s of video, not as a flash of its last frame.
The HUD shows the keys held, the camera's speed, the chunk on screen and how fast the engine generates. With nothing
loaded it shows a hint; an image file dropped on it is announced by :attr:`Viewport.image_dropped`.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from PySide6.QtCore import QPoint, QRect, QRectF, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QDragEnterEvent, QDropEvent, QFont, QImage, QPainter, QPaintEvent
from PySide6.QtWidgets import QSizePolicy, QWidget

from app.display_queue import DisplayQueue

#: File suffixes accepted by drag and drop (what PIL reads for start images).
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff")
PLACEHOLDER = "Open an image or pick a demo scene, then press Start.\nDrop an image here to open it."


def to_qimage(frame: np.ndarray) -> QImage:
    """``(H, W, 3)`` uint8 RGB -> a QImage that owns its pixels."""
    if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
        raise ValueError(f"frame: expected (H, W, 3) uint8, found {frame.shape} {frame.dtype}")
    frame = np.ascontiguousarray(frame)
    h, w, _ = frame.shape
    return QImage(frame.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()


def letterbox(image_size: tuple[int, int], area: QRect) -> QRectF:
    """The largest rectangle of the image's aspect ratio centred in ``area`` (``image_size`` is (width, height))."""
    w, h = image_size
    scale = min(area.width() / w, area.height() / h)
    sw, sh = w * scale, h * scale
    return QRectF(area.x() + (area.width() - sw) / 2, area.y() + (area.height() - sh) / 2, sw, sh)


def dropped_image(paths: list[str]) -> str | None:
    """The first local image file among dropped paths (None when there is none)."""
    for p in paths:
        if p and Path(p).suffix.lower() in IMAGE_SUFFIXES and Path(p).is_file():
            return p
    return None


class Viewport(QWidget):
    """Shows frames and the HUD (see the module docstring)."""

    image_dropped = Signal(str)
    frame_shown = Signal(int, int)  # chunk, pixel frame of the stream
    image_changed = Signal()  # any new picture (live, a take frame, a rewind): the picture-in-picture follows

    def __init__(self, display: DisplayQueue | None = None, fps: float = 16.0, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAcceptDrops(True)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumSize(320, 200)
        self.display = display
        self._image: QImage | None = None
        self._placeholder = PLACEHOLDER
        self.hud_keys: frozenset[str] = frozenset()
        self.hud_speed = 0.0
        self.hud_chunk: int | None = None
        self.hud_fps: float | None = None
        self.hud_note = ""
        self._last_shown: float | None = None  # perf_counter() of the last frame shown from the queue
        self.reviewing = False  # a frame from the take player is shown: the live queue waits
        self.timer = QTimer(self)
        self.timer.setInterval(round(1000 / fps))
        self.timer.timeout.connect(self.play_next)
        self.timer.start()

    # ----- content --------------------------------------------------------------------------------------------------
    @property
    def has_frame(self) -> bool:
        return self._image is not None

    @property
    def image(self) -> QImage | None:
        return self._image

    def set_frame(self, frame: np.ndarray) -> None:
        self._image = to_qimage(frame)
        self.update()
        self.image_changed.emit()

    def clear(self, placeholder: str = PLACEHOLDER) -> None:
        self._image = None
        self._placeholder = placeholder
        self.hud_chunk = None
        self.update()

    def show_review(self, frame: np.ndarray, chunk: int) -> None:
        """Show a frame of the take (the player); live frames wait in the queue until :meth:`end_review`."""
        self.reviewing = True
        self.hud_chunk = chunk
        self.set_frame(frame)

    def end_review(self) -> None:
        """Back to the live frames (generation started again)."""
        self.reviewing = False

    def play_next(self) -> None:
        """Show the next queued frame, if any (called by the playback timer); none while reviewing a take."""
        if self.display is None or self.reviewing:
            return
        item = self.display.get()
        if item is not None:
            self._last_shown = time.perf_counter()
            self.hud_chunk = item.chunk
            self.set_frame(item.image)
            self.frame_shown.emit(item.chunk, item.frame)

    def kick(self) -> None:
        """New frames were queued: when the viewport has been waiting for them (nothing shown for a tick), show the
        first one now and restart the tick from it, so a chunk is on screen as soon as it is generated."""
        if self.display is None:
            return
        last = self._last_shown
        if last is None or time.perf_counter() - last >= self.timer.interval() / 1000:
            self.play_next()
            self.timer.start()

    def set_hud(
        self,
        *,
        keys: frozenset[str] | None = None,
        speed: float | None = None,
        fps: float | None = None,
        note: str | None = None,
    ) -> None:
        if keys is not None:
            self.hud_keys = keys
        if speed is not None:
            self.hud_speed = speed
        if fps is not None:
            self.hud_fps = fps
        if note is not None:
            self.hud_note = note
        self.update()

    def hud_text(self) -> str:
        keys = " ".join(k.upper() for k in sorted(self.hud_keys, key="wasdijkl".index)) or "-"
        parts = [f"keys {keys}", f"speed {self.hud_speed:.2f}/s"]
        parts.append(f"chunk {self.hud_chunk}" if self.hud_chunk is not None else "chunk -")
        parts.append(f"gen {self.hud_fps:.1f} fps" if self.hud_fps is not None else "gen - fps")
        if self.hud_note:
            parts.append(self.hud_note)
        return "   ".join(parts)

    # ----- painting -------------------------------------------------------------------------------------------------
    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 (Qt's name)
        painter = QPainter(self)
        painter.fillRect(self.rect(), QColor(16, 16, 18))
        if self._image is None:
            painter.setPen(QColor(170, 170, 170))
            painter.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, self._placeholder)
            painter.end()
            return
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        painter.drawImage(letterbox((self._image.width(), self._image.height()), self.rect()), self._image)
        font = QFont(self.font())
        font.setPointSize(max(8, font.pointSize() - 1))
        painter.setFont(font)
        text = self.hud_text()
        box = painter.fontMetrics().boundingRect(text).adjusted(-6, -3, 6, 3)
        box.moveTopLeft(self.rect().topLeft() + QPoint(8, 8))
        painter.fillRect(box, QColor(0, 0, 0, 150))
        painter.setPen(QColor(235, 235, 235))
        painter.drawText(box, Qt.AlignmentFlag.AlignCenter, text)
        painter.end()

    # ----- drag and drop --------------------------------------------------------------------------------------------
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802
        paths = [u.toLocalFile() for u in event.mimeData().urls()]
        if dropped_image(paths):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802
        path = dropped_image([u.toLocalFile() for u in event.mimeData().urls()])
        if path:
            event.acceptProposedAction()
            self.image_dropped.emit(path)
