"""Drive mode: held keys (press/release, auto-repeat, focus loss), key maps, and poses that equal the integrator's."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest
from PySide6.QtCore import QEvent, Qt
from PySide6.QtGui import QFocusEvent, QKeyEvent, QKeySequence
from PySide6.QtWidgets import QApplication, QWidget

from app.drive import DriveController, display_needs_chunk
from app.keymap import preset
from engine.camera.integrator import MotionIntegrator

K = Qt.Key


@pytest.fixture
def widget(qtbot):
    w = QWidget()
    w.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
    qtbot.addWidget(w)
    return w


def test_key_press_and_release_hold_dsl_keys_and_auto_repeat_is_ignored(qtbot, widget):
    drive = DriveController(release_grace_ms=0)
    widget.installEventFilter(drive)
    changes = []
    drive.held_changed.connect(changes.append)
    qtbot.keyPress(widget, K.Key_W)
    qtbot.keyPress(widget, K.Key_J)
    assert drive.held == {"w", "j"}
    qtbot.keyRelease(widget, K.Key_W)
    assert drive.held == {"j"}
    drive.press(K.Key_J.value, auto_repeat=True)
    drive.release(K.Key_J.value, auto_repeat=True)  # auto-repeat's release is not a real release
    assert drive.held == {"j"}
    assert drive.press(K.Key_Q.value) is False  # not a driving key: left for the rest of the UI
    assert changes == [{"w"}, {"w", "j"}, {"j"}]


def _key(kind: QEvent.Type, key: Qt.Key, auto_repeat: bool) -> QKeyEvent:
    text = QKeySequence(key).toString().lower()
    return QKeyEvent(kind, key, Qt.KeyboardModifier.NoModifier, text, auto_repeat)


def test_held_key_with_desktop_auto_repeat_stays_held_and_every_tick_records_it(qtbot, widget):
    """Qt's auto-repeat as the desktop sends it: release/press pairs flagged isAutoRepeat, and (X11 under load) the
    release seen alone, unflagged, with the repeat press right after it. Neither may read as a release: no overlay
    flicker, no frame recorded without W."""
    drive = DriveController()
    widget.installEventFilter(drive)
    changes = []
    drive.held_changed.connect(changes.append)
    QApplication.sendEvent(widget, _key(QEvent.Type.KeyPress, K.Key_W, False))
    qtbot.keyPress(widget, K.Key_D)  # so the recorded sets need W to be exactly {w, d}
    for i in range(12):
        flagged = i % 2 == 0
        QApplication.sendEvent(widget, _key(QEvent.Type.KeyRelease, K.Key_W, flagged))
        drive.tick()  # a frame recorded between the release and the repeat press
        QApplication.sendEvent(widget, _key(QEvent.Type.KeyPress, K.Key_W, True))
    assert changes == [{"w"}, {"w", "d"}]
    assert drive.chunk_keys()[:1] == [frozenset("wd")] and drive.pending == 12
    assert set(drive._pending) == {frozenset("wd")}


def test_a_real_release_takes_effect_after_the_auto_repeat_grace(qtbot, widget):
    drive = DriveController(release_grace_ms=30)
    widget.installEventFilter(drive)
    qtbot.keyPress(widget, K.Key_W)
    qtbot.keyRelease(widget, K.Key_W)
    assert drive.held == {"w"}  # maybe an auto-repeat release: wait for the press that would follow
    qtbot.waitUntil(lambda: drive.held == frozenset(), timeout=2000)


def test_keys_released_at_different_times_each_wait_out_their_own_grace(qtbot):
    drive = DriveController(release_grace_ms=60)
    drive.press(K.Key_W.value)
    drive.press(K.Key_D.value)
    drive.release(K.Key_W.value)
    qtbot.wait(30)
    drive.release(K.Key_D.value)
    qtbot.waitUntil(lambda: drive.held == {"d"}, timeout=2000)  # W's grace is over, D's is not yet
    qtbot.waitUntil(lambda: drive.held == frozenset(), timeout=2000)
    drive.release(K.Key_W.value)  # a key no longer held: nothing to wait for
    assert not drive._releasing


def test_a_controller_dropped_after_its_release_grace_fired_is_freed_without_a_crash():
    """The explorer's flaky segfault in CI: a release timer whose slot held the controller was its last owner, so
    deleting the timer freed the controller, which deleted the timer again. Run apart: a regression kills the
    interpreter, not the test session."""
    script = textwrap.dedent("""
        import os
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
        from PySide6.QtCore import Qt
        from PySide6.QtWidgets import QApplication
        from app.drive import DriveController
        app = QApplication([])
        for _ in range(20):
            drive = DriveController(release_grace_ms=2)
            drive.press(Qt.Key.Key_W.value)
            drive.release(Qt.Key.Key_W.value)
            while drive.held:
                app.processEvents()
            del drive
            app.processEvents()
        print("freed")
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == "freed", done.stderr[-2000:]


