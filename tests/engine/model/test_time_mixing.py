"""The chunk-causal teacher's time mixing, against the spec's formulations (spec streaming §2), and against the
bidirectional mode it must reduce to with one chunk."""

from __future__ import annotations

import torch

from engine.model.chunks import AttentionWindow, teacher_chunk_starts
from engine.model.config import SanaWMConfig
from engine.model.time_mixing import BIDIRECTIONAL, ChunkCausalMixer
from engine.model.transformer import SanaWMTransformer
from engine.ops.gated_delta import gated_delta_scan, naive

STARTS = (0, 4, 7)  # chunks [0,4), [4,7), [7,10)
T = 10


def test_short_conv_is_causal_over_all_frames_and_anticausal_inside_each_chunk():
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(1, T, 2, 3, generator=gen)  # (B, T, S, C)
    weight = torch.randn(3, 1, 4, generator=gen)
    w = weight[:, 0, :]  # (C, K): w_0 .. w_3
    out = ChunkCausalMixer(STARTS, T).short_conv("main", x, weight)
    ends = {t: b for a, b in zip(STARTS, (*STARTS[1:], T)) for t in range(a, b)}
    for t in range(T):
        fwd = sum(w[:, j] * x[0, t - 3 + j] for j in range(4) if t - 3 + j >= 0)
        bwd = sum(w[:, j] * x[0, t + 3 - j] for j in range(4) if t + 3 - j < ends[t])
        assert torch.allclose(out[0, t], fwd + bwd - w[:, 3] * x[0, t], atol=1e-6)


def test_reverse_scans_equal_one_global_scan_with_gates_zeroed_at_chunk_starts():
    """The official formulation: beta_bwd, g_bwd = copies with 0 at every interior chunk start."""
    gen = torch.Generator().manual_seed(1)
    q, k, v = (torch.randn(1, 2, T, 3, 4, generator=gen) * 0.5 for _ in range(3))
    beta = torch.rand(1, 2, T, 3, generator=gen)
    g = 0.5 + 0.5 * torch.rand(1, 2, T, generator=gen)
    fwd, _ = naive.numerator_scan(q, k, v, beta, g)
    beta_bwd, g_bwd = beta.clone(), g.clone()
    beta_bwd[:, :, list(STARTS[1:])] = 0.0
    g_bwd[:, :, list(STARTS[1:])] = 0.0
    rev, _ = naive.numerator_scan(q, k, v, beta_bwd, g_bwd, reverse=True)
    ours = ChunkCausalMixer(STARTS, T).delta_numerator(gated_delta_scan("naive"), q, k, v, beta, g)
    assert torch.allclose(ours, fwd + rev, atol=1e-6)


def test_ffn_temporal_conv_sees_the_previous_frame_and_zeros_after_the_chunk():
    gen = torch.Generator().manual_seed(2)
    conv = torch.nn.Conv2d(3, 3, (3, 1), bias=False)
    y = torch.randn(1, 3, T, 2, generator=gen)  # (B, C, T, S)
    out = ChunkCausalMixer(STARTS, T).temporal_conv(y, conv)
    w = conv.weight[:, :, :, 0]  # (C_out, C_in, 3)
    zero = torch.zeros_like(y[0, :, 0])
    for t in range(T):
        last_of_chunk = t + 1 in (*STARTS[1:], T)
        prev = y[0, :, t - 1] if t > 0 else zero
        nxt = zero if last_of_chunk else y[0, :, t + 1]
        expected = y[0, :, t] + w[:, :, 0] @ prev + w[:, :, 1] @ y[0, :, t] + w[:, :, 2] @ nxt
        assert torch.allclose(out[0, :, t], expected, atol=1e-5), t


def _model() -> SanaWMTransformer:
    torch.manual_seed(0)
    return SanaWMTransformer(SanaWMConfig.from_preset("sana-wm-tiny-test", sdpa_bf16=False)).eval()


def _inputs(cameras, frames=T, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return dict(
        latents=torch.randn(1, 8, frames, 2, 3, generator=gen),
        timesteps=torch.rand(1, frames, generator=gen) * 1000,
        camera_conditions=cameras(1, frames, 2, 3, gen),
        chunk_plucker=torch.randn(1, 48, frames, 2, 3, generator=gen),
    )


def test_one_chunk_over_the_whole_clip_is_the_bidirectional_model(cameras):
    model, inputs = _model(), _inputs(cameras)
    with torch.no_grad():
        bidirectional = model(**inputs, mixing=BIDIRECTIONAL)
        one_chunk = model(**inputs, mixing=ChunkCausalMixer((0,), T))
    assert (bidirectional - one_chunk).abs().max() < 1e-5


def test_outputs_of_a_chunk_never_depend_on_later_chunks(cameras):
    model, inputs = _model(), _inputs(cameras)
    changed = dict(inputs, latents=inputs["latents"].clone())
    changed["latents"][:, :, 7:] += 1.0  # only the last chunk
    mixing = ChunkCausalMixer(teacher_chunk_starts(T), T, AttentionWindow(2, True))
    with torch.no_grad():
        a, b = model(**inputs, mixing=mixing), model(**changed, mixing=mixing)
        bidir_a, bidir_b = model(**inputs), model(**changed)
    assert torch.equal(a[:, :, :7], b[:, :, :7])
    assert (a[:, :, 7:] - b[:, :, 7:]).abs().max() > 1e-3
    assert (bidir_a[:, :, :7] - bidir_b[:, :, :7]).abs().max() > 1e-3  # the bidirectional model does look ahead


def test_gdn_blocks_hold_the_scan_their_config_names_and_the_fast_scan_matches_the_reference(cameras):
    """The implementation is resolved once, at build time, from ``gated_delta_impl``; it adds no state-dict keys,
    and a model on the chunked scan equals the same weights on the frame-recurrent reference in both whole-clip
    modes."""
    torch.manual_seed(0)
    config = SanaWMConfig.from_preset("sana-wm-tiny-test", sdpa_bf16=False, gated_delta_impl="chunk")
    fast = SanaWMTransformer(config).eval()
    reference = SanaWMTransformer(config.replace(gated_delta_impl="naive")).eval()
    reference.load_state_dict(fast.state_dict())  # strict: same keys
    gdn = [i for i, block in enumerate(fast.blocks) if not block.is_softmax]
    assert gdn and {fast.blocks[i].attn.scan.name for i in gdn} == {"chunk"}
    assert {reference.blocks[i].attn.scan.name for i in gdn} == {"naive"}
    inputs = _inputs(cameras)
    with torch.no_grad():
        for mixing in (BIDIRECTIONAL, ChunkCausalMixer(STARTS, T)):
            ours, ref = fast(**inputs, mixing=mixing), reference(**inputs, mixing=mixing)
            torch.testing.assert_close(ours, ref, atol=1e-5, rtol=1e-5)
