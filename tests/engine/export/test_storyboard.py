"""Storyboard contact sheets: panel times, layout on the PNG, a valid multi-page PDF, atomicity."""

from __future__ import annotations

import re
import threading

import numpy as np
import pytest
from PIL import Image

from engine.camera.actions import action_to_c2w
from engine.camera.trajectory import Trajectory
from engine.errors import ExportCancelled, ExportError
from engine.export.storyboard import format_timecode, storyboard_indices, write_storyboard


def solid_frames(num: int, height: int = 88, width: int = 160) -> np.ndarray:
    """Each frame one flat, distinct colour, so a panel's thumbnail tells which frame it shows."""
    colours = np.stack([np.arange(num) * 5 % 256, 255 - np.arange(num) * 3 % 256, np.full(num, 90)], axis=1)
    return np.broadcast_to(colours[:, None, None, :], (num, height, width, 3)).astype(np.uint8)


def pdf_page_count(data: bytes) -> int:
    return len(re.findall(rb"/Type\s*/Page(?![a-z])", data))


def test_panel_indices_follow_every_s_and_fps():
    assert storyboard_indices(49, 16.0, 1.0) == [0, 16, 32, 48]
    assert storyboard_indices(48, 16.0, 1.0) == [0, 16, 32]
    assert storyboard_indices(100, 24.0, 0.5) == [0, 12, 24, 36, 48, 60, 72, 84, 96]
    assert storyboard_indices(1, 16.0) == [0]
    assert storyboard_indices(5, 16.0, 0.01) == [0, 1, 2, 3, 4]  # never more panels than frames


def test_timecode_is_minutes_seconds_hundredths():
    assert format_timecode(0, 16) == "00:00.00"
    assert format_timecode(24, 16) == "00:01.50"
    assert format_timecode(16 * 75 + 4, 16) == "01:15.25"


def test_png_sheet_has_one_panel_per_interval_showing_the_right_frames(tmp_path):
    frames = solid_frames(81)  # 5 s at 16 fps: panels at 0..5 s
    result = write_storyboard(tmp_path / "board.png", frames, fps=16, columns=4, panel_width=120, prompt="a quiet lake")
    assert result.frame_indices == [0, 16, 32, 48, 64, 80]
    assert len(result.panel_boxes) == 6 and result.pages == 1
    sheet = np.asarray(Image.open(result.png).convert("RGB"))
    boxes = result.panel_boxes
    assert len({y0 for _, y0, _, _ in boxes}) == 2 and len({x0 for x0, _, _, _ in boxes}) == 4  # 4 + 2 grid
    for (x0, y0, x1, y1), index in zip(boxes, result.frame_indices):
        assert (x1 - x0, y1 - y0) == (120, 66)  # thumbnails keep the frame's aspect ratio
        assert x1 <= sheet.shape[1] and y1 <= sheet.shape[0]
        inner = sheet[y0 + 2:y1 - 2, x0 + 2:x1 - 2].reshape(-1, 3).astype(int)
        assert np.abs(inner - frames[index, 0, 0].astype(int)).max() <= 1
    assert sheet.shape[1] == boxes[3][2] + boxes[0][0]  # symmetric margins


def test_pdf_is_valid_and_paginated(tmp_path):
    result = write_storyboard(tmp_path / "board", solid_frames(161), fps=16, columns=3, rows_per_page=2,
                              panel_width=96)
    data = result.pdf.read_bytes()
    assert data.startswith(b"%PDF-") and data.rstrip().endswith(b"%%EOF")
    assert len(result.frame_indices) == 11 and result.pages == 2  # 6 panels a page
    assert pdf_page_count(data) == 2
    assert result.png == tmp_path / "board.png" and result.png.exists()


