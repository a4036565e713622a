"""Fused frame-wise gated delta scan in Triton: the CUDA fast path, same contract as :mod:`.naive`.

One kernel launch runs a whole scan (all frames, all tokens) of the frame-parallel delta rule; the state never
leaves the chip between frames. The kernels and their algorithm are in :mod:`.fused_frame_kernels`; this module
checks and lays out the tensors and launches them.

Contract differences from :mod:`.naive` / :mod:`.chunk`, all deliberate:

* inputs may be fp32 or bf16 (the model's activations); outputs come back in the dtype of ``v`` (numerator) or
  ``q`` (normaliser), final states always in fp32 (the streaming cache keeps them across chunks);
* ``precision="bf16"`` (default) feeds the numerator's matmuls bf16 operands with fp32 state and accumulation,
  as the reference kernel does (spec model §5.4); ``precision="fp32"`` runs them in full fp32 (slower; used to pin
  the algorithm against the reference at float rounding). The normaliser is always fp32 arithmetic;
* forward only: no autograd. A call whose inputs require grad (with grad mode on) is an error, so training can
  never silently lose the gradients of everything upstream of the scan.

Tensors must be on a CUDA device, or on the CPU with the kernels imported under ``TRITON_INTERPRET=1`` (Triton's
interpreter, how the tests verify the kernels on machines without a GPU).
"""

from __future__ import annotations

import functools
import importlib.util
from types import ModuleType

import torch

from engine.errors import ConfigError

#: Key and value dims are padded to a power of two of at least this (``tl.dot`` needs 16 on every axis).
_MIN_BLOCK = 16
#: Launch shape on the GPU: tokens per block, value rows (state rows) per numerator program, warps per program.
#: Chosen so that the bf16 numerator compiles for sm_90 without register spills (204 registers, triton 3.9); not
#: tuned by a measurement yet (docs/gpu.md).
BLOCK_S = 32
BLOCK_V = 32
NUMERATOR_WARPS = 8
NORMALISER_WARPS = 4
PRECISIONS = ("bf16", "fp32")


@functools.cache
def available() -> bool:
    """Whether triton is installed (the ``gpu`` extra); checked once, without importing it."""
    return importlib.util.find_spec("triton") is not None


def _kernels() -> ModuleType:
    """The kernel module, imported on first use so that importing the engine never needs triton."""
    if not available():
        raise ConfigError(
            "gated delta implementation 'triton' needs the triton package; install the GPU extra "
            "(pip install -e '.[gpu]') or choose gated_delta_impl 'chunk'"
        )
    from engine.ops.gated_delta import fused_frame_kernels

    return fused_frame_kernels


def interpreted() -> bool:
    """Whether the kernels run in Triton's interpreter, i.e. on CPU tensors: triton itself and the kernels were
    imported under ``TRITON_INTERPRET=1`` (triton's own ``tl.zeros`` / ``tl.sum`` are jit functions too)."""
    import triton.language as tl
    from triton.runtime.interpreter import InterpretedFunction

    return all(isinstance(f, InterpretedFunction) for f in (tl.zeros, _kernels().numerator_kernel))


def _block(n: int, cap: int | None = None) -> int:
    """Block size for an axis of ``n``: a power of two (``tl.arange``), >= 16 (``tl.dot``), at most ``cap``."""
    size = max(_MIN_BLOCK, 1 << max(n - 1, 0).bit_length())
    return size if cap is None else min(size, cap)


def _check(tensors: dict[str, torch.Tensor], precision: str) -> None:
    """Refuse what the kernels cannot do, naming the input (device, autograd, precision)."""
    if precision not in PRECISIONS:
        raise ConfigError(f"triton gated delta precision {precision!r} is unknown; expected one of {PRECISIONS}")
    device = tensors["q"].device
    if device.type != "cuda" and not interpreted():
        raise ConfigError(
            f"the triton gated delta scan runs on CUDA tensors; got {device} (on CPU use 'chunk', or import the "
            "kernels under TRITON_INTERPRET=1 to run Triton's interpreter)"
        )
    if torch.is_grad_enabled() and any(t.requires_grad for t in tensors.values()):
        raise ConfigError(
            "the triton gated delta scan is forward-only (no autograd) but an input requires grad; "
            "use 'chunk' for training, or run under torch.no_grad()"
        )


