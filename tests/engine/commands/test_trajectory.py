"""`sana-wm trajectory`: from-action, convert, info, plot and their error paths."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from engine.camera.actions import action_to_c2w
from engine.camera.formats import read_trajectory
from engine.cli import main

ACTION = "w-24,jw-16,lw-16,i-8"


def run(capsys, *argv):
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_from_action_writes_the_integrated_path_with_default_intrinsics(tmp_path, capsys):
    out = tmp_path / "p.npz"
    code, stdout, _ = run(capsys, "trajectory", "from-action", ACTION, "-o", str(out))
    assert code == 0 and "65 poses" in stdout
    traj = read_trajectory(out)
    assert np.allclose(traj.c2w, action_to_c2w(ACTION))
    assert traj.image_size == (1280, 704)
    assert np.allclose(traj.intrinsics[0], [1280 / (2 * np.tan(np.radians(30))), 1280 / (2 * np.tan(np.radians(30))), 640, 352])
    assert traj.action == ACTION and traj.action_version == "v2"


def test_from_action_version_speeds_smoothing_and_snapping(tmp_path, capsys):
    out = tmp_path / "p.npz"
    code, _, _ = run(
        capsys, "trajectory", "from-action", "w-40", "-o", str(out), "--action-version", "v1",
        "--translation_speed", "0.1", "--num-frames", "30", "--fov", "90", "--image-size", "640x360",
    )
    assert code == 0
    traj = read_trajectory(out)
    assert traj.num_frames == 33  # 30 -> nearest 8k+1 with ties up: 33
    assert np.allclose(traj.c2w, action_to_c2w("w-40", version="v1", translation_speed=0.1)[:33])
    assert traj.image_size == (640, 360) and np.isclose(traj.intrinsics[0, 0], 320.0)
    run(capsys, "trajectory", "from-action", "w-1,none-2", "-o", str(out), "--no-smooth")
    c2w = read_trajectory(out).c2w
    assert c2w[3, 2, 3] == c2w[1, 2, 3]  # no coasting without smoothing


def test_from_action_with_intrinsics_file(tmp_path, capsys):
    k = tmp_path / "k.npy"
    np.save(k, np.array([[700.0, 0, 640], [0, 700.0, 352], [0, 0, 1]]))
    out = tmp_path / "p.csv"
    code, _, _ = run(capsys, "trajectory", "from-action", "w-8", "-o", str(out), "--intrinsics", str(k))
    assert code == 0
    assert np.allclose(read_trajectory(out, image_size=(1280, 704)).intrinsics[:, 1], 700.0, atol=1e-6)


@pytest.mark.parametrize("target", ["p.npy", "p.json", "colmap", "p.txt", "p.chan", "p.csv", "q.npz"])
def test_convert_round_trips_through_every_format(tmp_path, capsys, target):
    src = tmp_path / "src.npz"
    run(capsys, "trajectory", "from-action", ACTION, "-o", str(src))
    mid = tmp_path / target
    assert run(capsys, "trajectory", "convert", str(src), str(mid))[0] == 0
    back = tmp_path / "back.npz"
    assert run(capsys, "trajectory", "convert", str(mid), str(back), "--image-size", "1280x704")[0] == 0
    a, b = read_trajectory(src), read_trajectory(back)
    assert np.allclose(a.c2w, b.c2w, atol=1e-6)
    assert np.allclose(a.intrinsics, b.intrinsics, atol=1e-4)


def test_info_json_reports_frames_length_fov_and_verdict(tmp_path, capsys):
    src = tmp_path / "src.npz"
    run(capsys, "trajectory", "from-action", "w-40", "-o", str(src), "--fov", "90")
    code, stdout, _ = run(capsys, "trajectory", "info", str(src), "--json")
    info = json.loads(stdout)
    assert code == 0
    assert info["frames"] == 41 and info["duration_s"] == pytest.approx(2.5)
    assert info["path_length"] == pytest.approx(40 * 0.025 / (1 + 1e-6))
    assert info["fov_h_deg"] == pytest.approx([90.0, 90.0])
    assert info["validation"] == "ok" and info["snapped_frames_24k+1"] == 25


def test_info_flags_an_out_of_range_fov(tmp_path, capsys):
    src = tmp_path / "wide.npz"
    run(capsys, "trajectory", "from-action", "w-8", "-o", str(src), "--fov", "130", "--allow-any-fov")
    _, stdout, _ = run(capsys, "trajectory", "info", str(src))
    assert "validation:    invalid" in stdout and "130.0 deg" in stdout


def test_plot_writes_a_png(tmp_path, capsys):
    src = tmp_path / "src.npz"
    run(capsys, "trajectory", "from-action", ACTION, "-o", str(src))
    png = tmp_path / "plot.png"
    assert run(capsys, "trajectory", "plot", str(src), "-o", str(png))[0] == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temporary left behind


@pytest.mark.parametrize(
    "argv, fragment",
    [
        (["from-action", "w-0", "-o", "{d}/a.npz"], "positive whole number"),
        (["from-action", "w-8", "-o", "{d}/a.npz", "--fov", "20"], "FOV"),
        (["from-action", "w-8", "-o", "{d}/a.npz", "--fov", "60", "--intrinsics", "{d}/k.npy"], "either --intrinsics or --fov"),
        (["from-action", "w-8", "-o", "{d}/a.npz", "--intrinsics", "{d}/missing.npy"], "--intrinsics .*missing.npy.*no such file"),
        (["from-action", "w-8", "-o", "{d}/a.npz", "--intrinsics", "{d}/bad.npy"], r"\(F, 3, 3\)"),
        (["from-action", "w-8", "-o", "{d}/a.xyz"], "xyz"),
        (["info", "{d}/missing.npz"], "not found"),
        (["convert", "{d}/garbage.npz", "{d}/b.csv"], "garbage.npz"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys, argv, fragment):
    np.save(tmp_path / "k.npy", np.array([500.0, 500, 320, 240]))
    np.save(tmp_path / "bad.npy", np.ones((2, 2)))
    (tmp_path / "garbage.npz").write_bytes(b"not a zip file")
    code, _, stderr = run(capsys, "trajectory", *[a.format(d=tmp_path) for a in argv])
    assert code == 2
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("sana-wm: error:")
    assert re.search(fragment, lines[0])


def test_fps_option_is_stored_and_changes_duration(tmp_path, capsys):
    out = tmp_path / "p.npz"
    code, stdout, _ = run(capsys, "trajectory", "from-action", "w-48", "-o", str(out), "--fps", "24")
    assert code == 0 and "2.00 s at 24 fps" in stdout
    traj = read_trajectory(out)
    assert traj.fps == 24.0 and traj.action == "w-48"
