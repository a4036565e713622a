"""``engine.bundles.weights.load_transformer``: every checkpoint layout loads strictly into the same model, and bad
checkpoints fail with a CheckpointError that says what is wrong."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from engine.errors import BundleError, CheckpointError, InputFileError
from engine.model import SanaWMConfig, SanaWMTransformer
from engine.bundles.weights import load_transformer, read_official_yaml

CONFIG = SanaWMConfig.from_preset("sana-wm-tiny-test", caption_channels=16, caption_length=5)
ARCHITECTURE = ("depth", "hidden_size", "num_heads", "head_dim", "softmax_every_n", "in_channels", "out_channels",
                "caption_channels", "caption_length", "mlp_ratio", "t_kernel_size", "conv_kernel_size",
                "plucker_channels")  # fmt: skip
YAML = """\
model:
  model: SanaMSVideoCamCtrl_Tiny
  mixed_precision: bf16
  softmax_every_n: 4
  linear_head_dim: 32
  conv_kernel_size: 4
  k_conv_only: true
  ffn_type: GLUMBConvTemp
  mlp_acts:
    - silu
    - silu
    -
  mlp_ratio: 2
  pos_embed_type: wan_rope
  cam_attn_compress: 1
  chunk_plucker_channels: 48
text_encoder:
  text_encoder_name: gemma-2-2b-it
  model_max_length: 5
