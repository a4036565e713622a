"""``sana-wm bench stream --device ...``: the scan x tier matrix from the command line (CPU, tiny preset)."""

from __future__ import annotations

import json

from engine.cli import main


def test_device_runs_the_matrix_and_writes_json(capsys, tmp_path) -> None:
    argv = ["bench", "stream", "--device", "cpu", "--preset", "sana-wm-tiny-test", "--size", "64x48", "--chunks", "2",
            "--memory", "full", "--scan", "chunk,triton", "--quiet", "--json", str(tmp_path / "m.json")]  # fmt: skip
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "preset sana-wm-tiny-test (random weights), 64x48, cpu" in out and "codec patch" in out
    rows = json.loads((tmp_path / "m.json").read_text())["rows"]
    assert [(r["scan"], r["status"] == "ok") for r in rows] == [("chunk", True), ("triton", False)]


def test_the_matrix_refuses_a_model_folder_and_a_missing_gpu(capsys) -> None:
    assert main(["bench", "stream", "--device", "cpu", "--model", "embedded", "--quiet"]) == 2
    assert "--model: the scan x tier matrix runs random weights" in capsys.readouterr().err
