"""The explorer's main window: viewport (drive mode) or path editor (path mode) in the centre, the start panel and
the timeline in docks, menus with desktop shortcuts, and a status bar (model, state, chunk, generation fps).

The window is the one place that wires the parts together; each part stays ignorant of the others:

* :class:`~app.worker.EngineClient` runs the engine on its own thread; results come back as signals.
* :class:`~engine.generation.project.Project` is the document (branches of chunk records); the window updates it from the worker's
  results and hands it to the timeline, exporters and session files.
* :class:`~app.drive.DriveController` turns keys into poses and asks for the next chunk while driving.
* :class:`~app.path.editor.PathEditor` (path mode) authors a camera path; "Generate along path" samples it.
* :class:`~app.timeline.Timeline` shows the takes and asks for rewinds, branch switches and refines.
* :mod:`app.export_dialog` and :mod:`app.session_file` write exports and ``.swm`` sessions (autosave, recovery).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QAction, QActionGroup, QCloseEvent, QKeySequence
from PySide6.QtWidgets import (
    QDockWidget,
    QFileDialog,
    QLabel,
    QMainWindow,
    QMessageBox,
    QStackedWidget,
    QWidget,
)

from app import export_dialog
from app.drive import DriveController
from app.keymap import KeyMap, describe_keys, preset
from app.keymap_dialog import KeyMapDialog
from app.path.editor import PathEditor
from engine.camera.keyframes import default_path
from engine.generation.project import Project, StartSettings
from app.session_file import Autosaver, find_recovery, load_project, save_project
from app.settings import AppSettings
from app.start_panel import StartPanel
from app.timeline import Timeline
from app.viewport import Viewport
from app.worker import BundleFactory, EngineClient, ModelInfo, StartInfo, refine_latents
from engine.camera.poses import relative_to_first
from engine.errors import SanaWMInputError
from engine.generation.session import ChunkRecord

log = logging.getLogger(__name__)

DRIVE_MODE, PATH_MODE = 0, 1
SESSION_FILTER = "SANA-WM sessions (*.swm);;All files (*)"

class MainWindow(QMainWindow):
    """The explorer window (see the module docstring).

    Args:
        settings: persistent settings (tests pass a temporary one).
        bundle_factory: how the worker loads a model (default :func:`app.worker.default_bundle_factory`: CUDA when
            available; tests pass a tiny random model).
    """

    chunk_added = Signal(object)  # ChunkRecord, after the project has recorded it
    world_started = Signal()

    def __init__(self, settings: AppSettings | None = None, bundle_factory: BundleFactory | None = None) -> None:
        super().__init__()
        self.setWindowTitle("SANA-WM Explorer")
        self.app_settings = settings or AppSettings()
        self.client = EngineClient(bundle_factory, parent=self)
        self.project: Project | None = None
        self.model_info: ModelInfo | None = None
        self.start_info: StartInfo | None = None
        self.last_error = ""
        self.session_path: Path | None = None
        self._needs_sync = False
        self._restores_sent = 0  # rewinds / branch switches the worker has not confirmed yet
        self._path_chunks_left = 0  # chunks still to generate along the path (Generate along path)
        self._refining: tuple[int, int, list[Any]] | None = None
        # a document waiting for the worker to start (or resume) it:
        # (project, session file, ticket, loaded: a project read from a file, whose path and key map replace the
        # window's); the current one stays until the worker confirms, so a start that fails keeps everything as it was
        self._pending: tuple[Project, Path | None, int, bool] | None = None
        self._quiet_path = False  # True while the window itself puts a path into the editor (not the user's edit)

        # centre: viewport (drive mode) or path editor (path mode)
        self.viewport = Viewport(self.client.display)
        self.path_editor = PathEditor()
        self.stack = QStackedWidget()
        self.stack.addWidget(self.viewport)
        self.stack.addWidget(self.path_editor)
        self.setCentralWidget(self.stack)

        # docks
        self.start_panel = StartPanel(self.app_settings)
        self.start_panel.setMaximumWidth(420)
        self.start_dock = self._dock("Start", self.start_panel, Qt.DockWidgetArea.LeftDockWidgetArea)
        self.timeline = Timeline()
        self.timeline_dock = self._dock("Timeline", self.timeline, Qt.DockWidgetArea.BottomDockWidgetArea)

        # driving
        self.drive = DriveController(self.app_settings.keymap(), ready=self._ready_for_drive, parent=self)
        self.viewport.installEventFilter(self.drive)
        self.installEventFilter(self.drive)

        self.autosave_off_reason = ""
        self.autosaver = self._make_autosaver()

        self._make_actions()
        self._make_menus()
        self._make_status_bar()
        if self.autosaver is None:
            self.set_state(f"autosave is off: {self.autosave_off_reason}")
        self._connect()
        self._update_actions()
        self._restore_window()

    # ----- document, autosave, exports ---------------------------------------------------------------------------------
    def _make_autosaver(self) -> Autosaver | None:
        """The background autosaver (see :mod:`app.session_file`), or None when it cannot run here (no writable
        folder, or its lock is taken): the window then works without autosave and says so in the status bar."""
        try:
            autosaver = Autosaver(parent=self)
        except (SanaWMInputError, OSError) as exc:
            log.warning("autosave is off: %s", exc)
            self.autosave_off_reason = str(exc)
            return None
        autosaver.failed.connect(lambda message: self.set_state(f"autosave failed: {message}"))
        return autosaver

    def _watch(self, project: Project | None) -> None:
        """Make ``project`` the window's document: the timeline and the autosaver follow it."""
        self.project = project
        self.timeline.set_project(project)
        if self.autosaver is not None:
            self.autosaver.set_project(project)

    def offer_recovery(self, ask=None) -> bool:
        """After a crash: offer to reopen the newest autosave. ``ask(recovery) -> "recover" | "discard" | "later"``
        (default: a message box). True when a session was recovered."""
        found = find_recovery()
        if not found:
            return False
        newest = found[0]
        answer = (ask or self._ask_recovery)(newest)
        if answer == "discard":
            newest.discard()
        elif answer == "recover" and self.open_session(newest.path, as_file=False):
            newest.discard()
            return True
        return False

    def _ask_recovery(self, recovery) -> str:
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(recovery.saved_at))
        box = QMessageBox(QMessageBox.Icon.Question, "Recover session",
                          f"The explorer did not close cleanly. An autosave from {when} holds {recovery.chunks} "
                          "chunk(s). Recover it?", parent=self)  # fmt: skip
        recover = box.addButton("Recover", QMessageBox.ButtonRole.AcceptRole)
        discard = box.addButton("Discard", QMessageBox.ButtonRole.DestructiveRole)
        box.addButton("Later", QMessageBox.ButtonRole.RejectRole)
        box.exec()
        return "recover" if box.clickedButton() is recover else "discard" if box.clickedButton() is discard else "later"

    def _export(self, exporter) -> None:
        """Run one of :mod:`app.export_dialog`'s exporters (file dialog, progress, atomic write) on the current take."""
        if self.project is None or not self.project.current.chunks:
            self.show_error("export: nothing to export yet; generate a few chunks first")
            return
        written = exporter(self, self.project)
        if written is not None:
            self.set_state(f"exported {Path(written).name}")

    # ----- layout -----------------------------------------------------------------------------------------------------
    def _dock(self, title: str, widget: QWidget, area: Qt.DockWidgetArea) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(f"dock-{title.lower()}")
        dock.setWidget(widget)
        self.addDockWidget(area, dock)
        return dock

    def _action(
        self, text: str, slot, shortcut: QKeySequence | str | None = None, *, checkable: bool = False
    ) -> QAction:
        action = QAction(text, self)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
        action.setCheckable(checkable)
        action.triggered.connect(slot)
        return action

    def _make_actions(self) -> None:
        SK = QKeySequence.StandardKey
        self.act_new = self._action("&New", self.new_world, SK.New)
        self.act_open_image = self._action("&Open image…", self.start_panel.choose_image, SK.Open)
        self.act_open_session = self._action("Open &session…", lambda: self.open_session(), "Ctrl+Shift+O")
        self.act_save = self._action("&Save session", self.save_session, "Ctrl+S")
        self.act_save_as = self._action("Save session &as…", self.save_session_as, "Ctrl+Shift+S")
        self.act_export_video = self._action("&Video (MP4)…", lambda: self._export(export_dialog.export_video), "Ctrl+E")
        self.act_export_trajectory = self._action("&Trajectory…", lambda: self._export(export_dialog.export_trajectory))
        self.act_export_storyboard = self._action("&Storyboard…", lambda: self._export(export_dialog.export_storyboard))
        self.act_quit = self._action("&Quit", self.close, "Ctrl+Q")
        self.act_undo = self._action("&Undo", self.undo, SK.Undo)
        self.act_redo = self._action("&Redo", self.redo, SK.Redo)
        self.act_keymap = self._action("&Key map…", self.edit_keymap)
        self.act_drive_mode = self._action("&Drive mode", lambda: self.set_mode(DRIVE_MODE), "Ctrl+1", checkable=True)
        self.act_path_mode = self._action("&Path mode", lambda: self.set_mode(PATH_MODE), "Ctrl+2", checkable=True)
        self.mode_group = QActionGroup(self)
        for act in (self.act_drive_mode, self.act_path_mode):
            self.mode_group.addAction(act)
        self.act_drive_mode.setChecked(True)
        self.act_start = self._action("&Start", self.start_panel.request_start, "Ctrl+Return")
        self.act_step = self._action("Step &one chunk", self.step_once, "Ctrl+Right")
        self.act_drive = self._action("&Drive", self.set_driving, "Ctrl+D", checkable=True)
        self.act_drive.setChecked(True)
        self.act_cancel = self._action("&Cancel", self.cancel, "Esc")
        self.act_rewind = self._action("&Rewind one chunk", self.rewind_one, "Ctrl+Left")
        self.act_about = self._action("&About", self.about)
        self.act_keys = self._action("&Keys", self.keys_help, "F1")

    def _make_menus(self) -> None:
        bar = self.menuBar()
        self.file_menu = bar.addMenu("&File")
        for act in (self.act_new, self.act_open_image, self.act_open_session, None, self.act_save, self.act_save_as):
            self.file_menu.addAction(act) if act else self.file_menu.addSeparator()
        self.export_menu = self.file_menu.addMenu("&Export")
        for act in (self.act_export_video, self.act_export_trajectory, self.act_export_storyboard):
            self.export_menu.addAction(act)
        self.file_menu.addSeparator()
        self.file_menu.addAction(self.act_quit)
        self.start_dock.toggleViewAction().setText("&Start panel")  # not "Start", which Generate ▸ Start is
        self.timeline_dock.toggleViewAction().setText("&Timeline panel")
        self.edit_menu = bar.addMenu("&Edit")
        for act in (self.act_undo, self.act_redo, None, self.act_keymap):
            self.edit_menu.addAction(act) if act else self.edit_menu.addSeparator()
        self.view_menu = bar.addMenu("&View")
        self.view_menu.addAction(self.act_drive_mode)
        self.view_menu.addAction(self.act_path_mode)
        self.view_menu.addSeparator()
        self.view_menu.addAction(self.start_dock.toggleViewAction())
        self.view_menu.addAction(self.timeline_dock.toggleViewAction())
        self.generate_menu = bar.addMenu("&Generate")
        for act in (self.act_start, self.act_step, self.act_drive, self.act_cancel, self.act_rewind):
            self.generate_menu.addAction(act)
        self.help_menu = bar.addMenu("&Help")
        self.help_menu.addAction(self.act_keys)
        self.help_menu.addAction(self.act_about)
        for menu in (self.file_menu, self.export_menu, self.edit_menu, self.view_menu, self.generate_menu,
                     self.help_menu):  # fmt: skip
            menu.setToolTipsVisible(True)  # a disabled entry's tooltip says why

    def _make_status_bar(self) -> None:
        self.status_model = QLabel("no model")
        self.status_state = QLabel("idle")
        self.status_chunk = QLabel("chunk -")
        self.status_fps = QLabel("- fps")
        bar = self.statusBar()
        bar.addWidget(self.status_state, 1)
        for label in (self.status_chunk, self.status_fps, self.status_model):
            bar.addPermanentWidget(label)

    def _connect(self) -> None:
        c = self.client
        c.model_loaded.connect(self._on_model_loaded)
        c.started.connect(self._on_started)
        c.chunk_ready.connect(self._on_chunk)
        c.progress.connect(self._on_progress)
        c.refined.connect(self._on_refined)
        c.error.connect(self._on_error)
        c.cancelled.connect(self._on_cancelled)
        c.busy_changed.connect(self._on_busy)
        c.restored.connect(self._on_restored)
        c.finished.connect(self._on_finished)
        self.start_panel.start_requested.connect(self.start_world)
        self.start_panel.error.connect(self.show_error)
        self.viewport.image_dropped.connect(self._on_image_dropped)
        self.drive.step_requested.connect(self._send_step)
        self.drive.held_changed.connect(lambda keys: self.viewport.set_hud(keys=keys))
        self.timeline.rewind_requested.connect(self.rewind_to)
        self.timeline.branch_selected.connect(self.select_branch)
        self.timeline.discard_requested.connect(self.discard_branch)
        self.timeline.refine_requested.connect(self.refine)
        self.path_editor.generate_requested.connect(self.generate_path)
        self.path_editor.changed.connect(self._on_path_changed)
        # the stack's index, not the editor's changed(): a command's redo runs (and emits changed) before the push
        # has moved the index, so Undo would still read as unavailable
        self.path_editor.undo_stack.indexChanged.connect(self._update_actions)
        self._hud_timer = QTimer(self)
        self._hud_timer.setInterval(250)
        self._hud_timer.timeout.connect(lambda: self.viewport.set_hud(speed=self.drive.speed))
        self._hud_timer.start()

    # ----- settings ---------------------------------------------------------------------------------------------------
    def _restore_window(self) -> None:
        geometry = self.app_settings.geometry()
        if geometry is not None:
            self.restoreGeometry(geometry)
        else:
            self.resize(1200, 760)
        state = self.app_settings.window_state()
        if state is not None:
            self.restoreState(state)

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802
        if not self.confirm_discard():
            event.ignore()
            return
        self.app_settings.set_geometry(self.saveGeometry())
        self.app_settings.set_window_state(self.saveState())
        self.app_settings.sync()
        self.drive.timer.stop()
        self.client.shutdown()
        if self.autosaver is not None:
            self.autosaver.close()  # a clean exit leaves no recovery file
            self.autosaver = None
        super().closeEvent(event)

    def confirm_discard(self) -> bool:
        """Before the document is replaced or the window closes: True when there is nothing unsaved, or the user
        saved it or chose to discard it; False to keep it (Cancel, or a save that did not happen)."""
        if self.project is None or not self.project.dirty or not self.project.current.chunks:
            return True
        answer = self.ask_save_changes()
        if answer == "save":
            return self.save_session()
        return answer == "discard"

    def ask_save_changes(self) -> str:
        """``"save"``, ``"discard"`` or ``"cancel"`` (a message box; scripted runs and tests replace this)."""
        box = QMessageBox(QMessageBox.Icon.Question, "SANA-WM Explorer",
                          "The current session has unsaved changes. Save them first?",
                          QMessageBox.StandardButton.Save | QMessageBox.StandardButton.Discard
                          | QMessageBox.StandardButton.Cancel, self)  # fmt: skip
        box.setDefaultButton(QMessageBox.StandardButton.Save)
        answer = box.exec()
        return {QMessageBox.StandardButton.Save: "save", QMessageBox.StandardButton.Discard: "discard"}.get(
            QMessageBox.StandardButton(answer), "cancel"
        )

    # ----- state ------------------------------------------------------------------------------------------------------
    @property
    def started(self) -> bool:
        return self.start_info is not None and self.project is not None

    @property
    def mode(self) -> int:
        return self.stack.currentIndex()

    def _update_actions(self) -> None:
        name = self.session_path.name if self.session_path is not None else "untitled"
        self.setWindowTitle(f"{name}[*] — SANA-WM Explorer" if self.project is not None else "SANA-WM Explorer")
        self.setWindowModified(bool(self.project is not None and self.project.dirty))
        started, busy = self.started, self.client.busy
        has_chunks = self.project is not None and self.project.cursor > 0
        not_started = "" if started else "Start a world first: open an image or pick a demo, then Start"
        generating = "Wait for the chunk being generated (Esc cancels it)" if busy else ""
        available(self.act_step, not_started or generating)
        available(self.act_rewind, not_started or ("" if has_chunks else "No chunk to rewind yet") or generating)
        available(self.act_cancel, "" if busy else "Nothing is being generated")
        empty = "" if self.project is not None and self.project.current.chunks else "yet: generate a chunk first"
        for act in (self.act_save, self.act_save_as):
            available(act, empty and f"Nothing to save {empty}")
        for act in (self.act_export_video, self.act_export_trajectory, self.act_export_storyboard):
            available(act, empty and f"Nothing to export {empty}")
        stack = self.path_editor.undo_stack
        available(self.act_undo, "" if stack.canUndo() else "Nothing to undo (path edits are undoable)",
                  f"Undo {stack.undoText()}")  # fmt: skip
        available(self.act_redo, "" if stack.canRedo() else "Nothing to redo", f"Redo {stack.redoText()}")
        info = self.model_info
        self.timeline.set_refine_available(bool(info and info.has_refiner),
                                           "load a model first" if info is None else info.refiner_reason)  # fmt: skip

    def set_state(self, text: str) -> None:
        self.status_state.setText(text)

    def show_error(self, message: str) -> None:
        """Show an engine or input error without losing any state (non-blocking)."""
        self.last_error = message
        self.set_state(f"error: {message}")
        log.info("shown to the user: %s", message)
        box = QMessageBox(QMessageBox.Icon.Warning, "SANA-WM Explorer", message, QMessageBox.StandardButton.Ok, self)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.open()

    # ----- starting ---------------------------------------------------------------------------------------------------
    def start_world(self, settings: StartSettings) -> None:
        """A new stream from ``settings`` (the Start button)."""
        if not self.confirm_discard():
            return
        self._path_chunks_left = 0
        if self.client.busy:
            self.client.cancel()
        self.set_state("loading model…" if self.model_info is None else "starting…")
        self._pending = (Project(settings), None, self.client.start(settings), False)
        self._update_actions()

    def new_world(self) -> None:
        """File ▸ New: forget the current world (the start panel keeps its inputs)."""
        if not self.confirm_discard():
            return
        self._path_chunks_left = 0
        self._pending = None
        if self.client.busy:
            self.client.cancel()
        self._watch(None)
        self.start_info = None
        self.session_path = None
        self.drive.reset()
        self.viewport.clear()
        self.set_state("idle")
        self.status_chunk.setText("chunk -")
        self._update_actions()

    def _on_image_dropped(self, path: str) -> None:
        self.start_panel.demo_box.setCurrentIndex(0)
        self.start_panel.set_image(path)

    def _on_model_loaded(self, info: ModelInfo) -> None:
        self.model_info = info
        self.start_info = None  # loading another model ends the worker's stream; the document stays for viewing
        self.app_settings.set_model(info.source)  # remembered only once it has loaded
        self.status_model.setText(info.display_name)
        self.status_model.setToolTip(f"{info.display_name}\n{info.frame_size[0]} x {info.frame_size[1]} frames"
                                     f"\nrefiner: {'yes' if info.has_refiner else info.refiner_reason}")  # fmt: skip
        self.drive.frames_per_chunk = info.frames_per_chunk
        self._update_actions()

    def _on_started(self, info: StartInfo) -> None:
        if self._pending is None or self._pending[2] != info.ticket:
            return  # a start the user has since replaced by another
        project, path, _, loaded = self._pending
        self._pending = None
        self._watch(project)
        self.session_path = path
        self.start_info = info
        self._restores_sent = 0
        self.drive.reset()
        self._needs_sync = True  # a resumed session: drive on from its cursor once the worker is idle
        if project.live_chunks or path is not None:  # a session file: show what it started from
            self.start_panel.load_settings(project.start)
        live = project.live_chunks
        self.viewport.clear()
        self.viewport.set_frame(info.frame if info.frame is not None else
                                live[-1].frames[-1] if live else project.start.image)  # fmt: skip
        frame = info.frame if info.frame is not None else project.start.image
        size = self.model_info.frame_size if self.model_info is not None else None
        self._quiet_path = True  # fitting the path to the start image is not an edit of the new document
        try:
            self.path_editor.set_start(frame, info.intrinsics, *(() if size is None else (size,)))
            self._restore_path_and_keys(project, loaded)
        finally:
            self._quiet_path = False
        self.set_state("ready: hold W to drive" if self.mode == DRIVE_MODE else "ready: step along the path")
        self.drive.driving = self.act_drive.isChecked()
        self.drive.timer.start()
        self.viewport.setFocus()
        self.world_started.emit()
        self._update_actions()

    def _restore_path_and_keys(self, project: Project, loaded: bool) -> None:
        """A session file's authored path and key map go back into the path editor and driving (a file without
        them: the default path, the preset its start settings name); a new world records the window's own. Either
        way the project then holds what the window shows, so saving and autosaving store it."""
        if loaded:
            editor = self.path_editor
            path = project.camera_path or default_path(editor.start_vfov_deg, editor.path.frame_size)
            editor.load_path(path)  # a fresh document: empty undo stack
            keymap = project.keymap
            if keymap is None:
                try:
                    keymap = preset(project.start.keymap)
                except SanaWMInputError:  # an older file naming a custom map it did not store: keep the current one
                    log.info("session key map %r is not a preset; keeping %r", project.start.keymap, self.drive.keymap.name)
                    keymap = self.drive.keymap
            self.drive.set_keymap(keymap)  # the session's keys drive it; the user's saved preference is left alone
        self._fill_path_and_keys()

    def _fill_path_and_keys(self) -> None:
        """Put the editor's path and the driving key map on the project (before a save) without marking it
        changed: they are what the project already stands for."""
        if self.project is None:
            return
        if self.project.camera_path is None or not self.project.camera_path.same_as(self.path_editor.path):
            self.project.camera_path = self.path_editor.path.copy()
        self.project.keymap = self.drive.keymap
        self.project.start.keymap = self.drive.keymap.name

    def _on_path_changed(self) -> None:
        """A path edit (or its undo) is a change of the document: recorded on the project, so it is autosaved and
        counts as unsaved."""
        if self._quiet_path or self.project is None:
            return
        if self.project.camera_path is not None and self.project.camera_path.same_as(self.path_editor.path):
            return  # a selection or a re-pin that changed nothing
        self.project.set_camera_path(self.path_editor.path)
        self._update_actions()

    # ----- generating -------------------------------------------------------------------------------------------------
    def _ready_for_drive(self) -> bool:
        """The drive controller may ask for a chunk: started, engine idle, drive mode, and less than a chunk of
        frames still waiting to be shown (so a fast model is held to real time)."""
        return (
            self.started
            and not self.client.busy
            and self.mode == DRIVE_MODE
            and len(self.client.display) < self.drive.frames_per_chunk
        )

    def _send_step(self, poses: np.ndarray, intrinsics: np.ndarray | None = None) -> None:
        self.set_state(f"generating chunk {self.project.cursor if self.project else 0}…")
        self.client.step(poses, intrinsics)
        self._update_actions()

    def step_once(self) -> None:
        """Generate one chunk: from the keys (drive mode) or along the path (path mode)."""
        if not self.started:
            self.show_error("step: start a world first (open an image or pick a demo, then Start)")
            return
        if self.client.busy:
            return
        if self.mode == PATH_MODE:
            try:
                poses, intrinsics = self.path_poses(self.project.cursor)
            except SanaWMInputError as exc:
                self.show_error(str(exc))
                return
            self._send_step(poses, intrinsics)
        else:
            self._send_step(self.drive.take_chunk())

    def path_poses(self, chunk_index: int) -> tuple[np.ndarray, np.ndarray | None]:
        """Poses (and intrinsics) of chunk ``chunk_index`` along the path editor's path, relative to its start."""
        n = self.drive.frames_per_chunk
        c2w, intrinsics = self.path_editor.trajectory(1 + n * (chunk_index + 1))
        rows = slice(1 + n * chunk_index, 1 + n * (chunk_index + 1))
        poses = relative_to_first(np.asarray(c2w))[rows]
        return poses, None if intrinsics is None else np.asarray(intrinsics)[rows]

    def generate_path(self) -> None:
        """A new take along the whole path: back to the start image, then one chunk after another (Esc stops)."""
        if not self.started:
            self.show_error("generate along the path: start a world first (open an image or a demo, then Start)")
            return
        c2w, _ = self.path_editor.trajectory()
        chunks = (len(c2w) - 1) // self.drive.frames_per_chunk
        if chunks < 1:
            self.show_error(f"generate along the path: expected at least {self.drive.frames_per_chunk + 1} frames, "
                            f"found a path of {len(c2w)}")  # fmt: skip
            return
        self.set_mode(PATH_MODE)
        if self.project.cursor > 0:
            self.rewind_to(-1)
        self._path_chunks_left = chunks
        self._continue_path()

    @property
    def path_chunks_left(self) -> int:
        """Chunks of a Generate-along-path run not sent to the worker yet (0 when none is running)."""
        return self._path_chunks_left

    def _continue_path(self) -> None:
        if self._path_chunks_left <= 0 or self.project is None:
            return
        try:
            poses, intrinsics = self.path_poses(self.project.cursor)
        except SanaWMInputError as exc:
            self._path_chunks_left = 0
            self.show_error(str(exc))
            return
        self._path_chunks_left -= 1
        self._send_step(poses, intrinsics)

    def set_driving(self, on: bool) -> None:
        """Generate ▸ Drive: held keys generate chunks by themselves (on) or only Step one chunk does (off)."""
        self.drive.driving = bool(on)
        self.act_drive.setChecked(bool(on))
        if not self.client.busy:
            self.set_state("driving on: held keys generate chunks" if on else
                           "driving off: Step one chunk (Ctrl+Right) generates the next chunk")  # fmt: skip

    def cancel(self) -> None:
        self._path_chunks_left = 0
        if self.client.busy:
            self.client.cancel()
            self.set_state("cancelling…")

    def _on_chunk(self, record: ChunkRecord) -> None:
        if self.project is None or self.start_info is None or self._restores_sent:
            # a chunk of a stream the user has since left, or one that finished just before a rewind reached the
            # worker: it belongs to an abandoned future (the worker's queue keeps order, so this is exact)
            log.info("ignored chunk %d of an abandoned stream", record.index)
            return
        try:
            self.project.add_chunk(record)
        except SanaWMInputError as exc:  # a chunk of a stream the user has since left
            log.info("ignored chunk %d: %s", record.index, exc)
            return
        if not np.array_equal(record.c2w[-1], self.drive.integrator.pose):
            self.drive.sync(record.c2w[-1])  # a chunk along the path: driving goes on from where it ended
        total = record.timings.get("total", 0.0)
        fps = record.frames.shape[0] / total if total > 0 else 0.0
        self.viewport.set_hud(fps=fps)
        self.status_fps.setText(f"{fps:.1f} fps")
        self.status_chunk.setText(f"chunk {record.index} · {self.project.current.name}")
        self.set_state("driving" if self.drive.held else "ready")
        self.timeline.refresh()
        self.chunk_added.emit(record)
        self._update_actions()
        if self._path_chunks_left > 0:
            self._continue_path()

    def _on_progress(self, stage: str, done: int, total: int) -> None:
        if stage == "refine":
            self.set_state(f"refining: block {done}/{total}")

    def _on_error(self, message: str) -> None:
        self._needs_sync = True
        self._path_chunks_left = 0
        self.show_error(message)

    def _on_cancelled(self, message: str) -> None:
        self._needs_sync = True
        self._path_chunks_left = 0
        self._refining = None
        self.set_state(message)

    def _on_finished(self, ticket: int) -> None:
        if self._pending is not None and self._pending[2] == ticket:  # the start failed (error) or was cancelled
            self._pending = None
            self._update_actions()

    def _on_restored(self, chunks_done: int) -> None:
        self._restores_sent = max(0, self._restores_sent - 1)

    def _on_busy(self, busy: bool) -> None:
        if not busy:
            self._restores_sent = 0  # a restore that failed never confirms; nothing is in flight now
        if not busy and self._needs_sync:
            self._needs_sync = False
            self._sync_drive()
        self._update_actions()

    def _sync_drive(self) -> None:
        """Put the drive integrator at the end of the live chunks (after a failure, rewind or branch switch)."""
        live = self.project.live_chunks if self.project is not None else []
        self.drive.sync(live[-1].record.c2w[-1] if live else None)

    # ----- rewinding and branches ---------------------------------------------------------------------------------
    def rewind_to(self, chunk_index: int) -> None:
        """Keep chunks ``0..chunk_index`` (-1: back to the start image); stepping on makes a new branch."""
        if self.project is None or not self.started:
            return
        self._path_chunks_left = 0  # a running Generate-along-path stops here
        try:
            self.project.rewind(chunk_index)
        except SanaWMInputError as exc:
            self.show_error(str(exc))
            return
        self._go_live()
        where = "the start image" if chunk_index == -1 else f"chunk {chunk_index}"
        self.set_state(f"rewound to {where}: driving on makes a new branch")

    def _go_live(self) -> None:
        """After a rewind or a take switch: cancel the running chunk, put the worker on the last live chunk's
        snapshot (the start image when there is none), show its last frame, and drive on from there."""
        if self.client.busy:
            self.client.cancel()
        self._restores_sent += 1
        live = self.project.live_chunks
        if live:
            self.client.restore(live[-1].record.snapshot)
            self.viewport.set_frame(live[-1].frames[-1])
        else:
            self.client.rewind(-1)
            if self.start_info is not None and self.start_info.frame is not None:
                self.viewport.set_frame(self.start_info.frame)
        self._sync_drive()
        where = f"chunk {live[-1].index}" if live else "start image"
        self.status_chunk.setText(f"{where} · {self.project.current.name}")
        self.timeline.refresh()
        self._update_actions()

    def rewind_one(self) -> None:
        if self.project is not None and self.project.cursor > 0:
            self.rewind_to(self.project.cursor - 2)

    def select_branch(self, branch_id: int) -> None:
        if self.project is None:
            return
        self._path_chunks_left = 0
        try:
            self.project.switch(branch_id)
        except SanaWMInputError as exc:
            self.show_error(str(exc))
            return
        self._go_live()
        self.set_state(f"switched to {self.project.current.name}")

    def discard_branch(self, branch_id: int) -> None:
        if self.project is None:
            return
        try:
            self.project.discard(branch_id)
        except SanaWMInputError as exc:
            self.show_error(str(exc))
            return
        self.timeline.refresh()

    # ----- refining ---------------------------------------------------------------------------------------------------
    def refine(self, a: int, b: int) -> None:
        """Refine chunks ``[a, b)`` of the current branch with the stage-2 refiner (the worker says why not)."""
        if self.project is None:
            return
        entries = self.project.current.chunks
        try:
            latents = refine_latents([e.record for e in entries], a, b)
        except SanaWMInputError as exc:
            self.show_error(str(exc))
            return
        self._refining = (a, b, entries[a:b])
        self.set_state(f"refining chunks {a}-{b - 1}…")
        self.client.refine(a, b, latents)

    def _on_refined(self, a: int, b: int, frames: np.ndarray) -> None:
        if self.project is None or self._refining is None or self._refining[:2] != (a, b):
            return
        targets = self._refining[2]
        self._refining = None
        chunks = self.project.current.chunks
        if len(chunks) < b or not all(chunks[a + i] is entry for i, entry in enumerate(targets)):
            self.show_error(f"refine: the take changed while chunks {a}-{b - 1} were refined; the result was dropped")
            return
        offset = 0
        for i, entry in enumerate(targets):
            n = entry.record.frames.shape[0]
            self.project.set_refined(a + i, frames[offset : offset + n])  # shared entries show it on every take
            offset += n
        self.set_state(f"refined chunks {a}-{b - 1}")
        self.timeline.refresh()

    # ----- modes, key map, undo -----------------------------------------------------------------------------------
    def set_mode(self, mode: int) -> None:
        self.stack.setCurrentIndex(mode)
        (self.act_path_mode if mode == PATH_MODE else self.act_drive_mode).setChecked(True)
        self.drive.clear_held()
        if not self.client.busy:
            self._sync_drive()  # forget keys recorded in the other mode; drive on from the live chunk
        if mode == DRIVE_MODE:
            self.viewport.setFocus()
        if not self.client.busy:  # "generating…" stays while a chunk is under way
            if not self.started:
                self.set_state(("path" if mode == PATH_MODE else "drive") + " mode: open an image or pick a demo, "
                               "then Start")  # fmt: skip
            else:
                self.set_state("path mode: edit the path, then Generate along path (or step one chunk)"
                               if mode == PATH_MODE else "drive mode: hold W to drive")  # fmt: skip

    def edit_keymap(self) -> None:
        dialog = KeyMapDialog(self.drive.keymap, self)
        if dialog.exec():
            self.apply_keymap(dialog.keymap())

    def apply_keymap(self, keymap) -> None:
        self.drive.set_keymap(keymap)
        self.app_settings.set_keymap(keymap)
        if self.project is not None:
            self.project.set_keymap(keymap)  # stored whole in the session file, autosaved
            self._update_actions()
        self.set_state(f"key map: {keymap.name} ({keymap.version} mapping); Help ▸ Keys lists it")

    def undo(self) -> None:
        """Edit ▸ Undo: the path editor's last edit (the only undoable document edits)."""
        self.path_editor.undo_stack.undo()
        self._update_actions()

    def redo(self) -> None:
        self.path_editor.undo_stack.redo()
        self._update_actions()

    # ----- session files ------------------------------------------------------------------------------------------
    def open_session(self, path: str | Path | None = None, *, as_file: bool = True) -> bool:
        """Open a ``.swm`` file (a dialog when ``path`` is None) and continue it. ``as_file=False`` (a recovered
        autosave): the document is not tied to that file, so Save asks where to save."""
        if not self.confirm_discard():
            return False
        if path is None:
            folder = self.app_settings.last_folder("session")
            path, _ = QFileDialog.getOpenFileName(self, "Open session", folder, SESSION_FILTER)
            if not path:
                return False
        try:
            project = load_project(Path(path))
        except SanaWMInputError as exc:
            self.show_error(str(exc))
            return False
        if as_file:
            self.app_settings.set_last_folder("session", path)
        self.adopt_project(project, Path(path) if as_file else None)
        return True

    def adopt_project(self, project: Project, path: Path | None = None) -> None:
        """Show and continue an existing project (a session file): start its settings again, continue from its
        cursor's snapshot."""
        if self.client.busy:
            self.client.cancel()
        self.set_state("opening the session…")
        self._pending = (project, path, self.client.resume(project), True)
        self._update_actions()

    def save_session(self) -> bool:
        if self.session_path is None:
            return self.save_session_as()
        return self._save(self.session_path)

    def save_session_as(self) -> bool:
        folder = self.app_settings.last_folder("session")
        path, _ = QFileDialog.getSaveFileName(self, "Save session", folder, SESSION_FILTER)
        if not path:
            return False
        if not path.endswith(".swm"):
            path += ".swm"
        return self._save(Path(path))

    def _save(self, path: Path) -> bool:
        if self.project is None:
            self.show_error("save session: nothing to save yet; start a world first")
            return False
        self._fill_path_and_keys()
        try:
            save_project(self.project, path)
        except (SanaWMInputError, OSError) as exc:
            self.show_error(f"save session: {exc}")
            return False
        self.session_path = path
        self.project.dirty = False
        self.app_settings.set_last_folder("session", path)
        self.set_state(f"saved {path.name}")
        self._update_actions()  # the title names the file and drops the modified marker
        return True

    # ----- help -------------------------------------------------------------------------------------------------------
    def about(self) -> None:
        model = self.model_info.display_name if self.model_info else "no model loaded yet"
        QMessageBox.about(
            self,
            "About SANA-WM Explorer",
            "<h3>SANA-WM Explorer</h3><p>Drive a camera through a world generated live from one image by a "
            f"camera-controlled video world model.</p><p>Model: {model}</p><p>Apache-2.0</p>",
        )

    def keys_help(self) -> None:
        """Help ▸ Keys: the key map in use (as edited in Edit ▸ Key map…) and the window's shortcuts."""
        QMessageBox.information(self, "Keys", keys_help_html(self.drive.keymap, self._shortcut_actions()))

    def _shortcut_actions(self) -> list[QAction]:
        menus = (self.file_menu, self.export_menu, self.edit_menu, self.view_menu, self.generate_menu, self.help_menu)
        return [a for m in menus for a in m.actions() if not a.isSeparator() and not a.shortcut().isEmpty()]

    # ----- scripted runs (screenshots, smoke tests) ---------------------------------------------------------------
    def hold(self, dsl_keys: str) -> None:
        """Hold DSL keys as if pressed (scripted driving), whatever the key map."""
        self.drive.hold(dsl_keys)


