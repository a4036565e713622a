"""Config presets, overrides and the diffusers config reader."""

from __future__ import annotations

import pytest

from engine.errors import ConfigError
from engine.model import PRESETS, SanaWMConfig


def test_official_preset_is_the_released_model() -> None:
    cfg = SanaWMConfig.from_preset("sana-wm-1600m-720p")
    assert (cfg.depth, cfg.hidden_size, cfg.self_attn_heads, cfg.head_dim) == (20, 2240, 20, 112)
    assert [i for i in range(cfg.depth) if cfg.is_softmax_block(i)] == [3, 7, 11, 15, 19]
    assert (cfg.in_channels, cfg.caption_channels, cfg.mlp_hidden, cfg.plucker_channels) == (128, 2304, 6720, 48)
    assert cfg.camera_variant == "head" and cfg.preset == "sana-wm-1600m-720p"


def test_small_presets_keep_both_block_kinds() -> None:
    for name in ("sana-wm-tiny-test", "sana-wm-small"):
        cfg = SanaWMConfig.from_preset(name)
        kinds = {cfg.is_softmax_block(i) for i in range(cfg.depth)}
        assert kinds == {True, False}
        assert not cfg.text_conditioning
    assert SanaWMConfig.from_preset("sana-wm-small", caption_channels=64).text_conditioning


def test_unknown_preset_lists_the_valid_names() -> None:
    with pytest.raises(ConfigError) as info:
        SanaWMConfig.from_preset("sana-wm-9000b")
    for name in PRESETS:
        assert name in str(info.value)


@pytest.mark.parametrize(
    "overrides, fragment",
    [
        (dict(head_dim=20), "multiple of 8"),
        (dict(camera_variant="nightly"), "camera_variant"),
        (dict(depth=0), "depth"),
        (dict(t_kernel_size=2), "t_kernel_size"),
        (dict(gated_delta_impl="cuda"), "gated_delta_impl"),
        (dict(widht=3), "unknown SanaWMConfig field"),
        (dict(depth="four"), "invalid"),
    ],
)
def test_bad_override_is_a_config_error(overrides: dict, fragment: str) -> None:
    with pytest.raises(ConfigError, match=fragment):
        SanaWMConfig.from_preset("sana-wm-tiny-test", **overrides)


def test_diffusers_config_round_trip() -> None:
    cfg = SanaWMConfig.from_diffusers_config(
        {"num_layers": 8, "hidden_size": 256, "num_attention_heads": 4, "linear_head_dim": 64, "caption_channels": 32,
         "in_channels": 16, "mlp_ratio": 2.5, "chunk_plucker_post_attn_blocks": 8, "patch_size": [1, 1, 1]}
    )  # fmt: skip
    assert (cfg.depth, cfg.hidden_size, cfg.head_dim, cfg.in_channels, cfg.out_channels) == (8, 256, 64, 16, 16)
    assert cfg.mlp_hidden == 640 and cfg.caption_channels == 32
    assert SanaWMConfig.from_diffusers_config({}) == SanaWMConfig.from_preset("sana-wm-1600m-720p")


@pytest.mark.parametrize(
    "config", [{"patch_size": [1, 2, 2]}, {"cam_attn_compress": 2}, {"chunk_plucker_post_attn_blocks": 10}]
)
def test_unsupported_diffusers_architecture_is_refused(config: dict) -> None:
    with pytest.raises(ConfigError):
        SanaWMConfig.from_diffusers_config(config)
