"""Weight mixes of a fine-tune with its base (engine.train.weight_mix): the arithmetic, the new-input rule, the
written folder and the refusals."""

from __future__ import annotations

import json

import pytest
import torch

from engine.bundles import ModelBundle, load_embedded_bundle, save_bundle
from engine.errors import ConfigError
from engine.train.weight_mix import main, mix_bundles, mix_state, write_mix

SIZE = dict(frame_size=(64, 32), spatial_factor=16)


def _pair(tmp_path):
    """A base without a cache input and a 'fine-tune' of it with one (other random weights, same shapes)."""
    base = ModelBundle.random("sana-wm-tiny-test", seed=1, **SIZE)
    tuned = ModelBundle.random("sana-wm-tiny-test", seed=2, cache_channels=5, **SIZE)
    save_bundle(base, tmp_path / "base")
    save_bundle(tuned, tmp_path / "tuned")
    (tmp_path / "tuned" / "depth.safetensors").write_bytes(b"estimator")
    return base, tuned


def test_mix_state_interpolates_shared_weights_and_keeps_new_ones():
    base = {"a": torch.zeros(2, 3), "b": torch.full((4,), 2.0)}
    tuned = {"a": torch.ones(2, 3), "b": torch.full((4,), 4.0), "new": torch.full((2,), 7.0)}
    mixed = mix_state(base, tuned, 0.75)
    assert torch.equal(mixed["a"], torch.full((2, 3), 0.75))
    assert torch.equal(mixed["b"], torch.full((4,), 3.5))
    assert torch.equal(mixed["new"], tuned["new"])
    assert mixed["new"] is not tuned["new"]
    assert torch.equal(mix_state(base, tuned, 0.0)["a"], base["a"])
    assert torch.equal(mix_state(base, tuned, 1.0)["b"], tuned["b"])


@pytest.mark.parametrize("alpha", [-0.1, 1.5, float("nan"), float("inf")])
def test_mix_state_refuses_alpha_outside_0_1(alpha):
    with pytest.raises(ConfigError, match=r"alpha: expected the tuned model's share in \[0, 1\]"):
        mix_state({"a": torch.zeros(1)}, {"a": torch.ones(1)}, alpha)


def test_mix_state_refuses_other_architectures():
    with pytest.raises(ConfigError, match="lacks 1 weight.*'gone'"):
        mix_state({"a": torch.zeros(1), "gone": torch.zeros(1)}, {"a": torch.ones(1)}, 0.5)
    with pytest.raises(ConfigError, match=r"a: the base's shape \(2,\) differs from the tuned model's \(3,\)"):
        mix_state({"a": torch.zeros(2)}, {"a": torch.ones(3)}, 0.5)


def test_mix_at_zero_is_the_base_plus_the_new_input(tmp_path):
    base, tuned = _pair(tmp_path)
    mixed = mix_bundles(base, tuned, 0.0)
    state = mixed.transformer.state_dict()
    for key, value in base.transformer.state_dict().items():
        assert torch.equal(state[key], value), key
    assert torch.equal(state["cache_embedder.proj.weight"], tuned.transformer.state_dict()["cache_embedder.proj.weight"])
    assert mixed.config.cache_channels == 5
    assert mixed.transformer is not tuned.transformer


def test_mix_refuses_other_latents(tmp_path):
    base = ModelBundle.random("sana-wm-tiny-test", frame_size=(96, 32), spatial_factor=16)
    tuned = ModelBundle.random("sana-wm-tiny-test", **SIZE)
    with pytest.raises(ConfigError, match="read different latents"):
        mix_bundles(base, tuned, 0.5)


def test_write_mix_writes_a_strict_bundle_that_records_its_inputs(tmp_path):
    base, tuned = _pair(tmp_path)
    out = write_mix(tmp_path / "base", tmp_path / "tuned", 0.75, tmp_path / "mix")
    loaded = load_embedded_bundle(out)
    expected = mix_state(base.transformer.state_dict(), tuned.transformer.state_dict(), 0.75)
    for key, value in loaded.transformer.state_dict().items():
        torch.testing.assert_close(value, expected[key], rtol=0, atol=0)
    record = json.loads((out / "bundle.json").read_text())["extras"]["weight_mix"]
    assert record["alpha"] == 0.75
    assert len(record["base"]["model_sha256"]) == 64 and record["base"]["model_sha256"] != record["tuned"]["model_sha256"]
    assert (out / "depth.safetensors").read_bytes() == b"estimator"


def test_cli_refuses_in_one_line(tmp_path, capsys):
    _pair(tmp_path)
    assert main(["--base", str(tmp_path / "base"), "--tuned", str(tmp_path / "tuned"), "--alpha", "2",
                 "--out", str(tmp_path / "mix")]) == 2  # fmt: skip
    err = capsys.readouterr().err.strip()
    assert err.startswith("weight_mix: alpha: expected") and "\n" not in err
    assert not (tmp_path / "mix").exists()
    assert main(["--base", str(tmp_path / "base"), "--tuned", str(tmp_path / "tuned"), "--alpha", "0.5",
                 "--out", str(tmp_path / "tuned")]) == 2  # fmt: skip
    assert "expected a new folder" in capsys.readouterr().err
    assert main(["--base", str(tmp_path / "base"), "--tuned", str(tmp_path / "tuned"), "--alpha", "0.5",
                 "--out", str(tmp_path / "mix")]) == 0  # fmt: skip
    assert "wrote" in capsys.readouterr().out
    assert main(["--base", str(tmp_path / "base"), "--tuned", str(tmp_path / "tuned"), "--alpha", "0.25",
                 "--out", str(tmp_path / "mix")]) == 2  # fmt: skip
    assert "found a bundle there (it is not overwritten)" in capsys.readouterr().err
    assert json.loads((tmp_path / "mix" / "bundle.json").read_text())["extras"]["weight_mix"]["alpha"] == 0.5
    assert main(["--base", str(tmp_path / "nowhere"), "--tuned", str(tmp_path / "tuned"), "--alpha", "0.5",
                 "--out", str(tmp_path / "mix2")]) == 2  # fmt: skip
    err = capsys.readouterr().err.strip()
    assert "nowhere" in err and "bundle.json" in err and "\n" not in err
