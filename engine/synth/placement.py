"""Where a world's objects stand: the objects of each theme, placed by rejection sampling on the terrain.

A pure function of the random generator it is given: :func:`engine.synth.world.make_world` passes its seeded
generator after drawing the terrain and the weather, so the same seed places the same objects. Inside the play
area objects keep gaps of >= 2.5 m so cameras can pass between them.
"""

from __future__ import annotations

import math

import numpy as np

from engine.errors import ConfigError
from engine.synth.scene import Color, Material, SceneObject, Terrain, yaw_rotation


def place_objects(theme: str, rng: np.random.Generator, terrain: Terrain, play: float) -> tuple[SceneObject, ...]:
    """The objects of a ``theme`` world on ``terrain`` (play-area radius ``play`` metres), drawn from ``rng``."""
    placer = _Placer(rng, terrain)
    _populate(theme, placer, play)
    return tuple(placer.objects)


def jitter_tint(rng: np.random.Generator, base: Color, spread: float = 0.1) -> Color:
    """``base`` with each channel scaled by a random factor in ``1 ± spread`` (clipped to ``[0, 1.5]``)."""
    return tuple(float(v) for v in np.clip(np.asarray(base) * (1.0 + rng.uniform(-spread, spread, 3)), 0.0, 1.5))  # type: ignore[return-value]


class _Placer:
    """Rejection sampling of non-overlapping footprints (circles) on the ground."""

    def __init__(self, rng: np.random.Generator, terrain: Terrain) -> None:
        self.rng = rng
        self.terrain = terrain
        self.objects: list[SceneObject] = []
        self._circles: list[tuple[float, float, float]] = []

    def free(self, x: float, z: float, r: float, gap: float) -> bool:
        return all(math.hypot(x - cx, z - cz) >= r + cr + gap for cx, cz, cr in self._circles)

    def spot(self, r: float, r_min: float, r_max: float, gap: float, tries: int = 30) -> tuple[float, float] | None:
        """A random free point at distance ``r_min..r_max`` from the origin (area-uniform), or None."""
        for _ in range(tries):
            d = math.sqrt(self.rng.uniform(r_min**2, r_max**2))
            a = self.rng.uniform(0.0, 2.0 * math.pi)
            x, z = d * math.cos(a), d * math.sin(a)
            if self.free(x, z, r, gap):
                return x, z
        return None

    def ground_y(self, x: float, z: float, footprint: float) -> float:
        """Base ``y`` for an object of footprint radius ``footprint``: the lowest ground under it (no floating)."""
        xs = x + footprint * np.array([0.0, 1, -1, 0, 0, 0.7, -0.7, 0.7, -0.7])
        zs = z + footprint * np.array([0.0, 0, 0, 1, -1, 0.7, 0.7, -0.7, -0.7])
        return float(-self.terrain.elevation_at(xs, zs).min())

    def add(self, obj: SceneObject, footprint: float | None = None) -> None:
        self.objects.append(obj)
        self._circles.append((float(obj.position[0]), float(obj.position[2]), obj.radius if footprint is None else footprint))

_PAINT = ((0.85, 0.25, 0.2), (0.2, 0.45, 0.8), (0.9, 0.75, 0.2), (0.25, 0.6, 0.35), (0.9, 0.9, 0.88), (0.9, 0.5, 0.2))


def _tree(p: _Placer, x: float, z: float, pine: bool) -> SceneObject:
    rng = p.rng
    if pine:
        height = rng.uniform(4.0, 9.0)
        canopy = rng.uniform(0.22, 0.32) * height
        leaves = Material("leaves", jitter_tint(rng, (0.62, 0.8, 0.62), 0.12))
    else:
        height = rng.uniform(3.5, 7.0)
        canopy = rng.uniform(0.3, 0.42) * height
        leaves = Material("leaves", jitter_tint(rng, (1.0, 1.0, 0.9), 0.18))
    trunk = Material("bark", jitter_tint(rng, (1.0, 1.0, 1.0), 0.1))
    y = p.ground_y(x, z, 0.3)
    return SceneObject("tree", (x, y + 0.05, z), yaw_rotation(rng.uniform(0, 2 * math.pi)),
                       (2 * canopy, height, 2 * canopy), (trunk, leaves), radius=canopy, variant=int(pine))


