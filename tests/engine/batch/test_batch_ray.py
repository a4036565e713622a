"""``sana-wm batch`` on a real local Ray (no mock): jobs run on two workers, a failing job is recorded and the
batch goes on, the videos equal ``sana-wm generate``'s, a re-run skips complete jobs; bad input fails in one line."""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from engine.bundles import ModelBundle, save_bundle
from engine.cli import main
from engine.score.video import read_video


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("batch_model") / "model"
    return save_bundle(ModelBundle.random("sana-wm-tiny-test", frame_size=(64, 32), seed=3), folder)


def _jobs(tmp_path: Path, model: Path) -> Path:
    lines = [
        {"name": "ahead", "demo": "meadow_stroll", "action": "w-24", "seed": 1, "frames": 25, "model": str(model),
         "png": True},
        {"name": "turn", "demo": "meadow_stroll", "action": "aw-24", "seed": 2, "frames": 25, "model": str(model)},
        {"name": "broken", "demo": "meadow_stroll", "action": "q-24", "frames": 25, "model": str(model)},
        {"name": "badseed", "demo": "meadow_stroll", "seed": -1},
    ]
    path = tmp_path / "jobs.jsonl"
    path.write_text("\n".join(json.dumps(x) for x in lines) + "\n", encoding="utf-8")
    return path


def test_a_local_ray_batch_matches_generate_records_failures_and_skips_on_rerun(tmp_path, model, capsys) -> None:
    jobs = _jobs(tmp_path, model)
    out = tmp_path / "out"
    code = main(["batch", str(jobs), "--output-dir", str(out), "--workers", "2", "--quiet"])
    assert code == 1  # one job failed and one line was invalid: the exit code says so
    report = json.loads((out / "batch_report.json").read_text())
    status = {j["name"]: j["status"] for j in report["jobs"]}
    assert status == {"ahead": "done", "turn": "done", "broken": "failed", "badseed": "invalid"}
    assert report["counts"] == {"done": 2, "failed": 1, "skipped": 0, "invalid": 1}
    broken = next(j for j in report["jobs"] if j["name"] == "broken")
    assert "'q'" in broken["error"] and "\n" not in broken["error"]
    assert len({j["worker"] for j in report["jobs"] if j["status"] == "done"}) >= 1
    table = capsys.readouterr().out
    assert "done 2, failed 1, skipped 0, invalid lines 1" in table

    # the same job through `sana-wm generate` gives the same frames (PNG, bit for bit) and the same camera path
    # (the MP4s are compared loosely: libx264 does not encode bit-reproducibly even for two generate runs)
    assert main(["generate", "--demo", "meadow_stroll", "--action", "w-24", "--seed", "1", "--num_frames", "25",
                 "--model", str(model), "--output_dir", str(tmp_path / "single"), "--name", "ahead", "--quiet",
                 "--png"]) == 0
    ours = sorted((out / "ahead_streaming_frames").glob("*.png"))
    theirs = sorted((tmp_path / "single" / "ahead_streaming_frames").glob("*.png"))
    assert len(ours) == len(theirs) == 24
    for a, b in zip(ours, theirs):
        np.testing.assert_array_equal(np.asarray(Image.open(a)), np.asarray(Image.open(b)))
    with np.load(out / "ahead_streaming.npz") as a, np.load(tmp_path / "single" / "ahead_streaming.npz") as b:
        np.testing.assert_array_equal(a["c2w"], b["c2w"])
    batch_frames, _ = read_video(out / "ahead_streaming.mp4")
    assert batch_frames.shape == (24, 32, 64, 3)

    # a re-run skips the complete jobs (no Ray started for them) and retries the failed one
    before = (out / "ahead_streaming.mp4").stat().st_mtime_ns
    started = time.perf_counter()
    main(["batch", str(jobs), "--output-dir", str(out), "--quiet", "--report", str(tmp_path / "again.json")])
    again = json.loads((tmp_path / "again.json").read_text())
    assert {j["name"]: j["status"] for j in again["jobs"]}["ahead"] == "skipped"
    assert again["counts"]["skipped"] == 2 and again["counts"]["failed"] == 1
    assert (out / "ahead_streaming.mp4").stat().st_mtime_ns == before
    assert time.perf_counter() - started < 120


def test_an_unreachable_address_fails_in_seconds_with_one_line(tmp_path, model, capsys) -> None:
    with socket.socket() as s:  # a port that nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    started = time.perf_counter()
    code = main(["batch", str(_jobs(tmp_path, model)), "--output-dir", str(tmp_path / "o"), "--quiet",
                 "--address", f"127.0.0.1:{port}"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and time.perf_counter() - started < 10
    assert err[-1].startswith(f"sana-wm: error: --address 127.0.0.1:{port}: expected a Ray cluster")


def test_a_missing_ray_install_says_how_to_get_the_extra(tmp_path, model, monkeypatch, capsys) -> None:
    import builtins

    real_import = builtins.__import__

    def no_ray(name, *args, **kwargs):
        if name == "ray" or name.startswith("ray."):
            raise ImportError("No module named 'ray'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_ray)
    code = main(["batch", str(_jobs(tmp_path, model)), "--output-dir", str(tmp_path / "o"), "--quiet"])
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert code == 2 and 'pip install -e ".[batch]"' in err
