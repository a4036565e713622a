"""Export the current take: video (MP4 + camera sidecar), camera path (every :mod:`engine.camera.formats` format),
storyboard (PNG + PDF).

Two layers, so tests and scripts need no dialogs:

* ``run_*_export(project, path, progress, cancel, ...)`` — the work, on any thread, through :mod:`engine.export`
  and :mod:`engine.camera.formats`; atomic (a cancel or an error leaves no partial file);
* ``export_*(parent, project)`` — ask for a file with :class:`QFileDialog`, then run the work with a progress dialog
  (:func:`app.jobs.run_with_progress`) and return the path written, or None.

What is exported: the current take's chunks (all of them, not only those before the cursor: a take is exported
whole; pass ``chunks=(a, b)`` for a range), refined frames where a chunk has them. As in ``sana-wm generate``, the
first pixel frame (the reconstruction of the start image) is not part of the video, so a take of ``k`` chunks
gives ``24k`` frames; its camera sidecar and storyboard describe exactly those frames. The camera-path export keeps
frame 0 (the start pose, identity), giving ``24k + 1`` poses: the length ``sana-wm generate --camera`` expects.
Intrinsics are in pixels of the generated frames.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
from PySide6.QtWidgets import QFileDialog, QWidget

from app.jobs import run_with_progress
from engine.generation.project import ChunkEntry, Project
from engine.camera.formats import FORMATS, write_trajectory
from engine.camera.trajectory import DEFAULT_FPS, Trajectory
from engine.errors import ExportError
from engine.export import ExportJob, ExportOptions, ExportResult, StoryboardResult, write_storyboard
from engine.export.progress import CancelFlag, ProgressCallback, check_cancel, report
from engine.export.storyboard import storyboard_indices


# ----- what a take exports -------------------------------------------------------------------------------------
def _entries(project: Project, chunks: tuple[int, int] | None) -> list[ChunkEntry]:
    entries = project.entries(chunks=chunks)
    if not entries:
        raise ExportError(f"{project.current.name}: nothing to export yet, the take has no generated chunks")
    return entries


def take_trajectory(project: Project, chunks: tuple[int, int] | None = None, *, fps: float = DEFAULT_FPS) -> Trajectory:
    """Every pose of the take's chunks (chunk 0 includes the start frame), intrinsics in frame pixels."""
    entries = _entries(project, chunks)
    frames = entries[0].frames
    return Trajectory(
        c2w=np.concatenate([e.record.c2w for e in entries]),
        intrinsics=np.concatenate([e.record.intrinsics for e in entries]),
        image_size=(frames.shape[2], frames.shape[1]),
        fps=fps,
    )


def _take_video(project: Project, chunks: tuple[int, int] | None) -> tuple[list[np.ndarray], int, int]:
    """The take's video as ``(pieces, total frames, first pose)``: the frames each chunk adds (chunk 0 without its
    first frame, the start image's reconstruction), and the index in :func:`take_trajectory` of the first video
    frame's pose (1 when the take starts at chunk 0, whose pose 0 is the start frame's)."""
    entries = _entries(project, chunks)
    pieces = [e.frames[1:] if e.index == 0 else e.frames for e in entries]
    return pieces, sum(len(p) for p in pieces), 1 if entries[0].index == 0 else 0


def _title(project: Project) -> str:
    return f"{Path(project.start.image_name).stem} — {project.current.name}"


def default_file_name(project: Project, suffix: str) -> str:
    """``<image stem>_<take name>.<suffix>``, with the take's name made file-safe."""
    take = re.sub(r"[^A-Za-z0-9_-]+", "_", project.current.name).strip("_").lower() or "take"
    return f"{Path(project.start.image_name).stem}_{take}{suffix}"


# ----- the work (no dialogs) -----------------------------------------------------------------------------------
def run_video_export(
    project: Project,
    path: str | os.PathLike,
    progress: ProgressCallback | None = None,
    cancel: CancelFlag | None = None,
    *,
    chunks: tuple[int, int] | None = None,
    options: ExportOptions = ExportOptions(),
) -> ExportResult:
    """Write the take as an H.264 MP4 at ``path`` plus ``<stem>.npz`` with the poses of its frames (and, as
    ``options`` ask, a PNG sequence or storyboard), chunk by chunk; all or nothing."""
    pieces, total, first_pose = _take_video(project, chunks)
    job = ExportJob(path, options, trajectory=take_trajectory(project, chunks, fps=options.fps), first_pose=first_pose,
                    prompt=project.start.prompt or None, title=_title(project), total_frames=total, progress=progress,
                    cancel=cancel)  # fmt: skip
    with job:
        for piece in pieces:
            job.write(piece)
        return job.close()


