"""The Path-mode side panel: keyframe list, numeric fields, edit buttons, length, playback, files, generate.

Why a dumb widget: the panel only shows the editor's state (:meth:`PathPanel.show_state`) and forwards user input as
signals; :class:`app.path.editor.PathEditor` turns them into undo commands. Populating the fields blocks their
signals, so showing a state never edits it.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, Qt, Signal
from PySide6.QtWidgets import (
    QAbstractSpinBox,
    QCheckBox,
    QDoubleSpinBox,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSlider,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from engine.camera.keyframes import CHUNK_FRAMES, START_FRAME, VFOV_LIMITS_DEG, CameraPath, Keyframe

#: Numeric field names, in the order they appear.
FIELDS = ("frame", "x", "y", "z", "yaw", "pitch", "roll", "vfov")
_MAX_FRAMES = 1 + CHUNK_FRAMES * 400
#: Why the start keyframe's fields and Delete are disabled (tooltip, and the editor's refusal message).
START_KEYFRAME_NOTE = ("frame 0 is the start image's camera: its pose is the identity and its FOV follows the start "
                       "image's intrinsics, so it cannot be moved, re-timed or deleted")


def _spin(lo: float, hi: float, step: float, decimals: int, suffix: str = "") -> QDoubleSpinBox:
    box = QDoubleSpinBox()
    box.setRange(lo, hi)
    box.setSingleStep(step)
    box.setDecimals(decimals)
    box.setSuffix(suffix)
    box.setKeyboardTracking(False)  # one edit per Enter / focus-out / arrow step, not per keystroke
    box.setAccelerated(True)
    return box


class PathPanel(QWidget):
    """Widgets of the side panel. Signals carry what the user asked for; nothing here edits the path."""

    keyframe_selected = Signal(int)  # frame, or -1 for none
    field_edited = Signal(str, float)  # FIELDS name, new value
    add_at_end_clicked = Signal()
    add_at_playhead_clicked = Signal()
    delete_clicked = Signal()
    duplicate_clicked = Signal()
    length_edited = Signal(int)
    play_toggled = Signal(bool)
    frame_scrubbed = Signal(int)
    view_through_toggled = Signal(bool)
    #: the "World points" box: show the world cache's points in the 3D view
    world_points_toggled = Signal(bool)
    import_clicked = Signal()
    export_clicked = Signal()
    generate_clicked = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setMinimumWidth(300)
        layout = QVBoxLayout(self)

        keys = QGroupBox("Keyframes")
        keys_layout = QVBoxLayout(keys)
        self.keyframe_list = QListWidget()
        self.keyframe_list.setMinimumHeight(110)
        self.keyframe_list.currentItemChanged.connect(self._on_current_item)
        self.keyframe_list.installEventFilter(self)  # Delete / Backspace in the list: delete the selection
        keys_layout.addWidget(self.keyframe_list)
        row = QGridLayout()
        self.add_end_button = QPushButton("Add at end")
        self.add_end_button.setToolTip("Add a keyframe one chunk after the last one, continuing its direction")
        self.add_playhead_button = QPushButton("Add at playhead")
        self.add_playhead_button.setToolTip("Add a keyframe at the playback frame, on the current path")
        self.duplicate_button = QPushButton("Duplicate")
        self.delete_button = QPushButton("Delete")
        for i, b in enumerate((self.add_end_button, self.add_playhead_button, self.duplicate_button,
                               self.delete_button)):
            row.addWidget(b, i // 2, i % 2)
        self.undo_button = QToolButton()
        self.undo_button.setText("Undo")
        self.redo_button = QToolButton()
        self.redo_button.setText("Redo")
        undo_row = QHBoxLayout()
        undo_row.addWidget(self.undo_button)
        undo_row.addWidget(self.redo_button)
        undo_row.addStretch(1)
        keys_layout.addLayout(row)
        keys_layout.addLayout(undo_row)
        layout.addWidget(keys)

        fields = QGroupBox("Selected keyframe")
        form = QFormLayout(fields)
        self.fields: dict[str, QAbstractSpinBox] = {}
        frame_box = QSpinBox()
        frame_box.setRange(0, _MAX_FRAMES)
        frame_box.setKeyboardTracking(False)
        self.fields["frame"] = frame_box
        for name in ("x", "y", "z"):
            self.fields[name] = _spin(-1e4, 1e4, 0.1, 3)
        self.fields["yaw"] = _spin(-360.0, 360.0, 1.0, 2, "°")
        self.fields["pitch"] = _spin(-90.0, 90.0, 1.0, 2, "°")
        self.fields["roll"] = _spin(-180.0, 180.0, 1.0, 2, "°")
        self.fields["vfov"] = _spin(VFOV_LIMITS_DEG[0], VFOV_LIMITS_DEG[1], 1.0, 2, "°")
        labels = {"frame": "Frame", "x": "X (right)", "y": "Y (down)", "z": "Z (forward)", "yaw": "Yaw",
                  "pitch": "Pitch", "roll": "Roll", "vfov": "Vertical FOV"}
        for name in FIELDS:
            box = self.fields[name]
            form.addRow(labels[name], box)
            box.valueChanged.connect(lambda value, n=name: self.field_edited.emit(n, float(value)))
        layout.addWidget(fields)

        path_box = QGroupBox("Path")
        path_form = QFormLayout(path_box)
        self.length_box = QSpinBox()
        self.length_box.setRange(1 + CHUNK_FRAMES, _MAX_FRAMES)
        self.length_box.setSingleStep(CHUNK_FRAMES)
        self.length_box.setKeyboardTracking(False)
        self.length_box.setSuffix(" frames")
        self.length_box.setToolTip("Streaming length: 1 + 24 k frames (snapped)")
        self.length_box.valueChanged.connect(self.length_edited.emit)
        path_form.addRow("Length", self.length_box)
        play_row = QHBoxLayout()
        self.play_button = QPushButton("Play")
        self.play_button.setCheckable(True)
        self.play_button.toggled.connect(self.play_toggled.emit)
        self.frame_slider = QSlider(Qt.Orientation.Horizontal)
        self.frame_slider.valueChanged.connect(self.frame_scrubbed.emit)
        self.frame_label = QLabel("0")
        self.frame_label.setMinimumWidth(40)
        play_row.addWidget(self.play_button)
        play_row.addWidget(self.frame_slider, 1)
        play_row.addWidget(self.frame_label)
        path_form.addRow(play_row)
        self.view_through_box = QCheckBox("View through path camera")
        self.view_through_box.toggled.connect(self.view_through_toggled.emit)
        path_form.addRow(self.view_through_box)
        self.world_points_box = QCheckBox("World points")
        self.world_points_box.setToolTip("The world cache's points: the start image's depth, then the world as it grows")
        self.world_points_box.setChecked(True)
        self.world_points_box.setEnabled(False)  # until there are points
        self.world_points_box.toggled.connect(self.world_points_toggled.emit)
        path_form.addRow(self.world_points_box)
        files_row = QHBoxLayout()
        self.import_button = QPushButton("Import…")
        self.export_button = QPushButton("Export…")
        files_row.addWidget(self.import_button)
        files_row.addWidget(self.export_button)
        path_form.addRow(files_row)
        layout.addWidget(path_box)

        self.generate_button = QPushButton("Generate along path")
        self.generate_button.setToolTip("Generate the world along this camera path")
        layout.addWidget(self.generate_button)
        self.message = QLabel("")
        self.message.setWordWrap(True)
        self.message.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.message)
        layout.addStretch(1)

        self.add_end_button.clicked.connect(self.add_at_end_clicked.emit)
        self.add_playhead_button.clicked.connect(self.add_at_playhead_clicked.emit)
        self.duplicate_button.clicked.connect(self.duplicate_clicked.emit)
        self.delete_button.clicked.connect(self.delete_clicked.emit)
        self.import_button.clicked.connect(self.import_clicked.emit)
        self.export_button.clicked.connect(self.export_clicked.emit)
        self.generate_button.clicked.connect(self.generate_clicked.emit)

    # --- showing state ------------------------------------------------------------------------------------------

    def show_state(self, path: CameraPath, selected: int | None, current_frame: int) -> None:
        """Fill the list, the fields, the length and the slider from the editor's state (no signals emitted)."""
        widgets = [self.keyframe_list, self.length_box, *self.fields.values()]
        for w in widgets:
            w.blockSignals(True)
        try:
            self.keyframe_list.clear()
            for k in path.keyframes:
                item = QListWidgetItem(describe(k))
                item.setData(Qt.ItemDataRole.UserRole, k.frame)
                if k.frame == START_FRAME:
                    item.setToolTip(START_KEYFRAME_NOTE[0].upper() + START_KEYFRAME_NOTE[1:] + ".")
                self.keyframe_list.addItem(item)
                if k.frame == selected:
                    self.keyframe_list.setCurrentItem(item)
            has = selected is not None and path.has(selected)
            editable = has and selected != START_FRAME
            note = START_KEYFRAME_NOTE[0].upper() + START_KEYFRAME_NOTE[1:] + "." if has and not editable else ""
            for box in self.fields.values():
                box.setEnabled(editable)
                box.setToolTip(note)
            self.delete_button.setEnabled(editable and len(path) > 1)
            self.delete_button.setToolTip(note or "Delete the selected keyframe (Delete)")
            self.duplicate_button.setEnabled(has)
            if has:
                k = path.get(selected)
                yaw, pitch, roll = k.euler_deg()
                values = {"frame": k.frame, "x": k.position[0], "y": k.position[1], "z": k.position[2],
                          "yaw": yaw, "pitch": pitch, "roll": roll, "vfov": k.vfov_deg}
                for name, value in values.items():
                    box = self.fields[name]
                    box.setValue(int(value) if name == "frame" else float(value))
            self.length_box.setValue(path.num_frames)
        finally:
            for w in widgets:
                w.blockSignals(False)
        self.show_frame(current_frame, path.num_frames)

    def show_frame(self, current_frame: int, num_frames: int) -> None:
        """Only the playback slider and its label (called on every playback tick)."""
        self.frame_slider.blockSignals(True)
        try:
            self.frame_slider.setRange(0, num_frames - 1)
            self.frame_slider.setValue(current_frame)
        finally:
            self.frame_slider.blockSignals(False)
        self.frame_label.setText(f"{current_frame}/{num_frames - 1}")

    def show_message(self, text: str, *, error: bool = False) -> None:
        """One line under the buttons: errors in red (the state is kept), notes in the normal colour."""
        self.message.setStyleSheet("color: #d04040;" if error else "")
        self.message.setText(text)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802
        """Delete or Backspace while the keyframe list has focus asks to delete the selected keyframe (a key in the
        list, not a window shortcut: Backspace in a numeric field must still edit its text)."""
        if (watched is self.keyframe_list and event.type() == QEvent.Type.KeyPress
                and event.key() in (Qt.Key.Key_Delete, Qt.Key.Key_Backspace)):  # fmt: skip
            self.delete_clicked.emit()
            return True
        return super().eventFilter(watched, event)

    def _on_current_item(self, item: QListWidgetItem | None, _previous: QListWidgetItem | None) -> None:
        self.keyframe_selected.emit(-1 if item is None else int(item.data(Qt.ItemDataRole.UserRole)))


def describe(k: Keyframe) -> str:
    """One list row: frame, position and FOV (the start keyframe says so)."""
    x, y, z = k.position
    row = f"frame {k.frame:4d}   ({x:.2f}, {y:.2f}, {z:.2f})   {k.vfov_deg:.0f}°"
    return row + "  (start)" if k.frame == START_FRAME else row


__all__ = ["FIELDS", "START_KEYFRAME_NOTE", "PathPanel", "describe"]
