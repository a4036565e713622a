"""The shipped embedded model (resources/models/sana-wm-tiny): present, small, loaded strictly, and it streams a
world that follows the camera from a shipped demo scene."""

import json

import numpy as np
import pytest
import torch

from engine.bundles.embedded import BUNDLE_FORMAT
from engine.bundles import EMBEDDED_MODEL_DIR, load_bundle, load_embedded_bundle
from engine.camera.actions import parse_action
from engine.camera.integrator import MotionIntegrator
from engine.camera.controls import get_mapping
from engine.io.demos import list_demos, load_demo
from engine.errors import CheckpointError
from engine.model.config import SanaWMConfig
from engine.generation.session import WorldSession

MAX_BYTES = 40 * 2**20


@pytest.fixture(scope="module")
def bundle():
    return load_bundle(None)


def test_the_bundle_is_shipped_within_the_size_limit():
    meta = json.loads((EMBEDDED_MODEL_DIR / "bundle.json").read_text())
    assert meta["format"] == BUNDLE_FORMAT and meta["name"] == "sana-wm-tiny"
    weights = EMBEDDED_MODEL_DIR / "model.safetensors"
    assert 0 < weights.stat().st_size <= MAX_BYTES
    training = meta["extras"]["training"]
    assert training["steps"] > 0 and training["samples_seen"] > 0  # trained, not a random stand-in


def test_the_default_bundle_is_the_embedded_model_loaded_strictly(bundle):
    assert bundle.source == EMBEDDED_MODEL_DIR and bundle.name == "sana-wm-tiny"
    assert "random" not in bundle.label
    assert bundle.config == SanaWMConfig.from_preset("sana-wm-tiny", cache_channels=33)  # model v2: the world-cache input
    width, height = bundle.frame_size
    assert width >= 320 and height >= 176 and width * 704 == height * 1280  # the official 1280x704 aspect
    state = bundle.transformer.state_dict()
    from safetensors.torch import load_file

    saved = load_file(EMBEDDED_MODEL_DIR / "model.safetensors")
    assert saved.keys() == state.keys()
    assert all(torch.equal(saved[k], state[k]) for k in saved)
    # it re-anchors at the window it was last trained on (engine.generation.session)
    assert bundle.context_frames == bundle.extras["train_config"]["window_latent_frames"] == 13


def test_a_truncated_copy_is_refused(tmp_path, bundle):
    from safetensors.torch import load_file, save_file

    folder = tmp_path / "copy"
    folder.mkdir()
    (folder / "bundle.json").write_text((EMBEDDED_MODEL_DIR / "bundle.json").read_text())
    weights = load_file(EMBEDDED_MODEL_DIR / "model.safetensors")
    dropped = sorted(weights)[0]
    save_file({k: v for k, v in weights.items() if k != dropped}, folder / "model.safetensors")
    with pytest.raises(CheckpointError, match="1 missing"):
        load_embedded_bundle(folder)


def test_at_least_six_demo_scenes_are_shipped():
    demos = list_demos()
    assert len(demos) >= 6
    for demo in demos:
        scene = load_demo(demo.name)
        assert scene.title and scene.action and scene.image_path.is_file() and scene.intrinsics.shape == (4,)


def _drive(session: WorldSession, keys: str) -> np.ndarray:
    integ = MotionIntegrator(get_mapping("v2"))
    return np.stack([integ.step(set(keys)) for _ in range(session.frames_per_chunk)])


def _horizontal_shift(a: np.ndarray, b: np.ndarray, max_shift: int = 80) -> int:
    """The shift ``dx`` (pixels) that best maps image ``a`` onto ``b`` (``b[:, x] ~ a[:, x - dx]``), on grey levels."""
    a, b = a.mean(axis=2), b.mean(axis=2)
    width = a.shape[1]
    errors = {}
    for dx in range(-max_shift, max_shift + 1):
        lo, hi = max(0, dx), min(width, width + dx)
        errors[dx] = np.abs(b[:, lo:hi] - a[:, lo - dx : hi - dx]).mean()
    return min(errors, key=errors.get)


def test_it_streams_a_chunk_that_follows_the_camera(bundle):
    """Turning left moves the picture right and turning right moves it left: the model obeys the camera."""
    demo = load_demo(list_demos()[0].name)
    shifts = {}
    for keys in ("a", "d"):  # v2: a / d yaw left / right
        session = WorldSession(bundle)
        session.start(demo.image_path, intrinsics=demo.intrinsics)
        frames = session.step(_drive(session, keys)).frames
        width, height = bundle.frame_size
        assert frames.shape == (25, height, width, 3) and frames.dtype == np.uint8
        assert frames[-1].std() > 10  # a picture, not a flat colour
        shifts[keys] = _horizontal_shift(frames[0].astype(np.float64), frames[-1].astype(np.float64))
    assert shifts["a"] > 0 > shifts["d"] and shifts["a"] - shifts["d"] >= 10, shifts
    assert len(parse_action(demo.action)) > 0  # the demo's suggested action is valid DSL


def test_the_shipped_depth_estimator_gives_sessions_a_world_cache(bundle):
    """The estimator beside the model: its depth of held-out procedural frames is close to the renderer's (a loose
    bound; the held-out numbers are in docs/depth.md), and a session on the shipped model has a world cache."""
    from engine.depth.estimator import DepthEstimator, find_depth_weights
    from engine.depth.metrics import depth_scores
    from engine.synth.dataset import ClipMaker, DatasetConfig

    weights = find_depth_weights(EMBEDDED_MODEL_DIR)
    assert weights is not None and weights.stat().st_size < 8 * 2**20
    maker = ClipMaker(DatasetConfig(seed=916001, clips=2, num_frames=9, clips_per_world=1))
    try:
        clips = [maker.make(i) for i in range(2)]
    finally:
        maker.release()
    estimator = DepthEstimator.load(weights, threads=1)
    predicted = estimator(np.stack([c.frames[0] for c in clips]), np.stack([c.plan.intrinsics[0] for c in clips]))
    scores = depth_scores(predicted, np.stack([c.depth[0] for c in clips]))
    assert scores["abs_rel"] < 0.35 and scores["delta1"] > 0.5, scores
    session = WorldSession(bundle)
    session.start(clips[0].frames[0], intrinsics=clips[0].plan.intrinsics[0])
    assert session.world_cache is not None and len(session.world_cache) > 1000
