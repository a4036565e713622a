"""``sana-wm train`` (engine/commands/train.py) on a tiny dataset folder: the run folder, resume, input errors."""

from __future__ import annotations

import json

import pytest

from engine.bundles import load_embedded_bundle
from engine.cli import main
from engine.train.curves import read_loss_csv

TINY = ["--preset", "sana-wm-tiny-test", "--batch", "2", "--warmup", "1", "--threads", "1", "--quiet"]


@pytest.fixture
def dataset(tmp_path, clip_factory, dataset_writer):
    return dataset_writer(tmp_path / "data", [clip_factory(i) for i in range(2)])


def test_train_writes_config_loss_log_checkpoints_and_a_loadable_bundle(tmp_path, dataset, capsys):
    out = tmp_path / "run"
    argv = ["train", "--data", str(dataset), "--out", str(out), *TINY, "--steps", "3", "--checkpoint-every", "2",
            "--window", "4", "--override", "depth=2", "--clean-context-prob", "1", "--seed", "9"]  # fmt: skip
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "trained 3 steps (6 samples)" in printed and str(out / "bundle") in printed

    record = json.loads((out / "config.json").read_text())
    train = record["train"]
    assert train["frame_size"] == [48, 32]  # taken from the data
    assert train["model_overrides"] == {"depth": 2} and record["model"]["depth"] == 2
    assert train["window_latent_frames"] == 4 and train["seed"] == 9 and train["data"] == str(dataset)
    assert train["objective"]["clean_context_prob"] == 1.0 and record["data"]["clips"] == 2
    assert record["runs"][0]["environment"]["threads"] == 1
    assert [r["step"] for r in read_loss_csv(out / "loss.csv")] == [1, 2, 3]
    assert (out / "loss.png").read_bytes()[:4] == b"\x89PNG"
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == ["step_0000002.pt", "step_0000003.pt"]
    bundle = load_embedded_bundle(out / "bundle")
    assert bundle.config.depth == 2 and bundle.frame_size == (48, 32) and bundle.extras["training"]["steps"] == 3

    # resume with the recorded settings and more steps; a changed setting is refused with exit code 2
    assert main(["train", "--data", str(dataset), "--out", str(out), "--resume", "--steps", "4", "--quiet"]) == 0
    assert [r["step"] for r in read_loss_csv(out / "loss.csv")] == [1, 2, 3, 4]
    assert main(["train", "--data", str(dataset), "--out", str(out), "--resume", "--lr", "1", "--quiet"]) == 2
    assert "only checkpoint_every" in capsys.readouterr().err

    # a recorded config.json starts a new run with the same settings (flags still override)
    again = tmp_path / "again"
    assert main(["train", "--data", str(dataset), "--out", str(again), "--config", str(out / "config.json"),
                 "--steps", "1", "--quiet"]) == 0  # fmt: skip
    replayed = json.loads((again / "config.json").read_text())["train"]
    assert replayed == {**train, "steps": 1}


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--window", "5"], "1 + 3k latent frames"),
        (["--size", "64x32"], "expected the training frame size 64x32"),
        (["--override", "depth"], "expected FIELD=VALUE"),
        (["--override", "width=3"], "unknown SanaWMConfig field"),
        (["--frame-stats-weight", "-1"], "frame_stats_weight must be >= 0, got -1.0"),
        (["--context-haze-prob", "2"], "context_haze_prob must be in [0, 1], got 2.0"),
        (["--context-haze-contrast", "1.5"], "context_haze_contrast must be in [0, 1], got 1.5"),
    ],
)
def test_bad_options_exit_2_with_one_line(tmp_path, dataset, capsys, extra, message):
    argv = ["train", "--data", str(dataset), "--out", str(tmp_path / "run"), *TINY, "--steps", "1", *extra]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


