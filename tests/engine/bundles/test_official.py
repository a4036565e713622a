"""Official bundle folders: the tiny bundles of every layout load strictly and their parts work together; each
missing part is a BundleError naming the folder and the file expected; nothing touches the network."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from engine.components.gemma_text import GemmaCaptionEncoder
from engine.components.ltx2_vae import LTX2VideoCodec
from engine.bundles.official import OFFICIAL_FRAME_SIZE, find_layout, load_official_bundle
from engine.components.refiner import LTX2Refiner
from engine.errors import BundleError
from engine.testing.tiny_official_bundle import LABEL, TINY_FRAME_SIZE, build_tiny_official_bundle


def _load(root: Path, **kwargs):
    kwargs.setdefault("frame_size", TINY_FRAME_SIZE if find_layout(root).kind == "diffusers" else None)
    return load_official_bundle(root, **kwargs)


@pytest.mark.parametrize("layout", ["bidirectional", "streaming", "diffusers"])
def test_tiny_bundles_load_with_every_part(tiny_bundles, layout) -> None:
    root = tiny_bundles[layout]
    bundle = _load(root)
    assert bundle.extras["kind"] == layout and bundle.source == root
    assert isinstance(bundle.codec, LTX2VideoCodec) and bundle.codec.causal is (layout == "streaming")
    assert isinstance(bundle.text_encoder, GemmaCaptionEncoder) and isinstance(bundle.refiner, LTX2Refiner)
    assert bundle.frame_size == TINY_FRAME_SIZE and bundle.latent_grid == (3, 2)
    assert bundle.default_intrinsics is None
    if layout != "diffusers":
        assert bundle.name == f"sana-wm-tiny-{layout}" and bundle.label == LABEL
        assert bundle.text_encoder.chi_prompt[-1] == "User Prompt: "  # read from the YAML
    rows = bundle.extras["layout"].describe()
    assert all(present for part, _, present in rows if part != "config" or layout != "diffusers")


def test_bidirectional_weights_are_the_files(tiny_bundles) -> None:
    root = tiny_bundles["bidirectional"]
    bundle = load_official_bundle(root)
    saved = load_file(root / "dit" / "sana_wm_tiny_test.safetensors")
    state = bundle.transformer.state_dict()
    assert state.keys() == saved.keys()
    assert all(torch.equal(state[k], saved[k]) for k in saved)
    vae_saved = load_file(root / "vae" / "diffusion_pytorch_model.safetensors")
    vae_state = bundle.codec.vae.state_dict()
    assert vae_state.keys() == vae_saved.keys() and all(torch.equal(vae_state[k], vae_saved[k]) for k in vae_saved)


def test_parts_work_together_image_to_refined_frames(tiny_bundles) -> None:
    bundle = load_official_bundle(tiny_bundles["streaming"])
    width, height = bundle.frame_size
    image = np.random.default_rng(0).integers(0, 256, (1, height, width, 3), dtype=np.uint8)
    first = bundle.codec.encode(image)  # (1, 8, 1, 2, 3)
    latents = torch.cat([first, torch.randn(1, 8, 3, 2, 3, generator=torch.Generator().manual_seed(0))], dim=2)
    caption, mask = bundle.text_encoder.encode("w1 w2 w3")
    with torch.no_grad():
        velocity = bundle.transformer(latents, torch.tensor([[0.0, 500.0, 500.0, 500.0]]), caption, mask)
    assert velocity.shape == latents.shape and torch.isfinite(velocity).all()
    latents[:, :, 1:] -= 0.1 * velocity[:, :, 1:]  # one Euler-like step on the generated frames
    refined = bundle.refiner.refine(latents, "w1 w2 w3", seed=0)
    assert torch.equal(refined[:, :, :1], first)  # the image latent is the untouched sink
    frames = bundle.codec.stream_decoder().decode_next(refined)
    assert frames.shape == (25, height, width, 3) and frames.dtype == np.uint8


MISSING = [
    ("bidirectional", "config.yaml", "config.yaml"),
    ("bidirectional", "dit/sana_wm_tiny_test.safetensors", "dit/<name>.safetensors"),
    ("bidirectional", "vae/config.json", "vae/config.json"),
    ("bidirectional", "vae/diffusion_pytorch_model.safetensors", "vae/diffusion_pytorch_model.safetensors"),
    ("bidirectional", "text_encoder/model.safetensors", "text_encoder/model.safetensors"),
    ("bidirectional", "text_encoder/tokenizer.json", "text_encoder/tokenizer.json or tokenizer.model"),
    ("bidirectional", "refiner/transformer/config.json", "refiner/transformer/config.json"),
    ("bidirectional", "refiner/text_encoder/model.safetensors", "refiner/text_encoder/model.safetensors"),
    ("streaming", "sana_dit/model.pt", "sana_dit/model.pt"),
    ("streaming", "ltx2_causal_vae/diffusion_pytorch_model.safetensors",
     "ltx2_causal_vae/diffusion_pytorch_model.safetensors"),
    ("streaming", "gemma-2-2b-it/config.json", "gemma-2-2b-it/config.json"),
    ("streaming", "refiner_diffusers/connectors/config.json", "refiner_diffusers/connectors/config.json"),
    ("streaming", "gemma3_12b/tokenizer_config.json", "gemma3_12b/tokenizer_config.json"),
    ("diffusers", "transformer/diffusion_pytorch_model.safetensors",
     "transformer/diffusion_pytorch_model.safetensors"),
    ("diffusers", "tokenizer/tokenizer_config.json", "tokenizer/tokenizer_config.json"),
]  # fmt: skip


@pytest.mark.parametrize(("layout", "remove", "expected"), MISSING, ids=[f"{m[0]}:{m[1]}" for m in MISSING])
def test_a_missing_part_names_the_folder_and_file(bundle_copy, layout, remove, expected) -> None:
    root = bundle_copy(layout)
    (root / remove).unlink()
    with pytest.raises(BundleError) as info:
        _load(root)
    message = str(info.value)  # the folder, then the file inside it (relative, to keep the line short)
    assert str(root) in message and expected in message and len(message) < 400


def test_refiner_is_optional_and_can_be_skipped(bundle_copy) -> None:
    root = bundle_copy("bidirectional")
    (root / "refiner" / "connectors" / "config.json").unlink()  # broken refiner ...
    assert load_official_bundle(root, refiner=False).refiner is None  # ... is not even checked with --no_refiner
    shutil.rmtree(root / "refiner")
    bundle = load_official_bundle(root)  # a bundle without a refiner folder just has none
    assert bundle.refiner is None and bundle.text_encoder is not None


def test_gemma2_folder_may_live_outside_the_bundle(bundle_copy, tmp_path) -> None:
    root = bundle_copy("bidirectional")
    outside = tmp_path / "gemma-2-2b-it"
    shutil.move(root / "text_encoder", outside)
    with pytest.raises(BundleError, match="Gemma-2 text encoder"):
        load_official_bundle(root)
    assert load_official_bundle(root, text_encoder_folder=outside).text_encoder.folder == outside


def test_not_a_bundle_and_ambiguous_or_inconsistent_parts(bundle_copy, tmp_path) -> None:
    with pytest.raises(BundleError, match="no such bundle folder"):
        load_official_bundle(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(BundleError, match="sana_dit/model.pt"):
        load_official_bundle(tmp_path / "empty")
    root = bundle_copy("bidirectional")
    os.link(root / "dit" / "sana_wm_tiny_test.safetensors", root / "dit" / "other.safetensors")
    with pytest.raises(BundleError, match="exactly one Stage-1 checkpoint"):
        load_official_bundle(root)
    (root / "dit" / "other.safetensors").unlink()
    config_path = root / "text_encoder" / "config.json"
    config = json.loads(config_path.read_text())
    config_path.unlink()  # a hard link: replace, do not edit in place
    config_path.write_text(json.dumps({**config, "hidden_size": 48}))
    with pytest.raises(BundleError, match=r"text_encoder/config.json: hidden_size 48 != DiT caption_channels 32"):
        load_official_bundle(root)


def test_frame_size_defaults_to_the_official_size_and_can_be_overridden(tiny_bundles) -> None:
    root = tiny_bundles["diffusers"]  # no YAML, so no sana_wm_explorer section
    assert load_official_bundle(root, refiner=False).frame_size == OFFICIAL_FRAME_SIZE == (1280, 704)
    assert load_official_bundle(root, refiner=False, frame_size=(64, 32)).frame_size == (64, 32)
    with pytest.raises(BundleError, match="multiple of the VAE's 32 pixels"):
        load_official_bundle(root, refiner=False, frame_size=(100, 64))


def test_builder_refuses_a_non_empty_folder(tmp_path) -> None:
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "file").write_text("")
    with pytest.raises(FileExistsError):
        build_tiny_official_bundle(tmp_path / "x")


def test_loading_and_running_never_touch_the_network(tiny_bundles, monkeypatch, blocked_network) -> None:
    attempts = blocked_network
    for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):
        monkeypatch.delenv(name, raising=False)

    bundle = load_official_bundle(tiny_bundles["bidirectional"])
    caption, mask = bundle.text_encoder.encode("w1 w2")
    bundle.text_encoder.encode_negative("")
    refined = bundle.refiner.refine(torch.zeros(1, 8, 4, 2, 3), "w1 w2", seed=0)
    assert caption.shape == (1, 300, 32) and refined.shape == (1, 8, 4, 2, 3)
    assert attempts == []
    assert os.environ["HF_HUB_OFFLINE"] == "1" and os.environ["TRANSFORMERS_OFFLINE"] == "1"
