"""The depth training loop: a step lowers the loss on a fixed batch; a resumed run continues its counters."""

from __future__ import annotations

import csv

import numpy as np
import pytest
import torch

from engine.depth.data import Frames
from engine.depth.net import DepthNet, DepthNetConfig
from engine.depth.train import (
    DepthTrainConfig,
    depth_loss,
    list_checkpoints,
    load_checkpoint,
    lr_at,
    random_crop,
    to_tensors,
    train,
    train_step,
)
from engine.errors import ConfigError


def _plane_batch(n: int = 4, h: int = 32, w: int = 48) -> Frames:
    """Images whose brightness encodes the depth of a ground plane seen from 1.5 m (upper rows: sky)."""
    v = np.arange(h) + 0.5
    k = np.array([40.0, 40.0, w / 2, h / 2], np.float32)
    z = np.where(v > h / 2, 1.5 * k[1] / (v - h / 2 + 1e-9), np.inf).astype(np.float32)
    depth = np.repeat(np.repeat(z[None, :, None], w, axis=2), n, axis=0)
    rng = np.random.default_rng(0)
    images = rng.integers(0, 255, (n, h, w, 3), dtype=np.uint8)
    return Frames(images, depth, np.repeat(k[None], n, axis=0), np.zeros(n, np.int64))


def test_one_step_decreases_the_loss_on_a_fixed_batch():
    torch.manual_seed(0)
    net = DepthNet(DepthNetConfig(widths=(4, 8)))
    opt = torch.optim.AdamW(net.parameters(), lr=3e-3)
    images, k, depth = to_tensors(_plane_batch())
    before = train_step(net, opt, images, k, depth)
    with torch.no_grad():
        after = float(depth_loss(*net(images, k), depth))
    assert after < before


def test_flipping_mirrors_image_depth_and_principal_point():
    batch = _plane_batch(2)
    batch.intrinsics[:, 2] = 20.0
    images, k, depth = to_tensors(batch, flip=np.array([True, False]))
    assert torch.equal(images[0], torch.from_numpy(batch.images[0]).permute(2, 0, 1).float().div(255).flip(-1))
    assert k[0, 2].item() == pytest.approx(48 - 20.0) and k[1, 2].item() == pytest.approx(20.0)
    assert torch.equal(depth[0], torch.from_numpy(batch.depth[0]).flip(-1))


def test_a_crop_keeps_pixels_and_their_rays_together():
    batch = _plane_batch(3)
    crop = random_crop(batch, (16, 16), np.random.default_rng(1))
    assert crop.images.shape == (3, 16, 16, 3) and crop.depth.shape == (3, 16, 16)
    for i in range(3):
        x0, y0 = (batch.intrinsics[i, 2:] - crop.intrinsics[i, 2:]).astype(int)
        assert np.array_equal(crop.images[i], batch.images[i, y0 : y0 + 16, x0 : x0 + 16])
        assert np.array_equal(crop.depth[i], batch.depth[i, y0 : y0 + 16, x0 : x0 + 16])


def test_the_learning_rate_warms_up_then_decays_to_its_floor():
    c = DepthTrainConfig(steps=1000, warmup_steps=100, lr=1e-3, min_lr_ratio=0.1)
    assert lr_at(c, 0) == pytest.approx(1e-5) and lr_at(c, 99) == pytest.approx(1e-3)
    assert lr_at(c, 1000) == pytest.approx(1e-4) and lr_at(c, 500) < lr_at(c, 200)


TINY_RUN = dict(widths=(4, 8), size=(64, 32), crop=(48, 32), batch_size=2, steps=2, warmup_steps=1, pool_clips=2, refresh_every=1,
                heldout_clips=1, checkpoint_minutes=60.0)  # fmt: skip


def test_resume_continues_the_step_counter_and_the_data_stream(tmp_path):
    out = tmp_path / "run"
    train(out, DepthTrainConfig(**TINY_RUN))
    first = load_checkpoint(list_checkpoints(out)[-1])
    assert first["step"] == 2 and first["next_clip"] == 4  # 2 pool clips + 1 fresh clip per step
    with pytest.raises(ConfigError, match="--resume"):
        train(out, DepthTrainConfig(**TINY_RUN))
    train(out, DepthTrainConfig(**{**TINY_RUN, "steps": 4}), resume=True)
    last = load_checkpoint(list_checkpoints(out)[-1])
    assert last["step"] == 4 and last["next_clip"] == 6 and last["wall_time_s"] > first["wall_time_s"]
    rows = list(csv.DictReader(open(out / "log.csv")))
    assert [int(r["step"]) for r in rows] == [1, 2, 3, 4]
    held = list(csv.DictReader(open(out / "heldout.csv")))
    assert [int(r["step"]) for r in held] == [2, 4] and 0 <= float(held[-1]["delta1"]) <= 1
    with pytest.raises(ConfigError, match="configuration differs"):
        train(out, DepthTrainConfig(**{**TINY_RUN, "steps": 6, "lr": 1.0}), resume=True)
