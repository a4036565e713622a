"""The main window's integration points, exercised with stand-ins for the other engineers' widgets and modules:
the path editor (generation along a path), the timeline (rewind / branch / refine requests), session files (save,
open and resume, autosave, crash recovery). The real modules plug into the same calls."""

from __future__ import annotations

import sys
import types

import numpy as np
import pytest
from PySide6.QtCore import QSettings, Signal
from PySide6.QtGui import QUndoCommand, QUndoStack
from PySide6.QtWidgets import QWidget

from app import main_window as mw
from app.main_window import PATH_MODE, MainWindow
from app.project import Project
from app.settings import AppSettings

TIMEOUT = 30000
real_optional = mw.optional


class FakePathEditor(QWidget):
    """A straight path forward along +Z, 0.05 per frame, 49 frames (two chunks)."""

    changed = Signal()
    generate_requested = Signal()

    def __init__(self) -> None:
        super().__init__()
        self.undo_stack = QUndoStack(self)
        self.starts: list[tuple] = []

    def set_start(self, image, intrinsics, frame_size=(640, 352)) -> None:
        self.starts.append((image, intrinsics, frame_size))

    def trajectory(self, num_frames: int | None = None):
        n = 49 if num_frames is None else num_frames
        c2w = np.tile(np.eye(4), (n, 1, 1))
        c2w[:, 0, 3] = 3.0  # the path's own world: not starting at the origin
        c2w[:, 2, 3] = 0.05 * np.arange(n)
        return c2w, np.tile([80.0, 80.0, 48.0, 32.0], (n, 1))


class FakeTimeline(QWidget):
    rewind_requested = Signal(int)
    branch_selected = Signal(int)
    discard_requested = Signal(int)
    refine_requested = Signal(int, int)

    def __init__(self) -> None:
        super().__init__()
        self.projects: list[object] = []
        self.refreshes = 0
        self.refine_state: tuple[bool, str] | None = None

    def set_project(self, project) -> None:
        self.projects.append(project)

    def refresh(self) -> None:
        self.refreshes += 1

    def set_refine_available(self, available: bool, reason: str = "") -> None:
        self.refine_state = (available, reason)


def with_parts(monkeypatch, **parts) -> None:
    """Make ``optional(module, name)`` return the given stand-ins (keyed by name) and the real thing otherwise."""
    monkeypatch.setattr(mw, "optional", lambda module, name: parts[name] if name in parts else real_optional(module, name))


@pytest.fixture
def make_window(qtbot, tmp_path, tiny_bundle):
    made = []

    def make() -> MainWindow:
        win = MainWindow(AppSettings(QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat)),
                         lambda source: tiny_bundle)  # fmt: skip
        qtbot.addWidget(win)
        win.show()
        made.append(win)
        return win

    yield make
    for win in made:
        win.close()


def test_generate_along_the_path_makes_a_take_that_follows_it(qtbot, driver, monkeypatch, make_window, start_image):
    with_parts(monkeypatch, PathEditor=FakePathEditor)
    window = make_window()
    editor = window.path_editor
    assert isinstance(editor, FakePathEditor) and window.act_path_mode.isEnabled()
    driver.start(window, start_image)
    assert editor.starts and editor.starts[-1][2] == (96, 64)  # frame size of the model
    with qtbot.waitSignals([window.chunk_added] * 2, timeout=TIMEOUT):
        editor.generate_requested.emit()
    assert window.mode == PATH_MODE
    records = [e.record for e in window.project.current.chunks]
    assert [r.index for r in records] == [0, 1]
    path = FakePathEditor().trajectory(49)[0]
    np.testing.assert_allclose(records[1].c2w[:, 2, 3], path[25:49, 2, 3])  # relative to the path's first pose
    np.testing.assert_allclose(records[1].c2w[:, 0, 3], 0.0)
    np.testing.assert_allclose(records[1].intrinsics, np.tile([80.0, 80.0, 48.0, 32.0], (24, 1)))
    driver.idle(window)
    np.testing.assert_allclose(window.drive.integrator.pose, records[1].c2w[-1])  # driving goes on from the path's end


def test_undo_and_redo_drive_the_path_editors_stack(qtbot, monkeypatch, make_window):
    with_parts(monkeypatch, PathEditor=FakePathEditor)
    window = make_window()
    assert not window.act_undo.isEnabled()
    window.path_editor.undo_stack.push(QUndoCommand("move"))
    window.path_editor.changed.emit()
    assert window.act_undo.isEnabled()
    window.act_undo.trigger()
    assert window.path_editor.undo_stack.index() == 0 and window.act_redo.isEnabled()


def test_timeline_requests_rewind_branch_and_refine(qtbot, driver, monkeypatch, make_window, start_image):
    with_parts(monkeypatch, Timeline=FakeTimeline)
    window = make_window()
    timeline = window.timeline
    assert window.timeline_dock is not None
    driver.start(window, start_image)
    assert timeline.projects[-1] is window.project
    assert timeline.refine_state == (False, "the model 'sana-wm-tiny-test' has no stage-2 refiner")
    for _ in range(2):
        driver.step(window, "w")
    refreshes = timeline.refreshes
    with qtbot.waitSignal(window.client.restored, timeout=TIMEOUT):
        timeline.rewind_requested.emit(0)
    assert window.project.cursor == 1 and timeline.refreshes > refreshes
    driver.idle(window)
    with qtbot.waitSignal(window.chunk_added, timeout=TIMEOUT):
        window.step_once()
    assert sorted(window.project.branches) == [0, 1]
    driver.idle(window)
    timeline.branch_selected.emit(0)
    assert window.project.current_id == 0
    timeline.discard_requested.emit(1)
    assert sorted(window.project.branches) == [0]
    with qtbot.waitSignal(window.client.error, timeout=TIMEOUT):
        timeline.refine_requested.emit(0, 2)
    assert "no stage-2 refiner" in window.last_error


