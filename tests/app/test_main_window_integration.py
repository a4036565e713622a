"""The main window with the real parts plugged in: the path editor (generation along a path, undo), the timeline
(rewind / branch / refine requests), export and session files (save, open and resume, autosave, crash recovery).
Qt's offscreen platform has no OpenGL, so the path editor runs with its panel only (its 3D view is tested under Xvfb
in tests/app/path)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from app import main_window as mw
from app import autosave
from app.main_window import PATH_MODE
from engine.generation.project import Project, StartSettings
from engine.camera.formats import write_trajectory
from engine.camera.trajectory import Trajectory

TIMEOUT = 30000


def straight_path_file(folder, n: int = 49, x: float = 3.0):
    """A trajectory file: straight forward along +Z, 0.05 per frame, starting at ``x`` (not at the origin)."""
    c2w = np.tile(np.eye(4), (n, 1, 1))
    c2w[:, 0, 3] = x
    c2w[:, 2, 3] = 0.05 * np.arange(n)
    traj = Trajectory(c2w=c2w, intrinsics=np.tile([80.0, 80.0, 48.0, 32.0], (n, 1)), image_size=(96, 64))
    path = folder / "straight.npz"
    write_trajectory(traj, path, format="npz")
    return path, c2w




def test_generate_along_an_imported_path_starts_at_the_image_and_follows_it(qtbot, driver, make_window, start_image,
                                                                            tmp_path):
    window = make_window()
    editor = window.path_editor
    assert window.act_path_mode.isEnabled() and window.stack.indexOf(editor) == PATH_MODE
    driver.start(window, start_image)
    assert editor.path.frame_size == (96, 64)  # the model's frame size
    file, c2w = straight_path_file(tmp_path)
    assert editor.import_file(file)
    with qtbot.waitSignals([window.chunk_added] * 2, timeout=TIMEOUT):
        editor.panel.generate_button.click()
    assert window.mode == PATH_MODE
    records = [e.record for e in window.project.current.chunks]
    assert [r.index for r in records] == [0, 1]
    # relative to the path's first pose: the take starts at the start image, 0.05 forward per frame
    np.testing.assert_allclose(records[0].c2w[:, 2, 3], c2w[0:25, 2, 3], atol=1e-6)  # with the start frame
    np.testing.assert_allclose(records[1].c2w[:, 2, 3], c2w[25:49, 2, 3], atol=1e-6)
    np.testing.assert_allclose(records[1].c2w[:, 0, 3], 0.0, atol=1e-6)
    np.testing.assert_allclose(records[1].intrinsics, np.tile([80.0, 80.0, 48.0, 32.0], (24, 1)), rtol=1e-5)
    driver.idle(window)
    np.testing.assert_allclose(window.drive.integrator.pose, records[1].c2w[-1])  # driving goes on from the path's end


def test_path_chunks_are_fed_relative_to_frame_0_whatever_the_paths_world(driver, monkeypatch, make_window,
                                                                          start_image, tmp_path):
    """The window does not rely on the editor's pinned start keyframe: poses go to the engine relative to frame 0."""
    window = make_window()
    driver.start(window, start_image)
    _, c2w = straight_path_file(tmp_path)
    monkeypatch.setattr(window.path_editor, "trajectory", lambda n=None: (c2w[: n or len(c2w)], None))
    window.set_mode(PATH_MODE)
    record = driver.step(window)
    np.testing.assert_allclose(record.c2w[:, 0, 3], 0.0, atol=1e-9)
    np.testing.assert_allclose(record.c2w[:, 2, 3], c2w[:25, 2, 3], atol=1e-9)


def test_undo_and_redo_drive_the_path_editors_stack(make_window):
    window = make_window()
    assert not window.act_undo.isEnabled()
    window.path_editor.add_keyframe_at_end()
    assert window.act_undo.isEnabled() and len(window.path_editor.path) == 3
    window.act_undo.trigger()
    assert window.path_editor.undo_stack.index() == 0 and window.act_redo.isEnabled()
    assert len(window.path_editor.path) == 2
    window.act_redo.trigger()
    assert len(window.path_editor.path) == 3


def test_timeline_requests_rewind_branch_and_refine(qtbot, driver, make_window, start_image):
    window = make_window()
    timeline = window.timeline
    driver.start(window, start_image)
    assert timeline.project is window.project
    reason = "the model 'sana-wm-tiny-test' has no stage-2 refiner"
    assert not timeline.refine_button.isEnabled() and timeline.refine_button.toolTip() == reason
    for _ in range(2):
        driver.step(window, "w")
    assert timeline.strip.count == 2
    with qtbot.waitSignal(window.client.restored, timeout=TIMEOUT):
        timeline.rewind_requested.emit(0)
    assert window.project.cursor == 1 and "cursor after chunk 0" in timeline.info.text()
    driver.idle(window)
    with qtbot.waitSignal(window.chunk_added, timeout=TIMEOUT):
        window.step_once()
    assert sorted(window.project.branches) == [0, 1] and timeline.takes.count() == 2
    driver.idle(window)
    timeline.branch_selected.emit(0)
    assert window.project.current_id == 0
    name = window.project.current.name
    assert window.status_state.text() == f"switched to {name}" and window.status_chunk.text() == f"chunk 1 · {name}"
    timeline.discard_requested.emit(1)
    assert sorted(window.project.branches) == [0] and timeline.takes.count() == 1
    with qtbot.waitSignal(window.client.error, timeout=TIMEOUT):
        timeline.refine_requested.emit(0, 2)
    assert "no stage-2 refiner" in window.last_error


