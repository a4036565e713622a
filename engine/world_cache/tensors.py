"""The world cache as tensors + JSON metadata, for session files (``.swm``), validated on load.

Why tensors and not a pickle: session files store named tensors (safetensors-style) beside a JSON document, and a
damaged or foreign file must be refused with a message naming the part instead of producing a cache that renders
garbage. :func:`to_tensors` gives one tensor per field of :data:`engine.world_cache.memory.FIELDS` (``(N,) + shape``,
the stored dtypes; ``sizes`` float16) and a JSON-safe ``meta`` dict; :func:`from_tensors` is its exact inverse and
raises :class:`engine.errors.WorldCacheError` naming the tensor or meta key on any mismatch.
"""

from __future__ import annotations

import numpy as np
import torch

from engine.errors import ConfigError, WorldCacheError
from engine.world_cache.memory import FIELDS, OBSERVED_WEIGHT, RECORD, CacheConfig, CacheState

FORMAT = "sana-wm-world-cache/1"


def to_tensors(state: CacheState) -> tuple[dict[str, torch.Tensor], dict]:
    """``({field: tensor}, meta)`` of ``state``; tensors are CPU copies, ``meta`` is JSON-serialisable."""
    tensors = {name: torch.from_numpy(array.copy()) for name, array in state.arrays().items()}
    cfg = state.config
    meta = {"format": FORMAT, "voxel_size": float(cfg.voxel_size), "capacity": int(cfg.capacity),
            "max_weight": int(cfg.max_weight), "tick": int(state.tick), "voxels": len(state)}
    return tensors, meta


def from_tensors(tensors: dict[str, torch.Tensor], meta: dict) -> CacheState:
    """The :class:`CacheState` saved by :func:`to_tensors` (raises :class:`WorldCacheError` naming the bad part)."""
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        found = meta.get("format") if isinstance(meta, dict) else type(meta).__name__
        raise WorldCacheError(f"world cache meta 'format': expected {FORMAT!r}, found {found!r}")
    for key in ("voxel_size", "capacity", "max_weight", "tick", "voxels"):
        if key not in meta:
            raise WorldCacheError(f"world cache meta {key!r}: missing")
    try:
        config = CacheConfig(float(meta["voxel_size"]), int(meta["capacity"]), int(meta["max_weight"]))
    except (ConfigError, TypeError, ValueError) as exc:
        raise WorldCacheError(f"world cache meta: {exc}") from None
    n, tick = meta["voxels"], meta["tick"]
    if not isinstance(n, int) or not 0 <= n <= config.capacity:
        raise WorldCacheError(f"world cache meta 'voxels': expected an integer 0..{config.capacity}, found {n!r}")
    if not isinstance(tick, int) or tick < 0:
        raise WorldCacheError(f"world cache meta 'tick': expected a non-negative integer, found {tick!r}")
    records = np.empty(n, RECORD)
    for name, (dtype, shape) in FIELDS.items():
        if name not in tensors:
            raise WorldCacheError(f"world cache tensor {name!r}: missing")
        t = tensors[name]
        if not isinstance(t, torch.Tensor):
            raise WorldCacheError(f"world cache tensor {name!r}: expected a tensor, found {type(t).__name__}")
        array = t.detach().cpu().numpy()
        if array.dtype != dtype or array.shape != (n, *shape):
            raise WorldCacheError(
                f"world cache tensor {name!r}: expected {dtype} of shape {(n, *shape)}, found {array.dtype} {array.shape}"
            )
        records[name] = array
    keys = records["keys"]
    if n > 1 and not (np.diff(keys) > 0).all():
        raise WorldCacheError("world cache tensor 'keys': expected strictly increasing voxel keys (sorted, unique)")
    sizes = records["sizes"].astype(np.float32)
    if not (np.isfinite(sizes).all() and (sizes > 0).all()):
        raise WorldCacheError("world cache tensor 'sizes': expected finite positive splat sizes, found NaN, inf or <= 0")
    weights = records["weights"]
    if n and not ((weights >= 1) & ((weights <= config.max_weight) | (weights == OBSERVED_WEIGHT))).all():
        raise WorldCacheError(f"world cache tensor 'weights': expected 1..{config.max_weight} "
                              f"or {OBSERVED_WEIGHT} (observed)")
    if n and not ((records["last_seen"] >= 0).all() and (records["last_seen"] <= tick).all()):
        raise WorldCacheError(f"world cache tensor 'last_seen': expected 0..tick = {tick}")
    return CacheState(config, tick, records)
