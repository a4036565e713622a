"""Export of the current take: MP4 (+ camera sidecar), storyboard, camera path in every format — the dialog-free
work functions checked on the files (PyAV, trajectory round trips), cancel leaving nothing, and the dialogs driven
offscreen with QFileDialog patched."""

from __future__ import annotations

import os
import threading
import time

import av
import numpy as np
import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QTimer  # noqa: E402
from PySide6.QtWidgets import QApplication, QFileDialog, QMessageBox, QProgressDialog, QPushButton  # noqa: E402

from app import export_dialog, jobs  # noqa: E402
from app.export_dialog import (  # noqa: E402
    export_storyboard,
    export_trajectory,
    export_video,
    run_storyboard_export,
    run_trajectory_export,
    run_video_export,
    take_trajectory,
    trajectory_filters,
)
from engine.generation.project import Project, StartSettings  # noqa: E402
from engine.bundles import ModelBundle  # noqa: E402
from engine.camera.formats import FORMATS, read_trajectory  # noqa: E402
from engine.errors import ExportCancelled, ExportError  # noqa: E402
from engine.generation.session import WorldSession  # noqa: E402

W, H = 96, 64


@pytest.fixture(scope="module")
def project() -> Project:
    """Take 1: three chunks moving forward and turning; Take 2 (current): forked after chunk 0, chunk 1 refined."""
    bundle = ModelBundle.random("sana-wm-tiny-test", frame_size=(W, H), spatial_factor=16)
    session = WorldSession(bundle)
    session.start(np.full((H, W, 3), 120, np.uint8))
    project = Project(StartSettings(image=np.full((H, W, 3), 120, np.uint8), image_name="street.jpg", prompt="a street"))
    for k in range(3):
        c2w = np.tile(np.eye(4), (24, 1, 1))
        c2w[:, 2, 3] = 0.1 * (24 * k + np.arange(1, 25))
        angle = 0.01 * (24 * k + np.arange(1, 25))
        c2w[:, 0, 0], c2w[:, 0, 2], c2w[:, 2, 0], c2w[:, 2, 2] = np.cos(angle), np.sin(angle), -np.sin(angle), np.cos(angle)
        project.add_chunk(session.step(c2w))
    project.rewind(0)
    session.rewind(0)
    c2w = np.tile(np.eye(4), (24, 1, 1))
    c2w[:, 0, 3] = np.linspace(0.1, 2.4, 24)
    project.add_chunk(session.step(c2w))
    project.set_refined(1, np.full((24, H, W, 3), 60, np.uint8))
    return project


def video_info(path):
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(stream)]
        return len(frames), (stream.width, stream.height), frames


def test_video_export_writes_every_frame_of_the_take_but_the_start_image(project, tmp_path):
    reports = []
    result = run_video_export(project, tmp_path / "take.mp4", reports.append)
    count, size, frames = video_info(result.video)
    assert result.frames == count == 24 + 24 and size == (W, H)
    assert abs(frames[-1].astype(int).mean() - 60) < 3  # the last chunk is the refined one
    assert reports[-1].stage == "encode" and reports[-1].done == reports[-1].total == 48
    sidecar = read_trajectory(result.trajectory)
    np.testing.assert_allclose(sidecar.c2w, take_trajectory(project).c2w[1:])  # pose j = video frame j
    assert sidecar.num_frames == 48


def test_video_export_of_a_chunk_range_keeps_every_frame_of_it(project, tmp_path):
    result = run_video_export(project, tmp_path / "one.mp4", chunks=(1, 2))
    assert video_info(result.video)[0] == 24 and read_trajectory(result.trajectory).num_frames == 24


def test_a_cancelled_video_export_leaves_no_file(project, tmp_path):
    cancel = threading.Event()

    def progress(report):
        if report.done == 10:
            cancel.set()

    with pytest.raises(ExportCancelled):
        run_video_export(project, tmp_path / "gone.mp4", progress, cancel)
    assert list(tmp_path.iterdir()) == []


def test_exporting_an_empty_take_is_a_clear_error(tmp_path):
    empty = Project(StartSettings(image=np.zeros((H, W, 3), np.uint8)))
    with pytest.raises(ExportError, match="Take 1: nothing to export yet"):
        run_video_export(empty, tmp_path / "x.mp4")


def test_storyboard_export_writes_png_and_pdf_with_a_panel_per_second(project, tmp_path):
    result = run_storyboard_export(project, tmp_path / "board.png", every_s=1.0)
    assert result.png.is_file() and result.pdf.is_file()
    assert result.frame_indices == [0, 16, 32]  # 48 frames at 16 fps
    assert result.pdf.read_bytes().startswith(b"%PDF")


