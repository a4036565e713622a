"""Cached streaming == the uncached chunk-causal forward, call by call, for every window (spec streaming §2-3).

For each chunk ``k = [a, b)`` a denoising call on the chunk alone, with the cache written by t = 0 passes over the
earlier clean chunks, must equal the chunk-causal teacher run on the whole prefix ``[0, b)`` (earlier chunks clean
at t = 0, this chunk noisy) restricted to rows ``[a, b)``. The teacher shares no streaming code with the cache.
"""

from __future__ import annotations

import pytest
import torch

from engine.model.chunks import AttentionWindow, chunk_bounds, sampler_chunk_starts
from engine.model.config import SanaWMConfig
from engine.model.stream_cache import CachedStep, StreamCache
from engine.model.time_mixing import ChunkCausalMixer
from engine.model.transformer import SanaWMTransformer

T, H, W = 22, 2, 3  # 7 chunks: [0,4), [4,7), ..., [19,22)
WINDOWS = [AttentionWindow.full(), AttentionWindow(2, True), AttentionWindow(2, False), AttentionWindow(1, True)]


@pytest.fixture(scope="module")
def setup(builders):
    """A randomised tiny model (3 GDN blocks + 1 softmax block, text on) and its inputs for T latent frames."""
    make_cameras, randomise_ = builders

    config = SanaWMConfig.from_preset("sana-wm-tiny-test", sdpa_bf16=False, caption_channels=16)
    torch.manual_seed(0)
    model = SanaWMTransformer(config).eval()
    randomise_(model, seed=3)
    gen = torch.Generator().manual_seed(1)
    inputs = dict(
        cams=make_cameras(1, T, H, W, gen),
        plucker=torch.randn(1, 48, T, H, W, generator=gen),
        clean=torch.randn(1, config.in_channels, T, H, W, generator=gen),
        caption=(torch.randn(1, 5, 16, generator=gen), torch.tensor([[1, 1, 1, 1, 0]])),
    )
    return model, inputs


def rollout(model, inputs, window, num_frames=T):
    """Per chunk: (cached output, teacher output) of one denoising call at t = 700; then the t = 0 cache write.
    Returns the pairs and the final cache."""
    cams, plucker, clean = inputs["cams"], inputs["plucker"], inputs["clean"]
    text = dict(caption=inputs["caption"][0], caption_mask=inputs["caption"][1])
    gen = torch.Generator().manual_seed(5)
    starts = sampler_chunk_starts(num_frames)
    cache = StreamCache.empty(model.config.depth, window)
    pairs = []
    with torch.no_grad():
        for k, (a, b) in enumerate(chunk_bounds(starts, num_frames)):
            tau = torch.full((1, b - a), 700.0)
            tau[:, 0] = 0.0 if k == 0 else 700.0  # chunk 0's first frame is the clean image latent
            noisy = torch.randn(1, model.config.in_channels, b - a, H, W, generator=gen)
            cam = dict(camera_conditions=cams[:, a:b], chunk_plucker=plucker[:, :, a:b], frame_offset=a)
            cached = model(noisy, tau, **text, **cam, mixing=CachedStep(cache))
            teacher = model(
                torch.cat([clean[:, :, :a], noisy], 2),
                torch.cat([torch.zeros(1, a), tau], 1),
                **text,
                camera_conditions=cams[:, :b],
                chunk_plucker=plucker[:, :, :b],
                mixing=ChunkCausalMixer(starts[: k + 1], b, window),
            )[:, :, a:b]
            pairs.append((cached, teacher))
            save = CachedStep(cache, save=True)
            model(clean[:, :, a:b], torch.zeros(1, b - a), **text, **cam, mixing=save)
            cache = save.next_cache()
    return pairs, cache


@pytest.fixture(scope="module")
def rollouts(setup):
    """``rollouts(window, num_frames=T)``, memoised (several tests look at the same rollout)."""
    done = {}

    def get(window, num_frames=T):
        if (window, num_frames) not in done:
            done[window, num_frames] = rollout(*setup, window, num_frames)
        return done[window, num_frames]

    return get


@pytest.mark.parametrize("window", WINDOWS, ids=str)
def test_cached_chunks_equal_the_chunk_causal_teacher(rollouts, window):
    pairs, _ = rollouts(window)
    assert len(pairs) == 7
    for k, (cached, teacher) in enumerate(pairs):
        assert (cached - teacher).abs().max() < 1e-4, f"chunk {k}"
        assert teacher.abs().mean() > 0.05  # a real signal, not zeros


def test_the_window_and_the_sink_change_late_chunks(rollouts):
    """Guards the test above against windows that silently see everything: they must differ where they should."""
    full, sink, no_sink = ([cached for cached, _ in rollouts(w)[0]] for w in WINDOWS[:3])
    for k in (0, 1, 2):  # every window still sees all earlier chunks
        assert (full[k] - sink[k]).abs().max() < 1e-5 and (sink[k] - no_sink[k]).abs().max() < 1e-5
    for k in (3, 4, 5, 6):
        assert (full[k] - sink[k]).abs().max() > 1e-3  # the window matters
        assert (sink[k] - no_sink[k]).abs().max() > 1e-3  # the sink matters


def test_the_cache_keeps_the_sink_and_the_last_chunk_at_constant_size(setup, rollouts):
    model, _ = setup
    _, after_5 = rollouts(AttentionWindow(2, True), num_frames=16)
    _, after_7 = rollouts(AttentionWindow(2, True))
    assert after_5.chunks_done == 5 and after_7.chunks_done == 7
    assert after_5.nbytes() == after_7.nbytes() > 0
    for block, module in zip(after_7.blocks, model.blocks):
        if module.is_softmax:
            assert sorted(block.kv) == [0, 6]  # what chunk 7 will see
            assert set(block.kv[6]) == {"main", "camera"}
        else:
            assert not block.kv
            assert set(block.states) == {"gdn_m", "gdn_z", "gdn_camera", "conv_tail_main", "conv_tail_camera",
                                         "ffn_tail"}  # fmt: skip


def test_a_save_pass_leaves_its_input_cache_untouched(setup, rollouts):
    model, inputs = setup
    _, cache = rollouts(AttentionWindow(2, True), num_frames=10)
    before = {(i, n): t.clone() for i, b in enumerate(cache.blocks) for n, t in b.states.items()}
    save = CachedStep(cache, save=True)
    a, b = 10, 13
    with torch.no_grad():
        model(torch.randn(1, 8, 3, H, W), torch.zeros(1, 3), inputs["caption"][0], inputs["caption"][1],
              inputs["cams"][:, a:b], inputs["plucker"][:, :, a:b], frame_offset=a, mixing=save)  # fmt: skip
    after = save.next_cache()
    assert after.chunks_done == cache.chunks_done + 1
    for (i, n), tensor in before.items():
        assert torch.equal(cache.blocks[i].states[n], tensor)
