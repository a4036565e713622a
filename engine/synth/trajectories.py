"""Camera paths for synthetic clips: random held-key sequences through the project's MotionIntegrator.

Why the integrator and not free-form splines: the model is conditioned on paths that users make with the
action DSL, the keyboard or path playback, which all go through :class:`engine.camera.integrator.MotionIntegrator`.
Training paths made the same way carry the same motion statistics (ramps, coasting, yaw about world Y,
horizontal translation) and come with an exact action string.

A clip's path is one of two kinds:

* ``explore`` — random segments of held controls (forward, turns, strafe, pitch, combinations, stops);
* ``return`` — an optional random prefix, then an *out* part and its mirror (the out segments in reverse
  order with every control inverted: forward <-> back, yaw left <-> right, ...). Consecutive out segments
  always differ in both directions, so every segment starts with a fresh key press, which snaps the smoothed
  velocity to its target (spec streaming §7.3); the mirror therefore retraces the out part and the camera
  comes back to the pose where the out part began: the rotation exactly, the position to about a
  centimetre (the integrator moves along the *turned* heading, so turning while moving does not invert
  exactly). The out part must go somewhere (``min_excursion_m`` / ``min_excursion_deg``). Frame pairs that
  show the same view are listed in :attr:`ClipPlan.revisits` for revisit evaluations.

Every path is checked against the world: the camera keeps ``clearance`` metres from every object's
collision circle, stays near the play area, keeps a sane eye height over the terrain, does not pitch beyond
``max_pitch_deg`` and does not start facing an object closer than ``min_view_distance``. A failed draw is
replaced by another draw from the same generator (deterministic), up to ``max_tries``; then the clip falls
back to turning on the spot, which cannot collide.

Poses are world poses (world frame of :mod:`engine.synth.scene`); the start pose is level, so
``relative_to_first(c2w)`` equals ``action_to_c2w(action, ...)`` with the recorded speeds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from engine.camera.actions import ActionSegment, expand_action, format_action
from engine.camera.controls import Control, ControlMapping, get_mapping
from engine.camera.integrator import MotionIntegrator
from engine.camera.intrinsics import from_fov
from engine.camera.poses import pose_from_rt, rot_y
from engine.camera.trajectory import DEFAULT_FPS, Trajectory
from engine.errors import ConfigError
from engine.synth.scene import World

C = Control
#: Held-control sets a segment can use, with their draw weights (stops are added separately).
MOVES: tuple[tuple[frozenset[Control], float], ...] = (
    (frozenset({C.FORWARD}), 4.0),
    (frozenset({C.FORWARD, C.YAW_LEFT}), 2.0),
    (frozenset({C.FORWARD, C.YAW_RIGHT}), 2.0),
    (frozenset({C.YAW_LEFT}), 1.5),
    (frozenset({C.YAW_RIGHT}), 1.5),
    (frozenset({C.STRAFE_LEFT}), 1.0),
    (frozenset({C.STRAFE_RIGHT}), 1.0),
    (frozenset({C.FORWARD, C.STRAFE_LEFT}), 0.5),
    (frozenset({C.FORWARD, C.STRAFE_RIGHT}), 0.5),
    (frozenset({C.BACK}), 0.7),
    (frozenset({C.PITCH_UP}), 0.6),
    (frozenset({C.PITCH_DOWN}), 0.6),
    (frozenset({C.YAW_LEFT, C.PITCH_UP}), 0.25),
    (frozenset({C.YAW_RIGHT, C.PITCH_DOWN}), 0.25),
)
_MIRROR = {
    C.FORWARD: C.BACK, C.BACK: C.FORWARD, C.YAW_LEFT: C.YAW_RIGHT, C.YAW_RIGHT: C.YAW_LEFT,
    C.PITCH_UP: C.PITCH_DOWN, C.PITCH_DOWN: C.PITCH_UP, C.STRAFE_LEFT: C.STRAFE_RIGHT, C.STRAFE_RIGHT: C.STRAFE_LEFT,
}
del C


@dataclass(frozen=True)
class PathConfig:
    """How clip paths are drawn. Angles in degrees, distances in metres, FOV horizontal.

    ``speed_scale`` / ``turn_scale`` multiply the action version's translation and rotation speeds (one
    draw per clip, recorded with the clip) so that clips show more motion than the slow official defaults.
    A return's out part must move ``min_excursion_m`` or turn ``min_excursion_deg`` away before coming back.
    """

    num_frames: int = 49
    size: tuple[int, int] = (320, 176)
    fov_range_deg: tuple[float, float] = (30.0, 100.0)
    eye_height_range: tuple[float, float] = (0.8, 2.2)
    versions: tuple[str, ...] = ("v2",)
    speed_scale: tuple[float, float] = (1.0, 2.5)
    turn_scale: tuple[float, float] = (1.0, 2.0)
    return_probability: float = 0.35
    stop_weight: float = 0.8
    segment_frames: tuple[int, int] = (6, 24)
    clearance: float = 0.8
    min_view_distance: float = 2.5
    max_pitch_deg: float = 30.0
    max_tries: int = 40
    min_excursion_m: float = 0.25
    min_excursion_deg: float = 10.0
    fps: float = DEFAULT_FPS

    def __post_init__(self) -> None:
        if self.num_frames < 2:
            raise ConfigError(f"clip frames: expected at least 2, found {self.num_frames}")
        lo, hi = self.fov_range_deg
        if not 0.0 < lo <= hi < 180.0:
            raise ConfigError(f"FOV range: expected 0 < min <= max < 180 degrees, found {self.fov_range_deg}")
        for v in self.versions:
            get_mapping(v)


@dataclass(frozen=True, eq=False)
class ClipPlan:
    """A camera path for one clip and how it was made.

    Attributes:
        c2w: ``(F, 4, 4)`` float64 world camera-to-world poses (OpenCV axes).
        intrinsics: ``(F, 4)`` float64 ``[fx, fy, cx, cy]`` in pixels of ``size``.
        size: ``(W, H)``.
        action: the action string whose held keys produced the path (from the first pose).
        action_version, translation_speed, rotation_speed_deg, smooth: the integrator settings that
            reproduce ``c2w`` from ``c2w[0]`` and ``action``.
        kind: ``"explore"``, ``"return"`` or ``"turn"`` (the fallback).
        fov_deg: horizontal field of view; eye_height: metres above the ground at the start.
        revisits: ``(K, 2)`` int frame pairs ``(i, j)``, ``j >= i + 8``, whose poses agree to 2 cm and 1 degree.
        min_clearance: the closest the path comes to an object's collision circle (metres).
    """

    c2w: np.ndarray
    intrinsics: np.ndarray
    size: tuple[int, int]
    action: str
    action_version: str
    translation_speed: float
    rotation_speed_deg: float
    smooth: bool
    kind: str
    fov_deg: float
    eye_height: float
    revisits: np.ndarray = field(default_factory=lambda: np.zeros((0, 2), np.int64))
    min_clearance: float = math.inf

    @property
    def num_frames(self) -> int:
        return int(self.c2w.shape[0])

    def trajectory(self, fps: float = DEFAULT_FPS) -> Trajectory:
        """As a :class:`engine.camera.trajectory.Trajectory` (world poses, per-frame intrinsics)."""
        return Trajectory(self.c2w, self.intrinsics, self.size, fps, self.action, self.action_version)


# -- path checks ---------------------------------------------------------------------------------------------


def path_clearance(world: World, c2w: np.ndarray) -> float:
    """Smallest horizontal distance from any camera centre to an object's collision circle (inf without objects)."""
    pos = np.asarray(c2w)[:, :3, 3]
    return float(np.min(world.clearance(pos[:, 0], pos[:, 2])))


