"""Dataset clips: seeded and worker-independent, a lossless/JPEG round trip, an index, resuming."""

from __future__ import annotations

import json

import numpy as np
import pytest

from engine.camera.actions import action_to_c2w
from engine.camera.poses import relative_to_first
from engine.errors import ConfigError, InputFileError
from engine.synth import dataset
from engine.synth.dataset import (
    FORMAT,
    ClipMaker,
    DatasetConfig,
    clip_spec,
    generate_dataset,
    read_clip,
    read_index,
    write_clip,
)

SMALL = dict(clips=2, num_frames=9, size=(64, 36), clips_per_world=2, themes=("ruins",))


@pytest.fixture(scope="module")
def clip(renderer):
    maker = ClipMaker(DatasetConfig(seed=3, **SMALL), renderer=renderer)
    return maker.make(1)


def test_raw_round_trip_is_lossless_and_complete(tmp_path, clip):
    path = tmp_path / "c.npz"
    write_clip(clip, path, codec="raw")
    data = read_clip(path)
    assert np.array_equal(data["frames"], clip.frames) and data["frames"].shape == (9, 36, 64, 3)
    assert np.array_equal(data["c2w"], clip.plan.c2w) and np.array_equal(data["intrinsics"], clip.plan.intrinsics)
    assert list(data["image_size"]) == [64, 36] and data["fps"] == 16.0
    assert data["action"] == clip.plan.action and data["theme"] == "ruins" and data["seed"] == clip.spec.seed
    assert data["convention"] == "opencv_c2w" and data["revisits"].shape[1] == 2
    reproduced = action_to_c2w(data["action"], version=data["action_version"], translation_speed=data["translation_speed"],
                               rotation_speed_deg=data["rotation_speed_deg"], smooth=data["smooth"])
    assert np.allclose(relative_to_first(data["c2w"]), reproduced, atol=1e-9)


def test_jpeg_round_trip_is_close_and_metadata_only_reads_skip_frames(tmp_path, clip):
    path = tmp_path / "c.npz"
    write_clip(clip, path, codec="jpeg", quality=95)
    data = read_clip(path)
    err = data["frames"].astype(np.float64) - clip.frames
    psnr = 10 * np.log10(255.0**2 / np.mean(err**2))
    assert psnr > 33.0
    meta = read_clip(path, frames=False)
    assert "frames" not in meta and meta["action"] == clip.plan.action


def test_clips_depend_on_seed_and_index_only(renderer, tmp_path):
    config = DatasetConfig(seed=3, **SMALL)
    a = ClipMaker(config, renderer=renderer).make(1)
    fresh = ClipMaker(config, renderer=renderer).make(1)  # without rendering clip 0 first
    assert np.array_equal(a.frames, fresh.frames) and a.plan.action == fresh.plan.action
    assert clip_spec(config, 0).world_seed == clip_spec(config, 1).world_seed  # two clips per world
    assert clip_spec(config, 0).seed != clip_spec(config, 1).seed
    other = clip_spec(DatasetConfig(seed=4, **SMALL), 1)
    assert other.seed != a.spec.seed and other.world_seed != a.spec.world_seed


def test_generate_writes_index_and_resumes_without_rerendering(tmp_path):
    config = DatasetConfig(seed=1, **SMALL)
    seen = []
    index_path = generate_dataset(tmp_path, config, progress=seen.append)
    index = read_index(tmp_path)
    assert index_path == tmp_path / "index.json" and index["format"] == FORMAT
    assert [c["file"] for c in index["clips"]] == ["clips/clip_000000.npz", "clips/clip_000001.npz"]
    assert index["num_frames"] == 9 and index["image_size"] == [64, 36]
    assert seen[-1].done == 2 and seen[-1].skipped == 0
    stamp = (tmp_path / "clips/clip_000001.npz").stat().st_mtime_ns
    seen.clear()
    generate_dataset(tmp_path, config, progress=seen.append)
    assert seen[-1].skipped == 2
    assert (tmp_path / "clips/clip_000001.npz").stat().st_mtime_ns == stamp
    assert json.loads((tmp_path / "index.json").read_text()) == index
    with pytest.raises(ConfigError, match="another configuration"):
        generate_dataset(tmp_path, DatasetConfig(seed=2, **SMALL))


def test_a_worker_process_writes_the_same_clip_as_the_main_process(tmp_path, clip, monkeypatch):
    # the worker entry points, run in this process (spawning real workers costs seconds of imports);
    # that two processes with single-threaded llvmpipe give the same pixels is checked in docs/synth.md
    config = DatasetConfig(seed=3, frames_codec="raw", **SMALL)
    monkeypatch.setattr(dataset, "_WORKER", None)
    dataset._init_worker(config, single_thread=False)
    try:
        record = dataset._work((1, str(tmp_path / "w.npz")))
    finally:
        dataset._WORKER.release()
    assert record["action"] == clip.plan.action and record["file"] == "clips/clip_000001.npz"
    assert np.array_equal(read_clip(tmp_path / "w.npz")["frames"], clip.frames)


def test_bad_configs_and_files_are_typed_errors(tmp_path):
    with pytest.raises(ConfigError, match="1 \\+ 8k"):
        DatasetConfig(num_frames=48)
    with pytest.raises(ConfigError, match="themes"):
        DatasetConfig(themes=("moon",))
    with pytest.raises(ConfigError, match="codec"):
        DatasetConfig(frames_codec="gif")
    (tmp_path / "x.npz").write_bytes(b"not a zip")
    with pytest.raises(InputFileError, match="x.npz"):
        read_clip(tmp_path / "x.npz")
    with pytest.raises(InputFileError, match="index"):
        read_index(tmp_path)


def test_a_worker_that_cannot_start_reports_why_on_its_first_job(monkeypatch):
    from engine.synth.renderer import RendererUnavailableError

    def broken(config):
        raise RendererUnavailableError("no EGL here")

    monkeypatch.setattr(dataset, "ClipMaker", broken)
    monkeypatch.setattr(dataset, "_WORKER", None)
    monkeypatch.setattr(dataset, "_WORKER_ERROR", None)
    dataset._init_worker(DatasetConfig(seed=3, **SMALL), single_thread=False)  # must not raise (pool would respawn)
    with pytest.raises(RendererUnavailableError, match="no EGL"):
        dataset._work((0, "unused.npz"))
