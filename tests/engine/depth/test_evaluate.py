"""``sana-wm depth eval`` on a dataset folder: the reported numbers are the metrics of the network's output."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from engine.depth.data import frames_from_dataset
from engine.depth.evaluate import evaluate
from engine.depth.metrics import depth_scores
from engine.depth.net import DepthNet, DepthNetConfig
from engine.depth.train import predict_depth
from engine.errors import InputFileError
from engine.synth.dataset import DatasetConfig, generate_dataset

SMALL = dict(clips=1, num_frames=9, size=(64, 48), clips_per_world=1, themes=("desert",))


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    out = tmp_path_factory.mktemp("depth_data")
    generate_dataset(out, DatasetConfig(seed=2, **SMALL))
    return out


def test_eval_reports_the_metrics_of_the_prediction_and_a_time(folder, tmp_path):
    torch.manual_seed(0)
    net = DepthNet(DepthNetConfig(widths=(4, 8)))
    result = evaluate(net=net, data=folder, threads=1, figure=tmp_path / "fig.png")
    from PIL import Image

    assert Image.open(tmp_path / "fig.png").size == (3 * 64 + 4, 3 * 48 + 4)
    frames = frames_from_dataset(folder, keep=(0, 4, 8))
    expected = depth_scores(predict_depth(net, frames), frames.depth)
    assert result["frames"] == 3 and result["worlds"] == 1 and result["size"] == [64, 48]
    assert result["abs_rel"] == pytest.approx(expected["abs_rel"]) and result["delta1"] == pytest.approx(expected["delta1"])
    assert result["ms_per_frame"] > 0 and result["ms_per_frame_best"] <= result["ms_per_frame"]
    assert 0.0 <= result["sky_accuracy"] <= 1.0


def test_a_dataset_without_depth_is_refused_naming_the_clip(tmp_path):
    generate_dataset(tmp_path, DatasetConfig(seed=2, depth=False, **SMALL))
    with pytest.raises(InputFileError, match=r"clip_000000\.npz: holds no depth"):
        evaluate(net=DepthNet(DepthNetConfig(widths=(4, 8))), data=tmp_path, threads=1)
