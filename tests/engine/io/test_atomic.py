"""Atomic writes: files and folders appear complete under their final name or not at all."""

from __future__ import annotations

import gc

import pytest

from engine.io.atomic import AtomicDir, AtomicFile, atomic_dir, atomic_path, atomic_write_text


def names(folder):
    return sorted(p.name for p in folder.iterdir())


def test_atomic_path_renames_on_success_and_deletes_on_error(tmp_path):
    with atomic_path(tmp_path / "a.txt") as tmp:
        assert tmp.suffix == ".txt" and tmp.name.startswith(".a.")
        tmp.write_text("done")
    assert names(tmp_path) == ["a.txt"]
    with pytest.raises(ZeroDivisionError):
        with atomic_path(tmp_path / "b.txt") as tmp:
            tmp.write_text("half")
            1 / 0
    assert names(tmp_path) == ["a.txt"]


def test_atomic_file_explicit_lifetime_commit_discard_and_garbage_collection(tmp_path):
    staged = AtomicFile(tmp_path / "sub" / "v.mp4")
    staged.tmp.write_bytes(b"x")
    assert staged.pending and staged.commit() == tmp_path / "sub" / "v.mp4"
    assert not staged.pending and names(tmp_path / "sub") == ["v.mp4"]
    with pytest.raises(RuntimeError, match="already committed"):
        staged.commit()
    dropped = AtomicFile(tmp_path / "w.mp4")
    discarded = AtomicFile(tmp_path / "x.mp4")
    discarded.discard()
    discarded.discard()
    assert names(tmp_path) == [dropped.tmp.name, "sub"]
    del dropped
    gc.collect()
    assert names(tmp_path) == ["sub"]


def test_atomic_dir_refuses_existing_target_unless_overwrite(tmp_path):
    target = tmp_path / "seq"
    with atomic_dir(target) as tmp:
        (tmp / "0.png").write_bytes(b"new")
    assert names(target) == ["0.png"]
    with pytest.raises(FileExistsError, match="already exists"):
        AtomicDir(target)
    with atomic_dir(target, overwrite=True) as tmp:
        (tmp / "1.png").write_bytes(b"newer")
    assert names(target) == ["1.png"] and names(tmp_path) == ["seq"]


def test_atomic_dir_error_keeps_the_previous_folder_and_removes_the_temporary(tmp_path):
    target = tmp_path / "seq"
    target.mkdir()
    (target / "old.png").write_bytes(b"old")
    with pytest.raises(OSError):
        with atomic_dir(target, overwrite=True) as tmp:
            (tmp / "new.png").write_bytes(b"new")
            raise OSError("disk full")
    assert names(tmp_path) == ["seq"] and names(target) == ["old.png"]


def test_atomic_write_text_overwrites(tmp_path):
    atomic_write_text(tmp_path / "t.txt", "one")
    atomic_write_text(tmp_path / "t.txt", "two")
    assert (tmp_path / "t.txt").read_text() == "two" and names(tmp_path) == ["t.txt"]


def test_a_killed_writers_temporary_is_removed_by_the_next_write_to_the_folder(tmp_path):
    import os
    import signal
    import subprocess
    import sys

    script = (
        "import sys, time; from engine.io.atomic import AtomicFile, AtomicDir\n"
        f"f = AtomicFile({str(tmp_path / 'video.mp4')!r}); f.tmp.write_bytes(b'half'); d = AtomicDir({str(tmp_path / 'frames')!r})\n"
        "print('ready', flush=True); time.sleep(60)\n"
    )
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "ready"
        left = [n for n in names(tmp_path) if ".part" in n]
        assert len(left) == 2 and all(n.startswith(".") and f".{child.pid}-" in n for n in left)
        os.kill(child.pid, signal.SIGKILL)  # kill -9: no cleanup runs in the child
        child.wait(timeout=10)
    finally:
        child.kill()
    assert len([n for n in names(tmp_path) if ".part" in n]) == 2  # left behind by the killed run ...
    atomic_write_text(tmp_path / "video.txt", "next run")
    assert names(tmp_path) == ["video.txt"]  # ... and removed by the next write to the same folder


def test_sweep_keeps_live_temporaries_and_unrelated_hidden_files(tmp_path):
    from engine.io.atomic import sweep_stale

    live = AtomicFile(tmp_path / "a.bin")  # this process is alive: its temporary stays
    (tmp_path / ".config").write_text("not ours")
    (tmp_path / ".notes.part.txt").write_text("no random part, not a staged name")
    assert sweep_stale(tmp_path) == []
    assert live.tmp.exists() and (tmp_path / ".config").exists() and (tmp_path / ".notes.part.txt").exists()
    live.discard()


def test_a_temporary_of_the_older_form_is_removed_once_an_hour_old(tmp_path):
    import os
    import time

    from engine.io.atomic import LEGACY_STALE_AFTER_S, sweep_stale

    old, fresh = tmp_path / ".clip.k2j3h4.part.mp4", tmp_path / ".clip.a8b7c6.part.mp4"
    old.write_bytes(b"x")
    fresh.write_bytes(b"x")
    past = time.time() - LEGACY_STALE_AFTER_S - 5
    os.utime(old, (past, past))
    assert sweep_stale(tmp_path) == [old] and names(tmp_path) == [fresh.name]
