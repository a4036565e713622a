"""``sana-wm generate`` end to end on tiny random-weight bundles in the official layouts (built by the tests)."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest

from engine.cli import main
from engine.testing.tiny_official_bundle import TINY_FRAME_SIZE, build_tiny_official_bundle


@pytest.fixture(scope="module")
def bundles(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("bundles")
    return {layout: build_tiny_official_bundle(root / layout, layout=layout) for layout in ("bidirectional", "streaming")}


def probe(path: Path) -> tuple[int, float, tuple[int, int], str, str]:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        frames = sum(1 for _ in container.decode(stream))
        return frames, float(stream.average_rate), (stream.width, stream.height), stream.codec_context.name, stream.pix_fmt


def generate(*argv: str) -> int:
    return main(["generate", "--quiet", "--prompt", "a quiet street", *argv])


@pytest.mark.parametrize(
    "layout, mode, refiner, frames_in, frames_out",
    [
        ("streaming", "streaming", True, 49, 48),
        ("streaming", "streaming", False, 49, 48),
        ("bidirectional", "bidirectional", True, 17, 16),
        ("bidirectional", "bidirectional", False, 17, 17),
    ],
)
def test_both_modes_with_and_without_refiner_write_a_correct_video(
    bundles, image, tmp_path, layout, mode, refiner, frames_in, frames_out
):
    argv = ["--image", str(image), "--model", str(bundles[layout]), "--mode", mode, "--action", "w-30,jw-30",
            "--num_frames", str(frames_in), "--step", "2", "--output_dir", str(tmp_path), "--intrinsics",
            str(_intrinsics(tmp_path, [150.0, 150.0, 100.0, 60.0]))]  # fmt: skip
    if not refiner:
        argv.append("--no_refiner")
    assert generate(*argv) == 0
    video = tmp_path / f"street_{mode}.mp4"
    assert probe(video) == (frames_out, 16.0, TINY_FRAME_SIZE, "h264", "yuv420p")
    poses = np.load(tmp_path / f"street_{mode}.npz")
    assert poses["c2w"].shape == (frames_out, 4, 4)
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []  # no temporary leftovers


def _intrinsics(folder: Path, values) -> Path:
    path = folder / "K.npy"
    np.save(path, np.asarray(values))
    return path


def test_storyboard_png_sequence_and_overlay(bundles, image, tmp_path):
    assert generate("--image", str(image), "--model", str(bundles["streaming"]), "--action", "w-48",
                    "--no_refiner", "--output_dir", str(tmp_path), "--storyboard", "--png", "--overlay",
                    "--intrinsics", str(_intrinsics(tmp_path, [150.0, 150.0, 100.0, 60.0]))) == 0  # fmt: skip
    assert (tmp_path / "street_streaming_storyboard.png").is_file()
    assert (tmp_path / "street_streaming_storyboard.pdf").read_bytes().startswith(b"%PDF")
    assert len(list((tmp_path / "street_streaming_frames").glob("*.png"))) == 48


def test_runs_with_the_network_blocked(bundles, image, tmp_path, blocked_network):
    assert generate("--image", str(image), "--model", str(bundles["bidirectional"]), "--mode", "bidirectional",
                    "--action", "w-16", "--step", "2", "--output_dir", str(tmp_path), "--intrinsics",
                    str(_intrinsics(tmp_path, [150.0, 150.0, 100.0, 60.0]))) == 0  # fmt: skip
    assert blocked_network == []


def test_a_failure_midway_leaves_no_video(bundles, image, tmp_path, monkeypatch):
    import engine.generation.session as session_mod

    real_step = session_mod.WorldSession.step
    calls = []

    def failing_step(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt  # as if the user pressed Ctrl-C during chunk 1
        return real_step(self, *args, **kwargs)

    monkeypatch.setattr(session_mod.WorldSession, "step", failing_step)
    code = generate("--image", str(image), "--model", str(bundles["streaming"]), "--action", "w-48", "--no_refiner",
                    "--output_dir", str(tmp_path), "--intrinsics", str(_intrinsics(tmp_path, [150.0, 150.0, 100.0, 60.0])))  # fmt: skip
    assert code == 130
    assert [p.name for p in tmp_path.iterdir()] == ["K.npy"]  # no video, no trajectory, no temporary file


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--image", "/no/such.png", "--action", "w-48"], "no file"),
        (["--action", "w-48"], "--image"),
        (["--image", "{image}", "--action", "x-48"], "segment 1"),
        (["--image", "{image}", "--action", "w-48", "--intrinsics", "{narrow}"], "FOV"),
        (["--image", "{image}", "--camera", "{bad_camera}"], "camera"),
        (["--image", "{image}", "--action", "w-10", "--intrinsics", "{good}"], "at least 25 frames"),
        (["--image", "{image}", "--action", "w-48"], "no default field of view"),
        (["--image", "{image}", "--action", "w-48", "--intrinsics", "{good}", "--model", "{incomplete}"], "vae"),
        (["--image", "{image}", "--action", "w-48", "--intrinsics", "/no/K.npy"], "--intrinsics /no/K.npy: expected a numpy .npy array, found no such file"),
        (["--image", "{image}", "--action", "w-48", "--contrast-floor", "1.5"], "--contrast_floor: expected a share of the start image's contrast in [0, 1], found 1.5"),
    ],
)
def test_bad_inputs_give_one_line_and_exit_code_2(bundles, image, tmp_path, capsys, extra, message):
    import shutil

    incomplete = tmp_path / "incomplete"
    shutil.copytree(bundles["bidirectional"], incomplete)
    shutil.rmtree(incomplete / "vae")
    bad_camera = tmp_path / "cam.npy"
    np.save(bad_camera, np.zeros((5, 3)))
    good = tmp_path / "good"
    good.mkdir()
    names = dict(image=image, narrow=_intrinsics(tmp_path, [2000.0, 2000.0, 100.0, 60.0]), bad_camera=bad_camera,
                 incomplete=incomplete, good=_intrinsics(good, [150.0, 150.0, 100.0, 60.0]))  # fmt: skip
    argv = [a.format(**names) for a in extra]
    if "--model" not in argv:
        argv += ["--model", str(bundles["streaming"])]
    assert generate(*argv, "--output_dir", str(tmp_path / "out")) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("sana-wm: error: ") and message in err[-1], err
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_missing_intrinsics_are_estimated_with_pi3x(bundles, image, tmp_path, no_pi3, weights, pi3_checkout):
    """The fake Pi3X (tests/engine/conftest.py) sees a 70 x 50 degree camera: the video's intrinsics follow."""
    assert generate("--image", str(image), "--model", str(bundles["streaming"]), "--action", "w-48", "--no_refiner",
                    "--output_dir", str(tmp_path), "--pi3x", str(weights), "--pi3-code", str(pi3_checkout)) == 0  # fmt: skip
    poses = np.load(tmp_path / "street_streaming.npz")
    fx, fy = poses["intrinsics"][0, :2]
    # the 200x120 image is resized to 107x64 (scale 64/120, widths rounded) and centre-cropped to the 96x64 frame
    assert fx == pytest.approx(200 / (2 * np.tan(np.radians(35.0))) * 107 / 200, rel=1e-4)
    assert fy == pytest.approx(120 / (2 * np.tan(np.radians(25.0))) * 64 / 120, rel=1e-4)


