"""``sana-wm generate --memory``: on the CPU a lean tier says it has no effect (one line, not an error) and the video is
the one ``--memory full`` makes; an unknown tier is refused by the parser."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from engine.cli import main


def run(bundle: Path, image: Path, out: Path, *extra: str) -> int:
    np.save(out / "K.npy", np.array([150.0, 150.0, 100.0, 60.0]))
    return main(["generate", "--quiet", "--image", str(image), "--model", str(bundle), "--action", "w-24",
                 "--num_frames", "25", "--no_refiner", "--intrinsics", str(out / "K.npy"), "--output_dir", str(out),
                 "--device", "cpu", *extra])  # fmt: skip


def test_memory_low_on_the_cpu_says_it_has_no_effect_and_changes_nothing(tiny_bundles, image, tmp_path, capsys) -> None:
    (tmp_path / "low").mkdir()
    (tmp_path / "full").mkdir()
    assert run(tiny_bundles["streaming"], image, tmp_path / "low", "--memory", "low", "--png") == 0
    err = capsys.readouterr().err.splitlines()
    assert "sana-wm: --memory low has no effect on the CPU: every part already lives in main memory" in err
    assert not any("error" in line for line in err)
    assert run(tiny_bundles["streaming"], image, tmp_path / "full", "--memory", "full", "--png") == 0
    assert "no effect" not in capsys.readouterr().err
    a, b = (np.load(tmp_path / d / "street_streaming.npz")["c2w"] for d in ("low", "full"))
    assert np.array_equal(a, b)
    # the frames, not the MP4 bytes: libx264 here does not encode the same frames to the same bytes twice
    low, full = (sorted((tmp_path / d / "street_streaming_frames").glob("*.png")) for d in ("low", "full"))
    assert len(low) == len(full) == 24
    assert all(x.read_bytes() == y.read_bytes() for x, y in zip(low, full))


def test_an_unknown_tier_is_one_line(capsys) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["generate", "--memory", "tiny"])
    assert exit_.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--memory: invalid choice: 'tiny'" in err[0]
