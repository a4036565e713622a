"""Undoable edits of a :class:`~engine.camera.keyframes.CameraPath` (one ``QUndoStack`` per editor).

Why commands hold whole keyframes: a :class:`~engine.camera.keyframes.Keyframe` is immutable, so each command keeps the
keyframe before and after and undo/redo are exact swaps (no floating-point drift after many undo/redo cycles).
Keyframes are identified by frame number, which the path keeps unique.

Constructors check what could fail (a taken frame, deleting the only keyframe) and raise before anything is pushed,
so a failed edit leaves the path and the stack as they were. Every command calls ``notify(frame)`` after it changes
the path, with the frame of the keyframe to select (or ``None``), so the editor refreshes its views and selection in
one place.

Merging: consecutive :class:`MoveKeyframeCommand` with the same non-``None`` ``merge_key`` (one handle drag, or
repeated steps of one numeric field) become one undo step; a drag that ends where it started becomes obsolete.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtGui import QUndoCommand

from engine.camera.keyframes import CameraPath, Keyframe
from engine.errors import TrajectoryError

Notify = Callable[[int | None], None]

# QUndoCommand ids (only commands with the same id are offered to mergeWith)
_MOVE_ID = 7001


class _PathCommand(QUndoCommand):
    def __init__(self, path: CameraPath, notify: Notify, text: str) -> None:
        super().__init__(text)
        self.path = path
        self.notify = notify


class AddKeyframeCommand(_PathCommand):
    """Insert a keyframe (and grow the path's length to hold it)."""

    def __init__(self, path: CameraPath, keyframe: Keyframe, notify: Notify) -> None:
        super().__init__(path, notify, f"Add keyframe at frame {keyframe.frame}")
        if path.has(keyframe.frame):
            raise TrajectoryError(f"camera path: frame {keyframe.frame} already has a keyframe; pick another frame")
        self.keyframe = keyframe
        self.old_length = path.length

    def redo(self) -> None:
        self.path.insert(self.keyframe)
        self.path.length = max(self.old_length, self.keyframe.frame + 1)
        self.notify(self.keyframe.frame)

    def undo(self) -> None:
        self.path.remove(self.keyframe.frame)
        self.path.length = self.old_length
        self.notify(None)


class DeleteKeyframeCommand(_PathCommand):
    """Remove the keyframe at a frame (never the last one: the path raises before the command is pushed)."""

    def __init__(self, path: CameraPath, frame: int, notify: Notify) -> None:
        super().__init__(path, notify, f"Delete keyframe at frame {frame}")
        self.keyframe = path.get(frame)
        if len(path) == 1:
            raise TrajectoryError("camera path: cannot delete the only keyframe; a path needs at least 1")

    def redo(self) -> None:
        self.path.remove(self.keyframe.frame)
        self.notify(None)

    def undo(self) -> None:
        self.path.insert(self.keyframe)
        self.notify(self.keyframe.frame)


class EditKeyframeCommand(_PathCommand):
    """Replace one keyframe by an edited copy (base of move, FOV and frame edits)."""

    def __init__(self, path: CameraPath, frame: int, new: Keyframe, notify: Notify, text: str) -> None:
        super().__init__(path, notify, text)
        self.old = path.get(frame)
        self.new = new
        self.old_length = path.length

    def redo(self) -> None:
        self.path.replace(self.old.frame, self.new)
        self.path.length = max(self.old_length, self.new.frame + 1)
        self.notify(self.new.frame)

    def undo(self) -> None:
        self.path.replace(self.new.frame, self.old)
        self.path.length = self.old_length
        self.notify(self.old.frame)


class MoveKeyframeCommand(EditKeyframeCommand):
    """Translate and/or rotate a keyframe. Commands with the same ``merge_key`` merge into one undo step."""

    def __init__(
        self,
        path: CameraPath,
        frame: int,
        position: tuple[float, float, float] | None,
        quaternion: tuple[float, float, float, float] | None,
        notify: Notify,
        merge_key: object = None,
    ) -> None:
        old = path.get(frame)
        new = old.moved(
            position=old.position if position is None else tuple(position),
            quaternion=old.quaternion if quaternion is None else tuple(quaternion),
        )
        what = "Rotate" if position is None else ("Move" if quaternion is None else "Move and rotate")
        super().__init__(path, frame, new, notify, f"{what} keyframe at frame {frame}")
        self.merge_key = merge_key

    def id(self) -> int:
        return _MOVE_ID

    def mergeWith(self, other: QUndoCommand) -> bool:
        if (
            not isinstance(other, MoveKeyframeCommand)
            or self.merge_key is None
            or other.merge_key != self.merge_key
            or other.old.frame != self.new.frame
        ):
            return False
        self.new = other.new
        if self.new == self.old:
            self.setObsolete(True)
        return True


class SetFovCommand(EditKeyframeCommand):
    """Change a keyframe's vertical FOV (degrees)."""

    def __init__(self, path: CameraPath, frame: int, vfov_deg: float, notify: Notify) -> None:
        new = path.get(frame).moved(vfov_deg=vfov_deg)
        super().__init__(path, frame, new, notify, f"Set FOV of keyframe {frame} to {new.vfov_deg:g}°")


class SetFrameCommand(EditKeyframeCommand):
    """Move a keyframe in time (to another frame without a keyframe)."""

    def __init__(self, path: CameraPath, frame: int, new_frame: int, notify: Notify) -> None:
        new = path.get(frame).moved(frame=new_frame)
        if new_frame != frame and path.has(new_frame):
            raise TrajectoryError(
                f"keyframe frame: cannot move the keyframe at frame {frame} to frame {new_frame}, which already has one"
            )
        super().__init__(path, frame, new, notify, f"Move keyframe {frame} to frame {new_frame}")


class SetLengthCommand(_PathCommand):
    """Change the requested path length (frames; sampling snaps it to ``1 + 24 k``)."""

    def __init__(self, path: CameraPath, length: int, notify: Notify, selected: int | None = None) -> None:
        super().__init__(path, notify, f"Set path length to {length} frames")
        self.old_length, self.new_length, self.selected = path.length, int(length), selected

    def redo(self) -> None:
        self.path.length = self.new_length
        self.notify(self.selected)

    def undo(self) -> None:
        self.path.length = self.old_length
        self.notify(self.selected)


class ReplacePathCommand(_PathCommand):
    """Replace all keyframes and the length at once (import of a file)."""

    def __init__(self, path: CameraPath, new: CameraPath, notify: Notify, text: str = "Import path") -> None:
        super().__init__(path, notify, text)
        self.old_keyframes, self.old_length = path.keyframes, path.length
        self.new_keyframes, self.new_length = new.keyframes, new.length

    def redo(self) -> None:
        self.path.set_keyframes(self.new_keyframes, self.new_length)
        self.notify(self.new_keyframes[0].frame)

    def undo(self) -> None:
        self.path.set_keyframes(self.old_keyframes, self.old_length)
        self.notify(self.old_keyframes[0].frame)


__all__ = [
    "AddKeyframeCommand",
    "DeleteKeyframeCommand",
    "EditKeyframeCommand",
    "MoveKeyframeCommand",
    "ReplacePathCommand",
    "SetFovCommand",
    "SetFrameCommand",
    "SetLengthCommand",
]
