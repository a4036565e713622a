"""Atomic file writes: write to a temporary file in the destination folder, then rename over the target.

A crash or a cancelled export therefore never leaves a half-written file under the final name, and the
temporary file is removed on any error.

Three forms share one implementation:

* :func:`atomic_path` — a context manager for writes that happen inside one ``with`` block;
* :class:`AtomicFile` — the same staging with an explicit lifetime (``commit()`` / ``discard()``), for writers
  that live across many calls, such as a video written chunk by chunk while frames are generated;
* :class:`AtomicDir` / :func:`atomic_dir` — a whole folder (an image sequence) staged and renamed in one step.

Temporary names start with ``.`` and contain ``.part``, so they are hidden and recognisable; the final file or
folder gets the permissions a plain ``open`` / ``mkdir`` would give (0666 / 0777 less the umask). A staged path
whose owner is garbage-collected without committing is deleted too; only a killed process leaves one behind.

Leftovers of a killed process: a temporary name carries the id of the process that made it
(``.<name>.<pid>-<random>.part<suffix>``), and every new staging in a folder first removes the temporaries there
whose process no longer runs (:func:`sweep_stale`), so a ``kill -9`` costs disk space only until the next write
to the same folder. Temporaries of a live process, this one included, are never touched; a temporary of the
older form without a process id is removed once it is an hour old.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import shutil
import time
import tempfile
import weakref
from collections.abc import Iterator
from pathlib import Path


log = logging.getLogger(__name__)

#: A staged name: ``.<name>.<pid>-<random>.part<suffix>`` (or ``.old`` for a folder moved aside); group ``pid`` is
#: absent in the older form ``.<name>.<random>.part<suffix>``.
_STAGED = re.compile(r"^\..+\.(?:(?P<pid>\d+)-)?[A-Za-z0-9_]+\.(?:part(?:\.[^.]*)?|old)$")
#: Age after which a staged name without a process id counts as abandoned (seconds).
LEGACY_STALE_AFTER_S = 3600.0


def _process_alive(pid: int) -> bool:
    """True when a process ``pid`` exists (it may belong to another user)."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, OSError):
        return True  # exists but not ours, or cannot tell: keep its files
    return True


def sweep_stale(folder: str | os.PathLike) -> list[Path]:
    """Remove the staged temporaries in ``folder`` left by processes that no longer run; returns what was removed.

    Never raises: a folder that cannot be listed, or a file another process removes first, is skipped."""
    removed: list[Path] = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    now = time.time()
    for entry in entries:
        match = _STAGED.match(entry.name)
        if match is None:
            continue
        pid = match.group("pid")
        try:
            stale = not _process_alive(int(pid)) if pid else now - entry.stat(follow_symlinks=False).st_mtime > LEGACY_STALE_AFTER_S
        except OSError:
            continue
        if stale:
            _remove(entry.path)
            removed.append(Path(entry.path))
    if removed:
        log.warning("removed %d temporary file(s) left in %s by a run that was killed: %s", len(removed), folder,
                    ", ".join(p.name for p in removed[:3]) + (" ..." if len(removed) > 3 else ""))  # fmt: skip
    return removed


def _prefix(name: str) -> str:
    """The start of a staged name for ``name``: hidden, and carrying this process's id (see :func:`sweep_stale`)."""
    return f".{name}.{os.getpid()}-"


def _umask() -> int:
    """The process umask (read without changing it where /proc allows)."""
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _remove(path: str) -> None:
    """Delete a file or a folder tree if it is still there (used for cleanup, never raises)."""
    with contextlib.suppress(FileNotFoundError, NotADirectoryError):
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path, ignore_errors=True)
        else:
            os.unlink(path)


class _Staged:
    """What staged files and folders share: a temporary path that is removed unless committed."""

    target: Path
    tmp: Path

    def _track(self, tmp: str) -> None:
        self.tmp = Path(tmp)
        self._cleanup = weakref.finalize(self, _remove, tmp)

    @property
    def pending(self) -> bool:
        """True until :meth:`commit` or :meth:`discard` has run."""
        return self._cleanup.alive

    def commit(self) -> Path:
        """Move the staged path to ``target`` and return ``target``; on failure the staged path is deleted."""
        if not self.pending:
            raise RuntimeError(f"{self.target}: the staged path was already committed or discarded")
        try:
            self._rename()
        except BaseException:
            self.discard()
            raise
        self._cleanup.detach()
        return self.target

    def discard(self) -> None:
        """Delete the staged path; idempotent, never raises."""
        self._cleanup()

    def _rename(self) -> None:
        raise NotImplementedError


