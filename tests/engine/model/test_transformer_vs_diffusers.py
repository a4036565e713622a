"""Oracle equivalence: our transformer, loaded through ``engine.bundles.weights.load_transformer`` from a diffusers 0.42.1
``SanaWMTransformer3DModel`` with random weights, computes the same velocity (camera_variant ``diffusers-0.42.1``)."""

from __future__ import annotations

import contextlib

import pytest
import torch

from engine.model import SanaWMTransformer
from engine.bundles.weights import load_transformer


@contextlib.contextmanager
def oracle_sdpa_in_fp32():
    """diffusers rounds SDPA operands to bf16 with ``tensor.bfloat16()`` even in fp32; make that a no-op so the
    fp32 math can be compared at 1e-4 (our ``sdpa_bf16`` switch is compared separately with the rounding on)."""
    original = torch.Tensor.bfloat16
    torch.Tensor.bfloat16 = lambda self, *args, **kwargs: self
    try:
        yield
    finally:
        torch.Tensor.bfloat16 = original


def _inputs(frames: int, seed: int, cameras, batch: int = 2, height: int = 3, width: int = 5, length: int = 7):
    gen = torch.Generator().manual_seed(seed)
    latents = torch.randn(batch, 8, frames, height, width, generator=gen)
    timesteps = torch.rand(batch, frames, generator=gen) * 1000
    caption = torch.randn(batch, length, 16, generator=gen)
    mask = torch.ones(batch, length, dtype=torch.long)
    mask[1, 4:] = 0  # a padded caption
    plucker = torch.randn(batch, 48, frames, height, width, generator=gen)
    return latents, timesteps, caption, mask, cameras(batch, frames, height, width, gen), plucker


def _oracle(model, latents, timesteps, caption, mask, cams, plucker) -> torch.Tensor:
    with torch.no_grad():
        return model(
            latents,
            timesteps[:, None],  # diffusers wants per-frame (B, 1, T)
            caption[:, None],  # and (B, 1, L, C)
            encoder_attention_mask=mask,
            camera_conditions=cams,
            chunk_plucker=plucker,
            return_dict=False,
        )[0]


def _dims(oracle) -> dict:
    """A bare state dict does not carry the cross-attention head count: take it from the oracle's config."""
    return dict(num_heads=oracle.config.num_attention_heads)


@pytest.fixture(scope="module")
def ours(diffusers_oracle) -> SanaWMTransformer:
    return load_transformer(
        diffusers_oracle.state_dict(), camera_variant="diffusers-0.42.1", sdpa_bf16=False, **_dims(diffusers_oracle)
    )


@pytest.mark.parametrize("frames", [1, 2, 3, 5])
def test_velocity_matches_diffusers_oracle(frames: int, diffusers_oracle, ours, cameras) -> None:
    inputs = _inputs(frames, seed=frames, cameras=cameras)
    with oracle_sdpa_in_fp32():
        expected = _oracle(diffusers_oracle, *inputs)
    with torch.no_grad():
        got = ours(*inputs)
    assert got.shape == expected.shape == inputs[0].shape
    assert (got - expected).abs().max().item() <= 1e-4


def test_matches_oracle_when_its_scan_is_cut_into_chunks(diffusers_oracle, ours, cameras) -> None:
    """T = 5 with the oracle's scan tile set to 2 (diffusers default 21 never splits short clips)."""
    scan_modules = [
        m for m in diffusers_oracle.modules() if hasattr(m, "chunk_size") and "Attention" in type(m).__name__
    ]
    assert scan_modules
    inputs = _inputs(5, seed=11, cameras=cameras)
    try:
        for module in scan_modules:
            module.chunk_size = 2
        with oracle_sdpa_in_fp32():
            expected = _oracle(diffusers_oracle, *inputs)
    finally:
        for module in scan_modules:
            module.chunk_size = 21
    with torch.no_grad():
        got = ours(*inputs)
    assert (got - expected).abs().max().item() <= 1e-4


def test_loaded_from_a_diffusers_folder_matches_the_oracle(diffusers_oracle, cameras, tmp_path) -> None:
    diffusers_oracle.save_pretrained(tmp_path / "transformer")
    model = load_transformer(tmp_path, camera_variant="diffusers-0.42.1", sdpa_bf16=False)
    assert model.config.depth == 4 and model.config.is_softmax_block(3) and not model.config.is_softmax_block(2)
    inputs = _inputs(3, seed=21, cameras=cameras)
    with oracle_sdpa_in_fp32():
        expected = _oracle(diffusers_oracle, *inputs)
    with torch.no_grad():
        got = model(*inputs)
    assert (got - expected).abs().max().item() <= 1e-4


def test_bf16_sdpa_operands_follow_the_oracle_rounding(diffusers_oracle, cameras) -> None:
    """With the reference's bf16 rounding of SDPA operands on in both, outputs agree to bf16 accuracy."""
    rounded = load_transformer(
        diffusers_oracle.state_dict(), camera_variant="diffusers-0.42.1", sdpa_bf16=True, **_dims(diffusers_oracle)
    )
    inputs = _inputs(3, seed=31, cameras=cameras)
    expected = _oracle(diffusers_oracle, *inputs)
    with torch.no_grad():
        got = rounded(*inputs)
    assert (got - expected).abs().max().item() <= 5e-3


def test_camera_and_plucker_inputs_change_the_output(ours, cameras) -> None:
    """Guards the oracle test against comparing two models that both ignore the camera."""
    latents, timesteps, caption, mask, cams, plucker = _inputs(3, seed=41, cameras=cameras)
    with torch.no_grad():
        base = ours(latents, timesteps, caption, mask, cams, plucker)
        other_cams = cameras(2, 3, 3, 5, torch.Generator().manual_seed(99))
        assert (ours(latents, timesteps, caption, mask, other_cams, plucker) - base).abs().max() > 1e-2
        assert (ours(latents, timesteps, caption, mask, cams, plucker * 2) - base).abs().max() > 1e-2
