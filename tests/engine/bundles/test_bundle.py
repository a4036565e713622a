"""Model bundles: random plumbing bundles, the embedded folder format (save + strict load), source dispatch."""

import json

import numpy as np
import pytest
import torch

import engine.bundles.load as bundle_mod
from engine.bundles import ModelBundle, load_bundle, load_embedded_bundle, save_bundle
from engine.errors import BundleError, CheckpointError


def test_random_bundles_are_labelled_and_sized():
    b = ModelBundle.random("sana-wm-tiny-test", frame_size=(64, 32), spatial_factor=16)
    assert b.latent_grid == (4, 2) and b.config.in_channels == b.codec.latent_channels == 8
    assert "plumbing" in b.display_name and not b.config.text_conditioning
    assert b.default_intrinsics[0] == pytest.approx(32 / np.tan(np.radians(30)))


def test_embedded_format_round_trips_exactly(tmp_path):
    b = ModelBundle.random("sana-wm-tiny-test", frame_size=(64, 32), spatial_factor=16, seed=3)
    b.extras["trained"] = {"steps": 0}
    b.context_frames = 13
    b.contrast_floor = 0.5
    save_bundle(b, tmp_path / "m")
    loaded = load_bundle(tmp_path / "m")
    assert loaded.name == b.name and loaded.frame_size == (64, 32) and loaded.extras == b.extras
    assert loaded.context_frames == 13 and loaded.contrast_floor == 0.5
    assert loaded.config == b.config and loaded.codec.latent_channels == 8 and loaded.codec.spatial_factor == 16
    assert np.allclose(loaded.default_intrinsics, b.default_intrinsics)
    for (k, v), (k2, v2) in zip(b.transformer.state_dict().items(), loaded.transformer.state_dict().items()):
        assert k == k2 and torch.equal(v, v2)


def test_embedded_loading_is_strict_and_names_missing_parts(tmp_path):
    b = ModelBundle.random("sana-wm-tiny-test", frame_size=(64, 32), spatial_factor=16)
    folder = save_bundle(b, tmp_path / "m")
    meta = json.loads((folder / "bundle.json").read_text())
    meta["config"]["depth"] = 5  # weights for 4 blocks only
    (folder / "bundle.json").write_text(json.dumps(meta))
    with pytest.raises(CheckpointError):
        load_embedded_bundle(folder)
    (folder / "model.safetensors").unlink()
    with pytest.raises(BundleError, match="model.safetensors"):
        load_embedded_bundle(folder)
    with pytest.raises(BundleError, match="bundle.json"):
        load_embedded_bundle(tmp_path)
    meta["context_latent_frames"] = "13"
    (folder / "bundle.json").write_text(json.dumps(meta))
    with pytest.raises(BundleError, match="context_latent_frames: expected a positive integer or null, found the string '13'"):
        load_embedded_bundle(folder)
    meta["context_latent_frames"] = 13
    for bad, shown in ((1.5, "1.5"), ("0.5", "0.5"), (True, "True")):
        meta["contrast_floor"] = bad
        (folder / "bundle.json").write_text(json.dumps(meta))
        with pytest.raises(BundleError, match=f"contrast_floor: expected a share in \\[0, 1\\], found {shown}"):
            load_embedded_bundle(folder)
    with pytest.raises(BundleError, match="nothing at that path"):
        load_bundle(tmp_path / "missing")


def test_default_without_a_shipped_model_is_a_labelled_random_bundle(tmp_path, monkeypatch):
    monkeypatch.setattr(bundle_mod, "EMBEDDED_MODEL_DIR", tmp_path / "none")
    b = load_bundle(None)
    assert "random weights" in b.label and b.config.preset == bundle_mod.FALLBACK_PRESET


def test_default_uses_the_shipped_embedded_model_when_present(tmp_path, monkeypatch):
    save_bundle(ModelBundle.random("sana-wm-tiny-test", frame_size=(64, 32), spatial_factor=16), tmp_path / "m")
    monkeypatch.setattr(bundle_mod, "EMBEDDED_MODEL_DIR", tmp_path / "m")
    assert load_bundle(None).source == tmp_path / "m"
