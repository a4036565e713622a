"""Progress reports and cancellation for long exports.

The CLI shows a progress bar and the Qt app a progress dialog with a Cancel button; both drive the same
engine functions through two optional arguments that every long export takes:

* ``progress`` — a callable receiving a :class:`Progress` after each unit of work (a frame encoded, a PNG
  written, a storyboard page drawn). It runs on the exporting thread, so a GUI must forward it with a
  queued signal. It may raise :class:`~engine.errors.ExportCancelled` (or anything else) to stop.
* ``cancel`` — any object with ``is_set() -> bool`` (a ``threading.Event`` fits), polled before each unit
  of work; when set, the export raises :class:`~engine.errors.ExportCancelled`.

Either way the export deletes its temporary files before the exception leaves it: no partial output.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from engine.errors import ExportCancelled


@dataclass(frozen=True)
class Progress:
    """One progress report: ``done`` of ``total`` units of ``stage`` (``total`` is None when unknown)."""

    stage: str
    done: int
    total: int | None = None

    @property
    def fraction(self) -> float | None:
        """``done / total`` in [0, 1], or None when the total is unknown."""
        if not self.total:
            return None
        return min(1.0, self.done / self.total)


ProgressCallback = Callable[[Progress], None]


class CancelFlag(Protocol):
    """Anything that can say whether cancellation was requested (``threading.Event`` is one)."""

    def is_set(self) -> bool: ...


def check_cancel(cancel: CancelFlag | None, what: str) -> None:
    """Raise :class:`ExportCancelled` naming ``what`` when ``cancel`` is set."""
    if cancel is not None and cancel.is_set():
        raise ExportCancelled(f"{what}: cancelled")


def report(progress: ProgressCallback | None, stage: str, done: int, total: int | None) -> None:
    """Call ``progress`` with a :class:`Progress` if a callback was given."""
    if progress is not None:
        progress(Progress(stage, done, total))
