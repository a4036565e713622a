"""The timeline: the current take's chunks as thumbnails, the take selector, and the refine control.

It observes a :class:`~engine.generation.project.Project` and sends requests by signals; the main window turns them into
engine-worker commands and Project changes, then calls :meth:`Timeline.refresh`. The one change made here
directly is a take's name (it touches no rollout state).

Reading the strip: the first tile is the start image, then one tile per chunk showing its middle frame (the refined
frames once refined, marked with a gold bar). A bar after the last live chunk is the cursor: chunks after it are
greyed — they stay on the take, but generating from the cursor forks a new take. Clicking a tile rewinds there
(the start tile: before chunk 0); shift-click or drag selects a range of chunks for Refine.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPoint, QRect, QSize, Qt, Signal
from PySide6.QtGui import QColor, QImage, QMouseEvent, QPainter, QPaintEvent, QPen, QPixmap
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QMenu,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from engine.generation.project import ChunkEntry, Project
from engine.errors import SanaWMInputError

FPS = 16.0
REFINED_COLOUR = QColor(230, 170, 20)


def frame_pixmap(frame: np.ndarray, size: QSize) -> QPixmap:
    """A uint8 ``(H, W, 3)`` RGB frame as a ``size`` pixmap: scaled to cover it (aspect kept), centre cropped."""
    frame = np.ascontiguousarray(frame)
    h, w = frame.shape[:2]
    image = QImage(frame.data, w, h, 3 * w, QImage.Format.Format_RGB888)
    scaled = image.scaled(size, Qt.AspectRatioMode.KeepAspectRatioByExpanding, Qt.TransformationMode.SmoothTransformation)
    x, y = (scaled.width() - size.width()) // 2, (scaled.height() - size.height()) // 2
    return QPixmap.fromImage(scaled.copy(x, y, size.width(), size.height()))  # copy: owns its pixels


class ThumbnailStrip(QWidget):
    """Tiles in a row: tile 0 is the start image, tile ``k + 1`` chunk ``k``. Paints and hit-tests; the
    :class:`Timeline` owns the meaning of clicks (see :meth:`Timeline._tile_pressed`)."""

    pressed = Signal(int, bool)  # chunk index (-1 = start), shift held
    dragged = Signal(int)  # chunk index under the mouse while the button is held
    released = Signal(int)

    GAP = 6

    def __init__(self, thumb_height: int = 54, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.thumb_height = thumb_height
        self.thumb_width = thumb_height * 3 // 2
        self.start_pixmap: QPixmap | None = None
        self.pixmaps: list[QPixmap] = []
        self.refined: list[bool] = []
        self.cursor = 0
        self.selection: tuple[int, int] | None = None
        self._pressing = False
        self.setMouseTracking(False)
        self.setSizePolicy(QSizePolicy.Policy.Minimum, QSizePolicy.Policy.Fixed)

    @property
    def count(self) -> int:
        """Chunk tiles shown (the start tile not counted)."""
        return len(self.pixmaps)

    @property
    def thumb_size(self) -> QSize:
        return QSize(self.thumb_width, self.thumb_height)

    def set_tiles(self, start: QPixmap | None, pixmaps: list[QPixmap], refined: list[bool], cursor: int) -> None:
        self.start_pixmap, self.pixmaps, self.refined, self.cursor = start, pixmaps, refined, cursor
        self.resize(self.sizeHint())
        self.updateGeometry()
        self.update()

    def sizeHint(self) -> QSize:
        tiles = len(self.pixmaps) + 1
        return QSize(tiles * (self.thumb_width + self.GAP) + self.GAP, self.thumb_height + 2 * self.GAP + 14)

    def minimumSizeHint(self) -> QSize:
        return self.sizeHint()

    def tile_rect(self, chunk: int) -> QRect:
        """Where chunk ``chunk``'s thumbnail is drawn (-1: the start image)."""
        x = self.GAP + (chunk + 1) * (self.thumb_width + self.GAP)
        return QRect(x, self.GAP, self.thumb_width, self.thumb_height)

    def chunk_at(self, pos: QPoint) -> int | None:
        """The chunk under ``pos`` (-1 = the start tile), or None between or after the tiles."""
        tile = (pos.x() - self.GAP) // (self.thumb_width + self.GAP) - 1
        if -1 <= tile < len(self.pixmaps) and self.tile_rect(tile).adjusted(0, 0, self.GAP, self.GAP).contains(pos):
            return tile
        return None

    # ----- painting -------------------------------------------------------------------------------------------
    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        palette = self.palette()
        painter.fillRect(self.rect(), palette.window())
        if self.start_pixmap is not None:
            self._draw_tile(painter, -1, self.start_pixmap, "start", live=True, refined=False)
        for k, pixmap in enumerate(self.pixmaps):
            self._draw_tile(painter, k, pixmap, str(k), live=k < self.cursor, refined=self.refined[k])
        if self.selection is not None:
            a, b = self.selection
            area = self.tile_rect(a).united(self.tile_rect(b - 1)).adjusted(-3, -3, 3, 3)
            painter.setPen(QPen(palette.highlight().color(), 3))
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.drawRect(area)
        cursor_x = self.tile_rect(self.cursor - 1).right() + self.GAP // 2 + 1
        painter.fillRect(QRect(cursor_x - 1, 0, 3, self.height()), palette.highlight())
        painter.end()

    def _draw_tile(self, painter: QPainter, k: int, pixmap: QPixmap, label: str, *, live: bool, refined: bool) -> None:
        rect = self.tile_rect(k)
        painter.drawPixmap(rect, pixmap)
        if not live:  # after the cursor: kept on the take, not part of what continues
            painter.fillRect(rect, QColor(128, 128, 128, 170))
        if refined:
            painter.fillRect(QRect(rect.left(), rect.bottom() - 4, rect.width(), 5), REFINED_COLOUR)
        painter.setPen(self.palette().windowText().color())
        painter.drawText(QRect(rect.left(), rect.bottom() + 2, rect.width(), 14), Qt.AlignmentFlag.AlignHCenter, label)

    # ----- mouse ----------------------------------------------------------------------------------------------
    def mousePressEvent(self, event: QMouseEvent) -> None:
        chunk = self.chunk_at(event.position().toPoint())
        if event.button() != Qt.MouseButton.LeftButton or chunk is None:
            return
        self._pressing = True
        self.pressed.emit(chunk, bool(event.modifiers() & Qt.KeyboardModifier.ShiftModifier))

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        chunk = self.chunk_at(event.position().toPoint())
        if self._pressing and chunk is not None and event.buttons() & Qt.MouseButton.LeftButton:
            self.dragged.emit(chunk)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        if not self._pressing:
            return
        self._pressing = False
        chunk = self.chunk_at(event.position().toPoint())
        self.released.emit(-2 if chunk is None else chunk)


