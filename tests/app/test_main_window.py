"""The main window: menus and shortcuts, a demo started and driven on the tiny model, rewind and branch, errors
shown without losing state, settings kept."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QSettings, Qt
from PySide6.QtGui import QKeySequence

from app.keymap import preset
from app import main_window as mw
from app.main_window import DRIVE_MODE, MainWindow
from engine.generation.project import StartSettings
from app.settings import AppSettings

TIMEOUT = 30000


@pytest.fixture
def settings(tmp_path):
    return AppSettings(QSettings(str(tmp_path / "explorer.ini"), QSettings.Format.IniFormat))


@pytest.fixture
def window(qtbot, settings, tiny_bundle):
    win = MainWindow(settings, lambda source: tiny_bundle)
    qtbot.addWidget(win)
    win.show()
    yield win
    win.close()


def menu_actions(menu) -> dict[str, object]:
    return {a.text().replace("&", ""): a for a in menu.actions() if not a.isSeparator()}


def test_menus_follow_desktop_conventions_with_shortcuts(window):
    titles = [a.text().replace("&", "") for a in window.menuBar().actions()]
    assert titles == ["File", "Edit", "View", "Generate", "Help"]
    file_menu = menu_actions(window.file_menu)
    assert {"New", "Open image…", "Open session…", "Save session", "Save session as…", "Export", "Quit"} <= set(file_menu)
    assert file_menu["Save session"].shortcut() == QKeySequence("Ctrl+S")
    assert file_menu["Quit"].shortcut() == QKeySequence("Ctrl+Q")
    assert set(menu_actions(window.export_menu)) == {"Video (MP4)…", "Trajectory…", "Storyboard…"}
    assert {"Undo", "Redo", "Key map…"} <= set(menu_actions(window.edit_menu))
    assert {"Drive mode", "Path mode"} <= set(menu_actions(window.view_menu))
    generate = menu_actions(window.generate_menu)
    assert set(generate) == {"Start", "Step one chunk", "Drive", "Cancel", "Rewind one chunk", "Score this take…"}
    assert generate["Cancel"].shortcut() == QKeySequence("Esc") and generate["Drive"].isCheckable()
    assert set(menu_actions(window.help_menu)) == {"About", "Keys"}
    assert window.act_undo.shortcut() == QKeySequence(QKeySequence.StandardKey.Undo)


def test_opens_with_the_placeholder_and_nothing_to_step(window):
    assert not window.viewport.has_frame and not window.act_step.isEnabled() and not window.act_cancel.isEnabled()
    assert window.mode == DRIVE_MODE


def test_start_on_a_demo_then_hold_w_generates_chunks_and_records_them(qtbot, window):
    assert window.start_panel.select_demo("meadow_stroll")
    with qtbot.waitSignal(window.world_started, timeout=TIMEOUT):
        window.start_panel.start_button.click()
    qtbot.waitUntil(lambda: not window.client.busy, timeout=TIMEOUT)
    assert window.viewport.has_frame and window.model_info.frame_size == (96, 64)
    assert "sana-wm-tiny-test" in window.status_model.text()
    with qtbot.waitSignals([window.chunk_added] * 2, timeout=TIMEOUT):
        qtbot.keyPress(window.viewport, Qt.Key.Key_W)
    qtbot.keyRelease(window.viewport, Qt.Key.Key_W)
    project = window.project
    assert project.cursor >= 2 and [e.index for e in project.current.chunks[:2]] == [0, 1]
    assert project.start.extras["demo"] == "meadow_stroll"
    c2w = project.current.chunks[1].record.c2w
    assert c2w[-1][2, 3] > c2w[0][2, 3]  # moved forward (+Z)
    assert "chunk" in window.status_chunk.text() and "fps" in window.status_fps.text()
    assert window.act_rewind.isEnabled() or window.client.busy


def test_rewind_then_step_makes_a_branch_and_switching_back_restores(qtbot, driver, window, start_image):
    driver.start(window, start_image, name="grad.png")
    for _ in range(3):
        driver.step(window, "w")
    project = window.project
    original = [e.record for e in project.current.chunks]
    window.rewind_to(0)
    window.controller.on_chunk(original[1])  # finished just before the rewind reached the worker: ignored
    assert project.cursor == 1 and len(project.branches) == 1
    driver.idle(window)
    assert project.cursor == 1
    np.testing.assert_allclose(window.drive.integrator.pose, original[0].c2w[-1])
    window.drive.clear_held()
    window.hold("d")
    with qtbot.waitSignal(window.chunk_added, timeout=TIMEOUT):
        window.step_once()
    assert len(project.branches) == 2 and project.current.parent == 0 and project.current.fork_chunk == 1
    assert project.current.chunks[0].record is original[0]
    assert not np.allclose(project.current.chunks[1].record.c2w, original[1].c2w)
    driver.idle(window)
    window.select_branch(0)
    driver.idle(window)
    assert project.current_id == 0 and project.cursor == 3
    np.testing.assert_allclose(window.drive.integrator.pose, original[2].c2w[-1])


def test_errors_are_shown_and_the_state_is_kept(qtbot, driver, window, start_image):
    window.start_panel.request_start()  # no image yet
    assert "expected an image" in window.last_error and window.project is None
    driver.start(window, start_image)
    window.last_error = ""
    with qtbot.waitSignal(window.client.error, timeout=TIMEOUT):
        window.client.step(np.tile(np.eye(4), (3, 1, 1)))
    assert "poses: expected 24" in window.last_error
    assert window.project is not None and window.project.cursor == 0


def test_refine_is_reported_unavailable_for_a_model_without_a_refiner(qtbot, driver, window, start_image):
    driver.start(window, start_image)
    driver.step(window)
    with qtbot.waitSignal(window.client.error, timeout=TIMEOUT):
        window.refine(0, 1)
    assert "no stage-2 refiner" in window.last_error
    assert window.project.current.chunks[0].refined_frames is None


def test_key_map_and_window_geometry_persist(qtbot, settings, tiny_bundle):
    first = MainWindow(settings, lambda source: tiny_bundle)
    qtbot.addWidget(first)
    first.resize(700, 500)
    first.apply_keymap(preset("arrows"))
    first.close()
    second = MainWindow(settings, lambda source: tiny_bundle)
    qtbot.addWidget(second)
    assert second.drive.keymap == preset("arrows")
    assert (second.width(), second.height()) == (700, 500)
    second.close()


def test_escape_cancels_a_running_step(qtbot, driver, window, start_image, tiny_bundle):
    import threading

    driver.start(window, start_image)
    gate = threading.Event()
    original = tiny_bundle.transformer.forward

    def slow(*args, **kwargs):
        gate.wait(10)
        return original(*args, **kwargs)

    tiny_bundle.transformer.forward = slow
    try:
        window.hold("w")
        window.step_once()
        assert window.act_cancel.isEnabled()
        with qtbot.waitSignal(window.client.cancelled, timeout=TIMEOUT):
            window.act_cancel.trigger()
            gate.set()
    finally:
        del tiny_bundle.transformer.forward
    driver.idle(window)
    assert window.project.cursor == 0
    np.testing.assert_allclose(window.drive.integrator.pose, np.eye(4))  # the uncommitted poses were rolled back


def test_unsaved_chunks_are_not_lost_silently(qtbot, driver, window, start_image):
    driver.start(window, start_image)
    assert window.windowTitle() == "untitled[*] — SANA-WM Explorer" and not window.isWindowModified()
    driver.step(window)
    assert window.isWindowModified()
    asked = []
    window.ask_save_changes = lambda: asked.append(1) or "cancel"
    project = window.project
    window.new_world()
    assert window.project is project and asked == [1]  # cancelled: nothing replaced
    assert not window.close() and window.isVisible()
    window.ask_save_changes = lambda: "discard"
    window.new_world()
    assert window.project is None


def test_an_image_dropped_on_the_viewport_replaces_the_demo_in_the_start_panel(qtbot, window, tmp_path):
    from PIL import Image

    path = tmp_path / "dropped.png"
    Image.fromarray(np.full((30, 40, 3), 77, np.uint8)).save(path)
    assert window.start_panel.select_demo("snowfield")
    window.viewport.image_dropped.emit(str(path))
    panel = window.start_panel
    assert panel.demo is None and panel.demo_box.currentIndex() == 0
    assert panel.image_name == "dropped.png" and panel.image.shape == (30, 40, 3)


def test_a_model_is_remembered_once_loaded_and_a_failed_start_keeps_the_world(qtbot, driver, settings, tiny_bundle, start_image):
    def factory(source):
        if source == "/models/broken":
            from engine.errors import BundleError

            raise BundleError("--model /models/broken: expected a model folder, found nothing at that path")
        return tiny_bundle

    win = MainWindow(settings, factory)
    qtbot.addWidget(win)
    win.start_panel.model_edit.setText("/models/good")
    driver.start(win, start_image)
    assert settings.model() == "/models/good" and win.model_info.source == "/models/good"
    first = driver.step(win, "w")
    project = win.project
    win.start_panel.model_edit.setText("/models/broken")
    with qtbot.waitSignal(win.client.error, timeout=TIMEOUT):
        win.start_panel.request_start()
    driver.idle(win)
    assert settings.model() == "/models/good" and "/models/broken" in win.last_error
    # the failed start changed nothing: same document, the stream goes on
    assert win.started and win.project is project and driver.step(win).index == first.index + 1
    win.close()


def test_a_start_with_bad_intrinsics_keeps_the_running_world(qtbot, driver, window, start_image):
    driver.start(window, start_image)
    first = driver.step(window, "w")
    project = window.project
    bad = StartSettings(image=start_image, intrinsics=(-5.0, 5.0, 60.0, 40.0))  # e.g. from a session file
    with qtbot.waitSignal(window.client.error, timeout=TIMEOUT):
        window.start_world(bad)
    driver.idle(window)
    assert window.project is project and window.started and "focal lengths must be positive" in window.last_error
    assert driver.step(window).index == first.index + 1


def test_disabled_menu_entries_say_why_and_enable_once_there_is_something(qtbot, driver, window, start_image):
    menus = (window.file_menu, window.export_menu, window.edit_menu, window.view_menu, window.generate_menu,
             window.help_menu)  # fmt: skip
    assert all(m.toolTipsVisible() for m in menus)
    exports = menu_actions(window.export_menu).values()
    assert all(not a.isEnabled() and a.toolTip() == "Nothing to export yet: generate a chunk first" for a in exports)
    assert not window.act_save.isEnabled() and window.act_save.toolTip().startswith("Nothing to save yet")
    assert window.act_step.toolTip().startswith("Start a world first")
    assert window.act_cancel.toolTip() == "Nothing is being generated"
    for menu in menus:  # every disabled entry has a reason, not just its own name
        for act in menu_actions(menu).values():
            if not act.isEnabled():
                assert act.toolTip() != act.text().replace("&", "").rstrip("…"), act.text()
    driver.start(window, start_image)
    assert window.act_rewind.toolTip() == "No chunk to rewind yet" and window.act_step.isEnabled()
    driver.step(window, "w")
    assert all(a.isEnabled() and not a.toolTip().startswith("Nothing") for a in exports)
    assert window.act_save.isEnabled() and window.act_rewind.isEnabled()
    window.rewind_one()
    driver.idle(window)
    assert window.status_state.text() == "rewound to the start image: driving on makes a new branch"
    assert window.status_chunk.text().startswith("start image")


def test_help_keys_lists_the_key_map_in_use_and_the_shortcuts(window, monkeypatch):
    shown = []
    monkeypatch.setattr(mw.QMessageBox, "information", lambda parent, title, text, *a: shown.append(text))
    window.act_keys.trigger()
    assert "key map 'v2' (v2 mapping)" in shown[-1] and "<b>W</b></td><td>w</td><td>forward" in shown[-1]
    assert "<b>A</b></td><td>a</td><td>yaw left" in shown[-1] and "Ctrl+Right</b></td><td>Step one chunk" in shown[-1]
    window.apply_keymap(preset("arrows"))
    assert window.status_state.text().startswith("key map: arrows")
    window.act_keys.trigger()
    assert "key map 'arrows'" in shown[-1] and "<b>Up</b></td><td>w</td><td>forward" in shown[-1]
    assert "<b>W</b>" not in shown[-1]
    window.apply_keymap(preset("v1"))
    window.act_keys.trigger()
    assert "<b>A</b></td><td>a</td><td>strafe left" in shown[-1]  # v1: a/d strafe


def test_mode_switches_and_path_edits_show_in_the_status_bar_and_the_edit_menu(window):
    window.act_path_mode.trigger()
    assert window.status_state.text() == "path mode: open an image or pick a demo, then Start"
    window.path_editor.add_keyframe_at_end()
    assert window.act_undo.isEnabled() and window.act_undo.toolTip() == "Undo Add keyframe at frame 72"
    window.act_undo.trigger()
    assert window.act_redo.toolTip() == "Redo Add keyframe at frame 72"
    assert window.act_undo.toolTip().startswith("Nothing to undo")
    window.path_editor.panel.generate_button.click()  # nothing started yet: a clear error, nothing lost
    assert window.last_error.startswith("generate along the path: start a world first")
    assert len(window.path_editor.path) == 2 and window.project is None
    window.act_drive_mode.trigger()
    assert window.status_state.text() == "drive mode: open an image or pick a demo, then Start"


def test_use_suggested_path_loads_the_demos_action_into_path_mode_with_undo(qtbot, window):
    from app.menus import PATH_MODE
    from engine.camera.actions import action_num_frames
    from engine.io.demos import load_demo

    panel, editor = window.start_panel, window.path_editor
    assert not panel.use_suggested_button.isVisibleTo(panel)
    assert panel.select_demo("meadow_stroll")
    demo = load_demo("meadow_stroll")
    assert panel.use_suggested_button.isVisibleTo(panel)  # the suggestion is a button, not just a label
    before = editor.path.copy()
    qtbot.mouseClick(panel.use_suggested_button, Qt.MouseButton.LeftButton)
    assert window.stack.currentIndex() == PATH_MODE
    assert editor.path.num_frames >= action_num_frames(demo.action) + 1  # every frame of the action, plus frame 0
    assert not editor.path.same_as(before) and len(editor.path) > 2
    editor.undo_stack.undo()  # one step takes it back
    assert editor.path.same_as(before)


def test_a_chunk_shows_its_denoising_steps_and_the_time_left_by_the_last_chunk(window, monkeypatch):
    import app.main_window as mw

    clock = iter([100.0, 101.0, 102.0, 103.0, 104.0, 110.0, 111.5])
    monkeypatch.setattr(mw.time, "monotonic", lambda: next(clock))
    progress = window.client.progress  # what the engine worker reports from WorldSession.step
    progress.emit("sample", 1, 4)
    assert window.status_state.text() == "chunk 0: step 1/4"  # the first chunk: no timing to go by yet
    for done in (2, 3, 4):
        progress.emit("sample", done, 4)
    progress.emit("decode", 1, 1)  # the frames are decoded, the commit pass is still to come: no clock read
    progress.emit("cache", 1, 1)  # 4 s from the first step to the committed chunk
    progress.emit("sample", 1, 4)
    progress.emit("sample", 2, 4)
    assert window.status_state.text() == "chunk 0: step 2/4, ~2 s left"