def path_problem(world: World, c2w: np.ndarray, config: PathConfig) -> str | None:
    """Why ``c2w`` is not acceptable in ``world`` (a short reason), or ``None`` when it is."""
    pos = c2w[:, :3, 3]
    if path_clearance(world, c2w) < config.clearance:
        return "collision"
    if np.hypot(pos[:, 0], pos[:, 2]).max() > world.play_radius + 8.0:
        return "left the play area"
    eye = world.surface_y(pos[:, 0], pos[:, 2]) - pos[:, 1]
    if eye.min() < 0.3 or eye.max() > 4.0:
        return "eye height"
    forward = c2w[:, :3, 2]
    pitch = np.degrees(np.arcsin(np.clip(-forward[:, 1], -1.0, 1.0)))
    if np.abs(pitch).max() > config.max_pitch_deg + 1e-6:
        return "pitch"
    if _blocked_ahead(world, pos[0], forward[0], config.min_view_distance):
        return "start faces an object"
    return None


def _blocked_ahead(world: World, origin: np.ndarray, forward: np.ndarray, distance: float) -> bool:
    """Does the horizontal ray from ``origin`` along ``forward`` meet a collision circle within ``distance``?"""
    obs = world.obstacles()
    if len(obs) == 0:
        return False
    d = np.array([forward[0], forward[2]])
    n = np.linalg.norm(d)
    if n < 1e-9:
        return False
    d /= n
    rel = obs[:, :2] - np.array([origin[0], origin[2]])
    t = np.clip(rel @ d, 0.0, distance)
    closest = rel - t[:, None] * d
    return bool((np.hypot(closest[:, 0], closest[:, 1]) < obs[:, 2]).any())


