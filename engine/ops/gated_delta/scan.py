"""The one place that names and resolves the implementations of the gated delta scans.

``"naive"`` is the frame-recurrent reference (:mod:`.naive`), ``"chunk"`` the vectorised PyTorch form
(:mod:`.chunk`); ``"auto"`` is the fastest available, today ``"chunk"`` on every device. A CUDA kernel (Triton /
fla) joins :data:`IMPLEMENTATIONS` under its own name, becomes what ``"auto"`` resolves to where it runs, and must
pass the same tests against ``"naive"``.

The model resolves the name from its config once, when a block is built (:func:`gated_delta_scan`), and holds
the resulting :class:`GatedDeltaScan`; no call passes implementation names around.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch

from engine.errors import ConfigError
from engine.ops.gated_delta import chunk, naive

#: Every valid ``gated_delta_impl`` (the config validates against this tuple).
IMPLEMENTATIONS = ("naive", "chunk", "auto")


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
}


def gated_delta_scan(name: str = "auto") -> GatedDeltaScan:
    """The scans named ``name`` (one of :data:`IMPLEMENTATIONS`).

    Raises:
        ConfigError: an unknown name (the message lists the valid ones).
    """
    if name not in IMPLEMENTATIONS:
        raise ConfigError(
            f"gated delta implementation {name!r} is unknown; expected one of {', '.join(IMPLEMENTATIONS)}"
        )
    return _SCANS["chunk" if name == "auto" else name]
