"""MP4 export through PyAV: H.264 (libx264), yuv420p, ``+faststart``, written progressively and atomically.

The settings follow the official streaming writer (spec ltx2_vae_refiner §5: ``-c:v libx264 -preset medium
-crf 18 -pix_fmt yuv420p -movflags +faststart -r 16``), minus the ffmpeg subprocess: frames go to PyAV's
bundled FFmpeg as they arrive, so a long rollout never holds the whole video in memory.

Guarantees:

* **Atomic.** Frames are encoded into a hidden temporary file in the target folder
  (``.<stem>.<random>.part.mp4``); :meth:`VideoWriter.close` flushes the encoder, writes the index and
  renames it over the target. An error, a cancel request or leaving a ``with`` block by an exception
  deletes the temporary file; the target is never half-written (an existing target is left as it was).
* **Faststart.** The ``moov`` index precedes the media data, so players and browsers start before the whole
  file has arrived.
* **Every frame is kept**, at constant frame rate: frame ``i`` has presentation time ``i / fps``.
* **yuv420p needs even sizes.** With ``odd_size="pad"`` (default) a frame with an odd width or height is
  padded by one column on the right / one row at the bottom, repeating the edge pixels, so no picture is
  lost; :attr:`VideoWriter.video_size` is then one larger than the input. ``odd_size="error"`` refuses such
  frames instead. Model outputs (multiples of 32) are never padded.

Colour: RGB is converted to limited-range BT.601 YUV (FFmpeg's default, as the official ffmpeg command does)
and the stream carries no colour tags.
"""

from __future__ import annotations

import contextlib
import math
import os
from collections.abc import Iterable
from fractions import Fraction
from pathlib import Path
from typing import Literal

import av
import numpy as np

from engine.io.atomic import AtomicFile
from engine.camera.trajectory import DEFAULT_FPS
from engine.errors import ExportError
from engine.export.frames import FrameSink, output_error, write_all
from engine.export.progress import CancelFlag, ProgressCallback

#: x264 presets, fastest first (``medium`` is the official one).
X264_PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow", "placebo")
#: Default constant rate factor: 18 is visually lossless for most content (the official setting).
DEFAULT_CRF = 18
VIDEO_SUFFIXES = (".mp4", ".m4v", ".mov")

OddSize = Literal["pad", "error"]


def _check_options(fps: float, crf: int, preset: str, odd_size: str) -> Fraction:
    """Validate the encoder options; return the frame rate as an exact fraction."""
    if not isinstance(fps, (int, float)) or not math.isfinite(fps) or fps <= 0:
        raise ExportError(f"video fps: expected a positive number, found {fps!r}")
    if isinstance(crf, bool) or not isinstance(crf, int) or not 0 <= crf <= 51:
        raise ExportError(f"video crf: expected a whole number from 0 (lossless) to 51, found {crf!r}")
    if preset not in X264_PRESETS:
        raise ExportError(f"video preset: expected one of {', '.join(X264_PRESETS)}, found {preset!r}")
    if odd_size not in ("pad", "error"):
        raise ExportError(f"video odd_size: expected 'pad' or 'error', found {odd_size!r}")
    if "libx264" not in av.codecs_available:
        raise ExportError("video codec: expected PyAV built with libx264 (the PyPI wheels are), found none")
    return Fraction(fps).limit_denominator(1001)


