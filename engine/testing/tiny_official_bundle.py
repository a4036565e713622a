"""Tiny random-weight bundles in the official SANA-WM folder layouts, built locally in about a second.

Why: the official checkpoints are tens of GB and cannot be downloaded here, but every code path that reads them —
folder discovery, strict loading, the Gemma tokenisation rules, the VAE, the refiner, the ``generate`` command —
must be exercised end to end. These bundles have the release's folder names, file names, config formats and
parameter names, with every network shrunk (spec ``ltx2_vae_refiner.md`` §4):

=====================  =====================================================  =================================
part                   module (tiny)                                          parameters
=====================  =====================================================  =================================
Stage-1 DiT            ``sana-wm-tiny-test`` preset, ``caption_channels 32``  453,096 (all randomised)
LTX-2 VAE              §4.1: 8 latent channels, the real 32x / 8x structure   2,162,221 (+ random latent stats)
Gemma-2 text encoder   2 layers, hidden 32, vocab 64                          20,768
refiner                §4.4: 2-layer LTX-2 DiT + text connectors              37,804 + 7,520
Gemma-3 (refiner)      2 text layers, hidden 16, a 1-layer vision tower       20,032
=====================  =====================================================  =================================

Both text encoders share one word-level tokenizer (``<pad> <eos> <bos> <unk>``, words ``w0 .. w56``, Gemma-3's
three image tokens at 61-63) that adds ``<bos>`` like Gemma's; any other word maps to ``<unk>``. Frames are 96x64
pixels (3x2 latent cells), recorded in the ``sana_wm_explorer`` section of the config so the loader picks the size
up. A bundle is 11 MB (the fp32 VAE is 8.6 MB of it) and builds in ~0.15 s once diffusers and transformers are
imported.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import torch

TINY_FRAME_SIZE = (96, 64)
TINY_GEMMA2_HIDDEN = 32
TINY_WORDS = 57
LABEL = "random weights: plumbing only"

LAYOUTS = {
    # part -> folder (relative to the bundle root)
    "bidirectional": dict(
        config="config.yaml", dit="dit/sana_wm_tiny_test.safetensors", vae="vae", refiner="refiner",
        refiner_gemma="refiner/text_encoder", text_encoder="text_encoder",
    ),
    "streaming": dict(
        config="sana_wm_streaming_1600m_720p.yaml", dit="sana_dit/model.pt", vae="ltx2_causal_vae",
        refiner="refiner_diffusers", refiner_gemma="gemma3_12b", text_encoder="gemma-2-2b-it",
    ),
    "diffusers": dict(
        config=None, dit="transformer", vae="vae", refiner="refiner", refiner_gemma="refiner/text_encoder",
        text_encoder="text_encoder", tokenizer="tokenizer",
    ),
}  # fmt: skip
DIFFUSERS_RENAMES = (("t_embedder.mlp.0.", "t_embedder.linear_1."), ("t_embedder.mlp.2.", "t_embedder.linear_2."))


def tiny_tokenizer() -> Any:
    """The shared word-level tokenizer (a transformers ``PreTrainedTokenizerFast``)."""
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    vocab = {"<pad>": 0, "<eos>": 1, "<bos>": 2, "<unk>": 3, **{f"w{i}": i + 4 for i in range(TINY_WORDS)}}
    vocab.update({"<start_of_image>": 61, "<end_of_image>": 62, "<image_soft_token>": 63})
    backend = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    backend.post_processor = processors.TemplateProcessing(
        single="<bos> $A", pair="<bos> $A $B", special_tokens=[("<bos>", 2)]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=backend, pad_token="<pad>", eos_token="<eos>", bos_token="<bos>", unk_token="<unk>"
    )


def _randomise(module: torch.nn.Module, seed: int) -> None:
    """Fan-in-scaled normal weights everywhere (the DiT zero-initialises its camera / Plücker outputs)."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            fan_in = p[0].numel() if p.ndim > 1 else 4
            p.copy_(torch.randn(p.shape, generator=gen) / math.sqrt(fan_in))


