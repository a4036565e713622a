"""Procedural, tileable material textures (numpy), one layer of the renderer's texture array per kind.

Why baked textures rather than noise in the fragment shader: software GL (llvmpipe) pays for every shader
instruction per pixel, while a mipmapped texture fetch is cheap and is also the anti-aliasing: distant ground
reads pre-filtered mip levels, so textures do not shimmer as the camera moves.

Contracts:
* :data:`TEXTURE_KINDS` fixes the layer order; a material names its kind, the renderer uploads one layer per kind.
* :func:`make_texture` returns a ``(TEXTURE_SIZE, TEXTURE_SIZE, 3)`` uint8 image that tiles seamlessly, a pure
  function of ``(kind, variant)`` (cached per process), so a world's pixels depend only on its seed.
* :data:`TEXTURE_METRES` is the world size one repeat of the texture covers; meshes derive UVs from it so texel
  density is consistent across objects.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from engine.errors import ConfigError
from engine.synth.noise import fbm, ridged, value_noise

TEXTURE_SIZE = 256
#: Variants per kind (different noise seeds and small colour shifts); worlds pick one per kind.
NUM_VARIANTS = 4

TEXTURE_KINDS: tuple[str, ...] = (
    "flat", "grass", "dirt", "sand", "snow", "rock", "gravel", "paving", "asphalt", "brick",
    "facade", "concrete", "planks", "bark", "leaves", "roof", "painted", "moss", "blocks",
)

#: Metres of world covered by one repeat of each texture.
TEXTURE_METRES: dict[str, float] = {
    "flat": 1.0, "grass": 2.0, "dirt": 2.5, "sand": 3.0, "snow": 3.0, "rock": 2.0, "gravel": 1.5,
    "paving": 2.0, "asphalt": 3.0, "brick": 2.0, "facade": 6.0, "concrete": 3.0, "planks": 1.2, "bark": 1.0,
    "leaves": 1.5, "roof": 2.0, "painted": 2.0, "moss": 2.0, "blocks": 2.4,
}


def layer_of(kind: str) -> int:
    """The texture-array layer of ``kind``; raises :class:`ConfigError` for an unknown kind."""
    try:
        return TEXTURE_KINDS.index(kind)
    except ValueError:
        raise ConfigError(f"texture kind {kind!r}: expected one of {', '.join(TEXTURE_KINDS)}") from None


def _lerp(a, b, t):
    t = np.asarray(t)[..., None]
    return np.asarray(a, dtype=np.float64) * (1.0 - t) + np.asarray(b, dtype=np.float64) * t


def _smooth(e0: float, e1: float, x: np.ndarray) -> np.ndarray:
    t = np.clip((x - e0) / (e1 - e0), 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def _to_u8(rgb: np.ndarray) -> np.ndarray:
    return np.clip(np.round(rgb * 255.0), 0, 255).astype(np.uint8)


def _shift(color: tuple[float, float, float], rng: np.random.Generator, amount: float = 0.06) -> np.ndarray:
    """A colour nudged per variant so two worlds' grass is not the same green."""
    return np.clip(np.asarray(color) * (1.0 + rng.uniform(-amount, amount, 3)), 0.0, 1.0)


def _grid_cells(size: int, rows: int, cols: int, offset_rows: bool):
    """Per-pixel (row, col, v-in-cell, u-in-cell) of a brick/tile grid; odd rows shifted by half a cell if asked."""
    y = (np.arange(size) + 0.5)[:, None] * rows / size
    x = (np.arange(size) + 0.5)[None, :] * cols / size
    row = np.floor(y).astype(np.int64).repeat(size, 1)
    shifted = x + (0.5 * (row % 2) if offset_rows else 0.0)
    col = np.floor(shifted).astype(np.int64) % cols
    return row, col, y - np.floor(y), shifted - np.floor(shifted)


def _edge_distance(fu: np.ndarray, fv: np.ndarray, aspect: float) -> np.ndarray:
    """Distance (in cell heights) from a point in a cell to the nearest cell edge."""
    return np.minimum(np.minimum(fv, 1.0 - fv), np.minimum(fu, 1.0 - fu) * aspect)


