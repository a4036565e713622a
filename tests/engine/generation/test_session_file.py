"""Session files (.swm): a saved project loads back whole (takes, cursor, records, snapshots, refined frames), a
loaded session continues exactly as the unsaved one, bad files fail clearly, and the whole cycle (save, load, resume,
refine) runs in a process where Qt cannot be imported."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
import textwrap
import threading
import zipfile

import numpy as np
import pytest
import torch

from engine.bundles import ModelBundle
from engine.errors import ExportCancelled
from engine.generation import swm_archive
from engine.generation.project import Project, StartSettings
from engine.generation.session import StreamSettings, WorldSession
from engine.generation.session_file import (
    SessionFileError,
    StoredKeyMap,
    load_project,
    read_manifest,
    redecode_previews,
    resume_session,
    save_project,
)


@pytest.fixture(scope="module")
def bundle() -> ModelBundle:
    return ModelBundle.random("sana-wm-tiny-test", frame_size=(96, 64), spatial_factor=16)


def image() -> np.ndarray:
    y, x = np.mgrid[0:80, 0:120]
    return np.stack([x * 2, y * 3, 255 - x], -1).clip(0, 255).astype(np.uint8)


def poses(dx: float, dz: float) -> np.ndarray:
    c2w = np.tile(np.eye(4), (24, 1, 1))
    c2w[:, 0, 3] = dx * np.arange(1, 25)
    c2w[:, 2, 3] = dz * np.arange(1, 25)
    return c2w


def build(bundle: ModelBundle) -> tuple[Project, WorldSession]:
    """Take 1: chunks 0-2; rewind to chunk 0 and fork Take 2 with chunks 1-2; chunk 1 of Take 2 refined;
    Take 1 current with the cursor after chunk 1."""
    session = WorldSession(bundle, StreamSettings(seed=7))
    start = StartSettings(image=image(), prompt="a quiet street", seed=7, keymap="v1", intrinsics=(80.0, 80.0, 60.0, 40.0),
                          extras={"path": {"keyframes": [[0, 0, 0]]}})  # fmt: skip
    session.start(start.image, intrinsics=start.intrinsics, seed=7)
    project = Project(start)
    project.stream_settings = session.settings
    for k in range(3):
        project.add_chunk(session.step(poses(0.01 * k, 0.02)))
    project.rewind(0)
    session.restore(project.snapshot_at(0))
    for k in range(2):
        project.add_chunk(session.step(poses(-0.02, 0.01 * k)))
    project.set_refined(1, np.full_like(project.current.chunks[1].record.frames, 33))
    project.rename(1, "Left turn")
    project.switch(0)
    project.rewind(1)
    session.restore(project.snapshot_at(1))
    return project, session


@pytest.fixture(scope="module")
def saved(bundle, tmp_path_factory):
    project, session = build(bundle)
    path = tmp_path_factory.mktemp("swm") / "walk.swm"
    save_project(project, path, snapshot_every=1)  # every snapshot stored (compact files: test_session_file_compact)
    return project, session, path


def test_a_saved_project_loads_back_with_its_takes_cursor_and_settings(saved):
    project, _, path = saved
    loaded = load_project(path)
    assert not loaded.dirty and loaded.current_id == 0 and loaded.cursor == 2 and loaded.next_id == project.next_id
    assert {b.id: (b.name, b.parent, b.fork_chunk, len(b.chunks)) for b in loaded.branches.values()} == {
        0: ("Take 1", None, 0, 3), 1: ("Left turn", 0, 1, 3)}
    assert loaded.branches[1].chunks[0] is loaded.branches[0].chunks[0]  # shared entries stay shared
    np.testing.assert_array_equal(loaded.start.image, project.start.image)
    for field in ("prompt", "seed", "keymap", "intrinsics", "extras", "model", "image_name"):
        assert getattr(loaded.start, field) == getattr(project.start, field), field
    assert loaded.stream_settings == project.stream_settings


def test_records_and_snapshots_are_restored_exactly(saved):
    project, _, path = saved
    loaded = load_project(path)
    for bid, branch in project.branches.items():
        for old, new in zip(branch.chunks, loaded.branches[bid].chunks, strict=True):
            a, b = old.record, new.record
            assert (a.index, a.latent_range, a.pixel_range, a.timings) == (b.index, b.latent_range, b.pixel_range, b.timings)
            assert torch.equal(a.latents, b.latents) and a.latents.dtype == b.latents.dtype
            np.testing.assert_array_equal(a.c2w, b.c2w)
            np.testing.assert_array_equal(a.intrinsics, b.intrinsics)
            sa, sb = a.snapshot, b.snapshot
            assert (sa.chunks_done, sa.history_length) == (sb.chunks_done, sb.history_length)
            assert torch.equal(sa.first_latent, sb.first_latent) and torch.equal(sa.decoder_state.last, sb.decoder_state.last)
            np.testing.assert_array_equal(sa.c2w, sb.c2w)
            ta, _ = sa.cache.to_tensors()
            tb, _ = sb.cache.to_tensors()
            assert ta.keys() == tb.keys() and all(torch.equal(ta[k], tb[k]) for k in ta)
            assert all(ta[k].stride() == tb[k].stride() for k in ta)  # layouts too: they decide kernel rounding
    one, two = (loaded.branches[0].chunks[k].record.snapshot.cache.to_tensors()[0] for k in (1, 2))
    sink = next(name for name in one if ".kv.0." in name)
    assert one[sink] is two[sink]  # stored once, loaded once, shared again


def test_refined_frames_are_lossless_and_previews_are_close_jpegs(saved):
    project, _, path = saved
    loaded = load_project(path)
    np.testing.assert_array_equal(loaded.branches[1].chunks[1].refined_frames, project.branches[1].chunks[1].refined_frames)
    assert not loaded.branches[0].chunks[1].refined
    for old, new in zip(project.branches[0].chunks, loaded.branches[0].chunks):
        diff = np.abs(old.record.frames.astype(int) - new.record.frames.astype(int))
        assert new.record.frames.shape == old.record.frames.shape and diff.mean() < 2.0


def test_redecode_previews_restores_the_exact_stage1_frames(saved, bundle):
    project, _, path = saved
    loaded = load_project(path)
    assert redecode_previews(loaded, bundle.codec) == 5  # 3 + 2 distinct chunk entries
    for bid, branch in project.branches.items():
        for old, new in zip(branch.chunks, loaded.branches[bid].chunks):
            np.testing.assert_array_equal(old.record.frames, new.record.frames)


def test_png_previews_are_exact_without_the_model(bundle, tmp_path):
    project, _ = build(bundle)
    save_project(project, tmp_path / "exact.swm", preview_format="png")
    loaded = load_project(tmp_path / "exact.swm")
    np.testing.assert_array_equal(loaded.frames(0), project.frames(0))
    with pytest.raises(SessionFileError, match="preview_format: expected one of jpeg, png, found 'gif'"):
        save_project(project, tmp_path / "x.swm", preview_format="gif")


def test_shared_chunks_and_the_sink_kv_are_stored_once(saved):
    _, _, path = saved
    manifest = read_manifest(path)
    assert len(manifest["entries"]) == 5
    with zipfile.ZipFile(path) as archive:
        assert sum(n.endswith("tensors.safetensors") for n in archive.namelist()) == 5
        assert archive.getinfo("chunks/0000/tensors.safetensors").compress_type == zipfile.ZIP_STORED
    refs = [r for spec in manifest["entries"].values() for n, r in spec["snapshot"]["cache"]["tensors"].items() if ".kv.0." in n]
    assert len(refs) > 5 and all(r.startswith("0000/") for r in refs)  # every later snapshot points into entry 0
    first = {spec["snapshot"]["first_latent"] for spec in manifest["entries"].values()}
    assert len(first) == 1


def test_a_loaded_session_continues_exactly_like_the_unsaved_one(saved, bundle):
    project, session, path = saved
    next_poses = poses(0.03, 0.03)
    session.restore(project.snapshot_at(project.cursor - 1))
    expected = session.step(next_poses)

    loaded = load_project(path)
    fresh = WorldSession(bundle)
    resume_session(fresh, loaded)
    assert fresh.chunks_done == 2 and fresh.settings.seed == 7
    found = fresh.step(next_poses)
    assert found.index == expected.index == 2
    assert torch.equal(found.latents, expected.latents)
    np.testing.assert_array_equal(found.frames, expected.frames)
    np.testing.assert_array_equal(found.c2w, expected.c2w)

    # a rewind on the loaded project (another take) also continues exactly
    session.restore(project.branches[1].chunks[2].record.snapshot)
    expected = session.step(next_poses)
    loaded.switch(1)
    fresh.restore(loaded.snapshot_at(2))
    assert torch.equal(fresh.step(next_poses).latents, expected.latents)


def test_resume_at_the_start_and_without_chunks(saved, bundle):
    project, session, path = saved
    loaded = load_project(path)
    loaded.rewind(-1)
    fresh = WorldSession(bundle)
    resume_session(fresh, loaded)
    assert fresh.chunks_done == 0
    session.rewind(-1)
    assert torch.equal(fresh.step(poses(0, 0.02)).latents, session.step(poses(0, 0.02)).latents)

    empty = Project(StartSettings(image=image(), intrinsics=(80.0, 80.0, 60.0, 40.0), seed=3))
    fresh = WorldSession(bundle)
    resume_session(fresh, empty)
    assert fresh.started and fresh.chunks_done == 0 and fresh.settings.seed == 3


def test_resume_with_another_model_names_the_shapes(saved):
    _, _, path = saved
    other = ModelBundle.random("sana-wm-tiny-test", frame_size=(64, 32), spatial_factor=16)
    with pytest.raises(SessionFileError, match=r"latents of shape \(1, 8, 1, 4, 6\).*makes \(1, 8, 1, 2, 4\)"):
        resume_session(WorldSession(other), load_project(path))


def test_an_empty_project_round_trips(tmp_path):
    project = Project(StartSettings(image=image(), prompt="p"))
    save_project(project, tmp_path / "empty.swm")
    loaded = load_project(tmp_path / "empty.swm")
    assert loaded.cursor == 0 and loaded.current.chunks == [] and loaded.start.prompt == "p"


def test_missing_and_non_zip_files_are_clear_errors(tmp_path):
    with pytest.raises(SessionFileError, match="expected a session file .*found no such file"):
        load_project(tmp_path / "nothing.swm")
    (tmp_path / "text.swm").write_text("hello")
    with pytest.raises(SessionFileError, match="expected a .swm session file \\(a zip archive\\)"):
        load_project(tmp_path / "text.swm")


def rewrite(src, dst, manifest_change=None, drop=None):
    with zipfile.ZipFile(src) as a, zipfile.ZipFile(dst, "w") as b:
        for info in a.infolist():
            if info.filename == drop:
                continue
            data = a.read(info.filename)
            if info.filename == "manifest.json" and manifest_change:
                manifest = json.loads(data)
                manifest_change(manifest)
                data = json.dumps(manifest).encode()
            b.writestr(info, data)


def test_wrong_version_wrong_format_and_missing_parts_are_clear_errors(saved, tmp_path):
    _, _, path = saved
    rewrite(path, tmp_path / "v9.swm", lambda m: m.update(version=9))
    with pytest.raises(SessionFileError, match="expected session file version 1, 2 or 3, found version 9"):
        load_project(tmp_path / "v9.swm")
    rewrite(path, tmp_path / "other.swm", lambda m: m.update(format="something"))
    with pytest.raises(SessionFileError, match="expected a 'sana-wm-session' file, found format 'something'"):
        load_project(tmp_path / "other.swm")
    rewrite(path, tmp_path / "noimage.swm", drop="image.png")
    with pytest.raises(SessionFileError, match="expected image.png in the session file"):
        load_project(tmp_path / "noimage.swm")
    rewrite(path, tmp_path / "bad.swm", lambda m: m["branches"][0].update(chunks=["0001"]))
    with pytest.raises(SessionFileError, match="does not hold chunks 0, 1, 2"):
        load_project(tmp_path / "bad.swm")
    rewrite(path, tmp_path / "cursor.swm", lambda m: m.update(cursor=12))
    with pytest.raises(SessionFileError, match="cursor: expected 0..3 on branch 0, found 12"):
        load_project(tmp_path / "cursor.swm")


def test_a_damaged_archive_is_a_clear_error(saved, tmp_path):
    _, _, path = saved
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as archive:
        info = archive.getinfo("chunks/0001/tensors.safetensors")
    start = info.header_offset + 30 + len(info.filename) + len(info.extra) + 200
    data[start : start + 64] = bytes(64)  # zeroes inside a stored member: its CRC no longer matches
    (tmp_path / "damaged.swm").write_bytes(bytes(data))
    with pytest.raises(SessionFileError, match="chunks/0001/tensors.safetensors cannot be read .*damaged"):
        load_project(tmp_path / "damaged.swm")
    (tmp_path / "cut.swm").write_bytes(path.read_bytes()[: len(data) // 2])
    with pytest.raises(SessionFileError, match="zip archive"):
        load_project(tmp_path / "cut.swm")


def test_a_failed_save_leaves_the_previous_file_and_no_temporary(saved, tmp_path, monkeypatch):
    project, _, path = saved
    target = tmp_path / "keep.swm"
    target.write_bytes(path.read_bytes())
    calls = []

    def failing(frame, fmt):
        calls.append(1)
        if len(calls) > 3:
            raise OSError(28, "No space left on device")
        return b"x"

    monkeypatch.setattr(swm_archive, "encode_image", failing)
    with pytest.raises(SessionFileError, match="keep.swm: cannot write the session file \\(No space left on device\\)"):
        save_project(project, target)
    assert target.read_bytes() == path.read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.swm"]


def test_extras_that_are_not_json_are_refused(tmp_path):
    project = Project(StartSettings(image=image(), extras={"x": object()}))
    with pytest.raises(SessionFileError, match="extras: expected JSON values"):
        save_project(project, tmp_path / "x.swm")
    assert not (tmp_path / "x.swm").exists()


def test_save_reports_progress_and_a_cancel_leaves_no_file(saved, tmp_path):
    project, _, _ = saved
    reports = []
    save_project(project, tmp_path / "p.swm", progress=reports.append)
    assert [(r.stage, r.done, r.total) for r in reports] == [("save", k, 5) for k in range(6)]
    cancel = threading.Event()

    def stop_at_two(report):
        if report.done == 2:
            cancel.set()

    with pytest.raises(ExportCancelled):
        save_project(project, tmp_path / "q.swm", progress=stop_at_two, cancel=cancel)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.swm"]


def test_a_reanchored_stream_saves_and_continues_exactly(bundle, tmp_path):
    anchored = dataclasses.replace(bundle, context_frames=7)  # re-anchors from chunk 2 on
    session = WorldSession(anchored, StreamSettings(seed=5))
    session.start(image(), intrinsics=(80.0, 80.0, 60.0, 40.0))
    project = Project(StartSettings(image=image(), intrinsics=(80.0, 80.0, 60.0, 40.0), seed=5))
    project.stream_settings = session.settings
    for k in range(4):
        project.add_chunk(session.step(poses(0.01 * k, 0.02)))
    snap = session.snapshot()
    assert snap.anchor == 6 and snap.recent_latents.shape[2] == 4
    save_project(project, tmp_path / "long.swm")
    expected = session.step(poses(0.03, 0.0))

    loaded = load_project(tmp_path / "long.swm")
    assert loaded.stream_settings.reanchor
    stored = loaded.snapshot_at(3)
    assert stored.anchor == 6 and torch.equal(stored.recent_latents, snap.recent_latents)
    fresh = WorldSession(anchored)
    resume_session(fresh, loaded)
    assert torch.equal(fresh.step(poses(0.03, 0.0)).latents, expected.latents)


def test_files_from_before_reanchoring_continue_without_it(saved, tmp_path):
    _, _, path = saved

    def as_version_2(manifest):
        manifest["version"] = 2
        del manifest["stream_settings"]["reanchor"]

    rewrite(path, tmp_path / "v2.swm", as_version_2)
    assert load_project(tmp_path / "v2.swm").stream_settings.reanchor is False


def test_files_from_before_committing_the_shown_frames_continue_committing_the_sampled_ones(saved, tmp_path):
    project, _, path = saved
    assert load_project(path).stream_settings.commit_shown is project.stream_settings.commit_shown is True

    def as_before(manifest):
        del manifest["stream_settings"]["commit_shown"]

    rewrite(path, tmp_path / "before.swm", as_before)
    assert load_project(tmp_path / "before.swm").stream_settings.commit_shown is False


def test_files_keep_the_sharp_decode_they_were_made_with(saved, tmp_path):
    project, _, path = saved
    assert load_project(path).stream_settings.sharp_decode == project.stream_settings.sharp_decode == 3

    def version(v, *drop):
        def edit(manifest):
            manifest["stream_settings"]["sharp_decode"] = v
            for key in drop:
                del manifest["stream_settings"][key]
        return edit

    rewrite(path, tmp_path / "v2.swm", version(2))
    assert load_project(tmp_path / "v2.swm").stream_settings.sharp_decode == 2
    rewrite(path, tmp_path / "trusting.swm", version(None, "sharp_decode"))  # saved before the version was
    assert load_project(tmp_path / "trusting.swm").stream_settings.sharp_decode == 2
    rewrite(path, tmp_path / "first.swm", version(None, "sharp_decode", "commit_shown"))
    assert load_project(tmp_path / "first.swm").stream_settings.sharp_decode == 1
    for bad in (9, "3", True):
        rewrite(path, tmp_path / "newer.swm", version(bad))
        with pytest.raises(SessionFileError, match=r"stream_settings\.sharp_decode: expected one of 1, 2, 3, found"):
            load_project(tmp_path / "newer.swm")


def test_files_from_before_the_contrast_floor_stream_without_one_and_bad_floors_are_named(saved, tmp_path):
    _, _, path = saved

    def edit(**values):
        def change(manifest):
            for key in ("contrast_floor", "contrast_cap"):
                manifest["stream_settings"].pop(key)
            manifest["stream_settings"].update(values)
        return change

    rewrite(path, tmp_path / "before.swm", edit())
    assert load_project(tmp_path / "before.swm").stream_settings.contrast_floor == 0.0
    for values, message in (({"contrast_floor": 3}, r"stream_settings\.contrast_floor: expected a share of the start image's contrast in \[0, 1\], found 3"),
                            ({"contrast_floor": "0.5"}, r"stream_settings\.contrast_floor: expected a number, found '0\.5'"),
                            ({"contrast_cap": 0.2}, r"stream_settings\.contrast_cap: expected a finite stretch of at least 1, found 0\.2")):  # fmt: skip
        rewrite(path, tmp_path / "bad.swm", edit(**values))
        with pytest.raises(SessionFileError, match=message):
            load_project(tmp_path / "bad.swm")


def test_files_keep_their_reanchor_sink_and_files_from_before_it_re_anchor_on_the_last_frames(saved, tmp_path):
    project, _, path = saved
    assert load_project(path).stream_settings.reanchor_sink == project.stream_settings.reanchor_sink == "recent"

    def sink(value):
        def edit(manifest):
            if value is None:
                del manifest["stream_settings"]["reanchor_sink"]
            else:
                manifest["stream_settings"]["reanchor_sink"] = value
        return edit

    rewrite(path, tmp_path / "start.swm", sink("start"))
    assert load_project(tmp_path / "start.swm").stream_settings.reanchor_sink == "start"
    rewrite(path, tmp_path / "before.swm", sink(None))
    assert load_project(tmp_path / "before.swm").stream_settings.reanchor_sink == "recent"
    rewrite(path, tmp_path / "newer.swm", sink("nearest"))
    with pytest.raises(SessionFileError, match=r"stream_settings\.reanchor_sink: expected one of recent, start, found 'nearest'"):
        load_project(tmp_path / "newer.swm")


def test_a_current_take_that_does_not_exist_is_refused_with_the_files_name(saved, tmp_path):
    _, _, path = saved

    def edit(manifest):
        manifest["current"] = 7

    rewrite(path, tmp_path / "lost.swm", edit)
    with pytest.raises(SessionFileError, match=r"lost\.swm: manifest\.json: current branch: expected one of \[0, 1\], found 7"):
        load_project(tmp_path / "lost.swm")


def test_the_manifest_keeps_the_version_3_layout_of_snapshots_and_decoder_states(saved):
    """Files written now open in builds from before the format moved into the engine (and the other way round)."""
    _, _, path = saved
    manifest = read_manifest(path)
    snap = manifest["entries"]["0001"]["snapshot"]
    assert list(snap) == ["chunks_done", "history_length", "cache", "decoder_state", "c2w", "intrinsics",
                          "first_latent", "anchor", "recent_latents"]  # fmt: skip
    assert set(snap["cache"]) == {"meta", "tensors"} and snap["cache"]["meta"]["depth"] > 0
    assert set(snap["decoder_state"]) == {"kind", "ref"} and snap["decoder_state"]["kind"] == "tensor"


def test_an_ltx2_decoder_state_is_stored_by_its_own_tensors_and_metadata(saved, tmp_path):
    from types import MappingProxyType

    from engine.components.ltx2_vae import StreamState

    project, _, _ = saved
    contexts = {"decoder.conv_in": torch.randn(1, 4, 2, 3, 3), "decoder.up.0.conv": torch.randn(1, 2, 2, 6, 6)}
    state = StreamState(MappingProxyType(contexts), 7)
    entry = project.current.chunks[0]
    original = entry.record
    entry.record = dataclasses.replace(original, snapshot=dataclasses.replace(original.snapshot, decoder_state=state))
    try:
        save_project(project, tmp_path / "ltx.swm")
    finally:
        entry.record = original
    spec = read_manifest(tmp_path / "ltx.swm")["entries"]["0000"]["snapshot"]["decoder_state"]
    assert spec["kind"] == "ltx2" and spec["latent_frames"] == 7 and set(spec["contexts"]) == set(contexts)
    loaded = load_project(tmp_path / "ltx.swm").current.chunks[0].record.snapshot.decoder_state
    assert isinstance(loaded, StreamState) and loaded.latent_frames == 7
    assert all(torch.equal(loaded.contexts[name], t) for name, t in contexts.items())


def test_the_key_map_is_kept_as_the_json_the_app_wrote(tmp_path):
    project = Project(StartSettings(image=image(), keymap="mine"))
    text = json.dumps({"name": "mine", "version": "v1", "keys": {"F": "w", "Up": "i"}})
    project.set_keymap(StoredKeyMap("mine", text))
    save_project(project, tmp_path / "k.swm")
    loaded = load_project(tmp_path / "k.swm")
    assert loaded.keymap == StoredKeyMap("mine", text) and loaded.start.keymap == "mine"
    save_project(loaded, tmp_path / "again.swm")  # saved back unchanged, without the app
    assert read_manifest(tmp_path / "again.swm")["keymap"] == json.loads(text)


NO_QT_SCRIPT = textwrap.dedent(
    """
    import dataclasses, sys, tempfile
    from pathlib import Path


    class NoQt:
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] == "PySide6":
                raise ImportError(f"{name}: Qt is blocked in this process")
            return None


    sys.meta_path.insert(0, NoQt())
    import numpy as np
    import torch

    from engine.bundles import ModelBundle
    from engine.generation.project import Project, StartSettings
    from engine.generation.refine import refine_take
    from engine.generation.session import StreamSettings, WorldSession
    from engine.generation.session_file import load_project, resume_session, save_project
    from engine.testing.fake_refiner import ShiftRefiner

    def poses(dx):
        c2w = np.tile(np.eye(4), (24, 1, 1))
        c2w[:, 0, 3] = dx * np.arange(1, 25)
        c2w[:, 2, 3] = 0.02 * np.arange(1, 25)
        return c2w

    bundle = ModelBundle.random("sana-wm-tiny-test", frame_size=(96, 64), spatial_factor=16)
    bundle = dataclasses.replace(bundle, refiner=ShiftRefiner())
    y, x = np.mgrid[0:64, 0:96]
    image = np.stack([x * 2, y * 3, 255 - x], -1).clip(0, 255).astype(np.uint8)
    session = WorldSession(bundle, StreamSettings(seed=5))
    session.start(image, seed=5)
    project = Project(StartSettings(image=image, prompt="a lane", seed=5))
    project.stream_settings = session.settings
    for k in range(3):
        project.add_chunk(session.step(poses(0.01 * k)))
    path = Path(tempfile.mkdtemp()) / "script.swm"
    save_project(project, path)
    expected = session.step(poses(0.03))

    loaded = load_project(path)
    resumed = WorldSession(bundle)
    resume_session(resumed, loaded)
    found = resumed.step(poses(0.03))
    assert found.index == 3 and torch.equal(found.latents, expected.latents), "resume is not bit-exact"
    assert np.array_equal(found.frames, expected.frames)

    frames = refine_take(bundle, loaded, 1, 2)
    assert [f.shape[0] for f in frames] == [24, 24] and bundle.refiner.calls == [((1, 8, 7, 4, 6), "a lane", 5)]
    save_project(loaded, path)
    again = load_project(path)
    assert [e.refined for e in again.current.chunks] == [False, True, True]
    assert np.array_equal(again.current.chunks[2].refined_frames, frames[1])
    assert "PySide6" not in sys.modules
    print("saved, loaded, resumed and refined without Qt")
    """
)


def test_save_load_resume_and_refine_run_in_a_process_without_qt():
    result = subprocess.run([sys.executable, "-c", NO_QT_SCRIPT], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "without Qt" in result.stdout
