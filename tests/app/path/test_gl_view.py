"""The Path editor's GL view under a real X server (Xvfb, software Mesa): screenshots and mouse picking.

pytest-qt makes one offscreen QApplication per process, so the GL editor runs in a subprocess
(``python -m app.path.gl_selftest``) on an Xvfb display started here; this module then projects the scene's points
with the matrices the view reported and checks the pixels of its screenshots. Skipped only when Xvfb is missing.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from app.path.gl_selftest import quadrant_image
from app.path.gl_view import BACKGROUND, GRID_MAJOR, GRID_MINOR, PATH_COLOR, START_FRUSTUM_DEPTH
from app.path.view_math import frustum_corners, grid_fade, grid_lines, project

XVFB = shutil.which("Xvfb") or ("/usr/bin/Xvfb" if Path("/usr/bin/Xvfb").exists() else None)
REPO = Path(__file__).resolve().parents[3]

pytestmark = pytest.mark.skipif(XVFB is None, reason="Xvfb is not installed (CI installs it)")


@pytest.fixture(scope="module")
def xvfb_display():
    """Start Xvfb on a free display (it picks the number itself and writes it to a pipe); stop it afterwards."""
    read_fd, write_fd = os.pipe()
    proc = subprocess.Popen(
        [XVFB, "-displayfd", str(write_fd), "-screen", "0", "1280x1024x24", "-nolisten", "tcp"],
        pass_fds=(write_fd,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    os.close(write_fd)
    try:
        with os.fdopen(read_fd) as pipe:
            number = pipe.readline().strip()
        if not number:
            pytest.fail("Xvfb started but reported no display number")
        yield f":{number}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture(scope="module")
def selftest(xvfb_display, tmp_path_factory):
    out = tmp_path_factory.mktemp("gl")
    env = dict(os.environ, DISPLAY=xvfb_display, QT_QPA_PLATFORM="xcb", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1",
               LIBGL_ALWAYS_SOFTWARE="1")
    env.pop("SANA_WM_NO_GL", None)
    proc = subprocess.run([sys.executable, "-m", "app.path.gl_selftest", "--out", str(out)], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=120)
    report_file = out / "report.json"
    report = json.loads(report_file.read_text()) if report_file.exists() else {}
    assert proc.returncode == 0, f"gl_selftest exit {proc.returncode}: {report.get('error')}\n{proc.stderr[-3000:]}"
    assert "error" not in report, report["error"]
    return out, report


def load(out: Path, shot: dict) -> np.ndarray:
    img = np.asarray(Image.open(out / shot["file"]).convert("RGB")).astype(int)
    assert img.shape[:2] == (shot["image_size"][1], shot["image_size"][0])
    return img


def color_mask(img: np.ndarray, *colors: tuple[float, float, float], tol: int = 2) -> np.ndarray:
    mask = np.zeros(img.shape[:2], bool)
    for c in colors:
        mask |= (np.abs(img - np.round(np.array(c) * 255)) <= tol).all(axis=2)
    return mask


def near(mask: np.ndarray, xy: np.ndarray, radius: int, scale: float = 1.0) -> np.ndarray:
    """For each point, whether ``mask`` is set within ``radius`` pixels of it."""
    out = []
    h, w = mask.shape
    for x, y in np.asarray(xy) * scale:
        xi, yi = int(round(x)), int(round(y))
        window = mask[max(yi - radius, 0) : min(yi + radius + 1, h), max(xi - radius, 0) : min(xi + radius + 1, w)]
        out.append(bool(window.any()))
    return np.array(out)


def grid_points(samples_per_line: int = 9, extent: int = 20, shot: dict | None = None) -> np.ndarray:
    """Points along every grid line (minor and major) of a grid ``extent`` units each way; with a ``shot``, only
    those where the grid keeps its exact colour from that shot's eye (``grid_fade`` = 1: the lines stand apart)."""
    minor, major = grid_lines(extent)
    t = np.linspace(0.05, 0.95, samples_per_line)[None, :, None]
    out = []
    for lines, spacing in ((minor, 1.0), (major, 5.0)):
        pairs = lines.reshape(-1, 2, 3)
        pts = (pairs[:, :1] * (1 - t) + pairs[:, 1:] * t).reshape(-1, 3)
        if shot is not None:
            pts = pts[grid_fade(pts, np.array(shot["eye"]), shot["focal_px"], spacing) >= 1.0]
        out.append(pts)
    return np.concatenate(out)


