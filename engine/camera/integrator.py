"""The one MotionIntegrator: held keys in, camera poses out, one frame at a time.

The action DSL, keyboard driving in the explorer and path playback all go through this class, so the
three can never disagree. It has two parts (spec streaming §7.3-7.4):

1. **Velocity model.** The held controls give a target velocity ``(tx, sx, yaw, pitch)`` per frame.
   Without smoothing the velocity is the target. With smoothing (v2 default) a fresh press (a control
   held now but not on the previous frame) snaps the velocity to the target; otherwise each component
   moves toward its target by ``alpha = 1 - exp(-dt / tau)``, with ``tau = 0.45 s`` while that
   component is driven and ``1.0 s`` while it coasts to zero.
2. **Pose integration** (float64). Pitch accumulates within +-limit (v1 drops a step that would leave
   the range, v2 clamps); ``R' = R_y(yaw) R R_x(dpitch)`` — yaw about the world Y axis, pitch about the
   camera X axis; translation moves along the camera's forward and right axes projected on the ground
   plane (y = 0), normalised as ``f / (|f| + eps)``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from engine.camera.controls import DEFAULT_VERSION, DSL_KEYS, Control, ControlMapping, get_mapping
from engine.camera.poses import rot_x, rot_y
from engine.errors import ActionStringError

#: Target components below this magnitude count as "not driven" (coasting time constant applies).
_DRIVEN_EPS = 1e-12


@dataclass(frozen=True)
class IntegratorState:
    """Everything :class:`MotionIntegrator` carries between frames (for snapshots, rewind and branching)."""

    pose: np.ndarray  # (4, 4) float64 camera-to-world
    pitch: float  # accumulated pitch in radians
    velocity: tuple[float, float, float, float]  # (tx, sx, yaw, pitch) per frame
    previous_controls: frozenset[Control]
    frame: int


class MotionIntegrator:
    """Integrates held-key sets into camera-to-world poses with one release's mapping and constants.

    Example::

        integ = MotionIntegrator("v2")
        pose = integ.step({"w"})          # one frame forward
        poses = integ.run([{"w", "a"}] * 8)  # (9, 4, 4): the current pose then 8 new ones
    """

    def __init__(
        self,
        mapping: str | ControlMapping = DEFAULT_VERSION,
        *,
        translation_speed: float | None = None,
        rotation_speed_deg: float | None = None,
        smooth: bool | None = None,
        pose: np.ndarray | None = None,
    ) -> None:
        self.mapping = get_mapping(mapping).with_overrides(
            translation_speed=translation_speed, rotation_speed_deg=rotation_speed_deg, smooth=smooth
        )
        start = np.eye(4) if pose is None else np.array(pose, dtype=np.float64)
        if start.shape != (4, 4):
            raise ActionStringError(f"integrator start pose: expected a 4x4 matrix, found shape {start.shape}")
        self._state = IntegratorState(
            pose=start, pitch=0.0, velocity=(0.0, 0.0, 0.0, 0.0), previous_controls=frozenset(), frame=0
        )

    # -- state -------------------------------------------------------------------------------------

    @property
    def pose(self) -> np.ndarray:
        """The current camera-to-world pose (a copy)."""
        return self._state.pose.copy()

    @property
    def velocity(self) -> tuple[float, float, float, float]:
        """The current per-frame velocity ``(forward, strafe, yaw_rad, pitch_rad)``."""
        return self._state.velocity

    @property
    def pitch_deg(self) -> float:
        """Accumulated pitch in degrees (positive = looking up)."""
        return math.degrees(self._state.pitch)

    @property
    def frame(self) -> int:
        """Frames integrated since construction."""
        return self._state.frame

    def state(self) -> IntegratorState:
        """A snapshot to :meth:`restore` later (immutable; the pose is copied)."""
        return IntegratorState(
            pose=self._state.pose.copy(),
            pitch=self._state.pitch,
            velocity=self._state.velocity,
            previous_controls=self._state.previous_controls,
            frame=self._state.frame,
        )

    def restore(self, state: IntegratorState) -> None:
        """Return to a snapshot taken with :meth:`state`."""
        self._state = IntegratorState(
            pose=np.array(state.pose, dtype=np.float64),
            pitch=state.pitch,
            velocity=state.velocity,
            previous_controls=state.previous_controls,
            frame=state.frame,
        )

    # -- stepping ----------------------------------------------------------------------------------

    def step(self, keys: Iterable[str]) -> np.ndarray:
        """Advance one frame with ``keys`` (DSL letters, any case) held; return the new pose (a copy)."""
        controls = self._controls(keys)
        velocity = self._next_velocity(controls)
        pose, pitch = self._integrate(velocity)
        self._state = IntegratorState(
            pose=pose, pitch=pitch, velocity=velocity, previous_controls=controls, frame=self._state.frame + 1
        )
        return pose.copy()

    def run(self, key_sets: Iterable[Iterable[str]]) -> np.ndarray:
        """The current pose followed by one pose per key set: ``(len(key_sets) + 1, 4, 4)`` float64."""
        poses = [self.pose]
        poses.extend(self.step(keys) for keys in key_sets)
        return np.stack(poses)

    # -- internals ---------------------------------------------------------------------------------

    def _controls(self, keys: Iterable[str]) -> frozenset[Control]:
        held = frozenset(k.lower() for k in keys)
        unknown = sorted(k for k in held if k not in self.mapping.keys)
        if unknown:
            raise ActionStringError(f"held keys: unknown key(s) {unknown}; expected some of '{DSL_KEYS}'")
        return self.mapping.controls_for(held)

    def _target(self, controls: frozenset[Control]) -> tuple[float, float, float, float]:
        m = self.mapping
        r = math.radians(m.rotation_speed_deg)

        def axis(pos: Control, neg: Control) -> float:
            return float(pos in controls) - float(neg in controls)

        return (
            m.translation_speed * axis(Control.FORWARD, Control.BACK),
            m.translation_speed * axis(Control.STRAFE_RIGHT, Control.STRAFE_LEFT),
            r * axis(Control.YAW_RIGHT, Control.YAW_LEFT),
            r * axis(Control.PITCH_UP, Control.PITCH_DOWN),
        )

    def _next_velocity(self, controls: frozenset[Control]) -> tuple[float, float, float, float]:
        target = self._target(controls)
        m = self.mapping
        fresh_press = bool(controls - self._state.previous_controls)
        if not m.smooth or fresh_press:
            return target
        dt = 1.0 / m.fps
        out = []
        for current, goal in zip(self._state.velocity, target):
            tau = m.tau_press_s if abs(goal) > _DRIVEN_EPS else m.tau_coast_s
            alpha = 1.0 - math.exp(-dt / tau)
            out.append(current + alpha * (goal - current))
        return tuple(out)  # type: ignore[return-value]

    def _integrate(self, velocity: tuple[float, float, float, float]) -> tuple[np.ndarray, float]:
        m = self.mapping
        forward, strafe, yaw, pitch_rate = velocity
        limit = math.radians(m.pitch_limit_deg)
        pitch = self._state.pitch
        if m.pitch_mode == "clamp":
            new_pitch = min(max(pitch + pitch_rate, -limit), limit)
            d_pitch = new_pitch - pitch
        else:  # "drop": a step that would leave the range is not taken
            new_pitch = pitch + pitch_rate
            if -limit <= new_pitch <= limit:
                d_pitch = pitch_rate
            else:
                new_pitch, d_pitch = pitch, 0.0
        pose = self._state.pose
        rot = rot_y(yaw) @ pose[:3, :3] @ rot_x(d_pitch)
        ground_forward = _ground_direction(rot[:, 2], m.norm_eps)
        ground_right = _ground_direction(rot[:, 0], m.norm_eps)
        out = np.eye(4)
        out[:3, :3] = rot
        out[:3, 3] = pose[:3, 3] + forward * ground_forward + strafe * ground_right
        return out, new_pitch


def _ground_direction(axis: np.ndarray, eps: float) -> np.ndarray:
    """A camera axis projected on the ground plane (y = 0) and normalised as ``v / (|v| + eps)``."""
    v = axis.copy()
    v[1] = 0.0
    norm = float(np.linalg.norm(v))
    return v / (norm + eps) if norm > 0 else v
