"""Training windows of the embedded model v2 get the world-cache input a session would give them: the cache of the
frames before each chunk (never the chunk's own or later frames), augmented reproducibly; a v2 run starts from v1
weights and trains end to end."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch

from engine.bundles import load_embedded_bundle
from engine.components.patch_codec import PatchDCTCodec
from engine.errors import ConfigError, InputFileError
from engine.generation.world_memory import WorldCacheSettings
from engine.train.cache_data import CacheAugment, WindowCacheBuilder, chunk_of_latent, fused_before_chunk
from engine.train.config import TrainConfig
from engine.train.data import TrainingData
from engine.train.loop import train

SIZE = (48, 32)
EXACT = CacheAugment(depth_scale=0.0, depth_noise=0.0, drop_all_prob=0.0, drop_chunk_prob=0.0, drop_region_prob=0.0)


def builder(augment: CacheAugment = EXACT) -> WindowCacheBuilder:
    return WindowCacheBuilder(PatchDCTCodec(8, 16), SIZE, augment, WorldCacheSettings(voxel_size=0.05, capacity=4000))


def window(b: WindowCacheBuilder, clip: Clip, start: int = 0, size: int = 7, seed: int = 0) -> torch.Tensor:
    return b.window_input(clip.frames, clip.depth, clip.c2w, clip.intrinsics, start, size, np.random.default_rng(seed))


def test_the_frames_before_a_chunk_are_those_a_session_fuses():
    assert fused_before_chunk(0, 8, 4) == [0]
    assert fused_before_chunk(1, 8, 4) == [0, 4, 8, 12, 16, 20, 24]
    assert fused_before_chunk(2, 8, 4) == [0, *range(4, 49, 4)]
    assert [chunk_of_latent(j) for j in range(10)] == [0, 0, 0, 0, 1, 1, 1, 2, 2, 2]


def test_a_chunk_never_sees_its_own_or_later_frames(depth_clip_factory):
    clip = depth_clip_factory(0, num_frames=57)
    b = builder()
    start = 1  # window pixel frames 8..56: chunk 0 = latents 0..3, chunk 1 = latents 4..6
    base = window(b, clip, start)
    assert base.shape == (9, 7, 2, 3) and float(base[-1].mean()) > 0.3

    def altered(frames: list[int]) -> torch.Tensor:
        frames_ = clip.frames.copy()
        frames_[frames] = 255 - frames_[frames]
        return window(b, dataclasses.replace(clip, frames=frames_), start)

    torch.testing.assert_close(altered(list(range(0, 8))), base)  # before the window: never used
    torch.testing.assert_close(altered(list(range(8 + 25, 57))), base)  # chunk 1's own frames: unseen
    changed = altered([8 + 24])  # chunk 0's last frame: fused before chunk 1 only
    torch.testing.assert_close(changed[:, :4], base[:, :4])
    assert not torch.allclose(changed[:, 4:], base[:, 4:])
    start_changed = altered([8])  # the window's start image: every chunk sees it
    assert not torch.allclose(start_changed[:, :4], base[:, :4])


def test_start_only_windows_see_the_start_frame_alone(depth_clip_factory):
    clip = depth_clip_factory(0, num_frames=57)
    b = builder(dataclasses.replace(EXACT, start_only_prob=1.0))
    base = window(b, clip, 1)
    frames = clip.frames.copy()
    frames[9:] = 255 - frames[9:]  # every frame after the window's start image
    torch.testing.assert_close(window(b, dataclasses.replace(clip, frames=frames), 1), base)
    assert not torch.allclose(base[:, 4:], window(builder(), clip, 1)[:, 4:])  # the full cache differs after chunk 0
    torch.testing.assert_close(base[:, :4], window(builder(), clip, 1)[:, :4])  # chunk 0 sees the start image either way


def test_augmentations_are_reproducible_and_dropping_gives_nothing_known(depth_clip_factory):
    clip = depth_clip_factory(1)
    noisy = builder(CacheAugment(depth_scale=0.3, depth_noise=0.1, drop_all_prob=0.0, drop_chunk_prob=0.0,
                                 drop_region_prob=1.0))  # fmt: skip
    a, b = window(noisy, clip, seed=4), window(noisy, clip, seed=4)
    torch.testing.assert_close(a, b)
    assert not torch.allclose(a, window(noisy, clip, seed=5))
    assert (a[-1] == 0).any()  # a dropped region
    dropped = window(builder(dataclasses.replace(EXACT, drop_all_prob=1.0)), clip)
    assert torch.count_nonzero(dropped) == 0


def test_predicted_depth_windows_use_the_estimator(depth_clip_factory):
    calls = []

    def estimator(frames: np.ndarray, intrinsics: np.ndarray) -> np.ndarray:
        calls.append(len(frames))
        return np.full(frames.shape[:3], 2.0, np.float32)

    b = WindowCacheBuilder(PatchDCTCodec(8, 16), SIZE, dataclasses.replace(EXACT, predicted_depth_prob=1.0,
                           depth_weights="unused"), WorldCacheSettings(capacity=4000), depth_estimator=estimator)  # fmt: skip
    window(b, depth_clip_factory(2))
    assert calls == [1, 3]  # the start image, then chunk 0's three fused frames (its key frames 8, 16, 24)
    with pytest.raises(ConfigError, match="needs depth_weights"):
        CacheAugment(predicted_depth_prob=0.5)


def test_training_data_needs_clips_with_depth_for_a_cache_model(clip_factory, depth_clip_factory):
    data = TrainingData([clip_factory(3)], PatchDCTCodec(8, 16), SIZE, 7, seed=0, cache_builder=builder())
    with pytest.raises(InputFileError, match="needs clips with depth"):
        data.sample(0)
    data = TrainingData([depth_clip_factory(3)], PatchDCTCodec(8, 16), SIZE, 7, seed=0, cache_builder=builder())
    assert data.batch(0, 2).cache.shape == (2, 9, 7, 2, 3)


def test_a_v2_run_starts_from_v1_weights_and_writes_a_v2_bundle(tmp_path, depth_clip_factory):
    clips = [depth_clip_factory(i) for i in range(2)]
    v1 = TrainConfig(preset="sana-wm-tiny-test", frame_size=SIZE, window_latent_frames=7, steps=1, warmup_steps=1,
                     threads=1, seed=5)  # fmt: skip
    first = train(v1, clips, tmp_path / "v1")
    v2 = dataclasses.replace(v1, model_overrides={"cache_channels": 9}, init_from=str(first.bundle_dir),
                             cache_augment=dataclasses.replace(EXACT, drop_all_prob=0.5))  # fmt: skip
    assert TrainConfig.from_dict(json.loads(json.dumps(v2.to_dict()))) == v2
    second = train(v2, clips, tmp_path / "v2")
    assert np.isfinite(second.final_loss)
    bundle = load_embedded_bundle(second.bundle_dir)
    assert bundle.config.cache_channels == 9
    assert bundle.transformer.cache_embedder.proj.weight.abs().sum() > 0  # the new path was trained
    with pytest.raises(ConfigError, match="cache_channels: expected 9"):
        train(dataclasses.replace(v2, model_overrides={"cache_channels": 5}, init_from=None), clips, tmp_path / "bad")


def test_a_self_rollout_feeds_each_context_chunk_its_own_cache_input():
    from engine.model.chunks import AttentionWindow
    from engine.model.config import SanaWMConfig
    from engine.model.transformer import SanaWMTransformer
    from engine.train.self_rollout import rollout_context

    torch.manual_seed(0)
    model = SanaWMTransformer(SanaWMConfig.from_preset("sana-wm-tiny-test", cache_channels=9)).eval()
    seen = []
    model.register_forward_pre_hook(lambda m, args, kwargs: seen.append(kwargs.get("cache")), with_kwargs=True)
    cache = torch.randn(1, 9, 7, 2, 3)
    cameras = torch.cat([torch.eye(4).flatten(), torch.tensor([40.0, 40, 24, 16])]).repeat(1, 7, 1)  # (1, 7, 20)
    rollout_context(model, torch.randn(1, 8, 7, 2, 3), cameras, torch.zeros(1, 48, 7, 2, 3),
                    AttentionWindow(2, sink=True), torch.Generator().manual_seed(0), cache_input=cache)  # fmt: skip
    assert len(seen) == 5  # chunk 0 only (the last chunk is the target): 4 steps + the commit pass
    for got in seen:
        torch.testing.assert_close(got, cache[:, :, 0:4])
