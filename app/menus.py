"""The main window's chrome: its actions (desktop shortcuts), menus and status bar, and the rule that a disabled
entry says why (:func:`refresh`).

Why apart from :mod:`app.main_window`: the window is the wiring of the parts; what the menus hold and when each entry
is available is a table of its own. :func:`build` puts the actions on the window (``window.act_*``, the
``window.*_menu`` menus, the ``window.status_*`` labels), so scripts and tests reach them where they always were.
Every ``window`` here is the :class:`~app.main_window.MainWindow` (typed as its Qt base: this module must not import
the window that imports it).
"""

from __future__ import annotations

from PySide6.QtGui import QAction, QActionGroup, QKeySequence
from PySide6.QtWidgets import QLabel, QMainWindow, QMessageBox

from app import export_dialog, score_take, sessions
from app.keymap import KeyMap, describe_keys
from app.keymap_dialog import KeyMapDialog

#: The centre stack's pages: the viewport (drive mode) and the path editor (path mode).
DRIVE_MODE, PATH_MODE = 0, 1


def _action(window: QMainWindow, text: str, slot, shortcut=None, *, checkable: bool = False) -> QAction:
    action = QAction(text, window)
    if shortcut is not None:
        action.setShortcut(QKeySequence(shortcut))
    action.setCheckable(checkable)
    action.triggered.connect(slot)
    return action


def build(window: QMainWindow) -> None:
    """Create the window's actions, menus and status bar labels."""
    _make_actions(window)
    _make_menus(window)
    w = window
    w.status_model, w.status_state = QLabel("no model"), QLabel("idle")
    w.status_chunk, w.status_fps = QLabel("chunk -"), QLabel("- fps")
    w.statusBar().addWidget(w.status_state, 1)
    for label in (w.status_chunk, w.status_fps, w.status_model):
        w.statusBar().addPermanentWidget(label)


def _make_actions(w: QMainWindow) -> None:
    SK = QKeySequence.StandardKey
    w.act_new = _action(w, "&New", w.new_world, SK.New)
    w.act_open_image = _action(w, "&Open image…", w.start_panel.choose_image, SK.Open)
    w.act_open_session = _action(w, "Open &session…", lambda: w.open_session(), "Ctrl+Shift+O")
    w.act_save = _action(w, "&Save session", w.save_session, "Ctrl+S")
    w.act_save_as = _action(w, "Save session &as…", lambda: sessions.save_session_as(w), "Ctrl+Shift+S")
    w.act_export_video = _action(w, "&Video (MP4)…", lambda: sessions.export(w, export_dialog.export_video), "Ctrl+E")
    w.act_export_trajectory = _action(w, "&Trajectory…", lambda: sessions.export(w, export_dialog.export_trajectory))
    w.act_export_storyboard = _action(w, "&Storyboard…", lambda: sessions.export(w, export_dialog.export_storyboard))
    w.act_quit = _action(w, "&Quit", w.close, "Ctrl+Q")
    # the undo stack's indexChanged refreshes the actions (see MainWindow._connect)
    w.act_undo = _action(w, "&Undo", w.path_editor.undo_stack.undo, SK.Undo)
    w.act_redo = _action(w, "&Redo", w.path_editor.undo_stack.redo, SK.Redo)
    w.act_keymap = _action(w, "&Key map…", lambda: edit_keymap(w))
    w.act_drive_mode = _action(w, "&Drive mode", lambda: w.set_mode(DRIVE_MODE), "Ctrl+1", checkable=True)
    w.act_path_mode = _action(w, "&Path mode", lambda: w.set_mode(PATH_MODE), "Ctrl+2", checkable=True)
    w.mode_group = QActionGroup(w)
    for act in (w.act_drive_mode, w.act_path_mode):
        w.mode_group.addAction(act)
    w.act_drive_mode.setChecked(True)
    w.act_play = _action(w, "&Play / pause take", w.player.toggle, "Space")
    w.act_cache_view = _action(w, "World cache &view (debug)", w.set_cache_view, checkable=True)
    w.act_start = _action(w, "&Start", w.start_panel.request_start, "Ctrl+Return")
    w.act_step = _action(w, "Step &one chunk", w.step_once, "Ctrl+Right")
    w.act_drive = _action(w, "&Drive", w.set_driving, "Ctrl+D", checkable=True)
    w.act_drive.setChecked(True)
    w.act_cancel = _action(w, "&Cancel", w.cancel, "Esc")
    w.act_rewind = _action(w, "&Rewind one chunk", w.rewind_one, "Ctrl+Left")
    w.act_score = _action(w, "Score &this take…", lambda: score_take.score_take(w))
    w.act_about = _action(w, "&About", lambda: about(w))
    w.act_keys = _action(w, "&Keys", lambda: keys_help(w), "F1")


