"""`sana-wm synth`: dataset, preview and demos end to end, and one-line input errors."""

from __future__ import annotations

import json

import numpy as np
from PIL import Image

from engine.cli import EXIT_INPUT_ERROR, main
from engine.synth.dataset import read_clip, read_index


def run(capsys, *argv):
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_dataset_writes_clips_an_index_and_a_progress_line(tmp_path, capsys):
    code, stdout, stderr = run(capsys, "synth", "dataset", "--out", str(tmp_path), "--clips", "2", "--frames", "9",
                               "--size", "64x36", "--theme", "ruins", "--quality", "fast", "--seed", "4")
    assert code == 0 and "wrote 2 clips of 9 frames at 64x36" in stdout
    assert "synth: 2/2 clips" in stderr and "frames/s" in stderr
    index = read_index(tmp_path)
    assert len(index["clips"]) == 2 and index["config"]["seed"] == 4 and index["config"]["quality"] == "fast"
    clip = read_clip(tmp_path / index["clips"][1]["file"])
    assert clip["frames"].shape == (9, 36, 64, 3) and clip["theme"] == "ruins"


def test_preview_writes_a_contact_sheet_and_a_gif(tmp_path, capsys):
    code, stdout, _ = run(capsys, "synth", "preview", "--out", str(tmp_path / "p.png"), "--frames", "9",
                          "--size", "64x36", "--every", "4", "--theme", "desert")
    assert code == 0 and "desert" in stdout
    assert Image.open(tmp_path / "p.png").size == (64 * 3 + 2 * 2, 36)  # frames 0, 4, 8 in one row
    code, _, _ = run(capsys, "synth", "preview", "--out", str(tmp_path / "p.gif"), "--frames", "9", "--size", "64x36",
                     "--theme", "desert")
    gif = Image.open(tmp_path / "p.gif")
    assert code == 0 and gif.n_frames == 9


def test_demos_write_the_chosen_scenes(tmp_path, capsys):
    code, stdout, _ = run(capsys, "synth", "demos", "--out", str(tmp_path), "--size", "48x32",
                          "--only", "town_square", "--only", "look_around")
    assert code == 0
    scenes = sorted(tmp_path.glob("*/scene.json"))
    assert [p.parent.name for p in scenes] == ["look_around", "town_square"] and stdout.count("wrote") == 2
    for path in scenes:
        scene = json.loads(path.read_text())
        assert scene["title"] and scene["action"] and scene["image_size"] == [48, 32]
        assert np.asarray(Image.open(path.parent / "image.png")).shape == (32, 48, 3)


def test_bad_options_are_one_line_errors(tmp_path, capsys):
    code, _, stderr = run(capsys, "synth", "preview", "--out", str(tmp_path / "p.jpg"))
    assert code == EXIT_INPUT_ERROR and stderr.count("\n") == 1 and ".png" in stderr
    code, _, stderr = run(capsys, "synth", "dataset", "--out", str(tmp_path), "--frames", "10")
    assert code == EXIT_INPUT_ERROR and "1 + 8k" in stderr
    assert not (tmp_path / "index.json").exists()
    code, _, stderr = run(capsys, "synth", "demos", "--out", str(tmp_path), "--only", "atlantis")
    assert code == EXIT_INPUT_ERROR and "atlantis" in stderr


def test_missing_gl_is_one_line_naming_the_packages(tmp_path, capsys, monkeypatch):
    import engine.synth.renderer as renderer_module

    def no_egl():
        raise renderer_module.RendererUnavailableError(
            f"could not create a headless OpenGL 3.3 context with EGL (test); apt-get install {renderer_module.EGL_PACKAGES}")

    monkeypatch.setattr(renderer_module, "create_context", no_egl)
    code, _, stderr = run(capsys, "synth", "preview", "--out", str(tmp_path / "p.png"), "--size", "64x36", "--frames", "9")
    assert code == 1 and stderr.count("\n") == 1 and "libegl1" in stderr
    assert not (tmp_path / "p.png").exists()
