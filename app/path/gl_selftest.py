"""Render the Path editor on a real display and record what the screenshot tests need.

Why a separate process: pytest-qt makes one ``QApplication`` per process, and widget tests create it on the
``offscreen`` platform, which has no OpenGL. The GL tests start Xvfb and run::

    DISPLAY=:N QT_QPA_PLATFORM=xcb python -m app.path.gl_selftest --out DIR

which writes into ``DIR``: ``orbit.png`` (the editor's view of a known path), ``through_start.png`` and
``through_end.png`` (the scene seen through the path camera at its first and last frames), ``grazing.png`` and
``grazing_nofade.png`` (a view 2.5 degrees above the ground with the grid's fade on and off), ``editor.png`` (the whole
widget, for the docs) and ``report.json`` with the matrices and sizes used for each shot, the sampled path, the
keyframes, and the outcome of a synthetic click on a keyframe, a drag of its X handle and a drag of its yaw ring
(selected frame, positions, angles, undo-stack counts). The test then projects points on the CPU and checks pixels
itself. Exit codes: 0 done, 3 no GL view (the reason is in report.json).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np


def _send_mouse(widget, kind, pos, button, buttons) -> None:
    from PySide6.QtCore import QPointF, Qt
    from PySide6.QtGui import QMouseEvent
    from PySide6.QtWidgets import QApplication

    local = QPointF(float(pos[0]), float(pos[1]))
    event = QMouseEvent(kind, local, widget.mapToGlobal(local), button, buttons, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(widget, event)


def selftest_path():
    """The known path drawn in the shots: a gentle S-curve ahead of and above-right of the start camera."""
    from engine.camera.keyframes import CameraPath, Keyframe

    return CameraPath(
        [
            Keyframe.from_euler(0, (0.0, 0.0, 0.0), vfov_deg=55.0),
            Keyframe.from_euler(24, (1.5, -0.4, 3.0), yaw=25.0, vfov_deg=55.0),
            Keyframe.from_euler(48, (0.5, -0.8, 6.0), yaw=-10.0, vfov_deg=50.0),
            Keyframe.from_euler(72, (2.5, -0.6, 9.0), yaw=20.0, vfov_deg=45.0),
        ],
        length=73,
        frame_size=(320, 192),
    )


def quadrant_image(width: int = 320, height: int = 192) -> np.ndarray:
    """A start image whose quadrants differ (red left, blue right, green added in the top half), so the test can
    check where and which way up the texture lands."""
    img = np.zeros((height, width, 3), np.uint8)
    img[:, : width // 2, 0] = 220
    img[:, width // 2 :, 2] = 220
    img[: height // 2, :, 1] = 200
    return img


def run(out: Path, width: int = 800, height: int = 520) -> int:
    from PySide6.QtCore import QEvent, Qt
    from PySide6.QtWidgets import QApplication

    from app.path.editor import PathEditor

    app = QApplication.instance() or QApplication(sys.argv[:1])
    out.mkdir(parents=True, exist_ok=True)
    editor = PathEditor()
    focal = 96.0 / np.tan(np.radians(55.0) / 2.0)  # the start camera of selftest_path: 55° vertical FOV
    editor.set_start(quadrant_image(), [focal, focal, 160.0, 96.0], (320, 192))
    editor.path = selftest_path()
    editor.select(None)
    editor.resize(width + 360, height)
    editor.show()
    for _ in range(20):
        app.processEvents()
    view = editor.gl_view
    report: dict = {"platform": QApplication.platformName()}
    if view is None:
        report["error"] = editor.gl_message.text() if editor.gl_message else "no GL view"
        (out / "report.json").write_text(json.dumps(report, indent=1))
        return 3
    view.setFixedSize(width, height)
    for _ in range(20):
        app.processEvents()
    view.frame_all()

    def shot(name: str) -> dict:
        img = view.grabFramebuffer()
        img.save(str(out / f"{name}.png"))
        return {"file": f"{name}.png", "image_size": [img.width(), img.height()], "size": list(view.screen_size()),
                "mvp": view.mvp().tolist(), "dpr": view.devicePixelRatioF(), "eye": view.eye().tolist(),
                "focal_px": view.focal_px()}

    report["orbit"] = shot("orbit")  # nothing selected: no handles over the grid and path
    report["drawn_points"] = np.concatenate([lines for lines, _ in view.scene_lines()]).tolist()  # what F frames
    if view.error:
        report["error"] = view.error
    report["gl_renderer"] = view.ctx.info.get("GL_RENDERER") if view.ctx is not None else None
    c2w, _ = view.sampled_path()
    report["path_points"] = c2w[:, :3, 3].tolist()
    report["keyframes"] = [list(k.position) for k in editor.path.keyframes]
    report["keyframe_frames"] = editor.path.frames
    report["grid_extent"] = view.grid_extent
    report["start"] = {"vfov_deg": editor.start_vfov_deg, "frame_size": list(editor.path.frame_size)}

    # click on keyframe 2's projected centre
    screen, _ = view.keyframe_screen_positions()
    target = screen[2]
    press, release = QEvent.Type.MouseButtonPress, QEvent.Type.MouseButtonRelease
    left, none = Qt.MouseButton.LeftButton, Qt.MouseButton.NoButton
    _send_mouse(view, press, target, left, left)
    _send_mouse(view, release, target, left, none)
    app.processEvents()
    report["click"] = {"at": target.tolist(), "selected": editor.selected_frame}

    # drag the X handle of the selected keyframe by 60 px along its screen direction, in 3 moves
    from app.path.view_math import handle_length, project

    frame = editor.selected_frame
    start = np.array(editor.path.get(frame).position)
    length = handle_length(start, view.orbit.eye())
    tip = start.copy()
    tip[0] += length
    (a, b), _ = project(np.stack([start, tip]), view.mvp(), view.screen_size())
    grab = a + 0.75 * (b - a)
    direction = (b - a) / np.linalg.norm(b - a)
    count_before = editor.undo_stack.index()
    _send_mouse(view, press, grab, left, left)
    for step in (20, 40, 60):
        _send_mouse(view, QEvent.Type.MouseMove, grab + direction * step, none, left)
    _send_mouse(view, release, grab + direction * 60, left, none)
    app.processEvents()
    moved = np.array(editor.path.get(frame).position)
    report["drag"] = {
        "frame": frame, "start": start.tolist(), "moved": moved.tolist(),
        "steps_added": editor.undo_stack.index() - count_before,
        "pixels_per_unit": float(np.linalg.norm(b - a) / length),
    }
    editor.undo_stack.undo()
    report["drag"]["after_undo"] = list(editor.path.get(frame).position)

    # turn the selected keyframe by dragging its yaw ring from 225 to 255 degrees around the ring, in 3 moves
    from app.path.gl_view import RING_SCALE
    from app.path.view_math import ring_points

    k = editor.path.get(frame)
    radius = RING_SCALE * handle_length(np.array(k.position), view.orbit.eye())

    def ring_pixel(deg: float) -> np.ndarray:
        centre, rot = np.array(k.position), k.rotation
        e1, e2 = np.array([0.0, 0.0, 1.0]), np.array([1.0, 0.0, 0.0])  # the yaw ring's basis (view_math.ring_basis)
        a = np.radians(deg)
        point = centre + radius * (np.cos(a) * e1 + np.sin(a) * e2)
        return project(point[None], view.mvp(), view.screen_size())[0][0]

    yaw_before = k.euler_deg()
    count_before = editor.undo_stack.index()
    _send_mouse(view, press, ring_pixel(225.0), left, left)
    for deg in (235.0, 245.0, 255.0):
        _send_mouse(view, QEvent.Type.MouseMove, ring_pixel(deg), none, left)
    _send_mouse(view, release, ring_pixel(255.0), left, none)
    app.processEvents()
    report["rotate"] = {
        "euler_before": list(yaw_before), "euler_after": list(editor.path.get(frame).euler_deg()),
        "position_after": list(editor.path.get(frame).position), "position_before": list(k.position),
        "steps_added": editor.undo_stack.index() - count_before,
    }
    editor.undo_stack.undo()
    report["rotate"]["euler_after_undo"] = list(editor.path.get(frame).euler_deg())

    # navigation: one wheel notch zooms in 15%, a left drag on empty space orbits, F frames everything again
    from PySide6.QtCore import QPoint, QPointF
    from PySide6.QtGui import QKeyEvent, QWheelEvent

    nav: dict = {"distance": view.orbit.distance, "azimuth": view.orbit.azimuth_deg}
    centre = QPointF(width / 2, height / 2)
    wheel = QWheelEvent(centre, view.mapToGlobal(centre), QPoint(0, 0), QPoint(0, 120), Qt.MouseButton.NoButton,
                        Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase, False)
    QApplication.sendEvent(view, wheel)
    nav["distance_after_wheel"] = view.orbit.distance
    corner = np.array([20.0, 20.0])  # sky: no keyframe or handle there
    _send_mouse(view, press, corner, left, left)
    _send_mouse(view, QEvent.Type.MouseMove, corner + [50.0, 0.0], none, left)
    _send_mouse(view, release, corner + [50.0, 0.0], left, none)
    nav["azimuth_after_drag"] = view.orbit.azimuth_deg
    nav["selected_after_drag"] = editor.selected_frame
    QApplication.sendEvent(view, QKeyEvent(QEvent.Type.KeyPress, Qt.Key.Key_F, Qt.KeyboardModifier.NoModifier, "f"))
    nav["distance_after_f"] = view.orbit.distance
    report["navigation"] = nav

    # the whole editor (view + panel) with a keyframe selected, for the docs
    editor.set_current_frame(30)
    view.setMinimumSize(320, 240)
    view.setMaximumSize(16777215, 16777215)
    for _ in range(20):
        app.processEvents()
    editor.grab().save(str(out / "editor.png"))

    # through the path camera: at frame 0 it is the start camera, which sees the start image; at the last frame it
    # looks level away from the start, so it sees the ground below the horizon only
    editor.select(None)
    view.setFixedSize(width, height)
    editor.set_view_through(True)
    for frame, name in ((0, "through_start"), (editor.path.frames[-1], "through_end")):
        editor.set_current_frame(frame)
        for _ in range(5):
            app.processEvents()
        report[name] = shot(name)

    # Delete in the 3D view deletes the selected keyframe (one undo step); the start keyframe is refused
    editor.set_view_through(False)
    keys: dict = {"before": editor.path.frames}
    for frame, label in ((editor.path.frames[-1], "after_delete"), (0, "after_delete_start")):
        editor.select(frame)
        QApplication.sendEvent(view, QKeyEvent(QEvent.Type.KeyPress, Qt.Key.Key_Delete, Qt.KeyboardModifier.NoModifier))
        keys[label] = editor.path.frames
    keys["message"] = editor.panel.message.text()
    editor.undo_stack.undo()
    keys["after_undo"] = editor.path.frames
    report["delete_key"] = keys

    # world points: a magenta wall of cache points 6 units in front of the start camera, shown, then hidden
    ys, xs = np.mgrid[-1:1:40j, -1:1:40j]
    xyz = np.stack([xs.ravel(), ys.ravel(), np.full(xs.size, 6.0)], -1).astype(np.float32)
    editor.set_world_points(xyz, np.tile(np.array([[255, 0, 255]], np.uint8), (len(xyz), 1)))
    for name, on in (("points_on", True), ("points_off", False)):
        editor.panel.world_points_box.setChecked(on)
        for _ in range(5):
            app.processEvents()
        report[name] = shot(name)
    report["points_xyz"] = xyz[::37].tolist()

    # a grazing view (2.5 degrees above the ground) along a path 100 units long (the grid grows to 105 units, so its
    # far lines crowd under a pixel apart), with the grid's fade on, then off for comparison
    from app.path.view_math import OrbitCamera
    from engine.camera.keyframes import CameraPath, Keyframe

    editor.set_world_points(None, None)
    editor.path = CameraPath([Keyframe.from_euler(0, (0.0, 0.0, 0.0), vfov_deg=55.0),
                              Keyframe.from_euler(72, (0.0, 0.0, 100.0), vfov_deg=55.0)], length=73, frame_size=(320, 192))
    editor.select(None)
    view.orbit = OrbitCamera(target=np.array([0.0, 1.2, 8.0]), distance=8.0, azimuth_deg=0.0, elevation_deg=2.5)
    for name, fade in (("grazing", True), ("grazing_nofade", False)):
        view.grid_fade = fade
        view.update()
        for _ in range(5):
            app.processEvents()
        report[name] = shot(name) | {"grid_extent": view.grid_extent}
    view.grid_fade = True
    (out / "report.json").write_text(json.dumps(report, indent=1))
    editor.close()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="folder for the screenshots and report.json")
    args = parser.parse_args(argv)
    return run(args.out)


if __name__ == "__main__":
    sys.exit(main())
