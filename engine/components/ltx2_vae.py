"""The LTX-2 video VAE as a :class:`~engine.components.codec.LatentCodec` (spec ``ltx2_vae_refiner.md`` §1).

Why: SANA-WM (Stage 1 and the refiner) works in the normalised latent space of the LTX-2 VAE (128 channels, 32x
spatial, 8x temporal, 1 + 8k frames). This adapter wraps diffusers' ``AutoencoderKLLTX2Video`` and adds what the
engine needs on top of it:

* **normalisation** (§1.4): ``encode`` takes the posterior *mode* and returns ``(z - mean) * scaling / std`` per
  channel; ``decode`` undoes it. Pixels are ``uint8 (F, H, W, 3)`` in, ``[-1, 1]`` to the VAE, uint8 out.
* **compression ratios** (§1.5, pitfall 2): diffusers computes them as ``patch * 2**sum(scaling)`` when a config
  omits them (64 / 16 for LTX-2 instead of 32 / 8). The true values are read off the encoder's down-samplers and
  written onto the model, so tiling and every size computation use them.
* **one-shot decode with the NVlabs tiling settings** (§1.5): ``enable_tiling()`` plus frame-wise decoding with
  96-frame tiles every 64 frames. diffusers tiles only when a clip is large (latent H or W above 16, or more than 12
  latent frames); smaller clips decode in one pass. Temporal tiles are cross-faded, so a tiled decode is close to,
  not equal to, an untiled one.
* **causal streaming decode** (§1.6): :class:`LTX2StreamDecoder` decodes consecutive latent chunks of one stream
  and reproduces the one-shot *causal* decode of the concatenated latents (tested to float rounding).

Streaming design — a per-layer cache, not prefix re-decoding. Re-decoding a causal prefix window is exact only when
the window covers the decoder's temporal receptive field (about 38 latent frames for the LTX-2.0 decoder: each of
its 45 causal convs looks 2 frames back at its own frame rate), i.e. ~14x the work of a 3-latent chunk. Instead the
decoder's own modules run with two substitutions while a chunk is decoded:

* every ``LTX2VideoCausalConv3d`` takes its left context (``k_t - 1`` frames of its input) from the previous call of
  the stream instead of replicating its first frame, and stores the last ``k_t - 1`` frames of ``[context, input]``
  for the next call (a call shorter than the context carries part of the old context over);
* every ``LTX2VideoUpsampler3d`` drops its ``stride_t - 1`` leading output frames only on the first call.

So a chunk costs what decoding it alone costs, latent 0 yields one frame and every later latent 8, and the stream
state is the set of per-conv contexts. :meth:`LTX2StreamDecoder.snapshot` returns that state without copying: the
decoder never changes a stored tensor in place, it replaces them, so a snapshot stays valid while the stream moves
on. Its size is ``sum over convs of (k_t - 1) * C_in * h * w`` elements at each conv's resolution: 595 MB in bf16
for the 720p LTX-2.0 decoder (45 causal convs, measured on the meta device). Callers that keep many snapshots
should keep them sparse or move them off the GPU with :meth:`StreamState.to` (a restored state on another device
is moved back chunk by chunk as it is used).

A decoder configured non-causal (the bidirectional release's ``vae/``, ``decoder_causal False``) can still be
streamed: the stream runs it causally (diffusers' ``decode(causal=True)`` semantics, §1.5 pitfall 3), which is not
what those weights were trained for; a warning says so. The streaming release's causal VAE is the intended decoder.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, ClassVar

import numpy as np
import torch

from engine.components.codec import from_uint8, to_uint8
from engine.bundles.local_models import load_diffusers_model
from engine.errors import ConfigError, SanaWMInputError

logger = logging.getLogger(__name__)

# NVlabs' bidirectional inference setting (spec §1.5, [V4, V10]).
NVLABS_TILING = dict(tile_sample_min_num_frames=96, tile_sample_stride_num_frames=64)


def _architecture_factors(vae: Any) -> tuple[int, int]:
    """``(spatial, temporal)`` compression implied by the encoder's patching and down-samplers."""
    spatial, temporal = vae.config.patch_size, vae.config.patch_size_t
    for block in vae.encoder.down_blocks:
        for down in block.downsamplers or []:
            stride = getattr(down, "stride", None) or down.conv.stride
            temporal *= stride[0]
            spatial *= stride[1]
    return spatial, temporal


