"""Fixtures for the app tests: offscreen Qt, isolated QSettings, a tiny random model.

Widgets are tested without a display (``QT_QPA_PLATFORM=offscreen`` unless the environment chose a platform); tests
that need OpenGL start their own Xvfb (see the path editor's tests). QSettings never touch the user's real settings:
every test gets INI settings under its own temporary folder.
"""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from engine.bundles import ModelBundle  # noqa: E402

#: (width, height) of the tiny test model's frames: a 6 x 4 latent grid with the 16x patch codec.
TINY_FRAME = (96, 64)


@pytest.fixture(autouse=True)
def isolated_qsettings(tmp_path_factory):
    """Point the default QSettings (user and system scope, INI format) at a fresh temporary folder for every test
    (not inside ``tmp_path``, which stays the test's own)."""
    from PySide6.QtCore import QSettings

    folder = tmp_path_factory.mktemp("qsettings")
    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    for scope in (QSettings.Scope.UserScope, QSettings.Scope.SystemScope):
        QSettings.setPath(QSettings.Format.IniFormat, scope, str(folder))
    yield folder


@pytest.fixture(scope="session")
def tiny_bundle() -> ModelBundle:
    """A random-weight tiny model (a tenth of a second per chunk on one core); shared, never mutated by tests."""
    return ModelBundle.random("sana-wm-tiny-test", frame_size=TINY_FRAME, spatial_factor=16)


@pytest.fixture
def start_image() -> np.ndarray:
    """A 80 x 120 colour gradient with noise (not the model's frame size, so resize and crop are exercised)."""
    y, x = np.mgrid[0:80, 0:120]
    rng = np.random.default_rng(0)
    img = np.stack([x * 2, y * 3, 100 + 0 * x], -1) + rng.integers(0, 30, (80, 120, 3))
    return np.clip(img, 0, 255).astype(np.uint8)


@pytest.fixture(autouse=True, scope="session")
def qstandardpaths_test_mode():
    """Autosaves and other per-user data go to Qt's test locations (``~/.qttest``), not the user's folders."""
    from PySide6.QtCore import QStandardPaths

    QStandardPaths.setTestModeEnabled(True)
    yield


@pytest.fixture(autouse=True)
def no_save_prompt(monkeypatch):
    """Closing a window with unsaved chunks asks whether to save, and a new image asks whether to keep an authored
    path (modal boxes); tests answer "discard" and "keep" unless they replace the questions themselves."""
    from app.main_window import MainWindow

    monkeypatch.setattr(MainWindow, "ask_save_changes", lambda self: "discard")
    monkeypatch.setattr(MainWindow, "ask_reuse_path", lambda self: "keep")  # tests that ask it replace it


class WindowDriver:
    """Steps a :class:`~app.main_window.MainWindow` the way the tests need: one command at a time, waiting until the
    engine worker is idle after each (an action sent while it is busy is ignored, as the disabled menu item is)."""

    timeout_ms = 30000

    def __init__(self, qtbot) -> None:
        self.qtbot = qtbot

    def idle(self, window) -> None:
        self.qtbot.waitUntil(lambda: not window.client.busy, timeout=self.timeout_ms)

    def start(self, window, image: np.ndarray, name: str = "image.png") -> None:
        """Start a world on ``image`` with automatic driving off (each chunk is then asked for explicitly)."""
        window.set_driving(False)
        window.start_panel.set_image(image, name=name)
        with self.qtbot.waitSignal(window.world_started, timeout=self.timeout_ms):
            window.start_panel.request_start()
        self.idle(window)

    def step(self, window, keys: str = ""):
        """Hold ``keys`` (DSL letters, added to those held) and generate one chunk; returns its record."""
        window.hold(keys)
        with self.qtbot.waitSignal(window.chunk_added, timeout=self.timeout_ms) as got:
            window.step_once()
        self.idle(window)
        return got.args[0]


@pytest.fixture
def driver(qtbot) -> WindowDriver:
    return WindowDriver(qtbot)


@pytest.fixture
def make_window(qtbot, tmp_path, tiny_bundle):
    """``make()`` opens a shown MainWindow on the tiny model; each has its own settings file (so a reopened session
    cannot borrow, e.g., the key map from QSettings), and all are closed at the end of the test."""
    made = []

    from PySide6.QtCore import QSettings

    from app.main_window import MainWindow
    from app.settings import AppSettings

    def make() -> "MainWindow":
        ini = tmp_path / f"settings-{len(made)}.ini"
        win = MainWindow(AppSettings(QSettings(str(ini), QSettings.Format.IniFormat)), lambda source: tiny_bundle)
        qtbot.addWidget(win)
        win.show()
        made.append(win)
        return win

    yield make
    for win in made:
        win.close()
