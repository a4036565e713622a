"""Triton kernels of the fused frame-wise gated delta scan (the wrappers and the contract are in :mod:`.fused_frame`).

Why a kernel of our own: flash-linear-attention's gated-delta kernels update the state once per *token*; SANA-WM
updates it once per *frame* with all ``S`` tokens of that frame against the same prior state (spec model §5.4-6).
Written as an affine map on the rows of the state, with ``K`` the frame's ``(S, D)`` key rows::

    M_t = g_t M_{t-1} + (V_t^T - g_t M_{t-1} K_t^T) diag(beta_t) K_t          (M: value rows x key columns)

Every row of ``M`` (one value dim) evolves on its own, so a program owns ``BLOCK_V`` rows of the state of one
(batch, head) and walks the frames in order; inside a frame it streams the tokens in ``BLOCK_S`` blocks, each
block costing two matmuls (``K M^T`` for the prediction, ``P^T K`` for the write), accumulated in fp32 against the
state *before* the frame. The output ``o_t = Q_t M^T`` is a second pass over the frame's queries, after the write
(inclusive forward) or before it (exclusive reverse). The normaliser ``z`` is the same map with one all-ones value
row; it is a vector per (batch, head) and runs as elementwise fp32 work in its own kernel.

Precision, as the reference kernel (spec model §5.4, ``FUSED_GDN_PRECISION`` 2): matmul operands in ``DOT_DTYPE``
(bf16), state and accumulators in fp32; ``DOT_DTYPE`` fp32 with ``PRECISION`` "ieee" gives a full-fp32 path that
checks the algorithm against the reference to float rounding. ``INTERPRETER`` (set by the wrapper when the kernels
run in Triton's interpreter) makes every bf16 rounding explicit, because the interpreter's bf16 matmul and casts are
not the GPU's (:func:`_operand`, :func:`_stored`); on the GPU it is off and compiles away.

Importing this module needs triton. Triton decides at decoration time whether a kernel is compiled for the GPU or
run by its interpreter on CPU tensors: set ``TRITON_INTERPRET=1`` *before* the first import to run it on CPU.
"""

from __future__ import annotations

import triton
import triton.language as tl

#: Matmul operand dtype and ``tl.dot`` input precision of each ``precision`` of :mod:`.fused_frame`
#: (bf16 operands ignore the input precision; fp32 operands stay exact with "ieee" instead of tf32).
DOT_DTYPES = {"bf16": tl.bfloat16, "fp32": tl.float32}
DOT_PRECISIONS = {"bf16": "tf32", "fp32": "ieee"}


@triton.jit
def _round_to_bf16(x):
    """fp32 ``x`` rounded to the nearest bf16 (ties to even, as the GPU's cast), kept in fp32."""
    bits = x.to(tl.uint32, bitcast=True)
    bits = (bits + 0x7FFF + ((bits >> 16) & 1)) & 0xFFFF0000
    return bits.to(tl.float32, bitcast=True)


@triton.jit
def _operand(x, DOT_DTYPE: tl.constexpr, INTERPRETER: tl.constexpr):
    """``x`` as a matmul operand: cast to ``DOT_DTYPE``.

    Under Triton's interpreter (``INTERPRETER``), whose ``tl.dot`` multiplies the raw bits of bf16 operands and whose
    casts truncate, a bf16 operand stays fp32 holding ``x`` rounded to bf16 as the GPU rounds it: the fp32 ("ieee")
    product of two such operands is exact, as in a tensor-core MMA; only the order of the fp32 accumulation differs.
    """
    if INTERPRETER and DOT_DTYPE == tl.bfloat16:
        out = _round_to_bf16(x.to(tl.float32))
    else:
        out = x.to(DOT_DTYPE)
    return out


@triton.jit
def _stored(x, ptr, INTERPRETER: tl.constexpr):
    """fp32 ``x`` cast to the element type of ``ptr``, rounding to nearest as the GPU does (the interpreter's cast to
    bf16 truncates, so there a bf16 value is rounded first and the cast is exact)."""
    if INTERPRETER and ptr.dtype.element_ty == tl.bfloat16:
        x = _round_to_bf16(x)
    return x.to(ptr.dtype.element_ty)


