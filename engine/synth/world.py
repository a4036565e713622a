"""Seeded procedural worlds: a plain-data scene description (numpy only, no GL).

**World frame** (shared by the renderer, the trajectories and the dataset files). World axes are those of
the OpenCV camera at the identity pose: +X right (east), **+Y down**, +Z forward (north); "up" is −Y.
The MotionIntegrator yaws about world Y and moves in the XZ plane, so a camera keeps a constant world Y.
The ground is a heightfield: :meth:`Terrain.elevation_at` gives metres *up* at ``(x, z)`` and the surface
lies at world ``y = -elevation``. Around the origin (the *play area*, radius :attr:`World.play_radius`) the
terrain is nearly flat, so a camera at a fixed height keeps a sensible eye height; hills and mountains rise
further out. Units are metres; objects are sized like real things (trees, crates, houses) so the SANA-WM
motion constants (0.025 m and 0.6 deg per frame in ``v2``) produce plausible parallax.

A :class:`World` is immutable and a pure function of ``(seed, theme)`` (:func:`make_world`): the same
seed gives the same scene, and the renderer then gives the same pixels.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from engine.camera.poses import rot_y
from engine.errors import ConfigError
from engine.synth.noise import Field2D
from engine.synth.textures import NUM_VARIANTS, TEXTURE_KINDS, layer_of, make_texture

#: World themes :func:`make_world` knows, in the order ``theme=None`` cycles through them by seed.
THEMES: tuple[str, ...] = ("meadow", "forest", "desert", "town", "snow", "ruins", "industrial")

#: Object kinds the mesh builder knows.
OBJECT_KINDS: tuple[str, ...] = ("box", "building", "pillar", "tree", "bush", "rock", "sphere", "plate")

Color = tuple[float, float, float]


@dataclass(frozen=True)
class Material:
    """A surface: texture kind (a layer of the texture array), an RGB tint multiplied in, and emission.

    ``emissive`` in ``[0, 1]`` blends the lit colour toward the unlit albedo (1 = unlit, used for markers).
    """

    texture: str
    tint: Color = (1.0, 1.0, 1.0)
    emissive: float = 0.0

    def __post_init__(self) -> None:
        layer_of(self.texture)  # validates the kind


@dataclass(frozen=True, eq=False)
class SceneObject:
    """One object standing in the world.

    Attributes:
        kind: one of :data:`OBJECT_KINDS`.
        position: ``(3,)`` world point of the object's base centre (``y`` = the ground under it, for most kinds;
            the centre for ``sphere`` and ``plate``).
        rotation: ``(3, 3)`` local-to-world rotation (a yaw about world Y for most kinds).
        size: ``(3,)`` extents in metres ``(width x, height, depth z)`` in the object's local frame.
        materials: one per part (e.g. walls and roof; trunk and canopy); see :func:`engine.synth.meshes.object_mesh`.
        radius: horizontal collision radius around ``position`` in metres (cameras keep out of it).
        variant: shape variant (roof type, tree type, pillar type, rock and bush seed ...).
    """

    kind: str
    position: np.ndarray
    rotation: np.ndarray
    size: np.ndarray
    materials: tuple[Material, ...]
    radius: float
    variant: int = 0

    def __post_init__(self) -> None:
        if self.kind not in OBJECT_KINDS:
            raise ConfigError(f"scene object kind {self.kind!r}: expected one of {', '.join(OBJECT_KINDS)}")
        object.__setattr__(self, "position", np.asarray(self.position, dtype=np.float64).reshape(3))
        object.__setattr__(self, "rotation", np.asarray(self.rotation, dtype=np.float64).reshape(3, 3))
        object.__setattr__(self, "size", np.asarray(self.size, dtype=np.float64).reshape(3))

    @property
    def half_extents(self) -> tuple[float, float] | None:
        """Half-sizes ``(x, z)`` of the rectangular footprint of box-like objects (boxes, buildings, square
        pillars), or ``None`` for objects whose footprint is the circle of :attr:`radius`."""
        if self.kind == "box" or (self.kind == "pillar" and self.variant == 1):
            return float(self.size[0]) / 2 * (1.35 if self.kind == "pillar" else 1.0), float(self.size[2]) / 2 * (
                1.35 if self.kind == "pillar" else 1.0)
        if self.kind == "building":  # walls, plus the roof overhang and parapet
            return float(self.size[0]) / 2 + 0.3, float(self.size[2]) / 2 + 0.3
        return None


@dataclass(frozen=True, eq=False)
class Terrain:
    """A heightfield on a (possibly non-uniform) square grid, blended between two ground materials.

    Attributes:
        coords: ``(N,)`` ascending grid coordinates in metres, used for both x and z.
        elevation: ``(N, N)`` metres up at ``[iz, ix]`` (the surface is at world ``y = -elevation``).
        blend: ``(N, N)`` in ``[0, 1]``: 0 shows ``material_a``, 1 shows ``material_b``.
        shade: ``(N, N)`` macro brightness multiplier (breaks up texture repetition).
        material_a, material_b: the two ground materials.

    The mesh splits every cell ``(ix, iz)`` along the diagonal from ``(ix, iz)`` to ``(ix+1, iz+1)``;
    :meth:`elevation_at` interpolates on exactly those triangles, so queries agree with the rendered surface.
    """

    coords: np.ndarray
    elevation: np.ndarray
    blend: np.ndarray
    shade: np.ndarray
    material_a: Material
    material_b: Material

    @property
    def extent(self) -> float:
        """Half-size of the square the terrain covers (metres)."""
        return float(self.coords[-1])

    def elevation_at(self, x: np.ndarray | float, z: np.ndarray | float) -> np.ndarray:
        """Ground elevation (metres up) at world points, on the mesh's own triangles; clamped at the border."""
        x = np.clip(np.asarray(x, dtype=np.float64), self.coords[0], self.coords[-1])
        z = np.clip(np.asarray(z, dtype=np.float64), self.coords[0], self.coords[-1])
        n = len(self.coords)
        ix = np.clip(np.searchsorted(self.coords, x, side="right") - 1, 0, n - 2)
        iz = np.clip(np.searchsorted(self.coords, z, side="right") - 1, 0, n - 2)
        fx = (x - self.coords[ix]) / (self.coords[ix + 1] - self.coords[ix])
        fz = (z - self.coords[iz]) / (self.coords[iz + 1] - self.coords[iz])
        e = self.elevation
        h00, h10, h01, h11 = e[iz, ix], e[iz, ix + 1], e[iz + 1, ix], e[iz + 1, ix + 1]
        upper = fx >= fz  # triangle (00, 10, 11)
        return np.where(upper, h00 + fx * (h10 - h00) + fz * (h11 - h10), h00 + fz * (h01 - h00) + fx * (h11 - h01))


