"""Refining a span in the engine: the refiner's input (sink + span), frames aligned with the chunks, the project
helper that stores them, progress and cancel, and clear errors."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from engine.bundles import ModelBundle
from engine.errors import Cancelled, ConfigError, SanaWMInputError
from engine.generation.project import Project, StartSettings
from engine.generation.refine import refine, refine_span, refine_take, refiner_input, split_frames
from engine.generation.session import StreamSettings, WorldSession
from engine.testing.fake_refiner import ShiftRefiner


@pytest.fixture(scope="module")
def bundle() -> ModelBundle:
    return ModelBundle.random("sana-wm-tiny-test", frame_size=(96, 64), spatial_factor=16)


@pytest.fixture(scope="module")
def records(bundle):
    session = WorldSession(bundle, StreamSettings(seed=3))
    y, x = np.mgrid[0:64, 0:96]
    session.start(np.stack([x * 2, y * 3, 255 - x], -1).clip(0, 255).astype(np.uint8), seed=3)
    return [session.step(np.tile(np.eye(4), (24, 1, 1))) for _ in range(3)]


def test_the_refiner_input_is_the_span_with_the_image_latent_as_sink(records):
    assert torch.equal(refiner_input(records, 0, 1), torch.cat([records[0].latents, records[1].latents], dim=2))
    later = refiner_input(records, 1, 2)
    assert later.shape[2] == 1 + 6 and torch.equal(later[:, :, :1], records[0].latents[:, :, :1])
    assert torch.equal(later[:, :, 1:4], records[1].latents) and torch.equal(later[:, :, 4:], records[2].latents)
    with pytest.raises(SanaWMInputError, match=r"first <= last inside \[0, 2\], found 2..1"):
        refiner_input(records, 2, 1)


def test_refine_returns_frames_per_chunk_and_reports_refine_then_decode(bundle, records):
    refiner = ShiftRefiner()
    with_refiner = dataclasses.replace(bundle, refiner=refiner)
    stages = []
    frames = refine(with_refiner, records, 1, 2, prompt="p", seed=9, progress=lambda *a: stages.append(a))
    assert [f.shape for f in frames] == [r.frames.shape for r in records[1:3]]
    expected = bundle.codec.decode(refiner_input(records, 1, 2) + torch.tensor([0.0] + [0.1] * 6).view(1, 1, 7, 1, 1))
    np.testing.assert_array_equal(np.concatenate(frames), expected[1:])  # the sink's frame dropped
    assert refiner.calls == [((1, 8, 7, 4, 6), "p", 9)]
    assert stages == [("refine", 1, 2), ("refine", 2, 2), ("decode", 1, 1)]
    whole = refine(with_refiner, records, 0, 0)
    assert whole[0].shape == records[0].frames.shape  # chunk 0 carries its own sink: nothing dropped


def test_refine_take_stores_the_frames_on_the_take_and_a_cancel_changes_nothing(bundle, records):
    with_refiner = dataclasses.replace(bundle, refiner=ShiftRefiner())
    project = Project(StartSettings(image=np.zeros((64, 96, 3), np.uint8), prompt="road", seed=3))
    for r in records:
        project.add_chunk(r)

    def cancel(stage, done, total):
        raise Cancelled("stop")

    with pytest.raises(Cancelled):
        refine_take(with_refiner, project, 1, 2, progress=cancel)
    assert not any(e.refined for e in project.current.chunks)
    frames = refine_take(with_refiner, project, 1, 2, branch_id=0)
    assert [e.refined for e in project.current.chunks] == [False, True, True] and project.dirty
    np.testing.assert_array_equal(project.current.chunks[2].frames, frames[1])
    assert with_refiner.refiner.calls[-1][1:] == ("road", 3)


def test_a_bundle_without_a_refiner_and_mismatched_frames_are_clear_errors(bundle, records):
    with pytest.raises(ConfigError, match="has no stage-2 refiner"):
        refine_span(bundle, refiner_input(records, 0, 0), 0)
    with pytest.raises(SanaWMInputError, match="expected 48 frames for 2 chunks, found 10"):
        split_frames(records[1:3], np.zeros((10, 64, 96, 3), np.uint8))
