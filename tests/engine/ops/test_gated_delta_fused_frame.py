"""The fused frame-wise Triton scan (engine.ops.gated_delta.fused_frame) against the frame-recurrent reference.

On a machine with CUDA the kernels run compiled on the GPU; elsewhere they run in Triton's interpreter on CPU
tensors. Triton reads ``TRITON_INTERPRET`` when it is first imported (its own ``tl.zeros``, ``tl.sum`` are jit
functions), when our kernels are decorated and while they run, so without CUDA this module sets it before importing
triton and leaves it set for the process: there no triton kernel can run any other way. triton comes with the
``[test]`` extra, so a missing triton fails this module at import instead of skipping it.

Two precisions are held against ``naive``: ``fp32`` (full-fp32 matmuls: the algorithm, to float rounding) and
``bf16`` (the fast path: bf16 matmul operands, fp32 state; to bf16 rounding, relative to the output's scale).
The reference always runs in fp32 on the same (already rounded) inputs, so input rounding is not counted.
"""

from __future__ import annotations

import os
import subprocess
import sys
from functools import partial
from types import SimpleNamespace

import pytest
import torch

DEVICE = "cuda" if torch.cuda.is_available() else "cpu"
if DEVICE == "cpu":
    os.environ["TRITON_INTERPRET"] = "1"

import triton  # noqa: E402  (the [test] extra installs it: fail here, never skip)

from engine.errors import ConfigError  # noqa: E402
from engine.ops.gated_delta import (  # noqa: E402
    GatedDeltaScan,
    bidirectional_delta_numerator,
    bidirectional_gated_delta,
    fused_frame,
    gated_delta_scan,
    naive,
    resolve_auto,
)

if DEVICE == "cpu" and not fused_frame.interpreted():
    raise RuntimeError("triton was imported before this module set TRITON_INTERPRET=1; run pytest with it set")

#: Max |error| allowed, as a fraction of the reference's max |value|, per matmul precision.
TOLERANCE = {"fp32": 1e-5, "bf16": 2e-2}


def _model_like(b: int, h: int, t: int, s: int, d: int, *, seed: int, dtype: torch.dtype = torch.float32):
    """Inputs shaped as the GDN block makes them: ``Q = ReLU``, ``K = ReLU * D^-1/2 S^-1/2`` (so a frame's write is a
    contraction), ``V`` signed, ``beta`` a sigmoid, ``g`` in (0.5, 1); features in ``dtype``, gates fp32."""
    gen = torch.Generator().manual_seed(seed)
    q = torch.relu(torch.randn(b, h, t, s, d, generator=gen))
    k = torch.relu(torch.randn(b, h, t, s, d, generator=gen)) * (d * s) ** -0.5
    v = torch.randn(b, h, t, s, d, generator=gen)
    beta = torch.sigmoid(torch.randn(b, h, t, s, generator=gen))
    g = 0.5 + 0.5 * torch.rand(b, h, t, generator=gen)
    q, k, v = (x.to(dtype) for x in (q, k, v))
    return [x.to(DEVICE) for x in (q, k, v, beta, g)]


def _assert_near(ours: torch.Tensor, ref: torch.Tensor, precision: str, what: str) -> None:
    ours, ref = ours.float().cpu(), ref.float().cpu()
    scale = ref.abs().max().clamp_min(1e-6)
    error = (ours - ref).abs().max()
    assert error <= TOLERANCE[precision] * scale, f"{what}: max |error| {error:.3g} vs scale {scale:.3g}"


def _f32(*tensors: torch.Tensor) -> list[torch.Tensor]:
    return [t.float() for t in tensors]


# (B, H, T, S, D) and launch shape: a single token and frame; tokens and dims below one block; S and D not powers of
# two with several token blocks and value blocks (the GPU's launch shape with masked tails); one value block of 112.
SHAPES = [
    ((1, 1, 1, 1, 4), {}),
    ((2, 2, 5, 5, 4), {}),
    ((1, 2, 3, 37, 20), {"block_s": 16}),
    ((1, 1, 4, 70, 48), {"block_s": 32, "block_v": 16}),
    ((1, 1, 2, 40, 112), {}),
]