def _write_dit(path: Path, seed: int) -> dict[str, Any]:
    from safetensors.torch import save_file

    from engine.model import SanaWMConfig, SanaWMTransformer

    config = SanaWMConfig.from_preset("sana-wm-tiny-test", caption_channels=TINY_GEMMA2_HIDDEN)
    model = SanaWMTransformer(config)
    _randomise(model, seed)
    state = {k: v.contiguous() for k, v in model.state_dict().items()}
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".pt":
        torch.save({"generator": state}, path)
    elif path.suffix == ".safetensors":
        save_file(state, path)
    else:  # a diffusers transformer folder: diffusers key names, no y_embedding buffer, config.json
        path.mkdir()
        state.pop("y_embedder.y_embedding")
        for ours, theirs in DIFFUSERS_RENAMES:
            state = {k.replace(ours, theirs): v for k, v in state.items()}
        save_file(state, path / "diffusion_pytorch_model.safetensors")
        (path / "config.json").write_text(json.dumps(dict(
            _class_name="SanaWMTransformer3DModel", in_channels=config.in_channels, num_layers=config.depth,
            hidden_size=config.hidden_size, num_attention_heads=config.num_heads, linear_head_dim=config.head_dim,
            caption_channels=config.caption_channels, mlp_ratio=config.mlp_ratio,
            chunk_plucker_post_attn_blocks=config.depth,
        )))  # fmt: skip
    return dict(
        model="SanaMSVideoCamCtrl_TinyTest", mixed_precision="fp32", softmax_every_n=config.softmax_every_n,
        linear_head_dim=config.head_dim, conv_kernel_size=config.conv_kernel_size, k_conv_only=True,
        ffn_type="GLUMBConvTemp", t_kernel_size=config.t_kernel_size, mlp_ratio=config.mlp_ratio, use_pe=True,
        pos_embed_type="wan_rope", qk_norm=True, cross_norm=True, cam_attn_compress=1,
        use_chunk_plucker_post_attn=True, chunk_plucker_channels=config.plucker_channels,
    )  # fmt: skip


def _write_vae(folder: Path, causal: bool, seed: int) -> None:
    from diffusers import AutoencoderKLLTX2Video

    torch.manual_seed(seed)
    vae = AutoencoderKLLTX2Video(
        latent_channels=8, block_out_channels=(16, 32, 64, 128), decoder_block_out_channels=(16, 32, 64),
        layers_per_block=(1, 1, 1, 1, 1), decoder_layers_per_block=(1, 1, 1, 1), decoder_causal=causal,
        spatial_compression_ratio=32, temporal_compression_ratio=8,
    )  # fmt: skip
    gen = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():  # non-trivial statistics so the normalisation is exercised
        vae.latents_mean.copy_(0.3 * torch.randn(8, generator=gen))
        vae.latents_std.copy_(0.5 + torch.rand(8, generator=gen))
    vae.save_pretrained(folder)


def _write_gemma2(folder: Path, tokenizer_folder: Path, seed: int) -> None:
    from transformers import Gemma2Config, Gemma2ForCausalLM

    torch.manual_seed(seed)
    config = Gemma2Config(
        vocab_size=64, hidden_size=TINY_GEMMA2_HIDDEN, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=2, num_key_value_heads=1, head_dim=16, sliding_window=16, pad_token_id=0,
        bos_token_id=2, eos_token_id=1,
    )  # fmt: skip
    Gemma2ForCausalLM(config).save_pretrained(folder)
    tiny_tokenizer().save_pretrained(tokenizer_folder)


def _write_refiner(folder: Path, gemma_folder: Path, seed: int) -> None:
    from diffusers.models.transformers.transformer_sana_wm_refiner import SanaWMLTX2RefinerTransformer3DModel
    from diffusers.pipelines.ltx2.connectors import LTX2TextConnectors
    from transformers import Gemma3Config, Gemma3ForConditionalGeneration

    torch.manual_seed(seed)
    SanaWMLTX2RefinerTransformer3DModel(
        in_channels=8, out_channels=8, num_attention_heads=2, attention_head_dim=8, cross_attention_dim=16,
        caption_channels=16, num_layers=2, audio_in_channels=4, audio_out_channels=4, audio_num_attention_heads=2,
        audio_attention_head_dim=4, audio_cross_attention_dim=8, rope_type="split",
    ).save_pretrained(folder / "transformer")  # fmt: skip
    LTX2TextConnectors(
        caption_channels=16, text_proj_in_factor=3, video_connector_num_attention_heads=2,
        video_connector_attention_head_dim=8, video_connector_num_layers=1, video_connector_num_learnable_registers=8,
        audio_connector_num_attention_heads=2, audio_connector_attention_head_dim=8, audio_connector_num_layers=1,
        audio_connector_num_learnable_registers=8, rope_type="split", video_hidden_dim=16, audio_hidden_dim=8,
    ).save_pretrained(folder / "connectors")  # fmt: skip
    gemma = Gemma3ForConditionalGeneration(
        Gemma3Config(
            text_config=dict(hidden_size=16, intermediate_size=32, num_hidden_layers=2, num_attention_heads=2,
                             num_key_value_heads=1, head_dim=8, vocab_size=64, sliding_window=16),
            vision_config=dict(hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2,
                               image_size=28, patch_size=14),
            mm_tokens_per_image=4, image_token_index=63, boi_token_index=61, eoi_token_index=62,
        )
    )  # fmt: skip
    gemma.save_pretrained(gemma_folder)
    tiny_tokenizer().save_pretrained(gemma_folder)


