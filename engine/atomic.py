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
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import weakref
from collections.abc import Iterator
from pathlib import Path


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


class AtomicFile:
    """A temporary file next to ``target`` that becomes ``target`` on :meth:`commit` or vanishes on :meth:`discard`.

    Creating it creates the target's folder (with parents) and an empty temporary file, so an unwritable
    destination fails here, before any expensive work. ``suffix`` defaults to the target's own suffix so
    libraries that pick a format by extension (numpy, PIL, PyAV) behave as they would on the final name.
    Raises ``OSError`` (as the operating system reports it) when the folder cannot be created or written.
    """

    def __init__(self, target: str | os.PathLike, *, suffix: str | None = None) -> None:
        self.target = Path(target)
        self.target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(
            prefix=f".{self.target.stem}.",
            suffix=f".part{self.target.suffix if suffix is None else suffix}",
            dir=self.target.parent,
        )
        try:
            os.fchmod(fd, 0o666 & ~_umask())  # mkstemp makes 0600; give the final file the usual permissions
        finally:
            os.close(fd)
        self.tmp = Path(tmp_name)
        self._cleanup = weakref.finalize(self, _remove, tmp_name)

    @property
    def pending(self) -> bool:
        """True until :meth:`commit` or :meth:`discard` has run."""
        return self._cleanup.alive

    def commit(self) -> Path:
        """Rename the temporary file over ``target`` (atomic on one filesystem) and return ``target``."""
        if not self.pending:
            raise RuntimeError(f"{self.target}: the staged file was already committed or discarded")
        try:
            os.replace(self.tmp, self.target)
        except BaseException:
            self.discard()
            raise
        self._cleanup.detach()
        return self.target

    def discard(self) -> None:
        """Delete the temporary file; idempotent, never raises."""
        self._cleanup()


class AtomicDir:
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
        self.tmp = Path(tempfile.mkdtemp(prefix=f".{self.target.name}.", suffix=".part", dir=self.target.parent))
        os.chmod(self.tmp, 0o777 & ~_umask())  # mkdtemp makes 0700
        self._cleanup = weakref.finalize(self, _remove, str(self.tmp))

    def _check_target(self) -> None:
        if not self.overwrite and (self.target.exists() or self.target.is_symlink()):
            raise FileExistsError(f"{self.target}: already exists (pass overwrite to replace it)")

    @property
    def pending(self) -> bool:
        """True until :meth:`commit` or :meth:`discard` has run."""
        return self._cleanup.alive

    def commit(self) -> Path:
        """Move the finished folder to ``target`` and return ``target``."""
        if not self.pending:
            raise RuntimeError(f"{self.target}: the staged folder was already committed or discarded")
        old: str | None = None
        try:
            self._check_target()
            if self.target.exists() or self.target.is_symlink():
                old = tempfile.mkdtemp(prefix=f".{self.target.name}.", suffix=".old", dir=self.target.parent)
                os.replace(self.target, os.path.join(old, "previous"))
            os.rename(self.tmp, self.target)
        except BaseException:
            if old is not None and not self.target.exists():
                os.replace(os.path.join(old, "previous"), self.target)  # put the old one back
            self.discard()
            raise
        finally:
            if old is not None:
                _remove(old)
        self._cleanup.detach()
        return self.target

    def discard(self) -> None:
        """Delete the temporary folder and everything in it; idempotent, never raises."""
        self._cleanup()


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike, *, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path next to ``target``; on success it is renamed to ``target``, on error deleted.

    ``suffix`` defaults to the target's own suffix so libraries that pick a format by extension
    (numpy, PIL, PyAV) behave as they would on the final name.
    """
    staged = AtomicFile(target, suffix=suffix)
    try:
        yield staged.tmp
    except BaseException:
        staged.discard()
        raise
    staged.commit()


@contextlib.contextmanager
def atomic_dir(target: str | os.PathLike, *, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary folder next to ``target``; on success it becomes ``target``, on error it is deleted."""
    staged = AtomicDir(target, overwrite=overwrite)
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