class LTX2VideoCodec:
    """LatentCodec over a diffusers ``AutoencoderKLLTX2Video`` (see the module docstring).

    Args:
        vae: the diffusers VAE, already on its device and dtype (bf16 for the release, fp32 in tests).
        tiling: apply the NVlabs tiling / frame-wise settings to one-shot ``encode`` / ``decode`` (they only take
            effect on large clips).

    Raises:
        ConfigError: a VAE the adapter cannot serve (timestep-conditioned or noise-injecting decoder).
    """

    name = "ltx2-vae"

    def __init__(self, vae: Any, *, tiling: bool = True) -> None:
        config = vae.config
        if config.timestep_conditioning or any(np.atleast_1d(config.decoder_inject_noise)):
            raise ConfigError(
                "LTX-2 VAE: timestep-conditioned or noise-injecting decoders are not supported "
                f"(timestep_conditioning={config.timestep_conditioning}, "
                f"decoder_inject_noise={config.decoder_inject_noise}); SANA-WM's VAE uses neither"
            )
        spatial, temporal = _architecture_factors(vae)
        if (vae.spatial_compression_ratio, vae.temporal_compression_ratio) != (spatial, temporal):
            logger.warning(
                "LTX-2 VAE config gives compression ratios %s/%s but the architecture is %s/%s; using the latter",
                vae.spatial_compression_ratio, vae.temporal_compression_ratio, spatial, temporal,
            )  # fmt: skip
            vae.spatial_compression_ratio, vae.temporal_compression_ratio = spatial, temporal
        self.vae = vae.eval()
        self.latent_channels: int = config.latent_channels
        self.spatial_factor: int = spatial
        self.temporal_factor: int = temporal
        self.scaling_factor = float(config.scaling_factor)
        if tiling:
            vae.enable_tiling(**NVLABS_TILING)
            vae.use_framewise_encoding = vae.use_framewise_decoding = True  # plain attributes (§1.5)
        self._lock = threading.Lock()  # one decode at a time: streaming temporarily re-routes module forwards

    @classmethod
    def from_folder(
        cls,
        folder: str | Path,
        *,
        dtype: torch.dtype = torch.float32,
        device: str | torch.device = "cpu",
        tiling: bool = True,
    ) -> LTX2VideoCodec:
        """Load a diffusers VAE folder (``config.json`` + safetensors) offline and wrap it."""
        from diffusers import AutoencoderKLLTX2Video

        vae = load_diffusers_model(AutoencoderKLLTX2Video, Path(folder), dtype=dtype, device=device)
        return cls(vae, tiling=tiling)

    # ----- properties -------------------------------------------------------------------------------------------
    @property
    def dtype(self) -> torch.dtype:
        return self.vae.dtype

    @property
    def device(self) -> torch.device:
        return self.vae.device

    @property
    def causal(self) -> bool:
        """Whether the decoder was trained causal (streaming reproduces its one-shot decode exactly)."""
        return bool(self.vae.decoder.is_causal)

    # ----- normalisation (§1.4) ---------------------------------------------------------------------------------
    def _stats(self, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        shape = (1, -1, 1, 1, 1)
        return self.vae.latents_mean.view(shape).to(like), self.vae.latents_std.view(shape).to(like)

    def normalise(self, raw: torch.Tensor) -> torch.Tensor:
        """Raw VAE latents ``(B, C, T, h, w)`` -> the normalised latents the models use."""
        mean, std = self._stats(raw)
        return (raw - mean) * self.scaling_factor / std

    def denormalise(self, latents: torch.Tensor) -> torch.Tensor:
        """Inverse of :meth:`normalise`, in the VAE's dtype and on its device."""
        latents = latents.to(device=self.device, dtype=self.dtype)
        mean, std = self._stats(latents)
        return latents * std / self.scaling_factor + mean

    # ----- the LatentCodec interface ----------------------------------------------------------------------------
    def _check_latents(self, latents: torch.Tensor) -> None:
        if latents.ndim != 5 or latents.shape[0] != 1 or latents.shape[1] != self.latent_channels:
            raise SanaWMInputError(
                f"latents must be (1, {self.latent_channels}, T, h, w), got {tuple(latents.shape)}"
            )
        if latents.shape[2] < 1:
            raise SanaWMInputError("latents must have at least one frame, got 0")

    @torch.inference_mode()
    def encode(self, frames: np.ndarray) -> torch.Tensor:
        """``(F, H, W, 3)`` uint8, ``F = 1 + 8k``, sides multiples of 32 -> ``(1, C, 1 + k, H/32, W/32)`` normalised
        latents (posterior mode) in the VAE's dtype."""
        if not isinstance(frames, np.ndarray) or frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
            got = f"{frames.dtype} {frames.shape}" if isinstance(frames, np.ndarray) else type(frames).__name__
            raise SanaWMInputError(f"frames must be a uint8 array (F, H, W, 3), got {got}")
        f, height, width, _ = frames.shape
        if (f - 1) % self.temporal_factor:
            raise SanaWMInputError(f"frame count must be 1 + {self.temporal_factor}k, got {f}")
        if height % self.spatial_factor or width % self.spatial_factor:
            raise SanaWMInputError(
                f"frames must be a multiple of {self.spatial_factor} pixels in both sides, got {width}x{height}"
            )
        pixels = from_uint8(frames).permute(3, 0, 1, 2)[None]  # (1, 3, F, H, W) in [-1, 1]
        pixels = pixels.to(device=self.device, dtype=self.dtype)
        with self._lock:
            raw = self.vae.encode(pixels).latent_dist.mode()
        return self.normalise(raw)

    @torch.inference_mode()
    def decode_pixels(self, latents: torch.Tensor) -> torch.Tensor:
        """One-shot decode: ``(1, C, T, h, w)`` normalised latents -> ``(8(T-1)+1, 32h, 32w, 3)`` float pixels in
        about [-1, 1] (not clamped), in the VAE's dtype. Uses the configured causality and tiling."""
        self._check_latents(latents)
        with self._lock:
            video = self.vae.decode(self.denormalise(latents), return_dict=False)[0]  # (1, 3, F, H, W)
        return video[0].permute(1, 2, 3, 0)

    def decode(self, latents: torch.Tensor) -> np.ndarray:
        """``(1, C, T, h, w)`` -> ``(8(T-1)+1, 32h, 32w, 3)`` uint8 (one-shot decode, reference rounding)."""
        return to_uint8(self.decode_pixels(latents))

    def stream_decoder(self) -> LTX2StreamDecoder:
        """A fresh causal decoder for one stream (see the module docstring)."""
        if not self.causal:
            logger.warning(
                "streaming a VAE whose decoder was configured non-causal: chunks are decoded causally, which these "
                "weights were not trained for; use the streaming release's causal VAE for streamed output"
            )
        return LTX2StreamDecoder(self)


# ----------------------------------------------------------------------------------------------------------------
# causal streaming decode with a per-layer cache
# ----------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class StreamState:
    """Decoder state after some chunks of a stream: each causal conv's left context (``k_t - 1`` input frames)
    by module name, and how many latent frames were decoded. Never mutated; safe to keep as a snapshot."""

    kind: ClassVar[str] = "ltx2"  # a :class:`~engine.components.codec.DecoderState`; its name in session files
    contexts: Mapping[str, torch.Tensor]
    latent_frames: int

    def to_tensors(self) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        """``({conv module name: context}, {"latent_frames": n})``, the tensors the state's own (no copies)."""
        return dict(self.contexts), {"latent_frames": self.latent_frames}

    @classmethod
    def from_tensors(cls, tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> StreamState:
        """The inverse of :meth:`to_tensors`."""
        return cls(MappingProxyType(dict(tensors)), int(meta["latent_frames"]))

    def to(self, device: str | torch.device) -> StreamState:
        """A copy with the contexts on ``device`` (e.g. ``"cpu"`` to park a snapshot off the GPU)."""
        moved = {name: t.to(device) for name, t in self.contexts.items()}
        return StreamState(MappingProxyType(moved), self.latent_frames)

    @property
    def nbytes(self) -> int:
        return sum(t.numel() * t.element_size() for t in self.contexts.values())


def _upsample(module: Any, hidden: torch.Tensor, trim: bool) -> torch.Tensor:
    """diffusers 0.42.1 ``LTX2VideoUpsampler3d.forward`` with the drop of the ``stride_t - 1`` leading frames made
    conditional (only the first call of a stream drops them); the conv inside is the stream's cached conv."""
    b, _, t, h, w = hidden.shape
    st, sh, sw = module.stride
    drop = st - 1 if trim else 0

    def shuffle(x: torch.Tensor) -> torch.Tensor:  # (B, C*st*sh*sw, T, H, W) -> (B, C, T*st, H*sh, W*sw)
        x = x.reshape(b, -1, st, sh, sw, t, h, w).permute(0, 1, 5, 2, 6, 3, 7, 4)
        return x.flatten(6, 7).flatten(4, 5).flatten(2, 3)

    out = shuffle(module.conv(hidden, causal=True))[:, :, drop:]
    if module.residual:
        residual = shuffle(hidden).repeat(1, (st * sh * sw) // module.upscale_factor, 1, 1, 1)
        out = out + residual[:, :, drop:]
    return out


class LTX2StreamDecoder:
    """Causal decoder of one stream (the :class:`~engine.components.codec.StreamDecoder` protocol).

    ``decode_next`` on consecutive chunks ``z[:, :, a:b]`` returns the same frames as the one-shot causal decode of
    the whole ``z`` (first call: ``8(n-1)+1`` frames, later calls ``8n``).
    """

    def __init__(self, codec: LTX2VideoCodec) -> None:
        self.codec = codec
        self._state: StreamState | None = None

    @contextmanager
    def _cached_modules(self, previous: StreamState | None, new: dict[str, torch.Tensor]) -> Iterator[None]:
        """Route the decoder's causal convs and upsamplers through the stream cache for one call."""
        from diffusers.models.autoencoders.autoencoder_kl_ltx2 import LTX2VideoCausalConv3d, LTX2VideoUpsampler3d

        patched = []

        def conv_forward(module: Any, name: str):  # noqa: ANN202 - a forward replacement
            keep = module.kernel_size[0] - 1

            def forward(hidden: torch.Tensor, causal: bool = True) -> torch.Tensor:
                if keep == 0:
                    return module.conv(hidden)
                if previous is None:
                    context = hidden[:, :, :1].repeat(1, 1, keep, 1, 1)  # diffusers' causal padding
                else:
                    context = previous.contexts[name].to(hidden.device)  # no-op unless parked elsewhere
                hidden = torch.cat([context, hidden], dim=2)
                new[name] = hidden[:, :, -keep:].clone()
                return module.conv(hidden)

            return forward

        for name, module in self.codec.vae.decoder.named_modules():
            if isinstance(module, LTX2VideoCausalConv3d):
                if module.conv.dilation[0] != 1 or module.conv.stride[0] != 1:
                    raise ConfigError(f"LTX-2 VAE decoder conv {name}: temporal stride/dilation 1 expected")
                module.forward = conv_forward(module, name)
                patched.append(module)
            elif isinstance(module, LTX2VideoUpsampler3d):
                module.forward = lambda hidden, causal=True, _m=module: _upsample(_m, hidden, trim=previous is None)
                patched.append(module)
        try:
            yield
        finally:
            for module in patched:
                del module.forward  # back to the class method

    @torch.inference_mode()
    def decode_next_pixels(self, latents: torch.Tensor) -> torch.Tensor:
        """``(1, C, n, h, w)`` normalised latents continuing the stream -> float pixels ``(F, 32h, 32w, 3)`` in the
        VAE's dtype, ``F = 8(n-1)+1`` on the first call and ``8n`` afterwards."""
        codec = self.codec
        codec._check_latents(latents)
        previous = self._state
        contexts: dict[str, torch.Tensor] = {}
        with codec._lock, self._cached_modules(previous, contexts):
            video = codec.vae.decoder(codec.denormalise(latents), None, causal=True)  # (1, 3, F, H, W)
        done = 0 if previous is None else previous.latent_frames
        self._state = StreamState(MappingProxyType(contexts), done + latents.shape[2])
        return video[0].permute(1, 2, 3, 0)

    def decode_next(self, latents: torch.Tensor) -> np.ndarray:
        """As :meth:`decode_next_pixels`, converted to uint8 ``(F, H, W, 3)``."""
        return to_uint8(self.decode_next_pixels(latents))

    def snapshot(self) -> StreamState | None:
        """The current state (no copy needed: states are never modified); ``None`` before the first chunk."""
        return self._state

    def restore(self, state: StreamState | None) -> None:
        """Continue from a state taken by :meth:`snapshot` (``None`` = a fresh stream)."""
        if state is not None and not isinstance(state, StreamState):
            raise SanaWMInputError(f"restore expects a StreamState from snapshot() or None, got {type(state).__name__}")
        self._state = state
