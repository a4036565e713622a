"""``python -m engine.bench.gpu_script``: its arguments fail in one line, and a CPU dry run with the tiny preset writes
every result file (the CUDA run itself needs a GPU)."""

from __future__ import annotations

import json

import pytest
import torch

from engine.bench import gpu_script


@pytest.mark.parametrize("argv, message", [
    (["--chunks", "1"], "--chunks: expected a whole number in [2, 1000], found 1"),
    (["--preset", "huge"], "--preset: expected one of"),
    (["--budget-s", "nan"], "--budget-s: expected seconds in [10, 86400]"),
    (["--size", "12x"], "--size: expected WIDTHxHEIGHT"),
    (["--device", "tpu"], "--device: expected cuda, cuda:N or cpu"),
    (["--device", "cpu", "--scan", "fast"], "--scan: expected 'all' or names from"),
])  # fmt: skip
def test_bad_arguments_are_one_line(argv, message, capsys, tmp_path) -> None:
    assert gpu_script.main([*argv, "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]


def test_cuda_without_a_gpu_says_so(capsys, tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert gpu_script.main(["--out", str(tmp_path)]) == 2
    assert "expected a CUDA device, found none" in capsys.readouterr().err


def test_a_cpu_dry_run_writes_every_result(tmp_path, capsys) -> None:
    argv = ["--device", "cpu", "--preset", "sana-wm-tiny-test", "--chunks", "2", "--memory", "full", "--skip-plan",
            "--out", str(tmp_path)]  # fmt: skip
    assert gpu_script.main(argv) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bench.json", "bench.txt", "env.json", "scans.json", "summary.txt"]
    scans = {r["scan"]: r for r in json.loads((tmp_path / "scans.json").read_text())}
    assert scans["naive"]["max_error_over_scale"] == 0.0 and scans["chunk"]["max_error_over_scale"] < 1e-5
    bench = json.loads((tmp_path / "bench.json").read_text())
    assert {r["scan"] for r in bench["rows"]} == set(scans) and all(r["tier"] == "full" for r in bench["rows"])
    assert "results in" in capsys.readouterr().out
