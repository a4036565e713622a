"""Frame-wise gated delta rule (spec model §5.4-5.5): the reference, the chunked form, and the bidirectional scan.

Side by side, in the order to read them:

* :mod:`.naive` — the specification: a frame-recurrent loop (slow and obvious);
* :mod:`.chunk` — the vectorised algorithm, tested against ``naive``;
* :mod:`.fused_frame` — the fused frame-wise scan in Triton (CUDA; kernels in :mod:`.fused_frame_kernels`), tested
  against ``naive`` under Triton's interpreter;
* :mod:`.scan` — the names of the implementations (:data:`IMPLEMENTATIONS`) and :func:`gated_delta_scan`, which
  turns a name into the :class:`GatedDeltaScan` a model holds (``"auto"``: Triton on CUDA, else ``chunk``);
* :mod:`.bidirectional` — the forward + exclusive-reverse scan with initial and final states that all three
  time-mixing modes of the model run (:mod:`engine.model.time_mixing`).
"""

from engine.ops.gated_delta import chunk, fused_frame, naive
from engine.ops.gated_delta.bidirectional import (
    bidirectional_delta_numerator,
    bidirectional_gated_delta,
    bidirectional_normaliser,
)
from engine.ops.gated_delta.scan import IMPLEMENTATIONS, GatedDeltaScan, gated_delta_scan, resolve_auto

__all__ = [
    "IMPLEMENTATIONS",
    "GatedDeltaScan",
    "bidirectional_delta_numerator",
    "bidirectional_gated_delta",
    "bidirectional_normaliser",
    "chunk",
    "fused_frame",
    "gated_delta_scan",
    "naive",
    "resolve_auto",
]
