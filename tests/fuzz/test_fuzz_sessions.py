"""Fuzz: ``.swm`` session files, their manifest mutated value by value and their members deleted, truncated,
replaced or renamed (zip-slip names, a deflate bomb, a manifest declaring 10^9 frames, negative and huge strides).

Loading must refuse with one :class:`~engine.errors.SessionFileError` naming the file, within the per-case time limit,
or give a project whose start intrinsics are finite and positive and whose frames are images.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
from fuzz_contract import case_dir, edit_json, fuzz, json_edits, run_reader
from hypothesis import given
from hypothesis import strategies as st

from engine.bundles import ModelBundle
from engine.errors import SanaWMInputError, SessionFileError
from engine.generation.project import Project, StartSettings
from engine.generation.session import StreamSettings, WorldSession
from engine.generation.session_file import load_project, save_project


@pytest.fixture(scope="module")
def session_file(tmp_path_factory) -> Path:
    bundle = ModelBundle.random("sana-wm-tiny-test", frame_size=(64, 32), spatial_factor=16)
    session = WorldSession(bundle, StreamSettings(seed=3))
    image = np.random.default_rng(0).integers(0, 255, (32, 64, 3), dtype=np.uint8)
    start = StartSettings(image=image, prompt="fuzz", seed=3, intrinsics=(50.0, 50.0, 32.0, 16.0))
    session.start(image, intrinsics=start.intrinsics, seed=3)
    project = Project(start)
    project.stream_settings = session.settings
    c2w = np.tile(np.eye(4), (24, 1, 1))
    c2w[:, 2, 3] = 0.01 * np.arange(1, 25)
    for _ in range(2):
        project.add_chunk(session.step(c2w))
    path = tmp_path_factory.mktemp("swm") / "base.swm"
    save_project(project, path)
    return path


def rewrite(source: Path, target: Path, members: dict[str, bytes | None], *, manifest_deflated: bool = True) -> None:
    """Copy ``source`` to ``target`` with ``members`` replaced (None deletes; new names are added)."""
    with zipfile.ZipFile(source) as src, zipfile.ZipFile(target, "w") as dst:
        for info in src.infolist():
            if info.filename in members:
                continue
            dst.writestr(info, src.read(info))
        for name, data in members.items():
            if data is not None:
                kind = zipfile.ZIP_DEFLATED if name == "manifest.json" and manifest_deflated else zipfile.ZIP_STORED
                dst.writestr(name, data, kind)


def manifest_of(path: Path) -> dict:
    with zipfile.ZipFile(path) as archive:
        return json.loads(archive.read("manifest.json"))


def check_project(project: Project) -> None:
    if project.start.intrinsics is not None:
        vec = np.asarray(project.start.intrinsics)
        assert vec.shape == (4,) and np.isfinite(vec).all() and (vec[:2] > 0).all()
    for branch in project.branches.values():
        for entry in branch.chunks:
            frames = entry.record.frames
            assert frames.dtype == np.uint8 and frames.ndim == 4 and frames.shape[3] == 3


def load(path: Path, workdir: Path) -> Project | SanaWMInputError:
    result = run_reader(lambda: load_project(path), "session files", workdir=workdir)
    if isinstance(result, SanaWMInputError):
        assert isinstance(result, SessionFileError) and str(path) in str(result), result
    else:
        check_project(result)
    return result


@fuzz(70)
@given(edits=json_edits())
def test_manifest_values_of_any_type_are_refused_clearly_or_load_a_valid_project(session_file, edits):
    with case_dir() as d:
        target = d / "edited.swm"
        manifest = edit_json(manifest_of(session_file), edits)
        rewrite(session_file, target, {"manifest.json": json.dumps(manifest).encode()})
        load(target, d)


member_ops = st.sampled_from(["delete", "truncate", "garbage", "empty", "slip", "duplicate"])


@fuzz(40)
@given(op=member_ops, which=st.integers(0, 10**6), cut=st.floats(0, 1))
def test_members_deleted_damaged_or_renamed_are_refused_clearly(session_file, op, which, cut):
    with zipfile.ZipFile(session_file) as archive:
        names = archive.namelist()
        name = names[which % len(names)]
        data = archive.read(name)
    changes: dict[str, bytes | None] = {
        "delete": {name: None},
        "truncate": {name: data[: int(len(data) * cut)]},
        "garbage": {name: b"\x00garbage" * 20},
        "empty": {name: b""},
        "slip": {f"../../{name}": data, name: None},
        "duplicate": {f"chunks/../{name}": data},
    }[op]
    with case_dir() as d:
        rewrite(session_file, d / "damaged.swm", changes)
        assert not (d.parent / name).exists()
        load(d / "damaged.swm", d)


@pytest.mark.parametrize("case", ["frames-1e9", "negative-stride", "huge-stride", "nan-intrinsics", "deep-manifest",
                                  "bomb-manifest", "entries-list", "entry-string", "not-a-zip", "empty-file"])  # fmt: skip
def test_session_corpus_from_the_issue(session_file, tmp_path, case):
    target = tmp_path / "case.swm"
    manifest = manifest_of(session_file)
    first = next(iter(manifest["entries"]))
    changes: dict[str, bytes | None] = {}
    if case == "frames-1e9":
        manifest["entries"][first]["frames"]["count"] = 10**9
    elif case in ("negative-stride", "huge-stride"):
        ref = manifest["entries"][first]["latents"]
        manifest["strides"][ref] = [-1, 1, 1, 1, 1] if case == "negative-stride" else [2**40] * 5
    elif case == "nan-intrinsics":
        manifest["start"]["intrinsics"] = [float("nan"), 50.0, 32.0, 16.0]
    elif case == "entries-list":
        manifest["entries"] = list(manifest["entries"].values())
    elif case == "entry-string":
        manifest["entries"][first] = "chunk"
    text = json.dumps(manifest)
    if case == "deep-manifest":
        text = '{"format": ' + "[" * 200_000
    if case == "bomb-manifest":
        text = text[:-1] + ', "pad": "' + " " * 70_000_000 + '"}'  # 70 MB (over the 64 MiB cap) deflating to ~70 KB
    if case in ("not-a-zip", "empty-file"):
        target.write_bytes(b"" if case == "empty-file" else b"PK\x05\x06 not really")
    else:
        changes["manifest.json"] = text.encode()
        rewrite(session_file, target, changes)
    result = load(target, tmp_path)
    assert isinstance(result, SessionFileError), f"{case} was accepted"
