"""The four camera-branch variants (spec model §11) against explicit computations on hand-built tiny inputs.

One head of 16 dims, two tokens in one frame, hand-made ray matrices whose translation inflates the keys, the
main branch switched off (``qkv = 0``), identity ``proj`` / ``out_proj_cam`` and a constant output gate, so the
attention output is the camera branch alone and can be written out token by token.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from engine.camera.conditioning import UCPETransforms
from engine.model import SanaWMConfig
from engine.model.gdn_attention import GDNAttention
from engine.model.softmax_attention import SoftmaxAttention
from engine.model.ucpe import UCPEEncoding

D = 16  # one head; padded to 128 by the FlashAttention rule -> scale 1/sqrt(128) in the padded variants
GATE_BIAS = 1.5
BETA_BIAS = 0.4

# The variant table written out independently of the config's properties:
#                   (GDN downscale, softmax downscale, softmax camera scale)
TABLE = {
    "first-release": (False, True, 128**-0.5),
    "pr401": (False, False, 128**-0.5),
    "head": (False, False, D**-0.5),
    "diffusers-0.42.1": (True, True, 128**-0.5),
}


def _config(variant: str) -> SanaWMConfig:
    return SanaWMConfig(
        depth=1, hidden_size=D, num_heads=1, head_dim=D, in_channels=4, out_channels=4,
        caption_channels=None, mlp_ratio=1.0, sdpa_bf16=False, camera_variant=variant,
    )  # fmt: skip


def _transforms(num_tokens: int, gen: torch.Generator) -> UCPEEncoding:
    """Ray matrices with rotation R_n and a large translation t_n: P = [[R^T, -R^T t], [0, 1]]; identity RoPE."""
    rot, _ = torch.linalg.qr(torch.randn(num_tokens, 3, 3, generator=gen))
    trans = 3.0 * torch.randn(num_tokens, 3, generator=gen)
    p = torch.eye(4).repeat(num_tokens, 1, 1)
    p[:, :3, :3] = rot.transpose(-1, -2)
    p[:, :3, 3] = -(rot.transpose(-1, -2) @ trans[..., None])[..., 0]
    p_inv = torch.eye(4).repeat(num_tokens, 1, 1)
    p_inv[:, :3, :3] = rot
    p_inv[:, :3, 3] = trans
    ones = torch.ones(num_tokens, D // 4, dtype=torch.complex64)
    rays = UCPETransforms(P=p[None], P_T=p.transpose(-1, -2)[None], P_inv=p_inv[None])
    return UCPEEncoding(rays=rays, rope=ones)


def _prepare(module, gen: torch.Generator) -> None:
    """Main branch off, identity output path, constant gates, random camera projections."""
    with torch.no_grad():
        for p in module.parameters():
            p.zero_()
        for name in ("q_norm", "k_norm", "q_norm_cam", "k_norm_cam"):
            getattr(module, name).weight.fill_(1.0)
        module.proj.weight.copy_(torch.eye(D))
        module.out_proj_cam.weight.copy_(torch.eye(D))
        module.output_gate.bias.fill_(GATE_BIAS)
        module.beta_proj.bias.fill_(BETA_BIAS)
        for name in ("q_proj_cam", "k_proj_cam", "v_proj_cam"):
            getattr(module, name).weight.copy_(torch.randn(D, D, generator=gen) / 4)
        if hasattr(module, "conv_k_cam"):
            module.conv_k_cam.weight[:, 0, -1] = 1.0  # centre tap only: identity for a one-frame clip
    module.requires_grad_(False)


def _rms_norm(x: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    return x / torch.sqrt(x.pow(2).mean(-1, keepdim=True) + eps)


def _apply_groups(matrix: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """matrix (4x4) times each consecutive 4-group of the first half of x; second half unchanged (identity RoPE)."""
    groups = [matrix @ x[4 * i : 4 * i + 4] for i in range(D // 8)]
    return torch.cat(groups + [x[D // 2 :]])


def _downscale(reference: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    rms = lambda y: math.sqrt(float(y.pow(2).mean()) + 1e-6)  # noqa: E731
    return x * min(1.0, rms(reference) / max(rms(x), 1e-6))


def _encoded(module, u, tr, kernel: bool, downscale: bool):
    """Per-token camera q', k', v' (lists) and the pre-UCPE keys, written out directly."""
    q = _rms_norm(u @ module.q_proj_cam.weight.T)
    k = _rms_norm(u @ module.k_proj_cam.weight.T)
    v = u @ module.v_proj_cam.weight.T
    if kernel:  # GDN: ReLU kernel and kappa = D^-1/2 S^-1/2
        q, k = F.relu(q), F.relu(k) * (D**-0.5 * u.shape[0] ** -0.5)
    qe = [_apply_groups(tr.rays.P_T[0, n], q[n]) for n in range(u.shape[0])]
    ke = [_apply_groups(tr.rays.P_inv[0, n], k[n]) for n in range(u.shape[0])]
    ve = [_apply_groups(tr.rays.P_inv[0, n], v[n]) for n in range(u.shape[0])]
    if downscale:
        qe = [_downscale(q[n], qe[n]) for n in range(len(qe))]
        ke = [_downscale(k[n], ke[n]) for n in range(len(ke))]
        ve = [_downscale(v[n], ve[n]) for n in range(len(ve))]
    return qe, ke, ve, k


