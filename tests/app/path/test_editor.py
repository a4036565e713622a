"""PathEditor and its panel on the offscreen platform (no GL): fields, buttons, playback, files, start image."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # before pytest-qt makes the QApplication

import numpy as np
import pytest
from PySide6.QtCore import Qt

from app.path import PathEditor
from engine.camera.keyframes import Keyframe
from engine.camera.formats import write_trajectory
from engine.camera.intrinsics import focal_to_fov_deg
from engine.camera.trajectory import Trajectory


@pytest.fixture
def editor(qtbot):
    e = PathEditor()
    qtbot.addWidget(e)
    return e


def test_without_gl_the_view_is_a_label_saying_why(editor):
    assert editor.gl_view is None
    assert "offscreen" in editor.gl_message.text()


def test_numeric_fields_edit_the_selected_keyframe(editor):
    editor.select(48)
    f = editor.panel.fields
    f["x"].setValue(1.25)
    f["y"].setValue(-0.5)
    f["yaw"].setValue(30.0)
    f["pitch"].setValue(-10.0)
    f["vfov"].setValue(45.0)
    k = editor.path.get(48)
    assert k.position == pytest.approx((1.25, -0.5, 2.0))
    assert k.euler_deg() == pytest.approx((30.0, -10.0, 0.0), abs=1e-9)
    assert k.vfov_deg == 45.0
    f["frame"].setValue(60)
    assert editor.path.frames == [0, 60] and editor.selected_frame == 60
    assert editor.undo_stack.count() == 6
    for _ in range(6):
        editor.undo_stack.undo()
    assert editor.path.get(48) == Keyframe(48, (0.0, 0.0, 2.0))


def test_fields_show_the_selection_without_editing(editor):
    editor.select(0)
    assert editor.panel.fields["z"].value() == 0.0
    editor.select(48)
    assert editor.panel.fields["z"].value() == 2.0 and editor.panel.fields["frame"].value() == 48
    assert editor.undo_stack.count() == 0
    editor.select(None)
    assert not editor.panel.fields["x"].isEnabled()


def test_repeated_steps_of_one_field_merge(editor):
    editor.select(48)
    box = editor.panel.fields["x"]
    for _ in range(5):
        box.stepUp()
    assert editor.path.get(48).position[0] == pytest.approx(0.5)
    assert editor.undo_stack.count() == 1
    editor.panel.fields["z"].stepUp()
    assert editor.undo_stack.count() == 2


def test_taken_frame_shows_an_error_and_keeps_the_path(editor):
    editor.add_keyframe_at_end()  # frame 72
    editor.select(72)
    before = editor.path.keyframes
    editor.panel.fields["frame"].setValue(48)
    assert editor.path.keyframes == before
    assert "already has one" in editor.panel.message.text()
    assert editor.panel.fields["frame"].value() == 72  # the field shows the real value again


def test_add_at_end_continues_the_last_direction(editor):
    editor.add_keyframe_at_end()
    k = editor.path.keyframes[-1]
    assert k.frame == 72 and k.position == pytest.approx((0.0, 0.0, 3.0))  # 2 units per 48 frames -> +1 in 24
    assert editor.selected_frame == 72 and editor.path.num_frames == 73


def test_add_at_playhead_uses_the_interpolated_pose(editor):
    editor.set_current_frame(24)
    editor.add_keyframe_at_playhead()
    assert editor.path.frames == [0, 24, 48]
    np.testing.assert_allclose(editor.path.get(24).position, (0.0, 0.0, 1.0), atol=1e-9)
    editor.add_keyframe_at_playhead()
    assert "already has a keyframe" in editor.panel.message.text() and editor.undo_stack.count() == 1


def test_duplicate_and_delete_buttons(editor, qtbot):
    editor.select(0)
    qtbot.mouseClick(editor.panel.duplicate_button, Qt.MouseButton.LeftButton)
    assert editor.path.frames == [0, 24, 48] and editor.path.get(24).position == (0.0, 0.0, 0.0)
    qtbot.mouseClick(editor.panel.delete_button, Qt.MouseButton.LeftButton)
    assert editor.path.frames == [0, 48]
    editor.select(48)
    qtbot.mouseClick(editor.panel.delete_button, Qt.MouseButton.LeftButton)
    assert editor.path.frames == [0]
    assert not editor.panel.delete_button.isEnabled()  # the only keyframe stays


def test_keyframe_list_selects(editor):
    editor.panel.keyframe_list.setCurrentRow(1)
    assert editor.selected_frame == 48
    assert "frame   48" in editor.panel.keyframe_list.item(1).text()


def test_generate_button_emits_generate_requested(editor, qtbot):
    with qtbot.waitSignal(editor.generate_requested, timeout=1000):
        qtbot.mouseClick(editor.panel.generate_button, Qt.MouseButton.LeftButton)


def test_undo_and_redo_buttons_follow_the_stack(editor, qtbot):
    p = editor.panel
    assert not p.undo_button.isEnabled() and not p.redo_button.isEnabled()
    editor.add_keyframe_at_end()
    assert p.undo_button.isEnabled() and "Add keyframe at frame 72" in p.undo_button.toolTip()
    qtbot.mouseClick(p.undo_button, Qt.MouseButton.LeftButton)
    assert editor.path.frames == [0, 48] and p.redo_button.isEnabled()
    qtbot.mouseClick(p.redo_button, Qt.MouseButton.LeftButton)
    assert editor.path.frames == [0, 48, 72]


def test_changed_is_emitted_per_edit(editor, qtbot):
    with qtbot.waitSignal(editor.changed, timeout=1000):
        editor.add_keyframe_at_end()
    with qtbot.waitSignal(editor.changed, timeout=1000):
        editor.undo_stack.undo()


def test_length_snaps_to_the_streaming_rule(editor):
    editor.panel.length_box.setValue(60)
    assert editor.path.num_frames == 73 and editor.panel.length_box.value() == 73
    assert editor.trajectory()[0].shape == (73, 4, 4)
    editor.undo_stack.undo()
    assert editor.path.num_frames == 49


def test_playback_steps_at_16_fps_and_emits_the_frame(editor, qtbot):
    assert editor.timer.interval() == 62
    with qtbot.waitSignal(editor.playback_frame, timeout=1000) as blocker:
        editor.panel.play_button.click()
    assert blocker.args == [1] and editor.panel.play_button.text() == "Pause"
    editor.panel.play_button.click()
    assert not editor.timer.isActive()
    editor.current_frame = 48
    editor._tick()
    assert editor.current_frame == 0  # loops
    editor.panel.frame_slider.setValue(30)
    assert editor.current_frame == 30


def test_set_start_takes_the_fov_of_an_untouched_path(editor):
    image = np.zeros((64, 96, 3), np.uint8)
    path = editor.path
    editor.set_start(image, [100.0, 100.0, 48.0, 32.0], (96, 64))
    assert editor.path is path  # edited in place
    expected = float(focal_to_fov_deg(100.0, 64))
    assert all(k.vfov_deg == pytest.approx(expected) for k in editor.path.keyframes)
    c2w, intr = editor.trajectory()
    assert c2w.shape == (49, 4, 4) and intr.shape == (49, 4)
    np.testing.assert_allclose(intr[0], [100.0, 100.0, 48.0, 32.0])
    # an edited path keeps its keyframes
    editor.select(48)
    editor.set_selected_fov(70.0)
    editor.set_start(None, None, (160, 96))
    assert editor.path.get(48).vfov_deg == 70.0 and editor.path.frame_size == (160, 96)
    assert editor.trajectory(10)[1][0, 2:] == pytest.approx([80.0, 48.0])
    with pytest.raises(ValueError, match="frame size"):
        editor.set_start(None, None, (0, 96))
    assert editor.path.frame_size == (160, 96)


def test_import_and_export_functions(editor, tmp_path):
    editor.add_keyframe_at_end()
    out = editor.export_file(tmp_path / "cam.csv")
    assert [p.name for p in out] == ["cam.csv"] and "Exported" in editor.panel.message.text()
    dense = Trajectory(c2w=np.stack([np.eye(4)] * 30), intrinsics=[80.0, 80.0, 48.0, 32.0], image_size=(96, 64))
    dense.c2w[:, 0, 3] = np.linspace(0, 3, 30)
    write_trajectory(dense, tmp_path / "dense.npz")
    assert editor.import_file(tmp_path / "dense.npz", every=10)
    assert editor.path.frames == [0, 10, 20, 29] and editor.path.get(29).position[0] == pytest.approx(3.0)
    assert editor.path.num_frames == 49
    editor.undo_stack.undo()  # an import is one undo step
    assert editor.path.frames == [0, 48, 72]
    assert not editor.import_file(tmp_path / "missing.npz")
    assert "not found" in editor.panel.message.text() and editor.path.frames == [0, 48, 72]
    assert editor.export_file(tmp_path / "cam.xyz") == []
    assert "cannot tell the trajectory format" in editor.panel.message.text()


def test_gl_can_be_turned_off_and_says_so(qtbot, monkeypatch):
    from app.path.editor import gl_unavailable_reason

    monkeypatch.setenv("SANA_WM_NO_GL", "1")
    assert "SANA_WM_NO_GL" in gl_unavailable_reason()
    e = PathEditor()
    qtbot.addWidget(e)
    assert e.gl_view is None and "SANA_WM_NO_GL" in e.gl_message.text()


def test_the_start_keyframe_is_pinned_and_the_panel_says_why(editor):
    editor.select(0)
    panel = editor.panel
    assert not panel.fields["x"].isEnabled() and not panel.fields["vfov"].isEnabled()
    assert not panel.delete_button.isEnabled() and "start image's camera" in panel.delete_button.toolTip()
    assert "start image's camera" in panel.fields["frame"].toolTip()
    assert panel.keyframe_list.item(0).text().endswith("(start)")
    before = editor.path.keyframes
    for edit, words in ((editor.delete_selected, "cannot be deleted"),
                        (lambda: editor.move_selected(position=(1.0, 0.0, 0.0)), "cannot be moved"),
                        (lambda: editor.set_selected_fov(40.0), "another FOV"),
                        (lambda: editor.set_selected_frame(5), "moved in time")):  # fmt: skip
        edit()
        assert words in panel.message.text() and "frame 0" in panel.message.text()
    assert editor.path.keyframes == before and editor.undo_stack.count() == 0
    editor.select(48)
    assert panel.fields["x"].isEnabled() and panel.delete_button.isEnabled() and panel.fields["x"].toolTip() == ""


def test_the_start_keyframe_fov_follows_the_start_intrinsics_on_an_edited_path(editor):
    editor.add_keyframe_at_end()  # edited: set_start keeps the keyframes
    editor.set_start(None, [100.0, 100.0, 48.0, 32.0], (96, 64))
    assert editor.path.frames == [0, 48, 72]
    assert editor.path.get(0).vfov_deg == pytest.approx(float(focal_to_fov_deg(100.0, 64)))
    assert editor.path.get(48).vfov_deg == 60.0
    np.testing.assert_allclose(editor.trajectory()[1][0], [100.0, 100.0, 48.0, 32.0])


def test_an_imported_path_is_made_relative_to_its_first_pose(editor, tmp_path):
    n = 25
    c2w = np.tile(np.eye(4), (n, 1, 1))
    turn = Keyframe.from_euler(0, (0, 0, 0), yaw=30.0).rotation
    c2w[:, :3, :3] = turn
    c2w[:, :3, 3] = np.array([3.0, 0.0, 1.0]) + np.arange(n)[:, None] * 0.1 * turn[:, 2]  # forward along its view
    write_trajectory(Trajectory(c2w=c2w), tmp_path / "offset.npz")
    assert editor.import_file(tmp_path / "offset.npz", every=12)
    first = editor.path.get(0)
    assert first.position == pytest.approx((0, 0, 0)) and first.quaternion == pytest.approx((1, 0, 0, 0))
    np.testing.assert_allclose(editor.path.get(24).c2w[:3, 3], [0.0, 0.0, 2.4], atol=1e-9)  # straight ahead
    np.testing.assert_allclose(editor.trajectory()[0][0], np.eye(4), atol=1e-12)


def test_delete_and_backspace_in_the_keyframe_list_delete_the_selection_undoably(editor, qtbot):
    editor.show()
    qtbot.waitExposed(editor)
    editor.add_keyframe_at_end()
    listing = editor.panel.keyframe_list
    listing.setFocus()
    editor.select(72)
    qtbot.keyClick(listing, Qt.Key.Key_Delete)
    assert editor.path.frames == [0, 48]
    editor.select(48)
    qtbot.keyClick(listing, Qt.Key.Key_Backspace)
    assert editor.path.frames == [0]
    editor.undo_stack.undo()
    assert editor.path.frames == [0, 48]
    editor.select(0)
    qtbot.keyClick(listing, Qt.Key.Key_Delete)
    assert editor.path.frames == [0, 48] and "cannot be deleted" in editor.panel.message.text()
