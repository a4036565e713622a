"""Input embedders of the DiT (spec model §3, §5.1, §5.2, §5.7).

* :class:`PatchEmbed` — ``proj`` Conv3d with kernel = stride = (1, 1, 1): a per-token linear map. Used for the
  latents (``x_embedder``), the 48-channel Plücker rays (``plucker_embedder``) and the 3-channel UCPE "absmap"
  (``raymap_embedder``: its weights exist in the checkpoint but the released model never applies it).
* :class:`TimestepEmbedder` — 256-d sinusoid of the *truncated* timestep, ``mlp.0`` -> SiLU -> ``mlp.2``.
* :class:`CaptionEmbedder` — ``y_proj`` (fc1 -> GELU(tanh) -> fc2) of the text-encoder states; owns the
  ``y_embedding`` buffer (the training-time "null caption", unused at inference) so official checkpoints round-trip.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F


class PatchEmbed(nn.Module):
    def __init__(self, in_channels: int, hidden_size: int) -> None:
        super().__init__()
        self.proj = nn.Conv3d(in_channels, hidden_size, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, C_in, T, H, W) -> (B, T*H*W, C)`` in frame-major token order."""
        b = x.shape[0]
        tokens = x.permute(0, 2, 3, 4, 1).reshape(b, -1, x.shape[1])  # (B, N, C_in)
        return F.linear(tokens, self.proj.weight.flatten(1), self.proj.bias)


def timestep_sinusoid(t: torch.Tensor, dim: int = 256, max_period: float = 10000.0) -> torch.Tensor:
    """``[cos(t f), sin(t f)]`` with ``f_i = exp(-ln(max_period) i / (dim/2))``, fp32, shape ``(*t.shape, dim)``."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float32, device=t.device) / half)
    args = t.float()[..., None] * freqs
    return torch.cat([torch.cos(args), torch.sin(args)], dim=-1)


def truncate_timesteps(t: torch.Tensor) -> torch.Tensor:
    """The official ``t -> float(long(t))`` (round toward zero; spec §3.1): the model sees integer timesteps."""
    return t.long().to(torch.float32)


class TimestepEmbedder(nn.Module):
    def __init__(self, hidden_size: int, frequency_embedding_size: int = 256) -> None:
        super().__init__()
        self.frequency_embedding_size = frequency_embedding_size
        self.mlp = nn.Sequential(
            nn.Linear(frequency_embedding_size, hidden_size), nn.SiLU(), nn.Linear(hidden_size, hidden_size)
        )

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        """``t (...)`` already-truncated timesteps -> ``(..., C)`` in the module's dtype."""
        features = timestep_sinusoid(t, self.frequency_embedding_size)
        return self.mlp(features.to(self.mlp[0].weight.dtype))


class _Mlp(nn.Module):
    def __init__(self, in_features: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(in_features, hidden)
        self.act = nn.GELU(approximate="tanh")
        self.fc2 = nn.Linear(hidden, hidden)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


class CaptionEmbedder(nn.Module):
    def __init__(self, caption_channels: int, hidden_size: int, caption_length: int) -> None:
        super().__init__()
        self.y_proj = _Mlp(caption_channels, hidden_size)
        self.register_buffer("y_embedding", torch.randn(caption_length, caption_channels) / caption_channels**0.5)

    def forward(self, caption: torch.Tensor) -> torch.Tensor:
        """``(B, L, C_y) -> (B, L, C)``."""
        return self.y_proj(caption)
