"""The main window's session-file commands: Open / Save / Save as with their dialogs, the unsaved-changes and
crash-recovery questions, exports of the current take, and keeping the document's camera path and key map in step
with what the window shows (so a save or an autosave stores them).

Why apart from :mod:`app.main_window`: these are dialogs and document bookkeeping around :mod:`app.autosave`; the
window only wires them to its actions. Each function takes the :class:`~app.main_window.MainWindow` (typed as its Qt
base: this module must not import the window that imports it) and returns what the window's method of the same name
returns.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from PySide6.QtWidgets import QFileDialog, QMainWindow, QMessageBox

from app.autosave import Autosaver, load_project, save_project
from app.keymap import preset
from engine.camera.keyframes import default_path
from engine.errors import SanaWMInputError
from engine.generation.project import Project

log = logging.getLogger(__name__)

SESSION_FILTER = "SANA-WM sessions (*.swm);;All files (*)"


def make_autosaver(window: QMainWindow, autosaver_class: type[Autosaver]) -> Autosaver | None:
    """The background autosaver (see :mod:`app.autosave`), or None when it cannot run here (no writable folder, or
    its lock is taken): the window then works without autosave and says so in the status bar."""
    try:
        autosaver = autosaver_class(parent=window)
    except (SanaWMInputError, OSError) as exc:
        log.warning("autosave is off: %s", exc)
        window.set_state(f"autosave is off: {exc}")
        return None
    autosaver.failed.connect(lambda message: window.set_state(f"autosave failed: {message}"))
    return autosaver


def offer_recovery(window: QMainWindow, found: list, ask=None) -> bool:
    """After a crash: offer to reopen the newest of the autosaves ``found`` (newest first). ``ask(recovery) ->
    "recover" | "discard" | "later"`` (default: :func:`ask_recovery`). True when a session was recovered."""
    if not found:
        return False
    newest = found[0]
    answer = (ask or (lambda recovery: ask_recovery(window, recovery)))(newest)
    if answer == "discard":
        newest.discard()
    elif answer == "recover" and window.open_session(newest.path, as_file=False):
        newest.discard()
        return True
    return False


def confirm_discard(window: QMainWindow) -> bool:
    """Before the document is replaced or the window closes: True when there is nothing unsaved, or the user saved
    it or chose to discard it; False to keep it (Cancel, or a save that did not happen)."""
    project = window.project
    if project is None or not project.dirty or not project.current.chunks:
        return True
    answer = window.ask_save_changes()
    if answer == "save":
        return window.save_session()
    return answer == "discard"


def ask_save_changes(window: QMainWindow) -> str:
    """``"save"``, ``"discard"`` or ``"cancel"`` from a message box."""
    buttons = QMessageBox.StandardButton
    box = QMessageBox(QMessageBox.Icon.Question, "SANA-WM Explorer",
                      "The current session has unsaved changes. Save them first?",
                      buttons.Save | buttons.Discard | buttons.Cancel, window)  # fmt: skip
    box.setDefaultButton(buttons.Save)
    return {buttons.Save: "save", buttons.Discard: "discard"}.get(buttons(box.exec()), "cancel")


def ask_recovery(window: QMainWindow, recovery) -> str:
    """``"recover"``, ``"discard"`` or ``"later"`` for an autosave a crashed explorer left."""
    when = time.strftime("%Y-%m-%d %H:%M", time.localtime(recovery.saved_at))
    box = QMessageBox(QMessageBox.Icon.Question, "Recover session",
                      f"The explorer did not close cleanly. An autosave from {when} holds {recovery.chunks} "
                      "chunk(s). Recover it?", parent=window)  # fmt: skip
    recover = box.addButton("Recover", QMessageBox.ButtonRole.AcceptRole)
    discard = box.addButton("Discard", QMessageBox.ButtonRole.DestructiveRole)
    box.addButton("Later", QMessageBox.ButtonRole.RejectRole)
    box.exec()
    return "recover" if box.clickedButton() is recover else "discard" if box.clickedButton() is discard else "later"


def open_session(window: QMainWindow, path: str | Path | None, as_file: bool) -> bool:
    """Open a ``.swm`` file (a dialog when ``path`` is None) and continue it; False when nothing was opened."""
    if not confirm_discard(window):
        return False
    if path is None:
        folder = window.app_settings.last_folder("session")
        path, _ = QFileDialog.getOpenFileName(window, "Open session", folder, SESSION_FILTER)
        if not path:
            return False
    try:
        project = load_project(Path(path))
    except SanaWMInputError as exc:
        window.show_error(str(exc))
        return False
    if as_file:
        window.app_settings.set_last_folder("session", path)
    window.set_state("opening the session…")
    window.controller.resume(project, Path(path) if as_file else None)
    return True


def save_session_as(window: QMainWindow) -> bool:
    folder = window.app_settings.last_folder("session")
    path, _ = QFileDialog.getSaveFileName(window, "Save session", folder, SESSION_FILTER)
    if not path:
        return False
    return save(window, Path(path if path.endswith(".swm") else path + ".swm"))


def save(window: QMainWindow, path: Path) -> bool:
    """Write the document to ``path`` (atomic); the document is then tied to that file and unmodified."""
    project = window.project
    if project is None:
        window.show_error("save session: nothing to save yet; start a world first")
        return False
    fill_path_and_keys(window)
    try:
        save_project(project, path)
    except (SanaWMInputError, OSError) as exc:
        window.show_error(f"save session: {exc}")
        return False
    window.controller.session_path = path
    project.dirty = False
    window.app_settings.set_last_folder("session", path)
    window.set_state(f"saved {path.name}")
    window._update_actions()  # the title names the file and drops the modified marker
    return True


def export(window: QMainWindow, exporter) -> None:
    """Run one of :mod:`app.export_dialog`'s exporters (file dialog, progress, atomic write) on the current take."""
    if window.project is None or not window.project.current.chunks:
        window.show_error("export: nothing to export yet; generate a few chunks first")
        return
    written = exporter(window, window.project, folder=export_folder(window))
    if written is not None:
        window.app_settings.set_last_folder("export", written)
        window.set_state(f"exported {Path(written).name}")