SHAPE_IDS = ["one-token", "below-one-block", "tails-bs16", "several-blocks-bv16", "d112"]


@pytest.mark.parametrize(("shape", "launch"), SHAPES, ids=SHAPE_IDS)
@pytest.mark.parametrize("reverse", [False, True], ids=["forward", "reverse"])
@pytest.mark.parametrize("seeded", [False, True], ids=["zeros", "carried"])
def test_numerator_and_normaliser_match_reference_in_fp32(shape, launch, reverse: bool, seeded: bool) -> None:
    """Full-fp32 matmuls: forward (inclusive) and reverse (exclusive) scans, from zeros or a carried state, equal the
    reference to float rounding, outputs and final states."""
    q, k, v, beta, g = _model_like(*shape, seed=sum(shape) + reverse)
    b, h, _, _, d = shape
    m0 = torch.randn(b, h, d, d, device=DEVICE) * 0.3 if seeded else None
    z0 = torch.rand(b, h, d, device=DEVICE) if seeded else None
    ref, ref_m = naive.numerator_scan(q, k, v, beta, g, reverse=reverse, initial_state=m0)
    ref_den, ref_z = naive.normaliser_scan(q, k, beta, g, reverse=reverse, initial_state=z0)
    out, m = fused_frame.numerator_scan(q, k, v, beta, g, reverse=reverse, initial_state=m0, precision="fp32", **launch)
    den, z = fused_frame.normaliser_scan(
        q, k, beta, g, reverse=reverse, initial_state=z0, block_s=launch.get("block_s", fused_frame.BLOCK_S)
    )
    for ours, theirs, what in ((out, ref, "out"), (m, ref_m, "M"), (den, ref_den, "den"), (z, ref_z, "z")):
        _assert_near(ours, theirs, "fp32", what)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16], ids=["fp32-in", "bf16-in"])
@pytest.mark.parametrize("reverse", [False, True], ids=["forward", "reverse"])
def test_bf16_matmuls_stay_within_bf16_rounding_of_reference(dtype: torch.dtype, reverse: bool) -> None:
    """The fast path (bf16 operands, fp32 state) on fp32 and bf16 inputs, with a carried state; outputs come back
    in the input dtype, final states in fp32."""
    q, k, v, beta, g = _model_like(1, 2, 4, 70, 48, seed=7, dtype=dtype)
    m0 = torch.randn(1, 2, 48, 48, device=DEVICE) * 0.3
    ref, ref_m = naive.numerator_scan(*_f32(q, k, v), beta, g, reverse=reverse, initial_state=m0)
    out, m = fused_frame.numerator_scan(q, k, v, beta, g, reverse=reverse, initial_state=m0, block_s=32, block_v=16)
    assert out.dtype == dtype and m.dtype == torch.float32
    _assert_near(out, ref, "bf16", "out")
    _assert_near(m, ref_m, "bf16", "M")


def _fp32_scan() -> GatedDeltaScan:
    return GatedDeltaScan(
        "triton-fp32", partial(fused_frame.numerator_scan, precision="fp32"), fused_frame.normaliser_scan
    )


