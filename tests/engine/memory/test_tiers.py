"""engine.memory.tiers: the three tiers' placement decisions and their names."""

from __future__ import annotations

import pytest

from engine.errors import ConfigError
from engine.memory.tiers import FULL, MEMORY_CHOICES, POLICIES, TIERS, tier_policy


def test_tiers_go_from_most_to_least_resident() -> None:
    assert TIERS == ("full", "balanced", "low") and MEMORY_CHOICES[0] == "auto"
    full, balanced, low = (POLICIES[t] for t in TIERS)
    assert full is FULL and full.text_encoder_resident and full.refiner_resident and full.decode_latents_per_call is None
    assert not balanced.text_encoder_resident and not balanced.refiner_resident and balanced.decode_latents_per_call == 3
    assert not balanced.dit_fp8 and not balanced.refiner_offload
    assert low.dit_fp8 and low.refiner_offload and low.decode_latents_per_call == 1


def test_an_unknown_tier_names_the_valid_ones() -> None:
    with pytest.raises(ConfigError, match="expected one of full, balanced, low, found 'tiny'"):
        tier_policy("tiny")
