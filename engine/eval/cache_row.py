"""The ``cache render`` rows of ``sana-wm eval``: the geometric prior a cache-conditioned model must beat.

No model runs: the world cache (:mod:`engine.world_cache`) is built from the start frame alone and its depth, then
rendered at the eval paths' poses. Two depth sources give two rows:

* **estimated depth**: the depth estimator shipped beside the model (``depth.safetensors``; what a session uses on
  any start image), when the bundle has one;
* **exact depth**: the renderer's metric depth of the start frame, the ceiling of what one view's geometry can
  predict (no estimator error).

A cache render knows only the pixels it covers (the rest is disoccluded or outside the start view), so these rows
score **where covered**: PSNR over the covered pixels of each frame (mean over the ``±window`` frames around a
horizon), with the covered share beside it (:attr:`RowResult.coverage`). SSIM needs whole frames and is not
reported for them (NaN), nor is drift (a static cache does not drift). Revisit: the render at the return frame
``j`` against the truth there, and against the render at ``i`` (both where both are covered). The sharpness ratio
is also over covered pixels (:func:`engine.eval.metrics.sharpness_ratio` with the coverage as mask), and the
parallax check (:mod:`engine.eval.parallax`) over the tiles both renders of a pair cover. For figures the row
keeps its renders at the horizon frames with uncovered pixels in :data:`UNCOVERED_RGB`.
"""

from __future__ import annotations

import math
import time
from typing import Callable

import numpy as np

from engine.camera.poses import relative_to_first
from engine.eval.metrics import sharpness_ratio
from engine.eval.parallax import parallax_scores, tiles_inside
from engine.eval.rollout import PSNR_CAP_DB, Scene
from engine.eval.rows import RowResult, mean_parallax
from engine.generation.world_memory import WorldCacheSettings
from engine.synth.trajectories import ClipPlan
from engine.world_cache import CacheRender, CacheRenderer, CacheState, empty_state, unproject, update

#: ``depth(scene, path, start) -> (H, W)`` float32 metres of the path's first frame (``inf`` = sky).
StartDepth = Callable[[Scene, ClipPlan, np.ndarray], np.ndarray]
#: name of the whole-frame cache baseline row (:func:`filled_cache_frames`)
FILLED_CACHE_ROW = "cache render + start frame"
#: the colour figures show where a cache render covers nothing (a neutral mid grey)
UNCOVERED_RGB = (128, 128, 128)


def masked_psnr(a: np.ndarray, b: np.ndarray, mask: np.ndarray) -> float:
    """PSNR (dB, peak 255, capped at :data:`PSNR_CAP_DB`) of uint8 images over ``mask``; NaN for an empty mask."""
    if not mask.any():
        return math.nan
    mse = float(np.mean((a[mask].astype(np.float64) - b[mask].astype(np.float64)) ** 2))
    return PSNR_CAP_DB if mse == 0 else min(10.0 * math.log10(255.0**2 / mse), PSNR_CAP_DB)


def start_cache(start: np.ndarray, depth: np.ndarray, intrinsics: np.ndarray, settings: WorldCacheSettings) -> CacheState:
    """The cache of one frame at the identity pose, built as a session builds it (same voxels, stride)."""
    points = unproject(start, depth, np.eye(4), intrinsics, stride=settings.stride)
    return update(empty_state(settings.cache_config), points)


