"""A session saved by the code before the engine took over the session format (issue 15) still opens and continues
exactly: the fixture in ``data/swm_v3_before_issue15`` was written by commit 3663ab9 (``make_fixture.py`` there is
its recipe) together with the chunk that session made next."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from engine.bundles import load_bundle
from engine.generation.session import WorldSession
from engine.generation.session_file import load_project, read_manifest, resume_session

DATA = Path(__file__).parent / "data" / "swm_v3_before_issue15"


def forward(chunk: int) -> np.ndarray:
    """The fixture's camera: 0.05 units forward per frame along +Z."""
    c2w = np.tile(np.eye(4), (24, 1, 1))
    c2w[:, 2, 3] = 0.05 * (24 * chunk + np.arange(1, 25))
    return c2w


def test_a_version_3_session_from_before_the_move_resumes_bit_exact():
    assert read_manifest(DATA / "session.swm")["version"] == 3
    bundle = load_bundle(DATA / "bundle")
    project = load_project(DATA / "session.swm")
    assert len(project.branches) == 2 and project.cursor == 3
    session = WorldSession(bundle, project.stream_settings)
    resume_session(session, project)

    record = session.step(forward(3))

    assert torch.equal(record.latents, torch.from_numpy(np.load(DATA / "next_latents.npy")))
    assert np.array_equal(record.frames, np.load(DATA / "next_frames.npy"))