@dataclass(frozen=True)
class Sky:
    """Sky colours and clouds. Colours are display-space RGB in ``[0, 1]``."""

    zenith: Color
    horizon: Color
    cloud_cover: float  # 0 = clear, 1 = overcast
    cloud_color: Color
    cloud_height: float = 600.0  # metres; clouds are a textured plane at this height
    cloud_scale: float = 900.0  # metres per repeat of the cloud texture


@dataclass(frozen=True)
class Lighting:
    """Sun and ambient light, and the fog that fades distant things into the horizon colour.

    ``sun_direction`` is a unit world vector pointing *toward* the sun (``y < 0`` above the horizon).
    ``fog_density`` is per metre: a surface at distance ``d`` keeps ``exp(-d * fog_density)`` of its colour.
    """

    sun_direction: tuple[float, float, float]
    sun_color: Color
    sky_ambient: Color
    ground_ambient: Color
    fog_density: float
    shadow_strength: float = 1.0


@dataclass(frozen=True, eq=False)
class World:
    """A complete scene: terrain, sky, light, objects, and the texture variant of every texture kind."""

    seed: int
    theme: str
    terrain: Terrain
    sky: Sky
    lighting: Lighting
    objects: tuple[SceneObject, ...]
    texture_variants: tuple[int, ...] = field(default=(0,) * len(TEXTURE_KINDS))
    play_radius: float = 24.0

    def surface_y(self, x: np.ndarray | float, z: np.ndarray | float) -> np.ndarray:
        """World ``y`` of the ground surface at ``(x, z)`` (negative where the ground is above ``y = 0``)."""
        return -self.terrain.elevation_at(x, z)

    def obstacles(self) -> np.ndarray:
        """``(N, 3)`` rows ``[x, z, radius]`` of every object's bounding circle (``(0, 3)`` without objects)."""
        if not self.objects:
            return np.zeros((0, 3))
        return self._footprints[:, :3].copy()

    def clearance(self, x: np.ndarray | float, z: np.ndarray | float) -> np.ndarray:
        """Horizontal distance from ``(x, z)`` to the nearest object footprint (negative inside one; inf
        without objects). Footprints are rectangles for box-like objects and circles of ``radius`` otherwise."""
        x = np.asarray(x, dtype=np.float64)
        z = np.asarray(z, dtype=np.float64)
        if not self.objects:
            return np.full(np.broadcast(x, z).shape, np.inf)
        fp = self._footprints  # (N, 7): cx, cz, radius, hx, hz, cos, sin (hx = 0: circle)
        dx = x[..., None] - fp[:, 0]
        dz = z[..., None] - fp[:, 1]
        circle = np.hypot(dx, dz) - fp[:, 2]
        lx = np.abs(dx * fp[:, 5] + dz * fp[:, 6]) - fp[:, 3]
        lz = np.abs(-dx * fp[:, 6] + dz * fp[:, 5]) - fp[:, 4]
        rect = np.hypot(np.maximum(lx, 0.0), np.maximum(lz, 0.0)) + np.minimum(np.maximum(lx, lz), 0.0)
        return np.where(fp[:, 3] > 0, rect, circle).min(axis=-1)

    @cached_property
    def _footprints(self) -> np.ndarray:
        rows = []
        for o in self.objects:
            half = o.half_extents
            ax = o.rotation[[0, 2], 0]  # the object's local x axis in the ground plane
            ax = ax / max(np.linalg.norm(ax), 1e-12)
            hx, hz = half if half is not None else (0.0, 0.0)
            rows.append([o.position[0], o.position[2], o.radius, hx, hz, ax[0], ax[1]])
        return np.array(rows)


