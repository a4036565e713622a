"""Data workers build the same batches, in the same order, as the training process builds alone: a v2 window's
world-cache input (fusions, GL renders, predicted depth in the workers' own estimator) included."""

from __future__ import annotations

import itertools
import pickle
from pathlib import Path

import torch

from engine.components.patch_codec import PatchDCTCodec
from engine.generation.world_memory import WorldCacheSettings
from engine.train.cache_data import CacheAugment, WindowCacheBuilder
from engine.train.data import TrainingBatch, TrainingData
from engine.train.loader import batch_stream

SIZE = (48, 32)
DEPTH_WEIGHTS = Path(__file__).resolve().parents[3] / "resources/models/sana-wm-tiny/depth.safetensors"


def v2_data(clips) -> TrainingData:
    """Windows of 7 latent frames with every augmentation on, half of them with estimated depth."""
    augment = CacheAugment(predicted_depth_prob=0.5, depth_weights=str(DEPTH_WEIGHTS), drop_all_prob=0.1,
                           drop_chunk_prob=0.2, drop_region_prob=0.5)  # fmt: skip
    builder = WindowCacheBuilder(PatchDCTCodec(8, 16), SIZE, augment, WorldCacheSettings(capacity=4000))
    return TrainingData(clips, PatchDCTCodec(8, 16), SIZE, 7, seed=3, cache_builder=builder)


def assert_same(a: TrainingBatch, b: TrainingBatch) -> None:
    assert a.sources == b.sources
    for name in ("latents", "camera_conditions", "chunk_plucker", "cache"):
        assert torch.equal(getattr(a, name), getattr(b, name)), name


def test_two_workers_give_the_batches_of_the_training_process(depth_clip_factory):
    data = v2_data([depth_clip_factory(i, num_frames=57) for i in range(3)])
    alone = list(itertools.islice(batch_stream(data, 5, 2, workers=0), 3))
    stream = batch_stream(data, 5, 2, workers=2)
    with_workers = list(itertools.islice(stream, 3))
    stream.close()
    assert [b.sources for b in alone] == [[(s.clip, s.start) for s in (data.sample(n), data.sample(n + 1))]
                                          for n in (5, 7, 9)]  # samples 5..10 in order  # fmt: skip
    assert all(b.cache.abs().sum() > 0 for b in alone)  # the cache input is really built
    for a, b in zip(alone, with_workers):
        assert_same(a, b)


def test_a_builder_that_has_rendered_pickles_without_its_gl_context_or_estimator(depth_clip_factory):
    data = v2_data([depth_clip_factory(7)])
    first = [data.sample(n) for n in range(6)]  # some windows with estimated depth: the estimator is loaded
    assert data.cache_builder._memory._renderer is not None and data.cache_builder._loaded_estimator
    copy = pickle.loads(pickle.dumps(data))
    assert copy._cache == {} and copy.cache_builder._memory._renderer is None
    assert copy.cache_builder._estimator is None
    for n, sample in enumerate(first):
        assert torch.equal(sample.cache, copy.sample(n).cache)
