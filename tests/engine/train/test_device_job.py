"""The device job's pieces that run without a GPU: the render plan, checkpoints in parts that come back checked,
and a run published to ``--out`` at each checkpoint, unpacked here, carried back and resumed."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from engine.bundles import load_embedded_bundle
from engine.errors import ConfigError, InputFileError
from engine.train.checkpoint import list_checkpoints, load_checkpoint
from engine.train.config import TrainConfig
from engine.train.device_job import (
    DEPTH_FILE,
    Job,
    JobOptions,
    carry,
    join_parts,
    main,
    plan_clips,
    split_file,
    throughput,
    unpack,
    verdict,
)
from engine.train.loop import train

CONFIG = TrainConfig(preset="sana-wm-tiny-test", frame_size=(48, 32), window_latent_frames=7, batch_size=2, steps=3,
                     warmup_steps=2, checkpoint_every=2, threads=1, seed=1)  # fmt: skip


def test_the_render_is_planned_in_whole_worlds_from_the_measured_seconds_per_clip():
    assert plan_clips(16, 120.0) == 604  # 16 workers x 110 s / 2.9 s, in worlds of 4 clips
    assert plan_clips(2, 5.0) == 4  # never less than one world


def test_a_file_comes_back_in_parts_that_are_checked_when_joined(tmp_path):
    data = np.random.default_rng(0).bytes(2500)
    (tmp_path / "big").write_bytes(data)
    out = tmp_path / "out"
    out.mkdir()
    (out / "ck.part7").write_bytes(b"old")  # not a stale part of this file: only .part3, .part4 ... are removed
    manifest = split_file(tmp_path / "big", out, "ck", part_bytes=1000)
    assert [m["bytes"] for m in manifest] == [1000, 1000, 500]
    assert join_parts(out, manifest, tmp_path / "joined").read_bytes() == data
    (out / "ck.part1").write_bytes(b"x" * 1000)
    with pytest.raises(InputFileError, match="ck.part1: expected 1000 bytes with SHA-256"):
        join_parts(out, manifest, tmp_path / "again")
    assert not (tmp_path / "again").exists()
    (tmp_path / "small").write_bytes(data[:900])
    assert len(split_file(tmp_path / "small", out, "ck", part_bytes=1000)) == 1
    assert sorted(os.listdir(out)) == ["ck.part0", "ck.part7"]


def test_each_checkpoint_goes_to_out_and_comes_back_as_a_run_that_resumes(tmp_path, clip_factory):
    clips = [clip_factory(i) for i in range(2)]
    job = Job(JobOptions(out=tmp_path / "out", work=tmp_path / "work", device="cpu"))
    job.out.mkdir()
    job.work.mkdir()
    run = tmp_path / "work/run"
    job.report["train"] = {"start_step": 0}
    train(CONFIG, clips, run, lambda r: job.on_step(r, CONFIG, clips, run))
    files = sorted(os.listdir(job.out))
    assert files == ["bundle.json", "checkpoint.pt.part0", "model.safetensors", "report.json", "report.md"]
    report = json.loads((job.out / "report.json").read_text())
    assert report["checkpoint"]["step"] == 3 and report["run_config"]["train"]["steps"] == 3  # the last one

    bundle = unpack(job.out, tmp_path / "runs/v2_gpu")
    assert (bundle / DEPTH_FILE).is_file() and load_embedded_bundle(bundle).extras["training"]["steps"] == 3
    back = load_checkpoint(tmp_path / "runs/v2_gpu/checkpoints/step_0000003.pt")
    assert back["optimizer"] == {} and back["step"] == 3
    assert (tmp_path / "runs/v2_gpu/loss.csv").is_file() and (tmp_path / "runs/v2_gpu/device_report_0000003.md").is_file()

    carried = carry(tmp_path / "runs/v2_gpu", tmp_path / "runs/v2_carry")
    assert [p.name for p in list_checkpoints(carried)] == ["step_0000003.pt"]
    longer = TrainConfig(**{**CONFIG.__dict__, "steps": 5})
    assert train(longer, clips, carried, resume=True).steps == 5

    stale = json.loads((job.out / "bundle.json").read_text())
    stale["extras"]["training"]["steps"] = 2  # a command killed between copying the bundle and the checkpoint
    (job.out / "bundle.json").write_text(json.dumps(stale))
    with pytest.raises(InputFileError, match="expected the bundle of step 3"):
        unpack(job.out, tmp_path / "runs/other")


def test_throughput_separates_the_step_from_the_wait_for_data():
    history = [{"step": s, "samples_per_s": 4.0, "data_wait_s": 0.75} for s in range(1, 16)]  # 1 s steps, batch 4
    measured = throughput(history, 0, batch=4)
    assert measured["steps_measured"] == 10 and measured["windows_per_s"] == 4.0
    assert measured["data_wait_share"] == 0.75 and measured["step_only_windows_per_s"] == 16.0


def test_the_verdict_compares_the_trained_model_with_the_shipped_one_at_every_horizon():
    def result(*psnr):
        return {"rows": [{"name": "model", "horizons": {f"{h}s": {"psnr": p} for h, p in zip((1, 5), psnr)}}]}

    shipped = result(22.0, 20.0)
    assert verdict({"trained": result(23.0, 21.0), "shipped": shipped}).startswith(
        "the trained model beats the shipped one at every horizon (1s: trained 23.00 dB vs shipped 22.00 dB")
    assert verdict({"trained": result(23.0, 19.0), "shipped": shipped}).startswith("the trained model does not beat")
    assert verdict({"trained": {"error": "stopped"}, "shipped": shipped}).startswith("no comparison")


def test_bad_options_and_a_resume_folder_without_a_run_are_refused_in_one_line(tmp_path, capsys):
    assert main(["--out", str(tmp_path / "out"), "--minutes", "0.5"]) == 2
    assert capsys.readouterr().err.strip() == "device_job: error: device job: --minutes: expected 1..60, found 0.5"
    job = Job(JobOptions(out=tmp_path / "out", work=tmp_path / "work", resume=tmp_path / "empty"))
    with pytest.raises(InputFileError, match="--resume .*empty: expected a run folder with config.json"):
        job.prepare_run()
    with pytest.raises(ConfigError, match="--render-seconds"):
        JobOptions(out=tmp_path, render_seconds=1.0)
