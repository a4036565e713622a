"""A zero-parameter latent codec: per-patch DCT in space, key frames with linear interpolation in time.

Why it exists: the streaming engine, the CLI and the tests need a codec that obeys the LTX-2 rules (1 + 8k
frames, a spatial factor, normalised latents, causal chunk-wise decoding) without weights or a GPU. It is exact
where it can be and simple everywhere:

* **space**: each ``p x p`` RGB patch is expanded in the orthonormal 2-D DCT-II basis; the ``C`` lowest-frequency
  coefficients (all three colours of a frequency together, frequencies ordered by ``u + v``) are the latent
  channels. With ``C = 3 p^2`` the transform is invertible; with fewer it is the best low-pass of its size.
* **time**: latent frame ``j`` is pixel frame ``8 j`` (a key frame); decoding fills the 8 frames after key frame
  ``j - 1`` by linear interpolation, so key frames round-trip and the stream decoder needs one latent of state.
* **normalisation**: coefficients are divided by a fixed per-frequency scale (``p/2`` for DC, shrinking with
  frequency), which keeps natural images near unit variance.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch

from engine.camera.frames import TEMPORAL_STRIDE, latent_frame_count
from engine.components.codec import from_uint8, to_uint8
from engine.errors import SanaWMInputError


def _dct_matrix(p: int) -> torch.Tensor:
    """Orthonormal DCT-II matrix ``(p, p)``: row ``u`` is basis function ``u``."""
    n = torch.arange(p, dtype=torch.float64)
    basis = torch.cos(math.pi * (n[None, :] + 0.5) * n[:, None] / p) * math.sqrt(2.0 / p)
    basis[0] /= math.sqrt(2.0)
    return basis


class PatchDCTCodec:
    """See the module docstring. ``latent_channels <= 3 * spatial_factor**2``."""

    name = "patch-dct"

    def __init__(self, latent_channels: int, spatial_factor: int, temporal_factor: int = TEMPORAL_STRIDE) -> None:
        p = spatial_factor
        if p < 1 or not 1 <= latent_channels <= 3 * p * p:
            raise SanaWMInputError(
                f"PatchDCTCodec: latent_channels must be in [1, {3 * p * p}] for spatial_factor {p}, "
                f"got latent_channels={latent_channels}, spatial_factor={p}"
            )
        self.latent_channels = latent_channels
        self.spatial_factor = p
        self.temporal_factor = temporal_factor
        dct = _dct_matrix(p)
        freqs = sorted(((u, v) for u in range(p) for v in range(p)), key=lambda uv: (uv[0] + uv[1], uv[0]))
        rows, scales = [], []
        for u, v in freqs:
            for colour in range(3):
                basis = torch.zeros(3, p, p, dtype=torch.float64)
                basis[colour] = torch.outer(dct[u], dct[v])
                rows.append(basis.flatten())  # pixel order (colour, y, x)
                scales.append(p / 2 if u + v == 0 else p / (4.0 * (1 + u + v)))
        self._basis = torch.stack(rows[:latent_channels]).float()  # (C, 3 p p), orthonormal rows
        self._scale = torch.tensor(scales[:latent_channels], dtype=torch.float32)

    # ----- spatial transform on (F, H, W, 3) float pixels <-> (F, C, h, w) normalised coefficients
    def _to_latent(self, pixels: torch.Tensor) -> torch.Tensor:
        f, height, width, _ = pixels.shape
        p = self.spatial_factor
        if height % p or width % p:
            raise SanaWMInputError(f"frames must be a multiple of {p} pixels in both sides, got {width}x{height}")
        patches = pixels.view(f, height // p, p, width // p, p, 3).permute(0, 1, 3, 5, 2, 4)  # (F, h, w, 3, p, p)
        coeffs = patches.reshape(f, height // p, width // p, -1) @ self._basis.T  # (F, h, w, C)
        return (coeffs / self._scale).permute(0, 3, 1, 2)

    def _to_pixels(self, latents: torch.Tensor) -> torch.Tensor:
        f, _, h, w = latents.shape
        p = self.spatial_factor
        coeffs = latents.float().permute(0, 2, 3, 1) * self._scale  # (F, h, w, C)
        patches = (coeffs @ self._basis).view(f, h, w, 3, p, p).permute(0, 1, 4, 2, 5, 3)  # (F, h, p, w, p, 3)
        return patches.reshape(f, h * p, w * p, 3)

    def band(self, pixels: torch.Tensor) -> torch.Tensor:
        """``(F, H, W, 3)`` float pixels -> their projection on what a latent can carry (each patch's ``C`` lowest
        DCT coefficients, decoded back): ``decode(encode(x))`` of a key frame, without the uint8 rounding. The
        guided decoder (:mod:`engine.components.guided_decode`) adds a frame's detail outside this band."""
        return self._to_pixels(self._to_latent(pixels.float()))

    # ----- the LatentCodec interface
    def encode(self, frames: np.ndarray) -> torch.Tensor:
        if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
            raise SanaWMInputError(f"frames must be uint8 (F, H, W, 3), got {frames.dtype} {frames.shape}")
        f = frames.shape[0]
        if (f - 1) % self.temporal_factor:
            raise SanaWMInputError(f"frame count must be 1 + {self.temporal_factor}k, got {f}")
        keys = frames[:: self.temporal_factor][: latent_frame_count(f, self.temporal_factor)]
        return self._to_latent(from_uint8(keys)).permute(1, 0, 2, 3)[None]  # (1, C, T, h, w)

    def decode(self, latents: torch.Tensor) -> np.ndarray:
        return self.stream_decoder().decode_next(latents)

    def stream_decoder(self) -> "PatchDCTStreamDecoder":
        return PatchDCTStreamDecoder(self)


