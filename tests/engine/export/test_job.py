"""ExportJob: every requested output from one stream of chunks, committed together or not at all."""

from __future__ import annotations

import threading

import av
import numpy as np
import pytest
from PIL import Image

from engine.camera.actions import action_to_c2w
from engine.camera.formats import read_trajectory
from engine.camera.trajectory import Trajectory
from engine.errors import ExportCancelled, ExportError
from engine.export.images import PngSequenceWriter
from engine.export.job import ExportJob, ExportOptions, sidecar_path, write_trajectory_beside
from engine.export.overlay import ActionOverlay
from engine.export.storyboard import storyboard_indices

ACTION = "w-20,dl-20,none-8"  # 48 action frames -> 49 poses; streaming drops the first pixel frame
ALL = ExportOptions(preset="ultrafast", overlay=True, png_sequence=True, storyboard=True)


def trajectory() -> Trajectory:
    return Trajectory(action_to_c2w(ACTION), intrinsics=[100.0, 100.0, 80.0, 44.0], image_size=(160, 88),
                      action=ACTION, action_version="v2")


def run_job(folder, frames, options=ALL, **kwargs):
    with ExportJob(folder / "run.mp4", options, trajectory=trajectory(), first_pose=1, prompt="a garden", **kwargs) as job:
        for start in range(0, len(frames), 8):
            job.write(frames[start:start + 8])
        return job.close()


def test_full_export_writes_every_part_aligned_with_the_frames(tmp_path, make_frames, listing):
    frames = make_frames(48, height=88, width=160)
    result = run_job(tmp_path, frames)
    assert listing(tmp_path) == ["run.mp4", "run.npz", "run_frames", "run_storyboard.pdf", "run_storyboard.png"]
    pngs = sorted((tmp_path / "run_frames").iterdir())
    assert len(pngs) == 48
    clean = np.stack([np.asarray(Image.open(p)) for p in pngs])
    np.testing.assert_array_equal(clean, frames)  # the PNG sequence is never overlaid
    with av.open(str(tmp_path / "run.mp4")) as container:
        video = np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])
    assert video.shape == frames.shape
    boxes = ActionOverlay.cap_boxes(160, 88)
    x0, y0, x1, y1 = boxes["w"]
    gain = (video.astype(int) - frames.astype(int))[:, y0:y1, x0:x1].mean(axis=(1, 2, 3))
    # frame j shows pose j + 1: poses 1-20 hold w, so frame 19 is the last with W lit
    assert gain[19] - gain[20] > 30 and gain[5] - gain[45] > 30
    caps = np.zeros((88, 160), bool)
    for bx0, by0, bx1, by1 in boxes.values():
        caps[by0:by1, bx0:bx1] = True
    assert np.abs(video.astype(int) - frames.astype(int))[:, ~caps].mean() < 3.0  # untouched elsewhere
    saved = read_trajectory(tmp_path / "run.npz")
    assert saved.num_frames == 48 and saved.action == ACTION
    np.testing.assert_allclose(saved.c2w, trajectory().c2w[1:49])
    assert saved.intrinsics.shape == (48, 4)
    assert result.frames == 48 and result.video == tmp_path / "run.mp4"
    assert result.png_folder == tmp_path / "run_frames" and result.trajectory == tmp_path / "run.npz"
    assert result.storyboard.frame_indices == [0, 16, 32] and result.storyboard.notes[0].startswith("→ 00:01.00: dolly")


def test_only_the_storyboard_panel_frames_are_kept_in_memory(tmp_path, make_frames):
    job = ExportJob(tmp_path / "run.mp4", ExportOptions(preset="ultrafast", storyboard=True, storyboard_every_s=0.5))
    job.write(make_frames(50, height=32, width=32))
    assert sorted(job._panel_frames) == storyboard_indices(50, 16.0, 0.5)
    result = job.close()
    assert result.storyboard.frame_indices == [0, 8, 16, 24, 32, 40, 48]
    assert result.png_folder is None and result.trajectory is None


def test_cancel_flag_midway_leaves_no_part_and_no_temporary(tmp_path, make_frames, listing):
    flag = threading.Event()

    def progress(p):
        if p.stage == "png" and p.done == 20:
            flag.set()

    with pytest.raises(ExportCancelled):
        run_job(tmp_path, make_frames(48, height=88, width=160), progress=progress, cancel=flag)
    assert listing(tmp_path) == []


def test_cancel_during_the_storyboard_leaves_nothing(tmp_path, make_frames, listing):
    flag = threading.Event()

    def progress(p):
        if p.stage == "storyboard":
            flag.set()

    with pytest.raises(ExportCancelled):
        run_job(tmp_path, make_frames(48, height=88, width=160), progress=progress, cancel=flag)
    assert listing(tmp_path) == []


def test_failed_final_rename_takes_back_the_parts_already_renamed(tmp_path, make_frames, listing, monkeypatch):
    def broken_commit(self):
        raise OSError("disk went away")

    monkeypatch.setattr(PngSequenceWriter, "_commit", broken_commit)
    with pytest.raises(OSError, match="disk went away"):
        run_job(tmp_path, make_frames(48, height=88, width=160))
    assert listing(tmp_path) == []


def test_explicit_cancel_and_exception_in_the_with_block(tmp_path, make_frames, listing):
    job = ExportJob(tmp_path / "a.mp4", ALL, trajectory=trajectory(), first_pose=1)
    job.write(make_frames(8, height=88, width=160))
    job.cancel()
    assert listing(tmp_path) == []
    with pytest.raises(RuntimeError, match="model crashed"):
        with ExportJob(tmp_path / "b.mp4", ALL, trajectory=trajectory(), first_pose=1) as job:
            job.write(make_frames(8, height=88, width=160))
            raise RuntimeError("model crashed")
    assert listing(tmp_path) == []


def test_overlay_needs_a_trajectory_and_frames_must_fit_the_path(tmp_path, make_frames, listing):
    with pytest.raises(ExportError, match="overlay: expected a trajectory"):
        ExportJob(tmp_path / "a.mp4", ExportOptions(overlay=True))
    job = ExportJob(tmp_path / "a.mp4", ALL, trajectory=trajectory(), first_pose=1)
    with pytest.raises(ExportError, match="expected a pose index from 0 to 48"):
        job.write(make_frames(49, height=88, width=160))  # one frame more than the path has poses for
    assert listing(tmp_path) == []


def test_overlay_from_camera_motion_when_there_is_no_action(tmp_path, make_frames):
    traj = Trajectory(action_to_c2w("w-10", version="v1"), action_version="v1")
    with ExportJob(tmp_path / "a.mp4", ExportOptions(preset="ultrafast", overlay=True), trajectory=traj) as job:
        assert [sorted(k) for k in job.overlay.keys_per_pose[:3]] == [[], ["w"], ["w"]]
        job.write(make_frames(11, height=32, width=64))


def test_sidecar_names_and_alignment_errors(tmp_path):
    assert sidecar_path("out/run.mp4").as_posix() == "out/run.npz"
    assert sidecar_path("out/run_frames").as_posix() == "out/run_frames.npz"
    traj = trajectory()
    path = write_trajectory_beside(tmp_path / "v.mp4", traj)
    assert path == tmp_path / "v.npz" and read_trajectory(path).num_frames == 49
    with pytest.raises(ExportError, match=r"expected the trajectory to cover frames 1..49 .*found 49 poses"):
        write_trajectory_beside(tmp_path / "v.mp4", traj, num_frames=49, first_pose=1)
