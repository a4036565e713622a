"""Shared fixtures: one headless EGL renderer per test session (creating contexts and programs is the slow part)."""

from __future__ import annotations

import pytest

from engine.synth.renderer import Renderer


@pytest.fixture(scope="session")
def renderer():
    """A default-quality renderer (4x MSAA) on its own EGL context; no display server needed."""
    r = Renderer()
    yield r
    r.release()
