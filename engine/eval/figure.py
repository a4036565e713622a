"""A picture of what the table measures: ground truth next to generated frames at each horizon (``--figure``).

Numbers alone hide how a model fails (blur, colour drift, a frozen view); one look at a held-out world (the first,
or ``EvalConfig.example_world``) at 1, 5 and 20 s shows it. Rows: the ground-truth render, labelled with the
world's seed, then the "cache render" rows (the start frame's world cache rendered at the horizon poses: what the
geometry of one view predicts, uncovered pixels in neutral grey, :data:`engine.eval.cache_row.UNCOVERED_RGB`),
then the model and the other baselines in table order; columns: the horizons. Each tile is labelled.
"""

from __future__ import annotations

from io import BytesIO
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from engine.io.atomic import atomic_write_bytes
from engine.errors import ConfigError
from engine.eval.protocol import EvalResult
from engine.export.fonts import font

LABEL_HEIGHT = 18
GAP = 4


def horizon_figure(result: EvalResult, *, rows: tuple[str, ...] | None = None) -> Image.Image:
    """The figure as a PIL image; ``rows`` picks scored rows by name (default: all that kept example frames)."""
    if result.truth_examples is None or not result.rows:
        raise ConfigError("figure: the evaluation kept no example frames (run evaluate() first)")
    picked = [r for r in result.rows if rows is None or r.name in rows]
    if rows is not None and len(picked) != len(rows):
        known = ", ".join(r.name for r in result.rows)
        raise ConfigError(f"figure rows: expected names among {known}, found {', '.join(rows)}")
    picked = [r for r in picked if r.examples is not None]
    picked = [r for r in picked if r.coverage is not None] + [r for r in picked if r.coverage is None]
    world = result.world_seeds[result.config.example_world]
    grid = [(f"ground truth (world {world})", result.truth_examples)]
    grid += [(f"{r.name} (grey: not covered)" if r.coverage is not None else r.name, r.examples) for r in picked]
    n_cols = len(result.config.horizons_s)
    h, w = result.truth_examples.shape[1:3]
    tile_h = h + LABEL_HEIGHT
    canvas = Image.new("RGB", (n_cols * w + (n_cols - 1) * GAP, len(grid) * tile_h + (len(grid) - 1) * GAP), "white")
    draw = ImageDraw.Draw(canvas)
    face = font(12)
    for i, (name, frames) in enumerate(grid):
        for j, seconds in enumerate(result.config.horizons_s):
            x, y = j * (w + GAP), i * (tile_h + GAP)
            draw.text((x + 2, y + 2), f"{name}, {seconds:g} s", fill="black", font=face)
            canvas.paste(Image.fromarray(np.asarray(frames[j], dtype=np.uint8)), (x, y + LABEL_HEIGHT))
    return canvas


def write_horizon_figure(result: EvalResult, path: str | Path, *, rows: tuple[str, ...] | None = None) -> Path:
    """Write :func:`horizon_figure` as a PNG, atomically."""
    buffer = BytesIO()
    horizon_figure(result, rows=rows).save(buffer, format="PNG")
    atomic_write_bytes(path, buffer.getvalue())
    return Path(path)
