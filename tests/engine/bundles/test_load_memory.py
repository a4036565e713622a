"""load_bundle's memory tiers: the placement a tier sets on an official bundle, and names are ``full`` on the CPU."""

from __future__ import annotations

import pytest

from engine.bundles import load_bundle
from engine.errors import GPUMemoryError
from engine.memory import extras
from engine.memory.tiers import POLICIES


def test_a_tier_name_on_the_cpu_loads_full(tiny_bundles) -> None:
    for name in ("auto", "low"):
        assert load_bundle(tiny_bundles["streaming"], memory=name).memory.name == "full"
    assert load_bundle(tiny_bundles["streaming"]).memory.name == "full"  # no tier asked: as before


def test_a_balanced_bundle_frees_gemma2_and_places_the_refiner_for_refining_only(tiny_bundles) -> None:
    bundle = load_bundle(tiny_bundles["bidirectional"], memory=POLICIES["balanced"])
    assert bundle.memory.name == "balanced" and bundle.memory.decode_latents_per_call == 3
    assert not bundle.text_encoder.keep_loaded
    assert not bundle.refiner.resident and not bundle.refiner.audio_on_device and not bundle.refiner.offload


def test_the_low_tier_without_its_libraries_fails_before_loading(tiny_bundles, monkeypatch) -> None:
    monkeypatch.setattr(extras, "available", lambda module: False)
    with pytest.raises(GPUMemoryError, match="--memory low: fp8 DiT weights need torchao"):
        load_bundle(tiny_bundles["bidirectional"], memory=POLICIES["low"])
