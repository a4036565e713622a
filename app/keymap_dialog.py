"""The key-map editor: pick a preset, or press a new key for any of the eight DSL keys.

Each row shows the DSL key, what it does under the chosen mapping version (so the v1 / v2 difference is visible:
a/d turn under v2 and strafe under v1), and a key field that records the next key pressed. A key given to two DSL
keys is refused with a message; the dialog returns a :class:`~app.keymap.KeyMap` (saved by the caller).
"""

from __future__ import annotations

from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QGridLayout,
    QKeySequenceEdit,
    QLabel,
    QVBoxLayout,
    QWidget,
)

from app.keymap import PRESETS, KeyMap, control_label, key_name
from engine.camera.controls import DSL_KEYS, MAPPINGS


class KeyMapDialog(QDialog):
    """Edit a key map (see the module docstring)."""

    def __init__(self, keymap: KeyMap, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Key map")
        self.preset_box = QComboBox()
        self.preset_box.addItem("custom", "")
        for name in PRESETS:
            self.preset_box.addItem(name, name)
        self.version_box = QComboBox()
        self.version_box.addItems(list(MAPPINGS))
        self.edits: dict[str, QKeySequenceEdit] = {}
        self.meanings: dict[str, QLabel] = {}
        grid = QGridLayout()
        for row, dsl in enumerate(DSL_KEYS):
            edit = QKeySequenceEdit()
            edit.setMaximumSequenceLength(1)
            edit.keySequenceChanged.connect(self._on_edited)
            self.edits[dsl] = edit
            self.meanings[dsl] = QLabel()
            grid.addWidget(QLabel(f"<b>{dsl}</b>"), row, 0)
            grid.addWidget(self.meanings[dsl], row, 1)
            grid.addWidget(edit, row, 2)
        self.message = QLabel()
        self.message.setStyleSheet("QLabel { color: #c33; }")
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        form = QFormLayout()
        form.addRow("Preset", self.preset_box)
        form.addRow("Mapping version", self.version_box)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addLayout(grid)
        layout.addWidget(self.message)
        layout.addWidget(self.buttons)
        self._loading = False
        self.preset_box.currentIndexChanged.connect(self._on_preset)
        self.version_box.currentTextChanged.connect(self._show_meanings)
        self.set_keymap(keymap)

    def set_keymap(self, keymap: KeyMap) -> None:
        self._loading = True
        index = self.preset_box.findData(keymap.name) if keymap == PRESETS.get(keymap.name) else 0
        self.preset_box.setCurrentIndex(max(index, 0))
        self.version_box.setCurrentText(keymap.version)
        for dsl, edit in self.edits.items():
            keys = keymap.keys_for(dsl)
            edit.setKeySequence(QKeySequence(key_name(keys[0])) if keys else QKeySequence())
        self._loading = False
        self._show_meanings()
        self._validate()

    def _on_preset(self, index: int) -> None:
        name = self.preset_box.itemData(index)
        if name and not self._loading:
            self.set_keymap(PRESETS[name])

    def _on_edited(self) -> None:
        if not self._loading:
            self._loading = True
            self.preset_box.setCurrentIndex(0)  # edited by hand: no longer a preset
            self._loading = False
        self._validate()

    def _show_meanings(self) -> None:
        for dsl, label in self.meanings.items():
            label.setText(control_label(self.version_box.currentText(), dsl))

    def _validate(self) -> bool:
        seen: dict[str, str] = {}
        for dsl, edit in self.edits.items():
            text = edit.keySequence().toString(QKeySequence.SequenceFormat.PortableText)
            if text in seen:
                self.message.setText(f"The key {text} is given to both {seen[text]} and {dsl}: choose another key.")
                self.buttons.button(QDialogButtonBox.StandardButton.Ok).setEnabled(False)
                return False
            if text:
                seen[text] = dsl
        self.message.setText("")
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setEnabled(True)
        return True

    def keymap(self) -> KeyMap:
        """The key map the dialog shows (a preset's name when it is unchanged, else ``custom``)."""
        keys: dict[int, str] = {}
        for dsl, edit in self.edits.items():
            seq = edit.keySequence()
            if seq.count():
                keys[seq[0].key().value] = dsl
        name = self.preset_box.currentData() or "custom"
        return KeyMap.make(name, self.version_box.currentText(), keys)
