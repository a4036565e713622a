"""End to end through the real window, worker, session files and exporters (issue #7's scenario, on the tiny model):
open a demo, hold W for three chunks, rewind to chunk 1, branch with D, save and reopen the session and continue it
exactly, export an MP4 and a storyboard, and check the files."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PySide6.QtCore import QSettings, Qt

from app import export_dialog
from app.main_window import MainWindow
from app.settings import AppSettings

TIMEOUT = 60000


def window_on(qtbot, tmp_path, bundle) -> MainWindow:
    win = MainWindow(AppSettings(QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat)), lambda source: bundle)
    qtbot.addWidget(win)
    win.show()
    return win


def idle(qtbot, win) -> None:
    qtbot.waitUntil(lambda: not win.client.busy, timeout=TIMEOUT)


def test_drive_rewind_branch_save_reopen_and_export(qtbot, tmp_path, tiny_bundle):
    win = window_on(qtbot, tmp_path, tiny_bundle)
    assert win.start_panel.select_demo("meadow_stroll")
    with qtbot.waitSignal(win.world_started, timeout=TIMEOUT):
        win.start_panel.start_button.click()
    idle(qtbot, win)
    win.set_driving(False)  # step by step, so the test controls exactly which keys each chunk sees
    qtbot.keyPress(win.viewport, Qt.Key.Key_W)
    for _ in range(3):
        with qtbot.waitSignal(win.chunk_added, timeout=TIMEOUT):
            win.step_once()
        idle(qtbot, win)
    qtbot.keyRelease(win.viewport, Qt.Key.Key_W)
    project = win.project
    first_take = [e.record for e in project.current.chunks]
    assert [r.index for r in first_take] == [0, 1, 2]

    win.rewind_to(1)
    idle(qtbot, win)
    qtbot.keyPress(win.viewport, Qt.Key.Key_D)
    with qtbot.waitSignal(win.chunk_added, timeout=TIMEOUT):
        win.step_once()
    idle(qtbot, win)
    qtbot.keyRelease(win.viewport, Qt.Key.Key_D)
    assert sorted(project.branches) == [0, 1] and project.current.fork_chunk == 2
    branch = [e.record for e in project.current.chunks]
    assert branch[:2] == first_take[:2] and not np.allclose(branch[2].c2w, first_take[2].c2w)

    # save, reopen in a fresh window, continue: the same chunk as the original session would make
    swm = tmp_path / "take.swm"
    assert win._save(swm) and swm.is_file()
    win.rewind_to(1)
    idle(qtbot, win)
    with qtbot.waitSignal(win.chunk_added, timeout=TIMEOUT) as again:
        win.client.step(branch[2].c2w)
    idle(qtbot, win)
    other = window_on(qtbot, tmp_path, tiny_bundle)
    assert other.open_session(swm)
    idle(qtbot, other)
    assert other.started and other.project.cursor == 3 and len(other.project.branches) == 2
    other.rewind_to(1)
    idle(qtbot, other)
    with qtbot.waitSignal(other.chunk_added, timeout=TIMEOUT) as resumed:
        other.client.step(branch[2].c2w)
    assert torch.equal(resumed.args[0].latents, again.args[0].latents)

    # export the current take
    video = export_dialog.run_video_export(other.project, tmp_path / "take.mp4")
    board = export_dialog.run_storyboard_export(other.project, tmp_path / "take_storyboard.png")
    assert video.video.is_file() and video.video.stat().st_size > 1000
    assert board.png.is_file() and board.png.with_suffix(".pdf").is_file()
    import av

    with av.open(str(video.video)) as container:
        frames = sum(1 for _ in container.decode(video=0))
    assert frames == 3 * 24  # three chunks, the start image's reconstruction dropped
    win.close()
    other.close()