def _rock(p: _Placer, x: float, z: float, size: float, tint: Color = (1.0, 1.0, 1.0)) -> SceneObject:
    rng = p.rng
    w, h, d = size * rng.uniform(0.8, 1.2), size * rng.uniform(0.45, 0.8), size * rng.uniform(0.8, 1.2)
    y = p.ground_y(x, z, 0.5 * max(w, d)) + 0.15 * h
    return SceneObject("rock", (x, y, z), yaw_rotation(rng.uniform(0, 2 * math.pi)), (w, h, d),
                       (Material("rock", jitter_tint(rng, tint, 0.1)),), radius=0.5 * max(w, d), variant=int(rng.integers(1 << 30)))


def _box(p: _Placer, x: float, z: float, size: tuple[float, float, float], material: Material, yaw: float,
         base_y: float | None = None) -> SceneObject:
    w, h, d = size
    y = p.ground_y(x, z, 0.5 * math.hypot(w, d)) + 0.02 if base_y is None else base_y
    return SceneObject("box", (x, y, z), yaw_rotation(yaw), size, (material,), radius=0.5 * math.hypot(w, d))


def _pillar(p: _Placer, x: float, z: float, diameter: float, height: float, material: Material, square: bool,
            yaw: float = 0.0, plain: bool = False) -> SceneObject:
    """A column (round or square, with base and capital) or, ``plain``, a capped cylinder (barrel, bollard)."""
    y = p.ground_y(x, z, diameter * 0.6) + 0.02
    variant = 2 if plain else int(square)
    return SceneObject("pillar", (x, y, z), yaw_rotation(yaw), (diameter, height, diameter), (material,),
                       radius=0.5 * diameter * (1.42 if square else 1.0) + 0.1, variant=variant)


def _building(p: _Placer, x: float, z: float, bays: tuple[int, int], floors: int, walls: Material,
              roof: Material, yaw: float, gable: bool) -> SceneObject:
    w, d = 3.0 * bays[0], 3.0 * bays[1]
    h = 3.0 * floors
    y = p.ground_y(x, z, 0.5 * math.hypot(w, d)) + 0.05
    return SceneObject("building", (x, y, z), yaw_rotation(yaw), (w, h, d), (walls, roof),
                       radius=0.5 * math.hypot(w, d), variant=int(gable))