def find_revisits(c2w: np.ndarray, *, min_gap: int = 8, position_tol: float = 0.02, angle_tol_deg: float = 1.0) -> np.ndarray:
    """``(K, 2)`` frame pairs ``(i, j)`` with ``j - i >= min_gap`` whose centres are within ``position_tol`` metres and
    whose rotations differ by less than ``angle_tol_deg`` (the same view seen again)."""
    c2w = np.asarray(c2w, dtype=np.float64)
    pos = c2w[:, :3, 3]
    rot = c2w[:, :3, :3]
    dist = np.linalg.norm(pos[:, None] - pos[None], axis=-1)
    trace = np.einsum("iab,jab->ij", rot, rot)  # trace(R_i^T R_j)
    angle = np.degrees(np.arccos(np.clip((trace - 1.0) / 2.0, -1.0, 1.0)))
    i, j = np.nonzero((dist <= position_tol) & (angle <= angle_tol_deg))
    keep = j - i >= min_gap
    return np.stack([i[keep], j[keep]], axis=1).astype(np.int64)


# -- drawing -------------------------------------------------------------------------------------------------


def _keys_for(mapping: ControlMapping, controls: frozenset[Control]) -> frozenset[str]:
    inverse = {control: key for key, control in mapping.keys.items()}
    return frozenset(inverse[c] for c in controls)


def _draw_move(rng: np.random.Generator, *, allow_stop: bool, stop_weight: float) -> frozenset[Control]:
    moves = [m for m, _ in MOVES]
    weights = [w for _, w in MOVES]
    if allow_stop:
        moves.append(frozenset())
        weights.append(stop_weight)
    p = np.asarray(weights) / np.sum(weights)
    return moves[int(rng.choice(len(moves), p=p))]


def _explore_segments(rng: np.random.Generator, frames: int, config: PathConfig) -> list[tuple[frozenset[Control], int]]:
    out: list[tuple[frozenset[Control], int]] = []
    left = frames
    while left > 0:
        move = _draw_move(rng, allow_stop=True, stop_weight=config.stop_weight)
        if out and move == out[-1][0]:
            continue
        n = min(left, int(rng.integers(config.segment_frames[0], config.segment_frames[1] + 1)))
        out.append((move, n))
        left -= n
    return out


def _out_segments(rng: np.random.Generator, frames: int, config: PathConfig,
                  before: frozenset[Control] | None) -> list[tuple[frozenset[Control], int]]:
    """Segments for the out part of a return: no stops, each differing from its neighbours both ways."""
    out: list[tuple[frozenset[Control], int]] = []
    left = frames
    previous = before
    while left > 0:
        move = _draw_move(rng, allow_stop=False, stop_weight=0.0)
        if previous is not None and not (move - previous):
            continue  # no fresh press going out
        if out and not (previous - move):
            continue  # no fresh press on the way back (the mirror runs the segments in reverse)
        n = min(left, int(rng.integers(config.segment_frames[0], config.segment_frames[1] + 1)))
        out.append((move, n))
        previous = move
        left -= n
    return out


def _mirror(segments: list[tuple[frozenset[Control], int]]) -> list[tuple[frozenset[Control], int]]:
    return [(frozenset(_MIRROR[c] for c in move), n) for move, n in reversed(segments)]


def _segments_to_action(mapping: ControlMapping, segments: list[tuple[frozenset[Control], int]]) -> str:
    merged: list[ActionSegment] = []
    for move, n in segments:
        keys = _keys_for(mapping, move)
        if merged and merged[-1].keys == keys:
            merged[-1] = ActionSegment(keys, merged[-1].frames + n)
        else:
            merged.append(ActionSegment(keys, n))
    return format_action(merged)