@dataclass(frozen=True)
class PatchDCTState:
    """The stream decoder's state (a :class:`~engine.components.codec.DecoderState`): the latent of the last decoded
    key frame. Never mutated; the decoder copies it in and out."""

    kind: ClassVar[str] = "tensor"  # its name in session files since version 1
    last: torch.Tensor  # (1, C, h, w)

    def to_tensors(self) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        return {"last": self.last}, {}

    @classmethod
    def from_tensors(cls, tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> PatchDCTState:
        if set(tensors) != {"last"}:
            raise SanaWMInputError(f"patch codec decoder state: expected the tensor 'last', found {sorted(tensors)}")
        return cls(tensors["last"])


class PatchDCTStreamDecoder:
    """Causal decoder of one stream: remembers the last decoded key frame (its whole state)."""

    def __init__(self, codec: PatchDCTCodec) -> None:
        self.codec = codec
        self._last: torch.Tensor | None = None  # (1, C, h, w) latent of the previous key frame

    def decode_next(self, latents: torch.Tensor) -> np.ndarray:
        if latents.ndim != 5 or latents.shape[1] != self.codec.latent_channels:
            raise SanaWMInputError(
                f"latents must be (1, {self.codec.latent_channels}, T, h, w), got {tuple(latents.shape)}"
            )
        keys = latents[0].float().permute(1, 0, 2, 3)  # (T, C, h, w)
        frames = []
        if self._last is None:  # latent 0 -> exactly one pixel frame
            frames.append(keys[:1])
            self._last, keys = keys[:1], keys[1:]
        steps = torch.arange(1, self.codec.temporal_factor + 1, dtype=torch.float32) / self.codec.temporal_factor
        for key in keys:
            frames.append(torch.lerp(self._last, key[None], steps[:, None, None, None]))
            self._last = key[None]
        if not frames:
            raise SanaWMInputError("decode_next needs at least one latent frame, got 0")
        return to_uint8(self.codec._to_pixels(torch.cat(frames)))

    def snapshot(self) -> PatchDCTState | None:
        return None if self._last is None else PatchDCTState(self._last.clone())

    def restore(self, state: PatchDCTState | None) -> None:
        if state is not None and not isinstance(state, PatchDCTState):
            raise SanaWMInputError(f"restore expects a PatchDCTState from snapshot() or None, got {type(state).__name__}")
        self._last = None if state is None else state.last.clone()