def _grass(rng, s):
    base = fbm(s, 4, rng, octaves=3)
    blades = value_noise(s, 128, rng) * 0.6 + value_noise(s, 64, rng) * 0.4
    col = _lerp(_shift((0.20, 0.36, 0.10), rng), _shift((0.42, 0.55, 0.20), rng), base)
    col *= (0.70 + 0.55 * blades)[..., None]
    dry = _smooth(0.62, 0.8, fbm(s, 8, rng, octaves=3))
    col = _lerp(col, _shift((0.55, 0.50, 0.28), rng) * (0.8 + 0.4 * blades)[..., None], dry * 0.6)
    return col


def _dirt(rng, s):
    base = fbm(s, 4, rng, octaves=5)
    col = _lerp(_shift((0.30, 0.22, 0.15), rng), _shift((0.50, 0.40, 0.28), rng), base)
    pebbles = _smooth(0.78, 0.84, value_noise(s, 64, rng))
    col = _lerp(col, (0.58, 0.55, 0.50), pebbles * 0.7)
    return col * (0.85 + 0.3 * value_noise(s, 128, rng))[..., None]


def _sand(rng, s):
    y = (np.arange(s) + 0.5)[:, None] / s
    warp = fbm(s, 4, rng, octaves=3)
    ripples = 0.5 + 0.5 * np.sin(2 * np.pi * (y * 12 + warp * 3.0))
    col = _lerp(_shift((0.72, 0.60, 0.40), rng), _shift((0.88, 0.78, 0.56), rng), 0.6 * ripples + 0.4 * fbm(s, 8, rng))
    return col * (0.9 + 0.2 * value_noise(s, 128, rng))[..., None]


def _snow(rng, s):
    base = fbm(s, 4, rng, octaves=5)
    col = _lerp(_shift((0.78, 0.83, 0.92), rng, 0.03), (0.97, 0.98, 1.0), base)
    return col * (0.95 + 0.08 * value_noise(s, 128, rng))[..., None]


def _rock(rng, s):
    base = fbm(s, 4, rng, octaves=5)
    cracks = ridged(s, 4, rng, octaves=3)
    col = _lerp(_shift((0.32, 0.31, 0.30), rng), _shift((0.60, 0.58, 0.55), rng), base)
    col *= (1.0 - 0.55 * _smooth(0.75, 0.95, cracks))[..., None]
    lichen = _smooth(0.65, 0.75, fbm(s, 8, rng, octaves=3))
    return _lerp(col, _shift((0.45, 0.48, 0.30), rng) * base[..., None], lichen * 0.4)


def _gravel(rng, s):
    cells = value_noise(s, 96, rng)
    big = value_noise(s, 48, rng)
    col = _lerp(_shift((0.35, 0.33, 0.31), rng), _shift((0.70, 0.67, 0.62), rng), 0.5 * cells + 0.5 * big)
    return col * (0.8 + 0.3 * fbm(s, 8, rng))[..., None]


def _paving(rng, s):
    row, col_idx, fv, fu = _grid_cells(s, 4, 4, offset_rows=False)
    tile = rng.random((4, 4))[row % 4, col_idx]
    edge = _edge_distance(fu, fv, 1.0)
    grout = _smooth(0.02, 0.06, edge)
    stone = _lerp(_shift((0.50, 0.48, 0.45), rng), _shift((0.70, 0.66, 0.60), rng), 0.6 * tile + 0.4 * fbm(s, 8, rng))
    stone *= (0.9 + 0.2 * value_noise(s, 128, rng))[..., None]
    return _lerp((0.25, 0.24, 0.22), stone, grout)


def _asphalt(rng, s):
    col = _lerp(_shift((0.16, 0.16, 0.17), rng), _shift((0.30, 0.30, 0.31), rng), fbm(s, 8, rng, octaves=4))
    specks = _smooth(0.8, 0.9, value_noise(s, 128, rng))
    return _lerp(col, (0.55, 0.55, 0.55), specks * 0.5)


def _brick(rng, s):
    row, col_idx, fv, fu = _grid_cells(s, 8, 4, offset_rows=True)
    brick = rng.random((8, 4))[row % 8, col_idx]
    edge = _edge_distance(fu, fv, 2.0)
    mortar = _smooth(0.05, 0.12, edge)
    red = _lerp(_shift((0.45, 0.18, 0.12), rng), _shift((0.66, 0.34, 0.22), rng), 0.7 * brick + 0.3 * fbm(s, 8, rng))
    red *= (0.88 + 0.24 * value_noise(s, 128, rng))[..., None]
    return _lerp((0.70, 0.68, 0.62), red, mortar)