def test_gl_view_draws_with_a_real_context(selftest):
    _, report = selftest
    assert report["platform"] == "xcb" and report["gl_renderer"]


def test_grid_is_drawn_where_the_grid_lines_project(selftest):
    out, report = selftest
    shot = report["orbit"]
    img = load(out, shot)
    scale = shot["image_size"][0] / shot["size"][0]
    reach = np.abs(np.array(report["path_points"])[:, [0, 2]]).max()
    assert report["grid_extent"] >= reach  # the grid holds the whole path
    # where the lines stand apart (all but the far ones, which fade: test_grazing_...) they keep their exact colours
    xy, vis = project(grid_points(extent=report["grid_extent"], shot=shot), np.array(shot["mvp"]), shot["size"])
    inside = vis & (xy[:, 0] > 2) & (xy[:, 1] > 2) & (xy[:, 0] < shot["size"][0] - 2) & (xy[:, 1] < shot["size"][1] - 2)
    assert inside.sum() > 100
    grid = color_mask(img, GRID_MINOR, GRID_MAJOR)
    hits = near(grid, xy[inside], 1, scale)
    assert hits.mean() > 0.9, f"only {hits.mean():.0%} of projected grid points have grid pixels nearby"
    # and nothing grid-coloured far from every grid line: above the grid's far edge there is only background
    xy_all, vis_all = project(grid_points(extent=report["grid_extent"]), np.array(shot["mvp"]), shot["size"])
    top = int(xy_all[vis_all][:, 1].min() * scale) - 3
    assert top > 10 and not grid[:top].any()
    assert color_mask(img[:top], BACKGROUND).mean() > 0.99


def test_path_polyline_is_drawn_at_the_projected_samples(selftest):
    out, report = selftest
    shot = report["orbit"]
    img = load(out, shot)
    scale = shot["image_size"][0] / shot["size"][0]
    mvp = np.array(shot["mvp"])
    pts = np.array(report["path_points"])
    xy, vis = project(pts, mvp, shot["size"])
    keys_xy, _ = project(np.array(report["keyframes"]), mvp, shot["size"])
    # away from the keyframe frustums (drawn over the path), every sample has the path colour next to it
    # the first samples run behind the start image (a textured quad at z = START_FRUSTUM_DEPTH), so skip them too
    clear = vis & (np.linalg.norm(xy[:, None] - keys_xy[None], axis=2).min(axis=1) > 25)
    clear &= pts[:, 2] > START_FRUSTUM_DEPTH + 0.2
    assert clear.sum() > 20
    path_mask = color_mask(img, PATH_COLOR)
    hits = near(path_mask, xy[clear], 2, scale)
    assert hits.mean() > 0.9, f"only {hits.mean():.0%} of path samples have path pixels nearby"
    # and the path colour appears nowhere else: every path-coloured pixel lies near the projected polyline
    ys, xs = np.nonzero(path_mask)
    dense = project(np.array([np.interp(np.linspace(0, len(pts) - 1, 2000), np.arange(len(pts)), pts[:, j])
                              for j in range(3)]).T, mvp, shot["size"])[0] * scale
    d = np.linalg.norm(np.stack([xs, ys], axis=1)[:, None] - dense[None], axis=2).min(axis=1)
    assert len(d) > 50 and (d > 4).mean() < 0.01


def test_wheel_zooms_drag_orbits_and_f_frames_all(selftest):
    _, report = selftest
    nav = report["navigation"]
    assert nav["distance_after_wheel"] == pytest.approx(0.85 * nav["distance"])
    assert nav["azimuth_after_drag"] == pytest.approx((nav["azimuth"] - 50 * 0.4) % 360)
    assert nav["selected_after_drag"] is not None  # a drag is not a click: the selection stays
    assert nav["distance_after_f"] == pytest.approx(nav["distance"])  # framing the same scene again


