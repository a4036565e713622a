"""``sana-wm depth eval``: accuracy on held-out worlds and time per frame.

Accuracy: :mod:`engine.depth.metrics` (AbsRel, δ<1.25, RMSE(log) over ground-truth surfaces up to 80 m) on
frames 0, 4 and 8 of 9-frame clips of the held-out dataset seed :data:`engine.depth.data.EVAL_SEED` (two
clips per world; training draws from another seed, so from other worlds), rendered at ``default`` quality
like the training frames, or on a ``sana-wm synth dataset`` folder with depth. Sky accuracy: share of pixels
whose predicted sky/surface label matches the ground truth. ``*_aligned``: the same after scaling each frame's
prediction by its median ratio to the ground truth (shape without metric scale; diagnostic only).

Time: median (and best) wall time of one forward of a single frame at the frames' size with ``threads`` torch threads,
after warm-up; indicative only on a shared machine (``sana-wm bench`` owns reported comparisons).
"""

from __future__ import annotations

import os
import statistics
import time
from pathlib import Path

import numpy as np
import torch

from engine.depth.data import EVAL_SEED, FrameSource, frames_from_dataset
from engine.depth.estimator import load_depth_net
from engine.depth.metrics import DepthScores, median_scale
from engine.depth.net import DepthNet
from engine.errors import ConfigError


def time_forward(net: DepthNet, size: tuple[int, int], threads: int, runs: int = 20) -> tuple[float, float]:
    """``(median, best)`` milliseconds of one single-frame forward at ``size = (W, H)`` on ``threads`` threads
    (on a shared machine the best of the runs is the closer estimate of the network's own cost)."""
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        w, h = size
        x = torch.rand(1, 3, h, w)
        k = torch.tensor([[w * 0.8, w * 0.8, w / 2, h / 2]])
        net.eval()
        times = []
        with torch.inference_mode():
            for i in range(runs + 3):
                t = time.perf_counter()
                net(x, k)
                if i >= 3:
                    times.append(time.perf_counter() - t)
        return 1e3 * statistics.median(times), 1e3 * min(times)
    finally:
        torch.set_num_threads(previous)


def write_figure(path: Path, images: np.ndarray, gt: np.ndarray, pred: np.ndarray, rows: int = 6) -> None:
    """A PNG with one row per frame (evenly spread over the set): image | true depth | predicted depth."""
    from PIL import Image

    from engine.depth.colormap import depth_to_rgb
    from engine.io.atomic import atomic_path

    pick = np.linspace(0, len(images) - 1, min(rows, len(images))).round().astype(int)
    gap = np.full((images.shape[1], 2, 3), 255, np.uint8)
    lines = [np.concatenate([images[i], gap, depth_to_rgb(gt[i]), gap, depth_to_rgb(pred[i])], axis=1) for i in pick]
    sheet = np.concatenate([np.concatenate([line, np.full((2, line.shape[1], 3), 255, np.uint8)]) for line in lines])
    with atomic_path(path) as tmp:
        Image.fromarray(sheet[:-2]).save(tmp, format="PNG")


def evaluate(*, weights: Path | None = None, run: Path | None = None, clips: int = 40, data: Path | None = None,
             threads: int = 2, net: DepthNet | None = None, figure: Path | None = None) -> dict:
    """Score and time a depth network (from ``weights``, a training ``run``'s newest checkpoint, or ``net``).
    ``figure``: also write a PNG of a few frames (columns: image, true depth, predicted depth)."""
    from engine.depth.train import list_checkpoints, net_from_checkpoint, predict_depth

    source = "network"
    if net is None and weights is not None:
        net, source = load_depth_net(weights), str(weights)
    elif net is None and run is not None:
        found = list_checkpoints(run)
        if not found:
            raise ConfigError(f"depth run {run}: holds no checkpoints")
        net, ckpt = net_from_checkpoint(found[-1])
        source = f"{found[-1]} (step {ckpt['step']})"
    if net is None:
        raise ConfigError("depth eval: give --weights or --run")
    if data is not None:
        frames = frames_from_dataset(data, keep=(0, 4, 8))
    else:
        os.environ.setdefault("LP_NUM_THREADS", "1")
        src = FrameSource(EVAL_SEED)
        try:
            frames = src.frames(0, clips)
        finally:
            src.release()
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        pred = predict_depth(net, frames)
    finally:
        torch.set_num_threads(previous)
    scores, aligned = DepthScores(), DepthScores()
    scores.add(pred, frames.depth)
    for p, g in zip(pred, frames.depth):
        aligned.add(p * median_scale(p, g), g)
    result = scores.result()
    a = aligned.result()
    result.update(abs_rel_aligned=a["abs_rel"], delta1_aligned=a["delta1"])
    result["sky_accuracy"] = float((np.isinf(pred) == np.isinf(frames.depth)).mean())
    if figure is not None:
        write_figure(figure, frames.images, frames.depth, pred)
    h, w = frames.images.shape[1:3]
    median_ms, best_ms = time_forward(net, (int(w), int(h)), threads)
    result.update(source=source, frames=len(frames.images), worlds=int(len(np.unique(frames.world_seeds))),
                  size=[int(w), int(h)], threads=threads, timed_runs=20, ms_per_frame=median_ms,
                  ms_per_frame_best=best_ms)  # fmt: skip
    return result