def _facade(rng, s):
    # 2 bays x 2 floors of 3 m: wall with one window per cell (frame, sill, glass with a sky reflection)
    wall = _lerp(_shift((0.70, 0.68, 0.64), rng), (0.88, 0.86, 0.82), fbm(s, 8, rng, octaves=4))
    row, col_idx, fv, fu = _grid_cells(s, 2, 2, offset_rows=False)
    width = rng.uniform(0.45, 0.62)
    bottom, top = rng.uniform(0.25, 0.35), rng.uniform(0.78, 0.86)  # window spans fv in [1-top, 1-bottom]
    inx = np.abs(fu - 0.5) < width / 2
    iny = (fv > 1.0 - top) & (fv < 1.0 - bottom)
    frame_x = np.abs(np.abs(fu - 0.5) - width / 2) < 0.035
    frame_y = (np.abs(fv - (1.0 - top)) < 0.035) | (np.abs(fv - (1.0 - bottom)) < 0.05)
    glass = _lerp(_shift((0.12, 0.16, 0.22), rng), _shift((0.45, 0.55, 0.65), rng), np.clip(1.3 - fv * 1.4 + 0.2 * fu, 0, 1))
    lit = rng.random((2, 2))[row, col_idx] < 0.15
    glass = np.where(lit[..., None], glass * 0.4 + np.array([0.55, 0.48, 0.30]), glass)
    col = np.where((inx & iny)[..., None], glass, wall)
    frame = ((frame_x & (iny | frame_y)) | (frame_y & (inx | frame_x))) & (np.abs(fu - 0.5) < width / 2 + 0.04)
    col = np.where(frame[..., None], np.array([0.92, 0.92, 0.90]), col)
    return col


def _concrete(rng, s):
    col = _lerp(_shift((0.52, 0.52, 0.50), rng, 0.02), _shift((0.72, 0.71, 0.68), rng, 0.02), fbm(s, 4, rng, octaves=6))
    stains = _smooth(0.6, 0.9, fbm(s, 4, rng, octaves=3))
    col *= (1.0 - 0.25 * stains)[..., None]
    # formwork seams every 1.5 m (two per repeat)
    x = (np.arange(s) + 0.5)[None, :] / s * 2
    seam = _smooth(0.0, 0.02, np.abs(x - np.round(x)))
    return col * (0.75 + 0.25 * seam)[..., None]


def _planks(rng, s):
    row, _, fv, _ = _grid_cells(s, 6, 1, offset_rows=False)
    tone = rng.random(6)[row]
    y = (np.arange(s) + 0.5)[:, None] / s
    x = (np.arange(s) + 0.5)[None, :] / s
    grain = 0.5 + 0.5 * np.sin(2 * np.pi * (x * 3 + 6 * fbm(s, 4, rng, octaves=3) + y * 20))
    col = _lerp(_shift((0.42, 0.27, 0.14), rng), _shift((0.68, 0.50, 0.30), rng), 0.5 * tone + 0.35 * grain + 0.15)
    gap = _smooth(0.02, 0.07, np.minimum(fv, 1 - fv))
    return col * (0.35 + 0.65 * gap)[..., None]


def _bark(rng, s):
    x = (np.arange(s) + 0.5)[None, :] / s
    warp = fbm(s, 4, rng, octaves=4)
    streak = 0.5 + 0.5 * np.sin(2 * np.pi * (x * 10 + warp * 2))
    col = _lerp(_shift((0.20, 0.14, 0.09), rng), _shift((0.42, 0.32, 0.22), rng), 0.6 * streak + 0.4 * fbm(s, 16, rng))
    return col


def _leaves(rng, s):
    clumps = fbm(s, 8, rng, octaves=4)
    leaves = value_noise(s, 64, rng) * 0.5 + value_noise(s, 128, rng) * 0.5
    col = _lerp(_shift((0.10, 0.24, 0.06), rng), _shift((0.36, 0.52, 0.16), rng), 0.55 * clumps + 0.45 * leaves)
    holes = _smooth(0.2, 0.35, clumps)
    return col * (0.45 + 0.55 * holes)[..., None]


