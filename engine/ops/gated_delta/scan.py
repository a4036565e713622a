"""The one place that names and resolves the implementations of the gated delta scans.

``"naive"`` is the frame-recurrent reference (:mod:`.naive`), ``"chunk"`` the vectorised PyTorch form
(:mod:`.chunk`), ``"triton"`` the fused frame-wise CUDA kernel (:mod:`.fused_frame`, forward only, bf16 matmul
operands). ``"auto"`` picks per call, from the tensors it gets (:func:`resolve_auto`): ``"triton"`` on CUDA tensors
when triton is installed and no gradient is needed, ``"chunk"`` otherwise, so CPU results and training never
change with it.

The model resolves the name from its config once, when a block is built (:func:`gated_delta_scan`), and holds
the resulting :class:`GatedDeltaScan`; no call passes implementation names around. ``"auto"`` decides per call
because a block is built before it is moved to its device.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch

from engine.errors import ConfigError
from engine.ops.gated_delta import chunk, fused_frame, naive

#: Every valid ``gated_delta_impl`` (the config validates against this tuple).
IMPLEMENTATIONS = ("naive", "chunk", "triton", "auto")


@dataclass(frozen=True)
class GatedDeltaScan:
    """The two scans of the frame-wise gated delta rule, from one implementation.

    ``numerator(q, k, v, beta, g, *, reverse=False, initial_state=None) -> (out, final_state)`` and
    ``normaliser(q, k, beta, g, *, reverse=False, initial_state=None) -> (den, final_state)``; shapes and the
    inclusive-forward / exclusive-reverse convention in :mod:`engine.ops.gated_delta.naive`.
    """

    name: str
    numerator: Callable[..., tuple[torch.Tensor, torch.Tensor]]
    normaliser: Callable[..., tuple[torch.Tensor, torch.Tensor]]


_SCANS = {
    "naive": GatedDeltaScan("naive", naive.numerator_scan, naive.normaliser_scan),
    "chunk": GatedDeltaScan("chunk", chunk.numerator_scan, chunk.normaliser_scan),
    "triton": GatedDeltaScan("triton", fused_frame.numerator_scan, fused_frame.normaliser_scan),
}


def resolve_auto(*tensors: torch.Tensor | None) -> GatedDeltaScan:
    """The scans ``"auto"`` runs on these inputs: ``"triton"`` when they are CUDA tensors, triton is installed and
    no gradient will flow through them (the kernel is forward-only), else ``"chunk"``."""
    present = [t for t in tensors if t is not None]
    wants_grad = torch.is_grad_enabled() and any(t.requires_grad for t in present)
    on_cuda = all(t.is_cuda for t in present)
    return _SCANS["triton" if on_cuda and not wants_grad and fused_frame.available() else "chunk"]


def _auto_numerator(q, k, v, beta, g, **options) -> tuple[torch.Tensor, torch.Tensor]:
    return resolve_auto(q, k, v, beta, g, options.get("initial_state")).numerator(q, k, v, beta, g, **options)


def _auto_normaliser(q, k, beta, g, **options) -> tuple[torch.Tensor, torch.Tensor]:
    return resolve_auto(q, k, beta, g, options.get("initial_state")).normaliser(q, k, beta, g, **options)


_SCANS["auto"] = GatedDeltaScan("auto", _auto_numerator, _auto_normaliser)


def gated_delta_scan(name: str = "auto") -> GatedDeltaScan:
    """The scans named ``name`` (one of :data:`IMPLEMENTATIONS`).

    Raises:
        ConfigError: an unknown name (the message lists the valid ones).
    """
    if name not in IMPLEMENTATIONS:
        raise ConfigError(
            f"gated delta implementation {name!r} is unknown; expected one of {', '.join(IMPLEMENTATIONS)}"
        )
    return _SCANS[name]
