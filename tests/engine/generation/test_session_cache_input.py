"""A model with a world-cache input (the embedded model v2) is fed, for every chunk, the cache as it stood before
the chunk (by default its observed part: the start image's voxels, never the generated frames') rendered at the
poses of the chunk's latent key frames, in every sampling step and in the commit pass; without a depth source it
sees "nothing known", and a model without that input is never given one."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from engine.bundles import ModelBundle
from engine.generation.session import StreamSettings, WorldSession
from engine.generation.world_memory import WorldCacheSettings, cache_conditioning
from engine.world_cache import observed_part

FRAME = (96, 64)
K = (80.0, 80.0, 48.0, 32.0)


def plane_depth(frames: np.ndarray, intrinsics: np.ndarray) -> np.ndarray:
    """A fake depth source: a wall 4 m in front of every camera."""
    return np.full(frames.shape[:3], 4.0, np.float32)


def image() -> np.ndarray:
    y, x = np.mgrid[0:64, 0:96]
    return np.stack([x * 2, y * 3, 255 - x], -1).clip(0, 255).astype(np.uint8)


def poses(first: int) -> np.ndarray:
    c2w = np.tile(np.eye(4), (24, 1, 1))
    c2w[:, 0, 3] = 0.03 * np.arange(first, first + 24)  # sideways, so each pose differs
    return c2w


def v2_bundle() -> ModelBundle:
    bundle = ModelBundle.random("sana-wm-tiny-test", frame_size=FRAME, spatial_factor=16, sdpa_bf16=False,
                                cache_channels=9)  # fmt: skip
    with torch.no_grad():  # a "trained" cache path, so the input matters
        bundle.transformer.cache_embedder.proj.weight.normal_(generator=torch.Generator().manual_seed(1))
    return bundle


class Spy:
    """Records the cache input of every model call and every cache render request of a session."""

    def __init__(self, session: WorldSession) -> None:
        self.caches: list[torch.Tensor | None] = []
        self.renders: list[tuple[object, np.ndarray, np.ndarray, list]] = []
        session.bundle.transformer.register_forward_pre_hook(self._model, with_kwargs=True)
        memory = session.world_memory
        if memory is not None:
            render_frames = memory.render_frames

            def spy(world, c2w, intrinsics, size):
                out = render_frames(world, c2w, intrinsics, size)
                self.renders.append((world, np.array(c2w), np.array(intrinsics), out))
                return out

            memory.render_frames = spy

    def _model(self, module, args, kwargs):
        self.caches.append(kwargs.get("cache"))


def session_of(bundle: ModelBundle, depth=plane_depth, *, sees_generated: bool = False) -> WorldSession:
    settings = WorldCacheSettings(voxel_size=0.05, capacity=5000, model_sees_generated=sees_generated)
    session = WorldSession(bundle, StreamSettings(seed=3), depth=depth, world_cache=settings)
    session.start(image(), intrinsics=K)
    return session


@pytest.mark.parametrize("sees_generated", [False, True])
def test_each_chunk_sees_the_cache_before_it_rendered_at_its_key_frame_poses(sees_generated):
    session = session_of(v2_bundle(), sees_generated=sees_generated)
    spy = Spy(session)
    start_world = session.world_cache
    first, second = poses(1), poses(25)
    session.step(first)
    after_chunk0 = session.world_cache
    session.step(second)

    assert len(spy.renders) == 2
    (world0, c2w0, k0, renders0), (world1, c2w1, k1, renders1) = spy.renders
    assert world0 is start_world  # the start image alone: all observed
    # never the chunk's own frames; by default only what was observed, which the generated chunk 0 left as it was
    assert len(after_chunk0) > len(start_world)
    if sees_generated:
        assert world1 is after_chunk0
    else:
        assert np.array_equal(world1.voxels, observed_part(after_chunk0).voxels)
        fields = ["keys", "offsets", "colours", "weights", "sizes"]
        assert np.array_equal(world1.voxels[fields], start_world.voxels[fields])
    # chunk 0: latent frames 0..3 = pixel frames 0, 8, 16, 24 (frame 0 = the start image at the identity)
    np.testing.assert_allclose(c2w0, np.stack([np.eye(4), first[7], first[15], first[23]]))
    # chunk 1: latent frames 4..6 = pixel frames 32, 40, 48
    np.testing.assert_allclose(c2w1, np.stack([second[7], second[15], second[23]]))
    np.testing.assert_allclose(k0, np.tile(K, (4, 1)))

    assert len(spy.caches) == 2 * 5  # 4 sampling steps + the commit pass per chunk
    for chunk, renders in enumerate((renders0, renders1)):
        expected = cache_conditioning(renders, session.bundle.codec)
        for cache in spy.caches[5 * chunk : 5 * chunk + 5]:
            assert cache is not None and torch.equal(cache, expected)
    assert float(spy.caches[0][0, -1].mean()) > 0.5  # the wall covers most of the view


def test_without_a_depth_source_the_v2_model_sees_nothing_known():
    bundle = v2_bundle()
    session = session_of(bundle, depth=None)
    spy = Spy(session)
    record = session.step(poses(1))
    assert spy.caches == [None] * 5 and not spy.renders
    with_cache = session_of(bundle).step(poses(1))
    assert not torch.equal(record.latents, with_cache.latents)  # the cache input changes what is generated


def test_a_model_without_a_cache_input_is_never_given_one():
    bundle = ModelBundle.random("sana-wm-tiny-test", frame_size=FRAME, spatial_factor=16, sdpa_bf16=False)
    session = session_of(bundle)
    spy = Spy(session)
    session.step(poses(1))
    assert spy.caches == [None] * 5 and not spy.renders
