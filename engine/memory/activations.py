"""Activation and state memory of every stage of the official stack at 720p, traced on the meta device.

Each function runs the real code path of one stage on meta tensors (the engine's streaming DiT and VAE decoder,
diffusers' refiner transformer, transformers' Gemma models) under :func:`engine.memory.trace.traced_peak`, so the
numbers are *computed* from the code and the official configs — not measured on a GPU (this project's machines have
none). They leave out what a tensor count cannot see: the CUDA context, the caching allocator's rounding and
fragmentation, and kernel workspaces; :mod:`engine.memory.fit` keeps a margin for those.

Scope, per stage (official sizes: 1280 x 704 frames = a 40 x 22 latent grid, 880 tokens per latent frame):

* DiT: one steady-state streaming chunk (3 latent frames = 2,640 tokens, chunk index 2 so the softmax window is
  full): the largest denoising call, the t = 0 pass that writes the next cache (with the previous cache held), the
  cache's size; chunk 0 (4 frames) too. The PyTorch ``chunk`` scan is traced (a Triton kernel cannot run on meta).
* VAE decoder: the causal streaming decode (:class:`engine.components.ltx2_vae.LTX2StreamDecoder`) with 1, 3 and 4
  latent frames per call, and its per-layer state; the one-shot tiled decode of a 241-frame clip (31 latents).
* Gemma-2: one caption (512 tokens: the chi prefix plus 300).
* Refiner: Gemma-3's hidden states, their packing and the connectors for one prompt (1,024 tokens), as diffusers
  0.42.1's ``SanaWMLTX2Refiner._encode_prompt`` does them; one refine block (3 latent frames) with a full window
  (1 sink + 10 history frames): the denoising call, the K/V capture pass and the history they read.
"""

from __future__ import annotations

import functools
from dataclasses import asdict, dataclass
from typing import Any

import torch

from engine.memory.parts import GEMMA2_2B_CONFIG, GEMMA3_12B_CONFIG, build_dit, build_refiner, build_vae
from engine.memory.trace import traced_peak

#: Latent grid ``(width, height)`` of the official 1280 x 704 frames.
OFFICIAL_LATENT_GRID = (40, 22)
#: Gemma-2 caption tokens traced (the chi prefix, about 120 tokens, plus 300).
CAPTION_TOKENS = 512
#: Gemma-3 prompt tokens (the refiner pads every prompt to 1,024, ltx2_vae_refiner.md §2.6).
REFINER_PROMPT_TOKENS = 1024
#: Latent frames of a 241-frame clip (the default ``--num_frames``), decoded one-shot after refining.
CLIP_LATENT_FRAMES = 31


@dataclass(frozen=True)
class DiTActivations:
    """Bytes of one streaming chunk of the DiT (see the module docstring)."""

    tokens: int  # tokens of a steady-state chunk
    denoise_peak: int  # a denoising call of a steady-state chunk
    commit_peak: int  # the t = 0 pass, including the new cache it writes (the old one is held besides)
    first_chunk_peak: int  # chunk 0 (4 frames): its larger call
    cache: int  # the stream cache held between chunks (steady state)


@dataclass(frozen=True)
class VAEActivations:
    """Bytes of the VAE decoder's streaming decode and of a one-shot clip decode."""

    per_call: dict[int, int]  # latent frames per call -> peak of a call, including the state it writes
    state: int  # the decoder state held between calls
    clip: int  # one-shot tiled decode of CLIP_LATENT_FRAMES latents (full tier's decode of a refined clip)


@dataclass(frozen=True)
class RefinerActivations:
    """Bytes of the refiner's prompt encoding and of one refine block with a full window."""

    prompt_peak: int  # Gemma-3 hidden states + packing + connectors
    history: int  # storage of the K/V history, all layers, held between blocks (see trace_refiner)
    sink: int  # the sink's pre-RoPE K/V, all layers
    captured: int  # the K/V a capture pass stores, all layers (held until the next capture replaces it)
    block_peak: int  # a denoising call of a block
    capture_peak: int  # the capture pass (the K/V it captures included)


