"""Depth in dataset clips (format version 2): round trip, version-1 files, refused depth arrays."""

from __future__ import annotations

import json

import numpy as np
import pytest

from engine.errors import InputFileError
from engine.synth.dataset import FORMAT_VERSION, ClipMaker, DatasetConfig, generate_dataset, read_clip, read_index, write_clip

SMALL = dict(clips=1, num_frames=9, size=(64, 36), clips_per_world=1, themes=("town",))


@pytest.fixture(scope="module")
def clip(renderer):
    return ClipMaker(DatasetConfig(seed=5, **SMALL), renderer=renderer).make(0)


def _rewrite(src, dst, **changes) -> None:
    """Copy a clip archive with some entries replaced (None removes one)."""
    with np.load(src, allow_pickle=False) as data:
        entries = {k: data[k] for k in data.files}
    for key, value in changes.items():
        if value is None:
            entries.pop(key, None)
        else:
            entries[key] = value
    np.savez(dst, **entries)


def test_depth_is_written_and_read_back_exactly(tmp_path, clip):
    assert clip.depth.shape == (9, 36, 64) and clip.depth.dtype == np.float32
    assert np.isfinite(clip.depth).any() and (clip.depth > 0).all()
    for codec in ("jpeg", "raw"):
        path = tmp_path / f"{codec}.npz"
        write_clip(clip, path, codec=codec)
        data = read_clip(path)
        assert data["format_version"] == FORMAT_VERSION == 2
        assert np.array_equal(data["depth"], clip.depth)  # inf (sky) included
        assert "depth" not in read_clip(path, frames=False)


def test_a_version_1_clip_loads_without_depth(tmp_path, clip):
    write_clip(clip, tmp_path / "v2.npz")
    _rewrite(tmp_path / "v2.npz", tmp_path / "v1.npz", depth=None, format_version=np.int64(1))
    data = read_clip(tmp_path / "v1.npz")
    assert data["depth"] is None and data["frames"].shape == (9, 36, 64, 3)


def test_a_newer_clip_or_index_is_refused_naming_both_versions(tmp_path, clip):
    write_clip(clip, tmp_path / "v2.npz")
    _rewrite(tmp_path / "v2.npz", tmp_path / "v9.npz", format_version=np.int64(9))
    with pytest.raises(InputFileError, match=r"v9\.npz.*format_version 9.*expected one of 1, 2"):
        read_clip(tmp_path / "v9.npz")
    (tmp_path / "index.json").write_text(json.dumps({"format": "sana-wm-synth", "format_version": 3}))
    with pytest.raises(InputFileError, match=r"index\.json.*format_version 3.*expected one of 1, 2"):
        read_index(tmp_path)


@pytest.mark.parametrize(
    "bad, message",
    [
        (lambda d: np.where(np.arange(d.size).reshape(d.shape) == 7, np.nan, d).astype(np.float32), "NaN"),
        (lambda d: np.where(np.arange(d.size).reshape(d.shape) == 7, -1.0, d).astype(np.float32), "> 0"),
        (lambda d: d[:, :-1], r"float32 \(9, 36, 64\)"),
        (lambda d: d.astype(np.float64), "float32"),
    ],
    ids=["nan", "negative", "shape", "dtype"],
)
def test_bad_depth_arrays_are_refused_naming_the_file(tmp_path, clip, bad, message):
    write_clip(clip, tmp_path / "good.npz")
    _rewrite(tmp_path / "good.npz", tmp_path / "bad.npz", depth=bad(clip.depth))
    with pytest.raises(InputFileError, match=rf"bad\.npz.*{message}"):
        read_clip(tmp_path / "bad.npz")


def test_a_dataset_made_without_depth_reads_as_none(tmp_path):
    generate_dataset(tmp_path, DatasetConfig(seed=5, depth=False, **SMALL))
    data = read_clip(tmp_path / "clips" / "clip_000000.npz")
    assert data["depth"] is None and read_index(tmp_path)["config"]["depth"] is False