class VideoWriter(FrameSink):
    """Write an H.264 MP4 progressively: ``write`` chunks as they arrive, then ``close`` (or use ``with``).

    Example::

        with VideoWriter("out/run.mp4", fps=16) as video:
            for chunk in session.chunks():      # (n, H, W, 3) uint8 each
                video.write(chunk)
        # out/run.mp4 exists now, complete; on an exception it would not exist at all

    Args:
        path: the target ``.mp4`` (``.m4v`` / ``.mov`` accepted; the container is MP4 in every case). Its
            folder is created; an unwritable folder raises :class:`ExportError` here, before any frame.
        fps: frames per second (default 16, the model's rate).
        crf: x264 constant rate factor, 0 (lossless) to 51; lower is better and larger.
        preset: x264 speed/size trade-off (:data:`X264_PRESETS`), ``"medium"`` as the official writer.
        odd_size: ``"pad"`` or ``"error"`` for frames with an odd width or height (module docstring).
        total_frames, progress, cancel: progress reports (stage ``"encode"``) and cancellation, see
            :mod:`engine.export.progress`.
    """

    stage = "encode"

    def __init__(
        self,
        path: str | os.PathLike,
        *,
        fps: float = DEFAULT_FPS,
        crf: int = DEFAULT_CRF,
        preset: str = "medium",
        odd_size: OddSize = "pad",
        total_frames: int | None = None,
        progress: ProgressCallback | None = None,
        cancel: CancelFlag | None = None,
    ) -> None:
        super().__init__(path, total_frames=total_frames, progress=progress, cancel=cancel)
        if self.path.suffix.lower() not in VIDEO_SUFFIXES:
            raise ExportError(f"{self.path}: expected a video file name ending in .mp4, found '{self.path.suffix or '(none)'}'")
        self.rate = _check_options(fps, crf, preset, odd_size)
        self.fps = float(fps)
        self.crf = crf
        self.preset = preset
        self.odd_size = odd_size
        self.video_size: tuple[int, int] | None = None  # (width, height) as encoded
        self._container: av.container.OutputContainer | None = None
        self._stream: av.video.stream.VideoStream | None = None
        try:
            self._staged = AtomicFile(self.path)
        except OSError as exc:
            raise output_error(self.path, exc) from exc

    def _start(self, size: tuple[int, int]) -> None:
        width, height = size
        if self.odd_size == "error" and (width % 2 or height % 2):
            raise ExportError(
                f"{self.path.name}: frames are {width}x{height}; expected an even width and height for yuv420p "
                "(crop or pad them, or use odd_size='pad')"
            )
        self.video_size = (width + width % 2, height + height % 2)
        self._container = av.open(str(self._staged.tmp), "w", format="mp4", options={"movflags": "+faststart"})
        stream = self._container.add_stream("libx264", rate=self.rate)
        stream.width, stream.height = self.video_size
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": str(self.crf), "preset": self.preset}
        self._stream = stream

    def _write_frame(self, frame: np.ndarray) -> None:
        height, width = frame.shape[:2]
        if (width, height) != self.video_size:
            frame = np.pad(frame, ((0, self.video_size[1] - height), (0, self.video_size[0] - width), (0, 0)), mode="edge")
        av_frame = av.VideoFrame.from_ndarray(frame, format="rgb24")
        av_frame.pts = self.frames_written
        self._container.mux(self._stream.encode(av_frame))

    def _finish(self) -> None:
        self._container.mux(self._stream.encode(None))  # flush the encoder's delayed frames
        self._container.close()  # writes the index; with +faststart moves it in front of the media data
        self._container = None

    def _commit(self) -> None:
        self._staged.commit()

    def _abort(self) -> None:
        if self._container is not None:
            with contextlib.suppress(Exception):
                self._container.close()
            self._container = None
        self._staged.discard()


def write_video(
    path: str | os.PathLike,
    frames: np.ndarray | Iterable[np.ndarray],
    *,
    fps: float = DEFAULT_FPS,
    crf: int = DEFAULT_CRF,
    preset: str = "medium",
    odd_size: OddSize = "pad",
    progress: ProgressCallback | None = None,
    cancel: CancelFlag | None = None,
) -> Path:
    """Write ``frames`` (``(F, H, W, 3)`` uint8, or an iterable of frames / chunks) to an MP4 at ``path``.

    The same encoder settings and guarantees as :class:`VideoWriter`; returns the path written.
    """
    total = len(frames) if isinstance(frames, np.ndarray) and frames.ndim == 4 else None
    writer = VideoWriter(
        path, fps=fps, crf=crf, preset=preset, odd_size=odd_size, total_frames=total, progress=progress, cancel=cancel
    )
    return write_all(writer, frames)
