"""engine.memory.fp8 and .extras: torchao's fp8 weight-only linear layers, or one clear line when a library of the
gpu extra is missing."""

from __future__ import annotations

import pytest
import torch

from engine.errors import GPUMemoryError
from engine.memory import extras, fp8
from engine.memory.tiers import POLICIES


def test_without_the_gpu_extra_the_low_tier_fails_before_loading_with_one_line(monkeypatch) -> None:
    monkeypatch.setattr(extras, "available", lambda module: False)
    with pytest.raises(GPUMemoryError, match=r"--memory low: fp8 DiT weights need torchao .* found it not installed"):
        extras.require_extras(POLICIES["low"])
    with pytest.raises(GPUMemoryError):
        fp8.quantize_fp8(torch.nn.Linear(4, 4))
    monkeypatch.setattr(extras, "available", lambda module: module == "torchao")
    with pytest.raises(GPUMemoryError, match="the refiner's group offloading need accelerate"):
        extras.require_extras(POLICIES["low"])
    extras.require_extras(POLICIES["low"], refine=False)  # no refiner: no offloading
    extras.require_extras(POLICIES["balanced"])  # needs neither


def test_the_dit_runs_with_fp8_linear_weights_close_to_bf16() -> None:
    pytest.importorskip("torchao", reason="torchao is the gpu extra (pip install -e '.[gpu]'); not installed here")
    from engine.bundles import ModelBundle

    model = ModelBundle.random("sana-wm-tiny-test", dtype=torch.bfloat16).transformer
    x = torch.randn(1, 8, 2, 3, 4, dtype=torch.bfloat16)
    t = torch.tensor([[0.0, 500.0]])
    with torch.inference_mode():
        reference = model(x, t)
    converted = fp8.quantize_fp8(model)
    with torch.inference_mode():
        out = model(x, t)
    assert converted == sum(isinstance(m, torch.nn.Linear) for m in model.modules()) > 0
    assert type(model.t_block[1].weight).__name__ == "Float8Tensor"
    error = (out.float() - reference.float()).abs().max() / reference.float().abs().max()
    assert error < 0.1
