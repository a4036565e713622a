"""Conditioning tensors against diffusers 0.42.1 (cam_utils.prepare_camera and the model's UCPE preparation)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from engine.camera.actions import action_to_c2w
from engine.camera.conditioning import CameraConditioner, ucpe_transforms
from engine.errors import TrajectoryError

import diffusers.pipelines.sana_wm.cam_utils as cam_utils  # noqa: E402
import diffusers.models.transformers.transformer_sana_wm as dit  # noqa: E402


def _trajectory(frames=57, seed=0):
    rng = np.random.default_rng(seed)
    c2w = action_to_c2w("w-10,jw-10,ik-6,il-20,sd-20")[:frames].copy()
    c2w[:, :3, 3] += rng.normal(size=3)  # a non-identity first pose: conditioning must make it relative
    intr = np.tile([1000.0, 990.0, 640.0, 352.0], (frames, 1))
    intr[:, 0] += np.linspace(0, 80, frames)
    return c2w, intr


@pytest.mark.parametrize("frames", [57, 9, 1])
def test_camera_conditions_and_plucker_match_diffusers(frames):
    c2w, intr = _trajectory(frames)
    ours = CameraConditioner(c2w, intr, (1280, 704), (40, 22))
    ref = cam_utils.prepare_camera(
        c2w.astype(np.float32), intr.astype(np.float32), target_size=(704, 1280), vae_stride=(8, 32, 32)
    )
    cond = ours.conditioning()
    # diffusers computes in float32; ours in float64
    assert (cond.camera_conditions - ref["raymap"].double()).abs().max() < 1e-5
    assert (cond.chunk_plucker - ref["chunk_plucker"].double()).abs().max() < 1e-5
    assert cond.chunk_plucker.shape == (48, (frames - 1) // 8 + 1, 22, 40)


def test_first_row_is_identity_and_intrinsics_at_latent_scale():
    c2w, intr = _trajectory()
    rows = CameraConditioner(c2w, intr, (1280, 704), (40, 22)).camera_conditions()
    assert torch.equal(rows[0, :16], torch.eye(4, dtype=torch.float64).flatten())
    assert torch.allclose(rows[0, 16:], torch.tensor([1000 / 32, 990 / 32, 20.0, 11.0], dtype=torch.float64))


def test_latent_ranges_equal_slices_of_the_whole():
    c2w, intr = _trajectory()
    cond = CameraConditioner(c2w, intr, (1280, 704), (40, 22))
    whole = cond.conditioning()
    part = cond.conditioning(3, 6)
    assert torch.equal(part.camera_conditions, whole.camera_conditions[3:6])
    assert torch.equal(part.chunk_plucker, whole.chunk_plucker[:, 3:6])
    with pytest.raises(TrajectoryError, match=r"\[6, 9\)"):
        cond.conditioning(6, 9)


def test_plucker_hand_value_for_the_centre_ray():
    """Identity camera: the principal-point ray is +Z and its moment is zero."""
    c2w = np.eye(4)[None].repeat(9, 0)
    cond = CameraConditioner(c2w, [20.0, 20.0, 20.0, 11.0], (40, 22), (40, 22)).chunk_plucker()
    centre = cond[:6, 1, 11, 20]  # first frame of latent 1's window, row cy, column cx
    assert torch.allclose(centre, torch.tensor([0, 0, 1.0, 0, 0, 0], dtype=torch.float64))


def test_ucpe_transforms_match_diffusers():
    c2w, intr = _trajectory()
    rows = CameraConditioner(c2w, intr, (1280, 704), (40, 22)).camera_conditions()[None].float()
    ours = ucpe_transforms(rows, (40, 22))
    P, P_T, P_inv, _ = dit._prepare_ucpe_ray_transforms(112, rows, (rows.shape[1], 22, 40), (1, 1, 1))
    assert (ours.P - P).abs().max() < 1e-5
    assert (ours.P_T - P_T).abs().max() < 1e-5
    assert (ours.P_inv - P_inv).abs().max() < 1e-5
    eye = torch.eye(4).expand_as(ours.P)
    assert (ours.P @ ours.P_inv - eye).abs().max() < 1e-5


def test_ucpe_rejects_wrong_shape():
    with pytest.raises(TrajectoryError, match=r"\(B, T, 20\)"):
        ucpe_transforms(torch.zeros(3, 20), (4, 4))