def _populate(theme: str, p: _Placer, play: float) -> None:
    """Place the theme's objects. Inside the play area objects keep gaps of >= 2.5 m so cameras can pass."""
    rng = p.rng
    far = 90.0

    def scatter(n: int, radius: tuple[float, float], r_range: tuple[float, float], gap: float, make) -> None:
        for _ in range(n):
            r = rng.uniform(*r_range)
            spot = p.spot(r, radius[0], radius[1], gap)
            if spot is not None:
                p.add(make(spot[0], spot[1], r))

    if theme in ("meadow", "forest", "snow"):
        dense = theme == "forest"
        pine_share = {"meadow": 0.25, "forest": 0.7, "snow": 0.95}[theme]
        n_trees = int(rng.integers(90, 140)) if dense else int(rng.integers(25, 50))
        # clustered: pick a few grove centres, then trees around them (a forest is uniformly dense instead)
        groves = [p.spot(2.0, 6.0, 50.0, 0.0) or (0.0, 30.0) for _ in range(int(rng.integers(4, 9)))]
        for i in range(n_trees):
            pine = rng.random() < pine_share
            if dense:
                spot = p.spot(2.0, 3.0, 70.0, 2.5)
            elif i % 3 == 0:
                spot = p.spot(2.0, 4.0, far, 2.5)
            else:
                gx, gz = groves[int(rng.integers(len(groves)))]
                spot = None
                for _ in range(15):
                    x, z = gx + rng.normal(0, 9.0), gz + rng.normal(0, 9.0)
                    if math.hypot(x, z) > 3.0 and p.free(x, z, 2.0, 2.5):
                        spot = (x, z)
                        break
            if spot is not None:
                p.add(_tree(p, spot[0], spot[1], pine))
        rock_tint = (0.95, 0.95, 1.0) if theme == "snow" else (1.0, 1.0, 1.0)
        scatter(int(rng.integers(12, 30)), (3.0, far), (0.3, 1.6), 2.5, lambda x, z, r: _rock(p, x, z, 2 * r, rock_tint))
        if theme == "meadow":
            for _ in range(int(rng.integers(2, 6))):  # hay bales / crates
                spot = p.spot(1.0, 5.0, 40.0, 2.5)
                if spot:
                    p.add(_box(p, *spot, (1.2, 1.0, 1.2), Material("planks", jitter_tint(rng, (1, 0.95, 0.8))), rng.uniform(0, 6.3)))
            if rng.random() < 0.6:
                spot = p.spot(6.0, 18.0, 45.0, 3.0)
                if spot:
                    p.add(_building(p, *spot, (int(rng.integers(2, 4)), int(rng.integers(2, 4))), int(rng.integers(1, 3)),
                                    Material("planks", jitter_tint(rng, (0.85, 0.5, 0.4), 0.15)), Material("roof"),
                                    rng.uniform(0, 6.3), gable=True))
    elif theme == "desert":
        scatter(int(rng.integers(20, 40)), (3.0, far), (0.3, 1.8), 2.5, lambda x, z, r: _rock(p, x, z, 2 * r, (1.0, 0.9, 0.78)))
        scatter(int(rng.integers(4, 9)), (25.0, far), (4.0, 9.0), 3.0, lambda x, z, r: _rock(p, x, z, 2 * r, (1.0, 0.85, 0.7)))
        blocks = Material("blocks", jitter_tint(rng, (1.0, 0.92, 0.78)))
        for _ in range(int(rng.integers(1, 3))):  # a colonnade
            spot = p.spot(8.0, 8.0, 35.0, 2.0)
            if spot is None:
                continue
            yaw = rng.uniform(0, math.pi)
            ax = np.array([math.cos(yaw), math.sin(yaw)])
            for k in range(int(rng.integers(3, 7))):
                q = np.array(spot) + ax * (k * 3.2 - 8.0)
                if p.free(q[0], q[1], 0.6, 1.0):
                    h = rng.uniform(2.0, 5.5) if rng.random() < 0.5 else 5.5
                    p.add(_pillar(p, q[0], q[1], 0.8, h, blocks, square=False))
        scatter(int(rng.integers(3, 8)), (4.0, 40.0), (0.5, 0.9), 2.5,
                lambda x, z, r: _box(p, x, z, (1.2 * r, 0.9 * r, 1.2 * r), Material("planks"), rng.uniform(0, 6.3)))
    elif theme == "town":
        cell = 18.0
        facade_tints = ((1.0, 0.95, 0.85), (0.95, 0.85, 0.75), (0.85, 0.9, 1.0), (1.0, 0.85, 0.8), (0.9, 0.9, 0.9))
        for i in range(-5, 6):
            for j in range(-5, 6):
                cx, cz = i * cell, j * cell
                if math.hypot(cx, cz) < 12.0 or rng.random() < 0.15:
                    continue
                bays = (int(rng.integers(2, 5)), int(rng.integers(2, 5)))
                floors = int(rng.integers(2, 7))
                wall_kind = "facade" if rng.random() < 0.7 else "brick"
                walls = Material(wall_kind, jitter_tint(rng, facade_tints[int(rng.integers(len(facade_tints)))], 0.05))
                roof = Material("roof" if floors <= 3 else "concrete", jitter_tint(rng, (1, 1, 1)))
                x = cx + rng.uniform(-1.5, 1.5)
                z = cz + rng.uniform(-1.5, 1.5)
                b = _building(p, x, z, bays, floors, walls, roof, rng.integers(4) * math.pi / 2, gable=floors <= 3)
                if p.free(x, z, b.radius * 0.7, 1.0):
                    p.add(b, footprint=b.radius * 0.75)
        lamp = Material("painted", (0.25, 0.27, 0.3))
        for k in range(int(rng.integers(6, 14))):  # posts along the streets
            i, j = rng.integers(-3, 4, 2)
            x, z = (i + 0.5) * cell + 4.2 * (1 if k % 2 else -1), j * cell + rng.uniform(-6, 6)
            if rng.random() < 0.5:
                x, z = z, x
            if p.free(x, z, 0.3, 1.5):
                p.add(_pillar(p, x, z, 0.22, rng.uniform(3.5, 5.0), lamp, square=False))
        scatter(int(rng.integers(4, 10)), (3.0, 40.0), (0.5, 1.0), 2.5,
                lambda x, z, r: _box(p, x, z, (1.1 * r, r, 1.1 * r),
                                     Material("painted", _PAINT[int(rng.integers(len(_PAINT)))]), rng.uniform(0, 6.3)))
        for _ in range(int(rng.integers(6, 14))):
            spot = p.spot(1.5, 5.0, 50.0, 2.5)
            if spot:
                p.add(_tree(p, *spot, pine=False))
    elif theme == "ruins":
        blocks = Material("blocks", jitter_tint(rng, (1.0, 0.97, 0.9)))
        for _ in range(int(rng.integers(2, 4))):  # colonnades with pillar pairs
            spot = p.spot(6.0, 6.0, 40.0, 2.0)
            if spot is None:
                continue
            yaw = rng.uniform(0, math.pi)
            ax = np.array([math.cos(yaw), math.sin(yaw)])
            side = np.array([-ax[1], ax[0]])
            square = bool(rng.random() < 0.4)
            for k in range(int(rng.integers(3, 7))):
                for s in (-1, 1):
                    q = np.array(spot) + ax * (k * 3.5 - 8.0) + side * s * 2.8
                    if p.free(q[0], q[1], 0.6, 1.2):
                        h = 6.0 if rng.random() < 0.6 else rng.uniform(1.0, 5.0)
                        p.add(_pillar(p, q[0], q[1], 0.9, h, blocks, square=square, yaw=yaw))
        for _ in range(int(rng.integers(4, 9))):  # broken walls
            spot = p.spot(2.5, 6.0, 60.0, 2.5)
            if spot:
                p.add(_box(p, *spot, (rng.uniform(3.0, 6.0), rng.uniform(1.0, 3.0), 0.7), blocks, rng.uniform(0, 6.3)))
        scatter(int(rng.integers(10, 20)), (3.0, far), (0.3, 1.2), 2.5, lambda x, z, r: _rock(p, x, z, 2 * r))
        for _ in range(int(rng.integers(6, 16))):
            spot = p.spot(2.0, 8.0, far, 2.5)
            if spot:
                p.add(_tree(p, *spot, pine=bool(rng.random() < 0.5)))
    elif theme == "industrial":
        for _ in range(int(rng.integers(5, 10))):  # warehouses further out
            spot = p.spot(10.0, 20.0, far, 3.0)
            if spot:
                b = _building(p, *spot, (int(rng.integers(3, 7)), int(rng.integers(3, 6))), int(rng.integers(2, 5)),
                              Material("concrete", jitter_tint(rng, (1.0, 0.97, 0.92))), Material("concrete"),
                              rng.integers(4) * math.pi / 2, gable=False)
                p.add(b)
        for _ in range(int(rng.integers(6, 14))):  # containers and stacks of crates
            spot = p.spot(3.0, 4.0, 50.0, 2.5)
            if not spot:
                continue
            yaw = rng.integers(4) * math.pi / 2 + rng.uniform(-0.1, 0.1)
            paint = Material("painted", _PAINT[int(rng.integers(len(_PAINT)))])
            if rng.random() < 0.5:
                p.add(_box(p, *spot, (2.4, 2.6, 6.0), paint, yaw))
            else:
                base = _box(p, *spot, (1.4, 1.2, 1.4), Material("planks"), yaw)
                p.add(base)
                if rng.random() < 0.6:
                    top = base.position[1] - 1.2
                    p.objects.append(_box(p, *spot, (1.1, 1.0, 1.1), Material("planks", (0.9, 0.85, 0.8)), yaw + 0.4, base_y=top))
        pillar = Material("concrete", (0.9, 0.9, 0.9))
        for _ in range(int(rng.integers(2, 5))):  # rows of square columns
            spot = p.spot(4.0, 6.0, 40.0, 2.5)
            if spot is None:
                continue
            yaw = rng.integers(2) * math.pi / 2
            ax = np.array([math.cos(yaw), math.sin(yaw)])
            for k in range(int(rng.integers(3, 6))):
                q = np.array(spot) + ax * k * 4.0
                if p.free(q[0], q[1], 0.5, 1.5):
                    p.add(_pillar(p, q[0], q[1], 0.6, rng.uniform(4.0, 7.0), pillar, square=True, yaw=yaw))
        scatter(int(rng.integers(3, 8)), (3.0, far), (0.3, 0.9), 2.5, lambda x, z, r: _rock(p, x, z, 2 * r))
    else:  # pragma: no cover - guarded by make_world
        raise ConfigError(f"theme {theme!r}")
    _clutter(theme, p)


