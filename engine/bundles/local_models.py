"""Local model folders: what makes one loadable, loading diffusers models from it, and the offline switch.

Why this exists: every external part of an official bundle (the LTX-2 VAE, the refiner transformer and text
connectors, the Gemma text encoders) is an ordinary diffusers or transformers folder. The engine reads them only from
disk (``DESIGN.md``: no network at run time; a missing part is an error naming the folder and the file expected), so
this module answers three questions in one place:

* :func:`missing_files` — which expected files a folder of a given kind lacks (``config.json``, weights, tokenizer
  files), so callers can raise :class:`~engine.errors.BundleError` before loading anything heavy;
* :func:`load_diffusers_model` — build a diffusers model on the meta device from its ``config.json`` and *assign*
  the safetensors tensors (single file or shards), checking the keys strictly. Unlike diffusers' own
  ``from_pretrained`` this never materialises a randomly initialised copy (which, without ``accelerate``, costs the
  full fp32 model in host memory: ~76 GB for the 19 B-parameter refiner) and never consults the Hub;
* :func:`enforce_offline` — sets the Hugging Face offline flags so that nothing in transformers / diffusers /
  huggingface_hub tries the network, in addition to ``local_files_only=True`` on every ``from_pretrained`` call.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any, TypeVar

import torch

from engine.errors import BundleError, CheckpointError, clip_text
from engine.io import bounded

logger = logging.getLogger(__name__)

OFFLINE_FLAGS = {
    "HF_HUB_OFFLINE": "1",  # huggingface_hub (and through it diffusers and transformers)
    "TRANSFORMERS_OFFLINE": "1",  # older transformers releases read this one
    "HF_DATASETS_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "DO_NOT_TRACK": "1",
}
DIFFUSERS_WEIGHTS = "diffusion_pytorch_model.safetensors"
TRANSFORMERS_WEIGHTS = "model.safetensors"
TOKENIZER_CONFIG = "tokenizer_config.json"
TOKENIZER_FILES = ("tokenizer.json", "tokenizer.model")
_SHOW = 5

M = TypeVar("M", bound=torch.nn.Module)


def enforce_offline() -> None:
    """Switch every Hugging Face library in this process to offline mode.

    The flags are environment variables read at import time by ``huggingface_hub``; when it is already imported its
    module-level switch (what transformers' ``is_offline_mode()`` reads at call time) is flipped too. diffusers
    copies the value at import, which is why every load here also passes ``local_files_only=True``.
    """
    os.environ.update(OFFLINE_FLAGS)
    try:
        from huggingface_hub import constants
    except ImportError:  # pragma: no cover - huggingface_hub comes with diffusers and transformers
        return
    constants.HF_HUB_OFFLINE = True
    constants.HF_HUB_DISABLE_TELEMETRY = True


# ----------------------------------------------------------------------------------------------------------------
# what a folder must hold
# ----------------------------------------------------------------------------------------------------------------
def missing_files(folder: Path, kind: str) -> list[str]:
    """The expected files ``folder`` lacks, as human-readable names (empty list = complete).

    Args:
        folder: the folder to check (it need not exist).
        kind: ``"diffusers"`` (``config.json`` + ``diffusion_pytorch_model.safetensors`` or its shard index),
            ``"transformers"`` (``config.json`` + ``model.safetensors`` or its shard index) or ``"tokenizer"``
            (``tokenizer_config.json`` + ``tokenizer.json`` or ``tokenizer.model``). Weights must be safetensors
            (pickled ``.bin`` files are not loaded).
    """
    if kind == "tokenizer":
        missing = [] if (folder / TOKENIZER_CONFIG).is_file() else [TOKENIZER_CONFIG]
        if not any((folder / name).is_file() for name in TOKENIZER_FILES):
            missing.append(" or ".join(TOKENIZER_FILES))
        return missing
    single = {"diffusers": DIFFUSERS_WEIGHTS, "transformers": TRANSFORMERS_WEIGHTS}[kind]
    missing = [] if (folder / "config.json").is_file() else ["config.json"]
    if not ((folder / single).is_file() or (folder / f"{single}.index.json").is_file()):
        missing.append(f"{single} (or {single}.index.json with its shards)")
    return missing


def require_folder(folder: Path, kind: str, what: str) -> None:
    """Raise :class:`BundleError` naming ``what``, the folder and the files expected when something is missing."""
    missing = missing_files(folder, kind)
    if missing:
        state = "is missing" if not folder.is_dir() else f"lacks {', '.join(missing)}"
        raise BundleError(f"{what}: folder {folder} {state}; expected {', '.join(missing)} there")


def read_json(path: Path) -> dict[str, Any]:
    """A JSON config file as a dict; unreadable or malformed files raise :class:`CheckpointError` naming them."""
    return bounded.read_json(path, error=CheckpointError, expect=dict)


# ----------------------------------------------------------------------------------------------------------------
# loading diffusers models
# ----------------------------------------------------------------------------------------------------------------
def _safetensors_files(folder: Path) -> list[Path]:
    single = folder / DIFFUSERS_WEIGHTS
    if single.is_file():
        return [single]
    index = folder / f"{DIFFUSERS_WEIGHTS}.index.json"
    if not index.is_file():
        raise BundleError(f"{folder}: no weights; expected {single.name} or {index.name} (safetensors only)")
    weight_map = read_json(index).get("weight_map")
    files = [folder / name for name in shard_names(weight_map, index)]
    for shard in files:
        if not shard.is_file():
            raise BundleError(f"{folder}: shard {shard.name} listed in {index.name} is missing")
    return files


def shard_names(weight_map: Any, index: Path) -> list[str]:
    """The shard files a ``weight_map`` names, each a plain file name in the index's folder (a name with a folder
    part, such as ``../x``, would read a file outside the model folder)."""
    if not isinstance(weight_map, dict) or not all(isinstance(v, str) for v in weight_map.values()):
        raise CheckpointError(f"{index}: expected a 'weight_map' object of shard file names")
    names = sorted(set(weight_map.values()))
    bad = [n for n in names if Path(n).name != n or n in ("", ".", "..")]
    if bad:
        raise CheckpointError(f"{index}: expected shard file names in its own folder, found {clip_text(repr(bad[0]), 60)}")
    return names


def _listing(kind: str, keys: list[str]) -> str:
    more = f", ... ({len(keys) - _SHOW} more)" if len(keys) > _SHOW else ""
    return f"{len(keys)} {kind} ({', '.join(keys[:_SHOW])}{more})"


def load_diffusers_model(
    cls: type[M],
    folder: Path,
    *,
    dtype: torch.dtype = torch.float32,
    device: str | torch.device = "cpu",
) -> M:
    """Build ``cls`` from ``folder/config.json`` and load ``folder``'s safetensors into it, strictly.

    Contract: every state-dict key of the built model must be in the files with the same shape and nothing else may
    be; tensors are read memory-mapped, cast to ``dtype``, moved to ``device`` and assigned (one copy in memory).
    A ``_class_name`` in the config that differs from ``cls`` is accepted (the NVlabs releases save the refiner as
    ``LTX2VideoTransformer3DModel`` and the causal VAE under its own class name, with identical parameter names) and
    logged; unknown config keys are ignored by diffusers' ``from_config``.

    Raises:
        BundleError: missing ``config.json`` or weights (names the folder and the files expected).
        CheckpointError: unreadable files, or keys / shapes that do not match the model.
    """
    from safetensors import SafetensorError, safe_open

    folder = Path(folder)
    require_folder(folder, "diffusers", cls.__name__)
    config = read_json(folder / "config.json")
    saved_class = config.get("_class_name")
    if saved_class and saved_class != cls.__name__:
        logger.info("%s: config.json names %s; loading it as %s", folder, saved_class, cls.__name__)
    try:
        with torch.device("meta"):
            model = cls.from_config(config)
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"{folder / 'config.json'}: not a valid {cls.__name__} config: {exc}") from None
    expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    state: dict[str, torch.Tensor] = {}
    unexpected: list[str] = []
    mismatched: dict[str, str] = {}
    for path in _safetensors_files(folder):
        try:
            with safe_open(str(path), framework="pt", device="cpu") as handle:
                for key in handle.keys():
                    if key not in expected:
                        unexpected.append(key)
                        continue
                    shape = tuple(handle.get_slice(key).get_shape())
                    if shape != expected[key]:
                        mismatched[key] = f"{key}: file {list(shape)} vs model {list(expected[key])}"
                        continue
                    state[key] = handle.get_tensor(key).to(device=device, dtype=dtype)
        except (SafetensorError, OSError) as exc:
            raise CheckpointError(f"{path}: not a readable safetensors file (truncated or corrupt?): {exc}") from None
    missing = [k for k in expected if k not in state and k not in mismatched]
    if missing or unexpected or mismatched:
        kinds = (("missing", missing), ("unexpected", unexpected), ("shape-mismatched", [*mismatched.values()]))
        parts = [_listing(kind, keys) for kind, keys in kinds if keys]
        raise CheckpointError(f"{folder} does not match {cls.__name__}: " + "; ".join(parts))
    model.load_state_dict(state, strict=True, assign=True)
    leftover = [name for name, t in [*model.named_parameters(), *model.named_buffers()] if t.is_meta]
    if leftover:  # a class with non-persistent buffers would need its own initialisation
        raise CheckpointError(f"{folder}: {cls.__name__} has state not stored in checkpoints: {leftover[:_SHOW]}")
    return model.eval()
