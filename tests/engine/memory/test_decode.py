"""engine.memory.decode: a clip or chunk decoded a few latent frames per call gives the frames of one call (a causal
decoder), and a non-causal codec keeps its one-shot decode."""

from __future__ import annotations

import numpy as np
import torch
from diffusers import AutoencoderKLLTX2Video

import engine.bundles  # noqa: F401  (imports the bundle loaders before the VAE adapter that they import)
from engine.components.ltx2_vae import LTX2VideoCodec
from engine.memory.decode import decode_clip, decode_pieces

TINY = dict(latent_channels=8, block_out_channels=(16, 32, 64, 128), decoder_block_out_channels=(16, 32, 64),
            layers_per_block=(1, 1, 1, 1, 1), decoder_layers_per_block=(1, 1, 1, 1), spatial_compression_ratio=32,
            temporal_compression_ratio=8)  # fmt: skip


def codec(causal: bool) -> LTX2VideoCodec:
    torch.manual_seed(0)
    return LTX2VideoCodec(AutoencoderKLLTX2Video(**TINY, decoder_causal=causal).eval())


def latents(frames: int) -> torch.Tensor:
    return torch.randn(1, 8, frames, 2, 3, generator=torch.Generator().manual_seed(3))


def test_pieces_of_one_or_three_latent_frames_decode_to_the_frames_of_one_call() -> None:
    causal = codec(True)
    z = latents(7)
    whole = decode_pieces(causal.stream_decoder(), z, None)
    assert whole.shape == (49, 64, 96, 3)
    for step in (1, 3):
        pieces = decode_pieces(causal.stream_decoder(), z, step)
        assert pieces.shape == whole.shape
        assert np.abs(pieces.astype(int) - whole.astype(int)).max() <= 1  # float rounding at a uint8 boundary


def test_a_clip_is_decoded_in_pieces_only_by_a_causal_codec() -> None:
    z = latents(4)
    causal, bidirectional = codec(True), codec(False)
    assert np.abs(decode_clip(causal, z, 1).astype(int) - causal.decode(z).astype(int)).max() <= 1
    assert np.array_equal(decode_clip(bidirectional, z, 1), bidirectional.decode(z))  # one-shot, as before
    assert np.array_equal(decode_clip(causal, z, None), causal.decode(z))
