"""The explorer's main window: viewport (drive mode) or path editor (path mode) in the centre, the start panel and
the timeline in docks, menus with desktop shortcuts, and a status bar (model, state, chunk, generation fps).

The window is widgets and wiring; each part stays ignorant of the others:

* :class:`~app.controller.ExplorerController` holds the rollout state machine (what runs, what waits, which chunks
  belong to the document); the window sends it the user's commands and renders what it reports.
* :class:`~app.worker.EngineClient` runs the engine on its own thread; its result signals go to the controller.
* :class:`~engine.generation.project.Project` is the document (takes of chunk records); the timeline, exporters and
  session files read it.
* :class:`~app.drive.DriveController` turns keys into poses and asks for the next chunk while driving.
* :class:`~app.path.editor.PathEditor` (path mode) authors a camera path; "Generate along path" samples it.
* :class:`~app.timeline.Timeline` shows the takes and asks for rewinds, branch switches and refines.
* :mod:`app.menus` builds the actions, menus and status bar; :mod:`app.sessions` holds the Open / Save dialogs and
  exports; :mod:`app.export_dialog` and :mod:`app.autosave` write exports and ``.swm`` sessions (autosave, recovery).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import QDockWidget, QMainWindow, QMessageBox, QStackedWidget, QVBoxLayout, QWidget
from PySide6.QtWidgets import QFileDialog  # noqa: F401 (app.sessions uses it; scripted runs patch its dialogs here)

from app import menus, sessions
from app.autosave import Autosaver, find_recovery
from app.controller import ExplorerController
from app.explorer_state import EngineBusy, PendingStart, Phase, RefineJob
from app.drive import DriveController, display_needs_chunk
from app.menus import DRIVE_MODE, PATH_MODE
from app.path.editor import PathEditor
from app.pip import PictureInPicture
from app.player import TakePlayer
from app.settings import AppSettings
from app.start_panel import StartPanel
from app.timeline import Timeline
from app.viewport import Viewport, to_qimage
from app.worker import BundleFactory, EngineClient, ModelInfo, StartInfo
from engine.camera.keyframes import default_path
from engine.errors import SanaWMInputError
from engine.generation.project import ChunkEntry, Project, StartSettings
from engine.generation.session import ChunkRecord
from engine.generation.world_memory import cache_points

log = logging.getLogger(__name__)

#: World-cache points the 3D editor draws at most (an even subsample of the cache; 40,000 voxels by default)
WORLD_POINTS_SHOWN = 50_000

__all__ = ["DRIVE_MODE", "PATH_MODE", "MainWindow"]


class MainWindow(QMainWindow):
    """The explorer window (see the module docstring); the :class:`~app.explorer_state.ExplorerView` of its controller.

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
        #: [time the current chunk's first denoising step reported, seconds the last chunk took from there]
        self._chunk_clock: list[float | None] = [None, None]
        self.client = EngineClient(bundle_factory, parent=self)
        self.controller = ExplorerController(self.client, self)
        self.model_info: ModelInfo | None = None
        self.last_error = ""
        self._quiet_path = False  # True while the window itself puts a path into the editor (not the user's edit)
        self.chunk_seconds: float | None = None  # the last chunk's generation time (drive pacing)
        self._path_image: np.ndarray | None = None  # the start image the editor's path was made for

        self.viewport = Viewport(self.client.display)
        self.path_editor = PathEditor()
        self.stack = QStackedWidget()
        self.stack.addWidget(self.viewport)  # DRIVE_MODE
        self.stack.addWidget(self.path_editor)  # PATH_MODE
        self.player = TakePlayer()
        self.pip = PictureInPicture(self.path_editor)
        self.cache_inset = PictureInPicture(self.viewport, share=0.28)  # the world cache's render (debug view)
        centre = QWidget()
        column = QVBoxLayout(centre)
        column.setContentsMargins(0, 0, 0, 0)
        column.setSpacing(2)
        column.addWidget(self.stack, 1)
        column.addWidget(self.player)
        self.setCentralWidget(centre)
        self.start_panel = StartPanel(self.app_settings)
        self.start_panel.setMaximumWidth(420)
        self.start_dock = self._dock("Start", self.start_panel, Qt.DockWidgetArea.LeftDockWidgetArea)
        self.timeline = Timeline()
        self.timeline_dock = self._dock("Timeline", self.timeline, Qt.DockWidgetArea.BottomDockWidgetArea)
        self.drive = DriveController(self.app_settings.keymap(), ready=self._ready_for_drive, parent=self)
        self.viewport.installEventFilter(self.drive)
        self.installEventFilter(self.drive)

        menus.build(self)
        self.autosaver = sessions.make_autosaver(self, Autosaver)  # None (and said so) when it cannot run here
        self._connect()
        self._update_actions()
        self._restore_window()

    def _dock(self, title: str, widget: QWidget, area: Qt.DockWidgetArea) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(f"dock-{title.lower()}")
        dock.setWidget(widget)
        self.addDockWidget(area, dock)
        return dock

    def _connect(self) -> None:
        c, ctl = self.client, self.controller
        c.model_loaded.connect(self._on_model_loaded)
        c.progress.connect(self._on_progress)
        c.busy_changed.connect(self._on_busy)
        c.started.connect(ctl.on_started)
        c.chunk_ready.connect(ctl.on_chunk)
        c.refined.connect(ctl.on_refined)
        c.restored.connect(ctl.on_restored)
        c.error.connect(ctl.on_error)
        c.cancelled.connect(ctl.on_cancelled)
        c.finished.connect(ctl.on_finished)
        self.start_panel.start_requested.connect(self.start_world)
        self.start_panel.error.connect(self.show_error)
        self.start_panel.suggested_path_requested.connect(self.use_suggested_path)
        self.start_panel.image_changed.connect(self._on_image_changed)
        self.viewport.image_dropped.connect(self._on_image_dropped)
        self.drive.step_requested.connect(lambda poses: self._attempt(ctl.step, poses))
        self.drive.held_changed.connect(lambda keys: self.viewport.set_hud(keys=keys))
        self.timeline.rewind_requested.connect(self.rewind_to)
        self.timeline.branch_selected.connect(self.select_branch)
        self.timeline.discard_requested.connect(self.discard_branch)
        self.timeline.refine_requested.connect(self.refine)
        self.player.frame_changed.connect(lambda frame, chunk, _: self.viewport.show_review(frame, chunk))
        self.viewport.image_changed.connect(self._update_pip)
        c.cache_view.connect(lambda colour: self.cache_inset.set_image(to_qimage(colour), "world cache"))
        self.path_editor.generate_requested.connect(self.generate_path)
        self.path_editor.changed.connect(self._on_path_changed)
        # the stack's index, not the editor's changed(): a command's redo runs (and emits changed) before the push
        # has moved the index, so Undo would still read as unavailable
        self.path_editor.undo_stack.indexChanged.connect(self._update_actions)
        self._hud_timer = QTimer(self)
        self._hud_timer.setInterval(250)
        self._hud_timer.timeout.connect(lambda: self.viewport.set_hud(speed=self.drive.speed))
        self._hud_timer.start()

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
        if not sessions.confirm_discard(self):
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

    # ----- state (held by the controller) -----------------------------------------------------------------------
    @property
    def project(self) -> Project | None:
        return self.controller.project

    @property
    def session_path(self) -> Path | None:
        return self.controller.session_path

    @property
    def started(self) -> bool:
        return self.controller.started

    @property
    def path_chunks_left(self) -> int:
        """Chunks of a Generate-along-path run not sent to the worker yet (0 when none is running)."""
        return self.controller.path_chunks_left

    @property
    def mode(self) -> int:
        return self.stack.currentIndex()

    def _update_actions(self) -> None:
        menus.refresh(self)

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

    def _attempt(self, command, *args) -> bool:
        """Run a controller command; one it refuses is shown (:meth:`show_error`) and changes nothing."""
        try:
            command(*args)
        except SanaWMInputError as exc:
            self.show_error(str(exc))
            return False
        return True

    # ----- the controller's reports (ExplorerView) ------------------------------------------------------------
    def show_phase(self, phase: Phase) -> None:
        if phase in (Phase.STARTING, Phase.DRIVING, Phase.PATH, Phase.RESTORING):
            self.player.pause()  # generation shows its live frames again
            self.viewport.end_review()
        self._update_actions()

    def set_cache_view(self, on: bool) -> None:
        """View ▸ World cache view (debug): the cache rendered at the latest pose, in a corner of the viewport,
        from the next chunk or rewind on (rendered on the engine thread, where its GL context lives)."""
        self.client.worker.cache_view_enabled = bool(on)
        if not on:
            self.cache_inset.set_image(None)

    def _update_pip(self) -> None:
        """Path mode keeps the frames in view: the picture-in-picture repeats the viewport's picture."""
        image = self.viewport.image if self.mode == PATH_MODE else None
        chunk = self.viewport.hud_chunk
        self.pip.set_image(image, "start image" if chunk is None else f"chunk {chunk}")

    def show_document(self, project: Project | None) -> None:
        """The timeline, the player and the autosaver follow the document."""
        self.timeline.set_project(project)
        self.player.set_project(project)
        if self.autosaver is not None:
            self.autosaver.set_project(project)

    def show_started(self, start: PendingStart, info: StartInfo) -> None:
        project = start.project
        self.drive.reset()
        if project.live_chunks or start.path is not None:  # a session file: show what it started from
            self.start_panel.load_settings(project.start)
        live = project.live_chunks
        self.viewport.clear()
        self.viewport.set_frame(info.frame if info.frame is not None else
                                live[-1].frames[-1] if live else project.start.image)  # fmt: skip
        self._show_position(live)
        self._show_world(live)
        self.viewport.hud_fps = None  # set_hud(fps=None) would mean "unchanged"
        self.status_fps.setText("- fps")
        self.chunk_seconds = None  # the previous world's pace says nothing about this one's
        frame = info.frame if info.frame is not None else project.start.image
        size = self.model_info.frame_size if self.model_info is not None else None
        reuse = start.loaded or self._keep_path_for(project.start.image)
        self._quiet_path = True  # fitting the path to the start image is not an edit of the new document
        try:
            self.path_editor.set_start(frame, info.intrinsics, *(() if size is None else (size,)))
            if not reuse:
                editor = self.path_editor
                editor.load_path(default_path(editor.start_vfov_deg, editor.path.frame_size))
            sessions.restore_path_and_keys(self, project, start.loaded)
        finally:
            self._quiet_path = False
        self._path_image = project.start.image
        self.set_state("ready: hold W to drive" if self.mode == DRIVE_MODE else "ready: step along the path")
        self.drive.driving = self.act_drive.isChecked()
        self.drive.timer.start()
        self.viewport.setFocus()
        self.world_started.emit()
        self._update_actions()
        if start.loaded and project.warnings:  # parts a session file opened without (e.g. a damaged world cache)
            more = f" (and {len(project.warnings) - 1} more)" if len(project.warnings) > 1 else ""
            self.show_error(f"the session opened without part of it: {project.warnings[0]}{more}")

    def show_chunk(self, record: ChunkRecord) -> None:
        if not np.array_equal(record.c2w[-1], self.drive.integrator.pose):
            self.drive.sync(record.c2w[-1])  # a chunk along the path: driving goes on from where it ended
        total = record.timings.get("total", 0.0)
        fps = record.frames.shape[0] / total if total > 0 else 0.0
        self.chunk_seconds = total if total > 0 else None
        self.viewport.kick()  # a starved viewport shows the chunk's first frame now, not at its next tick
        self.viewport.set_hud(fps=fps)
        self.status_fps.setText(f"{fps:.1f} fps")
        self.status_chunk.setText(f"chunk {record.index} · {self.project.current.name}")
        self._show_world(self.project.live_chunks)
        self.set_state("driving" if self.drive.held else "ready")
        self.timeline.refresh()
        self.player.refresh()
        self.chunk_added.emit(record)
        self._update_actions()

    def show_live(self, live: list[ChunkEntry]) -> None:
        """After a rewind or take switch: show the last live frame (the start image when none) and drive on there."""
        if live:
            self.viewport.set_frame(live[-1].frames[-1])
        elif getattr(self.controller.start_info, "frame", None) is not None:
            self.viewport.set_frame(self.controller.start_info.frame)
        self.sync_drive()
        self._show_position(live)
        self._show_world(live)
        self.timeline.refresh()
        self.player.refresh()
        self._update_actions()

    def _show_world(self, live: list[ChunkEntry]) -> None:
        """The 3D editor's world points: the world cache after the last live chunk, the start image's before any
        (none when the model has no depth source)."""
        snapshot = live[-1].record.snapshot if live else None
        world = snapshot.world if snapshot is not None else getattr(self.controller.start_info, "world", None)
        if world is None:
            self.path_editor.set_world_points(None)
        else:
            self.path_editor.set_world_points(*cache_points(world, WORLD_POINTS_SHOWN))

    def _show_position(self, live: list[ChunkEntry]) -> None:
        """The status bar and the viewport's overlay name the same place: the last live chunk or the start image."""
        self.viewport.hud_chunk = live[-1].index if live else None
        self.viewport.update()
        where = f"chunk {live[-1].index}" if live else "start image"
        self.status_chunk.setText(f"{where} · {self.project.current.name}" if self.project is not None else where)

    def _keep_path_for(self, image: np.ndarray) -> bool:
        """Whether a new world keeps the path in the editor: an untouched (default) path is refitted anyway; an
        authored one made for another image is kept only when the user says so (its keyframes' FOVs and framing
        were chosen for that picture)."""
        editor = self.path_editor
        if editor.path.same_as(default_path(editor.start_vfov_deg, editor.path.frame_size)):
            return True
        previous = self._path_image
        if previous is None or (previous.shape == image.shape and np.array_equal(previous, image)):
            return True
        return self.ask_reuse_path() == "keep"

    def ask_reuse_path(self) -> str:
        """``"keep"`` or ``"new"``: the path in the editor was authored for another image (a question box; tests
        and scripted runs replace this)."""
        box = QMessageBox(QMessageBox.Icon.Question, "SANA-WM Explorer",
                          "The camera path in the path editor was made for the previous image (its keyframes keep "
                          "that image's field of view). Keep it for the new image, or start a new path?",
                          QMessageBox.StandardButton.NoButton, self)  # fmt: skip
        keep = box.addButton("Keep the path", QMessageBox.ButtonRole.AcceptRole)
        box.addButton("New path", QMessageBox.ButtonRole.RejectRole)
        box.exec()
        return "keep" if box.clickedButton() is keep else "new"

    def show_refined(self, job: RefineJob) -> None:
        self.timeline.refresh()
        self.player.refresh()

    def sync_drive(self) -> None:
        """Put the drive integrator at the end of the live chunks (after a failure, rewind or branch switch)."""
        live = self.project.live_chunks if self.project is not None else []
        self.drive.sync(live[-1].record.c2w[-1] if live else None)

    # ----- the worker's reports the window shows itself --------------------------------------------------------
    def _on_model_loaded(self, info: ModelInfo) -> None:
        self.model_info = info
        self.controller.on_model_loaded(info)  # loading another model ends the worker's stream
        self.app_settings.set_model(info.source)  # remembered only once it has loaded
        self.start_panel.set_target_size(info.frame_size)  # the crop is shown for this model's frames
        self.status_model.setText(info.display_name)
        self.status_model.setToolTip(f"{info.display_name}\n{info.frame_size[0]} x {info.frame_size[1]} frames"
                                     f"\nrefiner: {'yes' if info.has_refiner else info.refiner_reason}")  # fmt: skip
        self.drive.frames_per_chunk = info.frames_per_chunk
        self._update_actions()

    def _on_progress(self, stage: str, done: int, total: int) -> None:
        if stage == "refine":
            self.set_state(f"refining: block {done}/{total}")
        elif stage == "sample":  # within a chunk: its denoising steps, and the time left by the last chunk's
            now = time.monotonic()
            if done == 1 or self._chunk_clock[0] is None:
                self._chunk_clock[0] = now
            chunk = self.project.cursor if self.project is not None else 0
            text = f"chunk {chunk}: step {done}/{total}"
            last = self._chunk_clock[1]
            if last is not None:
                text += f", ~{max(last - (now - self._chunk_clock[0]), 0.0):.0f} s left"
            self.set_state(text)
        elif stage == "cache" and self._chunk_clock[0] is not None:  # the chunk is done: its time guides the next
            self._chunk_clock[1] = time.monotonic() - self._chunk_clock[0]
            self._chunk_clock[0] = None

    def _on_busy(self, busy: bool) -> None:
        if not busy:
            self.controller.on_idle()
        self._update_actions()
        if not busy:
            self.drive.poll()  # keys held: the next chunk goes now, not at the next tick

    # ----- commands -----------------------------------------------------------------------------------------------
    def start_world(self, settings: StartSettings) -> None:
        """A new stream from ``settings`` (the Start button)."""
        if sessions.confirm_discard(self):
            self.set_state("loading model…" if self.model_info is None else "starting…")
            self.controller.start(settings)

    def preload_model(self) -> None:
        """Load the start panel's model on the worker now, while the user picks an image: most of a first Start is
        the model load (docs/explorer.md, "Start")."""
        if self.model_info is None and not self.client.busy:
            self.client.load_model(self.start_panel.model_edit.text().strip() or None)
            self.set_state("loading the model in the background: open an image or pick a demo, then Start")

    def new_world(self) -> None:
        """File ▸ New: forget the current world (the start panel keeps its inputs)."""
        if not sessions.confirm_discard(self):
            return
        self.controller.new()
        self.drive.reset()
        self.viewport.clear()
        self.set_state("idle")
        self.status_chunk.setText("chunk -")
        self._update_actions()

    def _on_image_changed(self) -> None:
        """A new image in the start panel: an error about the previous one (or about having none) is over."""
        self.last_error = ""
        if self.client.busy and self.controller.phase is not Phase.IDLE:
            return  # "generating…" stays while the running world works
        image = self.start_panel.image
        h, w = image.shape[:2]
        running = " (the current world runs until then)" if self.started else ""
        self.set_state(f"{self.start_panel.image_name} ({w} x {h}): press Start{running}")

    def _on_image_dropped(self, path: str) -> None:
        self.start_panel.demo_box.setCurrentIndex(0)
        self.start_panel.set_image(path)

    def _ready_for_drive(self) -> bool:
        """The drive controller may ask for a chunk: the controller can step, drive mode, and no more frames still
        waiting to be shown than play while one is generated (:func:`~app.drive.display_needs_chunk`: a
        fast model is held to real time, and the poses are read as late as possible)."""
        fed = display_needs_chunk(len(self.client.display), 16.0, self.chunk_seconds, self.drive.frames_per_chunk)
        return self.controller.can_step and self.mode == DRIVE_MODE and fed

    def step_once(self) -> None:
        """Generate one chunk: from the keys (drive mode) or along the path (path mode)."""
        try:
            self.controller.check_step()
            if self.mode == PATH_MODE:
                self.controller.step_path(self.path_editor.trajectory)
            else:
                self.controller.step(self.drive.take_chunk())
        except EngineBusy:
            return  # the greyed menu entry says why
        except SanaWMInputError as exc:
            self.show_error(str(exc))

    def generate_path(self) -> None:
        """A new take along the whole path: back to the start image, then one chunk after another (Esc stops)."""
        if self._attempt(self.controller.generate_path, self.path_editor.trajectory):
            self.set_mode(PATH_MODE)

    def set_driving(self, on: bool) -> None:
        """Generate ▸ Drive: held keys generate chunks by themselves (on) or only Step one chunk does (off)."""
        self.drive.driving = bool(on)
        self.act_drive.setChecked(bool(on))
        if not self.client.busy:
            self.set_state("driving on: held keys generate chunks" if on else
                           "driving off: Step one chunk (Ctrl+Right) generates the next chunk")  # fmt: skip

    def cancel(self) -> None:
        self.controller.cancel()

    def rewind_to(self, chunk_index: int) -> None:
        """Keep chunks ``0..chunk_index`` (-1: back to the start image); stepping on makes a new branch."""
        self._attempt(self.controller.rewind, chunk_index)

    def rewind_one(self) -> None:
        if self.project is not None and self.project.cursor > 0:
            self.rewind_to(self.project.cursor - 2)

    def select_branch(self, branch_id: int) -> None:
        self._attempt(self.controller.switch, branch_id)

    def discard_branch(self, branch_id: int) -> None:
        if self.project is not None and self._attempt(self.project.discard, branch_id):
            self.timeline.refresh()
            self.player.refresh()

    def refine(self, a: int, b: int) -> None:
        """Refine chunks ``[a, b)`` of the current branch with the stage-2 refiner (the worker says why not)."""
        self._attempt(self.controller.refine, a, b)

    # ----- modes, key map, path edits -----------------------------------------------------------------------------
    def use_suggested_path(self, action: str, version: str) -> None:
        """The start panel's "Use suggested path": path mode, with the demo's action as an editable path (undoable)."""
        self.set_mode(PATH_MODE)
        self.path_editor.use_action(action, version)

    def set_mode(self, mode: int) -> None:
        self.stack.setCurrentIndex(mode)
        self._update_pip()
        (self.act_path_mode if mode == PATH_MODE else self.act_drive_mode).setChecked(True)
        self.drive.clear_held()
        if mode == DRIVE_MODE:
            self.viewport.setFocus()
        if self.client.busy:  # "generating…" stays while a chunk is under way
            return
        self.sync_drive()  # forget keys recorded in the other mode; drive on from the live chunk
        if not self.started:
            self.set_state(("path" if mode == PATH_MODE else "drive") + " mode: open an image or pick a demo, "
                           "then Start")  # fmt: skip
        else:
            self.set_state("path mode: edit the path, then Generate along path (or step one chunk)"
                           if mode == PATH_MODE else "drive mode: hold W to drive")  # fmt: skip

    def apply_keymap(self, keymap) -> None:
        self.drive.set_keymap(keymap)
        self.app_settings.set_keymap(keymap)
        if self.project is not None:
            self.project.set_keymap(keymap)  # stored whole in the session file, autosaved
            self._update_actions()
        self.set_state(f"key map: {keymap.name} ({keymap.version} mapping); Help ▸ Keys lists it")

    def _on_path_changed(self) -> None:
        """A path edit (or its undo) is a change of the document: recorded on the project, so it is autosaved and
        counts as unsaved."""
        if self._quiet_path or self.project is None:
            return
        if self.project.camera_path is not None and self.project.camera_path.same_as(self.path_editor.path):
            return  # a selection or a re-pin that changed nothing
        self.project.set_camera_path(self.path_editor.path)
        self._update_actions()

    # ----- session files (see app.sessions) --------------------------------------------------------------
    def offer_recovery(self, ask=None) -> bool:
        """After a crash: offer to reopen the newest autosave. ``ask(recovery) -> "recover" | "discard" | "later"``
        (default: a message box). True when a session was recovered."""
        return sessions.offer_recovery(self, find_recovery(), ask)

    def ask_save_changes(self) -> str:
        """``"save"``, ``"discard"`` or ``"cancel"`` (a message box; scripted runs and tests replace this)."""
        return sessions.ask_save_changes(self)

    def open_session(self, path: str | Path | None = None, *, as_file: bool = True) -> bool:
        """Open a ``.swm`` file (a dialog when ``path`` is None) and continue it. ``as_file=False`` (a recovered
        autosave): the document is not tied to that file, so Save asks where to save."""
        return sessions.open_session(self, path, as_file)

    def save_session(self) -> bool:
        return sessions.save_session_as(self) if self.session_path is None else self._save(self.session_path)

    def _save(self, path: Path) -> bool:
        return sessions.save(self, path)

    # ----- scripted runs ------------------------------------------------------------------------------------
    def hold(self, dsl_keys: str) -> None:
        """Hold DSL keys as if pressed (scripted driving), whatever the key map."""
        self.drive.hold(dsl_keys)
