"""Meshes: outward winding (the renderer culls back faces), finite data, cullable groups covering every triangle."""

from __future__ import annotations

import numpy as np

from engine.synth.meshes import VERTEX_FLOATS, Mesh, icosphere, object_mesh, scene_meshes
from engine.synth.world import THEMES, make_world


def _winding_agrees(mesh: Mesh) -> np.ndarray:
    pos = mesh.vertices[:, :3].astype(np.float64)
    nrm = mesh.vertices[:, 3:6].astype(np.float64)
    a, b, c = (pos[mesh.indices[:, k]] for k in range(3))
    geo = np.cross(b - a, c - a)
    area = np.linalg.norm(geo, axis=1)
    agree = np.einsum("ij,ij->i", geo, nrm[mesh.indices].sum(axis=1)) > 0
    return agree | (area < 1e-9)


def test_every_object_kind_is_wound_outward_and_finite():
    kinds = set()
    for i, theme in enumerate(THEMES):
        world = make_world(i, theme)
        for obj in world.objects:
            if obj.kind in kinds and obj.kind not in ("building", "tree", "pillar"):
                continue
            kinds.add(obj.kind)
            mesh = object_mesh(obj)
            assert mesh.vertices.shape[1] == VERTEX_FLOATS and mesh.num_triangles > 0
            assert np.isfinite(mesh.vertices).all()
            assert _winding_agrees(mesh).all(), obj.kind
    assert {"box", "building", "pillar", "tree", "bush", "rock"} <= kinds


def test_scene_groups_partition_the_triangles_and_bound_them():
    terrain, objects = scene_meshes(make_world(2, "desert"))
    for mesh in (terrain, objects):
        first, count = mesh.groups[:, 0], mesh.groups[:, 1]
        assert first[0] == 0 and np.array_equal(first[1:], np.cumsum(count)[:-1]) and count.sum() == mesh.num_triangles
        for (f, n), sphere in zip(mesh.groups, mesh.spheres):
            pts = mesh.vertices[mesh.indices[f : f + n].reshape(-1), :3]
            assert (np.linalg.norm(pts - sphere[:3], axis=1) <= sphere[3] + 1e-3).all()
    assert _winding_agrees(terrain).all()
    # terrain normals point up (-y)
    assert (terrain.vertices[:, 4] < 0).all()


def test_icosphere_is_a_closed_unit_sphere():
    pos, tris = icosphere(2)
    assert np.allclose(np.linalg.norm(pos, axis=1), 1.0)
    assert len(tris) == 320
    edges = np.sort(np.concatenate([tris[:, [0, 1]], tris[:, [1, 2]], tris[:, [2, 0]]]), axis=1)
    _, counts = np.unique(edges, axis=0, return_counts=True)
    assert (counts == 2).all()  # every edge shared by exactly two triangles
