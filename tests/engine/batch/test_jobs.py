"""Job files of ``sana-wm batch``: fields, aliases, paths and the one-line errors of bad lines."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine.batch.jobs import read_jobs
from engine.errors import InputFileError


def _write(tmp_path: Path, name: str, lines: list[str]) -> Path:
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_jsonl_jobs_resolve_paths_against_the_job_file_and_keep_the_fields(tmp_path: Path) -> None:
    (tmp_path / "img.png").write_bytes(b"x")
    (tmp_path / "K.npy").write_bytes(b"x")
    path = _write(tmp_path, "jobs.jsonl", [
        json.dumps({"name": "a", "image": "img.png", "action": "w-24", "intrinsics": "K.npy", "seed": 7,
                    "frames": 25, "prompt": "a street"}),
        "# a comment line",
        "",
        json.dumps({"demo": "meadow_stroll", "mode": "bidirectional"}),
    ])
    jobs, errors = read_jobs(path)
    assert errors == []
    a, b = jobs
    assert (a.name, a.image, a.intrinsics, a.seed, a.frames, a.prompt) == (
        "a", tmp_path / "img.png", tmp_path / "K.npy", 7, 25, "a street")
    assert (b.name, b.line, b.demo, b.mode, b.seed) == ("job4", 4, "meadow_stroll", "bidirectional", 42)
    argv = a.generate_argv(tmp_path / "out", fps=16.0)
    assert argv[argv.index("--image") + 1] == str(tmp_path / "img.png")
    assert argv[argv.index("--num_frames") + 1] == "25" and argv[argv.index("--fps") + 1] == "16.0"
    assert argv[argv.index("--name") + 1] == "a" and "--quiet" in argv


def test_benchmark_manifest_aliases_read_with_a_root_folder(tmp_path: Path) -> None:
    (tmp_path / "images").mkdir()
    (tmp_path / "images" / "game_style_001.png").write_bytes(b"x")
    (tmp_path / "split").mkdir()
    (tmp_path / "split" / "game_style_001.npz").write_bytes(b"x")
    manifest = _write(tmp_path / "split", "run_manifest.jsonl", [json.dumps(
        {"id": "game_style_001", "prompt": "p", "image_path": "images/game_style_001.png",
         "camera_path": "split/game_style_001.npz"})])
    jobs, errors = read_jobs(manifest, root=tmp_path, frames=961)
    assert errors == [] and jobs[0].name == "game_style_001"
    assert jobs[0].camera == tmp_path / "split" / "game_style_001.npz" and jobs[0].frames == 961


@pytest.mark.parametrize("line, field, found", [
    ({"name": "s", "demo": "meadow_stroll", "seed": "abc"}, "seed", '"abc"'),
    ({"name": "f", "demo": "meadow_stroll", "frames": 0}, "frames", "0"),
    ({"name": "m", "demo": "meadow_stroll", "mode": "fast"}, "mode", "'fast'"),
    ({"name": "i", "image": "missing.png", "action": "w-8"}, "image", "missing.png"),
    ({"name": "x", "demo": "meadow_stroll", "colour": "red"}, "colour", "unknown field"),
    ({"name": "bad name!", "demo": "meadow_stroll"}, "name", "bad name!"),
    ({"name": "n", "action": "w-8"}, "image", "neither"),
])
def test_a_bad_line_names_its_line_and_field_and_the_rest_still_run(tmp_path: Path, line, field, found) -> None:
    path = _write(tmp_path, "jobs.jsonl", [json.dumps({"name": "good", "demo": "meadow_stroll"}), json.dumps(line)])
    jobs, errors = read_jobs(path)
    assert [j.name for j in jobs] == ["good"]
    (error,) = errors
    assert error.line == 2
    assert f"jobs.jsonl line 2, field '{field}'" in error.message and found in error.message
    assert "\n" not in error.message


def test_invalid_json_and_duplicate_names_are_reported_by_line(tmp_path: Path) -> None:
    path = _write(tmp_path, "jobs.jsonl", [json.dumps({"name": "a", "demo": "meadow_stroll"}), "{not json",
                                           json.dumps({"name": "a", "demo": "meadow_stroll"})])
    jobs, errors = read_jobs(path)
    assert len(jobs) == 1
    assert [e.line for e in errors] == [2, 3]
    assert "invalid JSON" in errors[0].message and "again (line 1)" in errors[1].message


def test_csv_jobs_with_empty_cells_take_the_defaults(tmp_path: Path) -> None:
    path = _write(tmp_path, "jobs.csv", ["name,demo,action,seed,frames", "a,meadow_stroll,w-24,3,",
                                         "b,meadow_stroll,,,49", "c,meadow_stroll,w-8,x,"])
    jobs, errors = read_jobs(path, model=None, frames=25)
    assert [(j.name, j.action, j.seed, j.frames) for j in jobs] == [("a", "w-24", 3, 25), ("b", None, 42, 49)]
    assert errors[0].line == 4 and "field 'seed'" in errors[0].message


def test_a_missing_or_empty_job_file_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputFileError, match="expected a job file"):
        read_jobs(tmp_path / "none.jsonl")
    with pytest.raises(InputFileError, match="at least one job line"):
        read_jobs(_write(tmp_path, "empty.jsonl", ["# nothing"]))