def export_folder(window: QMainWindow) -> str:
    """Where an export dialog opens: the folder last exported to, else the session file's folder, else the folder
    the start image was picked from (never the process's working folder)."""
    stored = str(window.app_settings.qsettings.value("folders/export", "") or "")
    if stored and Path(stored).is_dir():
        return stored
    if window.session_path is not None and Path(window.session_path).parent.is_dir():
        return str(Path(window.session_path).parent)
    return window.app_settings.last_folder("image")


def restore_path_and_keys(window: QMainWindow, project: Project, loaded: bool) -> None:
    """A session file's authored path and key map go back into the path editor and driving (a file without them:
    the default path, the preset its start settings name); a new world records the window's own. Either way the
    project then holds what the window shows, so saving and autosaving store it."""
    drive, editor = window.drive, window.path_editor
    if loaded:
        editor.load_path(project.camera_path or default_path(editor.start_vfov_deg, editor.path.frame_size))
        keymap = project.keymap
        if keymap is None:
            try:
                keymap = preset(project.start.keymap)
            except SanaWMInputError:  # an older file naming a custom map it did not store: keep the current one
                log.info("session key map %r is not a preset; keeping %r", project.start.keymap, drive.keymap.name)
                keymap = drive.keymap
        drive.set_keymap(keymap)  # the session's keys drive it; the user's saved preference is left alone
    fill_path_and_keys(window)


def fill_path_and_keys(window: QMainWindow) -> None:
    """Put the editor's path and the driving key map on the project (before a save) without marking it changed:
    they are what the project already stands for."""
    project, path = window.project, window.path_editor.path
    if project is None:
        return
    if project.camera_path is None or not project.camera_path.same_as(path):
        project.camera_path = path.copy()
    project.keymap = window.drive.keymap
    project.start.keymap = window.drive.keymap.name
