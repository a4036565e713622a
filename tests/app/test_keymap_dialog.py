"""The key-map dialog: presets, per-key editing, duplicates refused, mapping meanings shown."""

from __future__ import annotations

from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import QDialogButtonBox

from app.keymap import preset
from app.keymap_dialog import KeyMapDialog


def test_shows_a_preset_and_returns_it_unchanged(qtbot):
    dialog = KeyMapDialog(preset("arrows"))
    qtbot.addWidget(dialog)
    assert dialog.preset_box.currentData() == "arrows"
    assert dialog.edits["w"].keySequence() == QKeySequence("Up")
    assert dialog.keymap() == preset("arrows")


def test_choosing_a_preset_loads_its_keys_and_version_and_meanings_follow_the_version(qtbot):
    dialog = KeyMapDialog(preset("v2"))
    qtbot.addWidget(dialog)
    assert dialog.meanings["a"].text() == "yaw left"
    dialog.preset_box.setCurrentIndex(dialog.preset_box.findData("v1"))
    assert dialog.version_box.currentText() == "v1" and dialog.meanings["a"].text() == "strafe left"
    assert dialog.keymap() == preset("v1")


def test_editing_a_key_makes_a_custom_map_and_duplicates_are_refused(qtbot):
    dialog = KeyMapDialog(preset("v2"))
    qtbot.addWidget(dialog)
    ok = dialog.buttons.button(QDialogButtonBox.StandardButton.Ok)
    dialog.edits["w"].setKeySequence(QKeySequence("Up"))
    km = dialog.keymap()
    assert km.name == "custom" and km.keys_for("w") == [QKeySequence("Up")[0].key().value] and ok.isEnabled()
    dialog.edits["s"].setKeySequence(QKeySequence("Up"))
    assert not ok.isEnabled() and "given to both w and s" in dialog.message.text()
    dialog.edits["s"].setKeySequence(QKeySequence("Down"))
    assert ok.isEnabled() and dialog.message.text() == ""
