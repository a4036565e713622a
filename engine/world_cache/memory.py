"""The bounded point memory: coloured points fused on a voxel grid with a fixed capacity, evicting the least recently
observed voxels.

Why voxels: a rollout re-observes the same surfaces chunk after chunk; keying points by their integer voxel
``floor(p / voxel_size)`` merges re-observations instead of piling up copies, and a fixed **capacity** (voxels, not
frames) with least-recently-observed eviction keeps memory and update time O(1) in the rollout length: every
update costs O(capacity + points of the frame), however long the stream.

**Fusion: capped running mean.** Within one frame all pixels landing in a voxel are averaged. Across frames a
voxel's colour and position are a running mean weighted by pixel counts, with the stored weight capped at
``max_weight``: repeated views average away depth noise (an estimated depth map jitters from frame to frame) and
8-bit colour noise, while the cap makes it an exponential moving average in the long run, so a region the model
repaints converges to the new look in a few frames instead of being averaged with the old one forever. (Latest-wins
would throw away that denoising; an uncapped mean would freeze the first look.) The splat size of a voxel is the
finest sample spacing it was seen with, never below ``voxel_size`` (see :mod:`engine.world_cache.unproject`).

**State and budget.** A :class:`CacheState` is immutable: one structured array ``voxels`` ``(N,)`` sorted by key
with the fields ``keys`` int64 packed voxel coordinates
(21 bits per axis, so ±2^20 voxels, ±21 km at 2 cm, around the origin; points beyond are dropped), ``offsets``
uint8 ``(N, 3)`` the fused position inside the voxel in 1/256ths (error <= voxel_size / 512), ``colours`` uint8
``(N, 3)``, ``weights`` uint8 ``(N,)``, ``sizes`` float16 ``(N,)`` splat diameter in scene units, ``last_seen``
int32 ``(N,)`` the update tick of the last observation. That is :data:`BYTES_PER_VOXEL` = 24 bytes per voxel (one
aligned record, 1 padding byte included):
**4.8 MB at the default capacity of 200,000 voxels**, about 2x that transiently during an update, plus the
renderer's vertex buffers (20 bytes per voxel). An update builds new arrays (copy-on-write), so a state taken
earlier (a snapshot) never changes and branches never see each other's points; each kept snapshot costs at most
the budget above.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine.errors import ConfigError
from engine.world_cache.unproject import Points

#: Bits per axis in a packed voxel key, and the bias that makes signed coordinates non-negative.
KEY_BITS = 21
KEY_BIAS = 1 << (KEY_BITS - 1)
_KEY_MASK = (1 << KEY_BITS) - 1
#: Sub-voxel position steps per axis (``offsets`` are uint8).
OFFSET_STEPS = 256
#: ``weights`` value of a voxel fused from an observed image (module docstring); above any ``max_weight``.
OBSERVED_WEIGHT = 255
#: Bytes per stored voxel: key 8 + offsets 3 + colour 3 + weight 1 + (padding 1) + size 2 + last_seen 4.
BYTES_PER_VOXEL = 24

#: ``CacheState`` array names, dtypes and trailing shapes (``(N,) + shape``): the storage contract.
FIELDS: dict[str, tuple[np.dtype, tuple[int, ...]]] = {
    "keys": (np.dtype(np.int64), ()),
    "offsets": (np.dtype(np.uint8), (3,)),
    "colours": (np.dtype(np.uint8), (3,)),
    "weights": (np.dtype(np.uint8), ()),
    "sizes": (np.dtype(np.float16), ()),
    "last_seen": (np.dtype(np.int32), ()),
}


@dataclass(frozen=True)
class CacheConfig:
    """``voxel_size`` in scene units (metres for the official model), ``capacity`` in voxels, ``max_weight`` the
    cap of the running mean's weight (1..254; 255 marks observed voxels, :data:`OBSERVED_WEIGHT`)."""

    voxel_size: float = 0.02
    capacity: int = 200_000
    max_weight: int = 8

    def __post_init__(self) -> None:
        if not (np.isfinite(self.voxel_size) and self.voxel_size > 0):
            raise ConfigError(f"world cache voxel size: expected a positive number, found {self.voxel_size}")
        if int(self.capacity) != self.capacity or self.capacity < 1:
            raise ConfigError(f"world cache capacity: expected a positive integer, found {self.capacity}")
        if int(self.max_weight) != self.max_weight or not 1 <= self.max_weight < OBSERVED_WEIGHT:
            raise ConfigError(f"world cache max weight: expected an integer 1..{OBSERVED_WEIGHT - 1}, "
                              f"found {self.max_weight}")

    @property
    def budget_bytes(self) -> int:
        """Bytes of a full state (the arrays only)."""
        return BYTES_PER_VOXEL * int(self.capacity)


