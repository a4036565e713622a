"""The training loop: the loss goes down, runs resume bit for bit, the run folder holds what it promises."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from engine.bundles import load_embedded_bundle
from engine.components.patch_codec import PatchDCTCodec
from engine.errors import ConfigError
from engine.generation.session import WorldSession
from engine.train import loop
from engine.train.checkpoint import list_checkpoints, load_checkpoint
from engine.train.config import TrainConfig, learning_rate
from engine.train.curves import read_loss_csv
from engine.train.data import TrainingData, median_intrinsics
from engine.train.loop import TrainingDiverged, build_model, make_optimizer, train
from engine.train.objective import LossOutput, ObjectiveConfig, flow_matching_loss

SIZE = (48, 32)
CONFIG = TrainConfig(
    preset="sana-wm-tiny-test", frame_size=SIZE, window_latent_frames=7, batch_size=2, steps=4, lr=2e-3,
    warmup_steps=1, checkpoint_every=2, keep_checkpoints=0, threads=1, seed=5,
)  # fmt: skip


class Stop(Exception):
    """Raised from a progress callback: a run killed right after a checkpoint."""


@pytest.fixture(scope="module")
def clips(clip_factory):
    return [clip_factory(i) for i in range(3)]


@pytest.fixture(scope="module")
def straight_run(tmp_path_factory, clips):
    out = tmp_path_factory.mktemp("straight")
    return out, train(CONFIG, clips, out)


def test_a_few_steps_lower_the_loss_on_a_fixed_batch(clips):
    config = TrainConfig(preset="sana-wm-tiny-test", frame_size=SIZE, lr=3e-3, weight_decay=0.0)
    model = build_model(config)
    optimizer = make_optimizer(model, config)
    batch = TrainingData(clips, PatchDCTCodec(8, 16), SIZE, 7, seed=0).batch(0, 2)
    losses = []
    for _ in range(10):  # same windows, same noise and timesteps every step
        out = flow_matching_loss(model, batch, ObjectiveConfig(), torch.Generator().manual_seed(0))
        optimizer.zero_grad()
        out.loss.backward()
        optimizer.step()
        losses.append(out.stats["loss"])
    assert losses[0] > 1.0  # starts at E|eps - x0|^2 (zero-initialised output)
    assert losses[-1] < 0.5 * losses[0], losses


def test_a_run_killed_after_a_checkpoint_resumes_bit_for_bit(tmp_path, clips, straight_run):
    straight, _ = straight_run
    out = tmp_path / "resumed"

    def kill_at_2(report):
        if report.step == 2:
            assert report.checkpoint is not None
            raise Stop

    with pytest.raises(Stop):
        train(CONFIG, clips, out, kill_at_2)
    assert [p.name for p in list_checkpoints(out)] == ["step_0000002.pt"] and not (out / "bundle").exists()
    result = train(CONFIG, clips, out, resume=True)
    assert result.steps == 4 and result.samples_seen == 8

    a = load_checkpoint(straight / "checkpoints/step_0000004.pt")
    b = load_checkpoint(out / "checkpoints/step_0000004.pt")
    for part in ("model", "ema"):
        assert a[part].keys() == b[part].keys()
        assert all(torch.equal(a[part][k], b[part][k]) for k in a[part]), part
    for key, state in a["optimizer"]["state"].items():
        assert all(torch.equal(state[name], b["optimizer"]["state"][key][name]) for name in state)
    losses = [[r["loss"] for r in read_loss_csv(run / "loss.csv")] for run in (out, straight)]
    assert losses[0] == losses[1]

    longer = train(TrainConfig(**{**CONFIG.__dict__, "steps": 5}), clips, out, resume=True)  # extend the run
    assert longer.steps == 5 and [r["step"] for r in read_loss_csv(out / "loss.csv")] == [1, 2, 3, 4, 5]
    assert [run["start_step"] for run in json.loads((out / "config.json").read_text())["runs"]] == [0, 2, 4]


def test_two_steps_then_resume_with_more_steps_equals_a_straight_run_on_a_constant_schedule(tmp_path, clips):
    constant = TrainConfig(**{**CONFIG.__dict__, "lr_schedule": "constant"})  # cosine depends on the total steps
    straight = train(constant, clips, tmp_path / "straight")
    train(TrainConfig(**{**constant.__dict__, "steps": 2}), clips, tmp_path / "pieces")
    pieces = train(constant, clips, tmp_path / "pieces", resume=True)
    a, b = load_checkpoint(straight.last_checkpoint), load_checkpoint(pieces.last_checkpoint)
    assert all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])
    assert all(torch.equal(a["ema"][k], b["ema"][k]) for k in a["ema"])


def test_a_checkpoint_holds_weights_ema_optimizer_rng_data_position_and_config(straight_run, clips):
    out, _ = straight_run
    assert [p.name for p in list_checkpoints(out)] == ["step_0000002.pt", "step_0000004.pt"]
    ckpt = load_checkpoint(out / "checkpoints/step_0000004.pt")
    assert ckpt["step"] == 4 and ckpt["samples_seen"] == 8 and ckpt["wall_time_s"] > 0
    fresh = build_model(CONFIG)
    fresh.load_state_dict(ckpt["model"])  # strict: every key, every shape
    fresh.load_state_dict(ckpt["ema"])
    assert any(not torch.equal(ckpt["model"][k], ckpt["ema"][k]) for k in ckpt["model"])  # EMA is not a copy
    states = ckpt["optimizer"]["state"]
    batch = TrainingData(clips, PatchDCTCodec(8, 16), SIZE, 7, seed=0).batch(0, 1)
    flow_matching_loss(fresh, batch, ObjectiveConfig(), torch.Generator().manual_seed(0)).loss.backward()
    trained = sum(1 for p in fresh.parameters() if p.grad is not None)  # e.g. GDN gates of softmax blocks get none
    assert len(states) == trained
    assert all(float(s["step"]) == 4 and "exp_avg" in s and "exp_avg_sq" in s for s in states.values())
    assert {"torch", "numpy", "python", "cuda"} <= set(ckpt["rng"])
    assert json.loads(ckpt["config"]) == CONFIG.to_dict()
    assert [row["step"] for row in ckpt["history"]] == [1, 2, 3, 4]


def test_the_run_folder_records_the_config_the_loss_and_a_loadable_bundle_of_the_ema_weights(straight_run, clips):
    out, result = straight_run
    record = json.loads((out / "config.json").read_text())
    assert record["train"] == CONFIG.to_dict() and record["model"]["depth"] == 4 and record["parameters"] > 0
    env = record["runs"][0]["environment"]
    assert env["torch"] == torch.__version__ and env["threads"] == 1 and env["device"] == "cpu"
    rows = read_loss_csv(out / "loss.csv")
    assert [r["step"] for r in rows] == [1, 2, 3, 4] and all(math.isfinite(r["loss"]) for r in rows)
    assert (out / "loss.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    bundle = load_embedded_bundle(result.bundle_dir)
    ema = load_checkpoint(result.last_checkpoint)["ema"]
    assert all(torch.equal(v, ema[k]) for k, v in bundle.transformer.state_dict().items())
    assert bundle.frame_size == SIZE and bundle.codec.latent_channels == 8
    np.testing.assert_allclose(bundle.default_intrinsics, median_intrinsics(clips, SIZE))
    summary = bundle.extras["training"]
    assert summary["steps"] == 4 and summary["samples_seen"] == 8 and summary["weights"] == "EMA"
    assert summary["wall_time_s"] > 0 and summary["device"] == "cpu" and summary["torch"] == torch.__version__

    session = WorldSession(bundle)  # the bundle streams as the explorer would run it
    session.start(clips[0].frames[0])
    record = session.step(np.repeat(np.eye(4)[None], session.frames_per_chunk, axis=0))
    assert record.frames.shape == (25, 32, 48, 3)


def test_bf16_autocast_trains_and_changes_the_numerics(tmp_path, clips, straight_run):
    _, fp32 = straight_run
    config = TrainConfig(**{**CONFIG.__dict__, "steps": 2, "bf16": True})
    out = tmp_path / "bf16"
    train(config, clips, out)
    bf16_loss = [r["loss"] for r in read_loss_csv(out / "loss.csv")]
    fp32_loss = [r["loss"] for r in read_loss_csv(fp32.out_dir / "loss.csv")][:2]
    assert all(math.isfinite(v) for v in bf16_loss)
    assert bf16_loss[0] == fp32_loss[0]  # the zero-initialised output layer: v = 0 in any precision
    assert bf16_loss[1] != pytest.approx(fp32_loss[1], rel=1e-7)  # after one step autocast shows


def test_occupied_folders_missing_checkpoints_and_changed_settings_are_refused(tmp_path, clips, straight_run):
    out, _ = straight_run
    with pytest.raises(ConfigError, match="already holds a training run"):
        train(CONFIG, clips, out)
    with pytest.raises(ConfigError, match="lr: 0.002 -> 0.1"):
        train(TrainConfig(**{**CONFIG.__dict__, "lr": 0.1}), clips, out, resume=True)
    with pytest.raises(ConfigError, match="no checkpoint"):
        train(CONFIG, clips, tmp_path, resume=True)
    (tmp_path / "config.json").write_text("{}")  # a run killed before its first checkpoint: start again
    assert train(TrainConfig(**{**CONFIG.__dict__, "steps": 1}), clips, tmp_path).steps == 1


def test_a_non_finite_loss_stops_the_run_with_advice(tmp_path, clips, monkeypatch):
    def nan_loss(model, batch, config, generator, autocast=None):
        out = flow_matching_loss(model, batch, config, generator)
        return LossOutput(out.loss * float("nan"), {**out.stats, "loss": float("nan")}, out.schedule)

    monkeypatch.setattr(loop, "flow_matching_loss", nan_loss)
    with pytest.raises(TrainingDiverged, match="lower the learning rate"):
        train(CONFIG, clips, tmp_path / "nan")


def test_learning_rate_warms_up_then_decays_to_the_floor():
    config = TrainConfig(lr=1e-3, warmup_steps=10, steps=110, min_lr_ratio=0.1)
    assert learning_rate(config, 0) == pytest.approx(1e-4) and learning_rate(config, 9) == pytest.approx(1e-3)
    assert learning_rate(config, 60) == pytest.approx(0.55e-3) and learning_rate(config, 110) == pytest.approx(1e-4)
    constant = TrainConfig(lr=1e-3, warmup_steps=0, lr_schedule="constant")
    assert learning_rate(constant, 0) == learning_rate(constant, 999) == 1e-3


def test_text_conditioned_presets_and_bad_settings_are_refused():
    with pytest.raises(ConfigError, match="caption_channels"):
        TrainConfig(preset="sana-wm-1600m-720p").model_config()
    with pytest.raises(ConfigError, match="not a multiple of the spatial factor"):
        TrainConfig(frame_size=(50, 32))
    with pytest.raises(ConfigError, match="unknown training config field"):
        TrainConfig.from_dict({"learning_rate": 1.0})
    assert TrainConfig.from_dict(CONFIG.to_dict()) == CONFIG


def test_init_from_starts_a_fine_tune_from_a_bundle_and_refuses_a_different_model(tmp_path, clips, straight_run):
    out, result = straight_run
    config = TrainConfig(**{**CONFIG.__dict__, "init_from": str(result.bundle_dir), "seed": 11})
    model = build_model(config)
    shipped = load_embedded_bundle(result.bundle_dir).transformer.state_dict()
    assert all(torch.equal(v, shipped[k]) for k, v in model.state_dict().items())
    fresh = build_model(TrainConfig(**{**CONFIG.__dict__, "seed": 11}))
    assert not torch.equal(fresh.final_layer.linear.weight, model.final_layer.linear.weight)  # not a fresh init

    tuned = train(TrainConfig(**{**config.__dict__, "steps": 1}), clips, tmp_path / "tuned")
    assert json.loads((tuned.out_dir / "config.json").read_text())["train"]["init_from"] == str(result.bundle_dir)
    lineage = load_embedded_bundle(tuned.bundle_dir)
    assert lineage.label == "trained 4 steps on 3 clips, then 1 steps"  # the base bundle's label first
    assert lineage.extras["training"]["init_from"]["training"]["steps"] == 4

    deeper = TrainConfig(**{**config.__dict__, "model_overrides": {"depth": 2}})
    with pytest.raises(ConfigError, match="depth: run 2, bundle 4"):
        build_model(deeper)
    with pytest.raises(ConfigError, match=r"frame size: run \(64, 32\), bundle \(48, 32\)"):
        build_model(TrainConfig(**{**config.__dict__, "frame_size": (64, 32)}))


def test_a_run_recorded_before_newer_settings_existed_still_resumes(tmp_path, clips):
    config = TrainConfig(**{**CONFIG.__dict__, "steps": 2})
    out = tmp_path / "old"
    train(config, clips, out)
    path = list_checkpoints(out)[-1]
    payload = torch.load(path, weights_only=False)
    old = json.loads(payload["config"])
    del old["init_from"], old["objective"]["self_rollout_prob"]  # the config as an older version wrote it
    payload["config"] = json.dumps(old, sort_keys=True)
    torch.save(payload, path)
    assert train(TrainConfig(**{**config.__dict__, "steps": 3}), clips, out, resume=True).steps == 3


def test_max_minutes_ends_a_run_with_a_checkpoint_and_a_bundle_and_resume_finishes_it_bit_for_bit(
        tmp_path, clips, straight_run):  # fmt: skip
    out = tmp_path / "budget"
    stopped = train(CONFIG, clips, out, max_minutes=1e-9)  # past the budget after the first step
    assert stopped.stopped_early and stopped.steps == 1
    assert stopped.last_checkpoint == out / "checkpoints/step_0000001.pt"
    assert load_embedded_bundle(stopped.bundle_dir).extras["training"]["steps"] == 1
    finished = train(CONFIG, clips, out, resume=True, max_minutes=60)
    assert not finished.stopped_early and finished.steps == 4
    a, b = load_checkpoint(straight_run[1].last_checkpoint), load_checkpoint(finished.last_checkpoint)
    assert all(torch.equal(a[key][k], b[key][k]) for key in ("model", "ema") for k in a[key])
    with pytest.raises(ConfigError, match="max_minutes"):
        train(CONFIG, clips, tmp_path / "none", max_minutes=0)


def test_checkpoint_minutes_adds_checkpoints_by_wall_clock(tmp_path, clips):
    config = TrainConfig(**{**CONFIG.__dict__, "steps": 3, "checkpoint_every": 100, "checkpoint_minutes": 1e-9})
    train(config, clips, tmp_path / "timed")
    assert [p.name for p in list_checkpoints(tmp_path / "timed")] == [f"step_000000{i}.pt" for i in (1, 2, 3)]
    with pytest.raises(ConfigError, match="checkpoint_minutes"):
        TrainConfig(checkpoint_minutes=-1)


def test_a_checkpoint_without_optimizer_state_resumes_with_fresh_moments(tmp_path, clips, straight_run):
    from engine.train.checkpoint import strip_optimizer

    source, _ = straight_run
    out = tmp_path / "stripped"
    (out / "checkpoints").mkdir(parents=True)
    (out / "config.json").write_text((source / "config.json").read_text())
    full = source / "checkpoints/step_0000002.pt"
    slim = strip_optimizer(full, out / "checkpoints/step_0000002.pt")
    assert slim.stat().st_size < 0.75 * full.stat().st_size and load_checkpoint(slim)["optimizer"] == {}
    result = train(CONFIG, clips, out, resume=True)
    assert result.steps == 4 and math.isfinite(result.final_loss)
    final = load_checkpoint(result.last_checkpoint)
    assert all(float(s["step"]) == 2 for s in final["optimizer"]["state"].values())  # the moments restarted at step 2
    warmup = TrainConfig(**{**CONFIG.__dict__, "warmup_steps": 4})
    assert learning_rate(warmup, 5, rewarm_from=4) == pytest.approx(0.5 * learning_rate(warmup, 5))  # warms up again
    assert final["rewarm_from"] == 2
    assert [row["lr"] for row in final["history"]] == [learning_rate(CONFIG, s, 2 if s >= 2 else None) for s in range(4)]


def test_data_workers_train_the_same_steps_as_the_training_process(tmp_path, clips):
    config = TrainConfig(**{**CONFIG.__dict__, "steps": 2})
    alone = train(config, clips, tmp_path / "alone")
    workers = train(TrainConfig(**{**config.__dict__, "data_workers": 2}), clips, tmp_path / "workers")
    a, b = load_checkpoint(alone.last_checkpoint), load_checkpoint(workers.last_checkpoint)
    assert all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])
    assert [r["loss"] for r in a["history"]] == [r["loss"] for r in b["history"]]


def test_a_run_with_re_anchored_windows_trains_them_and_logs_their_share(tmp_path, clip_factory):
    clips = [clip_factory(i, num_frames=73) for i in range(2)]  # 10 latent frames: 3 chunks
    config = TrainConfig(preset="sana-wm-tiny-test", frame_size=SIZE, window_latent_frames=10, batch_size=1, steps=3,
                         warmup_steps=1, threads=1, seed=3, objective=ObjectiveConfig(reanchor_prob=0.5))  # fmt: skip
    train(config, clips, tmp_path / "run")
    rows = read_loss_csv(tmp_path / "run" / "loss.csv")
    shares = [r["reanchored"] for r in rows]
    assert set(shares) == {0.0, 1.0}, shares  # this seed draws both kinds of batch
    assert all(math.isfinite(r["loss"]) for r in rows)
