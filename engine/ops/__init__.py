"""Numerics with a readable CPU reference and room for CUDA fast paths (see ../shared/DESIGN.md).

* :mod:`engine.ops.gated_delta` — frame-wise gated delta scans (``naive`` reference, ``chunk`` vectorised,
  ``triton`` fused CUDA kernel), the one list of implementation names, and the bidirectional scan (forward +
  exclusive reverse, initial and final states) the model's time-mixing modes share.
* :mod:`engine.ops.short_conv` — bidirectional short conv along time (and its causal / anti-causal halves).
"""

from engine.ops.gated_delta import (
    IMPLEMENTATIONS,
    GatedDeltaScan,
    bidirectional_delta_numerator,
    bidirectional_gated_delta,
    gated_delta_scan,
)
from engine.ops.short_conv import bidirectional_short_conv

__all__ = [
    "IMPLEMENTATIONS",
    "GatedDeltaScan",
    "bidirectional_delta_numerator",
    "bidirectional_gated_delta",
    "bidirectional_short_conv",
    "gated_delta_scan",
]
