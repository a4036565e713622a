"""`sana-wm depth` and the depth options of `sana-wm synth`, end to end on tiny inputs."""

from __future__ import annotations

import json

from PIL import Image

from engine.cli import EXIT_INPUT_ERROR, main
from engine.depth.estimator import load_depth_net
from engine.depth.train import DepthTrainConfig, train
from engine.synth.dataset import read_clip


def run(capsys, *argv):
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_preview_depth_puts_each_frames_depth_under_it(tmp_path, capsys):
    code, _, _ = run(capsys, "synth", "preview", "--out", str(tmp_path / "p.png"), "--frames", "9", "--size", "64x36",
                     "--every", "4", "--theme", "town", "--depth")
    assert code == 0 and Image.open(tmp_path / "p.png").size == (64 * 3 + 2 * 2, 36 * 2)


def test_dataset_no_depth_leaves_depth_out(tmp_path, capsys):
    code, _, _ = run(capsys, "synth", "dataset", "--out", str(tmp_path), "--clips", "1", "--frames", "9",
                     "--size", "64x36", "--quality", "fast", "--no-depth")
    assert code == 0 and read_clip(tmp_path / "clips" / "clip_000000.npz")["depth"] is None


def test_export_then_eval_a_tiny_run(tmp_path, capsys):
    run_dir = tmp_path / "run"
    train(run_dir, DepthTrainConfig(widths=(4, 8), size=(64, 32), crop=(48, 32), batch_size=2, steps=1, warmup_steps=1,
                                    pool_clips=2, refresh_every=1, heldout_clips=1))  # fmt: skip
    code, stdout, _ = run(capsys, "depth", "export", "--run", str(run_dir), "--out", str(tmp_path / "depth.safetensors"))
    assert code == 0 and "step 1" in stdout
    assert load_depth_net(tmp_path / "depth.safetensors").config.widths == (4, 8)
    data = tmp_path / "data"
    assert run(capsys, "synth", "dataset", "--out", str(data), "--clips", "1", "--frames", "9", "--size", "64x32")[0] == 0
    code, stdout, _ = run(capsys, "depth", "eval", "--weights", str(tmp_path / "depth.safetensors"), "--data", str(data),
                          "--threads", "1", "--json", str(tmp_path / "r.json"))
    assert code == 0 and "AbsRel" in stdout and "ms per frame" in stdout
    assert set(json.loads((tmp_path / "r.json").read_text())) >= {"abs_rel", "delta1", "ms_per_frame"}


def test_bad_inputs_are_one_line_errors(tmp_path, capsys):
    code, _, err = run(capsys, "depth", "eval", "--weights", str(tmp_path / "none.safetensors"))
    assert code == EXIT_INPUT_ERROR and "none.safetensors: not found" in err
    code, _, err = run(capsys, "depth", "train", "--out", str(tmp_path / "r"), "--resume")
    assert code == EXIT_INPUT_ERROR and "no checkpoints to resume" in err
    code, _, err = run(capsys, "depth", "export", "--run", str(tmp_path), "--out", str(tmp_path / "x.safetensors"))
    assert code == EXIT_INPUT_ERROR and "holds no checkpoints" in err