def _roof(rng, s):
    row, col_idx, fv, fu = _grid_cells(s, 8, 6, offset_rows=True)
    tile = rng.random((8, 6))[row % 8, col_idx]
    shade = 0.55 + 0.45 * fv  # each row of tiles darker at its upper edge (overlap)
    col = _lerp(_shift((0.40, 0.16, 0.10), rng), _shift((0.62, 0.30, 0.18), rng), 0.6 * tile + 0.4 * fbm(s, 8, rng))
    return col * shade[..., None]


def _painted(rng, s):
    base = 0.88 + 0.12 * fbm(s, 8, rng, octaves=5)
    wear = _smooth(0.68, 0.8, fbm(s, 4, rng, octaves=5))
    col = np.repeat(base[..., None], 3, axis=2)
    return _lerp(col, (0.45, 0.43, 0.40), wear * 0.8)


def _moss(rng, s):
    base = fbm(s, 4, rng, octaves=5)
    col = _lerp(_shift((0.16, 0.22, 0.08), rng), _shift((0.36, 0.40, 0.16), rng), base)
    needles = _smooth(0.7, 0.8, value_noise(s, 96, rng))
    col = _lerp(col, _shift((0.38, 0.26, 0.14), rng), needles * 0.7)
    return col * (0.8 + 0.3 * value_noise(s, 128, rng))[..., None]


def _blocks(rng, s):
    row, col_idx, fv, fu = _grid_cells(s, 4, 2, offset_rows=True)
    block = rng.random((4, 2))[row % 4, col_idx]
    edge = _edge_distance(fu, fv, 2.0)
    joint = _smooth(0.02, 0.08, edge)
    col = _lerp(_shift((0.62, 0.57, 0.48), rng), _shift((0.82, 0.77, 0.66), rng), 0.5 * block + 0.5 * fbm(s, 8, rng, octaves=5))
    col *= (1.0 - 0.4 * _smooth(0.8, 0.95, ridged(s, 4, rng, octaves=3)))[..., None]
    return col * (0.45 + 0.55 * joint)[..., None]


def _flat(rng, s):
    return np.ones((s, s, 3))


_GENERATORS = {
    "flat": _flat, "grass": _grass, "dirt": _dirt, "sand": _sand, "snow": _snow, "rock": _rock, "gravel": _gravel,
    "paving": _paving, "asphalt": _asphalt, "brick": _brick, "facade": _facade, "concrete": _concrete,
    "planks": _planks, "bark": _bark, "leaves": _leaves, "roof": _roof, "painted": _painted, "moss": _moss,
    "blocks": _blocks,
}
assert tuple(_GENERATORS) == TEXTURE_KINDS


@lru_cache(maxsize=len(TEXTURE_KINDS) * NUM_VARIANTS)
def make_texture(kind: str, variant: int = 0) -> np.ndarray:
    """The ``(TEXTURE_SIZE, TEXTURE_SIZE, 3)`` uint8 texture of ``kind`` (read-only; cached per process)."""
    layer = layer_of(kind)
    if not 0 <= variant < NUM_VARIANTS:
        raise ConfigError(f"texture variant: expected 0..{NUM_VARIANTS - 1}, found {variant}")
    rng = np.random.default_rng([7919, layer, variant])
    image = _to_u8(_GENERATORS[kind](rng, TEXTURE_SIZE))
    image.setflags(write=False)
    return image


def texture_stack(variants: tuple[int, ...]) -> np.ndarray:
    """All kinds stacked in layer order, ``variants[i]`` for kind ``i``: ``(L, S, S, 3)`` uint8."""
    if len(variants) != len(TEXTURE_KINDS):
        raise ConfigError(f"texture variants: expected {len(TEXTURE_KINDS)} entries, found {len(variants)}")
    return np.stack([make_texture(kind, v) for kind, v in zip(TEXTURE_KINDS, variants)])


@lru_cache(maxsize=NUM_VARIANTS)
def cloud_texture(variant: int = 0) -> np.ndarray:
    """Tileable ``(TEXTURE_SIZE, TEXTURE_SIZE)`` uint8 cloud density (fractal noise, contrast-stretched)."""
    if not 0 <= variant < NUM_VARIANTS:
        raise ConfigError(f"cloud variant: expected 0..{NUM_VARIANTS - 1}, found {variant}")
    rng = np.random.default_rng([7919, 1000, variant])
    n = fbm(TEXTURE_SIZE, 2, rng, octaves=6, gain=0.5)
    n = (n - n.min()) / (n.max() - n.min())
    image = _to_u8(n)
    image.setflags(write=False)
    return image
