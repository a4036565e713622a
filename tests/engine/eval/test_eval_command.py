"""``sana-wm eval`` end to end on a tiny saved model: table on stdout, JSON and markdown files."""

import json

import pytest
import torch

from engine.bundles import ModelBundle, save_bundle
from engine.cli import main


@pytest.fixture
def tiny_model(tmp_path):
    torch.set_num_threads(1)
    return save_bundle(ModelBundle.random("sana-wm-tiny-test", frame_size=(64, 32), spatial_factor=16), tmp_path / "m")


def test_eval_command_writes_table_json_and_markdown(tiny_model, tmp_path, capsys):
    out, md = tmp_path / "eval.json", tmp_path / "eval.md"
    argv = ["eval", "--model", str(tiny_model), "--scenes", "1", "--horizons", "1", "--drift-seconds", "1",
            "--window", "0", "--no-baselines", "--threads", "1", "--quiet", "--json", str(out), "--markdown", str(md),
            "--figure", str(tmp_path / "fig.png"), "--exposure", "2"]  # fmt: skip
    assert main(argv) == 0
    assert (tmp_path / "fig.png").stat().st_size > 0
    table = capsys.readouterr().out
    assert "| model |" in table and "PSNR 1s" in table
    data = json.loads(out.read_text())
    assert [r["name"] for r in data["rows"]] == ["model"]
    assert data["rows"][0]["horizons"]["1s"]["psnr"] > 0
    assert md.read_text().strip() == table.strip()
    assert "| 1 | 3.0 |" in table and "teacher-forced" in table  # the exposure table: chunk 1 ends at 3 s
    assert len(data["exposure"]["free"]) == len(data["exposure"]["teacher_forced"]) == 2


def test_no_reanchor_is_passed_to_the_rollouts_and_noted(tmp_path, capsys):
    model = ModelBundle.random("sana-wm-tiny-test", frame_size=(64, 32), spatial_factor=16)
    model.context_frames = 7
    folder = save_bundle(model, tmp_path / "m")
    out = tmp_path / "eval.json"
    argv = ["eval", "--model", str(folder), "--scenes", "1", "--horizons", "1", "--drift-seconds", "1",
            "--window", "0", "--no-baselines", "--threads", "1", "--quiet", "--json", str(out), "--no-reanchor"]
    assert main(argv) == 0
    assert "re-anchoring off (the model's trained context is 7 latent frames)" in capsys.readouterr().out
    data = json.loads(out.read_text())
    assert data["config"]["reanchor"] is False and data["context_frames"] == 7


def test_eval_command_rejects_zero_scenes_in_one_line(capsys):
    assert main(["eval", "--quiet", "--scenes", "0"]) == 2
    assert "scenes" in capsys.readouterr().err
    assert main(["eval", "--quiet", "--exposure", "-1"]) == 2
    assert "exposure chunks: expected 0 (off) or more, found -1" in capsys.readouterr().err
    assert main(["eval", "--quiet", "--scenes", "2", "--figure-world", "2", "--figure", "f.png"]) == 2
    assert "figure world: expected an index in 0..1 (one per scene), found 2" in capsys.readouterr().err
    assert main(["eval", "--quiet", "--figure-world", "1"]) == 2
    assert "--figure-world 1: only used with --figure PNG" in capsys.readouterr().err


def test_eval_command_rejects_bad_horizons(capsys):
    with pytest.raises(SystemExit):
        main(["eval", "--quiet", "--horizons", "1,x"])
    assert "seconds" in capsys.readouterr().err


def test_eval_command_checks_output_folders_before_running(capsys, tmp_path):
    missing = tmp_path / "no" / "fig.png"
    assert main(["eval", "--scenes", "1", "--quiet", "--figure", str(missing)]) == 2
    err = capsys.readouterr().err
    assert "--figure" in err and "no folder" in err and len(err.strip().splitlines()) == 1


@pytest.fixture
def streams(monkeypatch):
    """``(bundle label, StreamSettings)`` of every rollout the eval makes, in order (the model's rows first)."""
    import engine.eval.protocol as protocol

    seen = []
    real = protocol.rollout

    def recording(bundle, *args, settings=None, **kwargs):
        seen.append((bundle.label, settings))
        return real(bundle, *args, settings=settings, **kwargs)

    monkeypatch.setattr(protocol, "rollout", recording)
    return seen


def quick_eval(tiny_model, out, *flags: str) -> int:
    """One world, one horizon, a 1 s drift check, JSON to ``out``."""
    return main(["eval", "--model", str(tiny_model), "--scenes", "1", "--horizons", "1", "--drift-seconds", "1",
                 "--window", "0", "--threads", "1", "--quiet", "--json", str(out), *flags])  # fmt: skip


def test_contrast_floor_reaches_the_model_rollouts_only_and_bad_values_are_named(tiny_model, tmp_path, capsys,
                                                                                 streams):
    out = tmp_path / "eval.json"
    assert quick_eval(tiny_model, out, "--contrast-floor", "0.7") == 0
    assert json.loads(out.read_text())["config"]["contrast_floor"] == 0.7
    floors = [settings.contrast_floor for _, settings in streams]
    assert floors[:2] == [0.7, 0.7]  # the model: its path and its revisit path
    assert len(floors) > 2 and set(floors[2:]) == {None}  # the untrained baseline streams with its own (none)
    capsys.readouterr()
    assert main(["eval", "--quiet", "--contrast-floor", "2"]) == 2
    assert "contrast floor: expected a share of the start image's contrast in [0, 1], found 2.0" in capsys.readouterr().err


def test_the_stream_seed_reaches_every_stream_and_the_record(tiny_model, tmp_path, streams, capsys):
    out = tmp_path / "eval.json"
    assert quick_eval(tiny_model, out, "--stream-seed", "7") == 0
    assert json.loads(out.read_text())["config"]["session_seed"] == 7
    seeds = [settings.seed for _, settings in streams]
    assert len(seeds) > 2 and set(seeds) == {7}  # the model's streams and the baselines' alike
    capsys.readouterr()
    assert main(["eval", "--quiet", "--stream-seed", "-3"]) == 2
    err = capsys.readouterr().err
    assert "--stream-seed: expected a number in [0, " in err and "found -3" in err and len(err.strip().splitlines()) == 1
