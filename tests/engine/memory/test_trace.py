"""engine.memory.trace: live tensor bytes on the meta device, fused attention, pre-existing storages not counted."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from engine.memory.trace import FusedAttention, LiveBytes, traced_peak


def meta(*shape: int) -> torch.Tensor:
    return torch.empty(shape, device="meta", dtype=torch.float32)


def test_peak_counts_what_is_alive_at_once_and_frees_what_dies() -> None:
    x = meta(1000, 1000)  # 4 MB, from before the trace: never counted

    def work() -> torch.Tensor:
        y = x @ x  # 4 MB
        z = y + 1  # 8 MB alive
        del y
        return z * 2  # z and the result: 8 MB

    peak, retained = traced_peak(work)
    assert peak == 8_000_000
    assert retained == 4_000_000  # the result, still referenced when the trace ended


def test_an_alias_of_a_storage_from_before_the_trace_is_not_counted() -> None:
    history = meta(1000, 1000).to(torch.bfloat16)
    counter = LiveBytes()
    with counter:
        same = history.to(torch.bfloat16)  # no copy: the same storage handed back
        view = history[:10]
    assert counter.peak == 0 and same is not None and view is not None


def test_fused_attention_allocates_only_its_output() -> None:
    q, k, v = meta(1, 2, 100, 64), meta(1, 2, 500, 64), meta(1, 2, 500, 32)
    with FusedAttention():
        out = F.scaled_dot_product_attention(q, k, v)
        named = F.scaled_dot_product_attention(query=q, key=k, value=v)
    assert out.shape == named.shape == (1, 2, 100, 32)
    peak, _ = traced_peak(lambda: F.scaled_dot_product_attention(q, k, v))
    assert peak == 1 * 2 * 100 * 32 * 4  # no (100 x 500) attention matrix
