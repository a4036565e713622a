"""``sana-wm generate`` says what it did: what became of the start image (resized, cropped: how much) and every
file it wrote, not only the video (issue 18, items 6 and 13)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from engine.cli import main
from engine.generation.start_image import describe_fit
from engine.testing.tiny_official_bundle import TINY_FRAME_SIZE, build_tiny_official_bundle


def test_generate_names_the_crop_and_every_output(tmp_path, capsys):
    bundle = build_tiny_official_bundle(tmp_path / "bundle", layout="streaming")
    image = tmp_path / "tall.png"
    Image.fromarray(np.full((150, 100, 3), 90, np.uint8)).save(image)  # portrait: most rows are cut
    out = tmp_path / "out"
    argv = ["generate", "--image", str(image), "--model", str(bundle), "--action", "w-30", "--num_frames", "25",
            "--step", "2", "--no_refiner", "--output_dir", str(out), "--storyboard", "--png", "--prompt", "x",
            "--intrinsics", str(_k(tmp_path))]  # fmt: skip
    assert main(argv) == 0
    captured = capsys.readouterr()
    assert f"sana-wm: start image {image}: {describe_fit((100, 150), TINY_FRAME_SIZE)}" in captured.err
    assert "centre-cropped" in captured.err and "rows cut at the top and bottom" in captured.err
    wrote = [line.split()[1] for line in captured.out.splitlines() if line.startswith("wrote ")]
    written = sorted(p.name for p in out.iterdir())
    assert written == ["tall_streaming.mp4", "tall_streaming.npz", "tall_streaming_frames",
                       "tall_streaming_storyboard.pdf", "tall_streaming_storyboard.png"]  # fmt: skip
    assert sorted(Path(w.rstrip("/")).name for w in wrote) == written  # each announced, nothing more


def _k(folder: Path) -> Path:
    path = folder / "K.npy"
    np.save(path, np.array([80.0, 80.0, 50.0, 75.0]))
    return path