def test_an_auto_repeat_press_of_a_key_taken_as_released_holds_it_again(qtbot, widget):
    """Holding D after a rewind stopped after one chunk: the repeat presses that follow a release taken for a real
    one are flagged auto-repeat, and they were ignored."""
    drive = DriveController(release_grace_ms=0)
    widget.installEventFilter(drive)
    qtbot.keyPress(widget, K.Key_D)
    QApplication.sendEvent(widget, _key(QEvent.Type.KeyRelease, K.Key_D, False))
    assert drive.held == frozenset()
    QApplication.sendEvent(widget, _key(QEvent.Type.KeyPress, K.Key_D, True))
    assert drive.held == {"d"}


def test_shortcut_presses_do_not_drive_but_releases_always_count(qtbot, widget):
    drive = DriveController(release_grace_ms=0)
    widget.installEventFilter(drive)
    qtbot.keyPress(widget, K.Key_S, Qt.KeyboardModifier.ControlModifier)
    assert drive.held == frozenset()
    qtbot.keyPress(widget, K.Key_W)
    qtbot.keyRelease(widget, K.Key_W, Qt.KeyboardModifier.ControlModifier)
    assert drive.held == frozenset()


def test_losing_focus_clears_held_keys(qtbot, widget):
    drive = DriveController()
    widget.installEventFilter(drive)
    qtbot.keyPress(widget, K.Key_W)
    qtbot.keyPress(widget, K.Key_A)
    assert drive.held == {"w", "a"}
    QApplication.sendEvent(widget, QFocusEvent(QEvent.Type.FocusOut, Qt.FocusReason.ActiveWindowFocusReason))
    assert drive.held == frozenset()
    qtbot.keyPress(widget, K.Key_W)
    QApplication.sendEvent(widget, QEvent(QEvent.Type.WindowDeactivate))
    assert drive.held == frozenset()


@pytest.mark.parametrize(
    ("preset_name", "key", "dsl"),
    [("v2", K.Key_D, "d"), ("v1", K.Key_D, "d"), ("arrows", K.Key_Right, "d"), ("arrows", K.Key_Comma, "j")],
)
def test_each_key_map_drives_its_dsl_key_with_its_mapping_version(preset_name, key, dsl):
    drive = DriveController(preset(preset_name))
    drive.press(key.value)
    assert drive.held == {dsl}
    poses = drive.take_chunk()
    expected = MotionIntegrator(preset(preset_name).version).run([{dsl}] * 24)[1:]
    np.testing.assert_allclose(poses, expected)


def test_v1_and_v2_make_the_same_key_do_different_things():
    """D turns under v2 and strafes under v1 (what the key map's version is for)."""
    v2, v1 = DriveController(preset("v2")), DriveController(preset("v1"))
    for drive in (v1, v2):
        drive.press(K.Key_D.value)
    p2, p1 = v2.take_chunk()[-1], v1.take_chunk()[-1]
    assert np.allclose(p2[:3, 3], 0) and not np.allclose(p2[:3, :3], np.eye(3))  # turned in place
    assert p1[0, 3] > 0.5 and np.allclose(p1[:3, :3], np.eye(3))  # moved right


def test_the_first_chunk_after_a_press_moves_at_full_speed_even_after_a_long_idle_wait():
    """The old drive replayed the last 24 ticks: a press after 2 s of rest gave 23 still frames and one moving."""
    drive = DriveController(ready=lambda: True, release_grace_ms=0)
    drive.driving = True
    requested: list[np.ndarray] = []
    drive.step_requested.connect(requested.append)
    for _ in range(40):  # 2.5 s with nothing held
        drive.tick()
    assert requested == [] and drive.pending == 0
    drive.press(K.Key_W.value)  # asks at once: no waiting for a tick
    assert len(requested) == 1
    np.testing.assert_allclose(requested[0], MotionIntegrator("v2").run([{"w"}] * 24)[1:])
    assert requested[0][-1, 2, 3] > 0.5  # 24 frames at the v2 walking speed (0.025 per frame)


