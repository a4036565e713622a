"""AppSettings: typed values survive a new QSettings on the same file; bad stored values fall back."""

from __future__ import annotations

from PySide6.QtCore import QByteArray, QSettings

from app.keymap import preset
from app.settings import AppSettings


def reopen(path) -> AppSettings:
    return AppSettings(QSettings(str(path), QSettings.Format.IniFormat))


def test_values_persist_across_instances(tmp_path):
    path = tmp_path / "s.ini"
    first = reopen(path)
    first.set_keymap(preset("v1"))
    first.set_model("/models/x")
    first.set_last_folder("image", tmp_path / "photo.jpg")
    first.set_geometry(QByteArray(b"geom"))
    first.sync()
    second = reopen(path)
    assert second.keymap() == preset("v1") and second.model() == "/models/x"
    assert second.last_folder("image") == str(tmp_path) and second.geometry() == QByteArray(b"geom")


def test_defaults_and_fallbacks(tmp_path):
    s = reopen(tmp_path / "s.ini")
    assert s.keymap() == preset("v2") and s.model() is None and s.geometry() is None
    s.qsettings.setValue("drive/keymap", "{broken")
    assert s.keymap() == preset("v2")
    s.set_last_folder("session", tmp_path / "gone" / "x.swm")  # a folder that does not exist any more
    from pathlib import Path

    assert s.last_folder("session") == str(Path.home())


def test_the_default_settings_are_isolated_in_tests(isolated_qsettings):
    s = AppSettings()
    s.set_model("/m")
    s.sync()
    assert s.qsettings.fileName().startswith(str(isolated_qsettings)), s.qsettings.fileName()


def test_the_gpu_memory_tier_persists_and_an_unknown_one_is_auto(tmp_path):
    path = tmp_path / "s.ini"
    assert reopen(path).memory() == "auto"
    first = reopen(path)
    first.set_memory("low")
    first.sync()
    assert reopen(path).memory() == "low"
    first.qsettings.setValue("model/memory", "huge")
    assert first.memory() == "auto"
