"""One row of an evaluation table: a model's or baseline's scores, shared by the protocol and the cache rows."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np


@dataclass
class RowResult:
    """Scores of one model or baseline, averaged over scenes (NaN where no scene had a revisit)."""

    name: str
    label: str
    horizons: dict[str, dict[str, float]]  # "1s" -> {"psnr": dB, "ssim": ..., "sharpness": generated / truth}
    revisit_self_psnr: float
    revisit_self_ssim: float
    revisit_truth_psnr: float
    revisit_truth_ssim: float
    drift_in_range: float
    seconds: float
    #: the horizon scores of each world, in ``world_seeds`` order: a mean over 4 worlds can hide one collapse
    per_world: list[dict[str, dict[str, float]]] = field(default_factory=list)
    #: frames ``(len(horizons), H, W, 3)`` of world ``config.example_world`` at the horizon frames (for figures; not
    #: in the JSON)
    examples: np.ndarray | None = field(default=None, repr=False, compare=False)
    #: share of pixels scored at each horizon, for rows that know only part of each frame (the cache renders, whose
    #: PSNR is over covered pixels); None = whole frames
    coverage: dict[str, float] | None = None
    #: the parallax check (:mod:`engine.eval.parallax`) averaged over the worlds that have forward pairs:
    #: ``expansion_ratio``, ``flow_cosine``, ``flow_epe_px``, ``truth_flow_px`` (NaN when no world has any) and
    #: ``pairs`` (summed over worlds)
    parallax: dict[str, float] = field(default_factory=dict)
    #: the parallax check of each world, in ``world_seeds`` order
    per_world_parallax: list[dict[str, float]] = field(default_factory=list)
    #: the drift check of each world, in ``world_seeds`` order (:func:`engine.eval.protocol.drift_breakdown`: the share
    #: in range and, per statistic, the shares below and above the truth's range); empty without a drift check
    per_world_drift: list[dict[str, float]] = field(default_factory=list)


def mean_parallax(per_world: list[dict[str, float]]) -> dict[str, float]:
    """Row-level parallax scores: each score's mean over the worlds that have it (NaN if none), pairs summed."""
    keys = ("expansion_ratio", "flow_cosine", "flow_epe_px", "truth_flow_px")
    out = {}
    for key in keys:
        v = np.array([w[key] for w in per_world], dtype=np.float64)
        v = v[np.isfinite(v)]
        out[key] = float(v.mean()) if v.size else math.nan
    out["pairs"] = int(sum(w["pairs"] for w in per_world))
    return out