def _finish(module, tr, outputs) -> torch.Tensor:
    """Decode with P, then proj(out_proj_cam(o) * SiLU(gate)) = o * SiLU(GATE_BIAS)."""
    decoded = torch.stack([_apply_groups(tr.rays.P[0, n], o) for n, o in enumerate(outputs)])
    return decoded * F.silu(torch.tensor(GATE_BIAS))


@pytest.mark.parametrize("variant", list(TABLE))
def test_softmax_camera_branch_uses_the_variants_downscale_and_scale(variant: str) -> None:
    gen = torch.Generator().manual_seed(0)
    module = SoftmaxAttention(_config(variant))
    _prepare(module, gen)
    tr = _transforms(2, gen)
    u = torch.randn(2, D, generator=gen)
    _, downscale, scale = TABLE[variant]
    qe, ke, ve, _ = _encoded(module, u, tr, kernel=False, downscale=downscale)
    outputs = []
    for n in range(2):
        weights = torch.softmax(torch.stack([qe[n] @ ke[m] * scale for m in range(2)]), dim=0)
        outputs.append(weights[0] * ve[0] + weights[1] * ve[1])
    expected = _finish(module, tr, outputs)
    with torch.no_grad():
        got = module(u[None], 1, torch.ones(2, D // 2, dtype=torch.complex64), tr)[0]
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("variant", list(TABLE))
def test_gdn_camera_branch_uses_the_variants_downscale_and_beta_discount(variant: str) -> None:
    """One frame: the forward state is V' B K'^T and the exclusive reverse is empty,
    so o_n = sum_s beta_cam v'_s (k'_s . q'_n)."""
    gen = torch.Generator().manual_seed(1)
    module = GDNAttention(_config(variant))
    _prepare(module, gen)
    tr = _transforms(2, gen)
    u = torch.randn(2, D, generator=gen)
    downscale = TABLE[variant][0]
    qe, ke, ve, k_raw = _encoded(module, u, tr, kernel=True, downscale=downscale)
    inflation = sum(
        max(float(ke[s].pow(2).sum()), 1e-12) / max(float(k_raw[s].pow(2).sum()), 1e-12) for s in range(2)
    ) / 2
    beta = torch.sigmoid(torch.tensor(BETA_BIAS)) / max(1.0, inflation)
    outputs = [sum(beta * ve[s] * (ke[s] @ qe[n]) for s in range(2)) for n in range(2)]
    expected = _finish(module, tr, outputs)
    with torch.no_grad():
        got = module(u[None], 1, torch.ones(2, D // 2, dtype=torch.complex64), tr)[0]
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-4)
    if not downscale:
        assert inflation > 1.0  # the hand-built translation really exercises the discount


def test_config_properties_follow_the_variant_table() -> None:
    for variant, (gdn_down, softmax_down, scale) in TABLE.items():
        cfg = _config(variant)
        assert (cfg.gdn_camera_downscale, cfg.softmax_camera_downscale) == (gdn_down, softmax_down)
        assert cfg.softmax_camera_scale == pytest.approx(scale)
    official = SanaWMConfig.from_preset("sana-wm-1600m-720p")
    assert official.camera_variant == "head" and official.softmax_camera_scale == pytest.approx(112**-0.5)
    assert official.replace(camera_variant="pr401").softmax_camera_scale == pytest.approx(128**-0.5)