# ---------------------------------------------------------------------------------------------------------
# construction helpers


def yaw_rotation(yaw: float) -> np.ndarray:
    """Rotation about world Y by ``yaw`` radians (objects stand upright)."""
    return rot_y(yaw)


def flat_terrain(material: Material, *, extent: float = 200.0, elevation: float = 0.0) -> Terrain:
    """A flat square of one material at ``elevation`` metres up (tests, calibration scenes)."""
    coords = np.linspace(-extent, extent, 9)
    full = np.full((9, 9), float(elevation))
    return Terrain(coords, full, np.zeros((9, 9)), np.ones((9, 9)), material, material)


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


def _tint(rng: np.random.Generator, base: Color, spread: float = 0.1) -> Color:
    return tuple(float(v) for v in np.clip(np.asarray(base) * (1.0 + rng.uniform(-spread, spread, 3)), 0.0, 1.5))  # type: ignore[return-value]


_PAINT = ((0.85, 0.25, 0.2), (0.2, 0.45, 0.8), (0.9, 0.75, 0.2), (0.25, 0.6, 0.35), (0.9, 0.9, 0.88), (0.9, 0.5, 0.2))


def _tree(p: _Placer, x: float, z: float, pine: bool) -> SceneObject:
    rng = p.rng
    if pine:
        height = rng.uniform(4.0, 9.0)
        canopy = rng.uniform(0.22, 0.32) * height
        leaves = Material("leaves", _tint(rng, (0.62, 0.8, 0.62), 0.12))
    else:
        height = rng.uniform(3.5, 7.0)
        canopy = rng.uniform(0.3, 0.42) * height
        leaves = Material("leaves", _tint(rng, (1.0, 1.0, 0.9), 0.18))
    trunk = Material("bark", _tint(rng, (1.0, 1.0, 1.0), 0.1))
    y = p.ground_y(x, z, 0.3)
    return SceneObject("tree", (x, y + 0.05, z), yaw_rotation(rng.uniform(0, 2 * math.pi)),
                       (2 * canopy, height, 2 * canopy), (trunk, leaves), radius=canopy, variant=int(pine))


