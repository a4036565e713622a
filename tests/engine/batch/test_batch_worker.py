"""The batch worker without Ray: the SANA-WM-Bench layout (file names, 16 fps, the frame count, the benchmark's
camera files) and one-line failures."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest

from engine.batch.bench_inputs import is_bench_camera, official_inputs
from engine.batch.jobs import Job
from engine.batch.worker import GenerateWorker, is_complete, output_video
from engine.bundles import ModelBundle, save_bundle
from engine.camera import intrinsics as intr
from engine.camera.actions import action_to_c2w
from engine.io.demos import load_demo


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("worker_model") / "model"
    return save_bundle(ModelBundle.random("sana-wm-tiny-test", frame_size=(64, 32), seed=5), folder)


def _bench_camera(path: Path, frames: int) -> Path:
    """A camera file as SANA-WM-Bench ships them: c2w (F, 4, 4), intrinsics (F, 3, 3), fps, num_frames; no tag."""
    k = intr.to_matrix(intr.as_vec4(load_demo("meadow_stroll").intrinsics))[0]
    np.savez(path, c2w=action_to_c2w(f"w-{frames - 1}"), intrinsics=np.repeat(k[None], frames, axis=0),
             fps=np.array(16), num_frames=np.array(frames))
    return path


def test_the_bench_layout_writes_scene_generated_mp4_at_16_fps_from_a_benchmark_camera(tmp_path, model) -> None:
    camera = _bench_camera(tmp_path / "scene_001.npz", 25)
    assert is_bench_camera(camera)
    job = official_inputs(Job(line=1, name="scene_001", demo="meadow_stroll", camera=camera, seed=42, model=model),
                          tmp_path / "out" / "inputs")
    assert job.camera.name == "scene_001_c2w.npy" and job.intrinsics.name == "scene_001_intrinsics.npy"
    video = output_video(tmp_path / "out", job.name, job.mode, "sana-wm-bench")
    assert video.name == "scene_001_generated.mp4" and not is_complete(video)
    result = GenerateWorker(1).run(job.generate_argv(tmp_path / "out", fps=16.0), str(video), "sana-wm-bench", 25)
    assert result["status"] == "done", result
    assert is_complete(video) and not (tmp_path / "out" / "scene_001_streaming.mp4").exists()
    with av.open(str(video)) as container:
        stream = container.streams.video[0]
        assert float(stream.average_rate) == 16.0
        count = sum(1 for _ in container.decode(stream))
    with np.load(video.with_suffix(".npz")) as data:
        assert data["c2w"].shape[0] == count == 24  # streaming drops the image's reconstruction, as the official


def test_a_path_shorter_than_the_benchmark_fails_in_one_line_and_leaves_nothing(tmp_path, model) -> None:
    camera = _bench_camera(tmp_path / "short.npz", 25)
    job = official_inputs(Job(line=1, name="short", demo="meadow_stroll", camera=camera, model=model),
                          tmp_path / "inputs")
    video = output_video(tmp_path / "out", "short", "streaming", "sana-wm-bench")
    result = GenerateWorker(1).run(job.generate_argv(tmp_path / "out", fps=16.0), str(video), "sana-wm-bench", 49)
    assert result["status"] == "failed"
    assert "expected 49 frames for the SANA-WM-Bench layout, generated 24" in result["error"]
    assert "\n" not in result["error"]
    assert list((tmp_path / "out").glob("*.mp4")) == [] and list((tmp_path / "out").glob("*.npz")) == []


def test_a_native_trajectory_is_not_taken_for_a_benchmark_camera(tmp_path) -> None:
    from engine.camera.formats import write_trajectory
    from engine.camera.trajectory import Trajectory

    native = write_trajectory(Trajectory(action_to_c2w("w-8")), tmp_path / "path.npz", format="npz")[0]
    assert not is_bench_camera(native)
    job = Job(line=1, name="n", demo="meadow_stroll", camera=native)
    assert official_inputs(job, tmp_path / "inputs") is job
