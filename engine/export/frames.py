"""Frame validation and :class:`FrameSink`, the shared life cycle of every progressive frame writer.

Frames everywhere in the engine are numpy ``uint8`` RGB arrays: one frame ``(H, W, 3)`` or a chunk
``(n, H, W, 3)``. A sink (a video file, a PNG sequence) is fed chunks as the model produces them and
either *closes* (the output appears under its final name, complete) or *aborts* (nothing appears and its
temporary files are gone). There is no third outcome: any exception inside ``write`` or ``close``, a cancel
request, leaving a ``with`` block by an exception, or dropping the sink unclosed all abort it.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from pathlib import Path
from types import TracebackType

import numpy as np

from engine.errors import ExportError
from engine.export.progress import CancelFlag, ProgressCallback, check_cancel, report

log = logging.getLogger(__name__)


def as_frames(frames: object, *, name: str = "frames") -> np.ndarray:
    """Check ``frames`` and return them as a C-contiguous ``(n, H, W, 3)`` uint8 array (no copy when already so).

    Accepts one frame ``(H, W, 3)`` or a chunk ``(n, H, W, 3)``; ``n`` may be 0. Raises :class:`ExportError`
    naming ``name``, what was expected and what was found, for any other dtype, rank or channel count.
    """
    if not isinstance(frames, np.ndarray):
        if hasattr(frames, "__array__") and not isinstance(frames, (str, bytes)):
            frames = np.asarray(frames)
        else:
            raise ExportError(f"{name}: expected a numpy uint8 array (H, W, 3) or (n, H, W, 3), found {type(frames).__name__}")
    if frames.dtype != np.uint8:
        raise ExportError(
            f"{name}: expected dtype uint8 (RGB 0-255), found {frames.dtype}; "
            "convert float frames in [0, 1] with (x * 255).round().clip(0, 255).astype(np.uint8)"
        )
    if frames.ndim == 3:
        frames = frames[None]
    if frames.ndim != 4 or frames.shape[-1] != 3:
        raise ExportError(f"{name}: expected shape (H, W, 3) or (n, H, W, 3) with 3 RGB channels, found {frames.shape}")
    if frames.shape[1] == 0 or frames.shape[2] == 0:
        raise ExportError(f"{name}: expected frames at least 1x1 pixels, found {frames.shape[2]}x{frames.shape[1]}")
    return np.ascontiguousarray(frames)


def output_error(path: Path, exc: OSError) -> ExportError:
    """An :class:`ExportError` for an output that cannot be created, naming the path and the OS reason."""
    reason = exc.strerror or type(exc).__name__
    return ExportError(f"{path}: cannot write here ({reason}); expected a writable folder")


class FrameSink:
    """Base class of progressive frame writers: validation, size consistency, progress, cancel, abort-on-error.

    Subclasses implement :meth:`_start` (first frame seen: open the output), :meth:`_write_frame`,
    :meth:`_finish` (complete the temporary output), :meth:`_commit` (rename it to the final name) and
    :meth:`_abort` (release and delete temporaries, never raise). States: open -> finished -> closed, or
    aborted from open or finished. The frame size is fixed by the first frame; ``total_frames`` (optional) is only used for
    progress reports. Not thread-safe: one thread feeds a sink.
    """

    #: Stage name used in progress reports.
    stage = "frames"

    def __init__(
        self,
        path: str | os.PathLike,
        *,
        total_frames: int | None = None,
        progress: ProgressCallback | None = None,
        cancel: CancelFlag | None = None,
    ) -> None:
        self.path = Path(path)
        self.total_frames = total_frames
        self.progress = progress
        self.cancel_flag = cancel
        self.frames_written = 0
        self.frame_size: tuple[int, int] | None = None  # (width, height) of the input frames
        self._state = "open"

    # -- public life cycle -------------------------------------------------------------------------

    @property
    def closed(self) -> bool:
        """True once the sink has been closed (committed) or aborted."""
        return self._state in ("closed", "aborted")

    @property
    def aborted(self) -> bool:
        """True when the sink was aborted (nothing was written under the final name)."""
        return self._state == "aborted"

    def write(self, frames: np.ndarray) -> None:
        """Append one frame ``(H, W, 3)`` or a chunk ``(n, H, W, 3)`` of uint8 RGB.

        Every frame must have the size of the first. Any error (bad frames, a full disk, a cancel request)
        aborts the sink before it propagates.
        """
        self._require_state("open", "write")
        try:
            chunk = as_frames(frames, name=f"{self.path.name}: frames")
            size = (int(chunk.shape[2]), int(chunk.shape[1]))
            if self.frame_size is None and len(chunk):
                self.frame_size = size
                self._start(size)
            elif len(chunk) and size != self.frame_size:
                raise ExportError(
                    f"{self.path.name}: frame {self.frames_written} is {size[0]}x{size[1]}, expected "
                    f"{self.frame_size[0]}x{self.frame_size[1]} like the frames before it"
                )
            for frame in chunk:
                check_cancel(self.cancel_flag, str(self.path))
                self._write_frame(frame)
                self.frames_written += 1
                report(self.progress, self.stage, self.frames_written, self.total_frames)
        except BaseException:
            self.cancel()
            raise

    def close(self) -> Path:
        """Finish the output and move it to its final name; return that path (:meth:`finish` + :meth:`commit`).

        Raises :class:`ExportError` (after aborting) when no frame was written: an empty video or sequence
        is never produced.
        """
        self.finish()
        return self.commit()

    def finish(self) -> None:
        """First half of :meth:`close`: complete the output under its temporary name (flush the encoder).

        For exports of several files that should appear together: finish every part, then commit them.
        """
        self._require_state("open", "finish")
        try:
            if self.frames_written == 0:
                raise ExportError(f"{self.path}: expected at least one frame before closing, found none")
            check_cancel(self.cancel_flag, str(self.path))
            self._finish()
        except BaseException:
            self.cancel()
            raise
        self._state = "finished"

    def commit(self) -> Path:
        """Second half of :meth:`close`: rename the finished output to its final name; return that path."""
        self._require_state("finished", "commit")
        try:
            self._commit()
        except BaseException:
            self.cancel()
            raise
        self._state = "closed"
        log.debug("wrote %s (%d frames)", self.path, self.frames_written)
        return self.path

    def cancel(self) -> None:
        """Abort: release the output and delete every temporary file. Idempotent; a no-op after close."""
        if self._state not in ("open", "finished"):
            return
        self._state = "aborted"
        self._abort()
        log.debug("aborted %s after %d frames", self.path, self.frames_written)

    def __enter__(self) -> "FrameSink":
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc_type is not None:
            self.cancel()
        elif self._state == "open":
            self.close()
        elif self._state == "finished":
            self.commit()

    # -- subclass hooks ----------------------------------------------------------------------------

    def _start(self, size: tuple[int, int]) -> None:
        """Called once with ``(width, height)`` of the first frame, before it is written."""

    def _write_frame(self, frame: np.ndarray) -> None:  # (H, W, 3) uint8
        raise NotImplementedError

    def _finish(self) -> None:
        """Complete the output under its temporary name."""

    def _commit(self) -> None:
        raise NotImplementedError

    def _abort(self) -> None:
        raise NotImplementedError

    def _require_state(self, state: str, what: str) -> None:
        if self._state != state:
            raise RuntimeError(f"{self.path}: cannot {what}, the writer is {self._state}")


def write_all(sink: FrameSink, frames: np.ndarray | Iterable[np.ndarray]) -> Path:
    """Feed ``frames`` (an ``(n, H, W, 3)`` array, or an iterable of frames or chunks) to ``sink`` and close it."""
    with sink:
        if isinstance(frames, np.ndarray):
            sink.write(frames)
        else:
            for chunk in frames:
                sink.write(chunk)
        return sink.close()
