"""Streaming state of the DiT between chunks, and the time mixer that runs one chunk from it (spec streaming §3).

What a block keeps after chunk ``k`` (written by the t = 0 pass over the finished chunk, read by every call of
chunk ``k + 1``):

===========================  ==================================================================================
GDN main forward state       ``M (B, H, D, D)`` and normaliser ``z (B, H, D)``, fp32 — all history, no window
GDN camera forward state     ``(B, H, D, D)`` fp32
short-conv tails             last ``K - 1`` frames of the *pre-conv* K of each branch ``(B, K-1, S, C)``
FFN temporal-conv tail       last ``k_t // 2`` frames of the FFN's pre-``t_conv`` activations ``(B, C, 1, S)``
softmax K / V per chunk      post-RoPE main K, V and post-UCPE camera K, V of each chunk still in the window
===========================  ==================================================================================

A :class:`StreamCache` is never modified in place: the save pass builds a new one, so a snapshot of a session is
just a reference to its cache (rewinding and branching copy nothing). Chunks that leave the softmax window are
dropped from the new cache, which keeps memory constant in the number of chunks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F

from engine.model.chunks import AttentionWindow
from engine.model.temporal import Attend, zero_padded_temporal_conv
from engine.ops.dispatch import gated_delta_kernels
from engine.ops.short_conv import bidirectional_short_conv


@dataclass(frozen=True)
class BlockCache:
    """One block's state after a chunk. ``states`` holds recurrent states and conv tails by name; ``kv`` maps a
    chunk index to that chunk's softmax tensors by branch (``{"main": (K, V), "camera": (K, V)}``)."""

    states: dict[str, torch.Tensor] = field(default_factory=dict)
    kv: dict[int, dict[str, tuple[torch.Tensor, torch.Tensor]]] = field(default_factory=dict)

    def nbytes(self) -> int:
        tensors = list(self.states.values()) + [t for chunk in self.kv.values() for kv in chunk.values() for t in kv]
        return sum(t.numel() * t.element_size() for t in tensors)


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


class CachedMixer:
    """Time mixing for chunk ``cache.chunks_done`` of a stream, reading ``block`` (this block's cache).

    With ``save=True`` it also records what the next chunk needs into :attr:`saved` (a new :class:`BlockCache`);
    the input cache is never touched.
    """

    def __init__(self, block: BlockCache, chunk_index: int, window: AttentionWindow, save: bool) -> None:
        self.block = block
        self.chunk_index = chunk_index
        self.window = window
        self.save = save
        self.saved: BlockCache | None = BlockCache() if save else None

    def _keep(self, name: str, tensor: torch.Tensor) -> None:
        if self.saved is not None:
            self.saved.states[name] = tensor.detach()

    # ----- short conv on K: the causal half continues from the previous chunk's raw K
    def short_conv(self, slot: str, x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        name = f"conv_tail_{slot}"
        past = self.block.states.get(name)
        tail_len = weight.shape[-1] - 1
        if self.saved is not None and tail_len > 0:
            history = x if past is None else torch.cat([past.to(x.dtype), x], dim=1)
            tail = history[:, -tail_len:]
            if tail.shape[1] < tail_len:  # a stream shorter than the kernel: zeros before frame 0
                tail = F.pad(tail, (0, 0, 0, 0, tail_len - tail.shape[1], 0))
            self._keep(name, tail)
        return bidirectional_short_conv(x, weight, past)

    # ----- gated delta scans: forward seeded from the cached state, reverse inside the chunk
    def gated_delta(self, q, k, v, q_rot, k_rot, beta, g, *, eps: float, impl: str) -> torch.Tensor:
        kernels = gated_delta_kernels(impl, q.device)
        num_f, state = kernels.numerator_scan(q_rot, k_rot, v, beta, g, initial_state=self.block.states.get("gdn_m"))
        den_f, z = kernels.normaliser_scan(q, k, beta, g, initial_state=self.block.states.get("gdn_z"))
        num_r, _ = kernels.numerator_scan(q_rot, k_rot, v, beta, g, reverse=True)
        den_r, _ = kernels.normaliser_scan(q, k, beta, g, reverse=True)
        self._keep("gdn_m", state)
        self._keep("gdn_z", z)
        return (num_f + num_r) / (den_f + den_r + eps)[..., None]

    def delta_numerator(self, q, k, v, beta, g, *, impl: str) -> torch.Tensor:
        kernels = gated_delta_kernels(impl, q.device)
        fwd, state = kernels.numerator_scan(q, k, v, beta, g, initial_state=self.block.states.get("gdn_camera"))
        rev, _ = kernels.numerator_scan(q, k, v, beta, g, reverse=True)
        self._keep("gdn_camera", state)
        return fwd + rev

    # ----- softmax: keys of the window's chunks, then this chunk's own
    def attend(self, slot: str, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, sdpa: Attend) -> torch.Tensor:
        earlier = [self.block.kv[j][slot] for j in self.window.visible(self.chunk_index)]
        if self.saved is not None:
            self.saved.kv.setdefault(self.chunk_index, {})[slot] = (k.detach(), v.detach())
        keys = torch.cat([kv[0].to(k.dtype) for kv in earlier] + [k], dim=2)
        values = torch.cat([kv[1].to(v.dtype) for kv in earlier] + [v], dim=2)
        return sdpa(q, keys, values)

    # ----- FFN temporal conv: the previous chunk's last frame on the left
    def temporal_conv(self, y: torch.Tensor, t_conv: torch.nn.Conv2d) -> torch.Tensor:
        half = t_conv.kernel_size[0] // 2
        before = self.block.states.get("ffn_tail")
        if self.saved is not None and half > 0:
            history = y if before is None else torch.cat([before.to(y.dtype), y], dim=2)
            self._keep("ffn_tail", F.pad(history[:, :, -half:], (0, 0, max(half - history.shape[2], 0), 0)))
        return zero_padded_temporal_conv(y, t_conv, before)

    def finished(self) -> BlockCache:
        """The block cache after this chunk: the saved states plus the softmax K/V the next chunk's window needs."""
        if self.saved is None:
            raise RuntimeError("finished() needs a mixer created with save=True")
        keep = set(self.window.visible(self.chunk_index + 1))
        kv = {j: tensors for j, tensors in {**self.block.kv, **self.saved.kv}.items() if j in keep}
        return BlockCache(states=dict(self.saved.states), kv=kv)


class CachedStep:
    """The :class:`~engine.model.temporal.TimeMixing` of one model call on chunk ``cache.chunks_done``.

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
