"""Shared builders for the model tests: valid random cameras and a small diffusers oracle with random weights."""

from __future__ import annotations

import math
from collections.abc import Callable

import pytest
import torch


def make_cameras(batch: int, frames: int, height: int, width: int, gen: torch.Generator) -> torch.Tensor:
    """``(B, T, 20)`` camera conditions: random rotations (QR, det +1), translations, positive latent-scale focals."""
    q, r = torch.linalg.qr(torch.randn(batch, frames, 3, 3, generator=gen, dtype=torch.float64))
    q = q * torch.sign(torch.diagonal(r, dim1=-2, dim2=-1))[..., None, :]
    q[..., :, 0] *= torch.sign(torch.linalg.det(q))[..., None]  # proper rotations
    c2w = torch.eye(4, dtype=torch.float64).repeat(batch, frames, 1, 1)
    c2w[..., :3, :3] = q
    c2w[..., :3, 3] = torch.randn(batch, frames, 3, generator=gen, dtype=torch.float64)
    focal = (0.6 + torch.rand(batch, frames, 2, generator=gen, dtype=torch.float64)) * width
    centre = torch.stack(
        [
            (width - 1) / 2 + torch.randn(batch, frames, generator=gen, dtype=torch.float64),
            (height - 1) / 2 + torch.randn(batch, frames, generator=gen, dtype=torch.float64),
        ],
        dim=-1,
    )
    return torch.cat([c2w.flatten(-2), focal, centre], dim=-1).float()


@pytest.fixture
def cameras() -> Callable[..., torch.Tensor]:
    return make_cameras


def randomise_(module: torch.nn.Module, seed: int) -> None:
    """Overwrite *every* parameter (zero-initialised ones included) with seeded random values of a sane scale."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in module.named_parameters():
            if p.ndim >= 2:
                p.copy_(torch.randn(p.shape, generator=gen) / math.sqrt(p[0].numel()))
            elif "norm" in name:
                p.copy_(1.0 + 0.1 * torch.randn(p.shape, generator=gen))
            else:
                p.copy_(0.3 * torch.randn(p.shape, generator=gen))


SMALL_DIFFUSERS_CONFIG = dict(
    in_channels=8,
    num_layers=4,
    hidden_size=64,
    num_attention_heads=2,
    linear_head_dim=32,
    softmax_every_n=4,
    caption_channels=16,
    mlp_ratio=2.0,
    chunk_plucker_post_attn_blocks=4,
)


@pytest.fixture(scope="module")
def diffusers_oracle():
    """diffusers 0.42.1 ``SanaWMTransformer3DModel``, 4 blocks (3 GDN + 1 softmax) x 64, random weights."""
    from diffusers import SanaWMTransformer3DModel

    torch.manual_seed(0)
    model = SanaWMTransformer3DModel(**SMALL_DIFFUSERS_CONFIG).eval()
    randomise_(model, seed=1)
    return model


@pytest.fixture(scope="session")
def builders() -> tuple[Callable[..., torch.Tensor], Callable[[torch.nn.Module, int], None]]:
    """``(make_cameras, randomise_)`` for module-scoped fixtures."""
    return make_cameras, randomise_