def _make_menus(w: QMainWindow) -> None:
    bar = w.menuBar()
    w.file_menu = bar.addMenu("&File")
    for act in (w.act_new, w.act_open_image, w.act_open_session, None, w.act_save, w.act_save_as):
        w.file_menu.addAction(act) if act else w.file_menu.addSeparator()
    w.export_menu = w.file_menu.addMenu("&Export")
    for act in (w.act_export_video, w.act_export_trajectory, w.act_export_storyboard):
        w.export_menu.addAction(act)
    w.file_menu.addSeparator()
    w.file_menu.addAction(w.act_quit)
    w.start_dock.toggleViewAction().setText("&Start panel")  # not "Start", which Generate ▸ Start is
    w.timeline_dock.toggleViewAction().setText("&Timeline panel")
    w.edit_menu = bar.addMenu("&Edit")
    for act in (w.act_undo, w.act_redo, None, w.act_keymap):
        w.edit_menu.addAction(act) if act else w.edit_menu.addSeparator()
    w.view_menu = bar.addMenu("&View")
    for act in (w.act_drive_mode, w.act_path_mode, None, w.act_play, None, w.act_cache_view, None,
                w.start_dock.toggleViewAction(),
                w.timeline_dock.toggleViewAction()):  # fmt: skip
        w.view_menu.addAction(act) if act else w.view_menu.addSeparator()
    w.generate_menu = bar.addMenu("&Generate")
    for act in (w.act_start, w.act_step, w.act_drive, w.act_cancel, w.act_rewind, None, w.act_score):
        w.generate_menu.addAction(act) if act else w.generate_menu.addSeparator()
    w.help_menu = bar.addMenu("&Help")
    w.help_menu.addAction(w.act_keys)
    w.help_menu.addAction(w.act_about)
    for menu in menus(w):
        menu.setToolTipsVisible(True)  # a disabled entry's tooltip says why


def menus(window: QMainWindow) -> tuple:
    w = window
    return (w.file_menu, w.export_menu, w.edit_menu, w.view_menu, w.generate_menu, w.help_menu)


def refresh(window: QMainWindow) -> None:
    """The title (file name, modified marker) and every action's availability, with the reason when unavailable."""
    w, project = window, window.project
    name = w.session_path.name if w.session_path is not None else "untitled"
    w.setWindowTitle(f"{name}[*] — SANA-WM Explorer" if project is not None else "SANA-WM Explorer")
    w.setWindowModified(bool(project is not None and project.dirty))
    busy = w.client.busy
    has_chunks = project is not None and project.cursor > 0
    not_started = "" if w.started else "Start a world first: open an image or pick a demo, then Start"
    generating = "Wait for the chunk being generated (Esc cancels it)" if busy else ""
    available(w.act_step, not_started or generating)
    available(w.act_rewind, not_started or ("" if has_chunks else "No chunk to rewind yet") or generating)
    available(w.act_cancel, "" if busy else "Nothing is being generated")
    empty = "" if project is not None and project.current.chunks else "yet: generate a chunk first"
    for act in (w.act_save, w.act_save_as):
        available(act, empty and f"Nothing to save {empty}")
    for act in (w.act_export_video, w.act_export_trajectory, w.act_export_storyboard):
        available(act, empty and f"Nothing to export {empty}")
    available(w.act_play, empty and f"Nothing to play {empty}")
    available(w.act_score, (empty and f"Nothing to score {empty}") or generating)
    stack = w.path_editor.undo_stack
    available(w.act_undo, "" if stack.canUndo() else "Nothing to undo (path edits are undoable)",
              f"Undo {stack.undoText()}")  # fmt: skip
    available(w.act_redo, "" if stack.canRedo() else "Nothing to redo", f"Redo {stack.redoText()}")
    info = w.model_info
    w.timeline.set_refine_available(bool(info and info.has_refiner),
                                    "load a model first" if info is None else info.refiner_reason)  # fmt: skip


def available(action: QAction, reason: str, tip: str = "") -> None:
    """Enable ``action`` when there is no ``reason`` against it; otherwise disable it and show the reason as its
    tooltip (menus show tooltips), so a greyed entry says why."""
    action.setEnabled(not reason)
    action.setToolTip(reason or tip or action.text().replace("&", "").rstrip("…"))


def shortcut_actions(window: QMainWindow) -> list[QAction]:
    """Every menu action with a shortcut, menu by menu."""
    return [a for m in menus(window) for a in m.actions() if not a.isSeparator() and not a.shortcut().isEmpty()]


def edit_keymap(window: QMainWindow) -> None:
    """Edit ▸ Key map…: the dialog; an accepted map drives from now on and is remembered."""
    dialog = KeyMapDialog(window.drive.keymap, window)
    if dialog.exec():
        window.apply_keymap(dialog.keymap())


def about(window: QMainWindow) -> None:
    """Help ▸ About."""
    model = window.model_info.display_name if window.model_info else "no model loaded yet"
    QMessageBox.about(window, "About SANA-WM Explorer",
                      "<h3>SANA-WM Explorer</h3><p>Drive a camera through a world generated live from one image by a "
                      f"camera-controlled video world model.</p><p>Model: {model}</p><p>Apache-2.0</p>")  # fmt: skip


def keys_help(window: QMainWindow) -> None:
    """Help ▸ Keys: the key map in use (as edited in Edit ▸ Key map…) and the window's shortcuts."""
    QMessageBox.information(window, "Keys", keys_help_html(window.drive.keymap, shortcut_actions(window)))


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