@triton.jit
def _token_tile(ptr, frame, tok, tok_ok, D, dims, dims_ok):
    """Features ``dims`` of tokens ``tok`` of the frame starting at token index ``frame``: ``(BLOCK_S, len(dims))``,
    zeros outside ``S`` tokens and ``D`` dims (so padding adds nothing to any product)."""
    return tl.load(ptr + (frame + tok)[:, None] * D + dims[None, :], mask=tok_ok[:, None] & dims_ok[None, :], other=0.0)


@triton.jit
def _write_outputs(
    q_ptr, out_ptr, state, frame, S, D, rows, cols, row_ok, col_ok,
    DOT_DTYPE: tl.constexpr, PRECISION: tl.constexpr, INTERPRETER: tl.constexpr, BLOCK_S: tl.constexpr,
):  # fmt: skip
    """``out[frame, s, rows] = q[frame, s, :] @ state^T`` for every token of one frame (``frame`` = its first token)."""
    state_op = _operand(state, DOT_DTYPE, INTERPRETER)
    for s0 in range(0, S, BLOCK_S):
        tok = s0 + tl.arange(0, BLOCK_S)
        tok_ok = tok < S
        q = _operand(_token_tile(q_ptr, frame, tok, tok_ok, D, cols, col_ok), DOT_DTYPE, INTERPRETER)
        o = tl.dot(q, tl.trans(state_op), input_precision=PRECISION)  # (BLOCK_S, BLOCK_V)
        out_mask = tok_ok[:, None] & row_ok[None, :]
        tl.store(out_ptr + (frame + tok)[:, None] * D + rows[None, :], _stored(o, out_ptr, INTERPRETER), mask=out_mask)


@triton.jit
def numerator_kernel(
    q_ptr, k_ptr, v_ptr, beta_ptr, g_ptr, m0_ptr, out_ptr, m_final_ptr,
    T, S, D,
    HAS_INITIAL: tl.constexpr, REVERSE: tl.constexpr,
    DOT_DTYPE: tl.constexpr, PRECISION: tl.constexpr, INTERPRETER: tl.constexpr,
    BLOCK_S: tl.constexpr, BLOCK_K: tl.constexpr, BLOCK_V: tl.constexpr,
):  # fmt: skip
    """One program = value rows ``[pid1 * BLOCK_V, +BLOCK_V)`` of the numerator state of (batch, head) ``pid0``.

    Pointers to contiguous ``q, k, v (B*H, T, S, D)``, ``beta (B*H, T, S)``, ``g (B*H, T)``, states
    ``(B*H, D, D)`` fp32; ``BLOCK_K >= D`` holds every key dim.
    """
    bh = tl.program_id(0).to(tl.int64)
    rows = tl.program_id(1) * BLOCK_V + tl.arange(0, BLOCK_V)  # value dims of this program
    cols = tl.arange(0, BLOCK_K)  # key dims
    row_ok = rows < D
    col_ok = cols < D
    state_offsets = bh * D * D + rows[:, None] * D + cols[None, :]
    state_mask = row_ok[:, None] & col_ok[None, :]
    if HAS_INITIAL:
        state = tl.load(m0_ptr + state_offsets, mask=state_mask, other=0.0).to(tl.float32)
    else:
        state = tl.zeros((BLOCK_V, BLOCK_K), dtype=tl.float32)

    for i in range(0, T):
        if REVERSE:
            t = T - 1 - i
        else:
            t = i
        frame = (bh * T + t) * S  # index of the frame's first token
        gt = tl.load(g_ptr + bh * T + t).to(tl.float32)
        if REVERSE:  # exclusive: frame t reads the state of frames t+1 .. T-1
            _write_outputs(q_ptr, out_ptr, state, frame, S, D, rows, cols, row_ok, col_ok,
                           DOT_DTYPE, PRECISION, INTERPRETER, BLOCK_S)  # fmt: skip
        prior = _operand(state, DOT_DTYPE, INTERPRETER)  # every token of the frame reads the same prior state
        write = tl.zeros((BLOCK_V, BLOCK_K), dtype=tl.float32)
        for s0 in range(0, S, BLOCK_S):
            tok = s0 + tl.arange(0, BLOCK_S)
            tok_ok = tok < S
            k = _operand(_token_tile(k_ptr, frame, tok, tok_ok, D, cols, col_ok), DOT_DTYPE, INTERPRETER)
            v = _token_tile(v_ptr, frame, tok, tok_ok, D, rows, row_ok)  # (BLOCK_S, BLOCK_V): this program's dims
            beta = tl.load(beta_ptr + frame + tok, mask=tok_ok, other=0.0).to(tl.float32)  # 0 on padding tokens
            predicted = tl.dot(k, tl.trans(prior), input_precision=PRECISION)  # (BLOCK_S, BLOCK_V): K M^T
            residual = (v.to(tl.float32) - gt * predicted) * beta[:, None]
            residual = _operand(residual, DOT_DTYPE, INTERPRETER)
            write += tl.dot(tl.trans(residual), k, input_precision=PRECISION)  # (BLOCK_V, BLOCK_K): P^T K
        state = gt * state + write
        if not REVERSE:  # inclusive: frame t reads the state after its own write
            _write_outputs(q_ptr, out_ptr, state, frame, S, D, rows, cols, row_ok, col_ok,
                           DOT_DTYPE, PRECISION, INTERPRETER, BLOCK_S)  # fmt: skip

    tl.store(m_final_ptr + state_offsets, state, mask=state_mask)


