"""``sana-wm plan``: the per-stage, per-tier table with the tier each card gets, as text and JSON; bad sizes refused."""

from __future__ import annotations

import json

import pytest

from engine.cli import main


def test_plan_prints_every_tier_and_the_tier_a_24_gib_card_gets(capsys, tmp_path) -> None:
    assert main(["plan", "--gpu-mem", "24", "--json", str(tmp_path / "plan.json")]) == 0
    out = capsys.readouterr().out
    assert "full  balanced       low" in out and "computed, not measured" in out
    card = next(line for line in out.splitlines() if line.strip().startswith("24 "))
    assert card.split()[-4:] == ["full", "low", "<-", "--gpu-mem"]  # stage 1 only: full; with the refiner: low
    data = json.loads((tmp_path / "plan.json").read_text())
    assert [c["gib"] for c in data["cards"]] == [16, 24, 32, 48, 80]
    assert data["cards"][1]["with_refiner"] == "low"
    assert set(data["tiers"]) == {"full", "balanced", "low"}


@pytest.mark.parametrize("value", ["0", "-3", "5000"])
def test_a_card_size_out_of_range_is_one_line(capsys, value) -> None:
    assert main(["plan", "--gpu-mem", value]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("sana-wm: error: --gpu-mem: expected GiB of GPU memory in (0, 4096]")


def test_write_activations_needs_retrace(capsys) -> None:
    assert main(["plan", "--write-activations"]) == 2
    assert "expected --retrace as well" in capsys.readouterr().err
