"""The :class:`Trajectory` record: what every camera source produces and every file format stores."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from engine.camera.intrinsics import as_vec4, fit_to_frames, fov_deg
from engine.camera.poses import validate_c2w
from engine.errors import IntrinsicsError, TrajectoryError

#: Frame rate of SANA-WM videos (pixel frames per second).
DEFAULT_FPS = 16.0


@dataclass
class Trajectory:
    """A camera path with per-frame intrinsics.

    Attributes:
        c2w: ``(F, 4, 4)`` float64 camera-to-world matrices, OpenCV camera axes (+X right, +Y down,
            +Z forward). Units are the trajectory's own (metres for the official model).
        intrinsics: ``(F, 4)`` float64 ``[fx, fy, cx, cy]`` in pixels of an ``image_size`` image, or
            ``None`` when the source carries no intrinsics (e.g. a bare SANA-WM ``.npy``).
        image_size: ``(width, height)`` in pixels that the intrinsics refer to, or ``None``.
        fps: frames per second of the path.
        action: the action DSL string the path was integrated from, if any.
        action_version: the DSL mapping version of ``action`` (``"v1"`` or ``"v2"``).
    """

    c2w: np.ndarray
    intrinsics: np.ndarray | None = None
    image_size: tuple[int, int] | None = None
    fps: float = DEFAULT_FPS
    action: str | None = None
    action_version: str | None = None
    extras: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.c2w = validate_c2w(self.c2w)
        if self.intrinsics is not None:
            vec = as_vec4(self.intrinsics)
            if vec.shape[0] == 1 and self.num_frames > 1:
                vec = fit_to_frames(vec, self.num_frames)
            if vec.shape[0] != self.num_frames:
                raise IntrinsicsError(
                    f"intrinsics: expected one row per pose ({self.num_frames}) or a single row, found {vec.shape[0]}"
                )
            self.intrinsics = vec
        if self.image_size is not None:
            w, h = (int(v) for v in self.image_size)
            if w <= 0 or h <= 0:
                raise TrajectoryError(f"image size: expected positive width and height, found {w}x{h}")
            self.image_size = (w, h)
        if not np.isfinite(self.fps) or self.fps <= 0:
            raise TrajectoryError(f"fps: expected a positive number, found {self.fps}")
        self.fps = float(self.fps)

    @property
    def num_frames(self) -> int:
        return int(self.c2w.shape[0])

    @property
    def duration_s(self) -> float:
        """Seconds covered by the path: ``(F - 1) / fps`` (the first pose is at t = 0)."""
        return (self.num_frames - 1) / self.fps

    @property
    def positions(self) -> np.ndarray:
        """Camera centres ``(F, 3)`` in world coordinates."""
        return self.c2w[:, :3, 3]

    @property
    def path_length(self) -> float:
        """Sum of the distances between consecutive camera centres, in trajectory units."""
        return float(np.linalg.norm(np.diff(self.positions, axis=0), axis=1).sum())

    def fov_range_deg(self) -> tuple[tuple[float, float], tuple[float, float]] | None:
        """``((min_h, max_h), (min_v, max_v))`` FOV in degrees, or ``None`` without intrinsics or image size."""
        if self.intrinsics is None or self.image_size is None:
            return None
        fx, fy = fov_deg(self.intrinsics, *self.image_size)
        return (float(fx.min()), float(fx.max())), (float(fy.min()), float(fy.max()))

    def with_intrinsics(self, intrinsics: np.ndarray, image_size: tuple[int, int]) -> "Trajectory":
        """A copy with intrinsics (any official form, fitted to the frames) for an image of ``image_size``."""
        return replace(self, intrinsics=fit_to_frames(intrinsics, self.num_frames), image_size=image_size)

    def sliced(self, stop: int, *, start: int = 0) -> "Trajectory":
        """Frames ``[start, stop)`` (the first ``stop`` frames by default)."""
        intr = None if self.intrinsics is None else self.intrinsics[start:stop]
        return replace(self, c2w=self.c2w[start:stop], intrinsics=intr)
