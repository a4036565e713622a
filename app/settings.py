"""The explorer's persistent settings (QSettings): window geometry, last folders, key map, model and its GPU memory
tier, drive options.

Why a wrapper: one place names every key and its type, so widgets never spell QSettings keys (or convert QVariant
strings) themselves, and tests can hand in a QSettings on a temporary INI file.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QByteArray, QSettings

from app.keymap import DEFAULT_KEYMAP, KeyMap, preset
from engine.bundles import MEMORY_CHOICES
from engine.errors import ConfigError

ORGANIZATION = "SANA-WM"
APPLICATION = "Explorer"


class AppSettings:
    """Typed accessors over a :class:`QSettings` (default: the user's ``SANA-WM/Explorer`` settings)."""

    def __init__(self, settings: QSettings | None = None) -> None:
        # INI everywhere (not the Windows registry): one readable file, and tests can redirect it with setPath
        self.qsettings = settings if settings is not None else QSettings(
            QSettings.Format.IniFormat, QSettings.Scope.UserScope, ORGANIZATION, APPLICATION
        )

    # ----- window ---------------------------------------------------------------------------------------------------
    def geometry(self) -> QByteArray | None:
        value = self.qsettings.value("window/geometry")
        return value if isinstance(value, QByteArray) and not value.isEmpty() else None

    def set_geometry(self, value: QByteArray) -> None:
        self.qsettings.setValue("window/geometry", value)

    def window_state(self) -> QByteArray | None:
        value = self.qsettings.value("window/state")
        return value if isinstance(value, QByteArray) and not value.isEmpty() else None

    def set_window_state(self, value: QByteArray) -> None:
        self.qsettings.setValue("window/state", value)

    # ----- folders --------------------------------------------------------------------------------------------------
    def last_folder(self, kind: str) -> str:
        """The folder last used for ``kind`` (``image``, ``session``, ``model``, ``export``), or the home folder."""
        value = str(self.qsettings.value(f"folders/{kind}", "") or "")
        return value if value and Path(value).is_dir() else str(Path.home())

    def set_last_folder(self, kind: str, path: str | Path) -> None:
        """Remember the folder of ``path`` (a file) or ``path`` itself (a folder)."""
        p = Path(path)
        self.qsettings.setValue(f"folders/{kind}", str(p if p.is_dir() else p.parent))

    # ----- driving --------------------------------------------------------------------------------------------------
    def keymap(self) -> KeyMap:
        """The saved key map; the default preset when none is saved or the saved one is unreadable."""
        text = self.qsettings.value("drive/keymap", "")
        if not text:
            return preset(DEFAULT_KEYMAP)
        try:
            return KeyMap.from_json(str(text))
        except ConfigError:
            return preset(DEFAULT_KEYMAP)

    def set_keymap(self, keymap: KeyMap) -> None:
        self.qsettings.setValue("drive/keymap", keymap.to_json())

    # ----- model ----------------------------------------------------------------------------------------------------
    def model(self) -> str | None:
        """The model folder last started with (None: the embedded default)."""
        value = self.qsettings.value("model/folder", "")
        return str(value) if value else None

    def set_model(self, folder: str | None) -> None:
        self.qsettings.setValue("model/folder", folder or "")

    def memory(self) -> str:
        """The GPU memory tier models load in (``auto``, ``full``, ``balanced``, ``low``; engine.memory); ``auto``
        when none is saved or the saved one is unknown."""
        value = str(self.qsettings.value("model/memory", "auto") or "auto")
        return value if value in MEMORY_CHOICES else "auto"

    def set_memory(self, tier: str) -> None:
        self.qsettings.setValue("model/memory", tier if tier in MEMORY_CHOICES else "auto")

    def sync(self) -> None:
        self.qsettings.sync()
