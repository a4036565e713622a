"""Keyframed camera paths: the document Path mode edits, and its interpolation to every pixel frame.

Why a separate, Qt-free module: the path is data the main window, the session files and the tests all need, so the
math (interpolation, conversion to :class:`~engine.camera.trajectory.Trajectory`) must run without a display.

Conventions (DESIGN.md): poses are camera-to-world, OpenCV camera axes (+X right, +Y down, +Z forward); the start
image's camera is the identity at frame 0 (:data:`START_FRAME`; the editor pins that keyframe, and an imported
trajectory is made relative to its first pose); frames are pixel frames at 16 fps.

Why no MotionIntegrator here: DESIGN.md asks for one integrator shared by the action DSL, keyboard driving and path
playback. Drive mode and action strings do share :class:`~engine.camera.integrator.MotionIntegrator`, but a keyframed
spline is not a sequence of held keys: turning it into one would quantise the authored poses to the integrator's
per-frame steps and lose exactness at the keyframes. So a path is sampled directly (below), and its poses go to the
engine as they are, relative to frame 0. This deviation is deliberate and documented in docs/explorer_path_mode.md.

Interpolation between keyframes (see docs/explorer_path_mode.md): positions on a centripetal Catmull-Rom spline and
rotations by squad (:mod:`engine.camera.splines`); the **vertical FOV** linearly in degrees (never overshoots the FOV
range the model accepts); before the first and after the last keyframe the pose and FOV are held.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

import numpy as np

from engine.camera.intrinsics import focal_to_fov_deg, fov_deg_to_focal
from engine.camera.poses import (
    pose_from_rt,
    quaternion_to_rotation,
    relative_to_first,
    rot_x,
    rot_y,
    rotation_to_quaternion,
    validate_c2w,
)
from engine.camera.splines import interpolate_poses, slerp
from engine.camera.trajectory import DEFAULT_FPS, Trajectory
from engine.errors import IntrinsicsError, TrajectoryError

#: The start image's frame: its keyframe is the start camera (identity pose, the start image's FOV).
START_FRAME = 0
#: Pixel frames per streaming chunk: a streamed rollout has ``1 + 24 k`` frames.
CHUNK_FRAMES = 24
#: Vertical FOV (degrees) of a new path when the start image has no intrinsics.
DEFAULT_VFOV_DEG = 60.0
#: Vertical FOV bounds (degrees, inclusive) a keyframe may carry; the model's own range check happens at generation.
VFOV_LIMITS_DEG = (1.0, 179.0)
#: Frame size ``(width, height)`` used when none was given (the embedded model's frame).
DEFAULT_FRAME_SIZE = (640, 352)
#: Default spacing (frames) of keyframes picked from a dense imported trajectory.
IMPORT_EVERY = 12


def snap_length(num_frames: int) -> int:
    """The smallest streaming length ``1 + 24 k`` (k >= 1) holding ``num_frames`` frames."""
    n = max(int(num_frames), 2)
    return 1 + CHUNK_FRAMES * max(1, math.ceil((n - 1) / CHUNK_FRAMES))


def rot_z(angle_rad: float) -> np.ndarray:
    """Rotation about +Z by ``angle_rad`` (float64 3x3)."""
    c, s = math.cos(angle_rad), math.sin(angle_rad)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def rotation_from_euler_deg(yaw: float, pitch: float, roll: float) -> np.ndarray:
    """``R = R_y(yaw) R_x(pitch) R_z(roll)``: yaw about the world vertical (+yaw turns right), then pitch about the
    camera's X axis (+pitch looks up, since +Y is down), then roll about the viewing axis (+roll lowers the right
    side). The same order as the MotionIntegrator, so driving and authoring agree."""
    return rot_y(math.radians(yaw)) @ rot_x(math.radians(pitch)) @ rot_z(math.radians(roll))


def euler_deg_from_rotation(rot: np.ndarray) -> tuple[float, float, float]:
    """Inverse of :func:`rotation_from_euler_deg`: ``(yaw, pitch, roll)`` in degrees, pitch in [-90, 90].

    At pitch +-90 (gimbal lock) the roll is reported as 0 and the whole turn as yaw.
    """
    r = np.asarray(rot, dtype=np.float64)
    sin_pitch = float(np.clip(-r[1, 2], -1.0, 1.0))
    pitch = math.asin(sin_pitch)
    if math.cos(pitch) > 1e-9:
        yaw = math.atan2(r[0, 2], r[2, 2])
        roll = math.atan2(r[1, 0], r[1, 1])
    else:
        yaw = math.atan2(-r[2, 0], r[0, 0])
        roll = 0.0
    return math.degrees(yaw), math.degrees(pitch), math.degrees(roll)


def _check_vfov(vfov_deg: float, where: str) -> float:
    lo, hi = VFOV_LIMITS_DEG
    try:
        value = float(vfov_deg)
    except (TypeError, ValueError):
        raise IntrinsicsError(f"{where}: vertical FOV must be a number of degrees, found {vfov_deg!r}") from None
    if not math.isfinite(value) or not lo <= value <= hi:
        raise IntrinsicsError(f"{where}: vertical FOV must be between {lo:g} and {hi:g} degrees, found {value:g}")
    return value


@dataclass(frozen=True)
class Keyframe:
    """One authored camera: a pixel frame index, a camera-to-world pose and a vertical FOV.

    Immutable (position and rotation are stored as tuples) so undo commands can keep before/after copies and
    compare them exactly. ``quaternion`` is the camera-to-world rotation as a unit quaternion ``(w, x, y, z)``.
    Build one with :meth:`from_c2w` or :meth:`from_euler`.
    """

    frame: int
    position: tuple[float, float, float] = (0.0, 0.0, 0.0)
    quaternion: tuple[float, float, float, float] = (1.0, 0.0, 0.0, 0.0)
    vfov_deg: float = DEFAULT_VFOV_DEG

    def __post_init__(self) -> None:
        if isinstance(self.frame, bool) or not isinstance(self.frame, (int, np.integer)) or self.frame < 0:
            raise TrajectoryError(f"keyframe frame: expected a whole number >= 0, found {self.frame!r}")
        where = f"keyframe at frame {int(self.frame)}"
        pos = np.asarray(self.position, dtype=np.float64).reshape(-1)
        if pos.shape != (3,) or not np.isfinite(pos).all():
            raise TrajectoryError(f"{where}: position must be 3 finite numbers (x, y, z), found {self.position!r}")
        q = np.asarray(self.quaternion, dtype=np.float64).reshape(-1)
        if q.shape != (4,) or not np.isfinite(q).all() or np.linalg.norm(q) < 1e-9:
            raise TrajectoryError(
                f"{where}: rotation must be a non-zero quaternion (w, x, y, z), found {self.quaternion!r}"
            )
        q = q / np.linalg.norm(q)
        object.__setattr__(self, "frame", int(self.frame))
        object.__setattr__(self, "position", tuple(float(v) for v in pos))
        object.__setattr__(self, "quaternion", tuple(float(v) for v in q))
        object.__setattr__(self, "vfov_deg", _check_vfov(self.vfov_deg, where))

    @classmethod
    def from_c2w(cls, frame: int, c2w: np.ndarray, vfov_deg: float = DEFAULT_VFOV_DEG) -> "Keyframe":
        """A keyframe from a 4x4 (or 3x4) camera-to-world matrix; the rotation must be orthonormal."""
        pose = validate_c2w(np.asarray(c2w)[None], name=f"keyframe at frame {frame}")[0]
        return cls(frame, tuple(pose[:3, 3]), tuple(rotation_to_quaternion(pose[:3, :3])), vfov_deg)

    @classmethod
    def from_euler(
        cls,
        frame: int,
        position: Sequence[float],
        yaw: float = 0.0,
        pitch: float = 0.0,
        roll: float = 0.0,
        vfov_deg: float = DEFAULT_VFOV_DEG,
    ) -> "Keyframe":
        """A keyframe from a camera centre and yaw/pitch/roll in degrees (:func:`rotation_from_euler_deg`)."""
        quat = rotation_to_quaternion(rotation_from_euler_deg(yaw, pitch, roll))
        return cls(frame, tuple(position), tuple(quat), vfov_deg)

    @property
    def rotation(self) -> np.ndarray:
        """Camera-to-world rotation ``(3, 3)``: columns are the camera's right, down and forward axes."""
        return quaternion_to_rotation(np.array(self.quaternion))

    @property
    def c2w(self) -> np.ndarray:
        """Camera-to-world pose ``(4, 4)``."""
        return pose_from_rt(self.rotation, np.array(self.position))

    def euler_deg(self) -> tuple[float, float, float]:
        """``(yaw, pitch, roll)`` in degrees (:func:`euler_deg_from_rotation`)."""
        return euler_deg_from_rotation(self.rotation)

    def moved(self, **changes: object) -> "Keyframe":
        """A copy with fields replaced (``frame``, ``position``, ``quaternion``, ``vfov_deg``)."""
        return replace(self, **changes)


