"""Public API of engine.camera.formats: registry, format detection, dispatch and option checking."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from engine.camera.formats import FORMATS, detect_format, read_trajectory, write_trajectory
from engine.errors import InputFileError, TrajectoryFormatError

SQUARE_ONLY = {"nerfstudio", "nuke-chan", "csv"}  # single vertical FOV: fx == fy, centred


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("traj.npz", "npz"),
        ("camera.NPY", "sana-npy"),
        ("camera_path.json", "nerfstudio"),
        ("other.json", "nerfstudio"),
        ("sparse/0/cameras.txt", "colmap"),
        ("images.txt", "colmap"),
        ("points3D.txt", "colmap"),
        ("new_model_folder", "colmap"),
        ("0a1b2c.txt", "re10k"),
        ("shot.chan", "nuke-chan"),
        ("path.csv", "csv"),
    ],
)
def test_detect_format(name, expected):
    assert detect_format(name) == expected


def test_detect_format_existing_folder(tmp_path):
    (tmp_path / "model.v2").mkdir()
    assert detect_format(tmp_path / "model.v2") == "colmap"


def test_unknown_extension_lists_formats():
    with pytest.raises(TrajectoryFormatError) as info:
        detect_format("cam.abc")
    msg = str(info.value)
    assert "'.abc'" in msg and "--from/--to" in msg
    assert all(name in msg for name in FORMATS)


def test_registry_entries_are_frozen_and_described():
    for name, fmt in FORMATS.items():
        assert fmt.name == name and fmt.description and fmt.extensions
        assert callable(fmt.reader) and callable(fmt.writer)
        with pytest.raises(dataclasses.FrozenInstanceError):
            fmt.name = "x"  # type: ignore[misc]
    assert FORMATS["nuke-chan"].read_options == ("image_size", "fps", "rotation_order", "ignore_fov")
    assert FORMATS["sana-npy"].write_options == ("dtype",)


@pytest.mark.parametrize("name", list(FORMATS))
def test_round_trip_through_the_public_api(tmp_path, make_trajectory, name):
    traj = make_trajectory(7, square=name in SQUARE_ONLY)
    ext = {"colmap": "model", "nerfstudio": "camera_path.json"}.get(name, "cam" + FORMATS[name].extensions[0])
    path = tmp_path / ext
    written = write_trajectory(traj, path, **({"dtype": "float64"} if name == "sana-npy" else {}))
    assert all(p.exists() for p in written) and written
    assert not [p for p in tmp_path.rglob("*") if ".part" in p.name]  # no temporary files left
    opts = {k: v for k, v in (("image_size", traj.image_size), ("fps", traj.fps)) if k in FORMATS[name].read_options}
    back = read_trajectory(path, **opts)
    np.testing.assert_allclose(back.c2w, traj.c2w, atol=1e-9, rtol=0)
    np.testing.assert_allclose(back.intrinsics, traj.intrinsics, atol=1e-9, rtol=0)
    assert back.image_size == traj.image_size
    assert back.fps == pytest.approx(traj.fps)


def test_explicit_format_overrides_extension(tmp_path, make_trajectory):
    traj = make_trajectory(3, square=True)
    write_trajectory(traj, tmp_path / "cam.dat", format="csv")
    assert (tmp_path / "cam.dat").read_text().startswith("frame,x,y,z")
    back = read_trajectory(tmp_path / "cam.dat", format="CSV", image_size=(832, 480))
    assert back.num_frames == 3


def test_errors(tmp_path, make_trajectory):
    with pytest.raises(InputFileError, match="not found"):
        read_trajectory(tmp_path / "missing.csv")
    traj = make_trajectory(2)
    with pytest.raises(TrajectoryFormatError, match="expected one of npz, sana-npy"):
        write_trajectory(traj, tmp_path / "x.csv", format="fbx")
    with pytest.raises(TrajectoryFormatError, match=r"csv: the writer does not take option\(s\) dtype; it accepts"):
        write_trajectory(traj, tmp_path / "x.csv", dtype="float64")
    write_trajectory(traj, tmp_path / "x.npz")
    with pytest.raises(TrajectoryFormatError, match="npz: the reader does not take option.*no options"):
        read_trajectory(tmp_path / "x.npz", image_size=(1, 1))
