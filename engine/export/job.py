"""One export of a rollout: the MP4 plus, on request, a PNG sequence, the trajectory file and a storyboard.

``sana-wm generate`` and the explorer's Export dialog both drive an :class:`ExportJob`: create it before the
first chunk, ``write`` every decoded chunk as it arrives, ``close`` at the end (or ``cancel``). Files, for a
video ``out/run.mp4``:

* ``out/run.mp4`` — H.264, with the action overlay when ``options.overlay`` (:mod:`engine.export.video`);
* ``out/run_frames/frame_00000.png ...`` — clean frames, never overlaid (``options.png_sequence``);
* ``out/run.npz`` — the camera poses of the video's frames (:func:`write_trajectory_beside`);
* ``out/run_storyboard.png`` / ``.pdf`` — the contact sheet (``options.storyboard``), from clean frames.

Only the storyboard's panel frames are kept in memory; everything else streams to disk.

All or nothing: parts are written under temporary names and renamed together at the end, so an error or a
cancel at any point before the final renames leaves none of them (older files of the same names are left
as they were). The renames themselves are not cancellable; if one of them fails, the parts already renamed
by this job are deleted again.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import numpy as np

from engine.camera.formats import write_trajectory
from engine.camera.trajectory import DEFAULT_FPS, Trajectory
from engine.errors import ExportError
from engine.export.frames import FrameSink, as_frames
from engine.export.images import PngSequenceWriter
from engine.export.overlay import ActionOverlay
from engine.export.progress import CancelFlag, ProgressCallback, check_cancel
from engine.export.storyboard import StoryboardResult, write_storyboard
from engine.export.video import DEFAULT_CRF, VideoWriter


def sidecar_path(media: str | os.PathLike) -> Path:
    """The trajectory file beside a video or image folder: ``run.mp4`` -> ``run.npz``, ``run_frames`` -> ``run_frames.npz``."""
    media = Path(media)
    return media.with_suffix(".npz") if media.suffix else media.with_name(media.name + ".npz")


def write_trajectory_beside(
    media: str | os.PathLike, trajectory: Trajectory, *, num_frames: int | None = None, first_pose: int = 0
) -> Path:
    """Write the poses of a video's frames as a native ``.npz`` beside it (atomically); return the file.

    Video frame ``j`` shows pose ``first_pose + j`` (``first_pose=1`` when the first pixel frame was dropped,
    spec ltx2_vae_refiner §2.7); the file holds exactly those ``num_frames`` poses (default: all from
    ``first_pose``), so its pose ``j`` is frame ``j``. Intrinsics, fps and the action string are kept.
    """
    stop = trajectory.num_frames if num_frames is None else first_pose + num_frames
    if first_pose < 0 or stop > trajectory.num_frames or stop <= first_pose:
        raise ExportError(
            f"{sidecar_path(media).name}: expected the trajectory to cover frames {first_pose}..{stop - 1} "
            f"(first_pose {first_pose}, {num_frames} frames), found {trajectory.num_frames} poses"
        )
    intrinsics = None if trajectory.intrinsics is None else trajectory.intrinsics[first_pose:stop]
    frames_only = dataclasses.replace(trajectory, c2w=trajectory.c2w[first_pose:stop], intrinsics=intrinsics)
    return write_trajectory(frames_only, sidecar_path(media), format="npz")[0]


@dataclass(frozen=True)
class ExportOptions:
    """What to export beside the MP4, and how to encode it.

    Attributes:
        fps, crf, preset: video settings (:class:`~engine.export.video.VideoWriter`).
        overlay: draw the action overlay on the MP4 (needs a trajectory; its action string if it has one,
            else its camera motion).
        png_sequence: also write ``<stem>_frames/`` (overwriting an existing one).
        trajectory_file: write ``<stem>.npz`` when a trajectory is given.
        storyboard: also write ``<stem>_storyboard.png`` and ``.pdf``; ``storyboard_every_s`` between panels.
    """

    fps: float = DEFAULT_FPS
    crf: int = DEFAULT_CRF
    preset: str = "medium"
    overlay: bool = False
    png_sequence: bool = False
    trajectory_file: bool = True
    storyboard: bool = False
    storyboard_every_s: float = 1.0


@dataclass(frozen=True)
class ExportResult:
    """The files an :class:`ExportJob` wrote (None for parts not requested)."""

    video: Path
    frames: int
    png_folder: Path | None = None
    trajectory: Path | None = None
    storyboard: StoryboardResult | None = None

    def describe(self) -> list[str]:
        """One entry per file or folder written, video first (what a command announces: every output, not only
        the video)."""
        out = [f"{self.video} (video, {self.frames} frames)"]
        if self.trajectory is not None:
            out.append(f"{self.trajectory} (camera path, one pose per video frame)")
        if self.storyboard is not None:
            out += [f"{self.storyboard.png} (storyboard)", f"{self.storyboard.pdf} (storyboard)"]
        if self.png_folder is not None:
            out.append(f"{self.png_folder}/ ({self.frames} PNG frames)")
        return out


class ExportJob:
    """Stream a rollout's frames into every requested output; commit them together (module docstring).

    Args:
        video_path: the ``.mp4`` target; the other files are named after it.
        options: what to write (:class:`ExportOptions`).
        trajectory: the rollout's camera path; frame ``j`` shows pose ``first_pose + j``.
        prompt, title: storyboard header text.
        total_frames, progress, cancel: progress reports (stages ``"encode"``, ``"png"``, ``"storyboard"``)
            and cancellation, see :mod:`engine.export.progress`.
    """

    def __init__(
        self,
        video_path: str | os.PathLike,
        options: ExportOptions = ExportOptions(),
        *,
        trajectory: Trajectory | None = None,
        first_pose: int = 0,
        prompt: str | None = None,
        title: str | None = None,
        total_frames: int | None = None,
        progress: ProgressCallback | None = None,
        cancel: CancelFlag | None = None,
    ) -> None:
        self.options = options
        self.trajectory = trajectory
        self.first_pose = first_pose
        self.prompt = prompt
        self.title = title
        self.progress = progress
        self.cancel_flag = cancel
        self.overlay: ActionOverlay | None = None
        if options.overlay:
            if trajectory is None:
                raise ExportError("overlay: expected a trajectory (or an action string) to draw the keys from, found none")
            self.overlay = (ActionOverlay.from_action(trajectory.action) if trajectory.action
                            else ActionOverlay.from_trajectory(trajectory, version=trajectory.action_version or "v2"))
        if options.storyboard and (not np.isfinite(options.storyboard_every_s) or options.storyboard_every_s <= 0):
            raise ExportError(f"storyboard every_s: expected a positive number of seconds, found {options.storyboard_every_s!r}")
        self.sinks: list[FrameSink] = []
        self.video = VideoWriter(video_path, fps=options.fps, crf=options.crf, preset=options.preset,
                                 total_frames=total_frames, progress=progress, cancel=cancel)
        self.sinks.append(self.video)
        self.png: PngSequenceWriter | None = None
        if options.png_sequence:
            try:
                self.png = PngSequenceWriter(self.video.path.with_name(self.video.path.stem + "_frames"), overwrite=True,
                                             total_frames=total_frames, progress=progress, cancel=cancel)
            except BaseException:
                self.video.cancel()
                raise
            self.sinks.append(self.png)
        self._panel_frames: dict[int, np.ndarray] = {}
        self._state = "open"
        self.result: ExportResult | None = None  # set by close (also when the job closes as a context manager)

    @property
    def frames_written(self) -> int:
        return self.video.frames_written

    def write(self, frames: np.ndarray) -> None:
        """Append a frame ``(H, W, 3)`` or a chunk ``(n, H, W, 3)`` of uint8 RGB to every output."""
        if self._state != "open":
            raise RuntimeError(f"{self.video.path}: cannot write, the export is {self._state}")
        try:
            chunk = as_frames(frames, name=f"{self.video.path.name}: frames")
            start = self.video.frames_written
            if self.options.storyboard:
                self._keep_panel_frames(chunk, start)
            video_chunk = chunk if self.overlay is None else self.overlay.draw(chunk, first_pose=self.first_pose + start)
            self.video.write(video_chunk)
            if self.png is not None:
                self.png.write(chunk)
        except BaseException:
            self.cancel()
            raise

    def _keep_panel_frames(self, chunk: np.ndarray, start: int) -> None:
        """Keep the frames a storyboard panel can show: index ``round(k * step)`` for some whole ``k``."""
        step = self.options.storyboard_every_s * self.options.fps
        for offset in range(len(chunk)):
            index = start + offset
            if any(round(k * step) == index for k in (math.floor(index / step), math.ceil(index / step))):
                self._panel_frames[index] = chunk[offset].copy()

    def close(self) -> ExportResult:
        """Finish every part, then rename them all to their final names; return what was written."""
        if self._state != "open":
            raise RuntimeError(f"{self.video.path}: cannot close, the export is {self._state}")
        committed: list[Path] = []
        try:
            for sink in self.sinks:
                sink.finish()
            total = self.video.frames_written
            storyboard = None
            if self.options.storyboard:
                stem = self.video.path.with_name(self.video.path.stem + "_storyboard.png")
                storyboard = write_storyboard(
                    stem, self._panel_frames, fps=self.options.fps, num_frames=total, trajectory=self.trajectory,
                    first_pose=self.first_pose, prompt=self.prompt, title=self.title or self.video.path.stem,
                    every_s=self.options.storyboard_every_s, progress=self.progress, cancel=self.cancel_flag,
                )
                committed += [storyboard.png, storyboard.pdf]
            check_cancel(self.cancel_flag, str(self.video.path))
            trajectory_file = None
            if self.trajectory is not None and self.options.trajectory_file:
                trajectory_file = write_trajectory_beside(self.video.path, self.trajectory, num_frames=total,
                                                          first_pose=self.first_pose)
                committed.append(trajectory_file)
            for sink in self.sinks:
                committed.append(sink.commit())
        except BaseException:
            self.cancel()
            for path in committed:  # a later part failed: take back the ones already renamed
                with contextlib.suppress(OSError):
                    if path.is_dir():
                        shutil.rmtree(path)
                    else:
                        path.unlink()
            raise
        self._state = "closed"
        self.result = ExportResult(self.video.path, total, self.png.path if self.png else None, trajectory_file,
                                   storyboard)  # fmt: skip
        return self.result

    def cancel(self) -> None:
        """Abort every part and delete all temporary files. Idempotent; a no-op after close."""
        if self._state != "open":
            return
        self._state = "aborted"
        for sink in self.sinks:
            sink.cancel()
        self._panel_frames.clear()

    def __enter__(self) -> "ExportJob":
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc_type is not None:
            self.cancel()
        elif self._state == "open":
            self.close()
