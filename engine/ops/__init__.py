"""Numerics with a readable CPU reference and room for CUDA fast paths (see ../shared/DESIGN.md).

* :mod:`engine.ops.gated_delta` — frame-wise gated delta scans (``naive`` reference, ``chunk`` vectorised).
* :mod:`engine.ops.short_conv` — bidirectional short conv along time.
* :mod:`engine.ops.bidirectional` — forward + reverse compositions used by the attention branches.
* :mod:`engine.ops.dispatch` — the single point that selects a scan implementation.
"""

from engine.ops.bidirectional import bidirectional_delta_numerator, bidirectional_gated_delta
from engine.ops.dispatch import GATED_DELTA_IMPLEMENTATIONS, GatedDeltaKernels, gated_delta_kernels
from engine.ops.short_conv import bidirectional_short_conv

__all__ = [
    "GATED_DELTA_IMPLEMENTATIONS",
    "GatedDeltaKernels",
    "bidirectional_delta_numerator",
    "bidirectional_gated_delta",
    "bidirectional_short_conv",
    "gated_delta_kernels",
]
