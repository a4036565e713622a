"""The chunked gated delta scans against the frame-recurrent reference, and the bidirectional GDN output against
an explicit O(T^2) sum of products written independently of both."""

from __future__ import annotations

import pytest
import torch

from engine.errors import ConfigError
from engine.ops.gated_delta import (
    IMPLEMENTATIONS,
    bidirectional_delta_numerator,
    bidirectional_gated_delta,
    chunk,
    gated_delta_scan,
    naive,
)


def _inputs(t_len: int, seed: int, b: int = 2, h: int = 2, s: int = 5, d: int = 4):
    gen = torch.Generator().manual_seed(seed)
    q = torch.rand(b, h, t_len, s, d, generator=gen)
    k = torch.rand(b, h, t_len, s, d, generator=gen) * 0.4  # keep I - K B K^T a contraction, as kappa does
    v = torch.randn(b, h, t_len, s, d, generator=gen)
    beta = torch.rand(b, h, t_len, s, generator=gen)
    g = 0.5 + 0.5 * torch.rand(b, h, t_len, generator=gen)
    return q, k, v, beta, g


@pytest.mark.parametrize("t_len", [1, 2, 5, 7, 16, 19])
@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("seeded", [False, True])
def test_chunk_scans_match_frame_recurrent_reference(t_len: int, reverse: bool, seeded: bool) -> None:
    q, k, v, beta, g = _inputs(t_len, seed=t_len)
    gen = torch.Generator().manual_seed(99)
    m0 = torch.randn(2, 2, 4, 4, generator=gen) if seeded else None
    z0 = torch.rand(2, 2, 4, generator=gen) if seeded else None
    ref_num, ref_m = naive.numerator_scan(q, k, v, beta, g, reverse=reverse, initial_state=m0)
    ref_den, ref_z = naive.normaliser_scan(q, k, beta, g, reverse=reverse, initial_state=z0)
    for chunk_size in (1, 3, 4, 16):  # 5, 7, 19 are not multiples of 3, 4 or 16
        num, m = chunk.numerator_scan(q, k, v, beta, g, reverse=reverse, initial_state=m0, chunk_size=chunk_size)
        den, z = chunk.normaliser_scan(q, k, beta, g, reverse=reverse, initial_state=z0, chunk_size=chunk_size)
        torch.testing.assert_close(num, ref_num, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(m, ref_m, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(den, ref_den, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(z, ref_z, atol=1e-5, rtol=1e-5)


def test_forward_scan_split_in_two_with_carried_state_equals_one_scan() -> None:
    """The streaming contract: a forward scan seeded with the final state of the previous frames continues it."""
    q, k, v, beta, g = _inputs(6, seed=3)
    for scan in (gated_delta_scan("naive"), gated_delta_scan("chunk")):
        full, full_state = scan.numerator(q, k, v, beta, g)
        first, state = scan.numerator(q[:, :, :4], k[:, :, :4], v[:, :, :4], beta[:, :, :4], g[:, :, :4])
        second, last = scan.numerator(
            q[:, :, 4:], k[:, :, 4:], v[:, :, 4:], beta[:, :, 4:], g[:, :, 4:], initial_state=state
        )
        torch.testing.assert_close(torch.cat([first, second], dim=2), full, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(last, full_state, atol=1e-5, rtol=1e-5)


def _explicit_bidirectional(q, k, v, q_rot, k_rot, beta, g, eps):
    """o_t = (sum_j U_j P(j, t) + ...) in column form, for one (batch, head), by explicit products over frames.

    Forward:  M_t = sum_{j<=t} V_j B_j Kr_j^T  prod_{i=j+1..t} g_i (I - Kr_i B_i Kr_i^T)      (left to right)
    Reverse:  R_t = sum_{j>t}  V_j B_j Kr_j^T  prod_{i=j-1..t+1} g_i (I - Kr_i B_i Kr_i^T)      (i descending)
    Z:        z_t = sum_{j<=t} [prod_{i=t..j+1} g_i (I - K_i B_i K_i^T)] K_j beta_j,  zeta_t likewise for j > t.
    """
    t_len, s, d = q.shape
    eye = torch.eye(d, dtype=torch.float64)
    col = lambda x: x.T.double()  # (S, D) rows -> (D, S) columns  # noqa: E731
    a_rot = [g[i] * (eye - col(k_rot[i]) @ torch.diag(beta[i].double()) @ col(k_rot[i]).T) for i in range(t_len)]
    a_z = [g[i] * (eye - col(k[i]) @ torch.diag(beta[i].double()) @ col(k[i]).T) for i in range(t_len)]
    u = [col(v[j]) @ torch.diag(beta[j].double()) @ col(k_rot[j]).T for j in range(t_len)]
    w = [col(k[j]) @ beta[j].double() for j in range(t_len)]
    out = []
    for t in range(t_len):
        m = torch.zeros(d, d, dtype=torch.float64)
        z = torch.zeros(d, dtype=torch.float64)
        for j in range(t_len):
            if j <= t:
                prod_m, prod_z = u[j], w[j]
                for i in range(j + 1, t + 1):
                    prod_m = prod_m @ a_rot[i]
                for i in range(j + 1, t + 1):
                    prod_z = a_z[i] @ prod_z
            else:
                prod_m, prod_z = u[j], w[j]
                for i in range(j - 1, t, -1):
                    prod_m = prod_m @ a_rot[i]
                for i in range(j - 1, t, -1):
                    prod_z = a_z[i] @ prod_z
            m = m + prod_m
            z = z + prod_z
        num = m @ col(q_rot[t])  # (D, S)
        den = z @ col(q[t])  # (S,)
        out.append((num / (den + eps)).T)
    return torch.stack(out)


@pytest.mark.parametrize("t_len", [1, 2, 4])
@pytest.mark.parametrize("impl", ["naive", "chunk"])
def test_bidirectional_output_matches_explicit_sum_of_products(t_len: int, impl: str) -> None:
    q, k, v, beta, g = _inputs(t_len, seed=10 + t_len, b=1, h=2, s=3, d=4)
    gen = torch.Generator().manual_seed(5)
    q_rot = torch.randn(q.shape, generator=gen)
    k_rot = torch.randn(k.shape, generator=gen) * 0.4
    out, _ = bidirectional_gated_delta(gated_delta_scan(impl), q, k, v, q_rot, k_rot, beta, g, eps=1e-8)
    for head in range(2):
        ref = _explicit_bidirectional(
            q[0, head], k[0, head], v[0, head], q_rot[0, head], k_rot[0, head], beta[0, head], g[0, head], 1e-8
        )
        torch.testing.assert_close(out[0, head].double(), ref, atol=1e-4, rtol=1e-4)


def test_camera_numerator_is_forward_plus_exclusive_reverse_of_the_same_state() -> None:
    """Numerator-only: every frame sees every other frame; with g = 1 and beta = 0 except on one frame, the output
    of every frame is that frame's V B K^T applied to its query."""
    q, k, v, beta, g = _inputs(3, seed=4, b=1, h=1)
    beta = torch.zeros_like(beta)
    beta[:, :, 1] = 0.7
    g = torch.ones_like(g)
    out, _ = bidirectional_delta_numerator(gated_delta_scan("chunk"), q, k, v, beta, g)
    write = v[0, 0, 1].T @ (0.7 * k[0, 0, 1])  # (D, D) = V B K^T of frame 1
    for t in range(3):  # frames 0 and 2 see it through the reverse / forward pass, frame 1 through the forward pass
        torch.testing.assert_close(out[0, 0, t], q[0, 0, t] @ write.T, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("impl", ["naive", "chunk"])
def test_chunk_by_chunk_with_carried_states_equals_one_call_with_chunk_local_reverse(impl: str) -> None:
    """The streaming contract of the bidirectional scan: calls on consecutive chunks, each seeded with the previous
    call's final states, give the same outputs and final states as one call over all frames whose reverse pass is
    cut at the same chunk boundaries (the chunk-causal form)."""
    scan = gated_delta_scan(impl)
    q, k, v, beta, g = _inputs(7, seed=8)
    gen = torch.Generator().manual_seed(6)
    q_rot, k_rot = torch.randn(q.shape, generator=gen), torch.randn(k.shape, generator=gen) * 0.4
    bounds = [(0, 4), (4, 6), (6, 7)]
    whole, whole_state = bidirectional_gated_delta(
        scan, q, k, v, q_rot, k_rot, beta, g, eps=1e-8, reverse_segments=bounds
    )
    whole_cam, whole_cam_state = bidirectional_delta_numerator(scan, q, k, v, beta, g, reverse_segments=bounds)
    state, cam_state, pieces, cam_pieces = None, None, [], []
    for a, b in bounds:
        part = [x[:, :, a:b] for x in (q, k, v, q_rot, k_rot, beta, g)]
        out, state = bidirectional_gated_delta(scan, *part, eps=1e-8, initial_state=state)
        cam, cam_state = bidirectional_delta_numerator(scan, *part[:3], *part[5:], initial_state=cam_state)
        pieces.append(out)
        cam_pieces.append(cam)
    torch.testing.assert_close(torch.cat(pieces, dim=2), whole, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(torch.cat(cam_pieces, dim=2), whole_cam, atol=1e-5, rtol=1e-5)
    for ours, ref in zip((*state, cam_state), (*whole_state, whole_cam_state)):
        torch.testing.assert_close(ours, ref, atol=1e-5, rtol=1e-5)


def test_every_implementation_name_resolves() -> None:
    """"auto" resolves per call (CPU: "chunk"; the dispatch is tested in test_gated_delta_fused_frame.py)."""
    assert [gated_delta_scan(name).name for name in IMPLEMENTATIONS] == list(IMPLEMENTATIONS)


def test_unknown_implementation_is_a_config_error_naming_the_choices() -> None:
    with pytest.raises(ConfigError, match="naive, chunk, triton, auto"):
        gated_delta_scan("triton-please")