def intrinsics_for(vfov_deg: np.ndarray | float, frame_size: tuple[int, int]) -> np.ndarray:
    """``(N, 4)`` square-pixel intrinsics ``[f, f, W/2, H/2]`` for vertical FOVs over a ``(W, H)`` frame."""
    w, h = (int(v) for v in frame_size)
    vfov = np.atleast_1d(np.asarray(vfov_deg, dtype=np.float64))
    f = fov_deg_to_focal(vfov, h)
    return np.stack([f, f, np.full_like(f, w / 2.0), np.full_like(f, h / 2.0)], axis=1)


def _check_frame_size(frame_size: tuple[int, int]) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in frame_size)
    except (TypeError, ValueError):
        raise IntrinsicsError(f"frame size: expected (width, height) in pixels, found {frame_size!r}") from None
    if w <= 0 or h <= 0:
        raise IntrinsicsError(f"frame size: expected positive width and height, found {w}x{h}")
    return w, h


class CameraPath:
    """Keyframes sorted by frame with unique frame numbers, a length in frames and the frame size.

    Mutated only through :meth:`insert`, :meth:`remove` and :meth:`replace` (which the undo commands call), so
    the sorted/unique invariant holds at every step. ``length`` is what the user asked for; :attr:`num_frames`
    is the streaming length actually sampled (``1 + 24 k``, long enough for the last keyframe).
    """

    def __init__(
        self,
        keyframes: Iterable[Keyframe] = (),
        *,
        length: int | None = None,
        frame_size: tuple[int, int] = DEFAULT_FRAME_SIZE,
    ) -> None:
        kfs = list(keyframes)
        for k in kfs:
            if not isinstance(k, Keyframe):
                raise TrajectoryError(f"camera path: expected Keyframe objects, found {type(k).__name__}")
        frames = [k.frame for k in kfs]
        dupes = sorted({f for f in frames if frames.count(f) > 1})
        if dupes:
            raise TrajectoryError(
                f"camera path: keyframe frames must be unique, found frame(s) {', '.join(map(str, dupes))} twice"
            )
        if not kfs:
            raise TrajectoryError("camera path: expected at least 1 keyframe, found 0")
        self._keyframes = sorted(kfs, key=lambda k: k.frame)
        self.frame_size = _check_frame_size(frame_size)
        self.length = snap_length(self._keyframes[-1].frame + 1) if length is None else int(length)
        if self.length < 1:
            raise TrajectoryError(f"camera path length: expected at least 1 frame, found {self.length}")

    # --- reading ------------------------------------------------------------------------------------------------

    @property
    def keyframes(self) -> tuple[Keyframe, ...]:
        return tuple(self._keyframes)

    def __len__(self) -> int:
        return len(self._keyframes)

    @property
    def frames(self) -> list[int]:
        return [k.frame for k in self._keyframes]

    @property
    def num_frames(self) -> int:
        """Streaming length sampled by default: ``1 + 24 k`` covering ``length`` and the last keyframe."""
        return snap_length(max(self.length, self._keyframes[-1].frame + 1))

    def index_of(self, frame: int) -> int:
        """Index of the keyframe at ``frame``; :class:`TrajectoryError` if there is none."""
        for i, k in enumerate(self._keyframes):
            if k.frame == frame:
                return i
        raise TrajectoryError(f"camera path: no keyframe at frame {frame} (keyframes at {self.frames})")

    def get(self, frame: int) -> Keyframe:
        return self._keyframes[self.index_of(frame)]

    def has(self, frame: int) -> bool:
        return any(k.frame == frame for k in self._keyframes)

    def copy(self) -> "CameraPath":
        return CameraPath(self._keyframes, length=self.length, frame_size=self.frame_size)

    def same_as(self, other: "CameraPath") -> bool:
        """Equal keyframes, length and frame size."""
        return (
            self._keyframes == list(other._keyframes)
            and self.length == other.length
            and tuple(self.frame_size) == tuple(other.frame_size)
        )

    # --- editing (the undo commands call these) ---------------------------------------------------------------

    def insert(self, keyframe: Keyframe) -> int:
        """Add ``keyframe``; returns its index. Raises if its frame already has a keyframe."""
        if self.has(keyframe.frame):
            raise TrajectoryError(f"camera path: frame {keyframe.frame} already has a keyframe; pick another frame")
        self._keyframes.append(keyframe)
        self._keyframes.sort(key=lambda k: k.frame)
        return self.index_of(keyframe.frame)

    def remove(self, frame: int) -> Keyframe:
        """Remove and return the keyframe at ``frame``; the last keyframe cannot be removed."""
        i = self.index_of(frame)
        if len(self._keyframes) == 1:
            raise TrajectoryError("camera path: cannot delete the only keyframe; a path needs at least 1")
        return self._keyframes.pop(i)

    def replace(self, frame: int, keyframe: Keyframe) -> int:
        """Replace the keyframe at ``frame`` by ``keyframe`` (which may have another frame); returns its index."""
        i = self.index_of(frame)
        if keyframe.frame != frame and self.has(keyframe.frame):
            raise TrajectoryError(
                f"camera path: cannot move the keyframe at frame {frame} to frame {keyframe.frame}, "
                "which already has one"
            )
        self._keyframes[i] = keyframe
        self._keyframes.sort(key=lambda k: k.frame)
        return self.index_of(keyframe.frame)

    def set_keyframes(self, keyframes: Iterable[Keyframe], length: int) -> None:
        """Replace everything at once (import, undo of an import); validated like the constructor."""
        fresh = CameraPath(keyframes, length=length, frame_size=self.frame_size)
        self._keyframes, self.length = fresh._keyframes, fresh.length

    # --- sampling -----------------------------------------------------------------------------------------------

    def sample_poses(self, frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Interpolated ``(c2w (N, 4, 4), vfov_deg (N,))`` at (possibly fractional) pixel frames ``frames``."""
        t = np.atleast_1d(np.asarray(frames, dtype=np.float64))
        kfs = self._keyframes
        key_f = np.array([k.frame for k in kfs], dtype=np.float64)
        fovs = np.array([k.vfov_deg for k in kfs])
        out_pos, out_q = interpolate_poses(key_f, np.array([k.position for k in kfs]),
                                           np.array([k.quaternion for k in kfs]), t)  # fmt: skip
        vfov = np.interp(t, key_f, fovs)
        return pose_from_rt(quaternion_to_rotation(out_q), out_pos), vfov

    def sample(
        self, num_frames: int | None = None, frame_size: tuple[int, int] | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Poses and intrinsics for pixel frames ``0 .. num_frames - 1`` (default :attr:`num_frames`):
        ``(c2w (N, 4, 4), intrinsics (N, 4))`` with ``[fx, fy, cx, cy]`` for ``frame_size`` (default the path's)."""
        n = self.num_frames if num_frames is None else int(num_frames)
        if n < 1:
            raise TrajectoryError(f"num_frames: expected at least 1 frame to sample, found {n}")
        size = self.frame_size if frame_size is None else _check_frame_size(frame_size)
        c2w, vfov = self.sample_poses(np.arange(n))
        return c2w, intrinsics_for(vfov, size)

    # --- conversion -------------------------------------------------------------------------------------------------

    def to_trajectory(
        self, num_frames: int | None = None, frame_size: tuple[int, int] | None = None, fps: float = DEFAULT_FPS
    ) -> Trajectory:
        """The sampled path as a :class:`Trajectory` (intrinsics for ``frame_size``), ready for
        :func:`engine.camera.formats.write_trajectory`."""
        size = self.frame_size if frame_size is None else _check_frame_size(frame_size)
        c2w, intr = self.sample(num_frames, size)
        return Trajectory(c2w=c2w, intrinsics=intr, image_size=size, fps=fps)

    @classmethod
    def from_trajectory(
        cls,
        trajectory: Trajectory,
        *,
        every: int = IMPORT_EVERY,
        frame_size: tuple[int, int] | None = None,
        default_vfov_deg: float = DEFAULT_VFOV_DEG,
    ) -> "CameraPath":
        """Keyframes picked from a dense trajectory: frames ``0, every, 2 every, ...`` and always the last frame.

        The poses are made relative to the trajectory's first pose (:func:`engine.camera.poses.relative_to_first`):
        frame 0 of a path is the start image's camera, the identity, wherever the file's world put it. The vertical
        FOV of each keyframe comes from the trajectory's ``fy`` and image height (so it survives a change of frame
        size); without intrinsics every keyframe gets ``default_vfov_deg``. The path's length is the trajectory's
        frame count; ``frame_size`` defaults to the trajectory's image size.
        """
        if int(every) < 1:
            raise TrajectoryError(f"import keyframe spacing: expected every >= 1 frame, found {every}")
        n = trajectory.num_frames
        picks = list(range(0, n, int(every)))
        if picks[-1] != n - 1:
            picks.append(n - 1)
        if trajectory.intrinsics is not None and trajectory.image_size is not None:
            vfov = focal_to_fov_deg(trajectory.intrinsics[:, 1], trajectory.image_size[1])
        else:
            vfov = np.full(n, float(default_vfov_deg))
        c2w = relative_to_first(trajectory.c2w)
        kfs = [Keyframe.from_c2w(f, c2w[f], float(vfov[f])) for f in picks]
        size = frame_size or trajectory.image_size or DEFAULT_FRAME_SIZE
        return cls(kfs, length=n, frame_size=size)


def default_path(vfov_deg: float = DEFAULT_VFOV_DEG, frame_size: tuple[int, int] = DEFAULT_FRAME_SIZE) -> CameraPath:
    """A new path: the start camera (identity) at frame 0 and a keyframe two chunks later, 2 units forward."""
    return CameraPath(
        [Keyframe(0, vfov_deg=vfov_deg), Keyframe(2 * CHUNK_FRAMES, (0.0, 0.0, 2.0), vfov_deg=vfov_deg)],
        length=1 + 2 * CHUNK_FRAMES,
        frame_size=frame_size,
    )


__all__ = [
    "CHUNK_FRAMES",
    "DEFAULT_VFOV_DEG",
    "IMPORT_EVERY",
    "START_FRAME",
    "CameraPath",
    "Keyframe",
    "default_path",
    "euler_deg_from_rotation",
    "intrinsics_for",
    "rotation_from_euler_deg",
    "slerp",
    "snap_length",
]
