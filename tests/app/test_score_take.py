"""Generate ▸ Score this take: the take's frames and poses go to the scorer on a job thread, a cancel stops it, and
the two paths for the 3D editor come from the report."""

from __future__ import annotations

import os
import threading

import numpy as np
import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from app.export_dialog import take_trajectory  # noqa: E402
from app.score_take import ESTIMATED_COLOR, REQUESTED_COLOR, overlay_paths, run_score, take_frames  # noqa: E402
from engine.bundles import ModelBundle  # noqa: E402
from engine.errors import ExportCancelled, ExportError  # noqa: E402
from engine.generation.project import Project, StartSettings  # noqa: E402
from engine.generation.session import WorldSession  # noqa: E402

W, H = 96, 64


@pytest.fixture(scope="module")
def project() -> Project:
    """Two chunks of a random-weight model asked to drive forward."""
    bundle = ModelBundle.random("sana-wm-tiny-test", frame_size=(W, H), spatial_factor=16)
    session = WorldSession(bundle)
    start = np.full((H, W, 3), 120, np.uint8)
    session.start(start)
    project = Project(StartSettings(image=start, image_name="street.jpg"))
    for k in range(2):
        c2w = np.tile(np.eye(4), (24, 1, 1))
        c2w[:, 2, 3] = 0.1 * (24 * k + np.arange(1, 25))
        project.add_chunk(session.step(c2w))
    return project


def test_the_take_is_scored_frame_for_pose_and_its_paths_are_ready_for_the_editor(project) -> None:
    frames = take_frames(project)
    trajectory = take_trajectory(project)
    assert frames.shape[0] == trajectory.num_frames == 49
    stages = []
    report = run_score(project, progress=lambda p: stages.append(p.stage))
    assert report.num_frames == 49 and report.scored_frames[-1] == 48
    np.testing.assert_array_equal(report.requested, trajectory.c2w[report.scored_frames])
    assert "Finding features" in stages and "Estimating cameras" in stages
    # the random model ignores the camera: its frames barely move, which is scored as a camera that stays put
    assert report.status == "static" and report.rot_err_deg is not None and report.trans_err > 0.2
    (req, req_color), (est, est_color) = overlay_paths(report)
    assert (req_color, est_color) == (REQUESTED_COLOR, ESTIMATED_COLOR)
    assert req.shape == est.shape == (len(report.scored_frames), 3)
    np.testing.assert_allclose(est, est[:1].repeat(len(est), axis=0))  # one point: the camera did not move


def test_a_cancel_stops_the_score_and_an_empty_take_is_an_error(project) -> None:
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(ExportCancelled):
        run_score(project, cancel=cancel)
    empty = Project(StartSettings(image=np.zeros((H, W, 3), np.uint8), image_name="x.jpg"))
    with pytest.raises(ExportError, match="nothing to score yet"):
        take_frames(empty)
