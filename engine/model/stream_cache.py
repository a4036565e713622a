"""The whole model's streaming state between chunks, and the model call that advances it (spec streaming §3).

A :class:`StreamCache` holds one :class:`~engine.model.time_mixing.streaming.BlockCache` per block (what each
block's streaming time mixer reads and writes: GDN states, conv tails, the softmax K/V of the window; table in
:mod:`engine.model.time_mixing.streaming`) and how many chunks are done. :class:`CachedStep` is the time mixing of
one model call on the next chunk: it hands each block a
:class:`~engine.model.time_mixing.streaming.CachedMixer` over its cache, and after the t = 0 pass over the finished
chunk (``save=True``) collects the new cache.

A :class:`StreamCache` is never modified in place: the save pass builds a new one, so a snapshot of a session is
just a reference to its cache (rewinding and branching copy nothing). Chunks that leave the softmax window are
dropped from the new cache, which keeps memory constant in the number of chunks.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from engine.errors import clip_text
from engine.model.chunks import AttentionWindow
from engine.model.time_mixing.streaming import BlockCache, CachedMixer

__all__ = ["BlockCache", "CachedStep", "MAX_DEPTH", "StreamCache"]

#: The most blocks a stored cache may claim (the official DiT has 20).
MAX_DEPTH = 1024


@dataclass(frozen=True)
class StreamCache:
    """The whole model's state after ``chunks_done`` chunks (``blocks[i]`` for block ``i``)."""

    blocks: tuple[BlockCache, ...]
    chunks_done: int
    window: AttentionWindow

    @classmethod
    def empty(cls, depth: int, window: AttentionWindow | None = None) -> StreamCache:
        return cls(tuple(BlockCache() for _ in range(depth)), 0, window or AttentionWindow())

    def nbytes(self) -> int:
        """Bytes held by this cache's tensors (shared tensors counted once per block)."""
        return sum(block.nbytes() for block in self.blocks)

    def to_tensors(self) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        """Flatten for saving (session files): ``({name: tensor}, json-able metadata)``.

        Names are ``blocks.<i>.states.<state>`` and ``blocks.<i>.kv.<chunk>.<slot>.k`` / ``.v``. The tensors are the
        cache's own (no copies), so a writer can store a tensor shared by several caches (the sink chunk's K/V)
        once by identity. :meth:`from_tensors` is the inverse.
        """
        tensors: dict[str, torch.Tensor] = {}
        for i, block in enumerate(self.blocks):
            for name, tensor in block.states.items():
                tensors[f"blocks.{i}.states.{name}"] = tensor
            for chunk, slots in block.kv.items():
                for slot, (k, v) in slots.items():
                    tensors[f"blocks.{i}.kv.{chunk}.{slot}.k"] = k
                    tensors[f"blocks.{i}.kv.{chunk}.{slot}.v"] = v
        window = {"num_cached_chunks": self.window.num_cached_chunks, "sink": self.window.sink}
        return tensors, {"depth": len(self.blocks), "chunks_done": self.chunks_done, "window": window}

    @classmethod
    def from_tensors(cls, tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> StreamCache:
        """Rebuild a cache from :meth:`to_tensors` output. Raises ``ValueError`` naming a malformed tensor name."""
        depth = int(meta["depth"])
        if not 0 < depth <= MAX_DEPTH:  # a damaged file's depth must not make millions of empty blocks
            raise ValueError(f"stream cache depth: expected 1..{MAX_DEPTH} blocks, found {clip_text(depth, 20)}")
        states: list[dict[str, torch.Tensor]] = [{} for _ in range(depth)]
        kv: list[dict[int, dict[str, dict[str, torch.Tensor]]]] = [{} for _ in range(depth)]
        for name, tensor in tensors.items():
            parts = name.split(".")
            block = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else depth
            if len(parts) == 4 and parts[0] == "blocks" and parts[2] == "states" and block < depth:
                states[block][parts[3]] = tensor
            elif (len(parts) == 6 and parts[0] == "blocks" and parts[2] == "kv" and block < depth
                  and parts[3].isdigit() and parts[5] in ("k", "v")):  # fmt: skip
                kv[block].setdefault(int(parts[3]), {}).setdefault(parts[4], {})[parts[5]] = tensor
            else:
                raise ValueError(
                    f"stream cache tensor {name!r}: expected blocks.<i < {depth}>.states.<name> or "
                    "blocks.<i>.kv.<chunk>.<slot>.k|v"
                )
        blocks = []
        for i in range(depth):
            pairs: dict[int, dict[str, tuple[torch.Tensor, torch.Tensor]]] = {}
            for chunk, slots in kv[i].items():
                for slot, both in slots.items():
                    if set(both) != {"k", "v"}:
                        raise ValueError(f"stream cache block {i} chunk {chunk} slot {slot!r}: expected k and v, found {sorted(both)}")
                    pairs.setdefault(chunk, {})[slot] = (both["k"], both["v"])
            blocks.append(BlockCache(states=states[i], kv=pairs))
        window = AttentionWindow(int(meta["window"]["num_cached_chunks"]), bool(meta["window"]["sink"]))
        return cls(tuple(blocks), int(meta["chunks_done"]), window)


class CachedStep:
    """The :class:`~engine.model.time_mixing.TimeMixing` of one model call on chunk ``cache.chunks_done``.

    Denoising calls use ``save=False`` and only read ``cache``; the t = 0 pass over the finished chunk uses
    ``save=True`` and then :meth:`next_cache` returns the cache for the following chunk.
    """

    def __init__(self, cache: StreamCache, save: bool = False) -> None:
        self.cache = cache
        self.save = save
        self._mixers: dict[int, CachedMixer] = {}

    def for_block(self, index: int) -> CachedMixer:
        mixer = CachedMixer(self.cache.blocks[index], self.cache.chunks_done, self.cache.window, self.save)
        self._mixers[index] = mixer
        return mixer

    def next_cache(self) -> StreamCache:
        if not self.save or len(self._mixers) != len(self.cache.blocks):
            raise RuntimeError("next_cache() needs a completed model call made with save=True")
        blocks = tuple(self._mixers[i].finished() for i in range(len(self.cache.blocks)))
        return StreamCache(blocks, self.cache.chunks_done + 1, self.cache.window)