def test_start_image_is_drawn_upright_in_the_start_frustum(selftest):
    out, report = selftest
    shot = report["orbit"]
    img = load(out, shot)
    scale = shot["image_size"][0] / shot["size"][0]
    w, h = report["start"]["frame_size"]
    tl, tr, br, bl = frustum_corners(np.eye(4), report["start"]["vfov_deg"], w / h, START_FRUSTUM_DEPTH)
    source = quadrant_image(w, h).astype(float)
    for fx, fy in [(0.25, 0.25), (0.75, 0.25), (0.25, 0.75), (0.75, 0.75)]:  # quadrant centres (x right, y down)
        point = (1 - fy) * ((1 - fx) * tl + fx * tr) + fy * ((1 - fx) * bl + fx * br)
        xy, vis = project(point[None], np.array(shot["mvp"]), shot["size"])
        assert vis[0]
        x, y = xy[0]
        xi, yi = int(round(x * scale)), int(round(y * scale))
        patch = img[yi - 2 : yi + 3, xi - 2 : xi + 3].reshape(-1, 3)
        expected = np.round(source[int(fy * h), int(fx * w)] * 0.85)  # image.frag dims by u_opacity = 0.85
        close = (np.abs(patch - expected) <= 3).all(axis=1)
        assert close.mean() > 0.5, f"quadrant ({fx}, {fy}): expected {expected}, found {patch[len(patch) // 2]}"


def test_click_selects_the_keyframe_under_the_mouse(selftest):
    _, report = selftest
    assert report["click"]["selected"] == report["keyframe_frames"][2]


def test_dragging_the_x_handle_moves_along_x_as_one_undo_step(selftest):
    _, report = selftest
    drag = report["drag"]
    start, moved = np.array(drag["start"]), np.array(drag["moved"])
    assert moved[0] - start[0] > 0.5  # 60 px along the handle
    assert moved[1:] == pytest.approx(start[1:])
    assert drag["steps_added"] == 1
    assert drag["after_undo"] == pytest.approx(drag["start"])


def test_dragging_the_yaw_ring_turns_about_the_vertical_as_one_undo_step(selftest):
    _, report = selftest
    rot = report["rotate"]
    (y0, p0, r0), (y1, p1, r1) = rot["euler_before"], rot["euler_after"]
    assert y1 - y0 == pytest.approx(30.0, abs=0.5)  # the mouse went 30 degrees around the ring
    assert (p1, r1) == pytest.approx((p0, r0), abs=1e-6)
    assert rot["position_after"] == pytest.approx(rot["position_before"])
    assert rot["steps_added"] == 1
    assert rot["euler_after_undo"] == pytest.approx(rot["euler_before"], abs=1e-9)


def test_view_through_the_start_camera_shows_the_start_image(selftest):
    out, report = selftest
    shot = report["through_start"]
    img = load(out, shot)
    h, w = img.shape[:2]
    # the start frustum is wider than the path camera's FOV at frame 0, so its image fills the view: the four
    # quadrants of the start image, dimmed by the shader's opacity, appear in the same places on screen
    source = quadrant_image()
    for fx, fy in [(0.25, 0.25), (0.75, 0.25), (0.25, 0.75), (0.75, 0.75)]:
        expected = np.round(source[int(fy * source.shape[0]), int(fx * source.shape[1])] * 0.85)
        found = img[int(fy * h), int(fx * w)]
        assert (np.abs(found - expected) <= 3).all(), f"({fx}, {fy}): expected {expected}, found {found}"


