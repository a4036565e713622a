"""Procedural geometry: the triangle meshes of terrain and objects, as interleaved float32 vertex arrays.

One vertex layout serves every mesh, so the whole static scene is two draw calls (terrain, objects):

=========  ======  =======================================================================
attribute  floats  meaning
=========  ======  =======================================================================
in_pos     3       world position (metres, world frame of :mod:`engine.synth.scene`)
in_normal  3       unit world normal, pointing out of the surface
in_uv      2       texture coordinates **in metres** (the shader divides by the layer's size)
in_layers  3       texture layer a, texture layer b, blend b over a in ``[0, 1]``
in_tint    3       RGB multiplier of the texture colour
in_emit    1       emission in ``[0, 1]`` (1 = unlit albedo)
in_ao      1       ambient occlusion in ``[0, 1]`` (1 = open)
=========  ======  =======================================================================

Triangles are wound so that ``(b - a) x (c - a)`` points along the outward normal; the renderer culls the
other side. Objects are built in a local frame (base centre at the origin, up = −Y like the world) and then
rotated and moved to their place.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from engine.errors import ConfigError
from engine.synth.textures import layer_of
from engine.synth.scene import Material, SceneObject, Terrain, World

VERTEX_FLOATS = 16
#: moderngl buffer format and attribute names matching the table above.
VERTEX_FORMAT = "3f 3f 2f 3f 3f 1f 1f"
VERTEX_ATTRIBUTES = ("in_pos", "in_normal", "in_uv", "in_layers", "in_tint", "in_emit", "in_ao")
#: Terrain cells per side of one cullable tile.
TERRAIN_TILE = 8


@dataclass(frozen=True, eq=False)
class Mesh:
    """An indexed triangle mesh: ``vertices`` ``(V, VERTEX_FLOATS)`` float32, ``indices`` ``(T, 3)`` uint32.

    ``groups`` ``(G, 2)`` int64 rows ``[first_triangle, num_triangles]`` partition the triangles into
    consecutive runs (one object, one terrain tile) and ``spheres`` ``(G, 4)`` rows ``[x, y, z, radius]``
    bound each group, so the renderer can skip groups outside the view frustum.
    """

    vertices: np.ndarray
    indices: np.ndarray
    groups: np.ndarray | None = None
    spheres: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.groups is None:
            groups = np.array([[0, len(self.indices)]], np.int64) if len(self.indices) else np.zeros((0, 2), np.int64)
            object.__setattr__(self, "groups", groups)
            object.__setattr__(self, "spheres", _bounding_spheres(self.vertices, self.indices, groups))

    @property
    def num_triangles(self) -> int:
        return int(self.indices.shape[0])

    @staticmethod
    def concat(meshes: list["Mesh"]) -> "Mesh":
        """One mesh holding all of ``meshes`` (indices offset; each input's groups kept)."""
        if not meshes:
            return Mesh(np.zeros((0, VERTEX_FLOATS), np.float32), np.zeros((0, 3), np.uint32))
        offsets = np.cumsum([0] + [len(m.vertices) for m in meshes[:-1]])
        tri_offsets = np.cumsum([0] + [m.num_triangles for m in meshes[:-1]])
        groups = np.concatenate([m.groups + [t, 0] for m, t in zip(meshes, tri_offsets)])
        return Mesh(
            np.concatenate([m.vertices for m in meshes]).astype(np.float32),
            np.concatenate([m.indices + o for m, o in zip(meshes, offsets)]).astype(np.uint32),
            groups.astype(np.int64),
            np.concatenate([m.spheres for m in meshes]),
        )


def _bounding_spheres(vertices: np.ndarray, indices: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """``(G, 4)`` spheres around each group's vertices (centre of the bounding box, max distance)."""
    out = np.zeros((len(groups), 4))
    for g, (first, count) in enumerate(groups):
        pts = vertices[indices[first : first + count].reshape(-1), :3].astype(np.float64)
        centre = (pts.min(axis=0) + pts.max(axis=0)) / 2.0
        out[g, :3] = centre
        out[g, 3] = np.sqrt(((pts - centre) ** 2).sum(axis=1).max())
    return out


class _Builder:
    """Collects parts (positions, normals, uvs, triangles, material, ao) into one mesh."""

    def __init__(self) -> None:
        self.parts: list[Mesh] = []

    def add(self, pos: np.ndarray, nrm: np.ndarray, uv: np.ndarray, tris: np.ndarray, material: Material,
            ao: np.ndarray | float = 1.0) -> None:
        pos = np.asarray(pos, np.float64)
        nrm = np.asarray(nrm, np.float64)
        nrm = nrm / np.maximum(np.linalg.norm(nrm, axis=1, keepdims=True), 1e-12)
        tris = _orient(np.asarray(tris, np.int64), pos, nrm)
        v = np.zeros((len(pos), VERTEX_FLOATS), np.float64)
        v[:, 0:3] = pos
        v[:, 3:6] = nrm
        v[:, 6:8] = uv
        layer = layer_of(material.texture)
        v[:, 8:11] = (layer, layer, 0.0)
        v[:, 11:14] = material.tint
        v[:, 14] = material.emissive
        v[:, 15] = ao
        self.parts.append(Mesh(v, tris))

    def mesh(self) -> Mesh:
        return Mesh.concat(self.parts)


def _orient(tris: np.ndarray, pos: np.ndarray, nrm: np.ndarray) -> np.ndarray:
    """Flip triangles whose geometric normal disagrees with their vertex normals (fixes winding by construction)."""
    if len(tris) == 0:
        return tris.reshape(0, 3)
    a, b, c = pos[tris[:, 0]], pos[tris[:, 1]], pos[tris[:, 2]]
    geo = np.cross(b - a, c - a)
    flip = np.einsum("ij,ij->i", geo, nrm[tris].sum(axis=1)) < 0
    out = tris.copy()
    out[flip] = out[flip][:, [0, 2, 1]]
    return out


def _ground_ao(up: np.ndarray, reach: float = 1.0) -> np.ndarray:
    """Darker near the ground: 0.55 at the base rising to 1 at ``reach`` metres up."""
    t = np.clip(up / reach, 0.0, 1.0)
    return 0.55 + 0.45 * t * t * (3.0 - 2.0 * t)


# -- primitives in a local frame (up = -y) ---------------------------------------------------------------


def _box(b: _Builder, size, material: Material, *, centre=(0.0, 0.0, 0.0), faces: str = "xXyYzZ",
         ao_ground: bool = True) -> None:
    """Axis-aligned box with its *base* centred at ``centre`` (extends to ``y = centre.y - h``).

    ``faces`` lists which faces to emit: x/X = -x/+x, y/Y = top (-y) / bottom (+y), z/Z = -z/+z.
    UVs are metres along each face (vertical faces: ``v = y`` so textures stay upright).
    """
    w, h, d = (float(s) for s in size)
    cx, cy, cz = centre
    x0, x1, y0, y1, z0, z1 = cx - w / 2, cx + w / 2, cy - h, cy, cz - d / 2, cz + d / 2
    quads = {
        "x": ([(x0, y1, z0), (x0, y1, z1), (x0, y0, z1), (x0, y0, z0)], (-1, 0, 0), lambda p: (p[:, 2] - z0, p[:, 1])),
        "X": ([(x1, y1, z1), (x1, y1, z0), (x1, y0, z0), (x1, y0, z1)], (1, 0, 0), lambda p: (z1 - p[:, 2], p[:, 1])),
        "z": ([(x1, y1, z0), (x0, y1, z0), (x0, y0, z0), (x1, y0, z0)], (0, 0, -1), lambda p: (x1 - p[:, 0], p[:, 1])),
        "Z": ([(x0, y1, z1), (x1, y1, z1), (x1, y0, z1), (x0, y0, z1)], (0, 0, 1), lambda p: (p[:, 0] - x0, p[:, 1])),
        "y": ([(x0, y0, z0), (x1, y0, z0), (x1, y0, z1), (x0, y0, z1)], (0, -1, 0), lambda p: (p[:, 0], p[:, 2])),
        "Y": ([(x0, y1, z0), (x1, y1, z0), (x1, y1, z1), (x0, y1, z1)], (0, 1, 0), lambda p: (p[:, 0], p[:, 2])),
    }
    for f in faces:
        corners, normal, uvf = quads[f]
        p = np.array(corners, np.float64)
        u, v = uvf(p)
        ao = _ground_ao(-p[:, 1]) if ao_ground else 1.0
        b.add(p, np.tile(normal, (4, 1)), np.stack([u, v], 1), [[0, 1, 2], [0, 2, 3]], material, ao)


def _cylinder(b: _Builder, radius: float, y_bottom: float, y_top: float, material: Material, *, segments: int = 12,
              cap: bool = True, radius_top: float | None = None) -> None:
    """A (possibly tapered) cylinder around the y axis between ``y_bottom`` and ``y_top`` (``y_top < y_bottom``)."""
    rt = radius if radius_top is None else radius_top
    ang = np.linspace(0.0, 2 * math.pi, segments + 1)
    c, s = np.cos(ang), np.sin(ang)
    slope = (radius - rt) / max(y_bottom - y_top, 1e-9)  # outward lean of the side normal
    bottom = np.stack([radius * c, np.full_like(c, y_bottom), radius * s], 1)
    top = np.stack([rt * c, np.full_like(c, y_top), rt * s], 1)
    nrm = np.stack([c, np.full_like(c, -slope), s], 1)
    pos = np.concatenate([bottom, top])
    n = segments + 1
    tris = [[i, i + 1, n + i + 1] for i in range(segments)] + [[i, n + i + 1, n + i] for i in range(segments)]
    u = ang * 0.5 * (radius + rt)
    uv = np.stack([np.concatenate([u, u]), pos[:, 1]], 1)
    b.add(pos, np.concatenate([nrm, nrm]), uv, tris, material, _ground_ao(-pos[:, 1]))
    if cap and rt > 0:
        ring = top[:-1]
        pos = np.concatenate([[[0.0, y_top, 0.0]], ring])
        tris = [[0, 1 + i, 1 + (i + 1) % segments] for i in range(segments)]
        b.add(pos, np.tile((0, -1, 0), (len(pos), 1)), pos[:, [0, 2]], tris, material)


def _cone(b: _Builder, radius: float, y_base: float, y_apex: float, material: Material, *, segments: int = 10,
          ao: float = 1.0, jag: float = 0.0) -> None:
    """A cone (pine canopy tier): side plus base disc facing down; ``jag`` pulls every other base vertex
    inward by that fraction (a ragged, star-shaped rim)."""
    ang = np.linspace(0.0, 2 * math.pi, segments + 1)
    c, s = np.cos(ang), np.sin(ang)
    height = y_base - y_apex
    slant = radius / height
    rim = radius * (1.0 - jag * (np.arange(segments + 1) % 2))
    base = np.stack([rim * c, np.full_like(c, y_base) - 0.15 * jag * height * (np.arange(segments + 1) % 2), rim * s], 1)
    nrm = np.stack([c, np.full_like(c, -slant), s], 1)
    apex = np.tile([0.0, y_apex, 0.0], (segments, 1))
    apex_n = np.stack([np.cos(ang[:-1] + math.pi / segments), np.full(segments, -slant), np.sin(ang[:-1] + math.pi / segments)], 1)
    pos = np.concatenate([base, apex])
    n = segments + 1
    tris = [[i, i + 1, n + i] for i in range(segments)]
    u = ang * radius
    uv = np.stack([np.concatenate([u, u[:-1] + math.pi * radius / segments]), pos[:, 1]], 1)
    ao_v = np.concatenate([np.full(n, 0.6 * ao), np.full(segments, ao)])
    b.add(pos, np.concatenate([nrm, apex_n]), uv, tris, material, ao_v)
    disc = np.concatenate([[[0.0, y_base, 0.0]], base[:-1]])
    b.add(disc, np.tile((0, 1, 0), (len(disc), 1)), disc[:, [0, 2]],
          [[0, 1 + i, 1 + (i + 1) % segments] for i in range(segments)], material, 0.45 * ao)


def icosphere(subdivisions: int) -> tuple[np.ndarray, np.ndarray]:
    """Unit icosphere: vertices ``(V, 3)`` and outward-wound triangles ``(T, 3)``."""
    t = (1.0 + math.sqrt(5.0)) / 2.0
    verts = [(-1, t, 0), (1, t, 0), (-1, -t, 0), (1, -t, 0), (0, -1, t), (0, 1, t), (0, -1, -t), (0, 1, -t),
             (t, 0, -1), (t, 0, 1), (-t, 0, -1), (-t, 0, 1)]
    faces = [(0, 11, 5), (0, 5, 1), (0, 1, 7), (0, 7, 10), (0, 10, 11), (1, 5, 9), (5, 11, 4), (11, 10, 2),
             (10, 7, 6), (7, 1, 8), (3, 9, 4), (3, 4, 2), (3, 2, 6), (3, 6, 8), (3, 8, 9), (4, 9, 5), (2, 4, 11),
             (6, 2, 10), (8, 6, 7), (9, 8, 1)]
    vs = [np.array(v, np.float64) / np.linalg.norm(v) for v in verts]
    for _ in range(subdivisions):
        cache: dict[tuple[int, int], int] = {}

        def mid(i: int, j: int) -> int:
            key = (min(i, j), max(i, j))
            if key not in cache:
                m = vs[i] + vs[j]
                vs.append(m / np.linalg.norm(m))
                cache[key] = len(vs) - 1
            return cache[key]

        new = []
        for a, b_, c in faces:
            ab, bc, ca = mid(a, b_), mid(b_, c), mid(c, a)
            new += [(a, ab, ca), (b_, bc, ab), (c, ca, bc), (ab, bc, ca)]
        faces = new
    pos = np.array(vs)
    tris = _orient(np.array(faces, np.int64), pos, pos)
    return pos, tris


_SPHERES = {k: icosphere(k) for k in (1, 2, 3)}


def _blob(b: _Builder, centre, radii, material: Material, rng: np.random.Generator, *, bumpiness: float,
          subdivisions: int = 2, flat: bool = False, ao_from_normal: bool = False, ground_ao: bool = False) -> None:
    """A deformed ellipsoid (rocks: flat-shaded facets; canopies: smooth)."""
    unit, tris = _SPHERES[subdivisions]
    dirs = rng.normal(size=(10, 3))
    dirs /= np.linalg.norm(dirs, axis=1, keepdims=True)
    amps = rng.uniform(-1.0, 1.0, 10) * bumpiness
    sharp = rng.uniform(2.0, 8.0, 10)
    r = 1.0 + (amps[None, :] * np.exp(-sharp[None, :] * (1.0 - unit @ dirs.T))).sum(1)
    pos = unit * r[:, None] * np.asarray(radii)[None, :] + np.asarray(centre)[None, :]
    if flat:  # unshare vertices so each facet gets its own normal
        pos = pos[tris].reshape(-1, 3)
        tris = np.arange(len(pos)).reshape(-1, 3)
        a, bb, c = pos[0::3], pos[1::3], pos[2::3]
        fn = np.cross(bb - a, c - a)
        nrm = np.repeat(fn / np.linalg.norm(fn, axis=1, keepdims=True), 3, axis=0)
    else:
        nrm = (pos - np.asarray(centre)) / np.asarray(radii) ** 2  # ellipsoid gradient
    uv = np.stack([pos[:, 0] + pos[:, 2], pos[:, 1]], 1)
    ao = np.ones(len(pos))
    if ao_from_normal:
        n_unit = nrm / np.linalg.norm(nrm, axis=1, keepdims=True)
        ao = ao * (0.55 + 0.45 * np.clip(0.5 - 0.5 * n_unit[:, 1], 0.0, 1.0))
    if ground_ao:
        ao = ao * _ground_ao(-pos[:, 1], reach=0.6)
    b.add(pos, nrm, uv, tris, material, ao)


# -- objects ----------------------------------------------------------------------------------------------


def _materials(obj: SceneObject, count: int) -> tuple[Material, ...]:
    if len(obj.materials) < count:
        raise ConfigError(f"scene object {obj.kind}: expected {count} material(s), found {len(obj.materials)}")
    return obj.materials


def object_mesh(obj: SceneObject) -> Mesh:
    """The world-space mesh of one object (see :class:`engine.synth.scene.SceneObject` for the fields)."""
    b = _Builder()
    w, h, d = obj.size
    rng = np.random.default_rng([obj.variant, 17])
    if obj.kind == "box":
        (mat,) = _materials(obj, 1)[:1]
        _box(b, (w, h, d), mat, faces="xXyzZ")
    elif obj.kind == "building":
        walls, roof = _materials(obj, 2)[:2]
        _box(b, (w, h, d), walls, faces="xXzZ")
        if obj.variant == 1:  # gable roof along the longer side
            rise = 0.35 * min(w, d)
            long_x = w >= d
            half_span = (d if long_x else w) / 2 + 0.3
            half_len = (w if long_x else d) / 2 + 0.3
            ridge_y = -h - rise
            # local coords (along, across) mapped to (x, z) or (z, x)
            def pt(a, c, y):
                return (a, y, c) if long_x else (c, y, a)
            for side in (-1, 1):
                p = np.array([pt(-half_len, side * half_span, -h + 0.15), pt(half_len, side * half_span, -h + 0.15),
                              pt(half_len, 0.0, ridge_y), pt(-half_len, 0.0, ridge_y)], np.float64)
                across = np.array(pt(0.0, side * 1.0, 0.0))
                nrm = across * rise / half_span + np.array([0.0, -1.0, 0.0])
                slope_len = math.hypot(half_span, rise + 0.15)
                uv = np.array([[-half_len, slope_len], [half_len, slope_len], [half_len, 0.0], [-half_len, 0.0]])
                b.add(p, np.tile(nrm, (4, 1)), uv, [[0, 1, 2], [0, 2, 3]], roof)
            for end in (-1, 1):  # gable triangles in the wall material
                a = end * (w if long_x else d) / 2
                p = np.array([pt(a, -half_span + 0.3, -h), pt(a, half_span - 0.3, -h), pt(a, 0.0, ridge_y + 0.2)])
                nrm = np.array(pt(float(end), 0.0, 0.0))
                b.add(p, np.tile(nrm, (3, 1)), np.stack([p[:, 2] if long_x else p[:, 0], p[:, 1]], 1), [[0, 1, 2]], walls)
        else:  # flat roof with a low parapet
            _box(b, (w, 0.01, d), roof, centre=(0.0, -h + 0.01, 0.0), faces="y", ao_ground=False)
            _box(b, (w + 0.3, 0.6, d + 0.3), walls, centre=(0.0, -h, 0.0), faces="xXyzZ", ao_ground=False)
    elif obj.kind == "pillar":
        (mat,) = _materials(obj, 1)[:1]
        if obj.variant == 2:  # barrel / bollard: a plain capped cylinder
            _cylinder(b, w / 2, 0.0, -h, mat, segments=14, cap=True)
            return _place(b.mesh(), obj.rotation, obj.position)
        cap = min(0.35, 0.12 * h)
        if obj.variant == 1:
            _box(b, (w, h - cap, d), mat, faces="xXzZ")
        else:
            _cylinder(b, w / 2, 0.0, -(h - cap), mat, segments=14, cap=False)
        _box(b, (w * 1.35, cap, d * 1.35), mat, centre=(0.0, -(h - cap), 0.0), faces="xXyYzZ", ao_ground=False)
        _box(b, (w * 1.3, min(0.3, cap), d * 1.3), mat, faces="xXyzZ")
    elif obj.kind == "tree":
        bark, leaves = _materials(obj, 2)[:2]
        canopy_r = w / 2
        if obj.variant == 1:  # pine: short trunk, stacked cones
            trunk_h = 0.18 * h
            _cylinder(b, 0.035 * h, 0.0, -trunk_h - 0.5, bark, segments=7, cap=False, radius_top=0.02 * h)
            tiers = 4
            for k in range(tiers):
                base = trunk_h + k * (h - trunk_h) * 0.22
                top = base + (h - trunk_h) * (0.5 - 0.07 * k)
                r = canopy_r * (1.0 - 0.22 * k)
                _cone(b, r, -base, -min(top, h), leaves, segments=12, ao=0.75 + 0.08 * k, jag=0.25)
        else:  # broadleaf: trunk and two or three blobs
            trunk_h = h - 1.6 * canopy_r
            _cylinder(b, 0.045 * h, 0.0, -trunk_h - 0.4 * canopy_r, bark, segments=7, cap=False, radius_top=0.03 * h)
            centre_y = -(h - canopy_r)
            _blob(b, (0.0, centre_y, 0.0), (canopy_r, canopy_r * 0.85, canopy_r), leaves, rng, bumpiness=0.25,
                  ao_from_normal=True)
            for _ in range(int(rng.integers(1, 3))):
                off = rng.normal(size=3) * canopy_r * 0.35
                rr = canopy_r * rng.uniform(0.5, 0.7)
                _blob(b, (off[0], centre_y + abs(off[1]) * 0.5 + 0.2 * canopy_r, off[2]), (rr, rr * 0.85, rr), leaves, rng,
                      bumpiness=0.2, subdivisions=1, ao_from_normal=True)
    elif obj.kind == "bush":
        (mat,) = _materials(obj, 1)[:1]
        _blob(b, (0.0, -h / 2, 0.0), (w / 2, h / 2, d / 2), mat, rng, bumpiness=0.3, subdivisions=1,
              ao_from_normal=True, ground_ao=True)
    elif obj.kind == "rock":
        (mat,) = _materials(obj, 1)[:1]
        _blob(b, (0.0, -h / 2, 0.0), (w / 2, h / 2, d / 2), mat, rng, bumpiness=0.35, flat=True, ground_ao=True)
    elif obj.kind == "sphere":
        (mat,) = _materials(obj, 1)[:1]
        unit, tris = _SPHERES[3]
        pos = unit * (w / 2)
        b.add(pos, unit, pos[:, [0, 1]], tris, mat)
    elif obj.kind == "plate":  # a square in the local XY plane, both sides
        (mat,) = _materials(obj, 1)[:1]
        p = np.array([[-w / 2, -h / 2, 0.0], [w / 2, -h / 2, 0.0], [w / 2, h / 2, 0.0], [-w / 2, h / 2, 0.0]])
        for sign in (-1.0, 1.0):
            b.add(p, np.tile((0.0, 0.0, sign), (4, 1)), p[:, :2], [[0, 1, 2], [0, 2, 3]], mat)
    else:  # pragma: no cover - SceneObject validates kinds
        raise ConfigError(f"scene object kind {obj.kind!r}")
    return _place(b.mesh(), obj.rotation, obj.position)


def _place(mesh: Mesh, rotation: np.ndarray, position: np.ndarray) -> Mesh:
    """Move a local mesh into the world; the result is one cullable group."""
    v = mesh.vertices.astype(np.float64)
    v[:, 0:3] = v[:, 0:3] @ rotation.T + position
    v[:, 3:6] = v[:, 3:6] @ rotation.T
    return Mesh(v.astype(np.float32), mesh.indices.astype(np.uint32))


def terrain_mesh(terrain: Terrain) -> Mesh:
    """The heightfield as a grid mesh; cells split along ``(ix, iz)``-``(ix+1, iz+1)`` as
    :meth:`engine.synth.scene.Terrain.elevation_at` assumes."""
    xs = terrain.coords
    n = len(xs)
    gx, gz = np.meshgrid(xs, xs)  # [iz, ix]
    e = terrain.elevation
    # normals of the surface y = -e(x, z): (-e_x, -1, -e_z) normalised (points up, i.e. toward -y)
    ex = np.gradient(e, xs, axis=1)
    ez = np.gradient(e, xs, axis=0)
    nrm = np.stack([-ex, -np.ones_like(e), -ez], -1)
    v = np.zeros((n, n, VERTEX_FLOATS), np.float64)
    v[..., 0], v[..., 1], v[..., 2] = gx, -e, gz
    v[..., 3:6] = nrm / np.linalg.norm(nrm, axis=-1, keepdims=True)
    v[..., 6], v[..., 7] = gx, gz
    v[..., 8] = layer_of(terrain.material_a.texture)
    v[..., 9] = layer_of(terrain.material_b.texture)
    v[..., 10] = terrain.blend
    tint = (1.0 - terrain.blend[..., None]) * np.asarray(terrain.material_a.tint) + terrain.blend[..., None] * np.asarray(
        terrain.material_b.tint
    )
    v[..., 11:14] = tint * terrain.shade[..., None]
    v[..., 14] = 0.0
    v[..., 15] = 1.0
    idx = np.arange(n * n).reshape(n, n)
    a, bx, bz, c = idx[:-1, :-1], idx[:-1, 1:], idx[1:, :-1], idx[1:, 1:]
    tris = np.stack([np.stack([a, bx, c], -1), np.stack([a, c, bz], -1)], axis=2)  # (n-1, n-1, 2, 3) [iz, ix]
    # order triangles tile by tile so each tile is one run the renderer can cull
    tile = TERRAIN_TILE
    tile_id = (np.arange(n - 1)[:, None] // tile) * ((n - 2) // tile + 1) + np.arange(n - 1)[None, :] // tile
    order = np.argsort(tile_id.reshape(-1), kind="stable")
    tris = tris.reshape(-1, 2, 3)[order].reshape(-1, 3)
    counts = np.bincount(tile_id.reshape(-1)) * 2
    counts = counts[counts > 0]
    groups = np.stack([np.concatenate([[0], np.cumsum(counts)[:-1]]), counts], 1).astype(np.int64)
    flat = v.reshape(-1, VERTEX_FLOATS)
    tris = _orient(tris, flat[:, 0:3], flat[:, 3:6]).astype(np.uint32)
    vertices = flat.astype(np.float32)
    return Mesh(vertices, tris, groups, _bounding_spheres(vertices, tris, groups))


def scene_meshes(world: World) -> tuple[Mesh, Mesh]:
    """``(terrain, objects)`` meshes of ``world`` (objects merged into one mesh)."""
    return terrain_mesh(world.terrain), Mesh.concat([object_mesh(o) for o in world.objects])
