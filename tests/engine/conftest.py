"""Fixtures shared by the engine tests: a fake ``pi3`` package standing in for the Pi3X network (its code is not on
PyPI and its weights are not available here), so the intrinsics-estimation path can run end to end; and tiny official-layout bundles built once per test
session (about a second each) with cheap per-test copies, for the bundle and component tests."""

from __future__ import annotations

import os
import shutil
import sys
import textwrap
import types
from collections.abc import Callable
from pathlib import Path

import pytest

from engine.testing.tiny_official_bundle import build_tiny_official_bundle


# The fake Pi3 package: ``pi3.models.pi3x.Pi3X`` with ``from_pretrained`` and a forward that returns the
# ``local_points`` of a pinhole camera with the given FOVs on whatever grid it is fed, principal point at the centre
# of the integer grid ((w-1)/2, (h-1)/2) and a varying depth. ``CALLS`` records what the engine did with it.
FAKE_PI3X_SOURCE = textwrap.dedent(
    '''
    import math
    import torch

    FOV_X_DEG = 70.0
    FOV_Y_DEG = 50.0
    CALLS = []
    OUTPUT_KEYS = ("local_points", "rays", "conf")


    class Pi3X(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.use_multimodal = True
            self.scale = torch.nn.Parameter(torch.ones(()))

        @classmethod
        def from_pretrained(cls, path, **kwargs):
            CALLS.append(("from_pretrained", path, kwargs))
            return cls()

        def disable_multimodal(self):
            CALLS.append(("disable_multimodal",))
            self.use_multimodal = False

        def forward(self, imgs, **kwargs):
            CALLS.append(("forward", imgs.detach().clone(), self.training, self.use_multimodal, kwargs))
            _, _, _, h, w = imgs.shape
            fx = w / (2 * math.tan(math.radians(FOV_X_DEG) / 2))
            fy = h / (2 * math.tan(math.radians(FOV_Y_DEG) / 2))
            v, u = torch.meshgrid(torch.arange(h, dtype=torch.float32), torch.arange(w, dtype=torch.float32),
                                  indexing="ij")
            z = 2.0 + 0.5 * torch.sin(0.1 * u) * torch.cos(0.07 * v)
            xy = torch.stack([(u - (w - 1) / 2) / fx, (v - (h - 1) / 2) / fy], dim=-1)
            local = torch.cat([xy * z[..., None], z[..., None]], dim=-1)[None, None] * self.scale
            out = {
                "local_points": local,
                "rays": torch.nn.functional.normalize(torch.cat([xy, torch.ones_like(z)[..., None]], -1), dim=-1),
                "conf": torch.zeros(1, 1, h, w, 1),
            }
            return {k: out[k] for k in OUTPUT_KEYS}
    '''
)


def make_fake_pi3() -> dict[str, types.ModuleType]:
    pi3x = types.ModuleType("pi3.models.pi3x")
    pi3x.__file__ = "<fake pi3/models/pi3x.py>"
    exec(compile(FAKE_PI3X_SOURCE, pi3x.__file__, "exec"), pi3x.__dict__)
    models = types.ModuleType("pi3.models")
    models.pi3x = pi3x
    pkg = types.ModuleType("pi3")
    pkg.models = models
    return {"pi3": pkg, "pi3.models": models, "pi3.models.pi3x": pi3x}


@pytest.fixture
def no_pi3(monkeypatch: pytest.MonkeyPatch):
    """No ``pi3`` module imported; whatever a test imports under that name is dropped afterwards."""
    for name in [n for n in sys.modules if n == "pi3" or n.startswith("pi3.")]:
        monkeypatch.delitem(sys.modules, name)
    path_before = list(sys.path)
    yield
    for name in [n for n in sys.modules if n == "pi3" or n.startswith("pi3.")]:
        del sys.modules[name]
    assert sys.path == path_before, "the Pi3 checkout folder was left on sys.path"


@pytest.fixture
def fake_pi3(no_pi3, monkeypatch: pytest.MonkeyPatch) -> types.ModuleType:
    """The fake package injected in ``sys.modules``; returns its ``pi3.models.pi3x`` module."""
    modules = make_fake_pi3()
    for name, module in modules.items():
        monkeypatch.setitem(sys.modules, name, module)
    return modules["pi3.models.pi3x"]


@pytest.fixture
def weights(tmp_path: Path) -> Path:
    folder = tmp_path / "Pi3X"
    folder.mkdir()
    (folder / "model.safetensors").write_bytes(b"not read by the fake")
    (folder / "config.json").write_text("{}")
    return folder


@pytest.fixture
def pi3_checkout(tmp_path: Path) -> Path:
    """A folder laid out like a checkout of the Pi3 repository, holding the fake ``pi3.models.pi3x``."""
    checkout = tmp_path / "Pi3"
    models = checkout / "pi3" / "models"
    models.mkdir(parents=True)
    (checkout / "pi3" / "__init__.py").write_text("")
    (models / "__init__.py").write_text("")
    (models / "pi3x.py").write_text(FAKE_PI3X_SOURCE)
    return checkout

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
