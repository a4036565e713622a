"""The Path-mode 3D view: a ``QOpenGLWidget`` drawn with moderngl on Qt's own GL context.

Why moderngl inside Qt: the shaders (``shaders/editor``) and buffers stay plain Python/numpy like the synth
renderer, while Qt owns the window, the context and the event loop. ``initializeGL`` wraps Qt's current context with
``moderngl.create_context()``; ``paintGL`` draws into the widget's framebuffer object (``detect_framebuffer``),
which Qt then composites.

What is drawn (world = the path's OpenCV space, +Y down): a ground grid at ``y = GROUND_Y`` under the start camera
(its lines fade into the background where they crowd, far away and at grazing angles: ``shaders/editor/grid.frag``),
the start camera's frustum (textured with the start image when there is one), the sampled path polyline, a frustum
per keyframe (the selected one highlighted, with 3 axis handles and 2 rotation rings), thin frustums along the path,
and the playback camera. In "view through path camera" mode the scene (grid, start frustum, path) is seen from the
path camera at the playback frame instead.

Mouse and keys: left-drag orbits, right- or middle-drag pans, the wheel zooms, F frames everything; a left click
near a keyframe centre selects it; dragging an axis handle moves the selected keyframe along that world axis, and
dragging its green ring turns it about the world vertical (yaw), its red ring about its own X axis (pitch) — one
merged undo step per drag. The widget only reads the editor's state (``source``) and asks for changes by signals.
"""

from __future__ import annotations

import itertools
import logging
from typing import Protocol

import numpy as np
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QKeyEvent, QMouseEvent, QSurfaceFormat, QWheelEvent
from PySide6.QtOpenGLWidgets import QOpenGLWidget

from engine.camera.keyframes import START_FRAME, CameraPath, Keyframe
from engine.camera.poses import rot_x, rot_y, rotation_to_quaternion
from app.path.view_math import (
    GRID_FADE_PX,
    GROUND_Y,
    OrbitCamera,
    camera_view,
    drag_along_axis,
    focal_px,
    frustum_corners,
    frustum_lines,
    grid_extent,
    grid_lines,
    handle_length,
    perspective,
    pick_handle,
    pick_nearest,
    pick_ring,
    polyline_lines,
    project,
    ring_angle,
    ring_points,
)

log = logging.getLogger(__name__)

# Colours (RGB in 0..1). Drawn flat, without blending or multisampling, so tests can look for them exactly; the grid
# keeps its exact colours wherever its lines stand apart (view_math.grid_fade says where they fade).
BACKGROUND = (0.10, 0.11, 0.13)
GRID_MINOR = (0.27, 0.29, 0.32)
GRID_MAJOR = (0.42, 0.45, 0.50)
PATH_COLOR = (1.0, 0.78, 0.10)
ALONG_COLOR = (0.55, 0.45, 0.20)
KEYFRAME_COLOR = (0.25, 0.80, 1.0)
SELECTED_COLOR = (1.0, 0.35, 0.25)
START_COLOR = (0.92, 0.92, 0.92)
PLAYHEAD_COLOR = (0.45, 1.0, 0.45)
AXIS_COLORS = ((0.95, 0.25, 0.25), (0.30, 0.90, 0.30), (0.30, 0.50, 1.0))

#: Thin frustums drawn along the path every this many frames.
ALONG_EVERY = 12
#: Depth (world units) of the drawn frustums.
FRUSTUM_DEPTH = 0.35
START_FRUSTUM_DEPTH = 0.6
#: Radius of the rotation rings relative to the axis-handle length.
RING_SCALE = 0.7


class SceneSource(Protocol):
    """What the view reads from the editor (``PathEditor`` implements it)."""

    path: CameraPath
    selected_frame: int | None
    current_frame: int
    view_through: bool
    start_image: np.ndarray | None
    start_vfov_deg: float