def test_a_chunk_reads_the_keys_held_when_it_is_sent_not_those_of_the_wait():
    busy = [True]
    drive = DriveController(ready=lambda: not busy[0], release_grace_ms=0)
    drive.driving = True
    requested: list[np.ndarray] = []
    drive.step_requested.connect(requested.append)
    drive.press(K.Key_W.value)
    for _ in range(10):
        drive.tick()
    drive.press(K.Key_D.value)
    drive.release(K.Key_W.value)
    for _ in range(6):
        drive.tick()
    assert requested == []
    busy[0] = False
    drive.poll()  # the engine went idle
    assert len(requested) == 1 and drive.pending == 0
    np.testing.assert_allclose(requested[0], MotionIntegrator("v2").run([{"d"}] * 24)[1:])
    # the next chunk continues from the integrator's state (velocity included), not from rest
    busy[0] = True
    for _ in range(24):
        drive.tick()
    busy[0] = False
    drive.tick()
    integ = MotionIntegrator("v2")
    integ.run([{"d"}] * 24)
    np.testing.assert_allclose(requested[1], integ.run([{"d"}] * 24)[1:])


def test_no_chunk_is_requested_when_not_driving_or_no_key_is_held():
    drive = DriveController(ready=lambda: True, release_grace_ms=0)
    requested = []
    drive.step_requested.connect(requested.append)
    drive.press(K.Key_W.value)
    drive.tick()  # driving off
    assert requested == []
    drive.driving = True
    drive.tick()
    assert len(requested) == 1
    drive.release(K.Key_W.value)
    for _ in range(30):  # the v2 camera still coasts, but nothing is held: no more chunks
        drive.tick()
    assert len(requested) == 1 and drive.speed > 0


def test_a_tap_recorded_while_the_engine_was_busy_still_gets_its_chunk():
    busy = [True]
    drive = DriveController(ready=lambda: not busy[0], release_grace_ms=0)
    drive.driving = True
    requested = []
    drive.step_requested.connect(requested.append)
    drive.tick()
    drive.press(K.Key_W.value)
    drive.tick()
    drive.tick()
    drive.release(K.Key_W.value)
    drive.tick()
    busy[0] = False
    drive.tick()
    assert len(requested) == 1
    expected = MotionIntegrator("v2").run([{"w"}, {"w"}] + [set()] * 22)[1:]
    np.testing.assert_allclose(requested[0], expected)
    drive.tick()
    assert len(requested) == 1


@pytest.mark.parametrize(
    ("queued", "chunk_seconds", "wanted"),
    [(23, None, True), (24, None, False), (16, 0.66, True), (17, 0.66, False), (3, 0.05, True), (4, 0.05, False),
     (23, 3.0, True), (24, 3.0, False)],
)
def test_the_next_chunk_is_asked_for_when_the_queued_frames_run_out_within_a_generation(queued, chunk_seconds, wanted):
    """A 0.66 s chunk is asked for with 16 frames (1 s: 1.25 x 0.66 s and two spare) left to play; a 3 s one as soon as less than a chunk is
    queued; never with a whole chunk waiting."""
    assert display_needs_chunk(queued, 16.0, chunk_seconds, 24) is wanted


def test_sync_restores_the_integrator_after_a_chunk_or_rebuilds_it_from_a_pose():
    drive = DriveController(release_grace_ms=0)
    drive.press(K.Key_W.value)
    drive.press(K.Key_I.value)
    first = drive.take_chunk()
    state = drive.integrator.state()
    second = drive.take_chunk()
    drive.sync(first[-1])  # rewind to after the first chunk: velocity and pitch come back exactly
    np.testing.assert_allclose(drive.take_chunk(), second)
    assert drive.integrator.frame == state.frame + 24
    unknown = MotionIntegrator("v2")
    unknown.run([{"i"}] * 30)
    drive.sync(unknown.pose)  # a pose this controller never produced (a path, a session file)
    assert drive.integrator.pitch_deg == pytest.approx(unknown.pitch_deg)
    assert drive.integrator.velocity == (0.0, 0.0, 0.0, 0.0)
    drive.sync(None)
    np.testing.assert_allclose(drive.integrator.pose, np.eye(4))


def test_changing_the_mapping_version_keeps_the_pose():
    drive = DriveController(preset("v2"))
    drive.press(K.Key_W.value)
    pose = drive.take_chunk()[-1]
    drive.set_keymap(preset("v1"))
    assert drive.integrator.mapping.version == "v1" and drive.held == frozenset()
    np.testing.assert_allclose(drive.integrator.pose, pose)


def test_scripted_holding_works_with_any_key_map_and_clear_releases_it():
    drive = DriveController(preset("v2").with_key("w", K.Key_Up.value).with_key("w", K.Key_F5.value),
                            release_grace_ms=0)
    drive.hold("wd")
    assert drive.held == {"w", "d"}
    drive.press(K.Key_D.value)
    drive.release(K.Key_D.value)  # the real D key going up does not release the scripted d
    assert drive.held == {"w", "d"}
    drive.clear_held()
    assert drive.held == frozenset()
    with pytest.raises(ValueError, match="expected DSL keys"):
        drive.hold("q")
