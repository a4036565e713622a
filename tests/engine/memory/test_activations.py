"""engine.memory.activations: the DiT's streaming chunk traced on the meta device agrees with a real run's state and
scales with the tokens of a chunk (a tiny preset: the official one is traced by ``sana-wm plan --retrace``)."""

from __future__ import annotations

import torch

from engine.memory.activations import trace_dit
from engine.model.config import SanaWMConfig
from engine.model.stream_cache import CachedStep, StreamCache
from engine.model.transformer import SanaWMTransformer


def real_cache_bytes(preset: str, grid: tuple[int, int]) -> int:
    """The stream cache after chunks 0, 1, 2 of a real bf16 run on the CPU (the same calls as the trace)."""
    config = SanaWMConfig.from_preset(preset, gated_delta_impl="chunk")
    torch.manual_seed(0)
    model = SanaWMTransformer(config).to(torch.bfloat16).eval()
    w, h = grid
    cache = StreamCache.empty(config.depth)
    for frames, offset in ((4, 0), (3, 4), (3, 7)):
        step = CachedStep(cache, save=True)
        cameras = torch.eye(4).flatten().repeat(1, frames, 1)
        cameras = torch.cat([cameras, torch.tensor([4.0, 4.0, w / 2, h / 2]).repeat(1, frames, 1)], dim=-1)
        with torch.inference_mode():
            model(torch.zeros(1, config.in_channels, frames, h, w, dtype=torch.bfloat16), torch.zeros(1, frames), None,
                  None, cameras, torch.zeros(1, config.plucker_channels, frames, h, w, dtype=torch.bfloat16),
                  frame_offset=offset, mixing=step)  # fmt: skip
        cache = step.next_cache()
    return cache.nbytes()


def test_the_traced_stream_cache_is_the_size_of_a_real_runs() -> None:
    traced = trace_dit("sana-wm-tiny-test", (4, 3))
    assert traced.tokens == 3 * 4 * 3
    assert traced.cache == real_cache_bytes("sana-wm-tiny-test", (4, 3))


def test_activations_grow_with_the_tokens_of_a_chunk() -> None:
    small, large = trace_dit("sana-wm-tiny-test", (4, 3)), trace_dit("sana-wm-tiny-test", (8, 6))
    assert 0 < small.denoise_peak < small.commit_peak
    assert 1.5 < large.denoise_peak / small.denoise_peak <= 4.0  # 4x the tokens; per-head states do not grow
    assert small.first_chunk_peak >= small.commit_peak * 0.9  # chunk 0 has 4 frames, no cache yet
