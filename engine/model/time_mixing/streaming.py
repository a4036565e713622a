"""Streaming time mixing: one chunk of a stream, continued from the state the previous chunk left (spec streaming §3).

What a block keeps after chunk ``k`` (a :class:`BlockCache`, written by the t = 0 pass over the finished chunk,
read by every call of chunk ``k + 1``):

===========================  ==================================================================================
GDN main forward state       ``M (B, H, D, D)`` and normaliser ``z (B, H, D)``, fp32 — all history, no window
GDN camera forward state     ``(B, H, D, D)`` fp32
short-conv tails             last ``K - 1`` frames of the *pre-conv* K of each branch ``(B, K-1, S, C)``
FFN temporal-conv tail       last ``k_t // 2`` frames of the FFN's pre-``t_conv`` activations ``(B, C, 1, S)``
softmax K / V per chunk      post-RoPE main K, V and post-UCPE camera K, V of each chunk still in the window
===========================  ==================================================================================

Compared with the chunk-causal teacher (:mod:`.chunk_causal`), which recomputes the history on every call, the
forward scans start from the cached states, the causal conv half from the cached tail, softmax keys include the
cached K/V of the window, and the FFN conv's left frame is the cached one. The whole model's state and the
per-call driver that hands each block its :class:`CachedMixer` are :class:`engine.model.stream_cache.StreamCache`
and :class:`engine.model.stream_cache.CachedStep`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from engine.model.chunks import AttentionWindow
from engine.model.time_mixing.bidirectional import zero_padded_temporal_conv
from engine.model.time_mixing.protocol import Attend
from engine.ops.gated_delta import GatedDeltaScan, bidirectional_delta_numerator, bidirectional_gated_delta
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


class CachedMixer:
    """Time mixing for chunk ``chunk_index`` of a stream, reading ``block`` (this block's cache after the previous
    chunk).

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
    def gated_delta(self, scan: GatedDeltaScan, q, k, v, q_rot, k_rot, beta, g, *, eps: float) -> torch.Tensor:
        states = self.block.states
        initial = (states["gdn_m"], states["gdn_z"]) if "gdn_m" in states else None
        out, (m, z) = bidirectional_gated_delta(scan, q, k, v, q_rot, k_rot, beta, g, eps=eps, initial_state=initial)
        self._keep("gdn_m", m)
        self._keep("gdn_z", z)
        return out

    def delta_numerator(self, scan: GatedDeltaScan, q, k, v, beta, g) -> torch.Tensor:
        initial = self.block.states.get("gdn_camera")
        out, state = bidirectional_delta_numerator(scan, q, k, v, beta, g, initial_state=initial)
        self._keep("gdn_camera", state)
        return out

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