@triton.jit
def _write_normaliser(q_ptr, den_ptr, z, frame, S, D, cols, col_ok, INTERPRETER: tl.constexpr, BLOCK_S: tl.constexpr):
    """``den[frame, s] = q[frame, s, :] . z`` for every token of one frame."""
    for s0 in range(0, S, BLOCK_S):
        tok = s0 + tl.arange(0, BLOCK_S)
        tok_ok = tok < S
        q = _token_tile(q_ptr, frame, tok, tok_ok, D, cols, col_ok).to(tl.float32)
        den = tl.sum(q * z[None, :], axis=1)
        tl.store(den_ptr + frame + tok, _stored(den, den_ptr, INTERPRETER), mask=tok_ok)


@triton.jit
def normaliser_kernel(
    q_ptr, k_ptr, beta_ptr, g_ptr, z0_ptr, den_ptr, z_final_ptr,
    T, S, D,
    HAS_INITIAL: tl.constexpr, REVERSE: tl.constexpr, INTERPRETER: tl.constexpr,
    BLOCK_S: tl.constexpr, BLOCK_K: tl.constexpr,
):  # fmt: skip
    """One program = the normaliser ``z (D,)`` of (batch, head) ``pid0``: ``z <- g z + K^T (beta * (1 - g K z))``.

    Layouts as :func:`numerator_kernel`; ``den (B*H, T, S)``, ``z (B*H, D)`` fp32.
    """
    bh = tl.program_id(0).to(tl.int64)
    cols = tl.arange(0, BLOCK_K)
    col_ok = cols < D
    if HAS_INITIAL:
        z = tl.load(z0_ptr + bh * D + cols, mask=col_ok, other=0.0).to(tl.float32)
    else:
        z = tl.zeros((BLOCK_K,), dtype=tl.float32)

    for i in range(0, T):
        if REVERSE:
            t = T - 1 - i
        else:
            t = i
        frame = (bh * T + t) * S
        gt = tl.load(g_ptr + bh * T + t).to(tl.float32)
        if REVERSE:
            _write_normaliser(q_ptr, den_ptr, z, frame, S, D, cols, col_ok, INTERPRETER, BLOCK_S)
        write = tl.zeros((BLOCK_K,), dtype=tl.float32)
        for s0 in range(0, S, BLOCK_S):
            tok = s0 + tl.arange(0, BLOCK_S)
            tok_ok = tok < S
            k = _token_tile(k_ptr, frame, tok, tok_ok, D, cols, col_ok).to(tl.float32)
            beta = tl.load(beta_ptr + frame + tok, mask=tok_ok, other=0.0).to(tl.float32)
            residual = (1.0 - gt * tl.sum(k * z[None, :], axis=1)) * beta  # (BLOCK_S,): beta (1 - g k.z)
            write += tl.sum(residual[:, None] * k, axis=0)
        z = gt * z + write
        if not REVERSE:
            _write_normaliser(q_ptr, den_ptr, z, frame, S, D, cols, col_ok, INTERPRETER, BLOCK_S)

    tl.store(z_final_ptr + bh * D + cols, z, mask=col_ok)
