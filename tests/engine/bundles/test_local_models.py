"""local_models: the strict meta-device diffusers loader (single file, shards, bad keys), expected-file checks and
the offline switch."""

from __future__ import annotations

import json
import os
import shutil

import pytest
import torch
from diffusers.pipelines.ltx2.connectors import LTX2TextConnectors
from safetensors.torch import load_file, save_file

from engine.bundles.local_models import enforce_offline, load_diffusers_model, missing_files
from engine.errors import BundleError, CheckpointError


@pytest.fixture
def connectors(tiny_bundles, tmp_path):
    """A private copy of the tiny refiner's connectors folder and its tensors."""
    folder = shutil.copytree(tiny_bundles["bidirectional"] / "refiner" / "connectors", tmp_path / "connectors")
    return folder, load_file(folder / "diffusion_pytorch_model.safetensors")


def test_single_file_and_shards_load_the_same_tensors_with_no_meta_left(connectors) -> None:
    folder, state = connectors
    model = load_diffusers_model(LTX2TextConnectors, folder, dtype=torch.bfloat16)
    assert not any(t.is_meta for t in [*model.parameters(), *model.buffers()]) and not model.training
    assert all(torch.equal(model.state_dict()[k], v.to(torch.bfloat16)) for k, v in state.items())
    (folder / "diffusion_pytorch_model.safetensors").unlink()
    keys = sorted(state)
    shards = {"a.safetensors": keys[::2], "b.safetensors": keys[1::2]}
    for name, names in shards.items():
        save_file({k: state[k] for k in names}, folder / name)
    index = {"weight_map": {k: name for name, names in shards.items() for k in names}}
    (folder / "diffusion_pytorch_model.safetensors.index.json").write_text(json.dumps(index))
    sharded = load_diffusers_model(LTX2TextConnectors, folder)
    assert all(torch.equal(sharded.state_dict()[k], v) for k, v in state.items())
    (folder / "b.safetensors").unlink()
    with pytest.raises(BundleError, match="shard b.safetensors listed in"):
        load_diffusers_model(LTX2TextConnectors, folder)


def test_keys_and_shapes_are_checked_strictly(connectors) -> None:
    folder, state = connectors
    key = next(iter(state))
    bad = {**state, "extra.weight": torch.zeros(2), key: torch.zeros(3, 3)}
    save_file(bad, folder / "diffusion_pytorch_model.safetensors")
    with pytest.raises(CheckpointError) as info:
        load_diffusers_model(LTX2TextConnectors, folder)
    message = str(info.value)
    assert "1 unexpected (extra.weight)" in message and f"1 shape-mismatched ({key}: file [3, 3]" in message
    save_file({k: v for k, v in state.items() if k != key}, folder / "diffusion_pytorch_model.safetensors")
    with pytest.raises(CheckpointError, match=f"1 missing \\({key}\\)"):
        load_diffusers_model(LTX2TextConnectors, folder)
    (folder / "diffusion_pytorch_model.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(CheckpointError, match="not a readable safetensors file"):
        load_diffusers_model(LTX2TextConnectors, folder)


def test_missing_files_lists_what_each_kind_of_folder_needs(connectors, tmp_path) -> None:
    folder, _ = connectors
    assert missing_files(folder, "diffusers") == []
    (folder / "config.json").unlink()
    assert missing_files(folder, "diffusers") == ["config.json"]
    with pytest.raises(BundleError, match=f"{folder} lacks config.json"):
        load_diffusers_model(LTX2TextConnectors, folder)
    nowhere = tmp_path / "nowhere"
    assert missing_files(nowhere, "tokenizer") == ["tokenizer_config.json", "tokenizer.json or tokenizer.model"]
    assert missing_files(nowhere, "transformers")[1].startswith("model.safetensors")
    with pytest.raises(BundleError, match=f"{nowhere} is missing"):
        load_diffusers_model(LTX2TextConnectors, nowhere)


def test_enforce_offline_sets_the_flags_and_the_hub_switch(monkeypatch) -> None:
    from huggingface_hub import constants

    for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    enforce_offline()
    assert constants.HF_HUB_OFFLINE is True
    assert [os.environ[n] for n in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE")] == ["1"] * 3