@dataclass(frozen=True)
class StackActivations:
    dit: DiTActivations
    vae: VAEActivations
    caption_peak: int  # Gemma-2 on one caption
    refiner: RefinerActivations

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _meta(*shape: int, dtype: torch.dtype = torch.bfloat16) -> torch.Tensor:
    return torch.empty(shape, device="meta", dtype=dtype)


def trace_dit(preset: str = "sana-wm-1600m-720p", latent_grid: tuple[int, int] = OFFICIAL_LATENT_GRID) -> DiTActivations:
    """Trace the streaming DiT of ``preset`` over chunks 0, 1 and 2 (see the module docstring)."""
    from engine.model.stream_cache import CachedStep, StreamCache

    model = build_dit(preset)
    config = model.config
    w, h = latent_grid
    caption = _meta(1, config.caption_length, config.caption_channels) if config.text_conditioning else None
    mask = _meta(1, config.caption_length, dtype=torch.float32) if caption is not None else None

    def call(cache: StreamCache, frames: int, offset: int, save: bool) -> tuple[int, StreamCache | None]:
        x = _meta(1, config.in_channels, frames, h, w)
        step = CachedStep(cache, save=save)
        cameras = _meta(1, frames, 20, dtype=torch.float32)
        plucker = _meta(1, config.plucker_channels, frames, h, w)
        peak, _ = traced_peak(lambda: model(x, _meta(1, frames, dtype=torch.float32), caption, mask, cameras, plucker,
                                            frame_offset=offset, mixing=step))  # fmt: skip
        return peak, step.next_cache() if save else None

    cache = StreamCache.empty(config.depth)
    first_denoise, _ = call(cache, 4, 0, save=False)
    first_commit, cache = call(cache, 4, 0, save=True)
    _, cache = call(cache, 3, 4, save=True)
    denoise, _ = call(cache, 3, 7, save=False)
    commit, after = call(cache, 3, 7, save=True)
    return DiTActivations(3 * w * h, denoise, commit, max(first_denoise, first_commit), after.nbytes())


def trace_vae(latent_grid: tuple[int, int] = OFFICIAL_LATENT_GRID, clip_frames: int = CLIP_LATENT_FRAMES) -> VAEActivations:
    """Trace the causal streaming decode with 1, 3 and 4 latent frames per call and a one-shot tiled clip decode."""
    import engine.bundles.local_models  # noqa: F401  (the VAE adapter's own import of it must not come first)
    from engine.components.ltx2_vae import LTX2VideoCodec

    codec = LTX2VideoCodec(build_vae(), tiling=True)
    w, h = latent_grid
    per_call: dict[int, int] = {}
    state = 0
    for frames in (1, 3, 4):
        decoder = codec.stream_decoder()
        peaks = []
        for n in ((1, frames, frames) if frames < 4 else (4,)):  # the first call, then the steady state
            peak, _ = traced_peak(lambda n=n: decoder.decode_next_pixels(_meta(1, codec.latent_channels, n, h, w)))
            peaks.append(peak)
        per_call[frames] = max(peaks)
        state = max(state, decoder.snapshot().nbytes)
    clip, _ = traced_peak(lambda: codec.decode_pixels(_meta(1, codec.latent_channels, clip_frames, h, w)))
    return VAEActivations(per_call, state, clip)


def trace_caption(tokens: int = CAPTION_TOKENS) -> int:
    """Peak of Gemma-2-2B on one caption of ``tokens`` tokens (its last hidden state kept)."""
    from transformers import Gemma2Config, Gemma2Model

    with torch.device("meta"):
        model = Gemma2Model(Gemma2Config(**GEMMA2_2B_CONFIG)).to(torch.bfloat16).eval()
    ids = torch.zeros(1, tokens, dtype=torch.long, device="meta")
    mask = torch.ones(1, tokens, dtype=torch.long, device="meta")
    return traced_peak(lambda: model(input_ids=ids, attention_mask=mask).last_hidden_state)[0]


