"""Key maps: which keyboard key presses which of the eight DSL keys, and which control-mapping version they drive.

Why two layers: the engine's :class:`~engine.camera.controls.ControlMapping` says what a DSL key *does* (``v2``: a/d
turn, j/l strafe; ``v1``: a/d strafe, j/l turn, faster), and it is the same for the action DSL, driving and paths.
A :class:`KeyMap` only says which physical key stands for which DSL key, plus which mapping version the driving uses,
so a user can move driving to the arrow keys (or back to the first release's feel) without changing the meaning of
any action string.

Presets: ``v2`` (default: WASD + IJKL, v2 mapping), ``v1`` (the same keys with the first release's mapping) and
``arrows`` (arrow keys forward/back/turn, Page Up/Down pitch, comma/period strafe; v2 mapping). Key maps are stored
in QSettings as JSON with Qt's portable key names (``"W"``, ``"Up"``, ``"PgUp"``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from types import MappingProxyType

from PySide6.QtCore import Qt
from PySide6.QtGui import QKeySequence

from engine.camera.controls import DSL_KEYS, MAPPINGS
from engine.errors import ConfigError

K = Qt.Key


def key_name(key: int) -> str:
    """Qt's portable name of a key code (``Qt.Key.Key_W`` -> ``"W"``)."""
    return QKeySequence(int(key)).toString(QKeySequence.SequenceFormat.PortableText)


def key_code(name: str) -> int:
    """The key code of a portable key name; a :class:`ConfigError` for names Qt does not know."""
    seq = QKeySequence.fromString(name, QKeySequence.SequenceFormat.PortableText)
    # an unknown name parses as Key_unknown: refused, or a damaged map would bind a key nobody can press
    if seq.count() != 1 or not name.strip() or seq[0].key() == K.Key_unknown:
        raise ConfigError(f"key map: expected one key name such as 'W' or 'Up', found {name!r}")
    return seq[0].key().value


@dataclass(frozen=True)
class KeyMap:
    """Physical key (Qt key code) -> DSL key, and the control-mapping version driving uses."""

    name: str
    version: str
    keys: MappingProxyType = field(repr=False)

    def __post_init__(self) -> None:
        if self.version not in MAPPINGS:
            raise ConfigError(
                f"key map {self.name!r}: expected version one of {', '.join(MAPPINGS)}, found {self.version!r}"
            )
        bad = {key_name(k): v for k, v in self.keys.items() if v not in DSL_KEYS or len(v) != 1}
        if bad:
            raise ConfigError(f"key map {self.name!r}: expected DSL keys from '{DSL_KEYS}', found {bad}")

    @classmethod
    def make(cls, name: str, version: str, keys: dict[int, str]) -> KeyMap:
        return cls(name, version, MappingProxyType({int(k): v for k, v in keys.items()}))

    def dsl_key(self, key: int) -> str | None:
        """The DSL key a Qt key code stands for (None: not a driving key)."""
        return self.keys.get(int(key))

    def keys_for(self, dsl: str) -> list[int]:
        """Every Qt key code that presses ``dsl``."""
        return [k for k, v in self.keys.items() if v == dsl]

    def with_key(self, dsl: str, key: int) -> KeyMap:
        """A copy where ``key`` (and only it) presses ``dsl``; ``key`` stops pressing anything else."""
        keys = {k: v for k, v in self.keys.items() if v != dsl and k != int(key)}
        keys[int(key)] = dsl
        return KeyMap.make("custom", self.version, keys)

    def to_json(self) -> str:
        return json.dumps(
            {"name": self.name, "version": self.version, "keys": {key_name(k): v for k, v in self.keys.items()}}
        )

    @classmethod
    def from_json(cls, text: str) -> KeyMap:
        try:
            data = json.loads(text)
            keys = {key_code(n): str(v) for n, v in data["keys"].items()}
            return cls.make(str(data["name"]), str(data["version"]), keys)
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            if isinstance(exc, ConfigError):
                raise
            raise ConfigError(
                f"key map: expected JSON with name, version and keys, found {text[:80]!r} ({exc})"
            ) from None


_LETTERS = {getattr(K, f"Key_{c.upper()}").value: c for c in DSL_KEYS}
PRESETS: dict[str, KeyMap] = {
    "v2": KeyMap.make("v2", "v2", _LETTERS),
    "v1": KeyMap.make("v1", "v1", _LETTERS),
    "arrows": KeyMap.make(
        "arrows",
        "v2",
        {
            K.Key_Up.value: "w",
            K.Key_Down.value: "s",
            K.Key_Left.value: "a",
            K.Key_Right.value: "d",
            K.Key_PageUp.value: "i",
            K.Key_PageDown.value: "k",
            K.Key_Comma.value: "j",
            K.Key_Period.value: "l",
        },
    ),
}
DEFAULT_KEYMAP = "v2"


def preset(name: str) -> KeyMap:
    """A preset by name; a :class:`ConfigError` listing the presets otherwise."""
    if name not in PRESETS:
        raise ConfigError(f"key map preset: expected one of {', '.join(PRESETS)}, found {name!r}")
    return PRESETS[name]


def control_label(version: str, dsl: str) -> str:
    """What DSL key ``dsl`` does under mapping ``version``, in words (``"yaw left"``): the key-map editor and
    Help ▸ Keys show the same text."""
    return MAPPINGS[version].keys[dsl].value.replace("_", " ")


def describe_keys(keymap: KeyMap) -> list[tuple[str, str, str]]:
    """One row per DSL key, in the docs' order: ``(physical keys, DSL key, what it does)``; keys the map leaves
    unbound show as ``"-"``."""
    return [(" / ".join(key_name(k) for k in keymap.keys_for(dsl)) or "-", dsl, control_label(keymap.version, dsl))
            for dsl in DSL_KEYS]  # fmt: skip
