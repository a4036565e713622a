"""The `sana-wm` entry point: input errors become one line on stderr with exit code 2, no traceback."""

from __future__ import annotations

import subprocess
import sys

import pytest

from engine.cli import EXIT_INPUT_ERROR, main


def test_input_error_is_one_line_with_exit_code_2_in_a_real_process(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "engine.cli", "trajectory", "from-action", "w-3,x-2", "-o", str(tmp_path / "a.npz")],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == EXIT_INPUT_ERROR
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("sana-wm: error: action segment 2 'x-2'")
    assert not (tmp_path / "a.npz").exists()


def test_usage_errors_exit_2(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["trajectory"])
    assert exc.value.code == 2


def test_version_flag(capsys):
    with pytest.raises(SystemExit):
        main(["--version"])
    assert "sana-wm" in capsys.readouterr().out


def test_usage_errors_and_unusable_numbers_are_one_line(capsys):
    for argv in (["trajectory", "from-action"], ["trajectory", "from-action", "w-8", "-o", "x.npz", "--fov", "nan"],
                 ["synth", "dataset", "--out", ""]):  # fmt: skip
        with pytest.raises(SystemExit) as exc:
            main(argv)
        assert exc.value.code == 2
        lines = capsys.readouterr().err.strip().splitlines()
        assert len(lines) == 1 and ": error: " in lines[0] and "--help" in lines[0]
