"""The parallax check of ``sana-wm eval``: does driving forward enlarge the world as the ground truth does?

A model can follow the camera's turns (the view slides sideways) and still fail forward motion: it slides or
fades the image instead of bringing near objects closer, or freezes. PSNR does not separate these. Here the
motion *in the image* is measured on the forward-moving part of the eval path and compared with the truth's:

1. **Pairs** (:func:`forward_pairs`): frames ``(t, t + gap)`` (``gap`` = 8, half a second at 16 fps) over which the
   camera moves forward (translation along its own +Z at least ``min_forward`` and at least twice its sideways
   and vertical movement) and turns by at most ``max_turn_deg`` — straight driving, where the image flow is an
   expansion about the focus of expansion.
2. **Flow** (:func:`block_flow`): dense-enough optical flow by block matching on luma (no OpenCV here): the frame is
   cut into ``block`` x ``block`` tiles; each tile of frame ``t`` is searched in frame ``t + gap`` within
   ``±search`` pixels (sum of squared differences, ties to the smaller displacement, parabolic sub-pixel
   refinement; identical frames give exactly zero flow).
3. **Expansion** (:func:`expansion`): a least-squares fit of a similarity motion ``u = a x - b y + tx,
   v = b x + a y + ty`` (``x, y`` about the frame centre) to a pair's flow; ``a`` is the relative growth of the
   image over the pair (0.05 = things look 5% larger), the translation terms absorb any residual pan.
4. **Scores** (:func:`parallax_scores`), on the tiles where the truth's frame ``t`` has texture and the truth's
   match lies inside the search window (:class:`ParallaxReference`):

   * ``expansion_ratio`` — sum of the generated pairs' ``a`` over the truth's: **1.0 = right parallax**, 0 = no
     motion (a frozen or "repeat first frame" stream), below 1 = too little, negative = shrinking;
   * ``flow_cosine`` — per pair, the cosine between the generated and the true flow of each tile, averaged with the
     true flow's length as weight (:func:`flow_cosine`; 1 = same directions, 0 = no flow), averaged over pairs;
   * ``flow_epe_px`` — mean end-point error ``|u_g - u_t|`` in pixels (0 = the truth's flow), with
     ``truth_flow_px``, the truth's mean flow magnitude, to read it against (a zero flow has EPE = that).

The same estimator runs on the truth and on the generated frames, so the truth scores exactly 1 / 1 / 0.
A world whose path never drives straight forward has no pairs and no score (NaN); row means skip it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from engine.errors import SanaWMInputError
from engine.eval.metrics import luma

GAP = 8
BLOCK = 16
SEARCH = 16
MIN_FORWARD_M = 0.05
MAX_TURN_DEG = 2.0
#: luma standard deviation (0-255) below which a tile of the truth is too flat to match
MIN_TEXTURE = 1.0
#: tiles a pair needs for a similarity fit
MIN_TILES = 8
#: residual (pixels) under which a tile always stays in the similarity fit
OUTLIER_PX = 1.0


def forward_pairs(c2w: np.ndarray, *, gap: int = GAP, stride: int | None = None, min_forward: float = MIN_FORWARD_M,
                  max_turn_deg: float = MAX_TURN_DEG) -> np.ndarray:  # fmt: skip
    """``(K, 2)`` frame pairs ``(t, t + gap)``, ``t`` every ``stride`` frames (default ``gap // 2``), over which the
    camera ``c2w (F, 4, 4)`` drives straight forward (module docstring); ``min_forward`` in the path's units."""
    c2w = np.asarray(c2w, dtype=np.float64)
    stride = stride or max(1, gap // 2)
    t = np.arange(0, len(c2w) - gap, stride)
    if t.size == 0:
        return np.zeros((0, 2), np.int64)
    rel = np.linalg.inv(c2w[t]) @ c2w[t + gap]  # pose of t + gap in camera t's frame
    move = rel[:, :3, 3]
    cos = np.clip((np.trace(rel[:, :3, :3], axis1=1, axis2=2) - 1.0) / 2.0, -1.0, 1.0)
    turn = np.degrees(np.arccos(cos))
    ok = (move[:, 2] >= min_forward) & (move[:, 2] >= 2.0 * np.hypot(move[:, 0], move[:, 1])) & (turn <= max_turn_deg)
    return np.stack([t[ok], t[ok] + gap], axis=1).astype(np.int64)


def tile_grid(size: tuple[int, int], block: int = BLOCK, search: int = SEARCH) -> tuple[int, int]:
    """Tiles ``(rows, cols)`` of a ``size = (W, H)`` frame: whole tiles inside a ``search``-pixel border."""
    w, h = size
    rows, cols = (h - 2 * search) // block, (w - 2 * search) // block
    if rows < 1 or cols < 1:
        raise SanaWMInputError(f"frames: parallax needs at least {block + 2 * search} pixels a side, found {w}x{h}")
    return rows, cols


def tile_centres(size: tuple[int, int], block: int = BLOCK, search: int = SEARCH) -> np.ndarray:
    """``(N, 2)`` tile centres ``(x, y)`` in pixels about the frame centre, row-major (the order of
    :func:`block_flow`)."""
    w, h = size
    rows, cols = tile_grid(size, block, search)
    y, x = np.mgrid[0:rows, 0:cols]
    xs = search + block * x + block / 2 - w / 2
    ys = search + block * y + block / 2 - h / 2
    return np.stack([xs.ravel(), ys.ravel()], axis=1).astype(np.float64)


def tiles_inside(mask: np.ndarray, block: int = BLOCK, search: int = SEARCH) -> np.ndarray:
    """``(N,)`` bool: the tiles that lie wholly inside an ``(H, W)`` pixel mask (e.g. a cache render's coverage)."""
    mask = np.asarray(mask, dtype=bool)
    h, w = mask.shape
    rows, cols = tile_grid((w, h), block, search)
    m = mask[search : search + rows * block, search : search + cols * block]
    return m.reshape(rows, block, cols, block).all(axis=(1, 3)).ravel()


def tile_texture(frame: np.ndarray, block: int = BLOCK, search: int = SEARCH) -> np.ndarray:
    """``(N,)`` luma standard deviation (0-255) of each tile of an ``(H, W, 3)`` frame."""
    y = luma(np.asarray(frame))
    h, w = y.shape
    rows, cols = tile_grid((w, h), block, search)
    t = y[search : search + rows * block, search : search + cols * block].reshape(rows, block, cols, block)
    return t.std(axis=(1, 3)).ravel()


def block_flow(a: np.ndarray, b: np.ndarray, block: int = BLOCK, search: int = SEARCH) -> np.ndarray:
    """``(N, 2)`` flow ``(dx, dy)`` in pixels of each tile of uint8 frame ``a`` ``(H, W, 3)`` into frame ``b``
    (tile order of :func:`tile_centres`): the displacement with the least mean squared luma difference within
    ``±search`` (ties: the smallest displacement), refined to sub-pixel by a parabola through the neighbouring
    costs unless the match is exact."""
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape or a.ndim != 3 or a.shape[-1] != 3:
        raise SanaWMInputError(f"frames: expected two equal (H, W, 3) frames, found {a.shape} and {b.shape}")
    h, w = a.shape[:2]
    rows, cols = tile_grid((w, h), block, search)
    ya = torch.from_numpy(luma(a)).float()
    yb = torch.from_numpy(luma(b)).float()
    ch, cw = rows * block, cols * block
    centre = ya[search : search + ch, search : search + cw]
    n = 2 * search + 1
    # every horizontal shift of b at once: (n, ch, cw)
    strips = yb.unfold(1, cw, 1)[:, :n]  # (H, n, cw): strips[:, dx] = yb[:, dx : dx + cw]
    cost = torch.empty(n, n, rows, cols)  # (dy, dx, row, col) mean squared difference
    for dy in range(n):
        shifted = strips[dy : dy + ch].permute(1, 0, 2)  # (n, ch, cw)
        cost[dy] = F.avg_pool2d(((shifted - centre) ** 2)[:, None], block)[:, 0]
    cost = cost.double().reshape(n * n, rows * cols)  # (S, N)
    d = torch.arange(n, dtype=torch.float64) - search
    dist2 = (d[:, None] ** 2 + d[None, :] ** 2).reshape(-1, 1)
    best = torch.argmin(cost + 1e-6 * dist2, dim=0)  # (N,)
    iy, ix = best // n, best % n
    flow = torch.stack([ix, iy], dim=1).double() - search  # (N, 2) as (dx, dy)
    grid = cost.reshape(n, n, -1)
    tiles = torch.arange(rows * cols)
    c0 = grid[iy, ix, tiles]
    for axis, (i, other) in enumerate(((ix, iy), (iy, ix))):
        inner = (i > 0) & (i < n - 1) & (c0 > 0)
        lo, hi = (i - 1).clamp(min=0), (i + 1).clamp(max=n - 1)
        if axis == 0:
            cm, cp = grid[other, lo, tiles], grid[other, hi, tiles]
        else:
            cm, cp = grid[lo, other, tiles], grid[hi, other, tiles]
        curve = cm - 2 * c0 + cp
        step = torch.where(inner & (curve > 0), 0.5 * (cm - cp) / curve.clamp(min=1e-12), torch.zeros_like(c0))
        flow[:, axis] += step.clamp(-0.5, 0.5)
    return flow.numpy()


def expansion(centres: np.ndarray, flow: np.ndarray) -> float:
    """The scale rate ``a`` of the similarity motion ``u = a x - b y + tx, v = b x + a y + ty`` fitted to ``flow
    (N, 2)`` at ``centres (N, 2)`` (pixels about the frame centre): the image's relative growth. Least squares,
    then once more without the tiles whose residual exceeds :data:`OUTLIER_PX` and three times the median
    (occlusion edges and mismatches; the fit stays deterministic, so the truth's own ratio is exactly 1)."""
    x, y = centres[:, 0], centres[:, 1]
    one, zero = np.ones_like(x), np.zeros_like(x)
    design = np.stack([np.stack([x, -y, one, zero], 1), np.stack([y, x, zero, one], 1)], 1)  # (N, 2, 4)
    params, *_ = np.linalg.lstsq(design.reshape(-1, 4), flow.reshape(-1), rcond=None)
    residual = np.linalg.norm(design @ params - flow, axis=1)  # (N,)
    inliers = residual <= max(OUTLIER_PX, 3.0 * float(np.median(residual)))
    if inliers.sum() >= MIN_TILES and not inliers.all():
        params, *_ = np.linalg.lstsq(design[inliers].reshape(-1, 4), flow[inliers].reshape(-1), rcond=None)
    return float(params[0])


def flow_cosine(generated: np.ndarray, truth: np.ndarray) -> float:
    """Mean cosine between the generated and the true flow of each tile (``(N, 2)`` each), weighted by the true
    flow's length (a still tile has no direction to agree with); a zero generated flow counts 0. 1.0 for the truth
    itself; bounded in [-1, 1] per tile, so one mismatched tile cannot dominate."""
    ng, nt = np.linalg.norm(generated, axis=1), np.linalg.norm(truth, axis=1)
    if nt.sum() == 0:
        return math.nan
    dot = (generated * truth).sum(axis=1)
    cos = np.divide(dot, ng * nt, out=np.zeros_like(dot), where=(ng * nt) > 0)
    return float((cos * nt).sum() / nt.sum())


@dataclass
class ParallaxReference:
    """The truth's side of the check for one path: its forward pairs, the tiles scored in each, and its flow."""

    size: tuple[int, int]
    pairs: np.ndarray  # (K, 2) frame indices
    keep: np.ndarray  # (K, N) bool: tiles scored per pair
    flow: np.ndarray  # (K, N, 2) the truth's flow
    expansion: np.ndarray  # (K,) the truth's scale rate per pair


def parallax_reference(truth: np.ndarray, c2w: np.ndarray, *, gap: int = GAP) -> ParallaxReference:
    """The truth's forward pairs (:func:`forward_pairs`) and flow; a pair is kept when at least :data:`MIN_TILES`
    tiles are textured (:data:`MIN_TEXTURE`) and matched inside the search window. Frames smaller than one tile
    and its search border (48 pixels a side) give no pairs."""
    truth = np.asarray(truth)
    h, w = truth.shape[1:3]
    if h < BLOCK + 2 * SEARCH or w < BLOCK + 2 * SEARCH:  # too small for one tile: nothing to score
        return ParallaxReference((w, h), np.zeros((0, 2), np.int64), np.zeros((0, 0), bool), np.zeros((0, 0, 2)),
                                 np.zeros(0))
    centres = tile_centres((w, h))
    pairs, keeps, flows, rates = [], [], [], []
    for t, u in forward_pairs(c2w, gap=gap):
        flow = block_flow(truth[t], truth[u])
        keep = (tile_texture(truth[t]) >= MIN_TEXTURE) & (np.abs(flow).max(axis=1) < SEARCH - 0.5)
        if keep.sum() < MIN_TILES:
            continue
        pairs.append((t, u))
        keeps.append(keep)
        flows.append(flow)
        rates.append(expansion(centres[keep], flow[keep]))
    n = len(centres)
    return ParallaxReference(
        size=(w, h),
        pairs=np.asarray(pairs, np.int64).reshape(-1, 2),
        keep=np.asarray(keeps, bool).reshape(-1, n),
        flow=np.asarray(flows, np.float64).reshape(-1, n, 2),
        expansion=np.asarray(rates, np.float64),
    )


def parallax_scores(reference: ParallaxReference, frames, tiles: list[np.ndarray] | None = None) -> dict[str, float]:
    """Score generated frames against ``reference`` (module docstring). ``frames``: ``(F, H, W, 3)`` frames of the
    whole path, or a list with one ``(frame t, frame t + gap)`` pair per reference pair; ``tiles``: per pair, an
    ``(N,)`` bool of the tiles the generated frames can be scored on (default: all), and-ed with the truth's.
    Returns ``expansion_ratio``, ``flow_cosine``, ``flow_epe_px``, ``truth_flow_px`` (NaN without pairs) and
    ``pairs``."""
    k = len(reference.pairs)
    nan = {"expansion_ratio": math.nan, "flow_cosine": math.nan, "flow_epe_px": math.nan, "truth_flow_px": math.nan}
    if k == 0:
        return {**nan, "pairs": 0}
    if isinstance(frames, np.ndarray):
        frames = [(frames[t], frames[u]) for t, u in reference.pairs]
    if len(frames) != k:
        raise SanaWMInputError(f"parallax frames: expected {k} pairs, found {len(frames)}")
    centres = tile_centres(reference.size)
    rate_gen, rate_truth, cosines, epes, mags = [], [], [], [], []
    for p, (a, b) in enumerate(frames):
        keep = reference.keep[p] if tiles is None else reference.keep[p] & np.asarray(tiles[p], bool)
        if keep.sum() < MIN_TILES:
            continue
        ug, ut = block_flow(a, b)[keep], reference.flow[p][keep]
        rate_gen.append(expansion(centres[keep], ug))
        rate_truth.append(expansion(centres[keep], ut))
        cosines.append(flow_cosine(ug, ut))
        epes.append(float(np.linalg.norm(ug - ut, axis=1).mean()))
        mags.append(float(np.linalg.norm(ut, axis=1).mean()))
    if not rate_truth:
        return {**nan, "pairs": 0}
    total = float(np.sum(rate_truth))
    return {
        "expansion_ratio": float(np.sum(rate_gen)) / total if total > 0 else math.nan,
        "flow_cosine": float(np.mean(cosines)),
        "flow_epe_px": float(np.mean(epes)),
        "truth_flow_px": float(np.mean(mags)),
        "pairs": len(rate_truth),
    }