def trace_refiner(latent_grid: tuple[int, int] = OFFICIAL_LATENT_GRID, tokens: int = REFINER_PROMPT_TOKENS,
                  block_size: int = 3, history_frames: int = 10) -> RefinerActivations:  # fmt: skip
    """Trace the refiner's prompt encoding and one block with a full window (see the module docstring)."""
    from diffusers.models.transformers.transformer_sana_wm_refiner import SanaWMRefinerKVCache
    from diffusers.pipelines.ltx2.connectors import LTX2TextConnectors
    from diffusers.pipelines.sana_wm.refiner import _pack_text_embeds
    from transformers import Gemma3Config, Gemma3ForConditionalGeneration

    with torch.device("meta"):
        gemma = Gemma3ForConditionalGeneration(Gemma3Config(**GEMMA3_12B_CONFIG)).to(torch.bfloat16).eval()
        connectors = LTX2TextConnectors().to(torch.bfloat16).eval()
    ids = torch.zeros(1, tokens, dtype=torch.long, device="meta")
    mask = torch.ones(1, tokens, dtype=torch.long, device="meta")

    def encode() -> Any:  # diffusers 0.42.1 SanaWMLTX2Refiner._encode_prompt, line by line
        # no attention mask for Gemma-3: its padding check reads a value (impossible on meta); the causal mask it
        # would build instead is 1 MB
        outputs = gemma(input_ids=ids, output_hidden_states=True)
        hidden = torch.stack(outputs.hidden_states, dim=-1)
        packed = _pack_text_embeds(hidden, mask.sum(dim=-1), device="meta", padding_side="left").to(torch.bfloat16)
        return connectors(packed, mask)

    prompt_peak, _ = traced_peak(encode)
    del gemma
    transformer = build_refiner()
    layers = len(transformer.transformer_blocks)
    width = transformer.config.num_attention_heads * transformer.config.attention_head_dim
    w, h = latent_grid
    per_frame = w * h
    embeds = _meta(1, tokens, transformer.config.caption_channels)
    kv = SanaWMRefinerKVCache(layers)
    # A full window, made before the trace: the sink and 10 frames of history. diffusers trims the history by slicing
    # the concatenation [history, new block] (a view), so in the steady state each layer's history keeps the storage
    # of history + block frames alive.
    stored = (history_frames + block_size) * per_frame
    for i in range(layers):
        kv.get(i).store_sink(_meta(1, per_frame, width), _meta(1, per_frame, width))
        kv.get(i).store_history(*(_meta(1, stored, width)[:, -history_frames * per_frame :] for _ in range(2)))
    positions = list(range(1 + history_frames, 1 + history_frames + block_size))
    kv.sink_pe = transformer.build_rotary_emb_for_absolute_positions(batch_size=1, frame_positions=[0], height=h,
                                                                     width=w, device="meta", fps=16.0)  # fmt: skip
    rope = transformer.build_rotary_emb_for_absolute_positions(batch_size=1, frame_positions=positions, height=h,
                                                               width=w, device="meta", fps=16.0)  # fmt: skip

    def forward(mode: str) -> Any:
        n = block_size * per_frame
        return transformer(hidden_states=_meta(1, n, transformer.config.in_channels), encoder_hidden_states=embeds,
                           timestep=_meta(1, n, dtype=torch.float32), video_rotary_emb=rope,
                           encoder_attention_mask=mask, kv_cache=kv, kv_cache_mode=mode, return_dict=False)[0]  # fmt: skip

    block_peak, _ = traced_peak(lambda: forward("inject"))
    capture_peak, _ = traced_peak(lambda: forward("inject_and_capture_post_rope"))
    element = torch.finfo(torch.bfloat16).bits // 8
    history = 2 * layers * stored * width * element
    sink = 2 * layers * per_frame * width * element
    captured = 2 * layers * block_size * per_frame * width * element
    return RefinerActivations(prompt_peak, history, sink, captured, block_peak, capture_peak)


@functools.cache
def official_activations() -> StackActivations:
    """Every stage of the official stack at 720p (traced once per process; about ten seconds on one CPU core)."""
    return StackActivations(trace_dit(), trace_vae(), trace_caption(), trace_refiner())


__all__ = ["CAPTION_TOKENS", "CLIP_LATENT_FRAMES", "DiTActivations", "OFFICIAL_LATENT_GRID", "REFINER_PROMPT_TOKENS",
           "RefinerActivations", "StackActivations", "VAEActivations", "official_activations", "trace_caption",
           "trace_dit", "trace_refiner", "trace_vae"]  # fmt: skip
