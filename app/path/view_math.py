"""Camera math and geometry of the Path-mode 3D view, in numpy (no Qt, no GL).

Why apart from the widget: picking, handle drags and the screenshot tests must project points exactly as the GPU
does, so the view and projection matrices, the line geometry and the screen projection live here and are used by
both the renderer (:mod:`app.path.gl_view`) and the tests.

World space is the path's: OpenCV axes, +Y down, the start camera at the origin looking along +Z. Matrices follow
OpenGL (eye space looks down -Z, +Y up on screen; clip space from :func:`perspective`) and are row-major numpy arrays
(transpose before uploading to a GLSL ``mat4``). Screen coordinates are Qt's: pixels from the top-left corner.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

#: The ground plane (world y, +Y is down) drawn under the start camera, in trajectory units (about eye height).
GROUND_Y = 1.5
#: World "up" for the orbit camera (OpenCV +Y is down).
WORLD_UP = np.array([0.0, -1.0, 0.0])
#: OpenCV camera axes -> OpenGL eye axes (flip Y and Z).
CV_TO_GL = np.diag([1.0, -1.0, -1.0, 1.0])


def look_at(eye: np.ndarray, target: np.ndarray, up: np.ndarray = WORLD_UP) -> np.ndarray:
    """World -> eye matrix ``(4, 4)`` of a camera at ``eye`` looking at ``target`` (gluLookAt)."""
    eye = np.asarray(eye, dtype=np.float64)
    f = np.asarray(target, dtype=np.float64) - eye
    f /= max(np.linalg.norm(f), 1e-12)
    s = np.cross(f, up)
    if np.linalg.norm(s) < 1e-9:  # looking straight along "up": any perpendicular right axis will do
        s = np.cross(f, np.array([0.0, 0.0, 1.0]))
    s /= np.linalg.norm(s)
    u = np.cross(s, f)
    m = np.eye(4)
    m[0, :3], m[1, :3], m[2, :3] = s, u, -f
    m[:3, 3] = -m[:3, :3] @ eye
    return m


def perspective(fovy_deg: float, aspect: float, near: float, far: float) -> np.ndarray:
    """OpenGL perspective projection ``(4, 4)`` (gluPerspective): vertical FOV, width/height aspect."""
    f = 1.0 / math.tan(math.radians(fovy_deg) / 2.0)
    m = np.zeros((4, 4))
    m[0, 0] = f / aspect
    m[1, 1] = f
    m[2, 2] = (far + near) / (near - far)
    m[2, 3] = 2.0 * far * near / (near - far)
    m[3, 2] = -1.0
    return m


def camera_view(c2w: np.ndarray) -> np.ndarray:
    """World -> eye matrix of an OpenCV camera-to-world pose (looking through the path camera)."""
    c2w = np.asarray(c2w, dtype=np.float64)
    w2c = np.eye(4)
    w2c[:3, :3] = c2w[:3, :3].T
    w2c[:3, 3] = -c2w[:3, :3].T @ c2w[:3, 3]
    return CV_TO_GL @ w2c


@dataclass
class OrbitCamera:
    """The editor's navigation camera: it orbits ``target`` at ``distance``.

    ``azimuth_deg`` turns about the world vertical (0 looks along +Z, like the start camera); ``elevation_deg`` > 0
    looks down onto the ground.
    """

    target: np.ndarray
    distance: float = 8.0
    azimuth_deg: float = 0.0
    elevation_deg: float = 25.0
    fovy_deg: float = 50.0

    @classmethod
    def default(cls) -> "OrbitCamera":
        return cls(target=np.array([0.0, 0.5, 2.0]))

    def forward(self) -> np.ndarray:
        az, el = math.radians(self.azimuth_deg), math.radians(self.elevation_deg)
        return np.array([math.cos(el) * math.sin(az), math.sin(el), math.cos(el) * math.cos(az)])

    def eye(self) -> np.ndarray:
        return np.asarray(self.target, dtype=np.float64) - self.distance * self.forward()

    def view(self) -> np.ndarray:
        return look_at(self.eye(), self.target)

    def projection(self, aspect: float) -> np.ndarray:
        near = max(self.distance * 1e-3, 1e-3)
        return perspective(self.fovy_deg, aspect, near, self.distance * 100.0 + 100.0)

    def orbit(self, dx_px: float, dy_px: float, deg_per_px: float = 0.4) -> None:
        """Left-drag: the scene turns with the mouse; elevation stays within +-89 degrees."""
        self.azimuth_deg = (self.azimuth_deg - dx_px * deg_per_px) % 360.0
        self.elevation_deg = float(np.clip(self.elevation_deg + dy_px * deg_per_px, -89.0, 89.0))

    def pan(self, dx_px: float, dy_px: float, viewport_h: float) -> None:
        """Right/middle drag: the target moves so the point under the mouse follows it."""
        per_px = 2.0 * self.distance * math.tan(math.radians(self.fovy_deg) / 2.0) / max(viewport_h, 1.0)
        view = self.view()
        right, up = view[0, :3], view[1, :3]
        self.target = np.asarray(self.target, dtype=np.float64) + (-dx_px * right + dy_px * up) * per_px

    def zoom(self, wheel_steps: float) -> None:
        """Wheel: each step (one notch) moves 15% closer (positive) or further (negative)."""
        self.distance = float(np.clip(self.distance * 0.85**wheel_steps, 0.05, 1e4))

    def frame_all(self, points: np.ndarray, aspect: float) -> None:
        """Aim at the bounding box of ``points`` ``(N, 3)`` and back off until its sphere fits the view."""
        pts = np.asarray(points, dtype=np.float64).reshape(-1, 3)
        lo, hi = pts.min(axis=0), pts.max(axis=0)
        centre = (lo + hi) / 2.0
        radius = max(float(np.linalg.norm(pts - centre, axis=1).max()), 0.5)
        half = math.radians(self.fovy_deg) / 2.0
        half = min(half, math.atan(math.tan(half) * aspect))
        self.target = centre
        self.distance = 1.15 * radius / math.sin(half)


def project(points: np.ndarray, mvp: np.ndarray, size: tuple[float, float]) -> tuple[np.ndarray, np.ndarray]:
    """World points ``(N, 3)`` -> screen pixels ``(N, 2)`` (Qt coordinates) and a mask of points in front of the
    camera and inside the depth range."""
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 3)
    clip = np.concatenate([pts, np.ones((len(pts), 1))], axis=1) @ np.asarray(mvp).T
    w = clip[:, 3]
    visible = w > 1e-9
    ndc = clip[:, :3] / np.where(visible, w, 1.0)[:, None]
    visible &= np.abs(ndc[:, 2]) <= 1.0
    width, height = size
    xy = np.stack([(ndc[:, 0] + 1.0) * 0.5 * width, (1.0 - ndc[:, 1]) * 0.5 * height], axis=1)
    return xy, visible


def pick_nearest(
    screen: np.ndarray, visible: np.ndarray, click: tuple[float, float], radius_px: float = 12.0
) -> int | None:
    """Index of the visible screen point nearest to ``click`` within ``radius_px``, or ``None``."""
    if len(screen) == 0:
        return None
    d = np.linalg.norm(np.asarray(screen) - np.asarray(click, dtype=np.float64), axis=1)
    d = np.where(visible, d, np.inf)
    i = int(np.argmin(d))
    return i if d[i] <= radius_px else None


def segment_distance(p: np.ndarray, a: np.ndarray, b: np.ndarray) -> float:
    """Distance from 2D point ``p`` to the segment ``a``-``b``."""
    p, a, b = (np.asarray(v, dtype=np.float64) for v in (p, a, b))
    ab = b - a
    t = 0.0 if ab @ ab < 1e-12 else float(np.clip((p - a) @ ab / (ab @ ab), 0.0, 1.0))
    return float(np.linalg.norm(p - (a + t * ab)))


def handle_length(position: np.ndarray, eye: np.ndarray) -> float:
    """World length of the axis handles: a fixed fraction of the distance to the eye, so they keep their size."""
    return max(0.15 * float(np.linalg.norm(np.asarray(position) - np.asarray(eye))), 1e-3)


def pick_handle(
    position: np.ndarray, length: float, mvp: np.ndarray, size: tuple[float, float], click: tuple[float, float],
    radius_px: float = 8.0,
) -> int | None:
    """The world axis (0 = X, 1 = Y, 2 = Z) whose handle segment passes within ``radius_px`` of ``click``."""
    best, best_d = None, radius_px
    origin = np.asarray(position, dtype=np.float64)
    for axis in range(3):
        tip = origin.copy()
        tip[axis] += length
        (a, b), vis = project(np.stack([origin, tip]), mvp, size)
        if not vis.all():
            continue
        d = segment_distance(np.asarray(click), a, b)
        if d <= best_d:
            best, best_d = axis, d
    return best


def drag_along_axis(
    position: np.ndarray, axis: int, mvp: np.ndarray, size: tuple[float, float],
    start: tuple[float, float], now: tuple[float, float],
) -> float:
    """World distance along ``axis`` that the mouse moved from ``start`` to ``now``: the mouse delta projected on
    the axis's screen direction, divided by the axis's pixels per world unit at ``position``."""
    origin = np.asarray(position, dtype=np.float64)
    tip = origin.copy()
    tip[axis] += 1.0
    (a, b), vis = project(np.stack([origin, tip]), mvp, size)
    d = b - a
    n2 = float(d @ d)
    if not vis.all() or n2 < 1e-6:  # the axis points at the viewer: no reliable direction on screen
        return 0.0
    delta = np.asarray(now, dtype=np.float64) - np.asarray(start, dtype=np.float64)
    return float(delta @ d / n2)


def unproject_ray(
    mvp: np.ndarray, size: tuple[float, float], pixel: tuple[float, float]
) -> tuple[np.ndarray, np.ndarray]:
    """World ray ``(origin, unit direction)`` through screen ``pixel`` (Qt coordinates), from the near plane."""
    width, height = size
    ndc_x = 2.0 * pixel[0] / width - 1.0
    ndc_y = 1.0 - 2.0 * pixel[1] / height
    inv = np.linalg.inv(np.asarray(mvp, dtype=np.float64))
    near = inv @ np.array([ndc_x, ndc_y, -1.0, 1.0])
    far = inv @ np.array([ndc_x, ndc_y, 1.0, 1.0])
    near, far = near[:3] / near[3], far[:3] / far[3]
    d = far - near
    return near, d / np.linalg.norm(d)


def ring_basis(rotation: np.ndarray, kind: str) -> tuple[np.ndarray, np.ndarray]:
    """``(e1, e2)`` spanning a rotation ring's plane, so that turning by ``a`` sends ``e1`` to ``cos a e1 + sin a e2``.

    ``"yaw"``: about the world vertical (``R_y(a) R``), from +Z towards +X. ``"pitch"``: about the camera's X axis
    (``R R_x(a)``), from the camera's forward towards its up (-Y) axis.
    """
    rot = np.asarray(rotation, dtype=np.float64)
    if kind == "yaw":
        return np.array([0.0, 0.0, 1.0]), np.array([1.0, 0.0, 0.0])
    if kind == "pitch":
        return rot[:, 2].copy(), -rot[:, 1]
    raise ValueError(f"ring kind: expected 'yaw' or 'pitch', found {kind!r}")


def ring_points(centre: np.ndarray, rotation: np.ndarray, kind: str, radius: float, n: int = 64) -> np.ndarray:
    """``n`` points around a rotation ring (closed: the first point is not repeated)."""
    e1, e2 = ring_basis(rotation, kind)
    a = np.linspace(0.0, 2.0 * np.pi, n, endpoint=False)[:, None]
    return np.asarray(centre, dtype=np.float64) + radius * (np.cos(a) * e1 + np.sin(a) * e2)


def ring_angle(
    centre: np.ndarray, rotation: np.ndarray, kind: str, mvp: np.ndarray, size: tuple[float, float],
    pixel: tuple[float, float],
) -> float | None:
    """Angle (radians) around a ring's plane of the point where the mouse ray meets it; ``None`` when the plane is
    seen edge-on or behind the viewer. Differences of this angle during a drag are the rotation to apply."""
    e1, e2 = ring_basis(rotation, kind)
    normal = np.cross(e1, e2)
    origin, direction = unproject_ray(mvp, size, pixel)
    denom = float(direction @ normal)
    if abs(denom) < 1e-3:
        return None
    t = float((np.asarray(centre) - origin) @ normal) / denom
    if t <= 0:
        return None
    v = origin + t * direction - np.asarray(centre)
    return float(np.arctan2(v @ e2, v @ e1))


def pick_ring(
    centre: np.ndarray, rotation: np.ndarray, radius: float, mvp: np.ndarray, size: tuple[float, float],
    click: tuple[float, float], radius_px: float = 8.0,
) -> str | None:
    """``"yaw"`` or ``"pitch"``: the rotation ring whose projected outline passes within ``radius_px`` of ``click``."""
    best, best_d = None, radius_px
    for kind in ("yaw", "pitch"):
        pts = ring_points(centre, rotation, kind, radius)
        xy, vis = project(np.concatenate([pts, pts[:1]]), mvp, size)
        if not vis.all():
            continue
        d = min(segment_distance(np.asarray(click), xy[i], xy[i + 1]) for i in range(len(xy) - 1))
        if d <= best_d:
            best, best_d = kind, d
    return best


# --- line geometry (pairs of points for GL_LINES) --------------------------------------------------------------


def grid_extent(points: np.ndarray, minimum: int = 20, margin: float = 2.0, maximum: int = 1000) -> int:
    """Half-size of the ground grid (whole units) covering the X/Z extent of ``points`` ``(N, 3)`` plus ``margin``:
    at least ``minimum``, a multiple of 5 (so the brighter every-5th lines stay where they were), at most
    ``maximum`` (a path kilometres long still draws a bounded grid)."""
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 3)
    reach = float(np.abs(pts[:, [0, 2]]).max()) + margin if len(pts) else 0.0
    return int(min(max(minimum, 5 * math.ceil(reach / 5.0)), maximum))


def grid_lines(extent: int = 20, spacing: float = 1.0, ground_y: float = GROUND_Y) -> tuple[np.ndarray, np.ndarray]:
    """Ground grid at ``y = ground_y``: ``(minor, major)`` line pairs ``(2M, 3)``; every 5th line is major."""
    minor, major = [], []
    n = int(extent)
    for i in range(-n, n + 1):
        c = i * spacing
        lines = [((c, ground_y, -n * spacing), (c, ground_y, n * spacing)),
                 ((-n * spacing, ground_y, c), (n * spacing, ground_y, c))]
        (major if i % 5 == 0 else minor).extend(p for line in lines for p in line)
    return np.array(minor, dtype=np.float64), np.array(major, dtype=np.float64)


#: Grid lines fade where neighbouring lines come closer on screen than this (gone at the first, exact at the second).
GRID_FADE_PX = (2.0, 8.0)


def grid_fade(
    points: np.ndarray, eye: np.ndarray, focal_px: float, spacing: float, ground_y: float = GROUND_Y,
    fade_px: tuple[float, float] = GRID_FADE_PX,
) -> np.ndarray:
    """How much of a grid line's colour stays at ground ``points`` ``(N, 3)`` (1: exact, 0: background), as
    ``shaders/editor/grid.frag`` computes it: lines ``spacing`` apart, seen from ``eye`` at height ``h`` over the
    ground, lie ``focal_px * spacing * h / d**2`` pixels apart at distance ``d``; below ``fade_px`` they fade out
    (GLSL ``smoothstep``). Why: at grazing angles the far lines fall closer than a pixel and alias into a band."""
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 3)
    eye = np.asarray(eye, dtype=np.float64)
    d2 = np.maximum(((pts - eye) ** 2).sum(axis=1), 1e-8)
    h = max(abs(float(eye[1]) - ground_y), 1e-4)
    gap = focal_px * spacing * h / d2
    lo, hi = fade_px
    t = np.clip((gap - lo) / (hi - lo), 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def focal_px(projection: np.ndarray, height_px: float) -> float:
    """Vertical focal length in pixels of an OpenGL ``projection`` drawn ``height_px`` pixels high."""
    return float(np.asarray(projection)[1, 1]) * height_px / 2.0


def frustum_corners(c2w: np.ndarray, vfov_deg: float, aspect: float, depth: float) -> np.ndarray:
    """World corners ``(4, 3)`` of the image plane at ``depth`` (top-left, top-right, bottom-right, bottom-left)."""
    ty = math.tan(math.radians(vfov_deg) / 2.0) * depth
    tx = ty * aspect
    cam = np.array([[-tx, -ty, depth], [tx, -ty, depth], [tx, ty, depth], [-tx, ty, depth]])
    c2w = np.asarray(c2w, dtype=np.float64)
    return cam @ c2w[:3, :3].T + c2w[:3, 3]


def frustum_lines(c2w: np.ndarray, vfov_deg: float, aspect: float, depth: float) -> np.ndarray:
    """Line pairs ``(18, 3)``: apex to the 4 corners, the image rectangle, and a small "up" tick above its top."""
    corners = frustum_corners(c2w, vfov_deg, aspect, depth)
    apex = np.asarray(c2w, dtype=np.float64)[:3, 3]
    out = []
    for c in corners:
        out += [apex, c]
    for i in range(4):
        out += [corners[i], corners[(i + 1) % 4]]
    top_mid = (corners[0] + corners[1]) / 2.0
    up = -np.asarray(c2w)[:3, 1] * 0.25 * np.linalg.norm(corners[1] - corners[0]) / max(aspect, 1e-6)
    out += [top_mid, top_mid + up]
    return np.array(out)


def polyline_lines(points: np.ndarray) -> np.ndarray:
    """A polyline ``(N, 3)`` as line pairs ``(2(N-1), 3)``."""
    pts = np.asarray(points, dtype=np.float64)
    if len(pts) < 2:
        return np.zeros((0, 3))
    return np.stack([pts[:-1], pts[1:]], axis=1).reshape(-1, 3)


__all__ = [
    "GROUND_Y",
    "OrbitCamera",
    "camera_view",
    "drag_along_axis",
    "frustum_corners",
    "frustum_lines",
    "focal_px",
    "GRID_FADE_PX",
    "grid_fade",
    "grid_extent",
    "grid_lines",
    "handle_length",
    "look_at",
    "perspective",
    "pick_handle",
    "pick_nearest",
    "pick_ring",
    "ring_angle",
    "ring_basis",
    "ring_points",
    "unproject_ray",
    "polyline_lines",
    "project",
]
