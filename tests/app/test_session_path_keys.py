"""Session files keep the authored camera path and the key map in use (manifest version 2): an exact round trip
(the engine stores the key map as JSON, :func:`app.autosave.load_project` reads it as the app's KeyMap),
version-1 files without them still load, malformed members are clear errors, autosave carries them, and the main
window saves, reopens and shows the same path (clean undo stack) and drives with the same keys."""

from __future__ import annotations

import json
import os
import zipfile

import numpy as np
import pytest
from PySide6.QtCore import Qt

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from app import main_window as mw  # noqa: E402
from app import autosave  # noqa: E402
from app.keymap import PRESETS, KeyMap, preset  # noqa: E402
from engine.camera.keyframes import CameraPath, Keyframe, default_path  # noqa: E402
from engine.generation.project import Project, StartSettings  # noqa: E402
from app.autosave import Autosaver, SessionFileError, load_project, save_project  # noqa: E402
from engine.generation.session_file import VERSION, read_manifest  # noqa: E402

TIMEOUT = 30000


def image() -> np.ndarray:
    y, x = np.mgrid[0:40, 0:60]
    return np.stack([x * 4, y * 6, 255 - x], -1).clip(0, 255).astype(np.uint8)


def authored_path() -> CameraPath:
    """Three keyframes with values that JSON must carry to the last bit (thirds, an odd rotation, FOVs)."""
    return CameraPath(
        [
            Keyframe(0, vfov_deg=47.3),
            Keyframe(17, (0.1 / 3, -0.2, 1.0 + 1e-12), (0.9, 0.1, -0.3, 0.2), 52.123456789),
            Keyframe(60, (1.5, 0.25, 3.0), (0.5, 0.5, 0.5, -0.5), 33.0),
        ],
        length=97,
        frame_size=(96, 64),
    )


def custom_keymap() -> KeyMap:
    """The arrows preset with W moved to F and strafing on the v1 mapping: a table no preset has."""
    arrows = PRESETS["arrows"].with_key("w", Qt.Key.Key_F.value)
    return KeyMap.make("custom", "v1", dict(arrows.keys))


def project_with_path_and_keys() -> Project:
    project = Project(StartSettings(image=image(), prompt="p", keymap="custom"))
    project.set_camera_path(authored_path())
    project.set_keymap(custom_keymap())
    return project


def rewrite_manifest(src, dst, change) -> None:
    with zipfile.ZipFile(src) as a, zipfile.ZipFile(dst, "w") as b:
        for info in a.infolist():
            data = a.read(info.filename)
            if info.filename == "manifest.json":
                manifest = json.loads(data)
                change(manifest)
                data = json.dumps(manifest).encode()
            b.writestr(info, data)


# ----- the document and the file ---------------------------------------------------------------------------------
def test_the_project_keeps_a_private_copy_of_the_path_and_counts_it_as_a_change():
    project = Project(StartSettings(image=image()))
    assert project.camera_path is None and project.keymap is None and project.revision == 0
    path = authored_path()
    project.set_camera_path(path)
    path.remove(17)  # the editor goes on editing its own path
    assert project.camera_path.frames == [0, 17, 60] and project.dirty and project.revision == 1
    project.set_keymap(custom_keymap())
    assert project.start.keymap == "custom" and project.revision == 2


def test_path_and_key_map_round_trip_exactly(tmp_path):
    project = project_with_path_and_keys()
    save_project(project, tmp_path / "p.swm")
    manifest = read_manifest(tmp_path / "p.swm")
    assert manifest["version"] == VERSION == 3
    assert manifest["keymap"] == json.loads(custom_keymap().to_json())  # the QSettings JSON, reused
    loaded = load_project(tmp_path / "p.swm")
    assert loaded.camera_path.keyframes == authored_path().keyframes  # bit-exact floats
    assert loaded.camera_path.length == 97 and loaded.camera_path.frame_size == (96, 64)
    assert loaded.camera_path.same_as(authored_path())
    assert loaded.keymap == custom_keymap() and dict(loaded.keymap.keys) == dict(custom_keymap().keys)
    assert loaded.keymap.dsl_key(Qt.Key.Key_F.value) == "w" and loaded.keymap.version == "v1"
    assert loaded.start.keymap == "custom" and not loaded.dirty


def test_a_version_1_file_without_path_or_key_map_still_loads(tmp_path):
    save_project(project_with_path_and_keys(), tmp_path / "new.swm")

    def as_version_1(manifest):
        del manifest["camera_path"], manifest["keymap"]
        manifest["version"] = 1

    rewrite_manifest(tmp_path / "new.swm", tmp_path / "old.swm", as_version_1)
    loaded = load_project(tmp_path / "old.swm")
    assert loaded.camera_path is None and loaded.keymap is None and loaded.start.keymap == "custom"