def build_tiny_official_bundle(
    folder: str | Path,
    *,
    layout: str = "bidirectional",
    refiner: bool = True,
    text_encoder: bool = True,
    seed: int = 0,
) -> Path:
    """Write a tiny random-weight bundle in an official layout into ``folder`` (created; must be empty or absent).

    Args:
        layout: ``"bidirectional"`` (``SANA-WM_bidirectional`` names: ``config.yaml``, ``dit/``, ``vae/``,
            ``refiner/{transformer,connectors,text_encoder}``, plus ``text_encoder/`` for Gemma-2),
            ``"streaming"`` (``SANA-WM_streaming`` names: ``sana_wm_streaming_1600m_720p.yaml``,
            ``sana_dit/model.pt``, ``ltx2_causal_vae/``, ``refiner_diffusers/``, ``gemma3_12b/``, plus
            ``gemma-2-2b-it/``) or ``"diffusers"`` (``model_index.json``, ``transformer/`` with diffusers key names,
            ``vae/``, ``text_encoder/`` + ``tokenizer/``, ``refiner/`` as bidirectional; no YAML, so loaders need
            the frame size given). The streaming VAE decoder is causal; the others are non-causal like the
            bidirectional release's.
        refiner: write the refiner parts.
        text_encoder: write the Gemma-2 folder.
        seed: seeds every random weight (same seed -> identical files).

    Returns:
        The bundle root.
    """
    import yaml

    from engine.components.gemma_text import default_chi_prompt

    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {', '.join(LAYOUTS)}, got {layout!r}")
    names = LAYOUTS[layout]
    root = Path(folder)
    root.mkdir(parents=True, exist_ok=True)
    if any(root.iterdir()):
        raise FileExistsError(f"{root} is not empty")
    model_section = _write_dit(root / names["dit"], seed)
    _write_vae(root / names["vae"], causal=layout == "streaming", seed=seed + 10)
    if text_encoder:
        _write_gemma2(root / names["text_encoder"], root / names.get("tokenizer", names["text_encoder"]), seed + 20)
    if refiner:
        _write_refiner(root / names["refiner"], root / names["refiner_gemma"], seed + 30)
    config = {
        "model": model_section,
        "vae": dict(vae_type="LTX2VAE_diffusers" + ("_causal" if layout == "streaming" else ""), vae_latent_dim=8,
                    vae_downsample_rate=32, vae_stride=[8, 32, 32], use_framewise_encoding=True,
                    use_framewise_decoding=True, tile_sample_stride_num_frames=64, tile_sample_min_num_frames=96),
        "text_encoder": dict(text_encoder_name="gemma-2-2b-it", y_norm=True, model_max_length=300,
                             chi_prompt=default_chi_prompt()),
        "sana_wm_explorer": dict(name=f"sana-wm-tiny-{layout}", label=LABEL, frame_size=list(TINY_FRAME_SIZE)),
    }  # fmt: skip
    if names["config"] is None:
        index = {"_class_name": "SanaWMPipeline", "_diffusers_version": "0.42.1", "transformer": ["diffusers",
                 "SanaWMTransformer3DModel"], "vae": ["diffusers", "AutoencoderKLLTX2Video"],
                 "text_encoder": ["transformers", "Gemma2ForCausalLM"], "tokenizer": ["transformers", "GemmaTokenizer"]}
        (root / "model_index.json").write_text(json.dumps(index, indent=2))
    else:
        text = yaml.safe_dump(config, sort_keys=False, width=float("inf"), allow_unicode=True)
        (root / names["config"]).write_text(text)
    return root
