"""Fixtures shared by the command tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image


@pytest.fixture(scope="module")
def image(tmp_path_factory) -> Path:
    """A 200x120 gradient picture (not 16:9, so commands crop or fit it)."""
    path = tmp_path_factory.mktemp("img") / "street.png"
    y, x = np.mgrid[0:120, 0:200]
    Image.fromarray(np.stack([x, y * 2, 255 - x], -1).astype(np.uint8)).save(path)
    return path