def run_storyboard_export(
    project: Project,
    path: str | os.PathLike,
    progress: ProgressCallback | None = None,
    cancel: CancelFlag | None = None,
    *,
    chunks: tuple[int, int] | None = None,
    every_s: float = 1.0,
    fps: float = DEFAULT_FPS,
) -> StoryboardResult:
    """Write ``<path>.png`` and ``<path>.pdf``: a panel every ``every_s`` seconds of the take's video, with time
    codes, camera-move notes and the prompt."""
    pieces, total, first_pose = _take_video(project, chunks)
    wanted = set(storyboard_indices(total, fps, every_s))
    panels, start = {}, 0
    for piece in pieces:  # keep only the panel frames
        panels.update({start + i: piece[i] for i in range(len(piece)) if start + i in wanted})
        start += len(piece)
    return write_storyboard(path, panels, fps=fps, num_frames=total, trajectory=take_trajectory(project, chunks, fps=fps),
                            first_pose=first_pose, prompt=project.start.prompt or None,
                            title=_title(project), every_s=every_s, progress=progress, cancel=cancel)  # fmt: skip


def run_trajectory_export(
    project: Project,
    path: str | os.PathLike,
    progress: ProgressCallback | None = None,
    cancel: CancelFlag | None = None,
    *,
    format: str | None = None,
    chunks: tuple[int, int] | None = None,
) -> list[Path]:
    """Write the take's camera path (all poses, frame 0 included) in ``format`` (default: from the extension);
    returns the files written."""
    trajectory = take_trajectory(project, chunks)
    check_cancel(cancel, str(path))
    written = write_trajectory(trajectory, path, format=format)
    report(progress, "trajectory", 1, 1)
    return written


# ----- dialogs -------------------------------------------------------------------------------------------------
def trajectory_filters() -> dict[str, str]:
    """File-dialog filter -> format name, one per :data:`engine.camera.formats.FORMATS` entry."""
    filters = {}
    for fmt in FORMATS.values():
        patterns = " ".join(f"*{ext}" for ext in fmt.extensions if ext) or "*"  # colmap: a folder, any name
        filters[f"{fmt.name}: {fmt.description} ({patterns})"] = fmt.name
    return filters


def _ask(parent: QWidget | None, title: str, name: str, filters: str, folder: str | None = None) -> tuple[str, str]:
    """The save dialog, opened in ``folder`` (the app's export folder; None: the working folder) on ``name``."""
    return QFileDialog.getSaveFileName(parent, title, str(Path(folder) / name) if folder else name, filters)


def export_video(
    parent: QWidget | None, project: Project, *, chunks: tuple[int, int] | None = None, folder: str | None = None
) -> Path | None:
    """Ask for an ``.mp4`` name and export the current take to it with a progress dialog."""
    path, _ = _ask(parent, "Export video", default_file_name(project, ".mp4"), "MP4 video (*.mp4)", folder)
    if not path:
        return None
    path = path if Path(path).suffix else path + ".mp4"
    result = run_with_progress(parent, "Export video", lambda p, c: run_video_export(project, path, p, c, chunks=chunks))
    return None if result is None else result.video


def export_storyboard(
    parent: QWidget | None, project: Project, *, chunks: tuple[int, int] | None = None, folder: str | None = None
) -> Path | None:
    """Ask for a storyboard name (``.png``; the ``.pdf`` is written beside it) and export the current take."""
    path, _ = _ask(parent, "Export storyboard", default_file_name(project, "_storyboard.png"),
                   "Storyboard PNG + PDF (*.png *.pdf)", folder)  # fmt: skip
    if not path:
        return None
    result = run_with_progress(parent, "Export storyboard",
                               lambda p, c: run_storyboard_export(project, path, p, c, chunks=chunks))  # fmt: skip
    return None if result is None else result.png


def export_trajectory(
    parent: QWidget | None, project: Project, *, chunks: tuple[int, int] | None = None, folder: str | None = None
) -> Path | None:
    """Ask for a file and a format (every format of :mod:`engine.camera.formats`) and write the camera path."""
    filters = trajectory_filters()
    path, chosen = _ask(parent, "Export camera path", default_file_name(project, ".npz"), ";;".join(filters), folder)
    if not path:
        return None
    fmt = filters.get(chosen)
    if fmt is not None and Path(path).suffix == "" and "" not in FORMATS[fmt].extensions:
        path += FORMATS[fmt].extensions[0]  # the dialog may hand back a name without the filter's extension
    result = run_with_progress(parent, "Export camera path",
                               lambda p, c: run_trajectory_export(project, path, p, c, format=fmt, chunks=chunks))  # fmt: skip
    return None if result is None else result[0]