class Timeline(QWidget):
    """The timeline panel (module docstring). Signals carry what the user asked for; nothing here touches the
    engine. ``rewind_requested(k)``: keep chunks ``0..k`` live (-1: back to the start image);
    ``refine_requested(first, last_exclusive)``: refine chunks ``[first, last_exclusive)`` of the current take."""

    rewind_requested = Signal(int)
    branch_selected = Signal(int)
    discard_requested = Signal(int)
    refine_requested = Signal(int, int)
    branch_renamed = Signal(int, str)

    def __init__(self, parent: QWidget | None = None, *, thumb_height: int = 54) -> None:
        super().__init__(parent)
        self.project: Project | None = None
        self._pixmaps: dict[int, tuple[np.ndarray, QPixmap]] = {}  # id(entry) -> (frames, thumbnail)
        self._start_image: np.ndarray | None = None
        self._start_pixmap: QPixmap | None = None
        self._anchor: int | None = None
        self._pressed_chunk: int | None = None
        self._dragging = False
        self._refine_available = True
        self._refine_reason = ""
        self._updating = False

        self.takes = QComboBox()
        self.takes.setToolTip("The take shown and continued; generating after a rewind makes a new take")
        self.takes.currentIndexChanged.connect(self._take_chosen)
        self.rename_button = QPushButton("Rename…")
        self.rename_button.clicked.connect(self._ask_rename)
        self.discard_button = QToolButton()
        self.discard_button.setText("Discard take")
        self.discard_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.discard_menu = QMenu(self.discard_button)
        self.discard_button.setMenu(self.discard_menu)
        self.info = QLabel()
        self.refine_button = QPushButton("Refine")
        self.refine_button.clicked.connect(self._refine_clicked)
        self.refine_note = QLabel()
        self.refine_note.setEnabled(False)  # drawn greyed: a note, not a control

        self.strip = ThumbnailStrip(thumb_height)
        self.strip.pressed.connect(self._tile_pressed)
        self.strip.dragged.connect(self._tile_dragged)
        self.strip.released.connect(self._tile_released)
        scroll = QScrollArea()
        scroll.setWidget(self.strip)
        scroll.setWidgetResizable(False)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAsNeeded)
        scroll.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setFixedHeight(self.strip.sizeHint().height() + 20)
        self.scroll = scroll

        bar = QHBoxLayout()
        bar.addWidget(QLabel("Take:"))
        bar.addWidget(self.takes, 1)
        bar.addWidget(self.rename_button)
        bar.addWidget(self.discard_button)
        bar.addSpacing(12)
        bar.addWidget(self.info, 2)
        bar.addWidget(self.refine_note)
        bar.addWidget(self.refine_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(bar)
        layout.addWidget(scroll)
        self.refresh()

    # ----- public API -----------------------------------------------------------------------------------------
    def set_project(self, project: Project | None) -> None:
        """Show another project (a new session, a loaded file) and forget the old one's thumbnails."""
        self.project = project
        self._pixmaps.clear()
        self._start_image = None
        self.strip.selection = None
        self._anchor = None
        self.refresh()

    def refresh(self) -> None:
        """Re-read the project: takes, thumbnails, cursor, refined marks (call after every Project change)."""
        project = self.project
        self._updating = True
        try:
            self.takes.clear()
            if project is not None:
                for branch in project.branches.values():
                    self.takes.addItem(f"{branch.name} ({len(branch.chunks)} chunks)", branch.id)
                self.takes.setCurrentIndex(self.takes.findData(project.current_id))
        finally:
            self._updating = False
        self._fill_discard_menu()
        if project is None:
            self.strip.set_tiles(None, [], [], 0)
            self.info.setText("No session")
        else:
            chunks = project.current.chunks
            self._fit_tiles(chunks[0].frames[0] if chunks else project.start.image)
            self._prune_thumbnails(project)
            self.strip.set_tiles(self._start_thumbnail(project), [self._thumbnail(e) for e in chunks],
                                 [e.refined for e in chunks], project.cursor)  # fmt: skip
            if self.strip.selection is not None and self.strip.selection[1] > len(chunks):
                self.strip.selection = None
            frames = sum(len(e.frames) for e in chunks[: project.cursor])
            self.info.setText(
                f"{len(chunks)} chunks · cursor after "
                + (f"chunk {project.cursor - 1}" if project.cursor else "the start image")
                + f" · {max(frames - 1, 0) / FPS:.1f} s live"
            )
        self.rename_button.setEnabled(project is not None)
        self._update_refine()

    def set_refine_available(self, available: bool, reason: str = "") -> None:
        """Enable Refine (when a range is selected) or disable it, showing ``reason`` as tooltip and note."""
        self._refine_available = available
        self._refine_reason = reason
        self._update_refine()

    @property
    def selection(self) -> tuple[int, int] | None:
        """The selected chunks ``[first, last_exclusive)`` of the current take, or None."""
        return self.strip.selection

    def select(self, first: int, last_exclusive: int) -> None:
        """Select chunks ``[first, last_exclusive)`` (what shift-click and drag do)."""
        count = self.strip.count
        if not 0 <= first < last_exclusive <= count:
            raise SanaWMInputError(f"selection: expected chunks inside [0, {count}), found [{first}, {last_exclusive})")
        self.strip.selection = (first, last_exclusive)
        self.strip.update()
        self._update_refine()

    def rename_current(self, name: str) -> None:
        """Rename the current take (the Rename… button asks for the name, then calls this)."""
        if self.project is None:
            return
        self.project.rename(self.project.current_id, name)
        self.branch_renamed.emit(self.project.current_id, self.project.current.name)
        self.refresh()

    # ----- internals ------------------------------------------------------------------------------------------
    def _fit_tiles(self, frame: np.ndarray) -> None:
        """Tiles take the aspect of the generated frames (the start image is cropped to it, as the model does)."""
        h, w = frame.shape[:2]
        width = max(16, round(self.strip.thumb_height * w / h))
        if width != self.strip.thumb_width:
            self.strip.thumb_width = width
            self._pixmaps.clear()
            self._start_image = None

    def _thumbnail(self, entry: ChunkEntry) -> QPixmap:
        """Cached per chunk entry; the cache keeps the frames it was made from and is valid only while the entry
        still shows those very frames (a refine swaps them; a new entry may reuse a discarded one's id)."""
        frames = entry.frames
        cached = self._pixmaps.get(id(entry))
        if cached is None or cached[0] is not frames:
            cached = self._pixmaps[id(entry)] = (frames, frame_pixmap(frames[len(frames) // 2], self.strip.thumb_size))
        return cached[1]

    def _start_thumbnail(self, project: Project) -> QPixmap:
        if self._start_image is not project.start.image:
            self._start_image = project.start.image
            self._start_pixmap = frame_pixmap(project.start.image, self.strip.thumb_size)
        return self._start_pixmap

    def _prune_thumbnails(self, project: Project) -> None:
        alive = {id(e) for branch in project.branches.values() for e in branch.chunks}
        for key in set(self._pixmaps) - alive:
            del self._pixmaps[key]

    def _fill_discard_menu(self) -> None:
        self.discard_menu.clear()
        project = self.project
        others = [] if project is None else [b for b in project.branches.values() if b.id != project.current_id]
        for branch in others:
            action = self.discard_menu.addAction(f"Discard {branch.name}…")
            action.triggered.connect(lambda _=False, bid=branch.id: self.discard_requested.emit(bid))
        self.discard_button.setEnabled(bool(others))
        self.discard_button.setToolTip(
            "Forget another take and its chunks" if others else "Only the current take exists (switch to another to discard this one)"
        )

    def _update_refine(self) -> None:
        has_selection = self.strip.selection is not None
        self.refine_button.setEnabled(self._refine_available and has_selection)
        if not self._refine_available:
            self.refine_button.setToolTip(self._refine_reason)
            self.refine_note.setText(self._refine_reason)
        else:
            self.refine_button.setToolTip(
                "Refine the selected chunks with the stage-2 refiner" if has_selection
                else "Select chunks first: shift-click or drag across thumbnails"
            )
            self.refine_note.setText("")

    def _take_chosen(self, index: int) -> None:
        if self._updating or index < 0 or self.project is None:
            return
        branch_id = self.takes.itemData(index)
        if branch_id != self.project.current_id:
            self.branch_selected.emit(branch_id)

    def _ask_rename(self) -> None:
        if self.project is None:
            return
        name, ok = QInputDialog.getText(self, "Rename take", "Name:", text=self.project.current.name)
        if ok:
            try:
                self.rename_current(name)
            except SanaWMInputError as exc:
                self.info.setText(str(exc))

    def _tile_pressed(self, chunk: int, shift: bool) -> None:
        self._dragging = False
        if shift and self._anchor is not None and chunk >= 0:
            a, b = sorted((self._anchor, chunk))
            self.select(a, b + 1)
            self._dragging = True  # a range gesture: no rewind on release
            return
        self._anchor = chunk if chunk >= 0 else None
        self._pressed_chunk = chunk

    def _tile_dragged(self, chunk: int) -> None:
        if self._anchor is None or chunk < 0 or (chunk == self._anchor and not self._dragging):
            return
        self._dragging = True
        a, b = sorted((self._anchor, chunk))
        self.select(a, b + 1)

    def _tile_released(self, chunk: int) -> None:
        if self._dragging:
            self._dragging = False
            return
        if chunk != self._pressed_chunk:
            return
        if chunk >= 0:
            self.select(chunk, chunk + 1)
        else:
            self.strip.selection = None
            self._update_refine()
        self.rewind_requested.emit(chunk)

    def _refine_clicked(self) -> None:
        if self.strip.selection is not None and self._refine_available:
            self.refine_requested.emit(*self.strip.selection)
