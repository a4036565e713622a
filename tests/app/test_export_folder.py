"""Export dialogs open in the folder last exported to, else the session file's folder, else the start image's."""

from __future__ import annotations

from types import SimpleNamespace

from PySide6.QtCore import QSettings

from app import sessions
from app.settings import AppSettings


def fake_window(tmp_path, session_path=None):
    settings = AppSettings(QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat))
    states = []
    project = SimpleNamespace(current=SimpleNamespace(chunks=[object()]))
    return SimpleNamespace(app_settings=settings, session_path=session_path, project=project,
                           set_state=states.append, show_error=states.append), states


def test_exports_open_in_the_session_folder_then_the_last_export_folder_per_app(qapp, tmp_path):
    session_dir, out_dir, image_dir = (tmp_path / n for n in ("sessions", "renders", "photos"))
    for d in (session_dir, out_dir, image_dir):
        d.mkdir()
    window, states = fake_window(tmp_path, session_dir / "walk.swm")
    window.app_settings.set_last_folder("image", image_dir / "street.png")
    opened = []

    def exporter(parent, project, *, folder):
        opened.append(folder)
        return out_dir / "walk_take_1.mp4"

    sessions.export(window, exporter)
    sessions.export(window, exporter)
    assert opened == [str(session_dir), str(out_dir)]  # not the process's working folder
    assert states[-1] == "exported walk_take_1.mp4"
    # remembered by the app's settings: a new window (no session file) opens there too
    again, _ = fake_window(tmp_path)
    assert sessions.export_folder(again) == str(out_dir)


def test_without_a_session_or_an_export_the_dialog_opens_where_the_image_came_from(qapp, tmp_path):
    (tmp_path / "photos").mkdir()
    window, _ = fake_window(tmp_path)
    window.app_settings.set_last_folder("image", tmp_path / "photos" / "street.png")
    assert sessions.export_folder(window) == str(tmp_path / "photos")
