"""Autosave and crash recovery (app.autosave): the autosaver writes only when the project changed, on its timer and
off the UI thread, reports failures, and recovery lists the autosaves of apps that are gone. The ``.swm`` format
itself is tested with the engine (tests/engine/generation/test_session_file.py)."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from app import autosave  # noqa: E402
from app.autosave import Autosaver, SessionFileError, find_recovery, load_project  # noqa: E402
from engine.bundles import ModelBundle  # noqa: E402
from engine.generation.project import Project, StartSettings  # noqa: E402
from engine.generation.session import StreamSettings, WorldSession  # noqa: E402
from engine.generation.session_file import save_project  # noqa: E402


def image() -> np.ndarray:
    y, x = np.mgrid[0:80, 0:120]
    return np.stack([x * 2, y * 3, 255 - x], -1).clip(0, 255).astype(np.uint8)


def build(bundle: ModelBundle) -> Project:
    """Three chunks on Take 1, the cursor after chunk 1."""
    session = WorldSession(bundle, StreamSettings(seed=7))
    session.start(image(), seed=7)
    project = Project(StartSettings(image=image(), prompt="a quiet street", seed=7))
    for _ in range(3):
        project.add_chunk(session.step(np.tile(np.eye(4), (24, 1, 1))))
    project.rewind(1)
    return project


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    project = build(ModelBundle.random("sana-wm-tiny-test", frame_size=(96, 64), spatial_factor=16))
    path = tmp_path_factory.mktemp("swm") / "walk.swm"
    save_project(project, path)
    return project, None, path


def test_autosaver_saves_only_when_the_project_changed(qtbot, saved, tmp_path):
    project, _, _ = saved
    saver = Autosaver(tmp_path, interval_s=3600)
    saver.set_project(project)
    assert not saver.save_if_changed()  # nothing changed since it started watching
    project.rename(0, "Take 1")
    with qtbot.waitSignal(saver.saved, timeout=10_000) as signal:
        assert saver.save_if_changed()
    assert signal.args == [str(saver.path)] and saver.path.name == f"autosave-{saver.id}.swm"
    assert load_project(saver.path).cursor == project.cursor
    assert not saver.save_if_changed()
    saver.close()
    assert not saver.path.exists() and list(tmp_path.iterdir()) == []


def test_autosaver_saves_on_its_timer(qtbot, tiny_bundle, tmp_path):
    project = build(tiny_bundle)
    saver = Autosaver(tmp_path, interval_s=0.05)
    saver.set_project(project)
    project.rewind(0)
    with qtbot.waitSignal(saver.saved, timeout=10_000):
        pass
    saver.wait()
    assert load_project(saver.path).cursor == 1
    saver.close()


def test_autosaver_reports_a_failed_save(qtbot, tmp_path, monkeypatch):
    saver = Autosaver(tmp_path, interval_s=3600)
    project = Project(StartSettings(image=image()))
    saver.set_project(project)
    project.rename(0, "x")
    monkeypatch.setattr(autosave, "save_project", lambda p, path: (_ for _ in ()).throw(SessionFileError("disk full")))
    with qtbot.waitSignal(saver.failed, timeout=10_000) as signal:
        saver.save_if_changed()
    assert signal.args == ["disk full"]
    saver.wait()
    saver.close()


def test_recovery_lists_autosaves_of_dead_apps_but_not_of_running_ones(qtbot, saved, tmp_path):
    project, _, path = saved
    running = Autosaver(tmp_path, interval_s=3600)
    running.set_project(project)
    project.rename(0, "Take 1")
    running.save_if_changed()
    running.wait()
    assert running.path.exists() and find_recovery(tmp_path) == []  # its app (this one) is alive

    crashed = tmp_path / "autosave-deadbeef0001.swm"
    crashed.write_bytes(path.read_bytes())
    script = ("import os, sys; from PySide6.QtCore import QLockFile; "
              "lock = QLockFile(sys.argv[1]); assert lock.tryLock(0); os._exit(0)")  # fmt: skip
    subprocess.run([sys.executable, "-c", script, str(crashed.with_suffix(".lock"))], check=True, timeout=60)
    assert crashed.with_suffix(".lock").exists()  # the dead app's lock is left behind
    (tmp_path / "autosave-broken.swm").write_text("not a zip")  # skipped with a warning
    found = find_recovery(tmp_path)
    assert [r.path for r in found] == [crashed]
    assert found[0].chunks == 3 and found[0].prompt == "a quiet street"
    assert load_project(found[0].path).current.name == "Take 1"
    found[0].discard()
    assert not crashed.exists() and not crashed.with_suffix(".lock").exists()
    running.close()
    assert find_recovery(tmp_path / "nothing-here") == []


