"""fp8 weight-only copies of the DiT's linear layers, through torchao (the ``low`` tier).

Why a library: fp8 storage with per-row scales, the dequantising linear and their interplay with ``torch.compile``
are torchao's maintained work (``Float8WeightOnlyConfig``: e4m3 weights, one float32 scale per output row, the
activation stays bf16); writing our own would be a second, untested quantiser. torchao quantises ``nn.Linear`` only:
the FFN's 1x1 / depthwise / temporal convolutions (45 % of the DiT's parameters) stay bf16, which the memory plan
counts (:meth:`engine.memory.parts.PartSize.fp8_bytes`).

torchao is part of the ``gpu`` extra (:mod:`engine.memory.extras`); without it the ``low`` tier fails with one line
instead of silently keeping bf16 weights.
"""

from __future__ import annotations

import logging

import torch.nn as nn

from engine.memory.extras import TORCHAO, require

log = logging.getLogger(__name__)


def quantize_fp8(module: nn.Module) -> int:
    """Replace the weights of every ``nn.Linear`` in ``module`` by fp8 (e4m3) weight-only copies with one scale per
    row, in place; returns how many layers were converted. The module's other parameters are untouched."""
    require(TORCHAO, "low")
    from torchao.quantization import Float8WeightOnlyConfig, quantize_

    count = sum(isinstance(m, nn.Linear) for m in module.modules())
    quantize_(module, Float8WeightOnlyConfig())
    log.info("fp8 weight-only: %d linear layers", count)
    return count


__all__ = ["quantize_fp8"]
