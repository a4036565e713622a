"""Transformer interface: timestep forms and truncation, input validation, dtype."""

from __future__ import annotations

import pytest
import torch

from engine.errors import SanaWMInputError
from engine.model import SanaWMConfig, SanaWMTransformer


@pytest.fixture(scope="module")
def tiny() -> SanaWMTransformer:
    torch.manual_seed(0)
    return SanaWMTransformer(SanaWMConfig.from_preset("sana-wm-tiny-test", caption_channels=16)).eval()


def _inputs(cameras, frames: int = 2):
    gen = torch.Generator().manual_seed(3)
    return dict(
        latents=torch.randn(1, 8, frames, 3, 4, generator=gen),
        caption=torch.randn(1, 5, 16, generator=gen),
        caption_mask=torch.tensor([[1, 1, 1, 1, 0]]),
        camera_conditions=cameras(1, frames, 3, 4, gen),
        chunk_plucker=torch.randn(1, 48, frames, 3, 4, generator=gen),
    )


def test_timestep_forms_agree_and_are_truncated_toward_zero(tiny, cameras) -> None:
    inputs = _inputs(cameras)
    with torch.no_grad():
        per_frame = tiny(timesteps=torch.tensor([[998.0, 998.0]]), **inputs)
        assert torch.equal(tiny(timesteps=torch.tensor([998.2611]), **inputs), per_frame)
        assert torch.equal(tiny(timesteps=torch.tensor([[[998.9, 998.0]]]), **inputs), per_frame)
        assert not torch.equal(tiny(timesteps=torch.tensor([[997.0, 998.0]]), **inputs), per_frame)
    assert per_frame.shape == inputs["latents"].shape


@pytest.mark.parametrize(
    "change, name",
    [
        (dict(latents=torch.zeros(1, 7, 2, 3, 4)), "latents"),
        (dict(camera_conditions=torch.zeros(1, 3, 20)), "camera_conditions"),
        (dict(chunk_plucker=torch.zeros(1, 6, 2, 3, 4)), "chunk_plucker"),
        (dict(caption=None), "text-conditioned"),
        (dict(caption_mask=torch.ones(1, 4)), "caption_mask"),
        (dict(timesteps=torch.zeros(1, 3)), "timesteps"),
    ],
)
def test_bad_inputs_raise_a_typed_error_naming_the_input(tiny, cameras, change: dict, name: str) -> None:
    inputs = {**_inputs(cameras), "timesteps": torch.zeros(1, 2), **change}
    with pytest.raises(SanaWMInputError, match=name):
        tiny(**inputs)


def test_bf16_model_runs_and_returns_bf16(tiny, cameras) -> None:
    model = SanaWMTransformer(tiny.config)
    model.load_state_dict(tiny.state_dict())
    model = model.to(torch.bfloat16).eval()
    with torch.no_grad():
        out = model(timesteps=torch.tensor([500.0]), **_inputs(cameras))
        ref = tiny(timesteps=torch.tensor([500.0]), **_inputs(cameras))
    assert out.dtype == torch.bfloat16
    assert (out.float() - ref).abs().max() < 0.05 * ref.abs().max()
