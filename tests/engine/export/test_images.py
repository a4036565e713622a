"""PNG sequences: lossless numbered frames, a folder that appears whole or not at all."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from PIL import Image

from engine.errors import ExportCancelled, ExportError
from engine.export.images import PngSequenceWriter, write_png_sequence


def read_all(paths) -> np.ndarray:
    return np.stack([np.asarray(Image.open(p).convert("RGB")) for p in paths])


def test_sequence_is_lossless_and_numbered_in_order(tmp_path, make_frames, listing):
    frames = make_frames(12, height=24, width=40)
    files = write_png_sequence(tmp_path / "seq", iter([frames[:5], frames[5:]]))
    assert [f.name for f in files] == [f"frame_{i:05d}.png" for i in range(12)]
    assert listing(tmp_path / "seq") == [f.name for f in files] and listing(tmp_path) == ["seq"]
    np.testing.assert_array_equal(read_all(files), frames)


def test_pattern_and_start_index(tmp_path, make_frames):
    files = write_png_sequence(tmp_path / "s", make_frames(3, 8, 8), pattern="shot_{index:03d}.png", start=1)
    assert [f.name for f in files] == ["shot_001.png", "shot_002.png", "shot_003.png"]


def test_folder_stays_hidden_until_close(tmp_path, make_frames, listing):
    with PngSequenceWriter(tmp_path / "seq") as seq:
        seq.write(make_frames(2, 8, 8))
        assert not (tmp_path / "seq").exists()
        assert len(listing(tmp_path)) == 1 and listing(tmp_path)[0].startswith(".seq.")
    assert listing(tmp_path) == ["seq"]


def test_exception_midway_removes_the_temporary_folder(tmp_path, make_frames, listing):
    with pytest.raises(RuntimeError):
        with PngSequenceWriter(tmp_path / "seq") as seq:
            seq.write(make_frames(3, 8, 8))
            raise RuntimeError("decoder crashed")
    assert listing(tmp_path) == [] and seq.files == []


def test_cancel_flag_leaves_nothing_and_an_existing_folder_untouched(tmp_path, make_frames, listing):
    old = tmp_path / "seq"
    old.mkdir()
    (old / "frame_00000.png").write_bytes(b"old")
    flag = threading.Event()
    flag.set()
    with pytest.raises(ExportCancelled):
        write_png_sequence(old, make_frames(3, 8, 8), overwrite=True, cancel=flag)
    assert listing(tmp_path) == ["seq"] and (old / "frame_00000.png").read_bytes() == b"old"


def test_overwrite_replaces_the_whole_folder(tmp_path, make_frames, listing):
    write_png_sequence(tmp_path / "seq", make_frames(4, 8, 8))
    write_png_sequence(tmp_path / "seq", make_frames(2, 8, 8), overwrite=True)
    assert listing(tmp_path / "seq") == ["frame_00000.png", "frame_00001.png"]


def test_existing_folder_refused_without_overwrite(tmp_path):
    (tmp_path / "seq").mkdir()
    with pytest.raises(ExportError, match="expected a new folder for the PNG sequence, found an existing one"):
        PngSequenceWriter(tmp_path / "seq")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"pattern": "frame.png"}, r"changes with \{index\}.*found 'frame.png'"),
        ({"pattern": "frame_{index:05d}.jpg"}, r"ending in .png"),
        ({"pattern": "frame_{i}.png"}, r"expected a name with an \{index\} field"),
        ({"compress_level": 12}, r"compress_level: expected a whole number 0-9, found 12"),
    ],
)
def test_bad_options_are_typed_errors(tmp_path, listing, options, message):
    with pytest.raises(ExportError, match=message):
        PngSequenceWriter(tmp_path / "seq", **options)
    assert listing(tmp_path) == []


def test_mismatched_frame_size_aborts(tmp_path, make_frames, listing):
    seq = PngSequenceWriter(tmp_path / "seq")
    seq.write(make_frames(1, 8, 8))
    with pytest.raises(ExportError, match=r"frame 1 is 10x8, expected 8x8"):
        seq.write(make_frames(1, 8, 10))
    assert listing(tmp_path) == []


def test_unwritable_parent_is_a_typed_error(tmp_path):
    (tmp_path / "file").write_text("not a folder")
    with pytest.raises(ExportError, match=r"file/seq: cannot write here .*expected a writable folder"):
        PngSequenceWriter(tmp_path / "file" / "seq")
