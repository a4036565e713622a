"""Depth metrics (the standard monocular-depth ones, on metric depth, no scale alignment).

Valid pixels: ground truth finite and in ``(min_depth, max_depth]``; predictions are clamped to
``[min_depth, max_depth]`` first (a far or sky prediction on a ground-truth surface counts as ``max_depth``).

* ``abs_rel``  mean of ``|pred - gt| / gt``;
* ``delta1``   share of pixels with ``max(pred / gt, gt / pred) < 1.25``;
* ``rmse_log`` root mean square of ``log pred - log gt``.

:func:`median_scale` gives the per-frame factor ``median(gt / pred)``; scores of ``pred * median_scale`` (the
"scale-aligned" numbers of the monocular-depth literature) separate errors of shape from errors of metric scale.

:class:`DepthScores` sums over frames so a data set's numbers are per-pixel means over all its valid pixels.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Evaluation range in metres: fog hides most of what lies beyond 80 m in the procedural worlds.
MIN_DEPTH = 0.05
MAX_DEPTH = 80.0


@dataclass
class DepthScores:
    """Running per-pixel sums; :meth:`result` gives the means."""

    pixels: int = 0
    abs_rel_sum: float = 0.0
    delta1_sum: float = 0.0
    sq_log_sum: float = 0.0

    def add(self, pred: np.ndarray, gt: np.ndarray, *, min_depth: float = MIN_DEPTH, max_depth: float = MAX_DEPTH) -> None:
        """Add one frame (or a stack): ``pred`` and ``gt`` in metres, the same shape; ``gt`` may hold ``inf``."""
        pred = np.asarray(pred, np.float64)
        gt = np.asarray(gt, np.float64)
        if pred.shape != gt.shape:
            raise ValueError(f"depth metrics: prediction {pred.shape} and ground truth {gt.shape} differ in shape")
        valid = np.isfinite(gt) & (gt > min_depth) & (gt <= max_depth)
        p = np.clip(np.nan_to_num(pred[valid], nan=max_depth, posinf=max_depth), min_depth, max_depth)
        g = gt[valid]
        self.pixels += int(valid.sum())
        self.abs_rel_sum += float((np.abs(p - g) / g).sum())
        self.delta1_sum += float((np.maximum(p / g, g / p) < 1.25).sum())
        self.sq_log_sum += float(((np.log(p) - np.log(g)) ** 2).sum())

    def result(self) -> dict[str, float]:
        n = max(self.pixels, 1)
        return {"abs_rel": self.abs_rel_sum / n, "delta1": self.delta1_sum / n,
                "rmse_log": float(np.sqrt(self.sq_log_sum / n)), "pixels": self.pixels}  # fmt: skip


def median_scale(pred: np.ndarray, gt: np.ndarray, *, min_depth: float = MIN_DEPTH, max_depth: float = MAX_DEPTH) -> float:
    """``median(gt / pred)`` over the valid pixels of one frame (1.0 when it has none)."""
    pred, gt = np.asarray(pred, np.float64), np.asarray(gt, np.float64)
    valid = np.isfinite(gt) & (gt > min_depth) & (gt <= max_depth) & np.isfinite(pred) & (pred > 0)
    return float(np.median(gt[valid] / pred[valid])) if valid.any() else 1.0


def depth_scores(pred: np.ndarray, gt: np.ndarray, **kwargs) -> dict[str, float]:
    """AbsRel, δ<1.25 and RMSE(log) of one prediction against ground truth (see the module docstring)."""
    s = DepthScores()
    s.add(pred, gt, **kwargs)
    return s.result()
