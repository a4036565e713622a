"""Seeded procedural worlds: :func:`make_world` turns ``(seed, theme)`` into a :class:`World` (numpy only, no GL).

A :class:`World` is immutable and a pure function of ``(seed, theme)``: the same seed gives the same scene, and
the renderer then gives the same pixels. The world frame and the scene types are described in
:mod:`engine.synth.scene` (re-exported here, so ``from engine.synth.world import World`` keeps working); the
objects of each theme are placed by :mod:`engine.synth.placement`. This module holds the themes: their ground
materials, terrain relief and weathers (sky, sun, fog).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from engine.errors import ConfigError
from engine.synth.noise import Field2D
from engine.synth.placement import jitter_tint, place_objects
from engine.synth.scene import (
    OBJECT_KINDS,
    Color,
    Lighting,
    Material,
    SceneObject,
    Sky,
    Terrain,
    World,
    flat_terrain,
    yaw_rotation,
)
from engine.synth.textures import NUM_VARIANTS, TEXTURE_KINDS, layer_of, make_texture

__all__ = [
    "OBJECT_KINDS", "THEMES", "Color", "Lighting", "Material", "SceneObject", "Sky", "Terrain", "World",
    "flat_terrain", "make_world", "yaw_rotation",
]

#: World themes :func:`make_world` knows, in the order ``theme=None`` cycles through them by seed.
THEMES: tuple[str, ...] = ("meadow", "forest", "desert", "town", "snow", "ruins", "industrial")


def _grid_coords(extent: float, n: int, centre_spacing: float) -> np.ndarray:
    """``n`` ascending coordinates over ``[-extent, extent]``, about ``centre_spacing`` apart at the centre and
    coarser outward (``x = extent (a s + (1 - a) s^3)``), so detail sits where the camera is."""
    s = np.linspace(-1.0, 1.0, n)
    a = min(1.0, centre_spacing * (n - 1) / (2.0 * extent))
    return extent * (a * s + (1.0 - a) * s**3)


def _smoothstep(e0: float, e1: float, x: np.ndarray) -> np.ndarray:
    t = np.clip((x - e0) / (e1 - e0), 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


@dataclass(frozen=True)
class _ThemeSpec:
    ground: tuple[str, str]
    ground_tints: tuple[Color, Color]
    blend_scale: float  # metres per cell of the ground-mix noise
    blend_bias: float  # higher = more of material b
    bumps: float  # elevation amplitude (m) inside the play area
    hills: float  # elevation amplitude (m) outside it
    weathers: tuple[str, ...]


_THEMES: dict[str, _ThemeSpec] = {
    "meadow": _ThemeSpec(("grass", "dirt"), ((1, 1, 1), (1, 1, 1)), 9.0, -0.12, 0.25, 28.0, ("clear", "hazy", "golden")),
    "forest": _ThemeSpec(("moss", "dirt"), ((1, 1, 1), (0.9, 0.9, 0.9)), 7.0, -0.05, 0.3, 22.0, ("clear", "hazy", "overcast")),
    "desert": _ThemeSpec(("sand", "gravel"), ((1, 1, 1), (1.0, 0.92, 0.8)), 14.0, -0.2, 0.35, 18.0, ("clear", "golden", "hazy")),
    "town": _ThemeSpec(("paving", "asphalt"), ((1, 1, 1), (1, 1, 1)), 0.0, 0.0, 0.0, 14.0, ("clear", "overcast", "golden")),
    "snow": _ThemeSpec(("snow", "rock"), ((0.82, 0.84, 0.88), (0.95, 0.95, 1.0)), 10.0, -0.25, 0.3, 45.0, ("overcast", "clear", "hazy")),
    "ruins": _ThemeSpec(("grass", "gravel"), ((0.95, 0.95, 0.8), (1, 1, 1)), 8.0, -0.05, 0.2, 20.0, ("golden", "clear", "hazy")),
    "industrial": _ThemeSpec(("concrete", "asphalt"), ((0.66, 0.67, 0.7), (1, 1, 1)), 11.0, 0.1, 0.05, 10.0, ("overcast", "clear", "golden")),
}


def _weather(name: str, rng: np.random.Generator, ground_color: np.ndarray) -> tuple[Sky, Lighting]:
    """Sky and light for a weather preset, jittered by ``rng``."""
    azimuth = rng.uniform(0.0, 2.0 * math.pi)
    if name == "golden":
        elevation = math.radians(rng.uniform(6.0, 16.0))
        sky = Sky(zenith=(0.30, 0.42, 0.68), horizon=(0.98, 0.72, 0.50), cloud_cover=rng.uniform(0.1, 0.5),
                  cloud_color=(1.0, 0.80, 0.65))
        sun, sky_amb, fog = (1.35, 0.95, 0.62), (0.42, 0.42, 0.52), rng.uniform(0.004, 0.010)
        shadow = 1.0
    elif name == "overcast":
        elevation = math.radians(rng.uniform(30.0, 60.0))
        grey = rng.uniform(0.68, 0.80)
        sky = Sky(zenith=(grey - 0.08, grey - 0.05, grey), horizon=(grey + 0.08, grey + 0.09, grey + 0.1),
                  cloud_cover=0.95, cloud_color=(0.82, 0.83, 0.86))
        sun, sky_amb, fog = (0.45, 0.45, 0.46), (0.82, 0.84, 0.88), rng.uniform(0.008, 0.02)
        shadow = 0.35
    elif name == "hazy":
        elevation = math.radians(rng.uniform(20.0, 50.0))
        sky = Sky(zenith=(0.45, 0.58, 0.78), horizon=(0.82, 0.84, 0.85), cloud_cover=rng.uniform(0.0, 0.3),
                  cloud_color=(0.95, 0.95, 0.95))
        sun, sky_amb, fog = (1.05, 1.0, 0.92), (0.55, 0.58, 0.64), rng.uniform(0.008, 0.016)
        shadow = 0.8
    elif name == "clear":
        elevation = math.radians(rng.uniform(25.0, 65.0))
        sky = Sky(zenith=(0.18, 0.38, 0.78), horizon=(0.68, 0.80, 0.93), cloud_cover=rng.uniform(0.15, 0.55),
                  cloud_color=(1.0, 1.0, 1.0))
        sun, sky_amb, fog = (1.15, 1.08, 0.98), (0.45, 0.52, 0.65), rng.uniform(0.003, 0.008)
        shadow = 1.0
    else:
        raise ConfigError(f"weather {name!r}: expected golden, overcast, hazy or clear")
    direction = (
        math.cos(elevation) * math.sin(azimuth),
        -math.sin(elevation),
        math.cos(elevation) * math.cos(azimuth),
    )
    lighting = Lighting(
        sun_direction=direction,
        sun_color=sun,
        sky_ambient=sky_amb,
        ground_ambient=tuple(float(v) for v in 0.35 * ground_color + 0.1),  # type: ignore[arg-type]
        fog_density=fog,
        shadow_strength=shadow,
    )
    return sky, lighting

def make_world(seed: int, theme: str | None = None) -> World:
    """Build the world of ``seed`` (a pure function of its arguments).

    ``theme`` picks one of :data:`THEMES`; ``None`` draws one from the seed. Raises :class:`ConfigError`
    for an unknown theme or a negative seed.
    """
    if seed < 0:
        raise ConfigError(f"world seed: expected a non-negative integer, found {seed}")
    rng = np.random.default_rng([0x5A4A, seed])
    if theme is None:
        theme = THEMES[int(rng.integers(len(THEMES)))]
    if theme not in _THEMES:
        raise ConfigError(f"world theme {theme!r}: expected one of {', '.join(THEMES)}")
    spec = _THEMES[theme]
    play = 24.0

    # terrain: flat-ish play area, hills outside, mountains on the rim
    coords = _grid_coords(400.0, 97, centre_spacing=1.0)
    gx, gz = np.meshgrid(coords, coords)  # [iz, ix]
    r = np.hypot(gx, gz)
    bumps = Field2D(rng, scale=10.0, octaves=3)(gx, gz) - 0.5
    hills = Field2D(rng, scale=60.0, octaves=4)(gx, gz)
    mountains = Field2D(rng, scale=160.0, octaves=5)(gx, gz)
    elevation = spec.bumps * 2.0 * bumps
    elevation += spec.hills * _smoothstep(play + 6.0, play + 80.0, r) * hills
    elevation += 3.0 * spec.hills * _smoothstep(150.0, 380.0, r) * mountains
    if theme == "town":  # streets run between building cells: asphalt on the street bands
        cell = 18.0
        band = np.minimum(np.abs(((gx + cell / 2) % cell) - cell / 2), np.abs(((gz + cell / 2) % cell) - cell / 2))
        blend = 1.0 - _smoothstep(cell / 2 - 5.0, cell / 2 - 4.0, cell / 2 - band)
        blend = np.where(r < 12.0, 0.0, blend)
    else:
        mix_field = Field2D(rng, scale=max(spec.blend_scale, 1.0), octaves=4)(gx, gz)
        blend = _smoothstep(0.42, 0.58, mix_field + spec.blend_bias)
        blend = np.maximum(blend, _smoothstep(play + 40.0, 250.0, r) * (theme in ("snow", "desert")))
    shade = 0.85 + 0.3 * Field2D(rng, scale=18.0, octaves=3)(gx, gz)
    variants = tuple(int(v) for v in rng.integers(0, NUM_VARIANTS, len(TEXTURE_KINDS)))
    ground_a = Material(spec.ground[0], jitter_tint(rng, spec.ground_tints[0], 0.06))
    ground_b = Material(spec.ground[1], jitter_tint(rng, spec.ground_tints[1], 0.06))
    terrain = Terrain(coords, elevation, blend, shade, ground_a, ground_b)

    weather = spec.weathers[int(rng.integers(len(spec.weathers)))]
    ground_color = _ground_mean_color(ground_a, variants)
    sky, lighting = _weather(weather, rng, ground_color)

    objects = place_objects(theme, rng, terrain, play)
    return World(seed=seed, theme=theme, terrain=terrain, sky=sky, lighting=lighting, objects=objects,
                 texture_variants=variants, play_radius=play)


def _ground_mean_color(material: Material, variants: tuple[int, ...]) -> np.ndarray:
    layer = layer_of(material.texture)
    mean = make_texture(material.texture, variants[layer]).reshape(-1, 3).mean(axis=0) / 255.0
    return mean * np.asarray(material.tint)
