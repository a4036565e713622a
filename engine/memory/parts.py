"""Weight sizes of the official SANA-WM parts, counted from their configs built on the meta device.

Why: a memory plan must not depend on having downloaded 100 GB of checkpoints. Each part is built from its release
configuration with ``torch.device("meta")`` (no memory, a second or two) and its parameters are counted, split the
way the tiers need them: linear-layer weights (what fp8 weight-only quantisation stores in one byte, with a float32
scale per output row), the largest repeated block (what block-level offloading keeps on the device), and the
refiner's audio weights (SANA-WM refines video only).

Configurations (sources in ``spec/``):

* Stage-1 DiT — the ``sana-wm-1600m-720p`` preset (spec model §1; 2,661,800,448 parameters, §8);
* LTX-2 VAE — the LTX-2.0 layout of ``ltx2_vae_refiner.md`` §1.2 (1,222,479,601 parameters; encoder and decoder
  apart, the decoder causal as in the streaming release);
* Gemma-2-2B-it (caption encoder, spec model §6) — its ``config.json`` values;
* LTX-2 refiner transformer and text connectors — diffusers 0.42.1's defaults, which are the LTX-2.0 layout of
  ``ltx2_vae_refiner.md`` §2.1 (48 layers, 32 x 128, caption channels 3840);
* Gemma-3-12B (the refiner's text encoder, §2.6) — its ``config.json`` values (48 layers x 3840, SigLIP vision tower).
"""

from __future__ import annotations

import contextlib
import functools
from dataclasses import dataclass
from collections.abc import Iterator
from typing import Any

import torch
import torch.nn as nn

#: LTX-2.0 VAE (ltx2_vae_refiner.md §1.2), with the causal decoder of the streaming release.
LTX2_VAE_CONFIG: dict[str, Any] = dict(
    latent_channels=128, block_out_channels=(256, 512, 1024, 2048), decoder_block_out_channels=(256, 512, 1024),
    layers_per_block=(4, 6, 6, 2, 2), decoder_layers_per_block=(5, 5, 5, 5),
    downsample_type=("spatial", "temporal", "spatiotemporal", "spatiotemporal"), decoder_causal=True,
    spatial_compression_ratio=32, temporal_compression_ratio=8,
)  # fmt: skip
#: Gemma-2-2B-it (Efficient-Large-Model/gemma-2-2b-it ``config.json``).
GEMMA2_2B_CONFIG: dict[str, Any] = dict(
    vocab_size=256000, hidden_size=2304, intermediate_size=9216, num_hidden_layers=26, num_attention_heads=8,
    num_key_value_heads=4, head_dim=256,
)  # fmt: skip
#: Gemma-3-12B (``config.json`` of the release's ``gemma3_12b/``): text model and SigLIP vision tower.
GEMMA3_12B_CONFIG: dict[str, Any] = dict(
    text_config=dict(hidden_size=3840, intermediate_size=15360, num_hidden_layers=48, num_attention_heads=16,
                     num_key_value_heads=8, head_dim=256, vocab_size=262208, sliding_window=1024),
    vision_config=dict(hidden_size=1152, intermediate_size=4304, num_hidden_layers=27, num_attention_heads=16,
                       image_size=896, patch_size=14),
    mm_tokens_per_image=256,
)  # fmt: skip


@dataclass(frozen=True)
class PartSize:
    """Parameter counts of one part (see the module docstring).

    Attributes:
        name: the part (``dit``, ``vae_encoder``, ``vae_decoder``, ``gemma2``, ``refiner``, ``refiner_audio``,
            ``connectors``, ``gemma3``).
        params: parameters (and buffers) of the part.
        linear_params: of these, the weights of ``nn.Linear`` layers.
        linear_rows: output rows of those layers.
        largest_block: parameters of the largest block of its main ``ModuleList`` (its longest: the layers / blocks);
            0 if none.
        outside_blocks: parameters outside that list (embeddings, projections, norms): block-level offloading moves
            them to the device together for the whole forward.
        largest_linear: parameters of its largest ``nn.Linear`` weight (fp8 weight-only layers dequantise one weight
            at a time to bf16 while they run).
    """

    name: str
    params: int
    linear_params: int = 0
    linear_rows: int = 0
    largest_block: int = 0
    outside_blocks: int = 0
    largest_linear: int = 0

    def bytes(self, element_size: int = 2) -> int:
        """Bytes of the weights in a dtype of ``element_size`` bytes (bf16: 2)."""
        return self.params * element_size

    def fp8_bytes(self) -> int:
        """Bytes with fp8 weight-only linear layers (1 byte + a float32 scale per row) and everything else bf16."""
        return self.linear_params + 4 * self.linear_rows + 2 * (self.params - self.linear_params)