"""


@pytest.fixture(scope="module")
def reference() -> SanaWMTransformer:
    torch.manual_seed(0)
    model = SanaWMTransformer(CONFIG).eval()
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for p in model.parameters():  # zero-initialised layers included
            p.copy_(torch.randn(p.shape, generator=gen) / math.sqrt(p[0].numel() if p.ndim > 1 else 4))
    return model


@pytest.fixture(scope="module")
def official_state(reference) -> dict[str, torch.Tensor]:
    """The original NVlabs layout: our keys plus the base-class ``pos_embed`` buffer."""
    state = {k: v.clone() for k, v in reference.state_dict().items()}
    state["pos_embed"] = torch.zeros(1, 16, CONFIG.hidden_size)
    return state


def _inputs():
    gen = torch.Generator().manual_seed(7)
    b, t, h, w = 1, 2, 3, 4
    cams = torch.cat([torch.eye(4).flatten().repeat(b, t, 1), torch.tensor([4.0, 4.0, 1.5, 1.0]).repeat(b, t, 1)], -1)
    cams[..., 3] = torch.arange(t, dtype=torch.float32)  # move along x
    return (
        torch.randn(b, 8, t, h, w, generator=gen),
        torch.tensor([[0.0, 700.0]]),
        torch.randn(b, 5, 16, generator=gen),
        torch.tensor([[1, 1, 1, 0, 0]]),
        cams,
        torch.randn(b, 48, t, h, w, generator=gen),
    )


def _assert_same_model(model: SanaWMTransformer, reference: SanaWMTransformer) -> None:
    for field in ARCHITECTURE:
        assert getattr(model.config, field) == getattr(reference.config, field), field
    ours, theirs = model.state_dict(), reference.state_dict()
    assert ours.keys() == theirs.keys()
    for key in theirs:
        assert not ours[key].is_meta, key
        torch.testing.assert_close(ours[key], theirs[key], rtol=0, atol=0, msg=key)
    with torch.no_grad():
        torch.testing.assert_close(model(*_inputs()), reference(*_inputs()), rtol=0, atol=0)


def test_safetensors_file_with_given_and_inferred_config(official_state, reference, tmp_path: Path) -> None:
    path = tmp_path / "tiny.safetensors"
    save_file(official_state, path)
    _assert_same_model(load_transformer(path, config=CONFIG), reference)
    inferred = load_transformer(path, sdpa_bf16=False)  # sizes read off the shapes
    _assert_same_model(inferred, reference)


def test_pt_container_with_generator_wrapper_and_model_prefix(official_state, reference, tmp_path: Path) -> None:
    path = tmp_path / "model.pt"
    torch.save({"generator": {f"model.{k}": v for k, v in official_state.items()}, "step": 3}, path)
    _assert_same_model(load_transformer(path, config=CONFIG), reference)


def test_official_folders_with_config_yaml(official_state, reference, tmp_path: Path) -> None:
    bidirectional = tmp_path / "SANA-WM_bidirectional"
    (bidirectional / "dit").mkdir(parents=True)
    save_file(official_state, bidirectional / "dit" / "sana_wm_tiny.safetensors")
    (bidirectional / "config.yaml").write_text(YAML)
    _assert_same_model(load_transformer(bidirectional, sdpa_bf16=False), reference)
    streaming = tmp_path / "SANA-WM_streaming"
    (streaming / "sana_dit").mkdir(parents=True)
    torch.save({"state_dict": official_state}, streaming / "sana_dit" / "model.pt")
    _assert_same_model(load_transformer(streaming, config=CONFIG), reference)


def test_minimal_yaml_reader_reads_model_scalars(tmp_path: Path) -> None:
    (tmp_path / "config.yaml").write_text(YAML)
    sections = read_official_yaml(tmp_path / "config.yaml")
    assert sections["model"]["linear_head_dim"] == 32 and sections["model"]["k_conv_only"] is True
    assert sections["model"]["pos_embed_type"] == "wan_rope" and sections["text_encoder"]["model_max_length"] == 5
    assert "mlp_acts" in sections["model"] and sections["model"]["mlp_acts"] is None  # lists are skipped


def test_diffusers_sharded_folder(reference, tmp_path: Path) -> None:
    folder = tmp_path / "transformer"
    folder.mkdir()
    state = {k: v for k, v in reference.state_dict().items() if k != "y_embedder.y_embedding"}
    renames = (("t_embedder.mlp.0.", "t_embedder.linear_1."), ("t_embedder.mlp.2.", "t_embedder.linear_2."))
    for ours, theirs in renames:
        state = {k.replace(ours, theirs): v for k, v in state.items()}
    keys = sorted(state)
    shards = {"part-1.safetensors": keys[: len(keys) // 2], "part-2.safetensors": keys[len(keys) // 2 :]}
    for name, names in shards.items():
        save_file({k: state[k] for k in names}, folder / name)
    weight_map = {k: name for name, names in shards.items() for k in names}
    (folder / "diffusion_pytorch_model.safetensors.index.json").write_text(json.dumps({"weight_map": weight_map}))
    (folder / "config.json").write_text(json.dumps({
        "_class_name": "SanaWMTransformer3DModel", "in_channels": 8, "num_layers": 4, "hidden_size": 64,
        "num_attention_heads": 2, "linear_head_dim": 32, "caption_channels": 16, "mlp_ratio": 2.0,
        "chunk_plucker_post_attn_blocks": 4,
    }))  # fmt: skip
    model = load_transformer(tmp_path, sdpa_bf16=False, caption_length=5)
    # diffusers has no y_embedding buffer: it is zero-filled; everything else is the reference
    assert torch.count_nonzero(model.y_embedder.y_embedding) == 0
    with torch.no_grad():
        torch.testing.assert_close(model(*_inputs()), reference(*_inputs()), rtol=0, atol=0)


def test_optional_buffers_may_be_absent_and_bf16_loads(official_state, reference) -> None:
    state = {k: v for k, v in official_state.items() if not k.endswith(("recall_gate", "y_embedding", "pos_embed"))}
    model = load_transformer(state, config=CONFIG, dtype=torch.bfloat16)
    assert {p.dtype for p in model.parameters()} == {torch.bfloat16}
    assert torch.count_nonzero(model.blocks[0].attn.recall_gate) == 0
    with torch.no_grad():
        out, ref = model(*_inputs()), reference(*_inputs())
    assert out.dtype == torch.bfloat16
    assert (out.float() - ref).abs().max() < 0.1 * ref.abs().max()


# ----- bad checkpoints ------------------------------------------------------------------------------------------
def test_truncated_safetensors_names_the_file(official_state, tmp_path: Path) -> None:
    path = tmp_path / "broken.safetensors"
    save_file(official_state, path)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(CheckpointError, match="broken.safetensors.*truncated or corrupt"):
        load_transformer(path, config=CONFIG)


def test_truncated_pt_names_the_file(official_state, tmp_path: Path) -> None:
    path = tmp_path / "broken.pt"
    torch.save(official_state, path)
    path.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(CheckpointError, match="broken.pt.*truncated or corrupt"):
        load_transformer(path, config=CONFIG)


def test_wrong_shapes_missing_and_unexpected_keys_are_listed(official_state) -> None:
    state = dict(official_state)
    state["blocks.1.attn.qkv.weight"] = torch.zeros(3, 3)
    for key in ("blocks.0.mlp.t_conv.weight", "final_layer.linear.bias"):
        del state[key]
    state["blocks.0.attn.conv_q.weight"] = torch.zeros(64, 1, 4)
    with pytest.raises(CheckpointError) as info:
        load_transformer(state, config=CONFIG)
    message = str(info.value)
    assert "2 missing (blocks.0.mlp.t_conv.weight, final_layer.linear.bias)" in message
    assert "1 unexpected (blocks.0.attn.conv_q.weight)" in message
    assert "1 shape-mismatched (blocks.1.attn.qkv.weight: checkpoint [3, 3] vs model [192, 64])" in message


def test_wrong_preset_for_the_checkpoint_is_a_checkpoint_error(official_state) -> None:
    with pytest.raises(CheckpointError, match=r"shape-mismatched .* more\)"):
        load_transformer(official_state, config="sana-wm-small", caption_channels=16)


def test_missing_inputs_have_typed_errors(tmp_path: Path) -> None:
    with pytest.raises(InputFileError, match="no such checkpoint"):
        load_transformer(tmp_path / "nope.safetensors")
    with pytest.raises(BundleError, match="dit/<name>.safetensors"):
        load_transformer(tmp_path)
    (tmp_path / "weights.txt").write_text("hello")
    with pytest.raises(InputFileError, match="unknown checkpoint kind"):
        load_transformer(tmp_path / "weights.txt")
