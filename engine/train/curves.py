"""The loss log of a run: ``loss.csv`` (one row per step) and ``loss.png`` (the curve), written atomically.

Both are rewritten from the in-memory history at every checkpoint and at the end, so after a crash and
``--resume`` they hold exactly the steps of the checkpoint the run continued from, never duplicated rows.
The plot uses matplotlib's Agg canvas directly (no global backend switch, safe inside the Qt app).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from engine.io.atomic import atomic_path, atomic_write_text

#: Columns of ``loss.csv`` (a history row may lack some; they are written empty).
COLUMNS = ("step", "samples_seen", "loss", "lr", "grad_norm", "sigma_mean", "clean_context", "self_rollout",
           "samples_per_s", "elapsed_s", "data_wait_s", "frame_stats", "reanchored")  # fmt: skip


def write_loss_csv(history: Sequence[dict[str, float]], path: str | Path) -> Path:
    """``history`` rows -> CSV with :data:`COLUMNS` (header included)."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in history:
        writer.writerow({k: (int(v) if k in ("step", "samples_seen") else f"{v:.6g}") for k, v in row.items()})
    atomic_write_text(path, buffer.getvalue())
    return Path(path)


def read_loss_csv(path: str | Path) -> list[dict[str, float]]:
    """Rows of a ``loss.csv`` as floats (for tests and notebooks)."""
    with open(path, newline="") as handle:
        return [{k: float(v) for k, v in row.items() if v != ""} for row in csv.DictReader(handle)]


def smoothed(values: np.ndarray, window: int) -> np.ndarray:
    """Trailing moving average over up to ``window`` values (shorter at the start)."""
    cumulative = np.cumsum(np.insert(values.astype(np.float64), 0, 0.0))
    idx = np.arange(1, len(values) + 1)
    lo = np.maximum(idx - window, 0)
    return (cumulative[idx] - cumulative[lo]) / (idx - lo)


def plot_loss(history: Sequence[dict[str, float]], path: str | Path, title: str = "training loss") -> Path:
    """Loss per step (thin) and its moving average (thick; once there are 100+ steps) to a PNG; the y axis is
    logarithmic when the loss spans more than a factor of 10."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    steps = np.array([row["step"] for row in history], dtype=np.float64)
    loss = np.array([row["loss"] for row in history], dtype=np.float64)
    fig = Figure(figsize=(7, 4), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    if len(loss):
        window = max(1, len(loss) // 50)
        ax.plot(steps, loss, lw=0.6 if window > 1 else 1.5, alpha=0.4 if window > 1 else 1.0, color="tab:blue",
                label="loss per step")  # fmt: skip
        if window > 1:
            ax.plot(steps, smoothed(loss, window), lw=1.8, color="tab:blue", label=f"moving average ({window} steps)")
        if (loss > 0).all() and loss.max() > 10 * loss.min():
            ax.set_yscale("log")
        ax.legend(loc="upper right")
    ax.set_xlabel("step")
    ax.set_ylabel("flow-matching MSE")
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    return Path(path)