def test_the_palette_objectives_reach_the_recorded_config_and_the_loss_log(tmp_path, dataset):
    out = tmp_path / "run"
    assert main(["train", "--data", str(dataset), "--out", str(out), *TINY, "--steps", "2", "--quiet",
                 "--frame-stats-weight", "0.5", "--context-haze-prob", "1", "--context-haze-contrast", "0.4",
                 "--context-haze-shift", "0.2"]) == 0  # fmt: skip
    objective = json.loads((out / "config.json").read_text())["train"]["objective"]
    assert (objective["frame_stats_weight"], objective["context_haze_prob"], objective["context_haze_contrast"],
            objective["context_haze_shift"]) == (0.5, 1.0, 0.4, 0.2)  # fmt: skip
    rows = read_loss_csv(out / "loss.csv")
    assert [r["step"] for r in rows] == [1, 2] and all(r["frame_stats"] >= 0 for r in rows)


def test_a_folder_without_an_index_is_not_a_dataset(tmp_path, capsys):
    assert main(["train", "--data", str(tmp_path), "--out", str(tmp_path / "run"), "--quiet"]) == 2
    assert "index.json" in capsys.readouterr().err


def test_trains_on_a_sana_wm_synth_dataset_with_jpeg_frames(tmp_path):
    """The real pipeline: ``sana-wm synth dataset`` (JPEG frames by default) -> ``sana-wm train`` -> a bundle."""
    from engine.bundles import load_embedded_bundle
    from engine.cli import main

    data, run = tmp_path / "synth", tmp_path / "run"
    assert main(["synth", "dataset", "--out", str(data), "--clips", "2", "--frames", "25", "--size", "64x32",
                 "--quality", "fast"]) == 0  # fmt: skip
    assert main(["train", "--data", str(data), "--out", str(run), "--preset", "sana-wm-tiny-test", "--size", "64x32",
                 "--steps", "1", "--batch", "1", "--window", "4", "--threads", "1", "--quiet"]) == 0  # fmt: skip
    assert load_embedded_bundle(run / "bundle").frame_size == (64, 32)


def test_init_from_and_self_rollout_fine_tune_a_trained_bundle(tmp_path, dataset, capsys):
    base = tmp_path / "base"
    assert main(["train", "--data", str(dataset), "--out", str(base), *TINY, "--steps", "1", "--window", "4"]) == 0
    tuned = tmp_path / "tuned"
    argv = ["train", "--data", str(dataset), "--out", str(tuned), *TINY, "--steps", "1", "--window", "7",
            "--init-from", str(base / "bundle"), "--self-rollout-prob", "1"]  # fmt: skip
    assert main(argv) == 0
    train = json.loads((tuned / "config.json").read_text())["train"]
    assert train["init_from"] == str((base / "bundle").resolve()) and train["objective"]["self_rollout_prob"] == 1.0
    assert load_embedded_bundle(tuned / "bundle").extras["train_config"]["init_from"] == train["init_from"]

    capsys.readouterr()
    bad = ["train", "--data", str(dataset), "--out", str(tmp_path / "x"), *TINY, "--steps", "1"]
    assert main([*bad, "--init-from", str(dataset)]) == 2
    err = capsys.readouterr().err
    assert "--init-from" in err and "bundle.json" in err and len(err.strip().splitlines()) == 1
    assert main([*bad, "--self-rollout-prob", "2"]) == 2
    assert "self_rollout_prob must be in [0, 1], got 2.0" in capsys.readouterr().err


def test_max_minutes_stops_the_run_with_a_checkpoint_and_says_how_to_continue(tmp_path, dataset, capsys):
    out = tmp_path / "run"
    argv = ["train", "--data", str(dataset), "--out", str(out), *TINY, "--steps", "50", "--window", "4",
            "--max-minutes", "1e-9", "--checkpoint-minutes", "0.5"]  # fmt: skip
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "stopped after --max-minutes 1e-09 at step 1 of 50" in printed and "--resume" in printed
    assert [p.name for p in (out / "checkpoints").iterdir()] == ["step_0000001.pt"]
    assert json.loads((out / "config.json").read_text())["train"]["checkpoint_minutes"] == 0.5
    assert main(["train", "--data", str(dataset), "--out", str(tmp_path / "bad"), *TINY, "--max-minutes", "0"]) == 2
    assert "max_minutes: expected a positive number" in capsys.readouterr().err