def available(action: QAction, reason: str, tip: str = "") -> None:
    """Enable ``action`` when there is no ``reason`` against it; otherwise disable it and show the reason as its
    tooltip (menus show tooltips), so a greyed entry says why."""
    action.setEnabled(not reason)
    action.setToolTip(reason or tip or action.text().replace("&", "").rstrip("…"))


def keys_help_html(keymap: KeyMap, actions: list[QAction]) -> str:
    """Help ▸ Keys: the driving keys of ``keymap`` (what each does under its mapping version) and the shortcuts of
    ``actions``."""
    rows = "".join(f"<tr><td><b>{keys}</b></td><td>{dsl}</td><td>{does}</td></tr>"
                   for keys, dsl, does in describe_keys(keymap))  # fmt: skip
    shortcuts = "".join(
        f"<tr><td><b>{a.shortcut().toString(QKeySequence.SequenceFormat.NativeText)}</b></td>"
        f"<td>{a.text().replace('&', '')}</td></tr>"
        for a in actions
    )
    return (f"<h3>Driving — key map '{keymap.name}' ({keymap.version} mapping)</h3>"
            "<p>Hold keys to move the camera; the next chunk follows the keys held while the current one is "
            "generated. Edit ▸ Key map… changes them (presets: v2, v1, arrows).</p>"
            f"<table><tr><th>key</th><th>action key</th><th>moves</th></tr>{rows}</table>"
            "<h3>Path editor</h3><p>Delete / Backspace deletes the selected keyframe; F frames the whole path.</p>"
            f"<h3>Shortcuts</h3><table>{shortcuts}</table>"
            "<p>Driving on from a rewound chunk makes a new take (branch).</p>")  # fmt: skip