def test_refined_frames_replace_the_preview_in_place(qtbot, driver, monkeypatch, make_window, start_image, tiny_bundle):
    import dataclasses

    class Refiner:
        def refine(self, latents, prompt, seed=42, progress=None):
            return latents * 0.5

    bundle = dataclasses.replace(tiny_bundle, refiner=Refiner())
    with_parts(monkeypatch, Timeline=FakeTimeline)
    window = make_window()
    window.client.worker._factory = lambda source: bundle
    driver.start(window, start_image)
    assert window.timeline.refine_state == (True, "")
    for _ in range(3):
        driver.step(window)
    before = [e.frames.copy() for e in window.project.current.chunks]
    with qtbot.waitSignal(window.client.refined, timeout=TIMEOUT):
        window.timeline.refine_requested.emit(1, 3)
    chunks = window.project.current.chunks
    assert not chunks[0].refined and chunks[1].refined and chunks[2].refined
    assert chunks[1].frames.shape == before[1].shape and not np.array_equal(chunks[1].frames, before[1])
    assert "refined chunks 1-2" in window.status_state.text()


def fake_session_module(store: dict) -> types.ModuleType:
    module = types.ModuleType("app.session_file")

    def save_project(project, path):
        store[str(path)] = project
        path.write_bytes(b"swm")
        return path

    def load_project(path):
        return store[str(path)]

    def resume_session(session, project):  # continue at the cursor (the real one also re-points the snapshots)
        live = project.live_chunks
        session.start(project.start.image, seed=project.start.seed)
        if live:
            session._state = live[-1].record.snapshot

    module.save_project, module.load_project, module.resume_session = save_project, load_project, resume_session
    return module


def test_save_then_open_a_session_continues_where_it_was(qtbot, driver, monkeypatch, make_window, start_image, tmp_path):
    store: dict = {}
    monkeypatch.setitem(sys.modules, "app.session_file", fake_session_module(store))
    window = make_window()
    assert window.act_open_session.isEnabled()
    driver.start(window, start_image)
    records = [driver.step(window, "w") for _ in range(2)]
    window.rewind_to(0)
    driver.idle(window)
    assert window._save(tmp_path / "take.swm") and not window.project.dirty
    saved = window.project

    other = make_window()
    with qtbot.waitSignal(other.client.restored, timeout=TIMEOUT):
        assert other.open_session(tmp_path / "take.swm")
    assert other.project is saved and other.session_path == tmp_path / "take.swm" and other.started
    qtbot.waitUntil(lambda: not other.client.busy, timeout=TIMEOUT)
    np.testing.assert_allclose(other.drive.integrator.pose, records[0].c2w[-1])
    with qtbot.waitSignal(other.chunk_added, timeout=TIMEOUT) as got:
        other.client.step(records[1].c2w)
    assert got.args[0].index == 1
    import torch

    assert torch.equal(got.args[0].latents, records[1].latents)


def test_crash_recovery_offers_the_newest_autosave(qtbot, monkeypatch, make_window, start_image, tmp_path):
    store: dict = {}
    module = fake_session_module(store)
    discarded = []

    class Recovery:
        path = tmp_path / "autosave-1.swm"
        saved_at, chunks, prompt = 0.0, 0, ""

        def discard(self):
            discarded.append(self.path)

    module.find_recovery = lambda: [Recovery()]
    monkeypatch.setitem(sys.modules, "app.session_file", module)
    from app.project import StartSettings

    store[str(Recovery.path)] = Project(StartSettings(image=start_image))
    window = make_window()
    assert not window.offer_recovery(ask=lambda rec: "later") and discarded == []
    with qtbot.waitSignal(window.world_started, timeout=TIMEOUT):
        assert window.offer_recovery(ask=lambda rec: "recover")
    assert window.project is store[str(Recovery.path)] and window.session_path is None and discarded == [Recovery.path]
    assert not window.offer_recovery(ask=lambda rec: "discard") and len(discarded) == 2


def test_the_autosaver_watches_the_current_project_and_closes_cleanly(qtbot, driver, monkeypatch, make_window, start_image):
    from PySide6.QtCore import QObject

    module = fake_session_module({})
    events = []

    class Autosaver(QObject):
        failed = Signal(str)

        def set_project(self, project):
            events.append(("watch", project))

        def close(self):
            events.append(("close", None))

    module.Autosaver = Autosaver
    monkeypatch.setitem(sys.modules, "app.session_file", module)
    window = make_window()
    driver.start(window, start_image)
    assert events == [("watch", window.project)]
    window.new_world()
    assert events[-1] == ("watch", None)
    window.autosaver.failed.emit("disk full")
    assert window.status_state.text() == "autosave failed: disk full"
    window.close()
    assert events[-1] == ("close", None) and window.autosaver is None


def test_menu_actions_open_their_dialogs_and_a_cancelled_dialog_changes_nothing(qtbot, monkeypatch, make_window):
    monkeypatch.setitem(sys.modules, "app.session_file", fake_session_module({}))
    asked = []
    monkeypatch.setattr(mw.QFileDialog, "getOpenFileName", lambda *a, **k: asked.append(a[1]) or ("", ""))
    window = make_window()
    window.act_open_session.trigger()
    window.act_open_image.trigger()
    assert asked == ["Open session", "Open image"] and window.project is None and window.last_error == ""
