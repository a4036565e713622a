"""Shared helpers of the text formats: number formatting, line parsing, options, single-FOV conversion."""

from __future__ import annotations

import logging

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.camera.formats._text import (
    data_lines,
    fmt,
    intrinsics_from_vfov,
    line_error,
    parse_floats,
    parse_image_size,
    read_lines,
    vfov_for_export,
)
from engine.camera.trajectory import Trajectory
from engine.errors import InputFileError, TrajectoryFormatError


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_fmt_round_trips_exactly(x):
    assert float(fmt(x)) == x


def test_fmt_writes_negative_zero_as_zero():
    assert fmt(-0.0) == "0.0"


def test_line_parsing(tmp_path):
    path = tmp_path / "f.txt"
    path.write_text("# comment\n\n  1 2 3  \n# x\nlast\n")
    assert data_lines(read_lines(path)) == [(3, "1 2 3"), (5, "last")]
    assert parse_floats("1 2.5 -3e2".split(), path=path, lineno=3, expected="x", line="") == [1.0, 2.5, -300.0]
    with pytest.raises(TrajectoryFormatError, match="f.txt line 7: expected 'A B', found 'a nan'"):
        parse_floats(["a"], path=path, lineno=7, expected="'A B'", line="a nan")
    with pytest.raises(TrajectoryFormatError, match="finite"):
        parse_floats(["nan"], path=path, lineno=1, expected="x", line="nan")
    assert "..." in str(line_error(path, 1, "x", "9" * 200))
    with pytest.raises(InputFileError):
        read_lines(tmp_path / "missing.txt")
    (tmp_path / "bin.txt").write_bytes(b"\xff\xfe\x00bad")
    with pytest.raises(TrajectoryFormatError, match="UTF-8"):
        read_lines(tmp_path / "bin.txt")


def test_parse_image_size():
    assert parse_image_size(None) is None
    assert parse_image_size((832, 480)) == (832, 480)
    assert parse_image_size("640x360") == (640, 360)
    for bad in ("640", "0x10", (1, 2, 3), "axb"):
        with pytest.raises(TrajectoryFormatError, match="image_size"):
            parse_image_size(bad)


def test_vfov_helpers(caplog):
    intr = intrinsics_from_vfov(np.array([90.0, 60.0]), (640, 480), where="t")
    np.testing.assert_allclose(intr[0], [240.0, 240.0, 320.0, 240.0])
    np.testing.assert_allclose(intr[1, 1], 240.0 / np.tan(np.radians(30.0)))
    with pytest.raises(TrajectoryFormatError, match="t: expected vertical FOV"):
        intrinsics_from_vfov(np.array([180.0]), (640, 480), where="t")
    traj = Trajectory(c2w=np.eye(4)[None], intrinsics=[[240.0, 240.0, 320.0, 240.0]], image_size=(640, 480))
    with caplog.at_level(logging.WARNING):
        np.testing.assert_allclose(vfov_for_export(traj, "x", required=True), [90.0])
    assert not caplog.text
    bare = Trajectory(c2w=np.eye(4)[None])
    assert vfov_for_export(bare, "x", required=False) is None
    with pytest.raises(TrajectoryFormatError, match="x: the trajectory has no intrinsics"):
        vfov_for_export(bare, "x", required=True)
