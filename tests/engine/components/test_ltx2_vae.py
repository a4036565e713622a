"""LTX2VideoCodec: normalisation and shapes of encode/decode, and the causal stream decoder against diffusers'
one-shot causal decode on the tiny spec §4.1 VAE (chunks [4, 3, 3], one latent at a time, snapshot/restore)."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import torch
from diffusers import AutoencoderKLLTX2Video

from engine.components.codec import LatentCodec, StreamDecoder, decoder_state_from_tensors, to_uint8
from engine.components.ltx2_vae import LTX2VideoCodec
from engine.errors import SanaWMInputError

TINY = dict(
    latent_channels=8, block_out_channels=(16, 32, 64, 128), decoder_block_out_channels=(16, 32, 64),
    layers_per_block=(1, 1, 1, 1, 1), decoder_layers_per_block=(1, 1, 1, 1),
)  # fmt: skip
ATOL = 1e-4  # float pixels in [-1, 1]; observed differences are ~1e-6 (float32 reassociation only)


def _vae(decoder_causal: bool, **overrides) -> AutoencoderKLLTX2Video:
    torch.manual_seed(0)
    kwargs = dict(TINY, spatial_compression_ratio=32, temporal_compression_ratio=8)
    vae = AutoencoderKLLTX2Video(**{**kwargs, **overrides}, decoder_causal=decoder_causal)
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():
        vae.latents_mean.copy_(0.3 * torch.randn(8, generator=gen))
        vae.latents_std.copy_(0.5 + torch.rand(8, generator=gen))
    return vae.eval()


@pytest.fixture(scope="module")
def causal_codec() -> LTX2VideoCodec:
    return LTX2VideoCodec(_vae(decoder_causal=True))


def _latents(frames: int, seed: int = 3) -> torch.Tensor:
    return torch.randn(1, 8, frames, 2, 3, generator=torch.Generator().manual_seed(seed))


def _reference_causal_decode(codec: LTX2VideoCodec, latents: torch.Tensor) -> torch.Tensor:
    """diffusers' own one-shot decode with causal=True, untiled, as (F, H, W, 3)."""
    mean, std = codec.vae.latents_mean.view(1, -1, 1, 1, 1), codec.vae.latents_std.view(1, -1, 1, 1, 1)
    raw = latents * std / codec.vae.config.scaling_factor + mean
    with torch.no_grad():
        return codec.vae.decoder(raw, None, causal=True)[0].permute(1, 2, 3, 0)


def test_implements_the_codec_interface_with_ltx2_factors(causal_codec) -> None:
    assert isinstance(causal_codec, LatentCodec) and isinstance(causal_codec.stream_decoder(), StreamDecoder)
    assert (causal_codec.latent_channels, causal_codec.spatial_factor, causal_codec.temporal_factor) == (8, 32, 8)
    vae = causal_codec.vae  # the NVlabs tiling setting (spec §1.5)
    assert vae.use_tiling and vae.use_framewise_decoding and vae.use_framewise_encoding
    assert (vae.tile_sample_min_num_frames, vae.tile_sample_stride_num_frames) == (96, 64)


@pytest.mark.parametrize("frames", [1, 9, 17])
def test_encode_is_the_normalised_posterior_mode_and_decode_counts_frames(causal_codec, frames) -> None:
    pixels = np.random.default_rng(frames).integers(0, 256, (frames, 64, 96, 3), dtype=np.uint8)
    latents = causal_codec.encode(pixels)
    t = (frames - 1) // 8 + 1
    assert latents.shape == (1, 8, t, 2, 3) and latents.dtype == torch.float32
    vae = causal_codec.vae
    x = torch.from_numpy(pixels).float().permute(3, 0, 1, 2)[None] / 127.5 - 1
    with torch.no_grad():
        mode = vae.encode(x).latent_dist.mode()
    mean, std = vae.latents_mean.view(1, -1, 1, 1, 1), vae.latents_std.view(1, -1, 1, 1, 1)
    expected = (mode - mean) * vae.config.scaling_factor / std
    torch.testing.assert_close(latents, expected, rtol=0, atol=1e-6)
    torch.testing.assert_close(causal_codec.denormalise(latents), mode, rtol=0, atol=1e-5)
    decoded = causal_codec.decode(latents)
    assert decoded.shape == (frames, 64, 96, 3) and decoded.dtype == np.uint8


@pytest.mark.parametrize("decoder_causal", [True, False])
def test_chunked_stream_decode_equals_one_shot_causal_decode(decoder_causal, caplog) -> None:
    codec = LTX2VideoCodec(_vae(decoder_causal))
    z = _latents(10)
    reference = _reference_causal_decode(codec, z)  # (73, 64, 96, 3)
    with caplog.at_level(logging.WARNING, logger="engine.components.ltx2_vae"):
        stream = codec.stream_decoder()
    assert ("non-causal" in caplog.text) is (not decoder_causal)
    chunks, start = [], 0
    for n in (4, 3, 3):
        chunks.append(stream.decode_next_pixels(z[:, :, start : start + n]))
        start += n
    assert [c.shape[0] for c in chunks] == [25, 24, 24]
    streamed = torch.cat(chunks)
    assert streamed.shape == reference.shape == (73, 64, 96, 3)
    assert (streamed - reference).abs().max() < ATOL
    if decoder_causal:  # the codec's own one-shot decode (configured causal, below the tiling thresholds)
        assert (codec.decode_pixels(z) - reference).abs().max() < ATOL
    # the uint8 path: same frames up to one step where the truncation falls on either side
    stream.restore(None)
    as_uint8 = np.concatenate([stream.decode_next(z[:, :, :4]), stream.decode_next(z[:, :, 4:])])
    assert np.abs(as_uint8.astype(int) - to_uint8(reference).astype(int)).max() <= 1


