"""Wan 3-D rotary position embedding (spec §5.3) with the official head split, and its camera slice (§5.5-4).

A head of ``D`` dims is split into time / height / width parts of ``D - 4*(D//6)``, ``2*(D//6)``, ``2*(D//6)``
dims (40 / 36 / 36 for D = 112); consecutive pairs ``(2j, 2j+1)`` form complex numbers rotated by
``exp(i * pos * omega_j)``, ``omega_j = theta^(-2j/d_axis)``. Positions are integer latent indices; the time axis
can start at an absolute ``frame_offset`` (streaming chunks keep their absolute frame positions, spec streaming §1.3).

The tables are *computed* per call in float64 and applied in fp32 (the precision of the fused kernels); they are
never module buffers, so ``model.to(torch.bfloat16)`` cannot drop their imaginary part and checkpoints never
carry them.
"""

from __future__ import annotations

import torch

from engine.errors import SanaWMInputError


def axis_dims(head_dim: int) -> tuple[int, int, int]:
    """``(t_dim, h_dim, w_dim)`` real dims of the official split."""
    hw = 2 * (head_dim // 6)
    return head_dim - 2 * hw, hw, hw


def _axis_angles(dim: int, positions: torch.Tensor, theta: float) -> torch.Tensor:
    """``(P, dim/2)`` float64 angles ``pos * theta^(-2j/dim)``."""
    omega = 1.0 / theta ** (torch.arange(0, dim, 2, dtype=torch.float64)[: dim // 2] / dim)
    return positions.to(torch.float64)[:, None] * omega[None, :]


class WanRotaryEmbedding:
    """Builds the per-token complex factors for a ``(T, H, W)`` token grid. Holds no tensors.

    Args:
        head_dim: dims per head (even; the split needs ``D - 4*(D//6)`` even, true for multiples of 8).
        theta: RoPE base (1e4).
        max_seq_len: the official table length (1024); positions beyond it are refused, as the reference would.
    """

    def __init__(self, head_dim: int, theta: float = 10000.0, max_seq_len: int = 1024) -> None:
        self.head_dim = head_dim
        self.theta = theta
        self.max_seq_len = max_seq_len
        self.dims = axis_dims(head_dim)

    def _factor_parts(
        self, num_frames: int, height: int, width: int, frame_offset: int, device: torch.device | None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        if frame_offset + num_frames > self.max_seq_len or max(height, width) > self.max_seq_len:
            raise SanaWMInputError(
                f"RoPE positions exceed the table length {self.max_seq_len}: "
                f"frames {frame_offset}..{frame_offset + num_frames - 1}, "
                f"grid {height}x{width}"
            )
        t_dim, h_dim, w_dim = self.dims
        ft = _axis_angles(t_dim, torch.arange(frame_offset, frame_offset + num_frames), self.theta)
        fh = _axis_angles(h_dim, torch.arange(height), self.theta)
        fw = _axis_angles(w_dim, torch.arange(width), self.theta)
        return ft.to(device), fh.to(device), fw.to(device)

    @staticmethod
    def _grid(ft: torch.Tensor, fh: torch.Tensor, fw: torch.Tensor) -> torch.Tensor:
        """``(T*H*W, pairs)`` complex64 factors, token order (frame, row, column)."""
        t, h, w = ft.shape[0], fh.shape[0], fw.shape[0]
        angles = torch.cat(
            [
                ft[:, None, None, :].expand(t, h, w, -1),
                fh[None, :, None, :].expand(t, h, w, -1),
                fw[None, None, :, :].expand(t, h, w, -1),
            ],
            dim=-1,
        ).reshape(t * h * w, -1)
        return torch.polar(torch.ones_like(angles), angles).to(torch.complex64)

    def table(
        self, num_frames: int, height: int, width: int, frame_offset: int = 0, device: torch.device | None = None
    ) -> torch.Tensor:
        """Main-branch factors ``(N, D/2)`` complex64 (time pairs, then height, then width)."""
        return self._grid(*self._factor_parts(num_frames, height, width, frame_offset, device))

    def camera_table(
        self, num_frames: int, height: int, width: int, frame_offset: int = 0, device: torch.device | None = None
    ) -> torch.Tensor:
        """Camera-branch factors ``(N, D/4)``: the Wan split of a ``D/2``-dim head taken from the *full* tables.

        For D = 112: the first 10 time factors (omega of the 40-dim table), the first 9 height and 9 width factors
        (omega of the 36-dim tables) — applied to dims ``D/2 .. D-1`` of the camera q, k and v.
        """
        sub_t, sub_h, sub_w = axis_dims(self.head_dim // 2)
        ft, fh, fw = self._factor_parts(num_frames, height, width, frame_offset, device)
        return self._grid(ft[:, : sub_t // 2], fh[:, : sub_h // 2], fw[:, : sub_w // 2])


def apply_rotary(x: torch.Tensor, factors: torch.Tensor, inverse: bool = False) -> torch.Tensor:
    """Rotate consecutive pairs of the last dim of ``x (..., N, 2P)`` by ``factors (N, P)`` (conjugate if inverse).

    Computed in fp32, returned in ``x``'s dtype.
    """
    pairs = torch.view_as_complex(x.float().reshape(*x.shape[:-1], -1, 2).contiguous())
    rotated = pairs * (factors.conj() if inverse else factors)
    return torch.view_as_real(rotated).flatten(-2).to(x.dtype)
