"""The guided (sharp-frame) decode of the patch codec: deblocking removes the block grid and keeps smooth frames,
the cache's detail comes in only where the cache covers and agrees, key frames are warped to the poses between
them instead of cross-faded, and the stream decoder's snapshots restore and serialise exactly."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
import torch

from engine.components.codec import StreamDecoder, decoder_state_from_tensors, from_uint8, to_uint8
from engine.components.guided_decode import (
    DEFAULT_DEPTH,
    FrameGuide,
    GuidedState,
    GuidedStreamDecoder,
    KeyView,
    block_grid_energy,
    deblock,
    fill_depth,
    interpolate_motion,
    transfer_detail,
)
from engine.components.patch_codec import PatchDCTCodec
from engine.errors import SanaWMInputError

H, W = 64, 96
K = np.array([80.0, 80.0, 48.0, 32.0])
WALL = 4.0


def wall_view(x: float) -> np.ndarray:
    """A textured wall ``WALL`` m ahead seen from a camera at ``(x, 0, 0)`` looking down +Z: ``(H, W, 3)`` uint8
    with fine stripes (detail the codec cannot carry) on a smooth gradient."""
    v, u = np.mgrid[0:H, 0:W] + 0.5
    wx, wy = (u - K[2]) / K[0] * WALL + x, (v - K[3]) / K[1] * WALL
    stripes = 40 * np.sign(np.sin(wx * 9.0)) * (np.sin(wy * 5.0) > -0.5)
    base = np.stack([120 + 15 * wx, 110 + 15 * wy, 140 - 10 * wx], -1)
    return (base + stripes[..., None]).clip(0, 255).astype(np.uint8)


def pose(x: float) -> np.ndarray:
    c2w = np.eye(4)
    c2w[0, 3] = x
    return c2w


@dataclass(frozen=True)
class Render:
    colour: np.ndarray
    coverage: np.ndarray
    depth: np.ndarray


def wall_render(c2w: np.ndarray, intrinsics: np.ndarray, covered: slice = slice(None)) -> Render:
    """A perfect cache of the wall (covering the columns ``covered``)."""
    coverage = np.zeros((H, W), bool)
    coverage[:, covered] = True
    colour = np.where(coverage[..., None], wall_view(float(c2w[0, 3])), 0).astype(np.uint8)
    return Render(colour, coverage, np.where(coverage, WALL, np.inf).astype(np.float32))


def blocks(seed: int = 0) -> torch.Tensor:
    """``(2, H, W, 3)`` frames of flat 16-px blocks in [-1, 1] (the worst block grid)."""
    cells = torch.from_numpy(np.random.default_rng(seed).uniform(-0.8, 0.8, (2, H // 16, W // 16, 3))).float()
    return cells.repeat_interleave(16, 1).repeat_interleave(16, 2)


def test_deblocking_removes_the_grid_of_flat_blocks():
    x = blocks()
    before = block_grid_energy(to_uint8(x))
    after = block_grid_energy(to_uint8(deblock(x, 16)))
    assert before > 20 and after < 1.5


def test_deblocking_keeps_smooth_frames_and_is_linear():
    v, u = torch.meshgrid(torch.arange(H).float(), torch.arange(W).float(), indexing="ij")
    ramp = torch.stack([u / W, v / H, (u + v) / (W + H)], -1)[None] - 0.5  # no steps anywhere
    assert torch.allclose(deblock(ramp, 16), ramp, atol=1e-5)
    a, b = blocks(1), blocks(2)
    assert torch.allclose(deblock(2 * a - b, 16), 2 * deblock(a, 16) - deblock(b, 16), atol=1e-5)
    with pytest.raises(SanaWMInputError, match="reach"):
        deblock(a, 16, reach=9)


def test_block_grid_energy_is_about_one_for_a_natural_frame():
    assert block_grid_energy(wall_view(0.0)) == pytest.approx(1.0, abs=0.35)


def test_detail_comes_from_the_cache_where_it_covers_and_agrees():
    codec = PatchDCTCodec(32, 16)
    truth = from_uint8(wall_view(0.0)[None])
    base = deblock(codec.band(truth), 16)  # what the latent gives, deblocked
    covered = torch.zeros(1, H, W, dtype=torch.bool)
    covered[:, :, : W // 2] = True
    out = transfer_detail(base, truth, covered, codec.band, 16)
    inside = slice(8, W // 2 - 8)  # away from the coverage edge (feathered) and from the uncovered half's blocks
    assert torch.allclose(out[:, :, inside], truth[:, :, inside], atol=1e-4)  # agreeing: the cache's full detail
    assert torch.equal(out[:, :, W // 2 :], base[:, :, W // 2 :])  # not covered: the decode, untouched
    # a cache that disagrees with the decode (the model moved something) adds nothing
    other = from_uint8(wall_view(0.0)[None]) * 0.2 - 0.8  # much darker everywhere, with stripes of its own
    assert torch.allclose(transfer_detail(base, other, covered, codec.band, 16), base, atol=1e-6)


def test_depth_is_filled_from_the_nearest_known_depth():
    depth = torch.zeros(H, W)
    covered = torch.zeros(H, W, dtype=torch.bool)
    depth[:, :10], covered[:, :10] = 2.0, True
    depth[:, -10:], covered[:, -10:] = 6.0, True
    filled = fill_depth(depth, covered)
    assert torch.equal(filled[covered], depth[covered])
    assert 2.0 <= float(filled[:, 12].min()) and float(filled[:, 12].max()) < 3.0
    assert 5.0 < float(filled[:, -12].min()) and float(filled[:, -12].max()) <= 6.0
    assert torch.equal(fill_depth(depth, torch.zeros_like(covered)), torch.full((H, W), DEFAULT_DEPTH))


def test_frames_between_key_frames_move_instead_of_cross_fading():
    a_x, b_x = 0.0, 0.4
    keys = [KeyView(from_uint8(wall_view(x)[None])[0], torch.full((H, W), WALL), pose(x), K) for x in (a_x, b_x)]
    t = torch.arange(1, 8, dtype=torch.float32) / 8
    xs = a_x + (b_x - a_x) * t.numpy()
    fade = torch.lerp(keys[0].colour[None], keys[1].colour[None], t[:, None, None, None])
    moved = interpolate_motion(keys[0], keys[1], np.stack([pose(x) for x in xs]), np.tile(K, (7, 1)), t, fade)
    truth = from_uint8(np.stack([wall_view(x) for x in xs]))
    inner = (slice(None), slice(4, -4), slice(12, -12))  # pixels both key frames see
    err_moved = (moved - truth)[inner].abs().mean()
    err_fade = (fade - truth)[inner].abs().mean()
    assert err_moved < 0.25 * err_fade


def decode_all(decoder, latents: torch.Tensor, xs: list[float], split: int, guided: bool = True):
    """Decode ``latents`` in two calls (``split`` latent frames first), with wall renders as the guide."""
    out = []
    for part, poses in ((latents[:, :, :split], xs[: 8 * (split - 1) + 1]), (latents[:, :, split:], xs[8 * (split - 1) + 1 :])):
        c2w = np.stack([pose(x) for x in poses])
        guide = FrameGuide(c2w, np.tile(K, (len(c2w), 1)), wall_render) if guided else None
        out.append(decoder.decode_next(part, guide))
    return out


def test_stream_decoder_is_sharp_unblocked_and_its_snapshots_restore_exactly():
    codec = PatchDCTCodec(32, 16)
    xs = [0.02 * i for i in range(33)]  # 33 frames: latent frames 0, 8, 16, 24, 32
    truth = np.stack([wall_view(x) for x in xs])
    latents = codec.encode(truth)
    decoder = GuidedStreamDecoder(codec)
    assert isinstance(decoder, StreamDecoder)
    first, second = decode_all(decoder, latents, xs, split=3)
    frames = np.concatenate([first, second])
    plain = codec.decode(latents)
    assert frames.shape == plain.shape
    assert block_grid_energy(frames) < 0.5 * block_grid_energy(plain)
    err = lambda x: np.abs(x.astype(float) - truth.astype(float)).mean()  # noqa: E731
    assert err(frames) < 0.5 * err(plain)  # sharp where the (perfect) cache agrees, and moving between keys
    # rewind: restore the state after the first call and decode again -> the same frames, bit for bit
    state = GuidedStreamDecoder(codec)
    state.decode_next(latents[:, :, :3], FrameGuide(np.stack([pose(x) for x in xs[:17]]), np.tile(K, (17, 1)), wall_render))
    snap = state.snapshot()
    c2w = np.stack([pose(x) for x in xs[17:]])
    again = state.decode_next(latents[:, :, 3:], FrameGuide(c2w, np.tile(K, (16, 1)), wall_render))
    assert np.array_equal(again, second)
    state.restore(snap)
    assert np.array_equal(state.decode_next(latents[:, :, 3:], FrameGuide(c2w, np.tile(K, (16, 1)), wall_render)), second)
    # a saved state (tensors + kind) reads back to the same decode
    tensors, meta = snap.to_tensors()
    loaded = decoder_state_from_tensors(GuidedState.kind, tensors, meta)
    fresh = GuidedStreamDecoder(codec)
    fresh.restore(loaded)
    assert np.array_equal(fresh.decode_next(latents[:, :, 3:], FrameGuide(c2w, np.tile(K, (16, 1)), wall_render)), second)


def test_without_a_guide_it_is_the_patch_decode_deblocked():
    codec = PatchDCTCodec(32, 16)
    xs = [0.02 * i for i in range(33)]
    latents = codec.encode(np.stack([wall_view(x) for x in xs]))
    first, second = decode_all(GuidedStreamDecoder(codec), latents, xs, split=3, guided=False)
    plain = codec.decode(latents)
    expected = to_uint8(deblock(from_uint8(plain), 16))
    diff = np.abs(np.concatenate([first, second]).astype(int) - expected.astype(int))
    assert diff.max() <= 3 and diff.mean() < 0.6  # the same up to the uint8 rounding of the plain decode
    with pytest.raises(SanaWMInputError, match="poses of 17 frames"):
        GuidedStreamDecoder(codec).decode_next(latents[:, :, :3], FrameGuide(np.stack([np.eye(4)] * 3), np.tile(K, (3, 1)), wall_render))
