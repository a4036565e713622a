"""Generate ▸ Score this take: how well the current take follows its camera path (docs/score.md).

The scorer (:mod:`engine.score`, SfM on the CPU) runs on a background thread with a cancellable progress dialog
(:func:`app.jobs.run_with_progress`); the window stays responsive. The result is shown as numbers in a dialog and
as the requested and estimated paths over each other in the 3D path editor (the estimate aligned to the take's
frame, which is the editor's: the start camera is the origin).
"""

from __future__ import annotations

import numpy as np
from PySide6.QtWidgets import QMainWindow, QMessageBox

from app.export_dialog import take_trajectory
from app.jobs import run_with_progress
from engine.errors import ExportError
from engine.export.progress import CancelFlag, ProgressCallback, check_cancel, report
from engine.generation.project import Project
from engine.score import ScoreReport, ScoreSettings, score_frames

#: Colours of the two paths in the editor (requested: the path editor's own path is drawn too).
REQUESTED_COLOR = (0.30, 0.65, 1.00)
ESTIMATED_COLOR = (1.00, 0.35, 0.25)
STAGE_LABELS = {"features": "Finding features", "matching": "Matching frames", "mapping": "Estimating cameras"}


def take_frames(project: Project) -> np.ndarray:
    """Every frame of the current take, the start frame's reconstruction included: one per pose of
    :func:`app.export_dialog.take_trajectory`."""
    entries = project.entries()
    if not entries:
        raise ExportError(f"{project.current.name}: nothing to score yet, the take has no generated chunks")
    return np.concatenate([e.frames for e in entries])


def run_score(project: Project, progress: ProgressCallback | None = None, cancel: CancelFlag | None = None,
              settings: ScoreSettings = ScoreSettings()) -> ScoreReport:
    """Score the current take (no dialogs; runs on the job's thread). A cancel stops at the next SfM stage."""
    frames = take_frames(project)
    trajectory = take_trajectory(project)

    def on_progress(stage: str, done: int, total: int) -> None:
        check_cancel(cancel, "score")
        report(progress, STAGE_LABELS.get(stage, stage), done, total)

    return score_frames(frames, trajectory, settings=settings, video=project.current.name,
                        trajectory_name=f"{project.current.name} camera path", progress=on_progress)


def overlay_paths(report: ScoreReport) -> list[tuple[np.ndarray, tuple[float, float, float]]]:
    """The two camera-centre polylines to draw in the path editor (unregistered frames left out)."""
    if report.requested is None or report.estimated is None:
        return []
    est = report.estimated[:, :3, 3]
    return [(report.requested[:, :3, 3], REQUESTED_COLOR), (est[np.isfinite(est).all(axis=1)], ESTIMATED_COLOR)]


def score_take(window: QMainWindow) -> ScoreReport | None:
    """The menu entry: score the window's current take, show the numbers and the two paths."""
    project = window.project
    if project is None:
        return None
    result = run_with_progress(window, "Score this take", lambda p, c: run_score(project, p, c))
    if result is None:
        return None
    view = getattr(window.path_editor, "gl_view", None)
    if view is not None:
        view.overlays = overlay_paths(result)
        view.update()
    text = result.summary().replace("\n", "<br>")
    if result.is_scored and view is not None:
        text += ("<br><br>Path mode (Ctrl+2) shows the requested path (blue) and the path estimated from the "
                 "frames (red) over each other.")
    QMessageBox.information(window, "Score this take", text)
    return result
