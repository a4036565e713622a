"""The stand-in PatchDCTCodec obeys the codec rules: 1 + 8k frames, exact key frames, chunked = one-shot."""

import numpy as np
import pytest
import torch

from engine.components.codec import DecoderState, LatentCodec, StreamDecoder, decoder_state_from_tensors
from engine.components.patch_codec import PatchDCTCodec
from engine.errors import SanaWMInputError


def _frames(n: int, h: int = 32, w: int = 48, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, h, w, 3), dtype=np.uint8)


def test_implements_the_interface():
    codec = PatchDCTCodec(8, 4)
    assert isinstance(codec, LatentCodec)
    assert isinstance(codec.stream_decoder(), StreamDecoder)


def test_full_channel_codec_round_trips_key_frames_and_counts_frames():
    codec = PatchDCTCodec(48, 4)
    frames = _frames(17)
    latents = codec.encode(frames)
    assert latents.shape == (1, 48, 3, 8, 12)
    decoded = codec.decode(latents)
    assert decoded.shape == frames.shape
    # key frames 0, 8, 16 come back up to the uint8 truncation of the reference conversion
    assert np.abs(decoded[::8].astype(int) - frames[::8].astype(int)).max() <= 1


def test_interpolates_between_key_frames():
    codec = PatchDCTCodec(3, 1)
    frames = np.zeros((9, 2, 2, 3), dtype=np.uint8)
    frames[8] = 255
    decoded = codec.decode(codec.encode(frames)).astype(int)
    assert decoded[4].mean() == pytest.approx(127, abs=1)  # half way
    assert (np.diff(decoded[:, 0, 0, 0]) >= 0).all()


def test_stream_decoding_in_chunks_equals_one_shot_and_snapshots_restore():
    codec = PatchDCTCodec(12, 4)
    latents = codec.encode(_frames(41))  # 6 latent frames
    one_shot = codec.decode(latents)
    dec = codec.stream_decoder()
    first = dec.decode_next(latents[:, :, :4])
    assert first.shape[0] == 25
    state = dec.snapshot()
    second = dec.decode_next(latents[:, :, 4:])
    assert second.shape[0] == 16
    assert np.array_equal(np.concatenate([first, second]), one_shot)
    dec.restore(state)
    assert np.array_equal(dec.decode_next(latents[:, :, 4:]), second)


def test_latents_are_roughly_normalised_for_natural_images():
    y, x = np.mgrid[0:64, 0:128]
    img = np.stack([x * 2, y * 4, (x + y)], -1).clip(0, 255).astype(np.uint8)[None]
    latents = PatchDCTCodec(16, 8).encode(img)
    assert 0.05 < latents.float().std().item() < 3.0


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: PatchDCTCodec(49, 4), "latent_channels"),
        (lambda: PatchDCTCodec(8, 4).encode(_frames(4)), "1 \\+ 8k"),
        (lambda: PatchDCTCodec(8, 4).encode(_frames(1, h=30)), "multiple of 4"),
        (lambda: PatchDCTCodec(8, 4).encode(_frames(1).astype(np.float32)), "uint8"),
        (lambda: PatchDCTCodec(8, 4).decode(torch.zeros(1, 7, 2, 2, 2)), "latents must be"),
    ],
)
def test_bad_inputs_name_the_problem(make, message):
    with pytest.raises(SanaWMInputError, match=message):
        make()


def test_the_decoder_state_serialises_itself_and_restores_exactly():
    codec = PatchDCTCodec(12, 4)
    latents = codec.encode(_frames(41))
    dec = codec.stream_decoder()
    dec.decode_next(latents[:, :, :4])
    state = dec.snapshot()
    tensors, meta = state.to_tensors()
    back = decoder_state_from_tensors(state.kind, tensors, meta)
    assert isinstance(back, DecoderState) and back.kind == "tensor" and torch.equal(back.last, state.last)
    fresh = codec.stream_decoder()
    fresh.restore(back)
    assert np.array_equal(fresh.decode_next(latents[:, :, 4:]), dec.decode_next(latents[:, :, 4:]))
    with pytest.raises(SanaWMInputError, match="PatchDCTState"):
        fresh.restore(state.last)  # a bare tensor (the state before it serialised itself) is refused
