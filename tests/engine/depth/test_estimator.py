"""The shipped weights file: round trip, and one clear error naming the file for every bad file."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from engine.depth.estimator import DepthEstimator, load_depth_net, save_depth_weights
from engine.depth.net import DepthNet, DepthNetConfig
from engine.errors import BundleError, IntrinsicsError

TINY = DepthNetConfig(widths=(4, 8))


@pytest.fixture
def weights(tmp_path):
    torch.manual_seed(0)
    return save_depth_weights(DepthNet(TINY), tmp_path / "depth.safetensors", {"step": "0"})


def test_round_trip_gives_the_same_predictions_at_any_image_size(weights):
    torch.manual_seed(0)
    reference = DepthNet(TINY).eval()
    est = DepthEstimator.load(weights)
    image = np.random.default_rng(0).integers(0, 255, (37, 50, 3), dtype=np.uint8)  # padded to 48x64 inside
    depth = est(image, [40.0, 40.0, 25.0, 18.5])
    assert depth.shape == (1, 37, 50) and depth.dtype == np.float32
    x = torch.nn.functional.pad(torch.from_numpy(image).permute(2, 0, 1)[None].float() / 255, (0, 14, 0, 11), mode="replicate")
    with torch.no_grad():
        log_depth, _ = reference(x, torch.tensor([[40.0, 40.0, 25.0, 18.5]]))
    finite = np.isfinite(depth[0])
    assert np.allclose(depth[0][finite], log_depth[0, :37, :50].exp().numpy()[finite], rtol=1e-5)


def _rewrite(src, dst, change):
    tensors = load_file(str(src))
    from safetensors import safe_open

    with safe_open(str(src), framework="pt") as f:
        meta = f.metadata()
    tensors, meta = change(tensors, meta)
    save_file(tensors, str(dst), metadata=meta)


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda t, m: ({k: (v.fill_(float("nan")) if k == "head.weight" else v) for k, v in t.items()}, m), "NaN"),
        (lambda t, m: ({k: (v[:1] if k == "head.weight" else v) for k, v in t.items()}, m), "shape"),
        (lambda t, m: ({k: v for k, v in t.items() if k != "head.bias"}, m), "missing"),
        (lambda t, m: (t, {**m, "format": "other/9"}), "format"),
        (lambda t, m: (t, {**m, "config": json.dumps({"widths": [4, 8, 16], "log_depth_init": 2.0})}), "keys|shape"),
    ],
    ids=["nan", "shape", "missing-key", "format", "config"],
)
def test_bad_weight_files_are_refused_naming_the_file(tmp_path, weights, change, message):
    bad = tmp_path / "bad_depth.safetensors"
    _rewrite(weights, bad, change)
    with pytest.raises(BundleError, match=rf"bad_depth\.safetensors.*({message})"):
        load_depth_net(bad)


def test_missing_and_non_safetensors_files_are_refused_naming_the_file(tmp_path):
    with pytest.raises(BundleError, match=r"nowhere\.safetensors: not found"):
        load_depth_net(tmp_path / "nowhere.safetensors")
    (tmp_path / "junk.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(BundleError, match=r"junk\.safetensors"):
        load_depth_net(tmp_path / "junk.safetensors")


def test_bad_images_and_intrinsics_are_typed_errors(weights):
    est = DepthEstimator.load(weights)
    with pytest.raises(ValueError, match="uint8"):
        est(np.zeros((32, 48, 3), np.float32), [40, 40, 24, 16])
    with pytest.raises(IntrinsicsError):
        est(np.zeros((32, 48, 3), np.uint8), [0, 40, 24, 16])
