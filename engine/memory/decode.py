"""Decoding in pieces: a stream's chunk, or a whole clip, a few latent frames per VAE call (tiers ``balanced`` / ``low``).

Why: the VAE decoder's activations grow with the latent frames of one call (720p, traced: 1.1 GiB for one latent
frame, 2.3 GiB for three, 3.2 GiB for a 31-frame clip decoded one-shot with tiling; docs/gpu.md). A causal decoder
decodes consecutive pieces of a stream exactly as it decodes them at once (:class:`engine.components.codec.StreamDecoder`),
so splitting costs only more, smaller calls. A clip whose codec decoder is not causal (the bidirectional release's
VAE) keeps its one-shot tiled decode: decoding it causally would change the frames.
"""

from __future__ import annotations

import numpy as np
import torch

from engine.components.codec import LatentCodec, StreamDecoder


def decode_pieces(decoder: StreamDecoder, latents: torch.Tensor, frames_per_call: int | None) -> np.ndarray:
    """``decoder.decode_next`` over ``latents (1, C, n, h, w)`` in pieces of ``frames_per_call`` latent frames (None:
    one call), frames concatenated in order."""
    n = latents.shape[2]
    step = n if frames_per_call is None else max(1, int(frames_per_call))
    pieces = [decoder.decode_next(latents[:, :, i : i + step]) for i in range(0, n, step)]
    return pieces[0] if len(pieces) == 1 else np.concatenate(pieces)


def decode_clip(codec: LatentCodec, latents: torch.Tensor, frames_per_call: int | None) -> np.ndarray:
    """A whole clip ``(1, C, T, h, w)`` -> uint8 frames: the codec's one-shot decode, or with ``frames_per_call``
    and a causal codec, a fresh stream decode in pieces (the same frames, less memory)."""
    if frames_per_call is None or not getattr(codec, "causal", False):
        return codec.decode(latents)
    return decode_pieces(codec.stream_decoder(), latents, frames_per_call)


__all__ = ["decode_clip", "decode_pieces"]
