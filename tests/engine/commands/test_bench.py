"""``sana-wm bench stream`` runs end to end and reports what it measured."""

import json

import pytest

from engine.bundles import ModelBundle, save_bundle
from engine.cli import main


def test_bench_stream_writes_a_table_and_json(tmp_path, capsys):
    out = tmp_path / "bench.json"
    code = main(["bench", "stream", "--chunks", "6", "--size", "64x32", "--threads", "2", "--quiet", "--json", str(out)])
    assert code == 0
    table = capsys.readouterr().out
    assert "hybrid" in table and "all-softmax" in table and "late/early" in table
    data = json.loads(out.read_text())
    assert len(data["hybrid_chunk_ms"]) == len(data["all_softmax_chunk_ms"]) == 6
    hybrid, softmax = data["hybrid_cache_bytes"], data["all_softmax_cache_bytes"]
    assert len(set(hybrid[2:])) == 1  # the window is full from chunk 2 on: constant state
    assert all(b > a for a, b in zip(softmax, softmax[1:]))  # full history: grows every chunk
    assert data["hybrid"]["blocks"] == "3 GDN + 1 softmax" and data["all_softmax"]["blocks"] == "0 GDN + 4 softmax"
    assert data["hybrid"]["late_over_early"] > 0


def test_bench_stream_runs_a_model_folder_at_its_own_frame_size(tmp_path, capsys):
    folder = save_bundle(ModelBundle.random("sana-wm-tiny-test", frame_size=(96, 64), seed=3), tmp_path / "model")
    out = tmp_path / "bench.json"
    code = main(["bench", "stream", "--model", str(folder), "--chunks", "3", "--no-softmax-baseline", "--quiet",
                 "--json", str(out)])  # fmt: skip
    assert code == 0
    data = json.loads(out.read_text())
    assert data["frame_size"] == [96, 64] and data["preset"] == "sana-wm-tiny-test"
    assert len(data["hybrid_chunk_ms"]) == 3 and "all_softmax" not in data
    assert data["hybrid"]["reanchors"] == 0  # a model without a trained context never re-anchors


def test_bench_stream_counts_reanchors_and_takes_fps_from_the_mean(tmp_path, capsys):
    model = ModelBundle.random("sana-wm-tiny-test", frame_size=(64, 32), seed=3)
    model.context_frames = 10  # chunks 3, 5, 7, ... re-anchor
    folder = save_bundle(model, tmp_path / "model")
    out = tmp_path / "bench.json"
    code = main(["bench", "stream", "--model", str(folder), "--chunks", "10", "--no-softmax-baseline", "--quiet",
                 "--json", str(out)])  # fmt: skip
    assert code == 0
    assert "re-anchored its context in 4 of 10 chunks" in capsys.readouterr().out
    hybrid = json.loads(out.read_text())["hybrid"]
    assert hybrid["reanchors"] == 4
    # both figures are rounded to 0.1 in the JSON: allow that rounding (it matters on a slow, busy machine)
    assert hybrid["generated_fps_late"] == pytest.approx(24 / (hybrid["late_mean_ms"] / 1000), rel=0.01, abs=0.06)


@pytest.mark.parametrize(
    "argv, message",
    [(["--chunks", "1"], "--chunks"), (["--size", "70x32"], "multiples of --spatial-factor")],
)
def test_bench_stream_rejects_bad_options(argv, message, capsys):
    assert main(["bench", "stream", "--quiet", *argv]) == 2
    assert message in capsys.readouterr().err


def test_bench_stream_reports_the_world_cache_of_a_model_with_a_depth_estimator(tmp_path, capsys):
    from engine.depth.estimator import save_depth_weights
    from engine.depth.net import DepthNet, DepthNetConfig

    folder = save_bundle(ModelBundle.random("sana-wm-tiny-test", frame_size=(96, 64), seed=3), tmp_path / "model")
    save_depth_weights(DepthNet(DepthNetConfig(widths=(8, 8, 8, 8))), folder / "depth.safetensors")
    out = tmp_path / "bench.json"
    code = main(["bench", "stream", "--model", str(folder), "--chunks", "4", "--no-softmax-baseline", "--quiet",
                 "--json", str(out)])  # fmt: skip
    assert code == 0
    assert "world cache (depth + fusion, included above)" in capsys.readouterr().out
    hybrid = json.loads(out.read_text())["hybrid"]
    assert hybrid["world_ms_late"] > 0 and 0 < hybrid["world_mb_at_n"] <= 40_000 * 24 / 2**20
