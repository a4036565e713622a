"""GemmaCaptionEncoder on the tiny Gemma-2 of a tiny bundle: the chi prefix and the [0] + [-299..-1] keep rule
(against diffusers' SanaWMPipeline.encode_prompt and against explicit positions), the negative prompt, laziness,
caching and missing files."""

from __future__ import annotations

import types
from pathlib import Path

import pytest
import torch
from diffusers.pipelines.sana_wm.pipeline_sana_wm import SanaWMPipeline
from transformers import AutoModelForCausalLM, AutoTokenizer

from engine.components.gemma_text import GemmaCaptionEncoder, default_chi_prompt
from engine.errors import BundleError

PROMPT = "w1 w2 w3"
LONG = " ".join(f"w{i % 57}" for i in range(400))  # longer than the 300-token budget


@pytest.fixture(scope="module")
def folder(tiny_bundles) -> Path:
    return tiny_bundles["bidirectional"] / "text_encoder"


@pytest.fixture(scope="module")
def reference(folder):
    """The same tokenizer and CausalLM, loaded directly (the oracle's view of the model)."""
    tokenizer = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
    model = AutoModelForCausalLM.from_pretrained(str(folder), local_files_only=True).eval()
    return tokenizer, model


@pytest.fixture(scope="module")
def encoder(folder) -> GemmaCaptionEncoder:
    return GemmaCaptionEncoder(folder)


@pytest.mark.parametrize("prompt", [PROMPT, LONG])
def test_prompt_and_negative_match_diffusers_encode_prompt(encoder, reference, prompt) -> None:
    tokenizer, model = reference
    oracle = types.SimpleNamespace(tokenizer=tokenizer, text_encoder=model)
    with torch.no_grad():
        cond, cond_mask, neg, neg_mask = SanaWMPipeline.encode_prompt(
            oracle, prompt, prompt, device=torch.device("cpu"), chi_prompt=default_chi_prompt()
        )
    caption, mask = encoder.encode(prompt)
    assert caption.shape == (1, 300, 32) and mask.shape == (1, 300)
    torch.testing.assert_close(caption, cond[:, 0], rtol=0, atol=0)
    assert torch.equal(mask, cond_mask)
    negative, negative_mask = encoder.encode_negative(prompt)
    torch.testing.assert_close(negative, neg[:, 0], rtol=0, atol=0)
    assert torch.equal(negative_mask, neg_mask)


def test_keep_rule_takes_bos_then_the_last_299_positions(encoder, reference) -> None:
    tokenizer, model = reference
    chi = "\n".join(default_chi_prompt())
    n_chi = len(tokenizer.encode(chi))  # with <bos>
    total = n_chi + 300 - 2
    tokens = tokenizer([chi + PROMPT], max_length=total, padding="max_length", padding_side="right", truncation=True,
                       return_tensors="pt")  # fmt: skip
    with torch.no_grad():
        full = model.get_decoder()(input_ids=tokens.input_ids, attention_mask=tokens.attention_mask).last_hidden_state
    caption, mask = encoder.encode(PROMPT)
    torch.testing.assert_close(caption[0, 0], full[0, 0], rtol=0, atol=0)  # <bos>
    torch.testing.assert_close(caption[0, 1:], full[0, total - 299 :], rtol=0, atol=0)
    # kept: <bos>, the last chi token, the 3 prompt words; then right padding
    assert mask[0, :5].tolist() == [1] * 5 and int(mask[0, 5:].sum()) == 0
    assert tokens.input_ids[0, n_chi - 1 : n_chi + 3].tolist() == [3, 5, 6, 7]  # '<unk>' (chi tail), w1, w2, w3


def test_negative_prompt_has_no_prefix_and_keeps_300_positions(encoder, reference) -> None:
    tokenizer, model = reference
    tokens = tokenizer([""], max_length=300, padding="max_length", padding_side="right", return_tensors="pt")
    with torch.no_grad():
        plain = model.get_decoder()(input_ids=tokens.input_ids, attention_mask=tokens.attention_mask).last_hidden_state
    negative, mask = encoder.encode_negative()
    torch.testing.assert_close(negative, plain, rtol=0, atol=0)
    assert mask[0].tolist() == [1] + [0] * 299


def test_chi_prompt_is_configurable_and_empty_means_no_prefix(folder) -> None:
    plain = GemmaCaptionEncoder(folder, chi_prompt=[])
    custom = GemmaCaptionEncoder(folder, chi_prompt=["w9 w10", "w11 "])
    default = GemmaCaptionEncoder(folder)
    torch.testing.assert_close(plain.encode(PROMPT)[0], plain.encode_negative(PROMPT)[0], rtol=0, atol=0)
    assert not torch.equal(custom.encode(PROMPT)[0], plain.encode(PROMPT)[0])
    assert not torch.equal(custom.encode(PROMPT)[0], default.encode(PROMPT)[0])
    assert int(custom.encode(PROMPT)[1].sum()) == 1 + 1 + 3  # <bos>, the last chi word "w11", "w1 w2 w3"


def test_lazy_load_free_after_use_and_cache(folder, monkeypatch) -> None:
    encoder = GemmaCaptionEncoder(folder, keep_loaded=False, dtype=torch.bfloat16)
    assert not encoder.is_loaded and encoder.hidden_size == 32
    loads = []
    original = GemmaCaptionEncoder.load

    def counting_load(self: GemmaCaptionEncoder) -> None:
        loads.extend([] if self.is_loaded else [1])
        original(self)

    monkeypatch.setattr(GemmaCaptionEncoder, "load", counting_load)
    caption, _ = encoder.encode(PROMPT)
    assert caption.dtype == torch.bfloat16 and not encoder.is_loaded and len(loads) == 1
    torch.testing.assert_close(encoder.encode(PROMPT)[0], caption, rtol=0, atol=0)  # cached: no reload
    assert len(loads) == 1
    with encoder.loaded():  # several encodes, one load, freed at the end
        encoder.encode("w4")
        encoder.encode_negative("w5")
        assert encoder.is_loaded
    assert not encoder.is_loaded and len(loads) == 2


def test_missing_model_or_tokenizer_files_name_folder_and_file(bundle_copy) -> None:
    root = bundle_copy("bidirectional")
    (root / "text_encoder" / "tokenizer.json").unlink()
    with pytest.raises(BundleError, match=r"text_encoder.*tokenizer\.json or tokenizer\.model"):
        GemmaCaptionEncoder(root / "text_encoder")
    (root / "text_encoder" / "model.safetensors").unlink()
    with pytest.raises(BundleError, match=r"text_encoder.*model\.safetensors"):
        GemmaCaptionEncoder(root / "text_encoder")