def sample_start(world: World, rng: np.random.Generator, eye_height: float, *, clearance: float = 1.5,
                 tries: int = 200) -> np.ndarray:
    """A level start pose in the play area at least ``clearance`` metres from every object (4x4 c2w)."""
    for _ in range(tries):
        r = world.play_radius * 0.8 * math.sqrt(rng.random())
        a = rng.uniform(0.0, 2.0 * math.pi)
        x, z = r * math.cos(a), r * math.sin(a)
        if float(world.clearance(x, z)) >= clearance:
            break
    yaw = rng.uniform(0.0, 2.0 * math.pi)
    y = float(world.surface_y(x, z)) - eye_height
    return pose_from_rt(rot_y(yaw), np.array([x, y, z]))


def sample_clip(world: World, rng: np.random.Generator, config: PathConfig = PathConfig()) -> ClipPlan:
    """Draw a checked camera path (and intrinsics) for one clip in ``world``; deterministic given ``rng``."""
    steps = config.num_frames - 1
    w, h = config.size
    fov = float(rng.uniform(*config.fov_range_deg))
    intrinsics = np.repeat(from_fov(w, h, fov_x_deg=fov)[None], config.num_frames, axis=0)
    eye = float(rng.uniform(*config.eye_height_range))
    version = config.versions[int(rng.integers(len(config.versions)))]
    base = get_mapping(version)
    mapping = base.with_overrides(
        translation_speed=base.translation_speed * float(rng.uniform(*config.speed_scale)),
        rotation_speed_deg=base.rotation_speed_deg * float(rng.uniform(*config.turn_scale)),
    )
    wants_return = rng.random() < config.return_probability
    for attempt in range(config.max_tries):
        start = sample_start(world, rng, eye)
        if wants_return and attempt < config.max_tries // 2:  # then explore: short clips may not fit a return
            prefix_len = int(rng.integers(0, steps // 4 + 1))
            prefix = _explore_segments(rng, prefix_len, config) if prefix_len else []
            out_len = (steps - prefix_len) // 2
            out = _out_segments(rng, out_len, config, prefix[-1][0] if prefix else None)
            tail = steps - prefix_len - 2 * out_len
            segments = prefix + out + _mirror(out) + ([(frozenset(), tail)] if tail else [])
            kind = "return"
        else:
            segments = _explore_segments(rng, steps, config)
            kind = "explore"
        plan = _integrate(world, start, mapping, segments, config, intrinsics, kind, fov, eye)
        if plan is not None and kind == "return" and not _went_away(plan.c2w, prefix_len, prefix_len + out_len, config):
            plan = None  # a return that barely left its view is no test of memory
        if plan is not None:
            return plan
    # fallback: turn on the spot from a clear start (cannot collide)
    start = sample_start(world, rng, eye, clearance=max(1.5, config.min_view_distance))
    turn = frozenset({Control.YAW_LEFT if rng.random() < 0.5 else Control.YAW_RIGHT})
    plan = _integrate(world, start, mapping, [(turn, steps)], config, intrinsics, "turn", fov, eye, check=False)
    assert plan is not None
    return plan


def _went_away(c2w: np.ndarray, start: int, turn: int, config: PathConfig) -> bool:
    """Did the out part (frames ``start..turn``) move ``min_excursion_m`` or turn ``min_excursion_deg`` away?"""
    seg = c2w[start : turn + 1]
    moved = np.linalg.norm(seg[:, :3, 3] - c2w[start, :3, 3], axis=1).max()
    cos = (np.einsum("fab,ab->f", seg[:, :3, :3], c2w[start, :3, :3]) - 1.0) / 2.0
    turned = np.degrees(np.arccos(np.clip(cos, -1.0, 1.0))).max()
    return bool(moved >= config.min_excursion_m or turned >= config.min_excursion_deg)


def _integrate(world: World, start: np.ndarray, mapping: ControlMapping, segments, config: PathConfig,
               intrinsics: np.ndarray, kind: str, fov: float, eye: float, *, check: bool = True) -> ClipPlan | None:
    action = _segments_to_action(mapping, segments)
    c2w = MotionIntegrator(mapping, pose=start).run(expand_action(action))
    if check and path_problem(world, c2w, config) is not None:
        return None
    return ClipPlan(
        c2w=c2w,
        intrinsics=intrinsics,
        size=config.size,
        action=action,
        action_version=mapping.version,
        translation_speed=mapping.translation_speed,
        rotation_speed_deg=mapping.rotation_speed_deg,
        smooth=mapping.smooth,
        kind=kind,
        fov_deg=fov,
        eye_height=eye,
        revisits=find_revisits(c2w),
        min_clearance=path_clearance(world, c2w),
    )
