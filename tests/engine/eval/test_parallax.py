"""The parallax check: block-matching flow, the expansion fit, forward pairs, and the scores' anchors (the truth
scores 1, a frozen stream 0), on a synthetic zoom and on a rendered forward drive through the eval protocol."""

import math
from dataclasses import replace

import numpy as np
import pytest
import torch
from PIL import Image

from engine.eval.parallax import (
    GAP,
    block_flow,
    expansion,
    forward_pairs,
    parallax_reference,
    parallax_scores,
    tile_centres,
    tile_grid,
    tiles_inside,
)

SIZE = (160, 112)  # (W, H): 8 x 5 tiles of 16 inside a 16-pixel search border
FRAMES = 33


@pytest.fixture(autouse=True)
def _one_thread():
    torch.set_num_threads(1)


def _texture(seed: int = 0, size=(480, 336)) -> Image.Image:
    """Smooth random colour texture (bicubic-upsampled noise), larger than the frames so zooms stay inside."""
    small = np.random.default_rng(seed).integers(0, 256, (size[1] // 8, size[0] // 8, 3), dtype=np.uint8)
    return Image.fromarray(small).resize(size, Image.BICUBIC)


def _zoomed(texture: Image.Image, scale: float, shift=(0.0, 0.0)) -> np.ndarray:
    """The centre ``SIZE`` crop of ``texture`` magnified by ``scale`` about the frame centre, then moved by
    ``shift`` pixels: what a camera sees driving towards (and panning across) a fronto-parallel wall."""
    W, H = texture.size
    w, h = SIZE
    cx, cy = W / 2 - shift[0] / scale, H / 2 - shift[1] / scale
    inv = 1.0 / scale
    out = texture.transform(SIZE, Image.AFFINE, (inv, 0, cx - w / 2 * inv, 0, inv, cy - h / 2 * inv), Image.BICUBIC)
    return np.asarray(out)


def _drive(speed: float = 0.006, texture_seed: int = 0):
    """A wall approached at constant speed: frame i magnified by ``1 / (1 - speed i)``; poses move along +Z."""
    texture = _texture(texture_seed)
    frames = np.stack([_zoomed(texture, 1.0 / (1.0 - speed * i)) for i in range(FRAMES)])
    c2w = np.repeat(np.eye(4)[None], FRAMES, axis=0)
    c2w[:, 2, 3] = 0.06 * np.arange(FRAMES)
    return frames, c2w


def _yaw(deg: float) -> np.ndarray:
    a = math.radians(deg)
    m = np.eye(4)
    m[0, 0], m[0, 2], m[2, 0], m[2, 2] = math.cos(a), math.sin(a), -math.sin(a), math.cos(a)
    return m


def test_forward_pairs_keep_only_straight_forward_driving():
    poses = [np.eye(4)]
    for i in range(60):
        step = np.eye(4)
        if i < 20:
            step[2, 3] = 0.05  # forward
        elif i < 40:
            step = _yaw(2.0)  # turning on the spot
        else:
            step[0, 3] = 0.05  # strafing right
        poses.append(poses[-1] @ step)
    pairs = forward_pairs(np.stack(poses))
    assert len(pairs) > 0 and np.all(pairs[:, 1] - pairs[:, 0] == GAP)
    assert pairs[:, 1].max() <= 20  # both frames of every pair inside the forward part
    backwards = np.stack(poses[:21])[::-1].copy()
    assert len(forward_pairs(backwards)) == 0  # reversing is not forward driving
    slow = np.stack(poses[:21]).copy()
    slow[:, 2, 3] *= 0.01
    assert len(forward_pairs(slow)) == 0  # 4 mm in half a second: standing still


def test_block_flow_is_zero_for_identical_frames_and_finds_a_shift():
    texture = _texture(1)
    a = _zoomed(texture, 1.0)
    assert np.array_equal(block_flow(a, a), np.zeros((len(tile_centres(SIZE)), 2)))
    b = _zoomed(texture, 1.0, shift=(3.0, -2.0))
    flow = block_flow(a, b)
    assert flow.shape == (np.prod(tile_grid(SIZE)), 2)
    np.testing.assert_allclose(np.median(flow, axis=0), [3.0, -2.0], atol=0.15)
    assert abs(expansion(tile_centres(SIZE), flow)) < 0.003  # a pan is not an expansion


@pytest.mark.parametrize("scale", [1.02, 1.05])
def test_expansion_measures_a_zoom(scale):
    texture = _texture(2)
    a, b = _zoomed(texture, 1.0), _zoomed(texture, scale)
    assert expansion(tile_centres(SIZE), block_flow(a, b)) == pytest.approx(scale - 1.0, abs=0.004)


def test_truth_scores_one_and_a_frozen_stream_zero():
    truth, c2w = _drive()
    reference = parallax_reference(truth, c2w)
    assert len(reference.pairs) >= 4 and np.all(reference.expansion > 0.03)
    exact = parallax_scores(reference, truth)
    assert exact["expansion_ratio"] == pytest.approx(1.0) and exact["flow_cosine"] == pytest.approx(1.0)
    assert exact["flow_epe_px"] == 0.0 and exact["pairs"] == len(reference.pairs)
    frozen = parallax_scores(reference, np.repeat(truth[:1], FRAMES, axis=0))  # "repeat first frame"
    assert frozen["expansion_ratio"] == 0.0 and frozen["flow_cosine"] == 0.0
    assert frozen["flow_epe_px"] == pytest.approx(frozen["truth_flow_px"]) and frozen["truth_flow_px"] > 1.0


def test_half_the_motion_scores_half_and_a_pan_scores_none():
    truth, c2w = _drive()
    reference = parallax_reference(truth, c2w)
    slow, _ = _drive(speed=0.003)
    half = parallax_scores(reference, slow)
    assert half["expansion_ratio"] == pytest.approx(0.5, abs=0.1)
    assert half["flow_cosine"] > 0.9  # same directions, shorter
    texture = _texture(0)
    pans = [(_zoomed(texture, 1.0), _zoomed(texture, 1.0, shift=(4.0, 0.0))) for _ in reference.pairs]
    pan = parallax_scores(reference, pans)
    assert abs(pan["expansion_ratio"]) < 0.1 and pan["flow_cosine"] < 0.3


def test_a_blurred_copy_keeps_its_parallax():
    truth, c2w = _drive()
    reference = parallax_reference(truth, c2w)
    blurred = np.stack([np.asarray(Image.fromarray(f).resize((80, 56), Image.BILINEAR).resize(SIZE, Image.BILINEAR))
                        for f in truth])  # fmt: skip
    scores = parallax_scores(reference, blurred)
    assert scores["expansion_ratio"] == pytest.approx(1.0, abs=0.15) and scores["flow_cosine"] > 0.9


def test_tiles_and_empty_references():
    mask = np.ones(SIZE[::-1], bool)
    mask[:40] = False  # the top 40 rows uncovered: tile rows 0 and 1 (rows 16..47) touch them
    inside = tiles_inside(mask).reshape(tile_grid(SIZE))
    assert not inside[:2].any() and inside[2:].all()
    truth, c2w = _drive()
    reference = parallax_reference(truth, c2w)
    none = parallax_scores(reference, truth, tiles=[np.zeros(len(tile_centres(SIZE)), bool)] * len(reference.pairs))
    assert none["pairs"] == 0 and math.isnan(none["expansion_ratio"])
    small = parallax_reference(np.zeros((FRAMES, 32, 64, 3), np.uint8), c2w)  # smaller than one tile + border
    assert len(small.pairs) == 0 and math.isnan(parallax_scores(small, truth)["expansion_ratio"])
    still = parallax_reference(truth, np.repeat(np.eye(4)[None], FRAMES, axis=0))
    assert parallax_scores(still, truth)["pairs"] == 0


# ----- through the protocol: a rendered drive, scored as a row -----------------------------------------------
@pytest.fixture(scope="module")
def drive_scene():
    from engine.eval.rollout import Scene
    from engine.synth.renderer import Renderer
    from engine.synth.trajectories import PathConfig, sample_clip
    from engine.synth.world import make_world

    torch.set_num_threads(1)
    seed = 2**31 + 2  # a held-out world whose start view looks along open ground
    world = make_world(seed)
    plan = sample_clip(world, np.random.default_rng([seed, 0xE7A1]), PathConfig(num_frames=25, size=(128, 96)))
    step = np.eye(4)
    step[2, 3] = 0.04
    c2w = np.stack([plan.c2w[0] @ np.linalg.matrix_power(step, i) for i in range(25)])
    path = replace(plan, c2w=c2w, intrinsics=np.repeat(plan.intrinsics[:1], 25, axis=0),
                   revisits=np.zeros((0, 2), np.int64))  # fmt: skip
    with Renderer(msaa=0, shadow_size=512) as r:
        truth = r.render(world, path.c2w, path.intrinsics, path.size)
    return Scene(seed, world, path, truth, path, truth)


def test_rows_report_parallax_and_sharpness_against_the_truth(drive_scene):
    from engine.eval.protocol import EvalConfig, score_row
    from engine.eval.rollout import repeat_first_frame

    config = EvalConfig(scenes=1, horizons_s=(0.5, 1.0), window=1, drift_seconds=0.0, revisit_frames=25)
    assert len(drive_scene.parallax.pairs) > 0
    truth = score_row("truth", "", config, [drive_scene], lambda scene, path, start: scene.truth)
    assert truth.parallax["expansion_ratio"] == pytest.approx(1.0) and truth.parallax["flow_epe_px"] == 0.0
    assert all(h["sharpness"] == pytest.approx(1.0) for h in truth.horizons.values())
    frozen = score_row("repeat", "", config, [drive_scene],
                       lambda scene, path, start: repeat_first_frame(start, path.num_frames))  # fmt: skip
    assert frozen.parallax["expansion_ratio"] == 0.0 and frozen.parallax["flow_cosine"] == 0.0
    assert frozen.per_world_parallax == [frozen.parallax]

    def blurred(scene, path, start):
        f = scene.truth.astype(np.float32)
        f[:, 1:-1, 1:-1] = (f[:, :-2, 1:-1] + f[:, 2:, 1:-1] + f[:, 1:-1, :-2] + f[:, 1:-1, 2:] + f[:, 1:-1, 1:-1]) / 5
        return np.round(f).astype(np.uint8)

    soft = score_row("blurred", "", config, [drive_scene], blurred)
    for key, h in soft.horizons.items():
        assert 0.3 < h["sharpness"] < 0.95, key
        assert soft.per_world[0][key]["sharpness"] == h["sharpness"]
