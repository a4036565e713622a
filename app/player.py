"""The take player: play, pause and scrub the current take's frames at the video frame rate, in the viewport.

Why: the viewport only streams what the engine has just made; reviewing a take meant exporting an MP4. The player
reads the take's frames from the :class:`~engine.generation.project.Project` (the refined frames where a span was
refined, exactly what an export writes), so it never touches the engine and never waits for it.

:class:`TakePlayer` is the bar under the viewport: a play / pause button, a slider over every frame of the take and
a position label. Keyboard: Space plays / pauses (a window shortcut); with the slider focused, Left / Right step
one frame and Home / End jump (the slider's own keys). It emits :attr:`TakePlayer.frame_changed` with the frame to
show; the window shows it in the viewport and leaves review when generation starts again.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QSlider, QToolButton, QWidget

from engine.generation.project import Project

FPS = 16.0


def clock(frame: int, fps: float = FPS) -> str:
    """A frame index as ``m:ss.s`` of video."""
    seconds = frame / fps
    return f"{int(seconds // 60)}:{seconds % 60:04.1f}"


class TakePlayer(QWidget):
    """The player bar (see the module docstring).

    Signals:
        frame_changed(object, int, int): the frame ``(H, W, 3)`` uint8 to show, its chunk and its index in the take.
    """

    frame_changed = Signal(object, int, int)

    def __init__(self, fps: float = FPS, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.project: Project | None = None
        self._chunk_starts: list[int] = []  # first take frame of each chunk
        self.play_button = QToolButton()
        self.play_button.setText("▶")
        self.play_button.setToolTip("Play / pause the take (Space)")
        self.play_button.clicked.connect(self.toggle)
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setRange(0, 0)
        self.slider.setToolTip("Scrub the take; with the slider focused, Left / Right step one frame")
        self.slider.valueChanged.connect(self._show)
        self.label = QLabel("no take yet")
        row = QHBoxLayout(self)
        row.setContentsMargins(4, 0, 4, 0)
        row.addWidget(self.play_button)
        row.addWidget(self.slider, 1)
        row.addWidget(self.label)
        self.timer = QTimer(self)
        self.timer.setInterval(round(1000 / fps))
        self.timer.timeout.connect(self._advance)
        self.refresh()

    # ----- state ----------------------------------------------------------------------------------------------------
    @property
    def playing(self) -> bool:
        return self.timer.isActive()

    @property
    def num_frames(self) -> int:
        return self._chunk_starts[-1] if self._chunk_starts else 0

    @property
    def position(self) -> int:
        return self.slider.value()

    def set_project(self, project: Project | None) -> None:
        self.pause()
        self.project = project
        self.refresh()

    def refresh(self) -> None:
        """The take changed (a chunk, a rewind, a take switch, a refine): the slider spans its frames now."""
        starts = [0]
        if self.project is not None:
            for entry in self.project.current.chunks:
                starts.append(starts[-1] + entry.frames.shape[0])
        self._chunk_starts = starts
        n = self.num_frames
        self.slider.blockSignals(True)
        self.slider.setRange(0, max(0, n - 1))
        self.slider.blockSignals(False)
        self.setEnabled(n > 0)
        if n == 0:
            self.pause()
        self._label()

    # ----- commands -------------------------------------------------------------------------------------------------
    def toggle(self) -> None:
        self.pause() if self.playing else self.play()

    def play(self) -> None:
        """Play from the slider's frame (from the start when it is at the end)."""
        if self.num_frames == 0:
            return
        if self.position >= self.num_frames - 1:
            self.seek(0)
        else:
            self._show(self.position)
        self.timer.start()
        self.play_button.setText("⏸")

    def pause(self) -> None:
        self.timer.stop()
        self.play_button.setText("▶")

    def seek(self, frame: int) -> None:
        """Show frame ``frame`` of the take (clamped)."""
        frame = min(max(0, int(frame)), max(0, self.num_frames - 1))
        if frame == self.slider.value():
            self._show(frame)
        else:
            self.slider.setValue(frame)  # emits valueChanged -> _show

    def _advance(self) -> None:
        if self.position >= self.num_frames - 1:
            self.pause()
            return
        self.slider.setValue(self.position + 1)

    # ----- showing --------------------------------------------------------------------------------------------------
    def locate(self, frame: int) -> tuple[int, int]:
        """``(chunk, frame within the chunk)`` of take frame ``frame``."""
        chunk = int(np.searchsorted(self._chunk_starts, frame, side="right")) - 1
        return chunk, frame - self._chunk_starts[chunk]

    def _show(self, frame: int) -> None:
        self._label()
        if self.project is None or self.num_frames == 0:
            return
        chunk, offset = self.locate(frame)
        self.frame_changed.emit(self.project.current.chunks[chunk].frames[offset], chunk, frame)

    def _label(self) -> None:
        n = self.num_frames
        if n == 0:
            self.label.setText("no take yet")
            return
        self.label.setText(f"{clock(self.position)} / {clock(n)}  frame {self.position + 1}/{n}")