#: One stored voxel as a packed numpy record (the state is a single structured array, so a merge or an eviction
#: moves each voxel once instead of once per field).
#: Aligned to 24 bytes so whole records move as three uint64 words (numpy copies unaligned records byte-wise,
#: about ten times slower).
RECORD = np.dtype([(name, dtype, shape) for name, (dtype, shape) in FIELDS.items()], align=True)
assert RECORD.itemsize == BYTES_PER_VOXEL


def _words(records: np.ndarray) -> np.ndarray:
    """``(N, 3)`` uint64 view of contiguous records (fast row moves)."""
    return records.view(np.uint64).reshape(len(records), 3)


@dataclass(frozen=True, eq=False)
class CacheState:
    """One immutable state of the memory: ``voxels`` ``(N,)`` :data:`RECORD` s sorted by key (see the module
    docstring for the fields); ``tick`` counts updates."""

    config: CacheConfig
    tick: int
    voxels: np.ndarray

    def __post_init__(self) -> None:
        self.voxels.flags.writeable = False  # copy-on-write is a promise: nobody edits in place

    def __len__(self) -> int:
        return len(self.voxels)

    @property
    def nbytes(self) -> int:
        return self.voxels.nbytes

    def __getattr__(self, name: str) -> np.ndarray:  # state.keys, state.colours, ... (read-only views)
        if name in FIELDS:
            return self.voxels[name]
        raise AttributeError(name)

    def arrays(self) -> dict[str, np.ndarray]:
        """Each field as its own contiguous array (``(N,) + shape`` of :data:`FIELDS`)."""
        return {name: np.ascontiguousarray(self.voxels[name]) for name in FIELDS}


def empty_state(config: CacheConfig = CacheConfig()) -> CacheState:
    """A memory with no voxels."""
    return CacheState(config, 0, np.zeros(0, RECORD))


def voxel_coords(keys: np.ndarray) -> np.ndarray:
    """Integer voxel coordinates ``(N, 3)`` int64 of packed ``keys``."""
    keys = np.asarray(keys, dtype=np.int64)
    return np.stack([(keys >> (2 * KEY_BITS)) & _KEY_MASK, (keys >> KEY_BITS) & _KEY_MASK, keys & _KEY_MASK],
                    axis=1) - KEY_BIAS


def positions(state: CacheState, dtype=np.float64) -> np.ndarray:
    """World positions ``(N, 3)`` of the fused points (voxel corner + stored offset); ``dtype=np.float32`` is about
    twice as fast and exact to 1e-7 relative (what the renderer uploads)."""
    inside = (state.offsets.astype(dtype) + dtype(0.5)) * dtype(1.0 / OFFSET_STEPS)
    return (voxel_coords(state.keys).astype(dtype) + inside) * dtype(state.config.voxel_size)


def _pack(cells: np.ndarray) -> np.ndarray:
    c = cells + KEY_BIAS
    return (c[:, 0] << (2 * KEY_BITS)) | (c[:, 1] << KEY_BITS) | c[:, 2]


def _quant(frac: np.ndarray) -> np.ndarray:
    return np.clip(np.floor(frac * OFFSET_STEPS), 0, OFFSET_STEPS - 1).astype(np.uint8)


def _colour8(colour: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(colour), 0, 255).astype(np.uint8)


def observed_part(state: CacheState) -> CacheState:
    """The voxels of ``state`` fused from observed images (module docstring), as a state of their own (same config
    and tick; still sorted by key, so it renders and saves like any state)."""
    mask = state.voxels["weights"] == OBSERVED_WEIGHT
    return state if mask.all() else CacheState(state.config, state.tick, state.voxels[mask])


