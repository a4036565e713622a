"""Timeline widget: thumbnails of the current take, cursor and refined marks, clicks that rewind, shift-click and
drag selections for Refine, the take selector, rename and discard — signals only, the Project stays the model."""

from __future__ import annotations

import os

import numpy as np
import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QEvent, QPointF, Qt  # noqa: E402
from PySide6.QtGui import QMouseEvent  # noqa: E402
from PySide6.QtWidgets import QApplication, QInputDialog  # noqa: E402

from engine.generation.project import Project, StartSettings  # noqa: E402
from app.timeline import REFINED_COLOUR, Timeline  # noqa: E402
from engine.bundles import ModelBundle  # noqa: E402
from engine.generation.session import WorldSession  # noqa: E402


@pytest.fixture(scope="module")
def records():
    """Take 1's three chunks, and a chunk 1 forked after chunk 0 (for Take 2)."""
    bundle = ModelBundle.random("sana-wm-tiny-test", frame_size=(96, 64), spatial_factor=16)
    session = WorldSession(bundle)
    session.start(np.full((64, 96, 3), 120, np.uint8))
    take1 = [session.step(np.tile(np.eye(4), (24, 1, 1))) for _ in range(3)]
    session.rewind(0)
    c2w = np.tile(np.eye(4), (24, 1, 1))
    c2w[:, 0, 3] = np.linspace(0.05, 1.0, 24)
    return take1, session.step(c2w)


def make_project(records, fork: bool = True) -> Project:
    take1, forked = records
    project = Project(StartSettings(image=np.full((80, 120, 3), 200, np.uint8)))
    for record in take1:
        project.add_chunk(record)
    if fork:
        project.rewind(0)
        project.add_chunk(forked)
        project.switch(0)
    return project


@pytest.fixture
def timeline(qtbot, records):
    widget = Timeline()
    qtbot.addWidget(widget)
    widget.set_project(make_project(records))
    widget.resize(900, 160)
    widget.show()
    return widget


def click(qtbot, timeline, chunk, modifier=Qt.KeyboardModifier.NoModifier):
    qtbot.mouseClick(timeline.strip, Qt.MouseButton.LeftButton, modifier, timeline.strip.tile_rect(chunk).center())


