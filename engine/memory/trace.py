"""Peak tensor memory of a piece of code, computed on the meta device (no GPU, no real allocation).

Why: the memory plan (:mod:`engine.memory.plan`) needs each stage's activation memory at 720p, and this machine has
no GPU to measure it on. Running the real code on ``meta`` tensors executes every operator (shapes, dtypes, views)
without computing or allocating anything; :class:`LiveBytes` watches every storage the operators create and frees
it when the last tensor using it dies, so its ``peak`` is the most tensor memory alive at once — what the CUDA
caching allocator would have to hand out, minus its rounding (512-byte blocks) and fragmentation, and minus
kernel workspaces (cuBLAS, cuDNN).

Two differences from a GPU run are handled here: ``scaled_dot_product_attention`` on the meta device takes the
math path and materialises the attention matrix, which FlashAttention on a GPU never does, so
:class:`FusedAttention` replaces it by an op that allocates only the output (the attention of SANA-WM's softmax
blocks and of the refiner runs through FlashAttention / cuDNN on Hopper); and storages that existed before the trace
(weights, caches of earlier chunks) are never counted, even when an operator hands them back as an alias.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch.overrides import TorchFunctionMode
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten


class LiveBytes(TorchDispatchMode):
    """Counts the bytes of tensor storages created while active: ``live`` now, ``peak`` the most at once."""

    def __init__(self) -> None:
        super().__init__()
        self.live = 0
        self.peak = 0
        self._sizes: dict[int, int] = {}  # id(storage) -> bytes counted (0: existed before, never counted)

    def _watch(self, storage: torch.UntypedStorage, nbytes: int) -> None:
        key = id(storage)
        self._sizes[key] = nbytes
        self.live += nbytes
        self.peak = max(self.peak, self.live)
        weakref.finalize(storage, self._free, key)

    def _free(self, key: int) -> None:
        self.live -= self._sizes.pop(key, 0)

    def __torch_dispatch__(self, func: Any, types: Any, args: tuple = (), kwargs: dict | None = None) -> Any:
        kwargs = kwargs or {}
        for tensor in tree_flatten((args, kwargs))[0]:
            if isinstance(tensor, torch.Tensor) and id(tensor.untyped_storage()) not in self._sizes:
                self._watch(tensor.untyped_storage(), 0)  # an input from before the trace: not ours to count
        out = func(*args, **kwargs)
        for tensor in tree_flatten(out)[0]:
            if isinstance(tensor, torch.Tensor) and id(tensor.untyped_storage()) not in self._sizes:
                storage = tensor.untyped_storage()
                self._watch(storage, storage.nbytes())
        return out


class FusedAttention(TorchFunctionMode):
    """``F.scaled_dot_product_attention`` as a fused kernel allocates: only the output (see the module docstring)."""

    def __torch_function__(self, func: Any, types: Any, args: tuple = (), kwargs: dict | None = None) -> Any:
        kwargs = kwargs or {}
        if func is F.scaled_dot_product_attention:
            named = dict(zip(("query", "key", "value"), args))
            query, value = named.get("query", kwargs.get("query")), named.get("value", kwargs.get("value"))
            return query.new_empty((*query.shape[:-1], value.shape[-1]))
        return func(*args, **kwargs)


def traced_peak(work: Callable[[], Any]) -> tuple[int, int]:
    """Run ``work`` (on meta tensors) and return ``(peak, retained)`` bytes: the most tensor memory alive at once
    while it ran, and what it left alive (what it returned or stored somewhere) when it finished."""
    counter = LiveBytes()
    with torch.inference_mode(), FusedAttention(), counter:
        result = work()
    retained = counter.live
    del result
    return counter.peak, retained


__all__ = ["FusedAttention", "LiveBytes", "traced_peak"]