def test_refined_frames_replace_the_preview_in_place(qtbot, driver, make_window, start_image, tiny_bundle):
    class Refiner:
        def refine(self, latents, prompt, seed=42, progress=None):
            return latents * 0.5

    bundle = dataclasses.replace(tiny_bundle, refiner=Refiner())
    window = make_window()
    window.client.worker._factory = lambda source: bundle
    driver.start(window, start_image)
    for _ in range(3):
        driver.step(window)
    window.timeline.select(1, 3)
    assert window.timeline.refine_button.isEnabled()
    before = [e.frames.copy() for e in window.project.current.chunks]
    with qtbot.waitSignal(window.client.refined, timeout=TIMEOUT):
        window.timeline.refine_button.click()
    chunks = window.project.current.chunks
    assert not chunks[0].refined and chunks[1].refined and chunks[2].refined
    assert chunks[1].frames.shape == before[1].shape and not np.array_equal(chunks[1].frames, before[1])
    assert "refined chunks 1-2" in window.status_state.text()


def test_save_then_open_a_session_continues_where_it_was(qtbot, driver, make_window, start_image, tmp_path):
    window = make_window()
    driver.start(window, start_image)
    records = [driver.step(window, "w") for _ in range(2)]
    window.rewind_to(0)
    driver.idle(window)
    assert window._save(tmp_path / "take.swm") and not window.project.dirty
    assert window.windowTitle().startswith("take.swm")

    other = make_window()
    with qtbot.waitSignal(other.client.restored, timeout=TIMEOUT):
        assert other.open_session(tmp_path / "take.swm")
    assert other.session_path == tmp_path / "take.swm" and other.started and other.project.cursor == 1
    assert other.timeline.project is other.project and other.timeline.strip.count == 2
    qtbot.waitUntil(lambda: not other.client.busy, timeout=TIMEOUT)
    np.testing.assert_allclose(other.drive.integrator.pose, records[0].c2w[-1])
    with qtbot.waitSignal(other.chunk_added, timeout=TIMEOUT) as got:
        other.client.step(records[1].c2w)
    assert got.args[0].index == 1 and torch.equal(got.args[0].latents, records[1].latents)


def test_opening_a_file_that_is_not_a_session_says_so_and_keeps_the_world(qtbot, driver, make_window, start_image,
                                                                           tmp_path):
    window = make_window()
    driver.start(window, start_image)
    driver.step(window, "w")
    project = window.project
    bad = tmp_path / "notes.swm"
    bad.write_text("not a zip")
    assert not window.open_session(bad)
    assert str(bad) in window.last_error and window.project is project and window.started


def test_crash_recovery_offers_the_newest_autosave(qtbot, monkeypatch, make_window, start_image, tmp_path):
    leftover = tmp_path / "autosave-crashed.swm"  # what a crashed app leaves: an autosave without a held lock
    autosave.save_project(Project(StartSettings(image=start_image, prompt="a meadow")), leftover)
    monkeypatch.setattr(mw, "find_recovery", lambda: autosave.find_recovery(tmp_path))
    window = make_window()
    asked = []
    assert not window.offer_recovery(ask=lambda rec: asked.append(rec) or "later") and leftover.exists()
    assert asked[0].path == leftover and asked[0].prompt == "a meadow"
    with qtbot.waitSignal(window.world_started, timeout=TIMEOUT):
        assert window.offer_recovery(ask=lambda rec: "recover")
    assert window.project.start.prompt == "a meadow" and window.session_path is None and not leftover.exists()
    autosave.save_project(Project(StartSettings(image=start_image)), leftover)
    assert not window.offer_recovery(ask=lambda rec: "discard") and not leftover.exists()
    assert not window.offer_recovery(ask=lambda rec: pytest.fail("nothing left to offer"))


def test_the_autosaver_watches_the_current_project_and_closes_cleanly(qtbot, driver, make_window, start_image):
    window = make_window()
    autosaver = window.autosaver
    assert autosaver is not None
    driver.start(window, start_image)
    driver.step(window, "w")
    assert autosaver._project is window.project
    assert autosaver.save_if_changed()
    autosaver.wait()
    assert autosave.load_project(autosaver.path).current.chunks[0].record.index == 0
    window.new_world()
    assert autosaver._project is None
    autosaver.failed.emit("disk full")
    assert window.status_state.text() == "autosave failed: disk full"
    window.close()
    assert window.autosaver is None and not autosaver.path.exists()


def test_menu_actions_open_their_dialogs_and_a_cancelled_dialog_changes_nothing(qtbot, monkeypatch, make_window):
    asked = []
    monkeypatch.setattr(mw.QFileDialog, "getOpenFileName", lambda *a, **k: asked.append(a[1]) or ("", ""))
    window = make_window()
    window.act_open_session.trigger()
    window.act_open_image.trigger()
    assert asked == ["Open session", "Open image"] and window.project is None and window.last_error == ""


def test_without_a_usable_autosave_folder_the_window_runs_and_says_autosave_is_off(monkeypatch, make_window):
    def locked(*args, **kwargs):
        raise autosave.SessionFileError("autosave-x.lock: cannot take the autosave lock")

    monkeypatch.setattr(mw, "Autosaver", locked)
    window = make_window()
    assert window.autosaver is None
    assert window.status_state.text() == "autosave is off: autosave-x.lock: cannot take the autosave lock"
    window.close()  # a clean close without an autosaver
