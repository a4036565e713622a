"""CLI messages that said less than the command knew (issue 18, item 13): ``trajectory info`` reads the intrinsics
sidecar ``from-action`` wrote, ``convert`` names what is missing in plain words, and ``bench stream`` writes whole
progress lines into a log (no carriage returns)."""

from __future__ import annotations

import io
import sys

import pytest

from engine.cli import main


def test_info_uses_the_intrinsics_sidecar_that_from_action_wrote(tmp_path, capsys):
    cam = tmp_path / "cam.npy"
    assert main(["trajectory", "from-action", "w-24", "-o", str(cam), "--fov", "70"]) == 0
    assert (tmp_path / "cam_intrinsics.npy").is_file()
    capsys.readouterr()
    assert main(["trajectory", "info", str(cam)]) == 0
    out = capsys.readouterr().out
    assert "FOV:           horizontal 70.00-70.00 deg" in out and "unknown" not in out
    assert "image size:    1280x704 (not stored: 2 cx x 2 cy" in out


def test_convert_names_the_missing_image_size_in_plain_words(tmp_path, capsys):
    cam = tmp_path / "cam.npy"
    assert main(["trajectory", "from-action", "w-24", "-o", str(cam)]) == 0
    capsys.readouterr()
    assert main(["trajectory", "convert", str(cam), str(tmp_path / "path.json")]) == 2
    err = capsys.readouterr().err
    assert "the trajectory has no image size;" in err and "no an" not in err and len(err.strip().splitlines()) == 1


def test_bench_stream_progress_into_a_log_is_whole_lines(monkeypatch, capsys):
    log = io.StringIO()  # not a terminal, as a redirected stderr
    monkeypatch.setattr(sys, "stderr", log)
    assert main(["bench", "stream", "--preset", "sana-wm-tiny-test", "--chunks", "2", "--size", "96x64",
                 "--spatial-factor", "16", "--no-softmax-baseline", "--threads", "1"]) == 0  # fmt: skip
    text = log.getvalue()
    assert "\r" not in text and "chunk 2/2" in text
    assert all(line.startswith("[") for line in text.splitlines() if "chunk" in line)
