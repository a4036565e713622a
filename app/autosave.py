"""Autosave and crash recovery of the explorer's session, and opening a ``.swm`` file with the app's key map.

The ``.swm`` format itself is engine code (:mod:`engine.generation.session_file`: save, load, resume, with no Qt);
this module adds what needs Qt:

* :class:`Autosaver` writes ``autosave-<id>.swm`` every ``interval_s`` seconds while the project has changed, on a
  background thread, holding ``autosave-<id>.lock`` (a :class:`QLockFile`) while the app runs; a clean close removes
  both.
* :func:`find_recovery` lists autosaves whose lock is free (their app is gone: a crash) so the app can offer them.
* :func:`load_project` is the engine's, plus the conversion of the stored key map (JSON with Qt key names) into an
  :class:`app.keymap.KeyMap`, so the window drives with the keys the session was saved with.
"""

from __future__ import annotations

import logging
import os
import re
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path

import torch
from PySide6.QtCore import QLockFile, QObject, QStandardPaths, QTimer, Signal

from app.keymap import KeyMap
from engine.errors import SanaWMInputError
from engine.generation import session_file
from engine.generation.project import Branch, ChunkEntry, Project
from engine.generation.session_file import SessionFileError, read_manifest, save_project

log = logging.getLogger(__name__)

__all__ = ["Autosaver", "RecoveryFile", "SessionFileError", "default_autosave_folder", "find_recovery", "load_project",
           "save_project"]  # fmt: skip


def load_project(path: str | os.PathLike, *, device: torch.device | str = "cpu") -> Project:
    """:func:`engine.generation.session_file.load_project`, with the stored key map read as an
    :class:`~app.keymap.KeyMap` (a :class:`SessionFileError` naming the file when its keys are not valid)."""
    project = session_file.load_project(path, device=device)
    if project.keymap is not None and not isinstance(project.keymap, KeyMap):
        try:
            project.keymap = KeyMap.from_json(project.keymap.to_json())
        except SanaWMInputError as exc:  # ConfigError: an unknown key name or DSL key, a bad version
            raise SessionFileError(f"{path}: manifest.json keymap is not a valid key map ({exc})") from None
    return project


_AUTOSAVE = re.compile(r"^autosave-([A-Za-z0-9_-]+)\.swm$")


def default_autosave_folder() -> Path:
    """``<AppDataLocation>/autosave`` (per user, per application name)."""
    base = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.AppDataLocation)
    return Path(base or Path.home() / ".sana-wm-explorer") / "autosave"


@dataclass(frozen=True)
class RecoveryFile:
    """An autosave left by an app that did not close cleanly."""

    path: Path
    saved_at: float  # modification time (seconds since the epoch)
    chunks: int  # chunk entries stored
    prompt: str

    def discard(self) -> None:
        """Delete the autosave and its lock (after recovering it, or when the user declines)."""
        for file in (self.path, self.path.with_suffix(".lock")):
            file.unlink(missing_ok=True)


def find_recovery(folder: str | os.PathLike | None = None) -> list[RecoveryFile]:
    """Autosaves in ``folder`` (default :func:`default_autosave_folder`) whose app is gone, newest first.

    An autosave belongs to a running app while that app holds its ``.lock`` (a :class:`QLockFile`, which notices
    locks of dead processes); unreadable autosaves are skipped with a warning.
    """
    folder = Path(folder) if folder is not None else default_autosave_folder()
    found = []
    for path in sorted(folder.glob("autosave-*.swm")) if folder.is_dir() else []:
        if not _AUTOSAVE.match(path.name):
            continue
        lock = QLockFile(str(path.with_suffix(".lock")))
        lock.setStaleLockTime(0)
        if not lock.tryLock(0):
            continue  # a running app owns it
        lock.unlock()
        try:
            manifest = read_manifest(path)
        except SessionFileError as exc:
            log.warning("skipping an unreadable autosave: %s", exc)
            continue
        found.append(RecoveryFile(path, path.stat().st_mtime, len(manifest["entries"]), manifest["start"].get("prompt", "")))
    return sorted(found, key=lambda r: r.saved_at, reverse=True)


class Autosaver(QObject):
    """Saves the current project to ``<folder>/autosave-<id>.swm`` every ``interval_s`` seconds when it changed.

    The file is written on a background thread from a frozen copy of the take structure (chunk records are
    immutable), so the UI never waits for it; one save runs at a time. :meth:`close` (a clean exit) waits for a
    running save and removes the autosave and its lock. Signals: ``saved(path)``, ``failed(message)``.
    """

    saved = Signal(str)
    failed = Signal(str)

    def __init__(
        self, folder: str | os.PathLike | None = None, *, interval_s: float = 60.0, parent: QObject | None = None
    ) -> None:
        super().__init__(parent)
        self.folder = Path(folder) if folder is not None else default_autosave_folder()
        self.folder.mkdir(parents=True, exist_ok=True)
        self.id = uuid.uuid4().hex[:12]
        self.path = self.folder / f"autosave-{self.id}.swm"
        self._lock = QLockFile(str(self.path.with_suffix(".lock")))
        if not self._lock.tryLock(0):
            raise SessionFileError(f"{self._lock.fileName()}: cannot take the autosave lock")
        self._project: Project | None = None
        self._saved_revision: int | None = None
        self._thread: threading.Thread | None = None
        self._timer = QTimer(self)
        self._timer.setInterval(int(interval_s * 1000))
        self._timer.timeout.connect(self.save_if_changed)
        self._timer.start()

    def set_project(self, project: Project | None) -> None:
        """Watch another project (a new or loaded session); its first change is saved on the next tick."""
        self._project = project
        self._saved_revision = None if project is None else project.revision

    @property
    def busy(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def save_if_changed(self) -> bool:
        """Start a background save when the project changed since the last one; True if one was started."""
        project = self._project
        if project is None or project.revision == self._saved_revision or self.busy:
            return False
        frozen, revision = _frozen_copy(project), project.revision
        self._thread = threading.Thread(target=self._write, args=(frozen, revision), name="autosave", daemon=True)
        self._thread.start()
        return True

    def wait(self, timeout_s: float | None = None) -> None:
        """Block until a running save has finished (tests, clean exit)."""
        if self._thread is not None:
            self._thread.join(timeout_s)

    def _write(self, project: Project, revision: int) -> None:
        try:
            save_project(project, self.path)
        except Exception as exc:  # report every failure to the UI; the next tick tries again
            log.warning("autosave failed: %s", exc)
            self.failed.emit(str(exc))
            return
        self._saved_revision = revision
        self.saved.emit(str(self.path))

    def close(self) -> None:
        """A clean close: stop saving, remove the autosave and release the lock."""
        self._timer.stop()
        self.wait()
        self.path.unlink(missing_ok=True)
        self._lock.unlock()
        self.path.with_suffix(".lock").unlink(missing_ok=True)


def _frozen_copy(project: Project) -> Project:
    """A copy whose takes and entries the UI thread can go on changing while it is written (records are shared:
    they are immutable)."""
    copies: dict[int, ChunkEntry] = {}
    branches = {}
    for bid, branch in project.branches.items():
        chunks = [copies.setdefault(id(e), ChunkEntry(e.record, e.refined_frames)) for e in branch.chunks]
        branches[bid] = Branch(branch.id, branch.name, chunks, branch.parent, branch.fork_chunk)
    frozen = Project.restored(project.start, branches, project.current_id, project.cursor, project.next_id)
    frozen.stream_settings = project.stream_settings
    frozen.camera_path = None if project.camera_path is None else project.camera_path.copy()
    frozen.keymap = project.keymap  # immutable
    return frozen