def test_all_three_time_mixing_modes_match_reference() -> None:
    """bidirectional (whole call), chunk-causal (reverse cut at chunk bounds) and streaming (chunk by chunk from the
    carried states) GDN main and camera outputs, through the same bidirectional composition the model runs."""
    q, k, v, beta, g = _model_like(1, 2, 6, 9, 20, seed=3)
    q_rot, k_rot = q.flip(-1), k.flip(-1)  # any other features of the same statistics stand in for RoPE
    ours, ref = _fp32_scan(), gated_delta_scan("naive")
    bounds = [(0, 3), (3, 5), (5, 6)]
    for segments in (None, bounds):
        main = [bidirectional_gated_delta(s, q, k, v, q_rot, k_rot, beta, g, eps=1e-8, reverse_segments=segments)
                for s in (ours, ref)]  # fmt: skip
        cam = [bidirectional_delta_numerator(s, q, k, v, beta, g, reverse_segments=segments) for s in (ours, ref)]
        _assert_near(main[0][0], main[1][0], "fp32", f"main, segments {segments}")
        _assert_near(cam[0][0], cam[1][0], "fp32", f"camera, segments {segments}")
    state, pieces = None, []
    for a, b in bounds:  # streaming: each chunk seeded with the previous chunk's final (M, z)
        part = [x[:, :, a:b] for x in (q, k, v, q_rot, k_rot, beta, g)]
        out, state = bidirectional_gated_delta(ours, *part, eps=1e-8, initial_state=state)
        pieces.append(out)
    whole, whole_state = bidirectional_gated_delta(
        ref, q, k, v, q_rot, k_rot, beta, g, eps=1e-8, reverse_segments=bounds
    )
    _assert_near(torch.cat(pieces, dim=2), whole, "fp32", "streamed chunks")
    for mine, theirs, what in zip(state, whole_state, ("M", "z")):
        _assert_near(mine, theirs, "fp32", f"carried {what}")


def test_official_20_heads_x_112_at_720p_token_count_streaming_chunk() -> None:
    """The official layout (20 heads x 112, S = 880 tokens per 720p latent frame) on the fast path with bf16 inputs:
    one streaming chunk (3 latent frames, as the session makes them) continued from a carried state (forward
    seeded, exclusive reverse inside the chunk), numerator and normaliser. Under the interpreter it runs one big
    token block per frame and one program per head (the small shapes above cover the GPU launch shape); on a GPU,
    the default launch."""
    q, k, v, beta, g = _model_like(1, 20, 3, 880, 112, seed=21, dtype=torch.bfloat16)
    m0 = torch.randn(1, 20, 112, 112, device=DEVICE) * 0.05
    z0 = torch.rand(1, 20, 112, device=DEVICE)
    launch = {"block_s": 1024, "block_v": 128} if DEVICE == "cpu" else {}
    scan = GatedDeltaScan(
        "triton-720p",
        partial(fused_frame.numerator_scan, **launch),
        partial(fused_frame.normaliser_scan, block_s=launch.get("block_s", fused_frame.BLOCK_S)),
    )
    out, (m, z) = bidirectional_gated_delta(scan, q, k, v, q, k, beta, g, eps=1e-8, initial_state=(m0, z0))
    ref, (ref_m, ref_z) = bidirectional_gated_delta(
        gated_delta_scan("naive"), *_f32(q, k, v, q, k), beta, g, eps=1e-8, initial_state=(m0, z0)
    )
    assert out.dtype == torch.bfloat16
    for ours, theirs, what in ((out, ref, "o"), (m, ref_m, "M"), (z, ref_z, "z")):
        _assert_near(ours, theirs, "bf16", what)


# ----- dispatch: "auto" picks the kernel only on CUDA, never when a gradient is needed, never without triton


def _fake(cuda: bool, requires_grad: bool = False) -> SimpleNamespace:
    return SimpleNamespace(is_cuda=cuda, requires_grad=requires_grad)


def test_auto_runs_the_triton_kernel_only_on_cuda_tensors_without_gradients(monkeypatch) -> None:
    assert resolve_auto(_fake(False), _fake(False)).name == "chunk"
    assert resolve_auto(_fake(True), _fake(True), None).name == "triton"
    assert resolve_auto(_fake(True), _fake(False)).name == "chunk"  # mixed devices: leave it to the torch path
    assert resolve_auto(_fake(True, requires_grad=True)).name == "chunk"  # training needs autograd
    with torch.no_grad():
        assert resolve_auto(_fake(True, requires_grad=True)).name == "triton"
    monkeypatch.setattr(fused_frame, "available", lambda: False)
    assert resolve_auto(_fake(True)).name == "chunk"