def send_mouse(widget, kind, chunk, buttons):
    pos = QPointF(widget.tile_rect(chunk).center())
    button = Qt.MouseButton.NoButton if kind == QEvent.Type.MouseMove else Qt.MouseButton.LeftButton
    event = QMouseEvent(kind, pos, widget.mapToGlobal(pos), button, buttons, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(widget, event)


def test_shows_the_takes_and_one_thumbnail_per_chunk_of_the_current_take(timeline):
    assert [timeline.takes.itemText(i) for i in range(timeline.takes.count())] == ["Take 1 (3 chunks)", "Take 2 (2 chunks)"]
    assert timeline.takes.currentData() == 0 and timeline.strip.count == 3 and timeline.strip.cursor == 3
    assert "3 chunks" in timeline.info.text() and "cursor after chunk 2" in timeline.info.text()
    assert timeline.strip.thumb_width == round(54 * 96 / 64)  # the frames' aspect


def test_clicking_a_thumbnail_asks_to_rewind_there_and_selects_it(qtbot, timeline):
    with qtbot.waitSignal(timeline.rewind_requested) as signal:
        click(qtbot, timeline, 1)
    assert signal.args == [1] and timeline.selection == (1, 2)
    with qtbot.waitSignal(timeline.rewind_requested) as signal:
        click(qtbot, timeline, -1)  # the start image: before chunk 0
    assert signal.args == [-1] and timeline.selection is None


def test_shift_click_selects_a_range_without_rewinding_and_refine_sends_it(qtbot, timeline):
    click(qtbot, timeline, 2)
    with qtbot.assertNotEmitted(timeline.rewind_requested):
        click(qtbot, timeline, 0, Qt.KeyboardModifier.ShiftModifier)
    assert timeline.selection == (0, 3) and timeline.refine_button.isEnabled()
    with qtbot.waitSignal(timeline.refine_requested) as signal:
        qtbot.mouseClick(timeline.refine_button, Qt.MouseButton.LeftButton)
    assert signal.args == [0, 3]


def test_dragging_across_thumbnails_selects_the_range(qtbot, timeline):
    strip = timeline.strip
    with qtbot.assertNotEmitted(timeline.rewind_requested):
        send_mouse(strip, QEvent.Type.MouseButtonPress, 0, Qt.MouseButton.LeftButton)
        send_mouse(strip, QEvent.Type.MouseMove, 1, Qt.MouseButton.LeftButton)
        send_mouse(strip, QEvent.Type.MouseButtonRelease, 1, Qt.MouseButton.NoButton)
    assert timeline.selection == (0, 2)


def test_refine_is_disabled_with_the_reason_when_the_model_has_no_refiner(qtbot, timeline):
    assert not timeline.refine_button.isEnabled()  # nothing selected yet
    timeline.select(1, 3)
    assert timeline.refine_button.isEnabled()
    reason = "this model has no stage-2 refiner"
    timeline.set_refine_available(False, reason)
    assert not timeline.refine_button.isEnabled()
    assert timeline.refine_button.toolTip() == reason and timeline.refine_note.text() == reason
    timeline.set_refine_available(True)
    assert timeline.refine_button.isEnabled() and timeline.refine_note.text() == ""
    with pytest.raises(ValueError, match=r"selection: expected chunks inside \[0, 3\), found \[2, 5\)"):
        timeline.select(2, 5)


def test_choosing_a_take_emits_branch_selected_but_refresh_does_not(qtbot, timeline):
    with qtbot.assertNotEmitted(timeline.branch_selected):
        timeline.refresh()
    with qtbot.waitSignal(timeline.branch_selected) as signal:
        timeline.takes.setCurrentIndex(1)
    assert signal.args == [1]
    timeline.project.switch(1)
    timeline.refresh()
    assert timeline.strip.count == 2 and timeline.takes.currentData() == 1


def test_discard_offers_only_the_other_takes(qtbot, timeline, records):
    actions = timeline.discard_menu.actions()
    assert [a.text() for a in actions] == ["Discard Take 2…"]
    with qtbot.waitSignal(timeline.discard_requested) as signal:
        actions[0].trigger()
    assert signal.args == [1]
    timeline.set_project(make_project(records, fork=False))
    assert not timeline.discard_button.isEnabled() and timeline.discard_menu.actions() == []


def test_rename_asks_for_a_name_and_renames_the_current_take(qtbot, timeline, monkeypatch):
    monkeypatch.setattr(QInputDialog, "getText", lambda *a, **k: ("  Dolly in ", True))
    with qtbot.waitSignal(timeline.branch_renamed) as signal:
        timeline.rename_button.click()
    assert signal.args == [0, "Dolly in"] and timeline.project.current.name == "Dolly in"
    assert timeline.takes.itemText(0) == "Dolly in (3 chunks)"
    monkeypatch.setattr(QInputDialog, "getText", lambda *a, **k: ("   ", True))
    timeline.rename_button.click()
    assert "non-empty take name" in timeline.info.text() and timeline.project.current.name == "Dolly in"


def test_thumbnails_show_the_middle_frame_refined_marks_and_grey_chunks_after_the_cursor(timeline):
    project = timeline.project
    frames = np.zeros_like(project.current.chunks[1].record.frames)
    frames[len(frames) // 2] = (255, 0, 0)  # only the middle frame is red
    project.set_refined(1, frames)
    timeline.refresh()
    image = timeline.strip.grab().toImage()
    rect = timeline.strip.tile_rect(1)
    centre = image.pixelColor(rect.center())
    assert (centre.red(), centre.green(), centre.blue()) == (255, 0, 0)
    bar = image.pixelColor(rect.center().x(), rect.bottom() - 1)
    assert (bar.red(), bar.green(), bar.blue()) == (REFINED_COLOUR.red(), REFINED_COLOUR.green(), REFINED_COLOUR.blue())

    project.rewind(0)  # chunks 1 and 2 are now after the cursor: greyed
    timeline.refresh()
    image = timeline.strip.grab().toImage()
    greyed = image.pixelColor(rect.center())
    assert greyed.red() < 200 and greyed.green() > 50 and "cursor after chunk 0" in timeline.info.text()


def test_an_empty_project_and_no_project(timeline):
    timeline.set_project(Project(StartSettings(image=np.zeros((10, 20, 3), np.uint8))))
    assert timeline.strip.count == 0 and "cursor after the start image" in timeline.info.text()
    timeline.set_project(None)
    assert timeline.takes.count() == 0 and timeline.info.text() == "No session" and not timeline.rename_button.isEnabled()


def test_thumbnails_are_cached_until_their_frames_change_and_dropped_with_their_take(timeline):
    project = timeline.project
    entry = project.current.chunks[2]
    first = timeline._thumbnail(entry)
    timeline.refresh()
    assert timeline._thumbnail(entry) is first  # no re-scaling on every refresh
    project.set_refined(2, np.zeros_like(entry.record.frames))
    assert timeline._thumbnail(entry) is not first
    forked = project.branches[1].chunks[1]
    timeline._thumbnail(forked)
    project.discard(1)
    timeline.refresh()
    assert id(forked) not in timeline._pixmaps