def measure(name: str, module: nn.Module, *, skip: str | None = None) -> PartSize:
    """The :class:`PartSize` of ``module``; parameters whose name contains ``skip`` are left out."""
    keep = lambda n: skip is None or skip not in n  # noqa: E731
    tensors = [*module.named_parameters(), *module.named_buffers()]
    params = sum(t.numel() for n, t in tensors if keep(n))
    linears = [(n, m) for n, m in module.named_modules() if isinstance(m, nn.Linear) and keep(n)]
    blocks = max((m for m in module.modules() if isinstance(m, nn.ModuleList)), key=len, default=[])
    sizes = [sum(p.numel() for n, p in b.named_parameters() if keep(n)) for b in blocks]
    return PartSize(
        name, params, sum(m.weight.numel() for _, m in linears), sum(m.out_features for _, m in linears),
        max(sizes, default=0), params - sum(sizes), max((m.weight.numel() for _, m in linears), default=0),
    )  # fmt: skip


def build_dit(preset: str = "sana-wm-1600m-720p", **overrides: Any) -> nn.Module:
    """The Stage-1 DiT of ``preset`` on the meta device, in bf16 (``gated_delta_impl`` ``chunk``: the PyTorch scan,
    which is what can be traced)."""
    from engine.model.config import SanaWMConfig
    from engine.model.transformer import SanaWMTransformer

    config = SanaWMConfig.from_preset(preset, **{"gated_delta_impl": "chunk", **overrides})
    with torch.device("meta"):
        return SanaWMTransformer(config).to(torch.bfloat16).eval()


def build_vae() -> nn.Module:
    """The LTX-2.0 VAE on the meta device, in bf16."""
    from diffusers import AutoencoderKLLTX2Video

    with torch.device("meta"), _diffusers_quiet():
        return AutoencoderKLLTX2Video(**LTX2_VAE_CONFIG).to(torch.bfloat16).eval()


def build_refiner() -> nn.Module:
    """The LTX-2 refiner transformer (diffusers 0.42.1 defaults = LTX-2.0) on the meta device, in bf16."""
    from diffusers.models.transformers.transformer_sana_wm_refiner import SanaWMLTX2RefinerTransformer3DModel

    with torch.device("meta"), _diffusers_quiet():
        return SanaWMLTX2RefinerTransformer3DModel().to(torch.bfloat16).eval()


@contextlib.contextmanager
def _diffusers_quiet() -> Iterator[None]:
    """Silence diffusers' advice about keeping modules in float32 when casting with ``to()``: these models are built
    on the meta device only to count sizes, so the advice does not apply and would reach the user's terminal."""
    from diffusers.utils import logging as diffusers_logging

    level = diffusers_logging.get_verbosity()
    diffusers_logging.set_verbosity_error()
    try:
        yield
    finally:
        diffusers_logging.set_verbosity(level)


@functools.cache
def official_parts() -> dict[str, PartSize]:
    """Every official part's :class:`PartSize` by name (built once per process: a few seconds, no memory)."""
    from diffusers.pipelines.ltx2.connectors import LTX2TextConnectors
    from transformers import Gemma2Config, Gemma2Model, Gemma3Config, Gemma3ForConditionalGeneration

    vae = build_vae()
    refiner = build_refiner()
    audio = sum(p.numel() for n, p in refiner.named_parameters() if "audio" in n)
    with torch.device("meta"):
        connectors = LTX2TextConnectors()
        gemma2 = Gemma2Model(Gemma2Config(**GEMMA2_2B_CONFIG))
        gemma3 = Gemma3ForConditionalGeneration(Gemma3Config(**GEMMA3_12B_CONFIG))
    parts = [
        measure("dit", build_dit()),
        measure("vae_encoder", vae.encoder),
        measure("vae_decoder", vae.decoder),
        measure("gemma2", gemma2),
        measure("refiner", refiner, skip="audio"),
        PartSize("refiner_audio", audio),
        measure("connectors", connectors),
        measure("gemma3", gemma3),
    ]
    return {part.name: part for part in parts}


__all__ = ["GEMMA2_2B_CONFIG", "GEMMA3_12B_CONFIG", "LTX2_VAE_CONFIG", "PartSize", "build_dit", "build_refiner",
           "build_vae", "measure", "official_parts"]  # fmt: skip
