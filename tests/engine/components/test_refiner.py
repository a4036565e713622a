"""LTX2Refiner on the tiny refiner of a tiny bundle: equals diffusers' SanaWMLTX2Refiner on the same files, keeps the
sink, is seeded, reports progress, frees Gemma-3 and caches prompts, and checks its inputs and files."""

from __future__ import annotations

import pytest
import torch
from diffusers import FlowMatchEulerDiscreteScheduler
from diffusers.models.transformers.transformer_sana_wm_refiner import SanaWMLTX2RefinerTransformer3DModel
from diffusers.pipelines.ltx2.connectors import LTX2TextConnectors
from diffusers.pipelines.sana_wm.refiner import SanaWMLTX2Refiner
from transformers import AutoTokenizer, Gemma3ForConditionalGeneration

from engine.components.refiner import LTX2Refiner, refiner_available
from engine.errors import BundleError, SanaWMInputError

PROMPT = "w1 w2 w3"


@pytest.fixture(scope="module")
def refiner(folders) -> LTX2Refiner:
    return LTX2Refiner(*folders)


@pytest.fixture(scope="module")
def latents() -> torch.Tensor:
    return torch.randn(1, 8, 7, 2, 3, generator=torch.Generator().manual_seed(0))  # sink + 2 blocks (3 + 3)


def test_matches_diffusers_refiner_pipeline_on_the_same_files(refiner, folders, latents) -> None:
    root, gemma = folders
    oracle = SanaWMLTX2Refiner(
        transformer=SanaWMLTX2RefinerTransformer3DModel.from_pretrained(root, subfolder="transformer"),
        connectors=LTX2TextConnectors.from_pretrained(root, subfolder="connectors"),
        tokenizer=AutoTokenizer.from_pretrained(str(gemma)),
        text_encoder=Gemma3ForConditionalGeneration.from_pretrained(str(gemma)),
        scheduler=FlowMatchEulerDiscreteScheduler(shift=1.0),
    )
    oracle.set_progress_bar_config(disable=True)
    expected = oracle(latents, PROMPT, fps=16.0, generator=torch.Generator().manual_seed(5), output_type="latent")
    refined = refiner.refine(latents, PROMPT, seed=5)
    torch.testing.assert_close(refined, expected, rtol=0, atol=1e-6)


def test_refines_non_sink_frames_deterministically_and_reports_blocks(refiner, latents) -> None:
    calls: list[tuple[int, int]] = []
    refined = refiner.refine(latents, PROMPT, seed=1, progress=lambda done, total: calls.append((done, total)))
    assert refined.shape == latents.shape and refined.dtype == latents.dtype
    assert torch.equal(refined[:, :, 0], latents[:, :, 0])  # the sink is copied, never refined
    assert (refined[:, :, 1:] - latents[:, :, 1:]).abs().amin(dim=(0, 1, 3, 4)).min() > 0  # every frame changed
    assert calls == [(1, 2), (2, 2)]
    torch.testing.assert_close(refiner.refine(latents, PROMPT, seed=1), refined, rtol=0, atol=0)
    assert not torch.equal(refiner.refine(latents, PROMPT, seed=2), refined)
    assert not torch.equal(refiner.refine(latents, "w7 w8", seed=1), refined)  # the prompt matters


def test_gemma3_is_freed_after_encoding_and_prompts_are_cached(folders, latents, monkeypatch) -> None:
    refiner = LTX2Refiner(*folders)
    assert not refiner.is_loaded
    loads = []
    original = Gemma3ForConditionalGeneration.from_pretrained
    monkeypatch.setattr(Gemma3ForConditionalGeneration, "from_pretrained",
                        lambda *a, **k: (loads.append(1), original(*a, **k))[1])  # fmt: skip
    first = refiner.refine(latents, PROMPT, seed=3)
    assert refiner.is_loaded and refiner._pipe.text_encoder is None and len(loads) == 1
    torch.testing.assert_close(refiner.refine(latents, f"  {PROMPT} ", seed=3), first, rtol=0, atol=0)
    assert len(loads) == 1  # same (stripped) prompt: no reload


def test_a_raising_progress_callback_cancels(refiner, latents) -> None:
    class Cancelled(Exception):
        pass

    def cancel(done: int, total: int) -> None:
        raise Cancelled

    with pytest.raises(Cancelled):
        refiner.refine(latents, PROMPT, progress=cancel)
    assert refiner._progress is None  # nothing left behind for the next call


def test_bad_latents_are_typed_errors(refiner) -> None:
    with pytest.raises(SanaWMInputError, match="more than 1 frame"):
        refiner.refine(torch.zeros(1, 8, 1, 2, 3), PROMPT)
    with pytest.raises(SanaWMInputError, match="8 channels"):
        refiner.refine(torch.zeros(1, 4, 4, 2, 3), PROMPT)
    with pytest.raises(SanaWMInputError, match=r"\(1, C, T, h, w\)"):
        refiner.refine(torch.zeros(8, 4, 2, 3), PROMPT)


def test_availability_and_missing_files_name_folder_and_file(bundle_copy) -> None:
    root = bundle_copy("bidirectional")
    folders = root / "refiner", root / "refiner" / "text_encoder"
    assert refiner_available(*folders)
    (root / "refiner" / "connectors" / "diffusion_pytorch_model.safetensors").unlink()
    (root / "refiner" / "text_encoder" / "tokenizer_config.json").unlink()
    assert not refiner_available(*folders)
    with pytest.raises(BundleError) as info:
        LTX2Refiner(*folders)
    message = str(info.value)
    assert f"{root}/refiner/connectors/diffusion_pytorch_model.safetensors" in message
    assert f"{root}/refiner/text_encoder/tokenizer_config.json" in message
