"""Camera moves in words: what the camera did between two poses ("dolly forward 0.40, yaw right 30°").

Used by storyboard annotations and by the action overlay when a path has no action string. A move is
measured the way the motion integrator drives the camera (``engine.camera.integrator``), not in the
camera's own tilted axes, so a camera looking down while it moves along the ground reads "dolly forward"
rather than "forward and down":

* orientation is split as ``R = R_y(yaw) R_x(pitch) R_z(roll)`` (yaw about the world's vertical axis, pitch
  about the camera's right axis, roll about its viewing axis); a move reports the change of each angle,
  yaw and roll wrapped to (-180°, 180°];
* the displacement is expressed in the start pose's *heading frame*: ``forward`` along its viewing direction
  projected on the ground plane, ``right`` along the ground, ``up`` against world +Y.

OpenCV conventions as everywhere (+X right, +Y down, +Z forward), so world up is -Y; that holds for paths
from the integrator and for paths made relative to a level first camera. Positive yaw turns right, positive
pitch tilts up, positive roll turns the image clockwise (the camera's right side dips). Distances are in the
trajectory's units; the move is net (a loop that comes back reads as static).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class CameraMove:
    """The net motion from one pose to another (see the module docstring for axes and signs).

    Attributes:
        forward, right, up: displacement in trajectory units, in the start pose's heading frame.
        yaw_deg: change of heading, + right. pitch_deg: change of tilt, + up. roll_deg: + clockwise.
    """

    forward: float
    right: float
    up: float
    yaw_deg: float
    pitch_deg: float
    roll_deg: float

    @property
    def distance(self) -> float:
        """Length of the displacement."""
        return math.sqrt(self.forward**2 + self.right**2 + self.up**2)


def yaw_pitch_roll(rotation: np.ndarray) -> tuple[float, float, float]:
    """Angles in radians with ``rotation == R_y(yaw) @ R_x(pitch) @ R_z(roll)`` (camera-to-world, OpenCV).

    ``pitch`` is in [-90°, 90°]; at exactly ±90° yaw and roll are not separable and roll absorbs the rest.
    """
    r = np.asarray(rotation, dtype=np.float64)
    yaw = math.atan2(r[0, 2], r[2, 2])
    pitch = math.atan2(-r[1, 2], math.hypot(r[0, 2], r[2, 2]))
    roll = math.atan2(r[1, 0], r[1, 1])
    return yaw, pitch, roll


def _wrap_deg(angle: float) -> float:
    """An angle in degrees wrapped to (-180, 180]."""
    wrapped = math.fmod(angle + 180.0, 360.0)
    wrapped = wrapped + 360.0 if wrapped <= 0 else wrapped
    return wrapped - 180.0


def camera_move(c2w_from: np.ndarray, c2w_to: np.ndarray) -> CameraMove:
    """The move from pose ``c2w_from`` to pose ``c2w_to`` (4x4 camera-to-world, OpenCV axes)."""
    a = np.asarray(c2w_from, dtype=np.float64)
    b = np.asarray(c2w_to, dtype=np.float64)
    yaw_a, pitch_a, roll_a = yaw_pitch_roll(a[:3, :3])
    yaw_b, pitch_b, roll_b = yaw_pitch_roll(b[:3, :3])
    delta = b[:3, 3] - a[:3, 3]
    heading_forward = np.array([math.sin(yaw_a), 0.0, math.cos(yaw_a)])
    heading_right = np.array([math.cos(yaw_a), 0.0, -math.sin(yaw_a)])
    return CameraMove(
        forward=float(delta @ heading_forward),
        right=float(delta @ heading_right),
        up=float(-delta[1]),
        yaw_deg=_wrap_deg(math.degrees(yaw_b - yaw_a)),
        pitch_deg=math.degrees(pitch_b - pitch_a),
        roll_deg=_wrap_deg(math.degrees(roll_b - roll_a)),
    )


def _format_distance(value: float) -> str:
    return f"{value:.2f}" if value >= 0.095 else f"{value:.3f}"


def _format_degrees(value: float) -> str:
    return f"{value:.1f}°" if value < 9.95 else f"{value:.0f}°"


def describe_move(
    move: CameraMove, *, min_distance: float = 0.01, min_angle_deg: float = 0.5, units: str = ""
) -> str:
    """Words for ``move``: e.g. ``"dolly forward 1.20, truck left 0.10, yaw right 30°, tilt up 5.0°"``.

    Components smaller than ``min_distance`` (trajectory units) or ``min_angle_deg`` are left out; a move
    with none left is ``"static"``. Film vocabulary: dolly (forward/back), truck (sideways), pedestal
    (up/down), yaw (pan), tilt, roll. ``units`` is appended to distances (e.g. ``" m"``).
    """
    parts: list[str] = []
    for value, positive, negative in (
        (move.forward, "dolly forward", "dolly back"),
        (move.right, "truck right", "truck left"),
        (move.up, "pedestal up", "pedestal down"),
    ):
        if abs(value) >= min_distance:
            parts.append(f"{positive if value > 0 else negative} {_format_distance(abs(value))}{units}")
    for value, positive, negative in (
        (move.yaw_deg, "yaw right", "yaw left"),
        (move.pitch_deg, "tilt up", "tilt down"),
        (move.roll_deg, "roll right", "roll left"),
    ):
        if abs(value) >= min_angle_deg:
            parts.append(f"{positive if value > 0 else negative} {_format_degrees(abs(value))}")
    return ", ".join(parts) if parts else "static"


def describe_camera_move(c2w_from: np.ndarray, c2w_to: np.ndarray, **options) -> str:
    """:func:`describe_move` of :func:`camera_move` (options as there)."""
    return describe_move(camera_move(c2w_from, c2w_to), **options)