@pytest.mark.parametrize("name", list(FORMATS))
def test_camera_path_export_round_trips_in_every_format(project, tmp_path, name):
    fmt = FORMATS[name]
    target = tmp_path / ("path" + (fmt.extensions[0] if fmt.extensions[0] else ""))
    written = run_trajectory_export(project, target, format=name)
    assert written and all(p.exists() for p in written)
    options = {"image_size": (W, H)} if "image_size" in fmt.read_options else {}
    back = read_trajectory(target, format=name, **options)
    expected = take_trajectory(project)
    assert back.num_frames == expected.num_frames == 1 + 24 * 2
    np.testing.assert_allclose(back.c2w, expected.c2w, atol=2e-4)


def test_the_file_dialog_offers_every_trajectory_format():
    assert sorted(trajectory_filters().values()) == sorted(FORMATS)


def patch_dialog(monkeypatch, path, chosen=""):
    asked = []

    def fake(parent, title, name, filters):
        asked.append((title, name, filters))
        return str(path), chosen

    monkeypatch.setattr(QFileDialog, "getSaveFileName", fake)
    return asked


def test_export_video_dialog_asks_for_a_name_and_writes_the_file(qtbot, project, tmp_path, monkeypatch):
    asked = patch_dialog(monkeypatch, tmp_path / "clip")
    written = export_video(None, project)
    assert written == tmp_path / "clip.mp4" and video_info(written)[0] == 48
    assert asked[0][1] == "street_take_2.mp4"


def test_export_dialogs_do_nothing_when_the_user_cancels_the_file_dialog(qtbot, project, monkeypatch):
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a: ("", ""))
    assert export_video(None, project) is None
    assert export_storyboard(None, project) is None
    assert export_trajectory(None, project) is None


def test_export_trajectory_dialog_uses_the_chosen_format(qtbot, project, tmp_path, monkeypatch):
    chosen = next(f for f, name in trajectory_filters().items() if name == "nuke-chan")
    patch_dialog(monkeypatch, tmp_path / "cam", chosen)
    written = export_trajectory(None, project)
    assert written == tmp_path / "cam.chan"
    assert read_trajectory(written, image_size=(W, H)).num_frames == 49


def test_export_storyboard_dialog_writes_both_files(qtbot, project, tmp_path, monkeypatch):
    patch_dialog(monkeypatch, tmp_path / "sb.png")
    assert export_storyboard(None, project) == tmp_path / "sb.png"
    assert (tmp_path / "sb.pdf").is_file()


def test_a_failed_export_shows_the_message_and_keeps_going(qtbot, project, tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    patch_dialog(monkeypatch, blocker / "clip.mp4")  # a folder that cannot exist
    shown = []
    monkeypatch.setattr(QMessageBox, "warning", lambda parent, title, text: shown.append((title, text)))
    assert export_video(None, project) is None
    assert shown and shown[0][0] == "Export video" and "cannot write here" in shown[0][1]


def test_cancel_in_the_progress_dialog_stops_the_export_and_leaves_no_file(qtbot, project, tmp_path, monkeypatch):
    patch_dialog(monkeypatch, tmp_path / "slow.mp4")
    started = threading.Event()

    def slow_export(project, path, progress, cancel, chunks=None):
        def crawl(report):
            progress(report)
            started.set()
            time.sleep(0.01)

        return run_video_export(project, path, crawl, cancel)

    monkeypatch.setattr(export_dialog, "run_video_export", slow_export)

    pressed = []

    def press_cancel():  # the Cancel button of the progress dialog, once the export is under way
        dialogs = [w for w in QApplication.topLevelWidgets() if isinstance(w, QProgressDialog)]
        if not started.is_set() or not dialogs:
            QTimer.singleShot(20, press_cancel)
            return
        pressed.append(dialogs[0].labelText())
        dialogs[0].findChild(QPushButton).click()

    QTimer.singleShot(0, press_cancel)
    assert export_video(None, project) is None
    assert pressed == ["Encoding video…"] and jobs.last_job.cancel_flag.is_set()
    assert list(tmp_path.iterdir()) == []


def test_a_job_that_crashes_still_ends_with_a_message(qtbot, monkeypatch):
    shown = []
    monkeypatch.setattr(QMessageBox, "warning", lambda parent, title, text: shown.append(text))

    def boom(progress, cancel):
        raise RuntimeError("codec vanished")

    assert jobs.run_with_progress(None, "Export video", boom) is None
    assert shown == ["RuntimeError: codec vanished"]


def test_job_progress_reaches_the_ui_thread_in_order(qtbot):
    from engine.export.progress import Progress

    job = jobs.BackgroundJob(lambda progress, cancel: [progress(Progress("encode", i, 3)) for i in range(1, 4)] and "done")
    seen = []
    job.progress.connect(lambda stage, done, total: seen.append((stage, done, total)))
    with qtbot.waitSignal(job.finished) as signal:
        job.start()
    job.wait()
    qtbot.waitUntil(lambda: len(seen) == 3)
    assert seen == [("encode", 1, 3), ("encode", 2, 3), ("encode", 3, 3)] and signal.args == ["done"]
