"""Fuzz: every text trajectory format (COLMAP, RealEstate10K, Nuke .chan, CSV, nerfstudio JSON), as valid files
mutated token by token, line by line and byte by byte, through ``sana-wm trajectory info`` and ``convert``.

An accepted file must convert to a native ``.npz`` of finite, rigid poses with positive, finite intrinsics.
"""

from __future__ import annotations

import json

import numpy as np
from fuzz_contract import case_dir, edit_json, fuzz, json_edits, run_cli
from hypothesis import given
from hypothesis import strategies as st

from engine.camera.actions import action_to_c2w
from engine.camera.formats import write_trajectory
from engine.camera.intrinsics import from_fov
from engine.camera.trajectory import Trajectory

FORMATS = {"colmap": "model", "re10k": "cams.txt", "nuke-chan": "cam.chan", "csv": "cam.csv", "nerfstudio": "path.json"}
TOKENS = ["nan", "inf", "-inf", "1e308", "-1e308", "0", "-1", "5", "x", "", "1e-320", "PINHOLE", "FISHEYE", "#", "99999999999",
          '"', "{", "[", "]", "null", "true", "-0"]  # fmt: skip


def valid_trajectory() -> Trajectory:
    c2w = action_to_c2w("w-4,jw-3,l-2")
    return Trajectory(c2w, intrinsics=from_fov(320, 176, fov_x_deg=60.0), image_size=(320, 176))


@st.composite
def mutations(draw: st.DrawFn) -> list[tuple[str, int, str]]:
    ops = st.tuples(st.sampled_from(["token", "token", "delete", "duplicate", "truncate", "insert", "swap", "nest"]),
                    st.integers(0, 10_000), st.one_of(st.sampled_from(TOKENS), st.text(max_size=12)))  # fmt: skip
    return draw(st.lists(ops, min_size=1, max_size=3))


def mutate(text: str, ops: list[tuple[str, int, str]]) -> str:
    for op, where, token in ops:
        lines = text.splitlines() or [""]
        i = where % len(lines)
        if op == "token":
            words = lines[i].replace(",", " , ").split(" ")
            if words:
                words[where % len(words)] = token
            lines[i] = " ".join(words).replace(" , ", ",")
        elif op == "delete":
            del lines[i]
        elif op == "duplicate":
            lines.insert(i, lines[i])
        elif op == "insert":
            lines.insert(i, token)
        elif op == "swap" and len(lines) > 1:
            j = (i + 1) % len(lines)
            lines[i], lines[j] = lines[j], lines[i]
        elif op == "truncate":
            return "\n".join(lines)[: where % max(len(text), 1)]
        elif op == "nest":
            return "[" * (1000 + where) + text + "]" * (where % 3)
        text = "\n".join(lines) + "\n"
    return text


def check_converted(path) -> None:
    with np.load(path, allow_pickle=False) as data:
        c2w = data["c2w"]
        k = data["intrinsics"] if "intrinsics" in data.files else None
    assert np.isfinite(c2w).all() and c2w.shape[1:] == (4, 4) and len(c2w) >= 1
    rot = c2w[:, :3, :3]
    assert np.allclose(rot.transpose(0, 2, 1) @ rot, np.eye(3), atol=2e-3) and np.allclose(np.linalg.det(rot), 1, atol=2e-3)
    if k is not None:
        assert np.isfinite(k).all() and (k[:, :2] > 0).all()


@fuzz(150)
@given(fmt=st.sampled_from(sorted(FORMATS)), ops=mutations())
def test_mutated_trajectory_files_are_refused_clearly_or_convert_to_valid_poses(fmt, ops):
    with case_dir() as d:
        target = d / FORMATS[fmt]
        write_trajectory(valid_trajectory(), target, format=fmt)
        files = sorted(target.glob("*.txt")) if fmt == "colmap" else [target]
        victim = files[ops[0][1] % len(files)]
        victim.write_text(mutate(victim.read_text(), ops))
        argv = ["trajectory", "info", str(target), "--json", "--from", fmt]
        if fmt in ("re10k", "csv", "nuke-chan"):  # formats that store no image size
            argv += ["--image-size", "320x176"]
        outcome = run_cli(argv, d, f"format {fmt}")
        if outcome.code == 0:
            info = json.loads(outcome.stdout)
            assert info["frames"] >= 1
            converted = run_cli(["trajectory", "convert", str(target), str(d / "out.npz"), "--from", fmt], d, f"format {fmt}")
            if converted.code == 0:  # a FOV outside the model's range is refused here, clearly
                check_converted(d / "out.npz")
        else:
            assert victim.name in outcome.error or target.name in outcome.error or "--image-size" in outcome.error


@fuzz(60)
@given(edits=json_edits())
def test_nerfstudio_values_of_the_wrong_type_or_range_are_refused_clearly(edits):
    with case_dir() as d:
        target = d / "path.json"
        write_trajectory(valid_trajectory(), target, format="nerfstudio")
        target.write_text(json.dumps(edit_json(json.loads(target.read_text()), edits)))
        outcome = run_cli(["trajectory", "info", str(target), "--json"], d, "format nerfstudio")
        if outcome.code == 0:
            converted = run_cli(["trajectory", "convert", str(target), str(d / "out.npz")], d, "format nerfstudio")
            if converted.code == 0:
                check_converted(d / "out.npz")
        else:
            assert "path.json" in outcome.error
