"""Camera conditioning tensors for the Stage-1 DiT (spec streaming §7.7-7.10).

From pixel-frame poses and intrinsics this builds, per latent frame ``j``:

* ``camera_conditions`` ``(T, 20)``: ``[relative c2w of pixel frame 8j, row-major (16), fx, fy, cx, cy]``
  with intrinsics scaled to the latent grid;
* ``chunk_plucker`` ``(48, T, h, w)``: Plücker rays ``(d, o x d)`` of the 8 pixel frames
  ``max(0, 8j - 7) .. +7`` (short windows padded with the last pose), channel = ``frame * 6 + component``;
* the UCPE per-ray transforms (``P``, ``P^T``, ``P^-1``), which the model also derives from
  ``camera_conditions`` itself (:func:`ucpe_transforms`).

Poses are made relative to frame 0 first (never re-centred later, also while streaming). Functions take a
latent range so the streaming session can build a chunk's tensors as soon as its poses exist.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from engine.camera.frames import TEMPORAL_STRIDE, latent_frame_count
from engine.camera.intrinsics import fit_to_frames, scale_to_grid
from engine.camera.poses import relative_to_first, validate_c2w
from engine.camera.rays import plucker_rays, se3_inverse_torch, ucpe_ray_matrices
from engine.errors import TrajectoryError

PLUCKER_CHANNELS_PER_FRAME = 6


@dataclass
class CameraConditioning:
    """The camera inputs of the model for latent frames ``[start, stop)``.

    ``camera_conditions`` is ``(T, 20)`` and ``chunk_plucker`` ``(6 * stride, T, h, w)``, float64 unless
    converted with :meth:`to`. Add the batch dimension with ``[None]`` when calling the model.
    """

    camera_conditions: torch.Tensor
    chunk_plucker: torch.Tensor
    start: int
    stop: int

    def to(self, dtype: torch.dtype | None = None, device: torch.device | str | None = None) -> "CameraConditioning":
        return CameraConditioning(
            self.camera_conditions.to(dtype=dtype, device=device),
            self.chunk_plucker.to(dtype=dtype, device=device),
            self.start,
            self.stop,
        )


class CameraConditioner:
    """Builds conditioning for one trajectory on one latent grid.

    Args:
        c2w: ``(F, 4, 4)`` camera-to-world poses of the pixel frames (any origin; made relative to frame 0).
        intrinsics: any official intrinsics form in pixels of ``image_size`` (fitted to ``F`` frames).
        image_size: ``(width, height)`` of the frames the intrinsics describe (the model's input size).
        latent_grid: ``(width, height)`` of the latent grid (e.g. ``(40, 22)`` for 1280x704 with /32).
        temporal_stride: pixel frames per latent frame (8 for LTX-2).
    """

    def __init__(
        self,
        c2w: np.ndarray,
        intrinsics: np.ndarray,
        image_size: tuple[int, int],
        latent_grid: tuple[int, int],
        temporal_stride: int = TEMPORAL_STRIDE,
    ) -> None:
        poses = validate_c2w(c2w, name="camera trajectory")
        self.relative_c2w = relative_to_first(poses)  # (F, 4, 4)
        pixel_intr = fit_to_frames(intrinsics, poses.shape[0])
        self.latent_intrinsics = scale_to_grid(pixel_intr, image_size, latent_grid)  # (F, 4)
        self.latent_grid = (int(latent_grid[0]), int(latent_grid[1]))
        self.stride = int(temporal_stride)

    @property
    def num_frames(self) -> int:
        return self.relative_c2w.shape[0]

    @property
    def num_latent_frames(self) -> int:
        return latent_frame_count(self.num_frames, self.stride)

    def camera_conditions(self, start: int = 0, stop: int | None = None) -> torch.Tensor:
        """``(stop - start, 20)`` rows for latent frames ``[start, stop)``: pixel frame ``stride * j``."""
        start, stop = self._check_range(start, stop)
        idx = np.arange(start, stop) * self.stride
        rows = np.concatenate([self.relative_c2w[idx].reshape(len(idx), 16), self.latent_intrinsics[idx]], axis=1)
        return torch.from_numpy(rows)

    def chunk_plucker(self, start: int = 0, stop: int | None = None) -> torch.Tensor:
        """``(6 * stride, stop - start, h, w)`` packed Plücker rays for latent frames ``[start, stop)``."""
        start, stop = self._check_range(start, stop)
        w, h = self.latent_grid
        windows = [self._window(j) for j in range(start, stop)]
        idx = np.concatenate(windows)
        rays = plucker_rays(
            torch.from_numpy(self.latent_intrinsics[idx]), torch.from_numpy(self.relative_c2w[idx]), h, w
        )  # (len * stride, h, w, 6)
        rays = rays.reshape(stop - start, self.stride, h, w, PLUCKER_CHANNELS_PER_FRAME)
        return rays.permute(1, 4, 0, 2, 3).reshape(self.stride * PLUCKER_CHANNELS_PER_FRAME, stop - start, h, w)

    def conditioning(self, start: int = 0, stop: int | None = None) -> CameraConditioning:
        """Both tensors for latent frames ``[start, stop)``."""
        start, stop = self._check_range(start, stop)
        return CameraConditioning(self.camera_conditions(start, stop), self.chunk_plucker(start, stop), start, stop)

    def _window(self, j: int) -> np.ndarray:
        """Pixel-frame indices of latent ``j``'s Plücker window, padded with the last available frame."""
        first = max(0, self.stride * j - (self.stride - 1))
        idx = np.arange(first, first + self.stride)
        return np.minimum(idx, self.num_frames - 1) if idx[-1] >= self.num_frames else idx

    def _check_range(self, start: int, stop: int | None) -> tuple[int, int]:
        total = self.num_latent_frames
        stop = total if stop is None else stop
        if not 0 <= start < stop <= total:
            raise TrajectoryError(
                f"latent frame range [{start}, {stop}): expected 0 <= start < stop <= {total} "
                f"(the trajectory has {self.num_frames} pixel frames)"
            )
        return start, stop


@dataclass(frozen=True)
class UCPETransforms:
    """Per-token UCPE matrices ``(B, N, 4, 4)``: ``P`` (world -> ray, applied to outputs), ``P^T`` (queries)
    and ``P^-1`` (keys and values); tokens in (frame, row, column) order.

    The only class of this name: the model's camera branches take it inside
    :class:`engine.model.ucpe.UCPEEncoding`, together with the camera RoPE factors of the call."""

    P: torch.Tensor
    P_T: torch.Tensor
    P_inv: torch.Tensor


def ucpe_transforms(camera_conditions: torch.Tensor, latent_grid: tuple[int, int]) -> UCPETransforms:
    """UCPE transforms of ``(B, T, 20)`` camera conditions on a ``(width, height)`` latent grid."""
    if camera_conditions.ndim != 3 or camera_conditions.shape[-1] != 20:
        raise TrajectoryError(f"camera_conditions: expected shape (B, T, 20), found {tuple(camera_conditions.shape)}")
    w, h = latent_grid
    mats = ucpe_ray_matrices(camera_conditions, h, w)
    p = mats.reshape(camera_conditions.shape[0], -1, 4, 4)
    return UCPETransforms(P=p, P_T=p.transpose(-1, -2), P_inv=se3_inverse_torch(p))
