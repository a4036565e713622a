"""``PathEditor``: the Path-mode widget (3D view + side panel) and the one place that edits the path.

Why everything goes through here: the view and the panel only report what the user asked for; this class turns each
request into a QUndoCommand on :attr:`PathEditor.undo_stack`, so every edit can be undone, errors are shown without
losing state, and ``changed()`` fires once per edit for the main window (autosave, generation).

The keyframe at frame 0 is the start image's camera (:data:`~engine.camera.keyframes.START_FRAME`): its pose is pinned to
the identity and its FOV follows the start intrinsics (:meth:`PathEditor.set_start`), so it cannot be deleted, moved
or re-timed; the panel shows its fields disabled with the reason (:data:`START_KEYFRAME_NOTE`).

Public API (used by the main window): ``PathEditor(parent=None)``, :meth:`set_start`, :meth:`load_path` (a
session's saved path), :meth:`trajectory`, :attr:`path`, :attr:`undo_stack`, and the signals ``changed()``,
``generate_requested()``, ``playback_frame(int)``.
The 3D view is created only when an OpenGL 3.3 context can be made; otherwise a label says why and the rest works.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QGuiApplication, QOffscreenSurface, QOpenGLContext, QUndoStack
from PySide6.QtWidgets import QFileDialog, QHBoxLayout, QLabel, QSplitter, QWidget
from shiboken6 import isValid

from app.path.commands import (
    AddKeyframeCommand,
    DeleteKeyframeCommand,
    MoveKeyframeCommand,
    ReplacePathCommand,
    SetFovCommand,
    SetFrameCommand,
    SetLengthCommand,
)
from app.path.files import dialog_filters, engine_warnings, export_path, format_from_filter, import_path
from engine.camera.keyframes import (
    CHUNK_FRAMES,
    DEFAULT_FRAME_SIZE,
    DEFAULT_VFOV_DEG,
    START_FRAME,
    CameraPath,
    Keyframe,
    default_path,
    rotation_from_euler_deg,
    snap_length,
)
from app.path.panel import START_KEYFRAME_NOTE, PathPanel
from engine.camera.intrinsics import as_vec4, focal_to_fov_deg
from engine.camera.poses import rotation_to_quaternion
from engine.errors import SanaWMInputError

log = logging.getLogger(__name__)

#: Playback rate of the path camera (the model's 16 fps).
PLAYBACK_FPS = 16
#: Platforms without OpenGL windows (widget tests run on "offscreen").
_NO_GL_PLATFORMS = ("offscreen", "minimal")


def gl_unavailable_reason() -> str | None:
    """Why the 3D view cannot be made here, or ``None`` when an OpenGL 3.3 core context can be created."""
    if os.environ.get("SANA_WM_NO_GL"):
        return "the 3D view is turned off (SANA_WM_NO_GL is set)"
    platform = QGuiApplication.platformName()
    if platform in _NO_GL_PLATFORMS:
        return f"the '{platform}' Qt platform has no OpenGL windows"
    try:
        import moderngl  # noqa: F401
    except ImportError as exc:
        return f"moderngl is not installed ({exc})"
    from app.path.gl_view import surface_format

    ctx = QOpenGLContext()
    ctx.setFormat(surface_format())
    if not ctx.create():
        return "no OpenGL context could be created (an OpenGL 3.3 driver is needed)"
    surface = QOffscreenSurface()
    surface.setFormat(ctx.format())
    surface.create()
    if not ctx.makeCurrent(surface):
        return "an OpenGL context was created but could not be made current"
    version = ctx.format().version()
    ctx.doneCurrent()
    if version < (3, 3):
        return f"OpenGL {version[0]}.{version[1]} found; the 3D view needs 3.3"
    return None


class PathEditor(QWidget):
    """The Path-mode widget. See the module docstring for the public API."""

    changed = Signal()
    generate_requested = Signal()
    playback_frame = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.path: CameraPath = default_path()
        self.undo_stack = QUndoStack(self)
        self.selected_frame: int | None = 0
        self.current_frame = 0
        self.view_through = False
        self.start_image: np.ndarray | None = None
        self.start_vfov_deg = DEFAULT_VFOV_DEG
        self.last_directory = ""

        self.panel = PathPanel()
        self._wire_undo_buttons()
        self.gl_view = None
        self.gl_message: QLabel | None = None
        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        reason = gl_unavailable_reason()
        if reason is None:
            from app.path.gl_view import PathGLView

            self.gl_view = PathGLView(self)
            self.gl_view.keyframe_clicked.connect(self._on_view_clicked)
            self.gl_view.move_requested.connect(self._on_view_move)
            self.gl_view.rotate_requested.connect(self._on_view_rotate)
            self.gl_view.gl_failed.connect(self._on_gl_failed)
            self.gl_view.delete_requested.connect(self.delete_selected)
            self.splitter.addWidget(self.gl_view)
        else:
            self._show_gl_message(reason)
        self.splitter.addWidget(self.panel)
        self.splitter.setStretchFactor(0, 3)
        self.splitter.setStretchFactor(1, 1)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.splitter)

        self.timer = QTimer(self)
        self.timer.setInterval(round(1000 / PLAYBACK_FPS))
        self.timer.timeout.connect(self._tick)

        p = self.panel
        p.keyframe_selected.connect(lambda f: self.select(None if f < 0 else f))
        p.field_edited.connect(self._on_field)
        p.add_at_end_clicked.connect(self.add_keyframe_at_end)
        p.add_at_playhead_clicked.connect(self.add_keyframe_at_playhead)
        p.delete_clicked.connect(self.delete_selected)
        p.duplicate_clicked.connect(self.duplicate_selected)
        p.length_edited.connect(self.set_length)
        p.play_toggled.connect(self.set_playing)
        p.frame_scrubbed.connect(self.set_current_frame)
        p.view_through_toggled.connect(self.set_view_through)
        p.world_points_toggled.connect(self.set_show_world_points)
        p.import_clicked.connect(self._import_dialog)
        p.export_clicked.connect(self._export_dialog)
        p.generate_clicked.connect(self.generate_requested.emit)
        self._refresh()

    # --- public API ---------------------------------------------------------------------------------------------

    def set_start(
        self,
        image: np.ndarray | None,
        intrinsics: np.ndarray | list[float] | None,
        frame_size: tuple[int, int] = DEFAULT_FRAME_SIZE,
    ) -> None:
        """The start image (drawn in the start frustum), its ``[fx, fy, cx, cy]`` (pixels of ``frame_size``) and the
        generated frame size ``(W, H)``. A path nobody has edited yet (the default one) is rebuilt with the start
        image's vertical FOV; an edited path keeps its keyframes and only takes the new frame size."""
        fresh = default_path(DEFAULT_VFOV_DEG, frame_size)  # validates the frame size
        w, h = fresh.frame_size
        vfov = DEFAULT_VFOV_DEG if intrinsics is None else vfov_from_intrinsics(intrinsics, h)
        pristine = self.path.same_as(default_path(self.start_vfov_deg, self.path.frame_size))
        self.start_image = None if image is None else np.asarray(image)
        self.start_vfov_deg = vfov
        self.path.frame_size = (w, h)
        if pristine:  # edited in place: whoever holds `path` keeps seeing the editor's path
            new = default_path(vfov, (w, h))
            self.path.set_keyframes(new.keyframes, new.length)
            self.undo_stack.clear()
            self.selected_frame = 0
        self._after_edit(self.selected_frame)  # pins the start keyframe to the new FOV

    def load_path(self, path: CameraPath) -> None:
        """Show ``path`` (a copy: keyframes, length, frame size) as a fresh document, as when a session file is
        opened: no undo history (undoing must not step back into the previous session's path), the start keyframe
        selected, the playhead at frame 0. Emits ``changed`` like any edit. Call it after :meth:`set_start`, which
        decides the start keyframe's FOV that the editor keeps pinned."""
        fresh = path.copy()
        self.set_playing(False)
        self.path.frame_size = fresh.frame_size
        self.path.set_keyframes(fresh.keyframes, fresh.length)  # in place: whoever holds `path` sees the new one
        self.undo_stack.clear()
        self.current_frame = 0
        self._after_edit(START_FRAME)

    def trajectory(self, num_frames: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """``(c2w (N, 4, 4), intrinsics (N, 4))`` of the path at every pixel frame (N defaults to the path length)."""
        return self.path.sample(num_frames)

    # --- selection and playback ---------------------------------------------------------------------------------

    def select(self, frame: int | None) -> None:
        """Select the keyframe at ``frame`` (``None`` clears the selection)."""
        self.selected_frame = frame if frame is not None and self.path.has(frame) else None
        self._refresh()

    def set_current_frame(self, frame: int) -> None:
        """Move the playback camera to ``frame`` (clamped to the path) and emit ``playback_frame``."""
        frame = int(np.clip(frame, 0, self.path.num_frames - 1))
        if frame != self.current_frame:
            self.current_frame = frame
            self.playback_frame.emit(frame)
        self.panel.show_frame(self.current_frame, self.path.num_frames)  # not the whole panel: this runs at 16 fps
        if self.gl_view is not None:
            self.gl_view.update()

    def set_playing(self, playing: bool) -> None:
        """Start or stop playback (16 fps, looping)."""
        if playing:
            self.timer.start()
        else:
            self.timer.stop()
        if self.panel.play_button.isChecked() != playing:
            self.panel.play_button.blockSignals(True)
            self.panel.play_button.setChecked(playing)
            self.panel.play_button.blockSignals(False)
        self.panel.play_button.setText("Pause" if playing else "Play")

    def set_world_points(self, xyz: np.ndarray | None, rgb: np.ndarray | None = None) -> None:
        """Show the world cache's points (the start image's depth at first, the world as it grows) so a path is
        authored inside the scene's geometry; None clears them. The "World points" box hides them."""
        if self.gl_view is None:
            return
        self.gl_view.cloud = None if xyz is None else (np.asarray(xyz, np.float32), np.asarray(rgb, np.uint8))
        self.panel.world_points_box.setEnabled(xyz is not None and len(xyz) > 0)
        self.gl_view.update()

    def set_show_world_points(self, on: bool) -> None:
        if self.gl_view is not None:
            self.gl_view.show_cloud = bool(on)
            self.gl_view.update()

    def set_view_through(self, on: bool) -> None:
        """Show the scene through the path camera at the playback frame (instead of the orbit camera)."""
        self.view_through = bool(on)
        self._refresh()

    def _tick(self) -> None:
        self.set_current_frame((self.current_frame + 1) % self.path.num_frames)

    # --- edits (each one an undo command) -----------------------------------------------------------------------

    def add_keyframe_at_end(self) -> None:
        """A keyframe one chunk after the last one, continuing the last segment's direction and speed (1 unit
        forward along the camera's view when there is only one keyframe), with the last one's rotation and FOV."""
        kfs = self.path.keyframes
        last = kfs[-1]
        frame = last.frame + CHUNK_FRAMES
        if len(kfs) >= 2:
            prev = kfs[-2]
            velocity = (np.array(last.position) - np.array(prev.position)) / (last.frame - prev.frame)
            step = velocity * CHUNK_FRAMES
            if np.linalg.norm(step) < 1e-9:
                step = last.rotation[:, 2]
        else:
            step = last.rotation[:, 2]
        new = last.moved(frame=frame, position=tuple(np.array(last.position) + step))
        self._push(lambda: AddKeyframeCommand(self.path, new, self._after_edit))

    def add_keyframe_at_playhead(self) -> None:
        """A keyframe at the playback frame with the path's current pose and FOV there."""
        frame = self.current_frame
        if self.path.has(frame):
            self._error(f"frame {frame} already has a keyframe; move the playhead to add another")
            return
        c2w, vfov = self.path.sample_poses(np.array([frame]))
        new = Keyframe.from_c2w(frame, c2w[0], float(vfov[0]))
        self._push(lambda: AddKeyframeCommand(self.path, new, self._after_edit))

    def delete_selected(self) -> None:
        """Delete the selected keyframe (one undo step); the start keyframe at frame 0 is refused."""
        frame = self._selection_for("delete", pinned="deleted")
        if frame is None:
            return
        self._push(lambda: DeleteKeyframeCommand(self.path, frame, self._after_edit))

    def duplicate_selected(self) -> None:
        """Copy the selected keyframe to a free frame after it: one chunk later if that is before the next
        keyframe, else halfway to the next keyframe (so the camera holds the pose)."""
        selected = self._selection_for("duplicate")
        if selected is None:
            return
        k = self.path.get(selected)
        later = [f for f in self.path.frames if f > k.frame]
        nxt = later[0] if later else None
        frame = k.frame + CHUNK_FRAMES
        if nxt is not None and frame >= nxt:
            frame = (k.frame + nxt) // 2
            if frame == k.frame:
                self._error(f"no free frame between keyframes {k.frame} and {nxt} to put a duplicate")
                return
        self._push(lambda: AddKeyframeCommand(self.path, k.moved(frame=frame), self._after_edit))

    def move_selected(
        self,
        position: tuple[float, float, float] | None = None,
        quaternion: tuple[float, float, float, float] | None = None,
        merge_key: object = None,
    ) -> None:
        """Translate and/or rotate the selected keyframe; edits with the same ``merge_key`` merge into one step."""
        frame = self._selection_for("move", pinned="moved")
        if frame is None:
            return
        self._push(lambda: MoveKeyframeCommand(self.path, frame, position, quaternion, self._after_edit, merge_key))

    def set_selected_fov(self, vfov_deg: float) -> None:
        frame = self._selection_for("set its FOV", pinned="given another FOV")
        if frame is None:
            return
        self._push(lambda: SetFovCommand(self.path, frame, vfov_deg, self._after_edit))

    def set_selected_frame(self, new_frame: int) -> None:
        frame = self._selection_for("move it in time", pinned="moved in time")
        if frame is None or int(new_frame) == frame:
            return
        self._push(lambda: SetFrameCommand(self.path, frame, int(new_frame), self._after_edit))

    def set_length(self, num_frames: int) -> None:
        """Ask for a path length; it is snapped to the streaming rule ``1 + 24 k``."""
        length = snap_length(num_frames)
        if length == self.path.num_frames and length == self.path.length:
            self._refresh()
            return
        self._push(lambda: SetLengthCommand(self.path, length, self._after_edit, self.selected_frame))

    # --- files --------------------------------------------------------------------------------------------------

    def use_action(self, action: str, version: str = "v2", label: str = "suggested path") -> bool:
        """Replace the path by keyframes picked from ``action`` integrated with the DSL (one undo step), at the start
        camera's FOV; errors are shown and the path is kept. How a demo's suggested path becomes editable."""
        from engine.camera.actions import action_to_c2w
        from engine.camera.trajectory import Trajectory

        try:
            c2w = action_to_c2w(action, version=version)
            new = CameraPath.from_trajectory(Trajectory(c2w=c2w, action=action, action_version=version),
                                             frame_size=self.path.frame_size, default_vfov_deg=self.start_vfov_deg)
        except SanaWMInputError as exc:
            self._error(str(exc))
            return False
        self._push(lambda: ReplacePathCommand(self.path, new, self._after_edit, f"Use {label}"))
        self.panel.show_message(f"Loaded the {label} {action}: {len(new)} keyframes, {new.num_frames} frames")
        return True

    def import_file(self, file: str | os.PathLike, *, format: str | None = None, every: int | None = None) -> bool:
        """Replace the path by keyframes picked from a trajectory file (one undo step). Errors are shown, and the
        path is kept; returns whether it worked."""
        kwargs = {} if every is None else {"every": every}
        try:
            with engine_warnings() as warnings:
                new = import_path(file, format=format, frame_size=self.path.frame_size, **kwargs)
        except SanaWMInputError as exc:
            self._error(str(exc))
            return False
        self._push(lambda: ReplacePathCommand(self.path, new, self._after_edit, f"Import {Path(file).name}"))
        self.panel.show_message(f"Imported {Path(file).name}: {len(new)} keyframes, {new.num_frames} frames"
                                + "".join(f"\nwarning: {w}" for w in warnings), error=bool(warnings))  # fmt: skip
        return True

    def export_file(self, file: str | os.PathLike, *, format: str | None = None) -> list[Path]:
        """Write the sampled path in any supported format (atomically). Errors are shown; returns the files."""
        try:
            with engine_warnings() as warnings:
                written = export_path(self.path, file, format=format)
        except SanaWMInputError as exc:
            self._error(str(exc))
            return []
        self.panel.show_message(f"Exported {', '.join(p.name for p in written)}"
                                + "".join(f"\nwarning: {w}" for w in warnings), error=bool(warnings))  # fmt: skip
        return written

    def _import_dialog(self) -> None:
        file, chosen = QFileDialog.getOpenFileName(self, "Import camera path", self.last_directory,
                                                   ";;".join(dialog_filters()))
        if file:
            self.last_directory = str(Path(file).parent)
            self.import_file(file, format=format_from_filter(chosen))

    def _export_dialog(self) -> None:
        file, chosen = QFileDialog.getSaveFileName(self, "Export camera path", self.last_directory,
                                                   ";;".join(dialog_filters()))
        if file:
            self.last_directory = str(Path(file).parent)
            self.export_file(file, format=format_from_filter(chosen))

    # --- plumbing -----------------------------------------------------------------------------------------------

    def _push(self, make_command) -> None:
        """Build a command (its constructor validates) and push it (which runs it); show errors, keep state."""
        try:
            self.undo_stack.push(make_command())
        except SanaWMInputError as exc:
            self._error(str(exc))

    def _selection_for(self, verb: str, pinned: str | None = None) -> int | None:
        """The selected keyframe's frame for an edit, or None with the reason shown: nothing is selected ("select
        a keyframe to ``verb``"), or the edit is one the start keyframe refuses (it cannot be ``pinned``)."""
        if self.selected_frame is None:
            self._error(f"select a keyframe to {verb}")
            return None
        if pinned is not None and self.selected_frame == START_FRAME:
            self._error(f"the keyframe at frame {START_FRAME} cannot be {pinned}: {START_KEYFRAME_NOTE}")
            return None
        return self.selected_frame

    def _pin_start(self) -> None:
        """Keep the start keyframe what it must be: at frame 0, the identity, with the start image's FOV. Edits
        that could change it are refused; this catches what comes in whole (an import, an undo to an older FOV).
        Not an undo step of its own: it is a consequence of the start image, not an edit."""
        pinned = Keyframe(START_FRAME, vfov_deg=self.start_vfov_deg)
        if not self.path.has(START_FRAME):
            self.path.insert(pinned)
        elif self.path.get(START_FRAME) != pinned:
            self.path.replace(START_FRAME, pinned)

    def _after_edit(self, frame: int | None) -> None:
        """Called by every command after it changed the path."""
        self._pin_start()
        self.selected_frame = frame if frame is not None and self.path.has(frame) else None
        self.current_frame = min(self.current_frame, self.path.num_frames - 1)
        self.panel.show_message("")
        self._refresh()
        self.changed.emit()

    def _refresh(self) -> None:
        self.panel.show_state(self.path, self.selected_frame, self.current_frame)
        if self.gl_view is not None:
            self.gl_view.update()

    def _error(self, text: str) -> None:
        log.info("path editor: %s", text)
        self.panel.show_message(text, error=True)
        self._refresh()

    def _on_field(self, name: str, value: float) -> None:
        if self.selected_frame is None:
            return
        k = self.path.get(self.selected_frame)
        key = ("field", name, k.frame)
        if name == "frame":
            self.set_selected_frame(int(value))
        elif name == "vfov":
            self.set_selected_fov(value)
        elif name in ("x", "y", "z"):
            pos = list(k.position)
            pos["xyz".index(name)] = value
            self.move_selected(position=tuple(pos), merge_key=key)
        else:
            ypr = dict(zip(("yaw", "pitch", "roll"), k.euler_deg()))
            ypr[name] = value
            rot = rotation_from_euler_deg(ypr["yaw"], ypr["pitch"], ypr["roll"])
            self.move_selected(quaternion=tuple(rotation_to_quaternion(rot)), merge_key=key)

    def _on_view_clicked(self, frame: int) -> None:
        self.select(None if frame < 0 else frame)

    def _on_view_move(self, frame: int, position: tuple, merge_key: object) -> None:
        if self.selected_frame != frame:
            self.select(frame)
        self.move_selected(position=tuple(position), merge_key=merge_key)

    def _wire_undo_buttons(self) -> None:
        """Short "Undo"/"Redo" buttons whose tooltips name the step (the menu actions carry the long text)."""
        p, stack = self.panel, self.undo_stack
        p.undo_button.clicked.connect(stack.undo)
        p.redo_button.clicked.connect(stack.redo)
        stack.indexChanged.connect(self._show_undo_state)
        stack.cleanChanged.connect(self._show_undo_state)
        self._show_undo_state()

    def _show_undo_state(self, *_: object) -> None:
        # the stack clears itself (emitting) while the editor is destroyed, possibly after the panel
        if not (isValid(self.panel) and isValid(self.panel.undo_button) and isValid(self.panel.redo_button)):
            return
        stack, p = self.undo_stack, self.panel
        p.undo_button.setEnabled(stack.canUndo())
        p.redo_button.setEnabled(stack.canRedo())
        p.undo_button.setToolTip(f"Undo {stack.undoText()}" if stack.canUndo() else "Nothing to undo")
        p.redo_button.setToolTip(f"Redo {stack.redoText()}" if stack.canRedo() else "Nothing to redo")

    def _on_view_rotate(self, frame: int, quaternion: tuple, merge_key: object) -> None:
        if self.selected_frame != frame:
            self.select(frame)
        self.move_selected(quaternion=tuple(quaternion), merge_key=merge_key)

    def _on_gl_failed(self, reason: str) -> None:
        view, self.gl_view = self.gl_view, None
        if view is not None:
            view.hide()
            view.deleteLater()
        self._show_gl_message(reason)
        self.splitter.insertWidget(0, self.gl_message)

    def _show_gl_message(self, reason: str) -> None:
        self.gl_message = QLabel(f"3D view unavailable: {reason}.\nThe keyframe panel still works.")
        self.gl_message.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.gl_message.setWordWrap(True)
        self.gl_message.setMinimumSize(320, 240)
        if self.splitter.count() == 0:
            self.splitter.addWidget(self.gl_message)


def vfov_from_intrinsics(intrinsics: np.ndarray | list[float], height: int) -> float:
    """Vertical FOV in degrees of ``[fx, fy, cx, cy]`` for an image ``height`` pixels tall."""
    return float(focal_to_fov_deg(as_vec4(intrinsics)[0, 1], height))


__all__ = ["PLAYBACK_FPS", "PathEditor", "gl_unavailable_reason", "vfov_from_intrinsics"]