def test_shipped_demo_scenes_run_and_are_listed(bundles, tmp_path, capsys):
    assert main(["generate", "--list-demos"]) == 0
    listing = capsys.readouterr().out
    assert len(listing.strip().splitlines()) >= 6 and "meadow_stroll" in listing
    assert generate("--demo", "meadow_stroll", "--model", str(bundles["streaming"]), "--num_frames", "25",
                    "--no_refiner", "--output_dir", str(tmp_path)) == 0  # fmt: skip
    assert probe(tmp_path / "meadow_stroll_streaming.mp4")[0] == 24


def test_an_unknown_demo_lists_the_known_ones(capsys):
    assert generate("--demo", "atlantis") == 2
    assert "meadow_stroll" in capsys.readouterr().err


def test_num_frames_beyond_the_camera_path_says_what_is_generated(bundles, image, tmp_path, capsys):
    argv = ["--image", str(image), "--model", str(bundles["streaming"]), "--action", "w-48", "--num_frames", "481",
            "--step", "2", "--no_refiner", "--output_dir", str(tmp_path),
            "--intrinsics", str(_intrinsics(tmp_path, [150.0, 150.0, 100.0, 60.0]))]  # fmt: skip
    assert generate(*argv) == 0
    assert "--num_frames 481: the camera path has 49 poses, so 49 frames are generated" in capsys.readouterr().err
    assert probe(tmp_path / "street_streaming.mp4")[0] == 48


def test_contrast_floor_reaches_the_streaming_session(bundles, image, tmp_path, monkeypatch):
    import engine.generation.session as session_mod

    floors = []
    real_init = session_mod.WorldSession.__init__

    def recording_init(self, bundle, settings=None, **kwargs):
        real_init(self, bundle, settings, **kwargs)
        floors.append((settings.contrast_floor, self.settings.contrast_floor))

    monkeypatch.setattr(session_mod.WorldSession, "__init__", recording_init)
    argv = ["--image", str(image), "--model", str(bundles["streaming"]), "--action", "w-24", "--no_refiner",
            "--intrinsics", str(_intrinsics(tmp_path, [150.0, 150.0, 100.0, 60.0]))]  # fmt: skip
    assert generate(*argv, "--output_dir", str(tmp_path / "a"), "--contrast-floor", "0.4") == 0
    assert generate(*argv, "--output_dir", str(tmp_path / "b")) == 0
    assert floors == [(0.4, 0.4), (None, 0.0)]  # given; else the model's own (an official bundle declares none)
