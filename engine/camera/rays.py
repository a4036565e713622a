"""Per-pixel camera rays for the model's two camera branches (torch, batched).

* :func:`plucker_rays` — Plücker coordinates ``(d, o x d)`` per pixel, the input of the Plücker branch
  (spec streaming §7.9).
* :func:`ucpe_ray_matrices` — the UCPE world->ray-local 4x4 transform per token, computed from the
  ``(B, T, 20)`` camera conditions inside the model (spec streaming §7.10, model §5.5).

Both run in the dtype of their inputs; the pixel grid is the integer grid ``u = 0..W-1``, ``v = 0..H-1``
(no half-pixel offset), as in the official code.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def _pixel_grid(height: int, width: int, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Integer pixel coordinates ``(v, u)``, each ``(H, W)``, in ``like``'s dtype and device."""
    v = torch.linspace(0, height - 1, height, dtype=like.dtype, device=like.device)
    u = torch.linspace(0, width - 1, width, dtype=like.dtype, device=like.device)
    return torch.meshgrid(v, u, indexing="ij")


def plucker_rays(intrinsics: torch.Tensor, c2w: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Plücker rays of every pixel.

    Args:
        intrinsics: ``(T, 4)`` ``[fx, fy, cx, cy]`` in pixels of the ``height x width`` grid.
        c2w: ``(T, 4, 4)`` camera-to-world poses, OpenCV axes.

    Returns:
        ``(T, H, W, 6)``: unit world direction ``d`` then moment ``m = o x d`` (``o`` = camera centre).
    """
    vv, uu = _pixel_grid(height, width, intrinsics)
    fx, fy, cx, cy = (intrinsics[:, i].view(-1, 1, 1) for i in range(4))
    d_cam = torch.stack([(uu - cx) / fx, (vv - cy) / fy, torch.ones_like(uu - cx)], dim=-1)  # (T, H, W, 3)
    d_world = torch.einsum("tij,thwj->thwi", c2w[:, :3, :3], d_cam)
    d_world = d_world / torch.linalg.vector_norm(d_world, dim=-1, keepdim=True)
    origin = c2w[:, None, None, :3, 3].expand_as(d_world)
    return torch.cat([d_world, torch.cross(origin, d_world, dim=-1)], dim=-1)


def _fov_round_trip_focal(focal: torch.Tensor, size: int) -> torch.Tensor:
    """The official focal -> FOV -> focal round trip of the unified camera model with ``xi = 0``.

    Mathematically the identity; kept because the reference computes it (in the conditions' dtype), so
    the rays match it to rounding.
    """
    a = 2.0 * focal / size
    fov = torch.rad2deg(2.0 * (torch.asin(torch.zeros_like(a)) + torch.atan(1.0 / a)))
    theta = torch.deg2rad(0.5 * fov)
    return (size * 0.5) * torch.cos(theta) / torch.sin(theta).clamp_min(torch.finfo(focal.dtype).eps)


def ucpe_ray_matrices(camera_conditions: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """UCPE world -> ray-local transforms ``P`` per pixel.

    Args:
        camera_conditions: ``(B, T, 20)`` rows ``[c2w row-major (16), fx, fy, cx, cy]`` at grid resolution.

    Returns:
        ``(B, T, H, W, 4, 4)``. Each ray gets a local frame whose +Z is the ray direction and whose +X is
        ``normalize(camera_y x z)``; ``P = [[R^T, -R^T t], [0, 1]]``. Rays with NaN directions get the identity.
    """
    b, t, _ = camera_conditions.shape
    c2w = camera_conditions[..., :16].reshape(b, t, 4, 4)
    fx = _fov_round_trip_focal(camera_conditions[..., 16], width)
    fy = _fov_round_trip_focal(camera_conditions[..., 17], height)
    cx, cy = camera_conditions[..., 18], camera_conditions[..., 19]
    vv, uu = _pixel_grid(height, width, camera_conditions)
    x = (uu - cx[..., None, None]) / fx[..., None, None]  # (B, T, H, W)
    y = (vv - cy[..., None, None]) / fy[..., None, None]
    r2 = x * x + y * y
    gamma = torch.sqrt(1 + r2) / (1 + r2)
    d_cam = torch.stack([gamma * x, gamma * y, gamma], dim=-1)  # (B, T, H, W, 3), unit length
    rot = c2w[..., :3, :3]
    d_world = torch.einsum("btij,bthwj->bthwi", rot, d_cam)
    cam_y = rot[..., :, 1][:, :, None, None, :].expand_as(d_world)
    z_ray = F.normalize(d_world, dim=-1, eps=1e-6)
    x_ray = F.normalize(torch.cross(cam_y, z_ray, dim=-1), dim=-1, eps=1e-6)
    y_ray = F.normalize(torch.cross(z_ray, x_ray, dim=-1), dim=-1, eps=1e-6)
    r_w2l = torch.stack([x_ray, y_ray, z_ray], dim=-1).transpose(-1, -2)
    t_world = c2w[..., :3, 3][:, :, None, None, :].expand_as(d_world)
    mats = torch.zeros(b, t, height, width, 4, 4, dtype=camera_conditions.dtype, device=camera_conditions.device)
    mats[..., :3, :3] = r_w2l
    mats[..., :3, 3] = -torch.einsum("bthwij,bthwj->bthwi", r_w2l, t_world)
    mats[..., 3, 3] = 1.0
    nan_rays = torch.isnan(d_world).any(-1)
    mats[nan_rays] = torch.eye(4, dtype=mats.dtype, device=mats.device)
    return mats


def se3_inverse_torch(transforms: torch.Tensor) -> torch.Tensor:
    """Closed-form inverse of rigid transforms ``(..., 4, 4)``."""
    rt = transforms[..., :3, :3].transpose(-1, -2)
    out = torch.zeros_like(transforms)
    out[..., :3, :3] = rt
    out[..., :3, 3] = -torch.einsum("...ij,...j->...i", rt, transforms[..., :3, 3])
    out[..., 3, 3] = 1.0
    return out
