"""Undo/redo of Path-mode edits: each command undoes and redoes exactly; merged drags are one step."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # before pytest-qt makes the QApplication

import pytest
from PySide6.QtGui import QUndoStack

from app.path.commands import (
    AddKeyframeCommand,
    DeleteKeyframeCommand,
    MoveKeyframeCommand,
    ReplacePathCommand,
    SetFovCommand,
    SetFrameCommand,
    SetLengthCommand,
)
from engine.camera.keyframes import CameraPath, Keyframe, default_path
from engine.errors import TrajectoryError


@pytest.fixture
def setup(qapp):
    path = default_path()
    notified: list[int | None] = []
    stack = QUndoStack()
    return path, stack, notified.append, notified


def snapshot(path: CameraPath) -> tuple:
    return path.keyframes, path.length


def check_undo_redo(stack: QUndoStack, path: CameraPath, before: tuple) -> tuple:
    after = snapshot(path)
    assert after != before
    stack.undo()
    assert snapshot(path) == before
    stack.redo()
    assert snapshot(path) == after
    return after


def test_add_undo_redo(setup):
    path, stack, notify, notified = setup
    before = snapshot(path)
    stack.push(AddKeyframeCommand(path, Keyframe(100, (0, 0, 5)), notify))
    assert path.frames == [0, 48, 100] and path.length == 101 and path.num_frames == 121
    check_undo_redo(stack, path, before)
    assert notified[-1] == 100
    with pytest.raises(TrajectoryError, match="frame 48 already has a keyframe"):
        AddKeyframeCommand(path, Keyframe(48), notify)
    assert stack.count() == 1


def test_delete_undo_redo(setup):
    path, stack, notify, _ = setup
    before = snapshot(path)
    stack.push(DeleteKeyframeCommand(path, 48, notify))
    assert path.frames == [0]
    check_undo_redo(stack, path, before)
    with pytest.raises(TrajectoryError, match="only keyframe"):
        DeleteKeyframeCommand(path, 0, notify)


def test_move_translation_and_rotation_undo_redo(setup):
    path, stack, notify, _ = setup
    before = snapshot(path)
    rot = Keyframe.from_euler(0, (0, 0, 0), yaw=30.0).quaternion
    stack.push(MoveKeyframeCommand(path, 48, (1.0, -0.5, 3.0), rot, notify))
    assert path.get(48).position == (1.0, -0.5, 3.0)
    assert path.get(48).euler_deg()[0] == pytest.approx(30.0)
    check_undo_redo(stack, path, before)
    assert path.get(48).quaternion == pytest.approx(rot)


def test_set_fov_and_frame_undo_redo(setup):
    path, stack, notify, _ = setup
    before = snapshot(path)
    stack.push(SetFovCommand(path, 48, 42.0, notify))
    assert path.get(48).vfov_deg == 42.0
    mid = check_undo_redo(stack, path, before)
    stack.push(SetFrameCommand(path, 48, 80, notify))
    assert path.frames == [0, 80] and path.length == 81
    check_undo_redo(stack, path, mid)
    with pytest.raises(TrajectoryError, match="to frame 0, which already has one"):
        SetFrameCommand(path, 80, 0, notify)
    with pytest.raises(Exception, match="vertical FOV"):
        SetFovCommand(path, 80, 400.0, notify)
    assert stack.count() == 2


def test_set_length_and_replace_undo_redo(setup):
    path, stack, notify, _ = setup
    before = snapshot(path)
    stack.push(SetLengthCommand(path, 97, notify))
    assert path.num_frames == 97
    mid = check_undo_redo(stack, path, before)
    other = CameraPath([Keyframe(0), Keyframe(10, (1, 0, 0)), Keyframe(20, (2, 0, 0))], length=30)
    stack.push(ReplacePathCommand(path, other, notify))
    assert path.frames == [0, 10, 20] and path.length == 30
    check_undo_redo(stack, path, mid)


def test_merged_drag_is_one_undo_step(setup):
    path, stack, notify, _ = setup
    before = snapshot(path)
    for x in (0.1, 0.2, 0.3, 0.4):
        stack.push(MoveKeyframeCommand(path, 48, (x, 0.0, 2.0), None, notify, merge_key=("drag", 1)))
    assert stack.count() == 1
    assert path.get(48).position == (0.4, 0.0, 2.0)
    stack.undo()
    assert snapshot(path) == before
    stack.redo()
    assert path.get(48).position == (0.4, 0.0, 2.0)
    # a new drag (another key) is a separate step; moves without a key never merge
    stack.push(MoveKeyframeCommand(path, 48, (1.0, 0.0, 2.0), None, notify, merge_key=("drag", 2)))
    stack.push(MoveKeyframeCommand(path, 48, (2.0, 0.0, 2.0), None, notify))
    stack.push(MoveKeyframeCommand(path, 48, (3.0, 0.0, 2.0), None, notify))
    assert stack.count() == 4


def test_drag_back_to_the_start_leaves_no_step(setup):
    path, stack, notify, _ = setup
    stack.push(MoveKeyframeCommand(path, 48, (0.5, 0.0, 2.0), None, notify, merge_key="d"))
    stack.push(MoveKeyframeCommand(path, 48, (0.0, 0.0, 2.0), None, notify, merge_key="d"))
    assert stack.count() == 0 and path.get(48).position == (0.0, 0.0, 2.0)
