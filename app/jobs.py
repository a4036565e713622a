"""Long UI-started work (exports) on a background thread, with progress, cancel and a modal progress dialog.

The engine's long operations take ``progress(Progress)`` and ``cancel`` (anything with ``is_set()``), and clean up
after themselves on a cancel (:mod:`engine.export.progress`). A :class:`BackgroundJob` runs one such callable on a
Python thread and forwards its reports as Qt signals, which Qt queues to the UI thread; :func:`run_with_progress`
shows a :class:`QProgressDialog` for it and keeps the event loop running (the window repaints, the engine worker's
frames keep arriving) until the job ends.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QEventLoop, QObject, Qt, Signal, Slot
from PySide6.QtWidgets import QMessageBox, QProgressDialog, QWidget

from engine.errors import ExportCancelled, SanaWMInputError
from engine.export.progress import CancelFlag, Progress, ProgressCallback

log = logging.getLogger(__name__)

#: ``work(progress, cancel) -> result``: the callable a job runs.
Work = Callable[[ProgressCallback, CancelFlag], Any]


class BackgroundJob(QObject):
    """Runs ``work(progress, cancel)`` on its own thread; ends with exactly one of ``finished(result)``,
    ``failed(message)`` or ``cancelled()``. ``progress(stage, done, total)`` (total -1 = unknown) in between."""

    progress = Signal(str, int, int)
    finished = Signal(object)
    failed = Signal(str)
    cancelled = Signal()

    def __init__(self, work: Work, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.work = work
        self.cancel_flag = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="job", daemon=True)
        self._thread.start()

    def cancel(self) -> None:
        """Ask the work to stop at its next progress step (it removes its partial output)."""
        self.cancel_flag.set()

    def wait(self, timeout_s: float | None = None) -> None:
        if self._thread is not None:
            self._thread.join(timeout_s)

    def _report(self, report: Progress) -> None:
        self.progress.emit(report.stage, report.done, -1 if report.total is None else report.total)

    def _run(self) -> None:
        try:
            result = self.work(self._report, self.cancel_flag)
        except ExportCancelled:
            self.cancelled.emit()
        except SanaWMInputError as exc:  # the user's input or output location: show the message as it is
            self.failed.emit(str(exc))
        except Exception as exc:  # anything else still ends the job with a message, never a silent hang
            log.exception("background job failed")
            self.failed.emit(f"{type(exc).__name__}: {exc}")
        else:
            self.finished.emit(result)


STAGE_LABELS = {"encode": "Encoding video", "png": "Writing frames", "storyboard": "Drawing storyboard",
                "trajectory": "Writing camera path", "save": "Saving session"}  # fmt: skip


class _ProgressRelay(QObject):
    """Receives a job's signals on the UI thread (a QObject receiver makes Qt queue them across threads; a plain
    Python callable would run on the job's thread) and drives the dialog."""

    def __init__(self, dialog: QProgressDialog, loop: QEventLoop) -> None:
        super().__init__()
        self.dialog, self.loop = dialog, loop
        self.outcome: dict[str, Any] = {}

    @Slot(str, int, int)
    def on_progress(self, stage: str, done: int, total: int) -> None:
        self.dialog.setLabelText(f"{STAGE_LABELS.get(stage, stage.capitalize())}…")
        self.dialog.setMaximum(max(total, 0))
        self.dialog.setValue(min(done, total) if total > 0 else 0)

    @Slot(object)
    def on_finished(self, result: Any) -> None:
        self._end("result", result)

    @Slot(str)
    def on_failed(self, message: str) -> None:
        self._end("error", message)

    @Slot()
    def on_cancelled(self) -> None:
        self._end("cancelled", None)

    def _end(self, kind: str, value: Any) -> None:
        self.outcome[kind] = value
        self.loop.quit()


def run_with_progress(parent: QWidget | None, title: str, work: Work) -> Any:
    """Run ``work`` with a modal, cancellable progress dialog; return its result, or None when it was cancelled or
    failed (a failure is shown in a message box naming the problem)."""
    job = BackgroundJob(work)
    dialog = QProgressDialog(f"{title}…", "Cancel", 0, 0, parent)
    dialog.setWindowTitle(title)
    dialog.setWindowModality(Qt.WindowModality.WindowModal)
    dialog.setMinimumDuration(300)
    dialog.setAutoClose(False)
    dialog.setAutoReset(False)
    dialog.canceled.connect(job.cancel)
    loop = QEventLoop()
    relay = _ProgressRelay(dialog, loop)
    job.progress.connect(relay.on_progress)
    job.finished.connect(relay.on_finished)
    job.failed.connect(relay.on_failed)
    job.cancelled.connect(relay.on_cancelled)
    global last_job
    last_job = job  # lets tests (and a main window's shutdown) reach the running job
    job.start()
    loop.exec()  # the job's end is queued to this thread, so it cannot be missed before exec() runs
    job.wait()
    dialog.close()
    dialog.deleteLater()
    if "error" in relay.outcome:
        QMessageBox.warning(parent, title, relay.outcome["error"])
        return None
    return relay.outcome.get("result")


#: The job most recently started by :func:`run_with_progress`.
last_job: BackgroundJob | None = None
