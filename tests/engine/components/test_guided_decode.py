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
    SKY_DEPTH,
    SharpSettings,
    block_grid_energy,
    deblock,
    fill_depth,
    interpolate_motion,
    observed_render,
    start_view,
    transfer_detail,
    warp_view,
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
    # a cache that disagrees with the decode beyond twice the gate (the model moved something) adds nothing
    other = from_uint8(wall_view(0.0)[None]) * 0.2 - 0.8  # much darker everywhere, with stripes of its own
    strict = SharpSettings(gate=20)
    assert torch.allclose(transfer_detail(base, other, covered, codec.band, 16, strict), base, atol=1e-6)


def test_observed_render_replaces_the_low_band_where_it_covers_and_agrees():
    codec = PatchDCTCodec(32, 16)
    truth = from_uint8(wall_view(0.0)[None])
    base = deblock(codec.band(truth), 16) + 0.1  # the model's band, 13 levels too bright
    everywhere = torch.ones(1, H, W, dtype=torch.bool)
    detail_only = transfer_detail(base, truth, everywhere, codec.band, 16)
    half = torch.zeros(1, H, W, dtype=torch.bool)
    half[:, :, : W // 2] = True
    out = transfer_detail(base, truth, everywhere, codec.band, 16, observed=(truth, half))
    inside = slice(8, W // 2 - 8)
    assert torch.allclose(out[:, :, inside], truth[:, :, inside], atol=1e-4)  # observed and agreeing: the real image
    assert (detail_only[:, :, inside] - truth[:, :, inside]).mean() == pytest.approx(0.1, abs=0.01)  # band kept
    assert torch.equal(out[:, :, W // 2 :], detail_only[:, :, W // 2 :])  # not observed: detail only
    # no trust: the observed render changes nothing; a render beyond twice the gate is not trusted
    off = SharpSettings(band_trust=0.0)
    assert torch.equal(transfer_detail(base, truth, everywhere, codec.band, 16, off, (truth, half)), detail_only)
    strict = SharpSettings(gate=20)
    far = truth * 0.2 - 0.8
    assert torch.equal(transfer_detail(base, truth, everywhere, codec.band, 16, strict, (far, half)),
                       transfer_detail(base, truth, everywhere, codec.band, 16, strict))


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


def fine_wall(x: float) -> np.ndarray:
    """The wall with band-limited detail only (a sinusoid of 0.3 cycles per pixel across it): what a bilinear lookup
    half a pixel off attenuates most, and has no edges for a bicubic one to ring on."""
    v, u = np.mgrid[0:H, 0:W] + 0.5
    wx = (u - K[2]) / K[0] * WALL + x
    level = 128 + 60 * np.sin(2 * np.pi * 0.3 * wx * K[0] / WALL) + 0 * v
    return np.repeat(level[..., None], 3, -1).clip(0, 255).astype(np.uint8)


def test_bicubic_lookups_keep_the_frames_between_key_frames_sharp():
    """Between key frames the warp lands between pixels; a bilinear lookup averages neighbours there (a softer frame
    7 times in 8), a bicubic one keeps fine detail, and is closer to the truth."""
    from engine.eval.metrics import sharpness

    keys = [KeyView(from_uint8(fine_wall(x)[None])[0], torch.full((H, W), WALL), pose(x), K) for x in (0.0, 0.3)]
    t = torch.arange(1, 8, dtype=torch.float32) / 8
    c2w = np.stack([pose(0.3 * float(s)) for s in t])  # 0.75 px per frame
    fade = torch.lerp(keys[0].colour[None], keys[1].colour[None], t[:, None, None, None])
    inner = (slice(None), slice(4, -4), slice(12, -12))
    truth = np.stack([fine_wall(float(c[0, 3])) for c in c2w])[inner]
    ratio, err = {}, {}
    for mode in ("bilinear", "bicubic"):
        moved = to_uint8(interpolate_motion(*keys, c2w, np.tile(K, (7, 1)), t, fade, SharpSettings(sampling=mode)))
        ratio[mode] = float(np.mean(sharpness(moved[inner]) / sharpness(truth)))
        err[mode] = float(np.abs(moved[inner].astype(float) - truth).mean())
    assert ratio["bilinear"] < 0.8 and 0.9 < ratio["bicubic"] < 1.1, ratio
    assert err["bicubic"] < 0.7 * err["bilinear"], err
    with pytest.raises(SanaWMInputError, match="sampling: expected 'bilinear' or 'bicubic', found 'nearest'"):
        SharpSettings(sampling="nearest")


def frame_errors(frames: np.ndarray, truth: np.ndarray, border: int = 0) -> np.ndarray:
    """Mean absolute error (0-255) of each frame against the truth, ``border`` pixels in from the edges."""
    inner = (slice(None), slice(border, -border or None), slice(border, -border or None))
    return np.abs(frames[inner].astype(float) - truth[inner].astype(float)).mean(axis=(1, 2, 3))


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
    assert frame_errors(frames, truth).mean() < 0.5 * frame_errors(plain, truth).mean()  # sharp where the (perfect) cache agrees, and moving between keys
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


def test_stream_decoder_shows_the_observed_render_over_a_drifted_band():
    codec = PatchDCTCodec(32, 16)
    xs = [0.02 * i for i in range(17)]
    truth = np.stack([wall_view(x) for x in xs])
    drifted = codec.encode(np.clip(truth.astype(int) + 20, 0, 255).astype(np.uint8))  # the model: 20 levels too bright
    c2w = np.stack([pose(x) for x in xs])
    detail_only = GuidedStreamDecoder(codec).decode_next(drifted, FrameGuide(c2w, np.tile(K, (17, 1)), wall_render))
    observed = FrameGuide(c2w, np.tile(K, (17, 1)), wall_render, observed=wall_render)
    shown = GuidedStreamDecoder(codec).decode_next(drifted, observed)
    assert frame_errors(detail_only, truth, border=8).mean() > 15  # detail from the cache, the model's (wrong) brightness
    # the real image, seen again, as it was: exact at the key frames (0, 8, 16), and the frames between them carry
    # only the lookup's interpolation error on this sharp-edged wall (measured 2.3 bilinear, 3.1 bicubic)
    assert frame_errors(shown, truth, border=8)[::8].max() < 0.5
    assert frame_errors(shown, truth, border=8).mean() < 3.5


def test_a_view_warps_to_a_new_pose_and_says_where_it_sees():
    view = KeyView(from_uint8(wall_view(0.0)[None])[0], torch.full((H, W), WALL), pose(0.0), K)
    colour, seen = warp_view(view, pose(0.4)[None], K[None])
    truth = from_uint8(wall_view(0.4)[None])
    # the camera moved 0.4 m right: the wall's right edge (8 px at 4 m) is new, the rest is the old view shifted
    assert seen[0, :, : W - 12].all() and not seen[0, :, W - 4 :].any()
    inner = (slice(None), slice(4, -4), slice(4, W - 12))
    assert (colour - truth)[inner].abs().mean() < 0.03  # stripes in place, not blurred away (they span 0.5)
    # with a z-buffered depth of the new pose (here: the wall, 2 cm off, as voxels give it) the same frame
    colour, seen = warp_view(view, pose(0.4)[None], K[None], depth=np.full((1, H, W), WALL + 0.02, np.float32))
    assert seen[0, :, : W - 12].all() and not seen[0, :, W - 4 :].any()
    assert (colour - truth)[inner].abs().mean() < 0.03


def test_the_observed_render_is_the_start_view_warped_onto_the_voxels_depth_and_its_sky():
    depth = np.full((H, W), WALL, np.float32)
    depth[:8] = np.inf  # sky in the top rows
    view = start_view(wall_view(0.0), depth, K)
    assert view.depth[0, 0] == SKY_DEPTH and view.depth[-1, -1] == WALL and np.array_equal(view.c2w, np.eye(4))
    alone = observed_render(view)(pose(0.4), K)
    assert alone.colour.dtype == np.uint8 and not alone.coverage[8:, -4:].any()
    assert alone.coverage[:5].all()  # the sky, far away, is seen from the new pose too (row 5 on: blended geometry)

    def voxels(c2w, k):  # splats of the same wall on the right half, and a nearer grey post in columns 60-69
        r = wall_render(c2w, k, covered=slice(W // 2, None))
        r.colour[:, 60:70], r.depth[:, 60:70] = 90, 2.0
        return r

    merged = observed_render(view, voxels=voxels)(pose(0.4), K)
    assert merged.coverage[voxels(pose(0.4), K).coverage].all()  # what the voxels cover
    assert merged.coverage[:5].all()  # and the view's sky, which no voxel holds
    assert not merged.coverage[12:, : W // 2].any()  # no voxel and no sky: not known (the warp alone would guess)
    same = (slice(8, None), slice(W // 2 + 2, 58))  # the same surface: the image warped at full resolution
    assert np.abs(merged.colour[same].astype(int) - wall_view(0.4)[same].astype(int)).mean() < 4
    assert (merged.colour[8:, 60:70] == 90).all()  # something nearer in front: the voxels' depth test wins
    assert np.array_equal(merged.colour[8:, -4:], wall_view(0.4)[8:, -4:])  # what the warp cannot see: the voxels
