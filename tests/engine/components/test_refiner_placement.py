"""LTX2Refiner placement for the memory tiers: leaving after a refine, audio weights kept off the device, block-level
group offloading — each refines exactly as the default placement does (tiny spec §4.4 refiner on the CPU)."""

from __future__ import annotations

import pytest
import torch

import engine.bundles  # noqa: F401  (imports the bundle loaders before the refiner adapter that they import)
from engine.components.refiner import LTX2Refiner, move_except

PROMPT = "w1 w2 w3"


@pytest.fixture(scope="module")
def latents() -> torch.Tensor:
    return torch.randn(1, 8, 7, 2, 3, generator=torch.Generator().manual_seed(0))


@pytest.fixture(scope="module")
def reference(folders, latents) -> torch.Tensor:
    return LTX2Refiner(*folders).refine(latents, PROMPT, seed=7)


def test_a_refiner_that_is_not_resident_leaves_after_refining_with_the_same_result(folders, latents, reference) -> None:
    refiner = LTX2Refiner(*folders, resident=False, audio_on_device=False)
    assert torch.equal(refiner.refine(latents, PROMPT, seed=7), reference)
    assert not refiner.is_loaded
    assert torch.equal(refiner.refine(latents, PROMPT, seed=7), reference)  # loads again; the prompt stays cached


def test_block_offloading_refines_the_same(folders, latents, reference) -> None:
    pytest.importorskip("accelerate", reason="diffusers' group offloading needs accelerate (the gpu extra)")
    refiner = LTX2Refiner(*folders, resident=False, offload=True)
    assert refiner.offload and not refiner.audio_on_device
    torch.testing.assert_close(refiner.refine(latents, PROMPT, seed=7), reference, rtol=0, atol=1e-6)


def test_the_video_only_forward_never_reads_the_audio_weights(folders, latents, reference) -> None:
    refiner = LTX2Refiner(*folders)
    refiner.load()
    transformer = refiner._pipe.transformer
    audio = [n for n, _ in transformer.named_parameters() if "audio" in n]
    assert audio
    for name, module in transformer.named_modules():  # audio weights unreadable: any use would fail
        for key, p in list(module._parameters.items()):
            if p is not None and "audio" in f"{name}.{key}":
                module._parameters[key] = torch.nn.Parameter(p.to("meta"), requires_grad=False)
    assert torch.equal(refiner.refine(latents, PROMPT, seed=7), reference)


def test_move_except_leaves_the_skipped_tensors_where_they_are() -> None:
    module = torch.nn.ModuleDict({"video": torch.nn.Linear(2, 2), "audio_proj": torch.nn.Linear(2, 2)})
    move_except(module, torch.device("meta"), skip="audio")
    assert module["video"].weight.device.type == "meta" and isinstance(module["video"].weight, torch.nn.Parameter)
    assert module["audio_proj"].weight.device.type == "cpu"