def score_cache_row(name: str, label: str, config, scenes: list[Scene], depth: StartDepth, renderer: CacheRenderer,
                    settings: WorldCacheSettings = WorldCacheSettings()):  # fmt: skip
    """One ``cache render`` row (module docstring) as a :class:`~engine.eval.rows.RowResult`."""
    started = time.perf_counter()
    keys = [f"{h:g}s" for h in config.horizons_s]
    per_world: list[dict[str, dict[str, float]]] = []
    covered: dict[str, list[float]] = {k: [] for k in keys}
    rev_self, rev_truth = [], []
    parallax: list[dict[str, float]] = []
    examples = None
    for k, scene in enumerate(scenes):
        cache, rel, size = _path_cache(scene, scene.path, scene.truth[0], depth, settings)
        render = lambda f: renderer.render(cache, rel[f], scene.path.intrinsics[f], size)  # noqa: E731
        scores = {}
        for key, frame in zip(keys, config.horizon_frames()):
            lo, hi = max(0, frame - config.window), min(len(scene.truth), frame + config.window + 1)
            outs = [render(f) for f in range(lo, hi)]
            psnrs = [masked_psnr(o.colour, scene.truth[f], o.coverage) for o, f in zip(outs, range(lo, hi))]
            shares = [float(o.coverage.mean()) for o in outs]
            sharp = sharpness_ratio(np.stack([o.colour for o in outs]), scene.truth[lo:hi],
                                    np.stack([o.coverage for o in outs]))  # fmt: skip
            scores[key] = {"psnr": _nanmean(psnrs), "ssim": math.nan, "sharpness": sharp,
                           "coverage": float(np.mean(shares))}  # fmt: skip
            covered[key].append(float(np.mean(shares)))
        per_world.append(scores)
        if k == config.example_world:
            examples = np.stack([with_uncovered(render(f)) for f in config.horizon_frames()])
        parallax.append(_cache_parallax(scene, render))
        pair = scene.revisit_pair
        if pair is not None:
            i, j = pair
            rcache, rrel, _ = _path_cache(scene, scene.revisit_path, scene.revisit_truth[0], depth, settings)
            ri = renderer.render(rcache, rrel[i], scene.revisit_path.intrinsics[i], size)
            rj = renderer.render(rcache, rrel[j], scene.revisit_path.intrinsics[j], size)
            rev_truth.append(masked_psnr(rj.colour, scene.revisit_truth[j], rj.coverage))
            rev_self.append(masked_psnr(rj.colour, ri.colour, rj.coverage & ri.coverage))
    return RowResult(
        name=name,
        label=label,
        horizons={k: {"psnr": _nanmean([w[k]["psnr"] for w in per_world]), "ssim": math.nan,
                      "sharpness": _nanmean([w[k]["sharpness"] for w in per_world])} for k in keys},
        revisit_self_psnr=_nanmean(rev_self),
        revisit_self_ssim=math.nan,
        revisit_truth_psnr=_nanmean(rev_truth),
        revisit_truth_ssim=math.nan,
        drift_in_range=math.nan,
        seconds=time.perf_counter() - started,
        per_world=per_world,
        coverage={k: float(np.mean(v)) for k, v in covered.items()},
        examples=examples,
        parallax=mean_parallax(parallax),
        per_world_parallax=parallax,
    )


def filled_cache_frames(path: ClipPlan, start: np.ndarray, depth: np.ndarray, renderer: CacheRenderer,
                        settings: WorldCacheSettings = WorldCacheSettings()) -> np.ndarray:  # fmt: skip
    """``(F, H, W, 3)`` uint8: the start frame's cache (``depth`` of ``start``) rendered along ``path``, with the
    pixels it does not cover taken from ``start`` (the "cache render + start frame" row, a whole-frame baseline)."""
    cache = start_cache(start, depth, path.intrinsics[0], settings)
    rel, size = relative_to_first(path.c2w), (start.shape[1], start.shape[0])
    frames = np.empty((len(rel),) + start.shape, np.uint8)
    for f in range(len(rel)):
        out = renderer.render(cache, rel[f], path.intrinsics[f], size)
        frames[f] = np.where(out.coverage[..., None], out.colour, start)
    return frames


def with_uncovered(out: CacheRender) -> np.ndarray:
    """A cache render's colour with the pixels it does not cover in :data:`UNCOVERED_RGB` (figures)."""
    return np.where(out.coverage[..., None], out.colour, np.asarray(UNCOVERED_RGB, np.uint8))


def _cache_parallax(scene: Scene, render: Callable[[int], CacheRender]) -> dict[str, float]:
    """The parallax check on the cache renders, on the tiles both renders of a pair cover."""
    reference = scene.parallax
    frames, tiles = [], []
    for t, u in reference.pairs:
        a, b = render(int(t)), render(int(u))
        frames.append((with_uncovered(a), with_uncovered(b)))
        tiles.append(tiles_inside(a.coverage) & tiles_inside(b.coverage))
    return parallax_scores(reference, frames, tiles)


def _path_cache(scene: Scene, path: ClipPlan, start: np.ndarray, depth: StartDepth, settings: WorldCacheSettings):
    z = depth(scene, path, start)
    size = (start.shape[1], start.shape[0])
    return start_cache(start, z, path.intrinsics[0], settings), relative_to_first(path.c2w), size


def _nanmean(values) -> float:
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    return float(v.mean()) if v.size else math.nan
