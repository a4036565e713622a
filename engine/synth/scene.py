"""The scene description of a procedural world: plain data (numpy only, no GL).

**World frame** (shared by the renderer, the trajectories and the dataset files). World axes are those of
the OpenCV camera at the identity pose: +X right (east), **+Y down**, +Z forward (north); "up" is −Y.
The MotionIntegrator yaws about world Y and moves in the XZ plane, so a camera keeps a constant world Y.
The ground is a heightfield: :meth:`Terrain.elevation_at` gives metres *up* at ``(x, z)`` and the surface
lies at world ``y = -elevation``. Around the origin (the *play area*, radius :attr:`World.play_radius`) the
terrain is nearly flat, so a camera at a fixed height keeps a sensible eye height; hills and mountains rise
further out. Units are metres; objects are sized like real things (trees, crates, houses) so the SANA-WM
motion constants (0.025 m and 0.6 deg per frame in ``v2``) produce plausible parallax.

The types here are what the renderer, the meshes and the camera paths read; :mod:`engine.synth.world` builds
them from a seed (:func:`engine.synth.world.make_world`), with the objects placed by :mod:`engine.synth.placement`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from engine.camera.poses import rot_y
from engine.errors import ConfigError
from engine.synth.textures import TEXTURE_KINDS, layer_of

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


def yaw_rotation(yaw: float) -> np.ndarray:
    """Rotation about world Y by ``yaw`` radians (objects stand upright)."""
    return rot_y(yaw)


def flat_terrain(material: Material, *, extent: float = 200.0, elevation: float = 0.0) -> Terrain:
    """A flat square of one material at ``elevation`` metres up (tests, calibration scenes)."""
    coords = np.linspace(-extent, extent, 9)
    full = np.full((9, 9), float(elevation))
    return Terrain(coords, full, np.zeros((9, 9)), np.ones((9, 9)), material, material)
