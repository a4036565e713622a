"""Fuzz: model folders (``--model``): an embedded bundle whose ``bundle.json`` is mutated value by value and whose
weights are damaged, official layouts with parts missing, malicious pickles in ``.pt`` files, YAML with Python tags
and shard indexes that point outside the folder. An accepted folder must give a bundle whose weights are finite
floats and whose frame size is a positive multiple of its codec's patch."""

from __future__ import annotations

import json
import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from fuzz_contract import case_dir, edit_json, fuzz, json_edits, run_cli, run_reader
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image
from safetensors.torch import load_file, save_file

from engine.bundles import ModelBundle, load_bundle
from engine.bundles.embedded import save_bundle
from engine.errors import SanaWMInputError


@pytest.fixture(scope="module")
def tiny_bundle(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("bundle") / "tiny"
    save_bundle(ModelBundle.random("sana-wm-tiny-test", frame_size=(64, 32)), folder)
    return folder


def copy_of(folder: Path, into: Path) -> Path:
    target = into / "model"
    shutil.copytree(folder, target)
    return target


def check_bundle(bundle: ModelBundle) -> None:
    width, height = bundle.frame_size
    s = bundle.codec.spatial_factor
    assert width > 0 and height > 0 and width % s == 0 and height % s == 0
    for name, tensor in bundle.transformer.state_dict().items():
        assert tensor.is_floating_point() and bool(torch.isfinite(tensor).all()), name
    if bundle.default_intrinsics is not None:
        assert np.isfinite(bundle.default_intrinsics).all() and (bundle.default_intrinsics[:2] > 0).all()


@fuzz(60)
@given(edits=json_edits())
def test_bundle_json_values_are_checked_before_use(tiny_bundle, edits):
    with case_dir() as d:
        folder = copy_of(tiny_bundle, d)
        meta = json.loads((folder / "bundle.json").read_text())
        (folder / "bundle.json").write_text(json.dumps(edit_json(meta, edits)))
        result = run_reader(lambda: load_bundle(folder), "model folders", workdir=d)
        if not isinstance(result, SanaWMInputError):
            check_bundle(result)


damage = st.sampled_from(["nan", "inf", "int32", "truncate", "empty", "drop-key", "extra-key", "garbage"])


@fuzz(16)
@given(kind=damage, which=st.integers(0, 10**6))
def test_damaged_weights_are_refused_naming_the_file(tiny_bundle, kind, which):
    with case_dir() as d:
        folder = copy_of(tiny_bundle, d)
        weights = folder / "model.safetensors"
        if kind in ("truncate", "empty", "garbage"):
            data = weights.read_bytes()
            weights.write_bytes({"truncate": data[: which % len(data)], "empty": b"", "garbage": b"\0junk" * 50}[kind])
        else:
            state = load_file(weights)
            key = sorted(state)[which % len(state)]
            if kind == "nan":
                state[key] = state[key].clone().fill_(float("nan"))
            elif kind == "inf":
                state[key] = state[key].clone().reshape(-1).index_fill_(0, torch.tensor([0]), float("inf")).reshape(state[key].shape)
            elif kind == "int32":
                state[key] = state[key].to(torch.int32)
            elif kind == "drop-key":
                del state[key]
            else:
                state["not.a.weight"] = torch.zeros(2)
            save_file(state, weights)
        result = run_reader(lambda: load_bundle(folder), "model folders", workdir=d)
        assert isinstance(result, SanaWMInputError) and "model.safetensors" in str(result)


class _Exploit:
    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


@pytest.mark.parametrize("case", ["pickle-pt", "yaml-tag", "deep-yaml", "shard-escape", "bundle-list",
                                  "no-config", "no-codec", "unknown-key", "frame-zero", "nested-json"])  # fmt: skip
def test_model_folder_corpus_through_generate(tiny_bundle, tmp_path, case):
    """Each named case of the issue, through ``sana-wm generate --model``: one clear line, nothing run, nothing written."""
    marker = tmp_path / "payload-ran"
    folder = tmp_path / "model"
    if case in ("pickle-pt", "yaml-tag", "deep-yaml", "shard-escape"):
        (folder / "sana_dit").mkdir(parents=True)
        (folder / "ltx2_causal_vae").mkdir()
        if case == "pickle-pt":
            torch.save({"x": torch.zeros(1)}, folder / "sana_dit" / "model.pt")
            (folder / "sana_dit" / "model.pt").write_bytes(pickle.dumps(_Exploit(str(marker))))
        elif case in ("yaml-tag", "deep-yaml"):
            shutil.rmtree(folder / "sana_dit")
            (folder / "dit").mkdir()
            text = f"model: !!python/object/apply:builtins.open ['{marker}', 'w']\n" if case == "yaml-tag" else "a: " + "[" * 5000
            (folder / "config.yaml").write_text(text)
        else:
            (folder / "transformer").mkdir()
            (folder / "model_index.json").write_text("{}")
            (folder / "transformer" / "config.json").write_text("{}")
            (folder / "transformer" / "diffusion_pytorch_model.safetensors.index.json").write_text(
                json.dumps({"weight_map": {"a": "../../../etc/passwd"}}))  # fmt: skip
    else:
        shutil.copytree(tiny_bundle, folder)
        meta = json.loads((folder / "bundle.json").read_text())
        if case == "bundle-list":
            meta = [meta]
        elif case in ("no-config", "no-codec"):
            del meta[case.removeprefix("no-")]
        elif case == "unknown-key":
            meta["config"]["warp_drive"] = 9
        elif case == "frame-zero":
            meta["frame_size"] = [0, 0]
        text = json.dumps(meta) if case != "nested-json" else '{"a": ' + "[" * 100_000
        (folder / "bundle.json").write_text(text)
    Image.new("RGB", (64, 32)).save(tmp_path / "start.png")
    argv = ["generate", "--model", str(folder), "--image", str(tmp_path / "start.png"), "--action", "w-48",
            "--num_frames", "25", "--output_dir", str(tmp_path / "out"), "--quiet"]  # fmt: skip
    outcome = run_cli(argv, tmp_path, "model folders")
    assert outcome.code == 2 and str(folder) in outcome.error and not marker.exists()
    assert "weights_only=False" not in outcome.error and "--intrinsics" not in outcome.error


@pytest.mark.parametrize("case", ["pickle-pt", "pickle-pt-zip", "yaml-tag"])
def test_malicious_checkpoints_and_configs_are_refused_and_never_run(tmp_path, case):
    from engine.bundles.official import OfficialBundleLayout, read_bundle_config
    from engine.bundles.weights import load_transformer

    marker = tmp_path / "payload-ran"
    if case == "yaml-tag":
        config = tmp_path / "config.yaml"
        config.write_text(f"model: !!python/object/apply:builtins.open ['{marker}', 'w']\n")
        layout = OfficialBundleLayout("bidirectional", tmp_path, config, tmp_path, tmp_path, tmp_path, tmp_path,
                                      tmp_path, tmp_path)  # fmt: skip
        result = run_reader(lambda: read_bundle_config(layout), "model folders")
    else:
        path = tmp_path / "model.pt"
        if case == "pickle-pt":
            path.write_bytes(pickle.dumps(_Exploit(str(marker))))
        else:  # a torch zip container whose data.pkl is the payload
            torch.save({"x": torch.zeros(1)}, path)
            import zipfile

            with zipfile.ZipFile(path) as src:
                members = {info.filename: src.read(info) for info in src.infolist()}
            with zipfile.ZipFile(path, "w") as dst:
                for name, data in members.items():
                    dst.writestr(name, pickle.dumps(_Exploit(str(marker)), protocol=2) if name.endswith("data.pkl") else data)
        result = run_reader(lambda: load_transformer(path), "model folders")
    assert isinstance(result, SanaWMInputError) and not marker.exists()
    assert "weights_only=False" not in str(result) and "\n" not in str(result)
