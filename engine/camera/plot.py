"""A PNG overview of a trajectory: top view (X-Z ground plane) and side view (Z-height) with camera frustums.

Used by ``sana-wm trajectory plot``. Drawn with matplotlib's non-interactive Agg backend, so it works
headless. World "up" is -Y in OpenCV conventions; the side view plots height = -Y so up is up.
"""

from __future__ import annotations

import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from engine.io.atomic import atomic_path  # noqa: E402
from engine.camera.trajectory import Trajectory  # noqa: E402


def frustum_corners(trajectory: Trajectory, index: int, depth: float) -> np.ndarray:
    """World coordinates ``(5, 3)`` of a frustum: the camera centre, then the image corners at ``depth``.

    Uses the frame's intrinsics when known, else a 60 deg, 16:9 frustum.
    """
    if trajectory.intrinsics is not None and trajectory.image_size is not None:
        fx, fy, cx, cy = trajectory.intrinsics[index]
        w, h = trajectory.image_size
    else:
        w, h = 16.0, 9.0
        fx = fy = w / (2 * np.tan(np.radians(30.0)))
        cx, cy = w / 2, h / 2
    pix = np.array([[0, 0], [w, 0], [w, h], [0, h]], dtype=np.float64)
    cam = np.stack([(pix[:, 0] - cx) / fx, (pix[:, 1] - cy) / fy, np.ones(4)], axis=1) * depth
    pose = trajectory.c2w[index]
    world = cam @ pose[:3, :3].T + pose[:3, 3]
    return np.concatenate([pose[None, :3, 3], world])


def plot_trajectory(trajectory: Trajectory, output: str | os.PathLike, *, frustums: int = 12, title: str = "") -> None:
    """Write the top and side views of ``trajectory`` to ``output`` (PNG, atomic)."""
    pos = trajectory.positions
    extent = float(np.ptp(pos, axis=0).max()) if len(pos) > 1 else 0.0
    depth = max(extent * 0.06, 0.05)
    count = max(2, min(frustums, trajectory.num_frames))  # never more frustums than poses, whatever was asked
    picks = np.unique(np.linspace(0, trajectory.num_frames - 1, count).round().astype(int))
    fig, axes = plt.subplots(1, 2, figsize=(12, 5.5), dpi=100)
    views = [("Top view (X right, Z forward)", 0, 2, 1.0, "X", "Z"), ("Side view (Z forward, up)", 2, 1, -1.0, "Z", "height (-Y)")]
    for ax, (name, a, b, sign, xlab, ylab) in zip(axes, views):
        ax.plot(pos[:, a], sign * pos[:, b], color="#1f77b4", lw=1.5, label="path")
        ax.scatter(pos[0, a], sign * pos[0, b], color="#2ca02c", zorder=3, label="start")
        ax.scatter(pos[-1, a], sign * pos[-1, b], color="#d62728", zorder=3, label="end")
        for i in picks:
            c = frustum_corners(trajectory, int(i), depth)
            for k in range(1, 5):
                ax.plot([c[0, a], c[k, a]], [sign * c[0, b], sign * c[k, b]], color="#ff7f0e", lw=0.6)
            loop = c[[1, 2, 3, 4, 1]]
            ax.plot(loop[:, a], sign * loop[:, b], color="#ff7f0e", lw=0.6)
        ax.set_title(name)
        ax.set_xlabel(xlab)
        ax.set_ylabel(ylab)
        ax.set_aspect("equal", adjustable="datalim")
        ax.grid(True, alpha=0.3)
    axes[0].legend(loc="best", fontsize=8)
    fig.suptitle(title or f"{trajectory.num_frames} frames, {trajectory.duration_s:.2f} s, path {trajectory.path_length:.3f}")
    fig.tight_layout()
    with atomic_path(output, suffix=".png") as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