def _bush(p: _Placer, x: float, z: float, size: float, tint: Color) -> SceneObject:
    rng = p.rng
    w, h, d = size * rng.uniform(0.8, 1.2), size * rng.uniform(0.5, 0.8), size * rng.uniform(0.8, 1.2)
    y = p.ground_y(x, z, 0.4 * max(w, d)) + 0.1 * h
    return SceneObject("bush", (x, y, z), yaw_rotation(rng.uniform(0, 2 * math.pi)), (w, h, d),
                       (Material("leaves", jitter_tint(rng, tint, 0.15)),), radius=0.5 * max(w, d),
                       variant=int(rng.integers(1 << 30)))


def _clutter(theme: str, p: _Placer) -> None:
    """Small things near the play area (3..30 m): what makes parallax visible at walking speed."""
    rng = p.rng
    n = int(rng.integers(20, 36))
    for _ in range(n):
        u = rng.random()
        size = rng.uniform(0.35, 1.0)
        spot = p.spot(size, 3.0, 30.0, 2.5)
        if spot is None:
            continue
        x, z = spot
        if theme in ("meadow", "forest", "ruins", "snow") and u < 0.55:
            tint = (0.85, 0.95, 0.85) if theme == "snow" else (1.0, 1.0, 0.85)
            p.add(_bush(p, x, z, 2 * size, tint))
        elif theme in ("town", "industrial") and u < 0.4:
            paint = Material("painted", _PAINT[int(rng.integers(len(_PAINT)))])
            diameter = 0.6 if u < 0.2 else 0.25  # barrel or bollard
            p.add(_pillar(p, x, z, diameter, 0.9, paint, square=False, plain=True))
        elif theme in ("town", "industrial", "ruins", "desert") and u < 0.75:
            tex = {"ruins": "blocks", "desert": "planks"}.get(theme, "planks")
            p.add(_box(p, x, z, (1.2 * size, size, 1.2 * size), Material(tex, jitter_tint(rng, (1, 0.95, 0.9))), rng.uniform(0, 6.3)))
        else:
            tint = {"desert": (1.0, 0.9, 0.78), "snow": (0.95, 0.95, 1.0)}.get(theme, (1.0, 1.0, 1.0))
            p.add(_rock(p, x, z, 1.6 * size, tint))
