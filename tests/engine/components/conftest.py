"""Tiny official-layout bundles built once per test session (about a second each) and cheap per-test copies."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from engine.testing.tiny_official_bundle import build_tiny_official_bundle


@pytest.fixture(scope="session")
def tiny_bundles(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """``{"bidirectional": root, "streaming": root, "diffusers": root}``: read-only, shared by all tests."""
    base = tmp_path_factory.mktemp("tiny_bundles")
    layouts = ("bidirectional", "streaming", "diffusers")
    return {layout: build_tiny_official_bundle(base / layout, layout=layout) for layout in layouts}


@pytest.fixture
def bundle_copy(tiny_bundles: dict[str, Path], tmp_path: Path) -> Callable[[str], Path]:
    """A private copy of a tiny bundle that a test may damage (hard links: no data is copied, and deleting or
    replacing a file in the copy leaves the shared bundle intact)."""

    def make(layout: str) -> Path:
        return Path(shutil.copytree(tiny_bundles[layout], tmp_path / layout, copy_function=os.link))

    return make
