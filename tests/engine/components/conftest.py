"""Fixtures shared by the component tests."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="module")
def folders(tiny_bundles) -> tuple[Path, Path]:
    """The tiny bidirectional bundle's refiner folder and its text encoder folder."""
    root = tiny_bundles["bidirectional"]
    return root / "refiner", root / "refiner" / "text_encoder"