class AtomicFile(_Staged):
    """A temporary file next to ``target`` that becomes ``target`` on :meth:`commit` or vanishes on :meth:`discard`.

    Creating it creates the target's folder (with parents) and an empty temporary file, so an unwritable
    destination fails here, before any expensive work. ``suffix`` defaults to the target's own suffix so
    libraries that pick a format by extension (numpy, PIL, PyAV) behave as they would on the final name.
    Raises ``OSError`` (as the operating system reports it) when the folder cannot be created or written.
    """

    def __init__(self, target: str | os.PathLike, *, suffix: str | None = None) -> None:
        self.target = Path(target)
        self.target.parent.mkdir(parents=True, exist_ok=True)
        sweep_stale(self.target.parent)
        fd, tmp_name = tempfile.mkstemp(
            prefix=_prefix(self.target.stem),
            suffix=f".part{self.target.suffix if suffix is None else suffix}",
            dir=self.target.parent,
        )
        try:
            os.fchmod(fd, 0o666 & ~_umask())  # mkstemp makes 0600; give the final file the usual permissions
        finally:
            os.close(fd)
        self._track(tmp_name)

    def _rename(self) -> None:
        os.replace(self.tmp, self.target)  # atomic on one filesystem


class AtomicDir(_Staged):
    """A temporary folder next to ``target`` that replaces ``target`` on :meth:`commit`, or vanishes on :meth:`discard`.

    ``overwrite=False`` (default) refuses an existing ``target`` (``FileExistsError``) both here and at
    commit; ``overwrite=True`` moves an existing ``target`` aside, renames the new folder in, then deletes
    the old one, so at every moment the target name holds either the old or the new complete folder.
    """

    def __init__(self, target: str | os.PathLike, *, overwrite: bool = False) -> None:
        self.target = Path(target)
        self.overwrite = overwrite
        self._check_target()
        self.target.parent.mkdir(parents=True, exist_ok=True)
        sweep_stale(self.target.parent)
        tmp = tempfile.mkdtemp(prefix=_prefix(self.target.name), suffix=".part", dir=self.target.parent)
        os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp makes 0700
        self._track(tmp)

    def _check_target(self) -> None:
        if not self.overwrite and (self.target.exists() or self.target.is_symlink()):
            raise FileExistsError(f"{self.target}: already exists (pass overwrite to replace it)")

    def _rename(self) -> None:
        self._check_target()
        if not (self.target.exists() or self.target.is_symlink()):
            os.rename(self.tmp, self.target)
            return
        old = tempfile.mkdtemp(prefix=_prefix(self.target.name), suffix=".old", dir=self.target.parent)
        try:
            os.replace(self.target, os.path.join(old, "previous"))
            try:
                os.rename(self.tmp, self.target)
            except BaseException:
                os.replace(os.path.join(old, "previous"), self.target)  # put the old one back
                raise
        finally:
            _remove(old)


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike, *, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path next to ``target``; on success it is renamed to ``target``, on error deleted.

    ``suffix`` defaults to the target's own suffix so libraries that pick a format by extension
    (numpy, PIL, PyAV) behave as they would on the final name.
    """
    yield from _staged_context(AtomicFile(target, suffix=suffix))


@contextlib.contextmanager
def atomic_dir(target: str | os.PathLike, *, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary folder next to ``target``; on success it becomes ``target``, on error it is deleted."""
    yield from _staged_context(AtomicDir(target, overwrite=overwrite))


def _staged_context(staged: _Staged) -> Iterator[Path]:
    """Body of the context managers: yield the staged path, commit on success, discard on any exception."""
    try:
        yield staged.tmp
    except BaseException:
        staged.discard()
        raise
    staged.commit()


def atomic_write_bytes(target: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``target`` atomically."""
    with atomic_path(target) as tmp:
        tmp.write_bytes(data)


def atomic_write_text(target: str | os.PathLike, text: str, encoding: str = "utf-8") -> None:
    """Write ``text`` to ``target`` atomically (newlines written as given)."""
    atomic_write_bytes(target, text.encode(encoding))
