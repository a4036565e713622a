"""Control mappings: which DSL key drives which camera control, and how fast (spec streaming §7.2).

The action DSL, keyboard driving and path playback all speak the same eight keys ``w a s d i j k l``.
A :class:`ControlMapping` turns held keys into camera controls and carries the motion constants of one
official release. Two versions exist:

* ``v1`` — first release (NVlabs PR #379, also diffusers 0.42.1): a/d strafe, j/l yaw, 0.05 per frame,
  1.2 deg per frame, +-85 deg pitch where a step that would leave the range is dropped, no smoothing.
* ``v2`` — current official (PR #401+), the default: a/d yaw, j/l strafe, 0.025 per frame, 0.6 deg per
  frame, +-60 deg saturating pitch clamp, exponential velocity smoothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from enum import Enum
from types import MappingProxyType
from typing import Literal

from engine.errors import ConfigError

#: The eight DSL keys, in the order the docs list them.
DSL_KEYS = "wasdijkl"


class Control(str, Enum):
    """A camera control; a held key drives exactly one."""

    FORWARD = "forward"
    BACK = "back"
    STRAFE_LEFT = "strafe_left"
    STRAFE_RIGHT = "strafe_right"
    YAW_LEFT = "yaw_left"
    YAW_RIGHT = "yaw_right"
    PITCH_UP = "pitch_up"
    PITCH_DOWN = "pitch_down"


@dataclass(frozen=True)
class ControlMapping:
    """One release's key-to-control map and motion constants.

    Attributes:
        version: ``"v1"`` or ``"v2"`` (or a user-defined name).
        keys: DSL key -> :class:`Control`.
        translation_speed: trajectory units per frame at full speed.
        rotation_speed_deg: degrees per frame at full speed (yaw and pitch).
        pitch_limit_deg: accumulated pitch stays within +-this.
        pitch_mode: ``"drop"`` (a step that would cross the limit is dropped, v1) or ``"clamp"`` (saturate, v2).
        smooth: default for exponential velocity smoothing.
        tau_press_s / tau_coast_s: smoothing time constants while a control is driven / coasting to zero.
        fps: frame rate the smoothing assumes (``dt = 1 / fps``).
        norm_eps: epsilon in the ground-plane normalisation ``f / (|f| + eps)`` (official 1e-6; diffusers 0).
    """

    version: str
    keys: MappingProxyType = field(repr=False)
    translation_speed: float
    rotation_speed_deg: float
    pitch_limit_deg: float
    pitch_mode: Literal["drop", "clamp"]
    smooth: bool
    tau_press_s: float = 0.45
    tau_coast_s: float = 1.0
    fps: float = 16.0
    norm_eps: float = 1e-6

    def with_overrides(
        self,
        *,
        translation_speed: float | None = None,
        rotation_speed_deg: float | None = None,
        smooth: bool | None = None,
    ) -> "ControlMapping":
        """A copy with the given constants replaced (``None`` keeps the version's default)."""
        changes: dict = {}
        if translation_speed is not None:
            changes["translation_speed"] = _speed("translation_speed", translation_speed, MAX_TRANSLATION_SPEED, "units")
        if rotation_speed_deg is not None:
            changes["rotation_speed_deg"] = _speed("rotation_speed_deg", rotation_speed_deg, MAX_ROTATION_SPEED_DEG, "degrees")
        if smooth is not None:
            changes["smooth"] = bool(smooth)
        return replace(self, **changes)

    def controls_for(self, keys: frozenset[str]) -> frozenset[Control]:
        """The controls driven by a set of held DSL keys (unknown keys must be rejected by the caller)."""
        return frozenset(self.keys[k] for k in keys)


#: Largest speeds accepted as overrides, per frame: 200x / 150x the official defaults. Beyond them a path leaves any
#: scene in a few frames, and at 1e308 the pose arithmetic overflows to inf.
MAX_TRANSLATION_SPEED = 5.0
MAX_ROTATION_SPEED_DEG = 90.0


def _speed(name: str, value: float, limit: float, unit: str) -> float:
    """A speed override: a finite number in ``[0, limit]`` (a negative speed would silently swap the keys)."""
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{name}: expected a number, found {value!r}") from None
    if not (0.0 <= value <= limit):  # also False for NaN
        raise ConfigError(f"{name}: expected a number of {unit} per frame in [0, {limit:g}], found {value:g}")
    return value


C = Control
V1 = ControlMapping(
    version="v1",
    keys=MappingProxyType(
        {"w": C.FORWARD, "s": C.BACK, "a": C.STRAFE_LEFT, "d": C.STRAFE_RIGHT,
         "i": C.PITCH_UP, "k": C.PITCH_DOWN, "j": C.YAW_LEFT, "l": C.YAW_RIGHT}
    ),
    translation_speed=0.05,
    rotation_speed_deg=1.2,
    pitch_limit_deg=85.0,
    pitch_mode="drop",
    smooth=False,
)
V2 = ControlMapping(
    version="v2",
    keys=MappingProxyType(
        {"w": C.FORWARD, "s": C.BACK, "a": C.YAW_LEFT, "d": C.YAW_RIGHT,
         "i": C.PITCH_UP, "k": C.PITCH_DOWN, "j": C.STRAFE_LEFT, "l": C.STRAFE_RIGHT}
    ),
    translation_speed=0.025,
    rotation_speed_deg=0.6,
    pitch_limit_deg=60.0,
    pitch_mode="clamp",
    smooth=True,
)
del C

#: The shipped mapping versions by name; ``v2`` is the default everywhere.
MAPPINGS: dict[str, ControlMapping] = {"v1": V1, "v2": V2}
DEFAULT_VERSION = "v2"


def get_mapping(version: str | ControlMapping = DEFAULT_VERSION) -> ControlMapping:
    """Look up a mapping by version name (``"v1"``/``"v2"``, case-insensitive) or pass one through."""
    if isinstance(version, ControlMapping):
        return version
    key = str(version).strip().lower()
    if key not in MAPPINGS:
        raise ConfigError(f"action version: expected one of {', '.join(MAPPINGS)}, found {version!r}")
    return MAPPINGS[key]