def test_view_through_the_last_camera_shows_the_ground_below_the_horizon(selftest):
    out, report = selftest
    shot = report["through_end"]
    img = load(out, shot)
    scale = shot["image_size"][0] / shot["size"][0]
    grid = color_mask(img, GRID_MINOR, GRID_MAJOR)
    xy, vis = project(grid_points(41, report["grid_extent"], shot), np.array(shot["mvp"]), shot["size"])
    inside = vis & (xy[:, 0] > 2) & (xy[:, 1] > 2) & (xy[:, 0] < shot["size"][0] - 2) & (xy[:, 1] < shot["size"][1] - 2)
    assert inside.sum() > 100
    assert near(grid, xy[inside], 1, scale).mean() > 0.9
    # the last keyframe looks level (pitch 0): the ground (y = +1.5, +Y down) is entirely in the lower half
    h = img.shape[0]
    assert not grid[: h // 2].any() and grid[h // 2 :].any()


def test_delete_in_the_view_deletes_the_selected_keyframe_but_not_the_start_one(selftest):
    _, report = selftest
    keys = report["delete_key"]
    assert keys["after_delete"] == keys["before"][:-1]
    assert keys["after_delete_start"] == keys["after_delete"] and "frame 0" in keys["message"]
    assert keys["after_undo"] == keys["before"]


def test_world_points_are_drawn_where_they_project_and_the_toggle_hides_them(selftest):
    out, report = selftest
    magenta = (1.0, 0.0, 1.0)
    on, off = load(out, report["points_on"]), load(out, report["points_off"])
    shot = report["points_on"]
    xy, vis = project(np.array(report["points_xyz"]), np.array(shot["mvp"]), shot["size"])
    hit = color_mask(on, magenta)
    scale = shot["image_size"][0] / shot["size"][0]
    found = [hit[max(0, int(y * scale) - 2) : int(y * scale) + 3, max(0, int(x * scale) - 2) : int(x * scale) + 3].any()
             for (x, y), v in zip(xy, vis) if v and 0 <= x < shot["size"][0] and 0 <= y < shot["size"][1]]
    assert len(found) > 10 and np.mean(found) > 0.8
    assert not color_mask(off, magenta).any()


def test_f_frames_every_drawn_frustum_inside_the_view(selftest):
    # after F, every vertex of what the orbit view draws over the grid (start frustum, path, keyframe frustums with
    # their up ticks, the playhead) lands inside the view, clear of its edges
    _, report = selftest
    shot = report["orbit"]
    w, h = shot["size"]
    xy, vis = project(np.array(report["drawn_points"]), np.array(shot["mvp"]), shot["size"])
    assert vis.all()
    margin = 0.02 * min(w, h)
    assert xy[:, 0].min() > margin and xy[:, 0].max() < w - margin
    assert xy[:, 1].min() > margin and xy[:, 1].max() < h - margin


def high_frequency(img: np.ndarray) -> float:
    """Mean absolute difference between neighbouring pixels (both ways): the energy of fine, aliased lines."""
    g = img.astype(float).mean(axis=2)
    return float(np.abs(np.diff(g, axis=0)).mean() + np.abs(np.diff(g, axis=1)).mean())


def test_grazing_view_fades_the_far_grid_instead_of_aliasing(selftest):
    out, report = selftest
    faded, sharp = report["grazing"], report["grazing_nofade"]
    on, off = load(out, faded), load(out, sharp)
    scale = faded["image_size"][0] / faded["size"][0]
    mvp, eye = np.array(faded["mvp"]), np.array(faded["eye"])
    # the far band: ground straight ahead where minor lines fall under a pixel apart, up to the grid's far edge
    extent = faded["grid_extent"]
    far_edge = project(np.array([[0.0, 1.5, extent]]), mvp, faded["size"])[0][0, 1]
    ahead = np.stack([np.zeros(400), np.full(400, 1.5), np.linspace(eye[2] + 1, extent, 400)], 1)
    rows = project(ahead, mvp, faded["size"])[0][:, 1]
    dense = rows[grid_fade(ahead, eye, faded["focal_px"], 1.0, fade_px=(0.0, 1.0)) < 1.0]
    top, bottom = int(far_edge * scale) + 1, int(dense.max() * scale)
    assert bottom - top >= 8, (top, bottom)
    band_on, band_off = on[top:bottom], off[top:bottom]
    assert high_frequency(band_off) > 0.02  # without the fade the far band is a mesh of aliased lines
    assert high_frequency(band_on) < 0.3 * high_frequency(band_off)
    # near lines are untouched: where the minor lines stand far enough apart both shots are the same picture
    exact = rows[grid_fade(ahead, eye, faded["focal_px"], 1.0) >= 1.0]
    assert (on[int(exact.min() * scale) + 2 :] == off[int(exact.min() * scale) + 2 :]).mean() > 0.99  # lines off to the side lie farther away
