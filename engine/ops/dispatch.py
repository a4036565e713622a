"""The one place that picks an implementation of the gated delta scans.

``"naive"`` is the frame-recurrent reference, ``"chunk"`` the vectorised PyTorch form; ``"auto"`` picks the
fastest available for the tensors' device. CUDA kernels (Triton / fla) plug in here later, behind ``"auto"``
and under their own names, and must pass the same tests against ``"naive"``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch

from engine.errors import ConfigError
from engine.ops.gated_delta import chunk, naive

GATED_DELTA_IMPLEMENTATIONS = ("naive", "chunk", "auto")


@dataclass(frozen=True)
class GatedDeltaKernels:
    """The two scans of the frame-wise gated delta rule (contracts in :mod:`engine.ops.gated_delta.naive`)."""

    name: str
    numerator_scan: Callable[..., tuple[torch.Tensor, torch.Tensor]]
    normaliser_scan: Callable[..., tuple[torch.Tensor, torch.Tensor]]


_KERNELS = {
    "naive": GatedDeltaKernels("naive", naive.numerator_scan, naive.normaliser_scan),
    "chunk": GatedDeltaKernels("chunk", chunk.numerator_scan, chunk.normaliser_scan),
}


def gated_delta_kernels(impl: str = "auto", device: torch.device | str | None = None) -> GatedDeltaKernels:
    """Resolve ``impl`` (``"naive" | "chunk" | "auto"``) for tensors on ``device``.

    Raises:
        ConfigError: an unknown implementation name.
    """
    if impl not in GATED_DELTA_IMPLEMENTATIONS:
        raise ConfigError(
            f"gated delta implementation {impl!r} is unknown; expected one of {', '.join(GATED_DELTA_IMPLEMENTATIONS)}"
        )
    if impl == "auto":
        impl = "chunk"  # the only fast path so far, on every device
    return _KERNELS[impl]