@pytest.mark.parametrize(
    ("member", "value", "message"),
    [
        ("camera_path", "a path", "camera_path: expected length, frame_size \\[w, h\\] and keyframes"),
        ("camera_path", {"length": 49, "frame_size": [96, 64], "keyframes": [{"frame": 0, "position": [0, 0, 0]}]},
         "camera_path: expected length.*\\(no 'quaternion'\\)"),
        ("camera_path", {"length": 49, "frame_size": [96, 64],
                         "keyframes": [{"frame": 0, "position": [0, 0, 0], "quaternion": [1, 0, 0, 0], "vfov_deg": 500}]},
         "camera_path is not a valid camera path .*between 1 and 179 degrees, found 500"),
        ("camera_path", {"length": 49, "frame_size": [96, 64], "keyframes": []},
         "camera_path is not a valid camera path .*at least 1 keyframe"),
        ("keymap", {"name": "x", "version": "v2", "keys": {"NoSuchKey": "w"}},
         "keymap is not a valid key map .*expected one key name"),
        ("keymap", {"name": "x", "version": "v7", "keys": {"W": "w"}}, "keymap is not a valid key map .*version"),
        ("keymap", {"name": "x", "version": "v2", "keys": {"W": "q"}}, "keymap is not a valid key map .*DSL keys"),
        ("keymap", [1, 2], "keymap is not a valid key map .*expected JSON with name, version and keys"),
    ],
)
def test_malformed_path_or_key_map_members_are_clear_errors(tmp_path, member, value, message):
    save_project(project_with_path_and_keys(), tmp_path / "good.swm")
    rewrite_manifest(tmp_path / "good.swm", tmp_path / "bad.swm", lambda m: m.update({member: value}))
    with pytest.raises(SessionFileError, match=f"bad.swm: manifest.json {message}"):
        load_project(tmp_path / "bad.swm")


def test_the_autosave_carries_the_path_and_key_map(qtbot, tmp_path):
    project = project_with_path_and_keys()
    saver = Autosaver(tmp_path, interval_s=3600)
    saver.set_project(project)
    project.set_camera_path(default_path(50.0, (96, 64)))  # a change since set_project: there is something to save
    assert saver.save_if_changed()
    project.camera_path.remove(48)  # the UI edits on while the background save runs: the file has the frozen copy
    saver.wait()
    loaded = load_project(saver.path)
    assert loaded.camera_path.same_as(default_path(50.0, (96, 64))) and loaded.keymap == custom_keymap()
    saver.close()


# ----- the main window ---------------------------------------------------------------------------------------------


def test_the_window_saves_and_reopens_the_authored_path_and_key_map(qtbot, driver, make_window, start_image,
                                                                    tmp_path):
    window = make_window()
    driver.start(window, start_image)
    editor = window.path_editor
    assert not window.project.dirty  # fitting the path to the start image is not an edit
    editor.add_keyframe_at_end()  # frame 72
    editor.select(48)
    editor.move_selected(position=(0.4, -0.1, 1.7))
    editor.set_selected_fov(41.5)
    assert window.project.dirty and window.project.camera_path.same_as(editor.path)  # recorded for autosave
    keymap = custom_keymap()
    window.apply_keymap(keymap)
    authored = editor.path.copy()
    assert window._save(tmp_path / "authored.swm") and not window.project.dirty

    other = make_window()
    assert other.drive.keymap == preset("v2")  # its own settings: the default preset
    with qtbot.waitSignal(other.world_started, timeout=TIMEOUT):
        assert other.open_session(tmp_path / "authored.swm")
    driver.idle(other)
    shown = other.path_editor
    assert shown.path.keyframes == authored.keyframes and shown.path.same_as(authored)
    assert [shown.panel.keyframe_list.item(i).data(Qt.ItemDataRole.UserRole)
            for i in range(shown.panel.keyframe_list.count())] == [0, 48, 72]  # fmt: skip
    assert shown.undo_stack.count() == 0 and not other.act_undo.isEnabled()
    assert other.drive.keymap == keymap and not other.project.dirty
    assert other.drive.press(Qt.Key.Key_F.value) and other.drive.held == {"w"}  # F is w in the saved map only
    other.drive.release(Qt.Key.Key_F.value)
    assert not other.drive.press(Qt.Key.Key_W.value)  # W drives nothing there


def test_reopening_a_version_1_session_gives_the_default_path_and_the_named_preset(qtbot, driver, make_window,
                                                                                   start_image, tmp_path):
    window = make_window()
    driver.start(window, start_image)
    window.path_editor.add_keyframe_at_end()
    window.apply_keymap(preset("arrows"))
    assert window._save(tmp_path / "new.swm")

    def as_version_1(manifest):
        del manifest["camera_path"], manifest["keymap"]
        manifest["version"] = 1

    rewrite_manifest(tmp_path / "new.swm", tmp_path / "old.swm", as_version_1)
    other = make_window()
    other.path_editor.add_keyframe_at_end()  # an edited path in the window before opening: replaced
    with qtbot.waitSignal(other.world_started, timeout=TIMEOUT):
        assert other.open_session(tmp_path / "old.swm")
    driver.idle(other)
    editor = other.path_editor
    assert editor.path.same_as(default_path(editor.start_vfov_deg, (96, 64)))
    assert editor.undo_stack.count() == 0
    assert other.drive.keymap == preset("arrows") and not other.project.dirty


def test_a_path_edit_alone_is_autosaved_and_recovery_restores_it(qtbot, monkeypatch, driver, make_window, start_image,
                                                                tmp_path):
    window = make_window()
    driver.start(window, start_image)
    saver = window.autosaver
    assert not saver.save_if_changed()  # nothing changed since the start
    window.path_editor.add_keyframe_at_end()  # no chunk generated: the path edit is the only change
    window.apply_keymap(custom_keymap())
    assert saver.save_if_changed()
    saver.wait()
    crashed = tmp_path / "crash" / "autosave-crashed.swm"  # as a crashed app leaves it: no lock held
    crashed.parent.mkdir()
    crashed.write_bytes(saver.path.read_bytes())
    monkeypatch.setattr(mw, "find_recovery", lambda: autosave.find_recovery(crashed.parent))

    other = make_window()
    with qtbot.waitSignal(other.world_started, timeout=TIMEOUT):
        assert other.offer_recovery(ask=lambda rec: "recover")
    driver.idle(other)
    assert other.path_editor.path.same_as(window.path_editor.path) and other.path_editor.path.frames == [0, 48, 72]
    assert other.path_editor.undo_stack.count() == 0 and other.drive.keymap == custom_keymap()
