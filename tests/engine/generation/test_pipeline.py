"""Offline generation: both modes, frame counts and dropping, trajectory alignment, the session underneath."""

import numpy as np
import pytest
import torch

from engine.bundles import ModelBundle
from engine.camera.actions import action_to_c2w
from engine.camera.intrinsics import from_fov
from engine.camera.poses import relative_to_first
from engine.camera.trajectory import Trajectory
from engine.errors import ConfigError, SanaWMInputError
from engine.generation.pipeline import GenerationRequest, first_output_pose, frame_trajectory, generate
from engine.generation.start_image import fit_image
from engine.generation.sampling import seeded_noise
from engine.generation.session import StreamSettings, WorldSession

IMAGE = np.random.default_rng(0).integers(0, 256, (90, 160, 3), dtype=np.uint8)


@pytest.fixture(scope="module")
def bundle():
    return ModelBundle.random("sana-wm-tiny-test", frame_size=(64, 32), spatial_factor=16)


def request(frames: int, **kwargs) -> GenerationRequest:
    c2w = action_to_c2w("w-30,jw-30,d-40")[:frames]
    return GenerationRequest(IMAGE, Trajectory(c2w, from_fov(160, 90, fov_x_deg=70.0), (160, 90)), **kwargs)


class Collect:
    def __init__(self):
        self.chunks = []

    def __call__(self, frames):
        self.chunks.append(frames)

    @property
    def frames(self):
        return np.concatenate(self.chunks)


def test_streaming_streams_each_chunk_and_drops_the_image_frame(bundle):
    sink = Collect()
    result = generate(bundle, request(49), sink)
    assert [c.shape[0] for c in sink.chunks] == [24, 24]
    assert result.num_frames == 48 and result.latents.shape[2] == 7
    assert result.trajectory.num_frames == 48 and result.trajectory.image_size == (64, 32)
    assert np.allclose(result.trajectory.c2w, request(49).trajectory.c2w[1:])


def test_streaming_equals_a_session_driven_by_hand(bundle):
    req = request(49, seed=3)
    sink = Collect()
    generate(bundle, req, sink)
    framed = frame_trajectory(bundle, req)
    session = WorldSession(bundle, StreamSettings(seed=3))
    noise = seeded_noise((1, 8, 7, 2, 4), 3, dtype=torch.float32)  # the whole clip's noise, drawn up front
    session.start(fit_image(IMAGE, (64, 32))[0], intrinsics=framed.intrinsics[0], noise=noise)
    c2w = relative_to_first(req.trajectory.c2w)
    frames = [session.step(c2w[1 + 24 * k : 25 + 24 * k], framed.intrinsics[1 + 24 * k : 25 + 24 * k]).frames
              for k in range(2)]  # fmt: skip
    assert np.array_equal(sink.frames, np.concatenate(frames)[1:])


def test_bidirectional_keeps_every_frame(bundle):
    sink = Collect()
    result = generate(bundle, request(17, mode="bidirectional", steps=2), sink)
    assert sink.frames.shape == (17, 32, 64, 3) and result.num_frames == 17
    assert first_output_pose(request(17, mode="bidirectional")) == 0
    assert np.allclose(result.trajectory.c2w, request(17).trajectory.c2w)


class AddOne:
    """A stand-in refiner: shifts the latents, records what it saw."""

    def __init__(self):
        self.seen = None

    def refine(self, latents, prompt, *, seed, progress=None):
        self.seen = (latents.shape, prompt, seed)
        return latents + 1.0


def test_refined_clips_are_decoded_whole_without_the_sink_frame(bundle):
    refined = ModelBundle(**{**bundle.__dict__, "refiner": AddOne()})
    sink = Collect()
    result = generate(refined, request(17, mode="bidirectional", steps=2, refine=True, prompt="a road"), sink)
    assert refined.refiner.seen == ((1, 8, 3, 2, 4), "a road", 42)
    assert sink.frames.shape[0] == 16 and result.trajectory.num_frames == 16
    plain = Collect()
    generate(bundle, request(17, mode="bidirectional", steps=2), plain)
    assert not np.array_equal(sink.frames, plain.frames[1:])


@pytest.mark.parametrize(
    "req, error, message",
    [
        (request(48), SanaWMInputError, "24k \\+ 1"),
        (request(20, mode="bidirectional"), SanaWMInputError, "8k \\+ 1"),
        (request(49, mode="sideways"), ConfigError, "mode"),
        (request(49, refine=True), ConfigError, "no stage-2 refiner"),
    ],
)
def test_bad_requests_are_refused_before_work(bundle, req, error, message):
    with pytest.raises(error, match=message):
        generate(bundle, req, lambda frames: pytest.fail("no frames expected"))