def test_camera_notes_describe_the_move_to_the_next_panel(tmp_path):
    c2w = action_to_c2w("w-16,l-16", version="v1")  # 33 poses: 1 s forward, then 1 s turning right
    result = write_storyboard(tmp_path / "b.png", solid_frames(33), fps=16, trajectory=Trajectory(c2w, action="w-16,l-16"),
                              panel_width=64)
    assert result.notes == ["→ 00:01.00: dolly forward 0.80", "→ 00:02.00: yaw right 19°", "end"]
    plain = write_storyboard(tmp_path / "c.png", solid_frames(33), fps=16, panel_width=64)
    assert plain.notes == ["", "", ""]


def test_dropped_first_frame_aligns_with_first_pose(tmp_path):
    c2w = action_to_c2w("w-32")
    with pytest.raises(ExportError, match=r"expected at least first_pose \+ frames = 34 poses .*found \(33, 4, 4\)"):
        write_storyboard(tmp_path / "b.png", solid_frames(33), trajectory=c2w, first_pose=1)
    assert write_storyboard(tmp_path / "b.png", solid_frames(32), trajectory=c2w, first_pose=1,
                            panel_width=64).notes[-1].startswith("→ 00:01.94: dolly forward")  # to the last frame


def test_panel_frames_can_be_given_alone(tmp_path):
    frames = solid_frames(40)
    panels = {i: frames[i] for i in (0, 16, 32)}
    result = write_storyboard(tmp_path / "b.png", panels, num_frames=40)
    assert result.frame_indices == [0, 16, 32]
    with pytest.raises(ExportError, match="expected frame 16"):
        write_storyboard(tmp_path / "c.png", {0: frames[0]}, num_frames=40)
    with pytest.raises(ExportError, match="need num_frames"):
        write_storyboard(tmp_path / "c.png", panels)


def test_cancel_leaves_neither_file_and_keeps_an_older_storyboard(tmp_path):
    (tmp_path / "b.png").write_bytes(b"old png")
    flag = threading.Event()

    def progress(p):
        if p.done == 4:
            flag.set()

    with pytest.raises(ExportCancelled):
        write_storyboard(tmp_path / "b.png", solid_frames(97), progress=progress, cancel=flag)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b.png"] and (tmp_path / "b.png").read_bytes() == b"old png"


def test_failure_while_drawing_the_pdf_leaves_no_png(tmp_path, monkeypatch):
    import engine.export.storyboard as storyboard

    def broken(pdf, page):
        raise OSError("disk full")

    monkeypatch.setattr(storyboard, "_draw_pdf_page", broken)
    with pytest.raises(OSError, match="disk full"):
        write_storyboard(tmp_path / "b.png", solid_frames(20))
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"every_s": 0}, r"every_s: expected a positive number of seconds, found 0"),
        ({"columns": 0}, r"columns: expected a whole number >= 1, found 0"),
        ({"panel_width": 8}, r"panel_width: expected at least 32 pixels, found 8"),
        ({"fps": -1}, r"fps: expected a positive number, found -1"),
    ],
)
def test_bad_options_are_typed_errors(tmp_path, options, message):
    with pytest.raises(ExportError, match=message):
        write_storyboard(tmp_path / "b.png", solid_frames(20), **options)
    assert list(tmp_path.iterdir()) == []


def test_bad_frames_are_typed_errors(tmp_path):
    with pytest.raises(ExportError, match="storyboard frames: expected dtype uint8"):
        write_storyboard(tmp_path / "b.png", np.zeros((4, 8, 8, 3), np.float32))


def test_too_tall_sheet_is_refused_with_advice(tmp_path):
    panels = {i: np.zeros((88, 160, 3), np.uint8) for i in range(0, 16 * 600, 16)}
    with pytest.raises(ExportError, match="use a larger every_s"):
        write_storyboard(tmp_path / "b.png", panels, num_frames=16 * 600, columns=1, panel_width=400)


def test_unwritable_folder_is_a_typed_error(tmp_path):
    (tmp_path / "file").write_text("not a folder")
    with pytest.raises(ExportError, match=r"cannot write here .*expected a writable folder"):
        write_storyboard(tmp_path / "file" / "b.png", solid_frames(4), panel_width=64)
