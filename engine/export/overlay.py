"""Action overlay: the eight DSL keys drawn as key caps on each frame, the held ones lit.

A viewer of an exported clip sees which keys drove the camera, as in the official bidirectional script's
WASD overlay (spec ltx2_vae_refiner §5). Layout, bottom corners of the frame::

        [W]                 [I]
     [A][S][D]           [J][K][L]

Idle caps are drawn faint (``show_idle=False`` leaves them out, so a frame with no key held is unchanged);
held caps are bright with dark letters. Sizes scale with the frame height (caps are 14 px at 176 rows and
53 px at 704 rows) so the overlay stays legible from 320x176 to 1280x704 and beyond.

Pose indexing: an overlay stores the keys held for each *pose* of the path, pose 0 being the start (no key).
``draw(frames, first_pose=k)`` paints frame ``i`` of the chunk with the keys of pose ``k + i``. Video frame
``j`` shows pose ``j`` when the first pixel frame is kept, and pose ``j + 1`` when it was dropped (refined and
streaming outputs, spec §2.7): pass ``first_pose`` accordingly.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence

import numpy as np
from PIL import Image, ImageDraw

from engine.camera.actions import expand_action
from engine.camera.controls import DEFAULT_VERSION, DSL_KEYS, Control, ControlMapping, get_mapping
from engine.camera.trajectory import Trajectory
from engine.errors import ExportError
from engine.export.camera_moves import camera_move
from engine.export.fonts import font
from engine.export.frames import as_frames

# (column, row) of each key in its cluster; the movement cluster at the left, the look cluster at the right.
_LAYOUT = {"w": (1, 0), "a": (0, 1), "s": (1, 1), "d": (2, 1), "i": (1, 0), "j": (0, 1), "k": (1, 1), "l": (2, 1)}
_CLUSTERS = ("wasd", "ijkl")

# Colours (RGBA): idle caps are a dark glass with a light letter, held caps nearly opaque white with a dark
# rim, so both read on bright and on dark backgrounds.
_IDLE_FILL, _IDLE_EDGE, _IDLE_TEXT = (0, 0, 0, 90), (255, 255, 255, 120), (255, 255, 255, 170)
_HELD_FILL, _HELD_EDGE, _HELD_TEXT = (255, 255, 255, 235), (30, 30, 30, 220), (20, 20, 20, 255)


@functools.lru_cache(maxsize=16)
def _geometry(width: int, height: int) -> tuple[int, int, int, dict[str, tuple[int, int]]]:
    """Cap size, gap, cluster origin y and the top-left corner of every cap for a frame size (cached)."""
    cap = max(14, round(0.075 * height))
    gap = max(2, cap // 8)
    margin = max(4, round(0.03 * height))
    cluster_w = 3 * cap + 2 * gap
    if 2 * cluster_w + 3 * margin > width:  # very narrow frames: shrink to fit side by side
        cap = max(6, (width - 3 * margin - 4 * gap) // 6)
        cluster_w = 3 * cap + 2 * gap
    top = height - margin - (2 * cap + gap)
    origins = {"wasd": margin, "ijkl": width - margin - cluster_w}
    corners = {}
    for cluster in _CLUSTERS:
        for key in cluster:
            col, row = _LAYOUT[key]
            corners[key] = (origins[cluster] + col * (cap + gap), top + row * (cap + gap))
    return cap, gap, top, corners


@functools.lru_cache(maxsize=512)
def _cap_sprite(cap: int, key: str, held: bool) -> np.ndarray:
    """One key cap as straight-alpha RGBA floats ``(cap, cap, 4)`` in [0, 1] (cached)."""
    image = Image.new("RGBA", (cap, cap), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    fill, edge, text = (_HELD_FILL, _HELD_EDGE, _HELD_TEXT) if held else (_IDLE_FILL, _IDLE_EDGE, _IDLE_TEXT)
    draw.rounded_rectangle((0, 0, cap - 1, cap - 1), radius=max(2, cap // 5), fill=fill, outline=edge,
                           width=max(1, cap // 16))
    draw.text((cap / 2, cap / 2), key.upper(), fill=text, font=font(round(cap * 0.6), bold=True), anchor="mm")
    return np.asarray(image, dtype=np.float32) / 255.0


class ActionOverlay:
    """Key caps for the held keys of every pose of a path, drawn onto frames (see the module docstring).

    Args:
        keys_per_pose: the DSL keys (``"wasdijkl"``) held for each pose; pose 0 is normally empty.
        show_idle: draw the keys that are not held, faintly.
    """

    def __init__(self, keys_per_pose: Sequence[Iterable[str]], *, show_idle: bool = True) -> None:
        poses = [frozenset(k.lower() for k in keys) for keys in keys_per_pose]
        for index, keys in enumerate(poses):
            unknown = sorted(keys - set(DSL_KEYS))
            if unknown:
                raise ExportError(f"overlay keys of pose {index}: expected some of '{DSL_KEYS}', found {unknown}")
        self.keys_per_pose = poses
        self.show_idle = show_idle

    @classmethod
    def from_action(cls, action: str, *, show_idle: bool = True) -> "ActionOverlay":
        """From an action string: pose 0 holds nothing, pose ``i`` the keys of the action's frame ``i - 1``."""
        return cls([frozenset(), *expand_action(action)], show_idle=show_idle)

    @classmethod
    def from_trajectory(
        cls,
        trajectory: Trajectory | np.ndarray,
        *,
        version: str | ControlMapping = DEFAULT_VERSION,
        min_speed: float | None = None,
        min_turn_deg: float | None = None,
        show_idle: bool = True,
    ) -> "ActionOverlay":
        """From camera motion, for paths without an action string: the keys that would drive each step.

        Pose ``i`` lights the keys of ``version``'s mapping whose control matches the move from pose ``i - 1``
        (:func:`~engine.export.camera_moves.camera_move`): forward/back, strafe, yaw and pitch; height
        changes and roll have no key. A component counts when it exceeds ``min_speed`` (units per frame) or
        ``min_turn_deg`` (degrees per frame), by default a quarter of the mapping's full speed, so a smoothed
        camera still shows its key while it coasts to a stop.
        """
        c2w = trajectory.c2w if isinstance(trajectory, Trajectory) else np.asarray(trajectory, dtype=np.float64)
        if c2w.ndim != 3 or c2w.shape[1:] != (4, 4):
            raise ExportError(f"overlay trajectory: expected camera-to-world poses (F, 4, 4), found {c2w.shape}")
        mapping = get_mapping(version)
        speed = 0.25 * mapping.translation_speed if min_speed is None else float(min_speed)
        turn = 0.25 * mapping.rotation_speed_deg if min_turn_deg is None else float(min_turn_deg)
        key_of = {control: key for key, control in mapping.keys.items()}
        poses: list[frozenset[str]] = [frozenset()]
        for i in range(1, len(c2w)):
            move = camera_move(c2w[i - 1], c2w[i])
            controls = set()
            for value, threshold, positive, negative in (
                (move.forward, speed, Control.FORWARD, Control.BACK),
                (move.right, speed, Control.STRAFE_RIGHT, Control.STRAFE_LEFT),
                (move.yaw_deg, turn, Control.YAW_RIGHT, Control.YAW_LEFT),
                (move.pitch_deg, turn, Control.PITCH_UP, Control.PITCH_DOWN),
            ):
                if abs(value) >= threshold:
                    controls.add(positive if value > 0 else negative)
            poses.append(frozenset(key_of[c] for c in controls))
        return cls(poses, show_idle=show_idle)

    @property
    def num_poses(self) -> int:
        return len(self.keys_per_pose)

    def keys_at(self, pose: int) -> frozenset[str]:
        """The keys held at ``pose``; :class:`ExportError` outside the path."""
        if not 0 <= pose < self.num_poses:
            raise ExportError(
                f"overlay: expected a pose index from 0 to {self.num_poses - 1} (the path's poses), found {pose}; "
                "do the frames and the action or trajectory have the same length, and is first_pose right?"
            )
        return self.keys_per_pose[pose]

    @staticmethod
    def cap_boxes(width: int, height: int) -> dict[str, tuple[int, int, int, int]]:
        """Pixel box ``(x0, y0, x1, y1)`` (exclusive end) of every key cap on a ``width x height`` frame."""
        cap, _, _, corners = _geometry(width, height)
        return {key: (x, y, x + cap, y + cap) for key, (x, y) in corners.items()}

    def draw(self, frames: np.ndarray, *, first_pose: int = 0) -> np.ndarray:
        """A copy of ``frames`` (``(H, W, 3)`` or ``(n, H, W, 3)`` uint8, as given) with the key caps drawn."""
        chunk = as_frames(frames, name="overlay frames")
        out = chunk.copy()
        height, width = chunk.shape[1:3]
        cap, _, _, corners = _geometry(width, height)
        for i in range(len(out)):
            held = self.keys_at(first_pose + i)
            for key, (x, y) in corners.items():
                is_held = key in held
                if not is_held and not self.show_idle:
                    continue
                sprite = _cap_sprite(cap, key, is_held)
                x0, y0, x1, y1 = max(x, 0), max(y, 0), min(x + cap, width), min(y + cap, height)
                if x1 <= x0 or y1 <= y0:
                    continue
                sprite = sprite[y0 - y:y1 - y, x0 - x:x1 - x]
                region = out[i, y0:y1, x0:x1].astype(np.float32)
                alpha = sprite[..., 3:]
                blended = region * (1.0 - alpha) + sprite[..., :3] * 255.0 * alpha
                out[i, y0:y1, x0:x1] = np.clip(blended + 0.5, 0, 255).astype(np.uint8)
        return out if np.ndim(frames) == 4 else out[0]