def update(state: CacheState, points: Points, *, observed: bool = False) -> CacheState:
    """Fuse ``points`` (one frame) into ``state``; returns a new state with ``tick + 1`` (``state`` is unchanged).
    ``observed``: the frame is a real image, whose voxels are kept as given (module docstring).

    Vectorised: one ``argsort`` groups the frame's points by voxel (``add.reduceat`` averages them), ``searchsorted`` finds the voxels already stored,
    the oldest-``last_seen`` unobserved voxels are dropped to make room, and new voxels are inserted in key order.
    Only when the frame alone has more voxels than the capacity are some of its own voxels dropped.
    """
    cfg = state.config
    tick = state.tick + 1
    scaled = np.asarray(points.positions, dtype=np.float64) / cfg.voxel_size  # (M, 3) in voxels
    cells = np.floor(scaled)
    data = np.concatenate([scaled - cells, points.colours, points.footprints[:, None]], axis=1,
                          dtype=np.float32)  # (M, 7): offset in the voxel, RGB, footprint
    if len(cells) and not -(KEY_BIAS - 1) < cells.min() <= cells.max() < KEY_BIAS - 1:  # rare: far points
        inside = (np.abs(cells) < KEY_BIAS - 1).all(axis=1)
        cells, data = cells[inside], data[inside]
    flat = _pack(cells.astype(np.int64))
    # group by voxel: sort once, then segment sums (one reduceat for all seven columns)
    order = np.argsort(flat)
    sorted_keys = flat[order]
    starts = np.flatnonzero(np.r_[True, sorted_keys[1:] != sorted_keys[:-1]]) if len(flat) else np.zeros(0, np.int64)
    keys = sorted_keys[starts]
    counts = np.diff(np.r_[starts, len(flat)])
    means = np.add.reduceat(data[order], starts, axis=0, dtype=np.float64) / counts[:, None] if len(flat) else np.zeros((0, 7))
    new_frac, new_colour = means[:, :3], means[:, 3:6]
    new_size = np.maximum(means[:, 6], cfg.voxel_size)

    # voxels already stored: capped running mean
    stored = state.voxels
    n_old = len(stored)
    at = np.searchsorted(stored["keys"], keys)
    hit = at < n_old
    hit[hit] = stored["keys"][at[hit]] == keys[hit]
    old = at[hit]
    seen = np.empty(len(old), RECORD)
    _words(seen)[:] = np.take(_words(stored), old, axis=0)
    was_observed = seen["weights"] == OBSERVED_WEIGHT
    kept = None if observed else seen[was_observed]  # a generated frame never repaints what was observed
    w_old = np.minimum(seen["weights"], cfg.max_weight).astype(np.float64)[:, None]
    w_new = counts[hit].astype(np.float64)[:, None]
    old_frac = (seen["offsets"].astype(np.float64) + 0.5) / OFFSET_STEPS
    seen["offsets"] = _quant((old_frac * w_old + new_frac[hit] * w_new) / (w_old + w_new))
    seen["colours"] = _colour8((seen["colours"] * w_old + new_colour[hit] * w_new) / (w_old + w_new))
    seen["sizes"] = np.minimum(seen["sizes"].astype(np.float64), new_size[hit]).astype(np.float16)
    seen["weights"] = OBSERVED_WEIGHT if observed else np.minimum(w_old[:, 0] + w_new[:, 0], cfg.max_weight)
    if kept is not None:
        seen[was_observed] = kept
    seen["last_seen"] = tick

    miss = ~hit
    fresh = np.empty(int(miss.sum()), RECORD)
    fresh["keys"] = keys[miss]
    fresh["offsets"] = _quant(new_frac[miss])
    fresh["colours"] = _colour8(new_colour[miss])
    fresh["weights"] = OBSERVED_WEIGHT if observed else np.minimum(counts[miss], cfg.max_weight)
    fresh["sizes"] = new_size[miss].astype(np.float16)
    fresh["last_seen"] = tick

    # room: drop the least recently observed voxels this frame did not see (unobserved ones first)
    keep = np.ones(n_old, bool)
    excess = n_old + len(fresh) - cfg.capacity
    if excess > 0:
        unseen = np.ones(n_old, bool)
        unseen[old] = False
        candidates = np.nonzero(unseen)[0]
        if excess < len(candidates):
            # observed voxels rank after every unobserved one: their age is offset by the largest tick
            age = stored["last_seen"][candidates].astype(np.int64)
            age += np.where(stored["weights"][candidates] == OBSERVED_WEIGHT, np.int64(1) << 32, 0)
            candidates = candidates[np.argpartition(age, excess - 1)[:excess]]
        keep[candidates] = False
    rank = np.cumsum(keep) - 1  # index of each kept old voxel among the kept ones
    kept = np.empty(int(keep.sum()), RECORD)
    _words(kept)[:] = _words(stored)[keep]
    _words(kept)[rank[old]] = _words(seen)

    # merge in key order: new voxels go where searchsorted put them (shifted by the drops before them)
    total = len(kept) + len(fresh)
    before = np.r_[0, np.cumsum(keep)][at[miss]]  # kept old voxels with a smaller key
    slots_new = before + np.arange(len(fresh))
    merged = np.empty(total, RECORD)
    is_old = np.ones(total, bool)
    is_old[slots_new] = False
    _words(merged)[is_old] = _words(kept)
    _words(merged)[slots_new] = _words(fresh)
    if total > cfg.capacity:  # the frame alone exceeds the capacity: keep an arbitrary but deterministic subset
        merged = merged[np.sort(np.argpartition(-merged["last_seen"], cfg.capacity - 1)[: cfg.capacity])]
    return CacheState(cfg, tick, merged)