def _flat(x: torch.Tensor, trailing: int) -> torch.Tensor:
    """``(B, H, *rest)`` -> contiguous ``(B*H, *rest)``: the kernels index one (batch, head) per program."""
    return x.reshape(-1, *x.shape[x.dim() - trailing :]).contiguous()


def numerator_scan(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    beta: torch.Tensor,
    g: torch.Tensor,
    *,
    reverse: bool = False,
    initial_state: torch.Tensor | None = None,
    precision: str = "bf16",
    block_s: int = BLOCK_S,
    block_v: int = BLOCK_V,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Numerator stream ``o_t = M q_t`` (contract of :func:`engine.ops.gated_delta.naive.numerator_scan`).

    Args:
        q, k, v: ``(B, H, T, S, D)`` fp32 or bf16.
        beta: ``(B, H, T, S)``; g: ``(B, H, T)``.
        reverse: False = inclusive forward pass; True = exclusive reverse pass.
        initial_state: ``(B, H, D, D)`` (any float dtype; read as fp32) or None (zeros).
        precision: "bf16" (bf16 matmul operands, the fast path) or "fp32".
        block_s, block_v: launch shape (tokens per block, state rows per program); powers of two >= 16.

    Returns:
        ``(out (B, H, T, S, D) in v's dtype, final_state (B, H, D, D) fp32)``.
    """
    _check({"q": q, "k": k, "v": v, "beta": beta, "g": g}, precision)
    kernels = _kernels()
    b, h, t_len, s, d = q.shape
    out = torch.empty(b * h, t_len, s, d, dtype=v.dtype, device=v.device)
    final = torch.empty(b * h, d, d, dtype=torch.float32, device=q.device)
    m0 = final if initial_state is None else _flat(initial_state, 2)  # unread without HAS_INITIAL
    block_k = _block(d)
    block_v = _block(d, cap=block_v)
    grid = (b * h, -(-d // block_v))
    kernels.numerator_kernel[grid](
        _flat(q, 3), _flat(k, 3), _flat(v, 3), _flat(beta, 2), _flat(g, 1), m0, out, final,
        t_len, s, d,
        HAS_INITIAL=initial_state is not None, REVERSE=reverse,
        DOT_DTYPE=kernels.DOT_DTYPES[precision], PRECISION=kernels.DOT_PRECISIONS[precision],
        INTERPRETER=interpreted(),  # its bf16 matmuls and casts differ from the GPU's (fused_frame_kernels)
        BLOCK_S=_block(s, cap=block_s), BLOCK_K=block_k, BLOCK_V=block_v, num_warps=NUMERATOR_WARPS,
    )  # fmt: skip
    return out.view(b, h, t_len, s, d), final.view(b, h, d, d)


def normaliser_scan(
    q: torch.Tensor,
    k: torch.Tensor,
    beta: torch.Tensor,
    g: torch.Tensor,
    *,
    reverse: bool = False,
    initial_state: torch.Tensor | None = None,
    precision: str = "bf16",
    block_s: int = BLOCK_S,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Normaliser stream ``den_t = z^T q_t`` (contract of :func:`engine.ops.gated_delta.naive.normaliser_scan`).

    Args as :func:`numerator_scan` without ``v``; ``initial_state (B, H, D)``. ``precision`` is accepted for a
    uniform signature: the normaliser is elementwise fp32 arithmetic either way.

    Returns:
        ``(den (B, H, T, S) in q's dtype, final_state (B, H, D) fp32)``.
    """
    _check({"q": q, "k": k, "beta": beta, "g": g}, precision)
    kernels = _kernels()
    b, h, t_len, s, d = q.shape
    den = torch.empty(b * h, t_len, s, dtype=q.dtype, device=q.device)
    final = torch.empty(b * h, d, dtype=torch.float32, device=q.device)
    z0 = final if initial_state is None else _flat(initial_state, 1)
    kernels.normaliser_kernel[(b * h,)](
        _flat(q, 3), _flat(k, 3), _flat(beta, 2), _flat(g, 1), z0, den, final,
        t_len, s, d,
        HAS_INITIAL=initial_state is not None, REVERSE=reverse, INTERPRETER=interpreted(),
        BLOCK_S=_block(s, cap=block_s), BLOCK_K=_block(d), num_warps=NORMALISER_WARPS,
    )  # fmt: skip
    return den.view(b, h, t_len, s), final.view(b, h, d)