def _rock(p: _Placer, x: float, z: float, size: float, tint: Color = (1.0, 1.0, 1.0)) -> SceneObject:
    rng = p.rng
    w, h, d = size * rng.uniform(0.8, 1.2), size * rng.uniform(0.45, 0.8), size * rng.uniform(0.8, 1.2)
    y = p.ground_y(x, z, 0.5 * max(w, d)) + 0.15 * h
    return SceneObject("rock", (x, y, z), yaw_rotation(rng.uniform(0, 2 * math.pi)), (w, h, d),
                       (Material("rock", _tint(rng, tint, 0.1)),), radius=0.5 * max(w, d), variant=int(rng.integers(1 << 30)))


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
                    p.add(_box(p, *spot, (1.2, 1.0, 1.2), Material("planks", _tint(rng, (1, 0.95, 0.8))), rng.uniform(0, 6.3)))
            if rng.random() < 0.6:
                spot = p.spot(6.0, 18.0, 45.0, 3.0)
                if spot:
                    p.add(_building(p, *spot, (int(rng.integers(2, 4)), int(rng.integers(2, 4))), int(rng.integers(1, 3)),
                                    Material("planks", _tint(rng, (0.85, 0.5, 0.4), 0.15)), Material("roof"),
                                    rng.uniform(0, 6.3), gable=True))
    elif theme == "desert":
        scatter(int(rng.integers(20, 40)), (3.0, far), (0.3, 1.8), 2.5, lambda x, z, r: _rock(p, x, z, 2 * r, (1.0, 0.9, 0.78)))
        scatter(int(rng.integers(4, 9)), (25.0, far), (4.0, 9.0), 3.0, lambda x, z, r: _rock(p, x, z, 2 * r, (1.0, 0.85, 0.7)))
        blocks = Material("blocks", _tint(rng, (1.0, 0.92, 0.78)))
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
                walls = Material(wall_kind, _tint(rng, facade_tints[int(rng.integers(len(facade_tints)))], 0.05))
                roof = Material("roof" if floors <= 3 else "concrete", _tint(rng, (1, 1, 1)))
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
        blocks = Material("blocks", _tint(rng, (1.0, 0.97, 0.9)))
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
                              Material("concrete", _tint(rng, (1.0, 0.97, 0.92))), Material("concrete"),
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
                       (Material("leaves", _tint(rng, tint, 0.15)),), radius=0.5 * max(w, d),
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
            p.add(_box(p, x, z, (1.2 * size, size, 1.2 * size), Material(tex, _tint(rng, (1, 0.95, 0.9))), rng.uniform(0, 6.3)))
        else:
            tint = {"desert": (1.0, 0.9, 0.78), "snow": (0.95, 0.95, 1.0)}.get(theme, (1.0, 1.0, 1.0))
            p.add(_rock(p, x, z, 1.6 * size, tint))



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
    ground_a = Material(spec.ground[0], _tint(rng, spec.ground_tints[0], 0.06))
    ground_b = Material(spec.ground[1], _tint(rng, spec.ground_tints[1], 0.06))
    terrain = Terrain(coords, elevation, blend, shade, ground_a, ground_b)

    weather = spec.weathers[int(rng.integers(len(spec.weathers)))]
    ground_color = _ground_mean_color(ground_a, variants)
    sky, lighting = _weather(weather, rng, ground_color)

    placer = _Placer(rng, terrain)
    _populate(theme, placer, play)
    return World(seed=seed, theme=theme, terrain=terrain, sky=sky, lighting=lighting, objects=tuple(placer.objects),
                 texture_variants=variants, play_radius=play)


def _ground_mean_color(material: Material, variants: tuple[int, ...]) -> np.ndarray:
    layer = layer_of(material.texture)
    mean = make_texture(material.texture, variants[layer]).reshape(-1, 3).mean(axis=0) / 255.0
    return mean * np.asarray(material.tint)