def test_auto_on_cpu_is_bit_identical_to_chunk() -> None:
    q, k, v, beta, g = (x.cpu() for x in _model_like(1, 2, 5, 6, 8, seed=4))
    auto, chunk = gated_delta_scan("auto"), gated_delta_scan("chunk")
    for reverse in (False, True):
        ours, theirs = (s.numerator(q, k, v, beta, g, reverse=reverse)[0] for s in (auto, chunk))
        assert torch.equal(ours, theirs)
    assert torch.equal(auto.normaliser(q, k, beta, g)[0], chunk.normaliser(q, k, beta, g)[0])


def test_triton_scan_refuses_inputs_that_need_gradients() -> None:
    q, k, v, beta, g = _model_like(1, 1, 2, 4, 4, seed=5)
    with pytest.raises(ConfigError, match="forward-only"):
        fused_frame.numerator_scan(q.requires_grad_(), k, v, beta, g)


def test_triton_scan_refuses_cpu_tensors_outside_the_interpreter(monkeypatch) -> None:
    monkeypatch.setattr(fused_frame, "interpreted", lambda: False)
    q, k, beta, g = (torch.ones(1, 1, 1, 2, 4), torch.ones(1, 1, 1, 2, 4), torch.ones(1, 1, 1, 2), torch.ones(1, 1, 1))
    with pytest.raises(ConfigError, match="CUDA tensors; got cpu"):
        fused_frame.normaliser_scan(q, k, beta, g)


# ----- the GPU compile path, without a GPU: what the interpreter cannot check (tl.dot operand rules, lowering)

_COMPILE_FOR_SM90 = """
import sys
import triton
from triton.backends.compiler import GPUTarget
from triton.compiler import ASTSource
from engine.ops.gated_delta import fused_frame as ff, fused_frame_kernels as fk

def compile_kernel(fn, pointers, scalars, constants, num_warps):
    signature = {**pointers, **{n: "i32" for n in scalars}, **{n: "constexpr" for n in constants}}
    source = ASTSource(fn=fn, signature=signature, constexprs=constants)
    return triton.compile(source, target=GPUTarget("cuda", 90, 32), options={"num_warps": num_warps})

names = ["q_ptr", "k_ptr", "v_ptr", "beta_ptr", "g_ptr", "m0_ptr", "out_ptr", "m_final_ptr"]
for features, precision, reverse in (("bf16", "bf16", False), ("fp32", "bf16", True), ("fp32", "fp32", False)):
    types = [f"*{features}"] * 3 + ["*fp32"] * 3 + [f"*{features}", "*fp32"]
    constants = dict(HAS_INITIAL=True, REVERSE=reverse, DOT_DTYPE=fk.DOT_DTYPES[precision],
                     PRECISION=fk.DOT_PRECISIONS[precision], INTERPRETER=False,
                     BLOCK_S=ff.BLOCK_S, BLOCK_K=128, BLOCK_V=ff.BLOCK_V)
    compile_kernel(fk.numerator_kernel, dict(zip(names, types)), ("T", "S", "D"), constants, ff.NUMERATOR_WARPS)
names = ["q_ptr", "k_ptr", "beta_ptr", "g_ptr", "z0_ptr", "den_ptr", "z_final_ptr"]
types = ["*bf16", "*bf16", "*fp32", "*fp32", "*fp32", "*bf16", "*fp32"]
constants = dict(HAS_INITIAL=True, REVERSE=True, INTERPRETER=False, BLOCK_S=ff.BLOCK_S, BLOCK_K=128)
compile_kernel(fk.normaliser_kernel, dict(zip(names, types)), ("T", "S", "D"), constants, ff.NORMALISER_WARPS)
print("compiled")
"""


def test_kernels_compile_for_sm90_at_the_official_layout(tmp_path) -> None:
    """Both kernels compile to an H100 cubin (triton's bundled ptxas; no GPU needed) for D = 112 (BLOCK_K 128) at
    the default launch: bf16 features (forward), fp32 features with bf16 matmuls (what the model passes; reverse),
    full fp32, and the normaliser."""
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    env.update(TRITON_CACHE_DIR=str(tmp_path), TRITON_DEFAULT_FP_FUSION="1")
    result = subprocess.run(
        [sys.executable, "-c", _COMPILE_FOR_SM90], env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0 and "compiled" in result.stdout, result.stderr[-3000:]
