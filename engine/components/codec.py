"""The latent codec interface: pixels <-> the normalised latents the Stage-1 DiT and the refiner work on.

Every codec (the LTX-2 VAE adapter for official bundles, the embedded model's codec, the stand-in used by tests)
follows the same rules, taken from the LTX-2 VAE (spec ``ltx2_vae_refiner.md`` §1.3-1.4, §1.6):

* **1 + kN temporal rule**: latent frame 0 covers exactly one pixel frame, every later latent frame
  ``temporal_factor`` (8) new pixel frames, so ``F = 8 (T - 1) + 1`` pixel frames <-> ``T`` latent frames;
* **spatial factor**: a latent cell covers ``spatial_factor x spatial_factor`` pixels;
* **normalised latents**: ``encode`` returns and ``decode`` takes latents already normalised per channel (the
  models never see raw codec latents);
* **causal streaming decode**: a :class:`StreamDecoder` decodes consecutive latent chunks of one stream, and its
  state can be snapshotted so a rewound session decodes its branch exactly as a fresh stream would;
* **self-serialising decoder state**: a snapshot is a :class:`DecoderState` that turns itself into named tensors plus
  JSON metadata and back (:func:`decoder_state_from_tensors` finds the class from its ``kind``), so a session file
  stores it without knowing what is inside.

Frames are ``uint8`` numpy arrays ``(F, H, W, 3)`` (RGB) at the codec's pixel size; latents are torch tensors
``(1, C, T, h, w)`` in the codec's dtype.
"""

from __future__ import annotations

import importlib
from typing import Any, ClassVar, Protocol, runtime_checkable

import numpy as np
import torch

from engine.errors import SanaWMInputError


@runtime_checkable
class DecoderState(Protocol):
    """An immutable snapshot of a :class:`StreamDecoder` (what :meth:`StreamDecoder.snapshot` returns).

    ``kind`` names the state's class in :data:`DECODER_STATES` (it is written into session files, so it never
    changes); :meth:`to_tensors` gives ``({name: tensor}, json-able metadata)`` without copying, and the class method
    ``from_tensors(tensors, meta)`` is its inverse.
    """

    kind: ClassVar[str]

    def to_tensors(self) -> tuple[dict[str, torch.Tensor], dict[str, Any]]: ...


#: Decoder-state kinds and the class that reads each back (``"module:Class"``, imported when first needed, so reading
#: a patch-codec state never imports the LTX-2 adapter). ``"tensor"`` is the patch codec's, named in version 1 of the
#: session file when its state was a bare tensor.
DECODER_STATES: dict[str, str] = {
    "tensor": "engine.components.patch_codec:PatchDCTState",
    "ltx2": "engine.components.ltx2_vae:StreamState",
    "guided": "engine.components.guided_decode:GuidedState",
}


def decoder_state_from_tensors(kind: str, tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> DecoderState:
    """Rebuild a decoder state of ``kind`` from its :meth:`DecoderState.to_tensors` output (tensors are used as
    given: same objects, same device)."""
    if kind not in DECODER_STATES:
        raise SanaWMInputError(f"decoder state: expected kind {' or '.join(map(repr, DECODER_STATES))}, found {kind!r}")
    module, _, name = DECODER_STATES[kind].partition(":")
    return getattr(importlib.import_module(module), name).from_tensors(tensors, meta)


@runtime_checkable
class StreamDecoder(Protocol):
    """Decodes the latents of one stream chunk by chunk (the first call starts with latent frame 0)."""

    def decode_next(self, latents: torch.Tensor) -> np.ndarray:
        """``(1, C, n, h, w)`` consecutive latents -> their pixel frames: ``8n`` frames, or ``8(n - 1) + 1`` on the
        first call of a stream (latent 0 yields one frame)."""
        ...

    def snapshot(self) -> DecoderState | None:
        """An immutable copy of the decoder state (restored with :meth:`restore`); ``None`` before the first chunk."""
        ...

    def restore(self, state: DecoderState | None) -> None:
        """Return to a state taken by :meth:`snapshot` (``None`` = a fresh stream)."""
        ...


@runtime_checkable
class LatentCodec(Protocol):
    """Encode frames to normalised latents and decode them back (see the module docstring for the rules)."""

    name: str
    latent_channels: int
    spatial_factor: int
    temporal_factor: int

    def encode(self, frames: np.ndarray) -> torch.Tensor:
        """``(F, H, W, 3)`` uint8 with ``F = 1 + temporal_factor * k`` -> ``(1, C, 1 + k, H / s, W / s)``."""
        ...

    def decode(self, latents: torch.Tensor) -> np.ndarray:
        """``(1, C, T, h, w)`` -> ``(1 + temporal_factor * (T - 1), h * s, w * s, 3)`` uint8 (one-shot decode)."""
        ...

    def stream_decoder(self) -> StreamDecoder:
        """A fresh causal decoder for one stream."""
        ...


def to_uint8(pixels: torch.Tensor) -> np.ndarray:
    """``(..., 3)`` float pixels in [-1, 1] -> uint8 with the reference rounding ``clamp(127.5 x + 127.5)``
    truncated toward zero (spec ``ltx2_vae_refiner.md`` §5)."""
    return (pixels.float() * 127.5 + 127.5).clamp(0, 255).to(torch.uint8).cpu().numpy()


def from_uint8(frames: np.ndarray) -> torch.Tensor:
    """``(F, H, W, 3)`` uint8 -> float32 in [-1, 1], same layout (``ToTensor() * 2 - 1``)."""
    return torch.from_numpy(np.require(frames, requirements=["C", "W"])).float() / 127.5 - 1.0
