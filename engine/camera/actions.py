"""The SANA-WM action DSL: ``"w-80, jw-40, none-10"`` -> held-key sets -> a camera trajectory.

Grammar (exactly the official one, spec streaming §7.1): all whitespace is removed and the full-width
comma ``，`` becomes ``,``; the string is split on ``,``; each segment is ``<keys>-<N>`` split at its
**last** ``-``, where ``N`` is a positive integer and ``<keys>`` (case-insensitive) is ``none`` or any
combination of ``w a s d i j k l`` (order and repeats ignored). A segment expands to ``N`` frames holding its keys; the rollout starts
at the identity pose, so ``ΣN`` frames give ``ΣN + 1`` poses.

One deliberate difference: the official parser reads an empty key part (``-5``) as "no key held"; here it is an
error that suggests ``none-5``, because a missing key is far more often a typo (``w-40,-5``) than an intent.
Long inputs are quoted cut to a few dozen characters, so a bad megabyte-long string gives a one-line message.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine.camera.controls import DEFAULT_VERSION, DSL_KEYS, ControlMapping, get_mapping
from engine.camera.integrator import MotionIntegrator
from engine.errors import ActionStringError, clip_text

#: Upper bound on the frames one action string may expand to (about 100 minutes at 16 fps): a guard
#: against typos such as ``w-8000000`` allocating gigabytes, far above the model's 8,185-frame RoPE limit.
MAX_ACTION_FRAMES = 100_000


@dataclass(frozen=True)
class ActionSegment:
    """One ``<keys>-<N>`` segment: the held keys and for how many frames."""

    keys: frozenset[str]
    frames: int

    def __str__(self) -> str:
        return f"{''.join(sorted(self.keys)) or 'none'}-{self.frames}"


def parse_action(action: str) -> list[ActionSegment]:
    """Parse an action string into segments; raise :class:`ActionStringError` naming the bad segment."""
    if not isinstance(action, str):
        raise ActionStringError(f"action string: expected text such as 'w-40,jw-20', found {type(action).__name__}")
    cleaned = "".join(action.replace("，", ",").split())
    if not cleaned:
        raise ActionStringError("action string is empty; expected segments such as 'w-40,jw-20,none-8'")
    segments: list[ActionSegment] = []
    total = 0
    for index, segment in enumerate(cleaned.split(",")):
        where = f"action segment {index + 1} {clip_text(repr(segment), 40)}"
        if "-" not in segment:
            raise ActionStringError(f"{where}: expected '<keys>-<frames>' such as 'w-40'" + (
                " (empty segment: is there a doubled or trailing comma?)" if not segment else ""))
        keys_part, count_part = segment.rsplit("-", 1)
        frames = _parse_count(count_part)
        if frames is None:
            raise ActionStringError(
                f"{where}: expected a positive whole number of frames after '-', found {clip_text(repr(count_part), 30)}"
            )
        keys_lower = keys_part.lower()
        if not keys_lower:
            raise ActionStringError(f"{where}: expected keys before '-' (write 'none-{frames}' to hold no key)")
        if keys_lower == "none":
            keys: frozenset[str] = frozenset()
        else:
            unknown = sorted({c for c in keys_lower if c not in DSL_KEYS})
            if unknown:
                raise ActionStringError(
                    f"{where}: unknown key(s) {clip_text(repr(''.join(unknown)), 30)}; allowed keys are {DSL_KEYS} or 'none'"
                )
            keys = frozenset(keys_lower)
        total += frames
        if total > MAX_ACTION_FRAMES:
            raise ActionStringError(
                f"{where}: the action string expands to more than {MAX_ACTION_FRAMES} frames; "
                "expected a shorter camera move"
            )
        segments.append(ActionSegment(keys=keys, frames=frames))
    return segments


def _parse_count(text: str) -> int | None:
    """``N`` of a segment: digits only (as ``str.isdigit``) and > 0; ``None`` when invalid."""
    if not text.isdigit():
        return None
    try:
        value = int(text)
    except ValueError:  # digit characters int() does not read, e.g. superscripts
        return None
    return value if value > 0 else None


def expand_action(action: str | list[ActionSegment]) -> list[frozenset[str]]:
    """The held-key set of every frame (length ``ΣN``)."""
    segments = parse_action(action) if isinstance(action, str) else action
    return [seg.keys for seg in segments for _ in range(seg.frames)]


def action_num_frames(action: str) -> int:
    """Number of poses ``action_to_c2w`` returns for ``action`` (``ΣN + 1``)."""
    return sum(seg.frames for seg in parse_action(action)) + 1


def action_to_c2w(
    action: str,
    *,
    version: str | ControlMapping = DEFAULT_VERSION,
    translation_speed: float | None = None,
    rotation_speed_deg: float | None = None,
    smooth: bool | None = None,
) -> np.ndarray:
    """Integrate an action string into an ``(N+1, 4, 4)`` float64 camera-to-world trajectory.

    OpenCV camera axes, starting at the identity. ``version`` picks the key mapping and constants
    (``"v2"`` current official by default, ``"v1"`` first release); ``translation_speed``,
    ``rotation_speed_deg`` and ``smooth`` override that version's defaults when given.
    """
    mapping = get_mapping(version).with_overrides(
        translation_speed=translation_speed, rotation_speed_deg=rotation_speed_deg, smooth=smooth
    )
    return MotionIntegrator(mapping).run(expand_action(action))


def format_action(segments: list[ActionSegment]) -> str:
    """Write segments back as a canonical action string (``"w-40,jw-20"``)."""
    return ",".join(str(seg) for seg in segments)
