"""Seeded value noise in numpy: the one source of randomness shapes for textures, terrain and rocks.

Why value noise on a lattice: it is a few lines of numpy, exactly reproducible from a seed (no platform maths
beyond ``+ - * /``), and tileable when the lattice wraps, which the textures need (they repeat over the ground).

Contracts:
* every function takes a :class:`numpy.random.Generator` (or a lattice drawn from one) and never touches global
  random state;
* outputs are float64 in ``[0, 1]`` (``fbm`` is normalised by the sum of its octave weights), shape as documented.
"""

from __future__ import annotations

import numpy as np


def _fade(t: np.ndarray) -> np.ndarray:
    """Quintic smoothstep ``6t^5 - 15t^4 + 10t^3``: C2-continuous interpolation weights (no grid creases)."""
    return t * t * t * (t * (t * 6.0 - 15.0) + 10.0)


def lattice_sample(lattice: np.ndarray, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Smoothly interpolate a wrapping ``(n, m)`` lattice at continuous lattice coordinates ``u`` (along m), ``v`` (along n).

    ``u``/``v`` are in lattice cells (any real value; the lattice repeats), same shape; returns that shape.
    """
    n, m = lattice.shape
    u0 = np.floor(u)
    v0 = np.floor(v)
    fu = _fade(u - u0)
    fv = _fade(v - v0)
    i0 = u0.astype(np.int64) % m
    j0 = v0.astype(np.int64) % n
    i1 = (i0 + 1) % m
    j1 = (j0 + 1) % n
    a = lattice[j0, i0] + (lattice[j0, i1] - lattice[j0, i0]) * fu
    b = lattice[j1, i0] + (lattice[j1, i1] - lattice[j1, i0]) * fu
    return a + (b - a) * fv


def value_noise(size: int, cells: int, rng: np.random.Generator) -> np.ndarray:
    """Tileable ``(size, size)`` value noise in ``[0, 1]`` with ``cells`` lattice cells per side."""
    lattice = rng.random((cells, cells))
    coords = (np.arange(size) + 0.5) * (cells / size)
    return lattice_sample(lattice, coords[None, :].repeat(size, 0), coords[:, None].repeat(size, 1))


def fbm(size: int, cells: int, rng: np.random.Generator, *, octaves: int = 5, gain: float = 0.5) -> np.ndarray:
    """Tileable fractal noise ``(size, size)`` in ``[0, 1]``: octaves of :func:`value_noise` at 2x frequency each.

    Octaves whose lattice would exceed the image resolution are skipped (they would only alias).
    """
    return _octaves(size, cells, rng, octaves, gain, lambda n: n)


def ridged(size: int, cells: int, rng: np.random.Generator, *, octaves: int = 4) -> np.ndarray:
    """Tileable ridged noise in ``[0, 1]`` (``1 - |2n - 1|`` per octave): sharp crests for cracks and veins."""
    return _octaves(size, cells, rng, octaves, 0.5, lambda n: (1.0 - np.abs(2.0 * n - 1.0)) ** 2)


def _octaves(size: int, cells: int, rng: np.random.Generator, octaves: int, gain: float, shape) -> np.ndarray:
    """Weighted mean of ``shape(value_noise)`` over octaves at doubling frequency (skipping octaves finer than the
    image, which would only alias)."""
    total = np.zeros((size, size))
    weight_sum = 0.0
    weight = 1.0
    for octave in range(octaves):
        c = cells * (2**octave)
        if c > size:
            break
        total += weight * shape(value_noise(size, c, rng))
        weight_sum += weight
        weight *= gain
    return total / weight_sum


class Field2D:
    """A seeded fractal noise field over the ground plane, evaluated at arbitrary world points ``(x, z)``.

    Used for terrain elevation and ground material masks, which must be sampled at mesh vertices and at
    query points alike. ``scale`` is the size in metres of one lattice cell of the first octave.
    """

    def __init__(self, rng: np.random.Generator, *, scale: float, octaves: int = 4, gain: float = 0.5,
                 lattice: int = 64) -> None:
        self.scale = float(scale)
        self.gain = float(gain)
        self.lattices = [rng.random((lattice, lattice)) for _ in range(octaves)]
        # per-octave offsets so the octaves' lattice points do not line up at the origin
        self.offsets = rng.random((octaves, 2)) * lattice

    def __call__(self, x: np.ndarray, z: np.ndarray) -> np.ndarray:
        """Noise in ``[0, 1]`` at world points (arrays of equal shape)."""
        x = np.asarray(x, dtype=np.float64)
        z = np.asarray(z, dtype=np.float64)
        total = np.zeros(np.broadcast(x, z).shape)
        weight, weight_sum, freq = 1.0, 0.0, 1.0 / self.scale
        for lattice, (ou, ov) in zip(self.lattices, self.offsets):
            total += weight * lattice_sample(lattice, x * freq + ou, z * freq + ov)
            weight_sum += weight
            weight *= self.gain
            freq *= 2.0
        return total / weight_sum
