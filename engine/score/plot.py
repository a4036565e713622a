"""The figure of a score: the requested and the estimated camera paths over each other, from above and from the
side, in the requested path's frame (OpenCV world axes: X right, Y down, Z forward of the first camera)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from engine.io.atomic import atomic_path


def plot_paths(requested: np.ndarray, estimated: np.ndarray, target: str | Path, *, title: str = "") -> Path:
    """Write a PNG of two ``(N, 4, 4)`` paths (NaN rows of ``estimated`` = not registered, left out); atomic."""
    from matplotlib.figure import Figure  # no pyplot: no global state, safe on the explorer's worker thread

    req = np.asarray(requested)[:, :3, 3]
    est = np.asarray(estimated)[:, :3, 3]
    fig = Figure(figsize=(9, 4.2), dpi=100)
    axes = fig.subplots(1, 2)
    for ax, (a, b, xl, yl) in zip(axes, [(0, 2, "x (right)", "z (forward)"), (2, 1, "z (forward)", "-y (up)")]):
        sign = -1.0 if b == 1 else 1.0
        ax.plot(req[:, a], sign * req[:, b], "-", color="#1f77b4", lw=2, label="requested")
        ax.plot(req[:1, a], sign * req[:1, b], "o", color="#1f77b4")
        ok = np.isfinite(est[:, 0])
        ax.plot(est[ok, a], sign * est[ok, b], ".--", color="#d62728", lw=1, ms=4, label="estimated (aligned)")
        ax.set_xlabel(xl)
        ax.set_ylabel(yl)
        ax.set_aspect("equal", adjustable="datalim")
        ax.grid(alpha=0.3)
    axes[0].set_title("from above")
    axes[1].set_title("from the side")
    axes[0].legend(loc="best", fontsize=8)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    target = Path(target)
    with atomic_path(target, suffix=".png") as tmp:
        fig.savefig(tmp, format="png")
    return target
