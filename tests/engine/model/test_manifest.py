"""The 1600M preset, built on the meta device, has exactly the official state-dict keys and shapes (spec model §7)
and 2,661,800,448 parameters (§8). Nothing of full size is allocated."""

from __future__ import annotations

import torch

from engine.model import SanaWMConfig, SanaWMTransformer

C, HEADS, LATENT, TEXT, MLP = 2240, 20, 128, 2304, 6720


def official_manifest() -> dict[str, tuple[int, ...]]:
    """The spec's §7 table: 22 top-level keys + 43 per GDN block / 41 per softmax block = 872 keys."""
    keys: dict[str, tuple[int, ...]] = {
        "x_embedder.proj.weight": (C, LATENT, 1, 1, 1),
        "x_embedder.proj.bias": (C,),
        "t_embedder.mlp.0.weight": (C, 256),
        "t_embedder.mlp.0.bias": (C,),
        "t_embedder.mlp.2.weight": (C, C),
        "t_embedder.mlp.2.bias": (C,),
        "t_block.1.weight": (6 * C, C),
        "t_block.1.bias": (6 * C,),
        "y_embedder.y_proj.fc1.weight": (C, TEXT),
        "y_embedder.y_proj.fc1.bias": (C,),
        "y_embedder.y_proj.fc2.weight": (C, C),
        "y_embedder.y_proj.fc2.bias": (C,),
        "y_embedder.y_embedding": (300, TEXT),
        "attention_y_norm.weight": (C,),
        "plucker_embedder.proj.weight": (C, 48, 1, 1, 1),
        "plucker_embedder.proj.bias": (C,),
        "raymap_embedder.proj.weight": (C, 3, 1, 1, 1),
        "raymap_embedder.proj.bias": (C,),
        "final_layer.scale_shift_table": (2, C),
        "final_layer.linear.weight": (LATENT, C),
        "final_layer.linear.bias": (LATENT,),
        "pos_embed": (1, 484, C),
    }
    for i in range(20):
        block = {
            "scale_shift_table": (6, C),
            "attn.qkv.weight": (3 * C, C),
            "attn.proj.weight": (C, C),
            "attn.proj.bias": (C,),
            "attn.q_norm.weight": (C,),
            "attn.k_norm.weight": (C,),
            "attn.beta_proj.weight": (HEADS, C),
            "attn.beta_proj.bias": (HEADS,),
            "attn.gate_proj.weight": (HEADS, C),
            "attn.gate_proj.bias": (HEADS,),
            "attn.A_log": (HEADS,),
            "attn.dt_bias": (HEADS,),
            "attn.recall_gate": (1,),
            "attn.output_gate.weight": (C, C),
            "attn.output_gate.bias": (C,),
            "attn.q_norm_cam.weight": (C,),
            "attn.k_norm_cam.weight": (C,),
            "cross_attn.q_linear.weight": (C, C),
            "cross_attn.q_linear.bias": (C,),
            "cross_attn.kv_linear.weight": (2 * C, C),
            "cross_attn.kv_linear.bias": (2 * C,),
            "cross_attn.proj.weight": (C, C),
            "cross_attn.proj.bias": (C,),
            "cross_attn.q_norm.weight": (C,),
            "cross_attn.k_norm.weight": (C,),
            "mlp.inverted_conv.conv.weight": (2 * MLP, C, 1, 1),
            "mlp.inverted_conv.conv.bias": (2 * MLP,),
            "mlp.depth_conv.conv.weight": (2 * MLP, 1, 3, 3),
            "mlp.depth_conv.conv.bias": (2 * MLP,),
            "mlp.point_conv.conv.weight": (C, MLP, 1, 1),
            "mlp.t_conv.weight": (C, C, 3, 1),
            "plucker_proj.weight": (C, C),
            "plucker_proj.bias": (C,),
        }
        for name in ("q_proj_cam", "k_proj_cam", "v_proj_cam", "out_proj_cam"):
            block[f"attn.{name}.weight"] = (C, C)
            block[f"attn.{name}.bias"] = (C,)
        if (i + 1) % 4 != 0:  # GDN blocks carry the short convs
            block["attn.conv_k.weight"] = (C, 1, 4)
            block["attn.conv_k_cam.weight"] = (C, 1, 4)
        keys.update({f"blocks.{i}.{k}": v for k, v in block.items()})
    return keys


def test_the_spec_manifest_has_872_keys() -> None:
    assert len(official_manifest()) == 872


def test_1600m_preset_has_the_official_keys_and_shapes_except_pos_embed() -> None:
    """Decision: the model does not own ``pos_embed`` (zeros, unused by the video model); the loader drops it."""
    with torch.device("meta"):
        model = SanaWMTransformer(SanaWMConfig.from_preset("sana-wm-1600m-720p"))
    ours = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    expected = official_manifest()
    del expected["pos_embed"]
    assert ours == expected  # 871 keys, incl. the y_embedding and 20 recall_gate buffers
    assert sum(p.numel() for p in model.parameters()) == 2_661_800_448
    buffers = {name for name, _ in model.named_buffers()}
    assert buffers == {"y_embedder.y_embedding"} | {f"blocks.{i}.attn.recall_gate" for i in range(20)}
    assert [i for i, b in enumerate(model.blocks) if b.is_softmax] == [3, 7, 11, 15, 19]