def test_one_latent_per_call_equals_one_shot(causal_codec) -> None:
    z = _latents(6, seed=5)
    stream = causal_codec.stream_decoder()
    parts = [stream.decode_next_pixels(z[:, :, i : i + 1]) for i in range(6)]
    assert [p.shape[0] for p in parts] == [1, 8, 8, 8, 8, 8]
    assert (torch.cat(parts) - _reference_causal_decode(causal_codec, z)).abs().max() < ATOL


def test_snapshot_restore_branches_and_rewinds_exactly(causal_codec) -> None:
    z = _latents(10)
    other = _latents(3, seed=9)
    stream = causal_codec.stream_decoder()
    assert stream.snapshot() is None
    first = stream.decode_next_pixels(z[:, :, :4])
    state = stream.snapshot()
    straight = stream.decode_next_pixels(z[:, :, 4:7])
    branch = stream.decode_next_pixels(other)  # moves on; the snapshot must not change
    stream.restore(state)
    torch.testing.assert_close(stream.decode_next_pixels(z[:, :, 4:7]), straight, rtol=0, atol=0)
    stream.restore(state)
    stream.decode_next_pixels(z[:, :, 4:7])
    torch.testing.assert_close(stream.decode_next_pixels(other), branch, rtol=0, atol=0)
    stream.restore(state.to("cpu"))  # a parked copy restores too
    torch.testing.assert_close(stream.decode_next_pixels(z[:, :, 4:7]), straight, rtol=0, atol=0)
    assert state.nbytes > 0 and state.latent_frames == 4
    stream.restore(None)  # a fresh stream again
    torch.testing.assert_close(stream.decode_next_pixels(z[:, :, :4]), first, rtol=0, atol=0)
    with pytest.raises(SanaWMInputError, match="StreamState"):
        stream.restore("not a state")


def test_a_stream_state_serialises_itself_as_its_contexts_and_frame_count(causal_codec) -> None:
    z = _latents(7)
    stream = causal_codec.stream_decoder()
    stream.decode_next_pixels(z[:, :, :4])
    state = stream.snapshot()
    tensors, meta = state.to_tensors()
    assert meta == {"latent_frames": 4} and set(tensors) == set(state.contexts)
    back = decoder_state_from_tensors(state.kind, tensors, meta)
    assert back.kind == "ltx2" and all(back.contexts[n] is t for n, t in state.contexts.items())
    straight = stream.decode_next_pixels(z[:, :, 4:])
    stream.restore(back)
    torch.testing.assert_close(stream.decode_next_pixels(z[:, :, 4:]), straight, rtol=0, atol=0)

def test_long_clips_use_frame_wise_tiled_decode_with_exact_length(causal_codec) -> None:
    z = _latents(14)  # > 96 / 8 = 12 latent frames -> temporal tiles
    tiled = causal_codec.decode_pixels(z)
    assert tiled.shape == (8 * 13 + 1, 64, 96, 3)
    assert (tiled - _reference_causal_decode(causal_codec, z)).abs().max() > ATOL  # blended, as documented


def test_missing_compression_ratios_are_set_from_the_architecture(caplog) -> None:
    torch.manual_seed(0)
    vae = AutoencoderKLLTX2Video(**TINY)  # no explicit ratios: diffusers computes 64 / 16 (spec §1.5 pitfall 2)
    assert (vae.spatial_compression_ratio, vae.temporal_compression_ratio) == (64, 16)
    with caplog.at_level(logging.WARNING, logger="engine.components.ltx2_vae"):
        codec = LTX2VideoCodec(vae)
    assert (codec.spatial_factor, codec.temporal_factor) == (32, 8)
    assert (vae.spatial_compression_ratio, vae.temporal_compression_ratio) == (32, 8)
    assert "compression ratios 64/16" in caplog.text


def test_bad_inputs_are_typed_errors(causal_codec) -> None:
    with pytest.raises(SanaWMInputError, match="1 \\+ 8k"):
        causal_codec.encode(np.zeros((10, 64, 96, 3), np.uint8))
    with pytest.raises(SanaWMInputError, match="multiple of 32"):
        causal_codec.encode(np.zeros((1, 60, 96, 3), np.uint8))
    with pytest.raises(SanaWMInputError, match="uint8"):
        causal_codec.encode(np.zeros((1, 64, 96, 3), np.float32))
    with pytest.raises(SanaWMInputError, match="latents must be"):
        causal_codec.decode(torch.zeros(1, 4, 2, 2, 3))
    with pytest.raises(SanaWMInputError, match="latents must be"):
        causal_codec.stream_decoder().decode_next(torch.zeros(1, 8, 2, 2))