def surface_format() -> QSurfaceFormat:
    """OpenGL 3.3 core with a depth buffer and no multisampling (exact colours, moderngl's minimum)."""
    fmt = QSurfaceFormat()
    fmt.setVersion(3, 3)
    fmt.setProfile(QSurfaceFormat.OpenGLContextProfile.CoreProfile)
    fmt.setDepthBufferSize(24)
    fmt.setSamples(0)
    return fmt


class PathGLView(QOpenGLWidget):
    """The 3D view of a :class:`SceneSource`. Signals ask the editor for changes; the view never edits the path."""

    #: A left click picked the keyframe at this frame (-1: a click on empty space).
    keyframe_clicked = Signal(int)
    #: An axis-handle drag asks to move the keyframe at ``frame`` to ``position``; one ``merge_key`` per drag.
    move_requested = Signal(int, object, object)
    #: A rotation-ring drag asks to set the keyframe at ``frame`` to the quaternion ``(w, x, y, z)``.
    rotate_requested = Signal(int, object, object)
    #: GL could not be initialised (the message says why); the editor swaps the view for a label.
    gl_failed = Signal(str)
    #: Delete or Backspace: delete the selected keyframe (the editor decides whether it may).
    delete_requested = Signal()

    _drag_ids = itertools.count(1)

    def __init__(self, source: SceneSource, parent=None) -> None:
        super().__init__(parent)
        self.setFormat(surface_format())
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setMinimumSize(320, 240)
        self.source = source
        self.orbit = OrbitCamera.default()
        self.ctx = None
        self.error: str | None = None
        self._programs: dict[str, object] = {}
        self._texture = None
        self._texture_key: int | None = None
        self._press: tuple[float, float] | None = None
        self._last: tuple[float, float] | None = None
        self._mode: tuple | None = None
        self._sample_cache: tuple[object, np.ndarray, np.ndarray] | None = None
        self.grid_extent = 20  # half-size of the ground grid last drawn (units)
        #: extra polylines ``((N, 3) points, rgb)`` drawn over the path (app.score_take: requested vs estimated)
        self.overlays: list[tuple[np.ndarray, tuple[float, float, float]]] = []
        #: the world cache's points ``(xyz float32 (N, 3), rgb uint8 (N, 3))`` in the session's world, drawn when
        #: ``show_cloud`` (the editor sets both; see PathEditor.set_world_points)
        self.cloud: tuple[np.ndarray, np.ndarray] | None = None
        self.show_cloud = True
        #: fade the ground grid where its lines crowd (off only for the tests' comparison shot)
        self.grid_fade = True
        self._cloud_vao, self._cloud_buffers, self._cloud_key = None, [], None

    # --- matrices (the tests use the same ones) -------------------------------------------------------------------

    def screen_size(self) -> tuple[float, float]:
        """Logical size (Qt pixels) that mouse positions and :func:`project` use."""
        return float(max(self.width(), 1)), float(max(self.height(), 1))

    def aspect(self) -> float:
        w, h = self.screen_size()
        return w / h

    def view_matrix(self) -> np.ndarray:
        if self.source.view_through:
            return camera_view(self.playback_pose()[0])
        return self.orbit.view()

    def projection_matrix(self) -> np.ndarray:
        if self.source.view_through:
            return perspective(self.playback_pose()[1], self.aspect(), 0.02, 500.0)
        return self.orbit.projection(self.aspect())

    def mvp(self) -> np.ndarray:
        return self.projection_matrix() @ self.view_matrix()

    def eye(self) -> np.ndarray:
        """World position of the eye the scene is drawn from (the orbit camera, or the path camera)."""
        if self.source.view_through:
            return self.playback_pose()[0][:3, 3].copy()
        return self.orbit.eye()

    def focal_px(self) -> float:
        """Vertical focal length in framebuffer pixels (what the grid's fade measures line gaps in)."""
        return focal_px(self.projection_matrix(), self.screen_size()[1] * self.devicePixelRatioF())

    def playback_pose(self) -> tuple[np.ndarray, float]:
        """``(c2w, vfov_deg)`` of the path camera at the playback frame."""
        c2w, vfov = self.source.path.sample_poses(np.array([self.source.current_frame]))
        return c2w[0], float(vfov[0])

    def sampled_path(self) -> tuple[np.ndarray, np.ndarray]:
        """``(c2w (N, 4, 4), vfov (N,))`` at every frame of the path, cached until the path changes."""
        path = self.source.path
        key = (path.keyframes, path.num_frames)
        if self._sample_cache is None or self._sample_cache[0] != key:
            c2w, vfov = path.sample_poses(np.arange(path.num_frames))
            self._sample_cache = (key, c2w, vfov)
        return self._sample_cache[1], self._sample_cache[2]

    def keyframe_screen_positions(self) -> tuple[np.ndarray, np.ndarray]:
        """Screen pixels ``(K, 2)`` of the keyframe centres and their visibility mask."""
        pos = np.array([k.position for k in self.source.path.keyframes])
        return project(pos, self.mvp(), self.screen_size())

    def frame_all(self) -> None:
        """Aim the orbit camera so everything :meth:`scene_lines` draws fits the view with a margin (key F): the
        start frustum, the path, the overlays and every frustum along it (keyframes at their full depth, their "up"
        ticks, the playhead). The ground grid and the world points are left out: both reach far beyond the path."""
        pts = np.concatenate([lines for lines, _ in self.scene_lines(orbit=True)])
        self.orbit.frame_all(pts, self.aspect())
        self.update()

    def scene_lines(self, orbit: bool | None = None) -> list[tuple[np.ndarray, tuple[float, float, float]]]:
        """Line pairs ``(2M, 3)`` and colour of every path-related part, in drawing order; the frustums along the
        path, the keyframes and the playhead only in the orbit view (``orbit``: default, unless view-through)."""
        src = self.source
        orbit = not src.view_through if orbit is None else orbit
        path_c2w, path_vfov = self.sampled_path()
        aspect = self.frame_aspect()
        out = [(frustum_lines(np.eye(4), src.start_vfov_deg, aspect, START_FRUSTUM_DEPTH), START_COLOR),
               (polyline_lines(path_c2w[:, :3, 3]), PATH_COLOR)]
        out += [(polyline_lines(points), color) for points, color in self.overlays]  # e.g. a scored take's paths
        if not orbit:
            return out
        keyed = set(src.path.frames)
        along = [f for f in range(0, len(path_c2w), ALONG_EVERY) if f not in keyed]
        if along:
            out.append((np.concatenate([frustum_lines(path_c2w[f], path_vfov[f], aspect, FRUSTUM_DEPTH * 0.6)
                                        for f in along]), ALONG_COLOR))
        for k in src.path.keyframes:
            color = SELECTED_COLOR if k.frame == src.selected_frame else KEYFRAME_COLOR
            out.append((frustum_lines(k.c2w, k.vfov_deg, aspect, FRUSTUM_DEPTH), color))
        cur = int(np.clip(src.current_frame, 0, len(path_c2w) - 1))
        out.append((frustum_lines(path_c2w[cur], path_vfov[cur], aspect, FRUSTUM_DEPTH * 0.8), PLAYHEAD_COLOR))
        return out

    def frame_aspect(self) -> float:
        w, h = self.source.path.frame_size
        return w / h

    # --- GL -----------------------------------------------------------------------------------------------------

    def initializeGL(self) -> None:
        try:
            import moderngl

            from engine.io.shaders import load_shader

            self.ctx = moderngl.create_context()
            self._programs = {
                "lines": self.ctx.program(
                    vertex_shader=load_shader("editor/lines.vert"), fragment_shader=load_shader("editor/lines.frag")
                ),
                "image": self.ctx.program(
                    vertex_shader=load_shader("editor/image.vert"), fragment_shader=load_shader("editor/image.frag")
                ),
                "grid": self.ctx.program(
                    vertex_shader=load_shader("editor/grid.vert"), fragment_shader=load_shader("editor/grid.frag")
                ),
                "points": self.ctx.program(
                    vertex_shader=load_shader("editor/points.vert"), fragment_shader=load_shader("editor/points.frag")
                ),
            }
            self._cloud_vao, self._cloud_key = None, None
            self._texture, self._texture_key = None, None
            self.error = None
        except Exception as exc:  # any GL/driver failure: report it and let the editor show why
            self.ctx = None
            self.error = f"OpenGL view unavailable: {type(exc).__name__}: {exc}"
            log.warning(self.error)
            QTimer.singleShot(0, lambda: self.gl_failed.emit(self.error))

    def paintGL(self) -> None:
        if self.ctx is None:
            return
        ctx = self.ctx
        dpr = self.devicePixelRatioF()
        fbo = ctx.detect_framebuffer(self.defaultFramebufferObject())
        fbo.use()
        ctx.viewport = (0, 0, int(round(self.width() * dpr)), int(round(self.height() * dpr)))
        ctx.enable(ctx.DEPTH_TEST)
        ctx.disable(ctx.BLEND | ctx.CULL_FACE)
        fbo.clear(*BACKGROUND, 1.0, depth=1.0)
        mvp = self.mvp()
        src = self.source
        path_c2w, _ = self.sampled_path()
        aspect = self.frame_aspect()

        self.grid_extent = grid_extent(path_c2w[:, :3, 3])  # the grid grows to hold the whole path
        minor, major = grid_lines(self.grid_extent)
        self._grid(minor, GRID_MINOR, 1.0, mvp)
        self._grid(major, GRID_MAJOR, 5.0, mvp)

        if self.show_cloud and self.cloud is not None and len(self.cloud[0]):
            self._points(mvp)
        if src.start_image is not None:
            self._start_image(frustum_corners(np.eye(4), src.start_vfov_deg, aspect, START_FRUSTUM_DEPTH), mvp)
        for lines, color in self.scene_lines():
            self._lines(lines, color, mvp)
        if src.view_through:
            return
        handled = self._handles_on()
        if handled is not None:
            pos = np.array(handled.position)
            length = handle_length(pos, self.orbit.eye())
            rot = handled.rotation
            ctx.disable(ctx.DEPTH_TEST)  # handles stay visible through geometry
            for axis, color in enumerate(AXIS_COLORS):
                self._lines(_arrow(pos, axis, length), color, mvp)
            for kind, color in (("yaw", AXIS_COLORS[1]), ("pitch", AXIS_COLORS[0])):
                ring = ring_points(pos, rot, kind, RING_SCALE * length)
                self._lines(polyline_lines(np.concatenate([ring, ring[:1]])), color, mvp)
            ctx.enable(ctx.DEPTH_TEST)

    def _lines(self, vertices: np.ndarray, color: tuple[float, float, float], mvp: np.ndarray) -> None:
        if len(vertices) == 0:
            return
        prog = self._programs["lines"]
        prog["u_mvp"].write(mvp.T.astype("f4").tobytes())
        prog["u_color"].value = (*color, 1.0)
        vbo = self.ctx.buffer(np.ascontiguousarray(vertices, dtype="f4").tobytes())
        vao = self.ctx.vertex_array(prog, [(vbo, "3f", "in_position")])
        vao.render(self.ctx.LINES)
        vao.release()
        vbo.release()

    def _grid(self, vertices: np.ndarray, color: tuple[float, float, float], spacing: float, mvp: np.ndarray) -> None:
        """Grid lines ``spacing`` apart, fading toward the background where they crowd (``shaders/editor/grid.frag``,
        mirrored by :func:`app.path.view_math.grid_fade`)."""
        prog = self._programs["grid"]
        prog["u_mvp"].write(mvp.T.astype("f4").tobytes())
        prog["u_color"].value = color
        prog["u_background"].value = BACKGROUND
        prog["u_eye"].value = tuple(float(v) for v in self.eye())
        prog["u_ground_y"].value = GROUND_Y
        prog["u_focal_px"].value = self.focal_px()
        prog["u_spacing"].value = spacing
        prog["u_fade_px"].value = GRID_FADE_PX
        prog["u_fade"].value = bool(self.grid_fade)
        vbo = self.ctx.buffer(np.ascontiguousarray(vertices, dtype="f4").tobytes())
        vao = self.ctx.vertex_array(prog, [(vbo, "3f", "in_position")])
        vao.render(self.ctx.LINES)
        vao.release()
        vbo.release()

    def _points(self, mvp: np.ndarray) -> None:
        """The world points; uploaded once per cloud (a new cloud is a new tuple)."""
        if self._cloud_key != id(self.cloud):
            self._drop_cloud()
            xyz, rgb = self.cloud
            pos = self.ctx.buffer(np.ascontiguousarray(xyz, dtype="f4").tobytes())
            col = self.ctx.buffer(np.ascontiguousarray(rgb, dtype=np.uint8).tobytes())
            self._cloud_vao = self.ctx.vertex_array(self._programs["points"], [(pos, "3f", "in_position"),
                                                                               (col, "3f1", "in_colour")])  # fmt: skip
            self._cloud_buffers, self._cloud_key = [pos, col], id(self.cloud)
        prog = self._programs["points"]
        prog["u_mvp"].write(mvp.T.astype("f4").tobytes())
        prog["u_size"].value = float(max(1.0, 2.0 * self.devicePixelRatioF()))
        self.ctx.enable(self.ctx.PROGRAM_POINT_SIZE)
        self._cloud_vao.render(self.ctx.POINTS)

    def _drop_cloud(self) -> None:
        if self._cloud_vao is not None:
            self._cloud_vao.release()
        for buffer in self._cloud_buffers:
            buffer.release()
        self._cloud_vao, self._cloud_buffers, self._cloud_key = None, [], None

    def _start_image(self, corners: np.ndarray, mvp: np.ndarray) -> None:
        image = self.source.start_image
        if self._texture_key != id(image):
            if self._texture is not None:
                self._texture.release()
            rgb = np.ascontiguousarray(np.asarray(image)[..., :3], dtype=np.uint8)
            self._texture = self.ctx.texture((rgb.shape[1], rgb.shape[0]), 3, rgb.tobytes())
            self._texture.filter = (self.ctx.LINEAR, self.ctx.LINEAR)
            self._texture_key = id(image)
        prog = self._programs["image"]
        prog["u_mvp"].write(mvp.T.astype("f4").tobytes())
        prog["u_opacity"].value = 0.85
        prog["u_image"].value = 0
        self._texture.use(0)
        # corners: top-left, top-right, bottom-right, bottom-left; image row 0 is the top
        uv = np.array([[0, 0], [1, 0], [1, 1], [0, 1]], dtype=np.float64)
        tri = [0, 1, 2, 0, 2, 3]
        data = np.concatenate([corners[tri], uv[tri]], axis=1).astype("f4")
        vbo = self.ctx.buffer(data.tobytes())
        vao = self.ctx.vertex_array(prog, [(vbo, "3f 2f", "in_position", "in_uv")])
        vao.render(self.ctx.TRIANGLES)
        vao.release()
        vbo.release()

    # --- input --------------------------------------------------------------------------------------------------

    def mousePressEvent(self, event: QMouseEvent) -> None:
        pos = (event.position().x(), event.position().y())
        self._press = self._last = pos
        self._mode = None
        button = event.button()
        if button == Qt.MouseButton.LeftButton:
            if not self.source.view_through:
                self._mode = self._press_target(pos)
            else:
                self._mode = ("none",)
        elif button in (Qt.MouseButton.RightButton, Qt.MouseButton.MiddleButton):
            self._mode = ("pan",)
        event.accept()

    def _press_target(self, pos: tuple[float, float]) -> tuple:
        """What a left press at ``pos`` starts: a handle drag, a keyframe pick, or an orbit."""
        src = self.source
        mvp, size = self.mvp(), self.screen_size()
        handled = self._handles_on()
        if handled is not None:
            start = np.array(handled.position)
            axis = pick_handle(start, handle_length(start, self.orbit.eye()), mvp, size, pos)
            if axis is not None:
                return ("drag", axis, handled.frame, start, mvp, next(self._drag_ids))
            rot = handled.rotation
            radius = RING_SCALE * handle_length(start, self.orbit.eye())
            kind = pick_ring(start, rot, radius, mvp, size, pos)
            angle = None if kind is None else ring_angle(start, rot, kind, mvp, size, pos)
            if angle is not None:
                return ("rotate", kind, handled.frame, start, rot, mvp, [angle, 0.0], next(self._drag_ids))
        screen, visible = project(np.array([k.position for k in src.path.keyframes]), mvp, size)
        hit = pick_nearest(screen, visible, pos)
        if hit is not None:
            self.keyframe_clicked.emit(src.path.keyframes[hit].frame)
            return ("none",)
        return ("orbit",)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        if self._mode is None or self._last is None:
            return
        pos = (event.position().x(), event.position().y())
        dx, dy = pos[0] - self._last[0], pos[1] - self._last[1]
        self._last = pos
        kind = self._mode[0]
        if kind == "orbit":
            self.orbit.orbit(dx, dy)
            self.update()
        elif kind == "pan":
            self.orbit.pan(dx, dy, self.screen_size()[1])
            self.update()
        elif kind == "drag":
            _, axis, frame, start, mvp, drag_id = self._mode
            amount = drag_along_axis(start, axis, mvp, self.screen_size(), self._press, pos)
            target = start.copy()
            target[axis] += amount
            self.move_requested.emit(frame, tuple(float(v) for v in target), ("drag", drag_id))
        elif kind == "rotate":
            _, ring, frame, centre, rot, mvp, state, drag_id = self._mode
            angle = ring_angle(centre, rot, ring, mvp, self.screen_size(), pos)
            if angle is not None:
                # accumulate the unwrapped change so a drag can turn past 180 degrees
                state[1] += (angle - state[0] + np.pi) % (2 * np.pi) - np.pi
                state[0] = angle
                new = rot_y(state[1]) @ rot if ring == "yaw" else rot @ rot_x(state[1])
                quat = tuple(float(v) for v in rotation_to_quaternion(new))
                self.rotate_requested.emit(frame, quat, ("rotate", drag_id))
        event.accept()

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        if self._mode is not None and self._mode[0] == "orbit" and self._press is not None:
            pos = (event.position().x(), event.position().y())
            if abs(pos[0] - self._press[0]) + abs(pos[1] - self._press[1]) < 3:
                self.keyframe_clicked.emit(-1)  # a plain click on empty space clears the selection
        self._mode = None
        event.accept()

    def wheelEvent(self, event: QWheelEvent) -> None:
        if not self.source.view_through:
            self.orbit.zoom(event.angleDelta().y() / 120.0)
            self.update()
        event.accept()

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() == Qt.Key.Key_F:
            self.frame_all()
            event.accept()
            return
        if event.key() in (Qt.Key.Key_Delete, Qt.Key.Key_Backspace):
            self.delete_requested.emit()
            event.accept()
            return
        super().keyPressEvent(event)

    def _handles_on(self) -> Keyframe | None:
        """The keyframe that shows (and answers to) move and turn handles: the selected one, unless it is the start
        keyframe, whose pose is pinned."""
        src = self.source
        if src.selected_frame is None or src.selected_frame == START_FRAME or not src.path.has(src.selected_frame):
            return None
        return src.path.get(src.selected_frame)


def _arrow(origin: np.ndarray, axis: int, length: float) -> np.ndarray:
    """Line pairs of an axis arrow: the shaft and a 4-line arrow head."""
    tip = origin.copy()
    tip[axis] += length
    others = [a for a in range(3) if a != axis]
    head = []
    for a in others:
        for sign in (1.0, -1.0):
            back = tip.copy()
            back[axis] -= 0.2 * length
            back[a] += sign * 0.08 * length
            head += [tip, back]
    return np.array([origin, tip, *head])


__all__ = ["PathGLView", "SceneSource", "surface_format"]
