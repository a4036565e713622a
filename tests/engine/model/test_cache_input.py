"""The world-cache input of the embedded model v2: off in every preset (the official architecture is unchanged),
silent at initialisation (a v2 made from v1 weights computes exactly what v1 computes), and really used once its
weights are non-zero."""

from __future__ import annotations

import pytest
import torch

from engine.errors import SanaWMInputError
from engine.model.config import PRESETS, SanaWMConfig
from engine.model.transformer import SanaWMTransformer

SHAPE = (1, 8, 4, 2, 3)  # (B, C, T, h, w) of the tiny-test preset


def inputs(seed: int = 0) -> dict:
    gen = torch.Generator().manual_seed(seed)
    return dict(
        latents=torch.randn(SHAPE, generator=gen),
        timesteps=torch.tensor([[0.0, 727.0, 727.0, 727.0]]),
        camera_conditions=torch.cat([torch.eye(4).flatten().repeat(1, 4, 1), torch.tensor([[[40.0, 40, 24, 16]] * 4])], -1),
        chunk_plucker=torch.randn((1, 48, 4, 2, 3), generator=gen),
    )


def v1_and_v2() -> tuple[SanaWMTransformer, SanaWMTransformer]:
    torch.manual_seed(0)
    v1 = SanaWMTransformer(SanaWMConfig.from_preset("sana-wm-tiny-test")).eval()
    v2 = SanaWMTransformer(v1.config.replace(cache_channels=9)).eval()
    missing, unexpected = v2.load_state_dict(v1.state_dict(), strict=False)
    assert sorted(missing) == ["cache_embedder.proj.bias", "cache_embedder.proj.weight"] and not unexpected
    return v1, v2


def test_every_preset_is_the_official_architecture_without_a_cache_input():
    for name in PRESETS:
        config = SanaWMConfig.from_preset(name)
        assert config.cache_channels == 0, name
    model = SanaWMTransformer(SanaWMConfig.from_preset("sana-wm-tiny-test"))
    assert not any(key.startswith("cache_embedder") for key in model.state_dict())
    with pytest.raises(SanaWMInputError, match="no world-cache input"):
        model(**inputs(), cache=torch.zeros(1, 9, 4, 2, 3))


def test_a_v2_from_v1_weights_computes_what_v1_computes_whatever_the_cache():
    v1, v2 = v1_and_v2()
    with torch.no_grad():
        expected = v1(**inputs())
        for cache in (None, torch.randn(1, 9, 4, 2, 3), 5 * torch.ones(1, 9, 4, 2, 3)):
            assert torch.equal(v2(**inputs(), cache=cache), expected)


def test_a_trained_cache_path_changes_the_prediction_and_a_missing_cache_is_zeros():
    _, v2 = v1_and_v2()
    with torch.no_grad():
        v2.cache_embedder.proj.weight.normal_()
        cache = torch.randn(1, 9, 4, 2, 3)
        with_cache = v2(**inputs(), cache=cache)
        assert not torch.allclose(with_cache, v2(**inputs(), cache=None))
        assert torch.equal(v2(**inputs(), cache=None), v2(**inputs(), cache=torch.zeros(1, 9, 4, 2, 3)))


def test_a_cache_of_the_wrong_shape_names_the_expected_shape():
    _, v2 = v1_and_v2()
    with pytest.raises(SanaWMInputError, match=r"cache must have shape \(1, 9, 4, 2, 3\)"):
        v2(**inputs(), cache=torch.zeros(1, 8, 4, 2, 3))


def test_negative_cache_channels_are_refused():
    with pytest.raises(Exception, match="cache_channels must be >= 0"):
        SanaWMConfig.from_preset("sana-wm-tiny-test", cache_channels=-1)
