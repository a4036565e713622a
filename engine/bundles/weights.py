"""Loading SANA-WM Stage-1 DiT checkpoints into :class:`engine.model.SanaWMTransformer` (spec model §7, §10).

:func:`load_transformer` accepts every layout the official releases use:

* an original-layout file — ``dit/sana_wm_1600m_720p.safetensors`` or a ``.pt`` / ``.pth`` streaming container
  (``torch.load(weights_only=True, mmap=True)``; a ``generator`` and/or ``state_dict`` wrapper is unwrapped and a
  leading ``model.`` is stripped from the keys);
* an official folder — ``dit/*.safetensors`` (or ``sana_dit/model.pt``) with ``config.yaml`` beside it;
* a diffusers folder — ``transformer/config.json`` with ``diffusion_pytorch_model.safetensors`` or the shards of
  ``diffusion_pytorch_model.safetensors.index.json`` (the folder itself or its parent); ``t_embedder.linear_1/2``
  are renamed to ``t_embedder.mlp.0/2``;
* an in-memory state dict.

Hyper-parameters: an explicit ``config`` wins; otherwise a diffusers ``config.json`` is read, else the sizes are
inferred from the tensor shapes (depth, width, heads, channels, which blocks are softmax blocks, kernel sizes) and
the ``model:`` section of an official ``config.yaml`` (read by a minimal reader — flat ``key: value`` scalars, no
PyYAML needed) supplies the rest. Everything not determined that way keeps the released model's value.

Checking is strict: every key the model expects must be present with the right shape, and nothing else may be —
except ``pos_embed`` (the unused base-class buffer, never owned by the model), ``y_embedder.y_embedding`` and
``*.attn.recall_gate`` (buffers, loaded when present, zero-filled when absent). Failures raise
:class:`~engine.errors.CheckpointError` with the counts and the first few keys of each kind.

Memory: the model is built on the meta device and tensors are read one by one (safetensors memory-mapped, ``.pt``
via ``mmap=True``) and *assigned* as the parameters, so loading never holds two copies of the weights. RoPE tables
are computed, not loaded, and so never pass through the dtype cast.
"""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from engine.errors import BundleError, CheckpointError, ConfigError, InputFileError, clip_text
from engine.bundles.local_models import shard_names
from engine.io.bounded import read_json
from engine.model import SanaWMConfig, SanaWMTransformer

logger = logging.getLogger(__name__)

IGNORED_KEYS = ("pos_embed",)
OPTIONAL_BUFFER_PATTERN = re.compile(r"^(y_embedder\.y_embedding|blocks\.\d+\.attn\.recall_gate)$")
DIFFUSERS_RENAMES = (("t_embedder.linear_1.", "t_embedder.mlp.0."), ("t_embedder.linear_2.", "t_embedder.mlp.2."))
LOADABLE_DTYPES = (torch.float32, torch.bfloat16, torch.float16)
_SHOW = 5


@dataclass
class _Tensors:
    """Checkpoint tensors by (normalised) key: shapes known up front, data read on demand."""

    shapes: dict[str, tuple[int, ...]]
    read: Callable[[str], torch.Tensor]
    origin: str  # what to name in error messages
    metadata: dict[str, Any] | None = None  # diffusers config.json, or None
    yaml_model: dict[str, Any] | None = None  # official config.yaml sections, or None


# ----------------------------------------------------------------------------------------------------------------
# public entry point
# ----------------------------------------------------------------------------------------------------------------
def load_transformer(
    source: str | Path | Mapping[str, torch.Tensor],
    *,
    config: SanaWMConfig | str | None = None,
    dtype: torch.dtype = torch.float32,
    device: str | torch.device = "cpu",
    **overrides: Any,
) -> SanaWMTransformer:
    """Build a :class:`SanaWMTransformer` and load a checkpoint into it strictly.

    Args:
        source: a ``.safetensors`` / ``.pt`` file, an official or diffusers folder, or a state dict.
        config: a :class:`SanaWMConfig`, a preset name, or None (read / inferred, see the module docstring).
        dtype: parameter dtype (fp32 or bf16; fp16 also accepted).
        device: where the parameters live.
        **overrides: config fields to change, e.g. ``camera_variant="pr401"`` or ``gated_delta_impl="naive"``.

    Raises:
        InputFileError: ``source`` does not exist or is not a checkpoint kind.
        BundleError: a folder without a recognised weights file (names the folder and the files expected).
        CheckpointError: unreadable / truncated file, or keys and shapes that do not match the model.
        ConfigError: invalid configuration or overrides.
    """
    if dtype not in LOADABLE_DTYPES:
        raise ConfigError(f"dtype {dtype} is not supported for loading; use torch.float32 or torch.bfloat16")
    with contextlib.ExitStack() as stack:
        tensors = _open_source(source, stack)
        cfg = _resolve_config(tensors, config, overrides)
        with torch.device("meta"):
            model = SanaWMTransformer(cfg)
        expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
        _check_keys(expected, tensors)
        state = {}
        for key, shape in expected.items():
            if key in tensors.shapes:
                state[key] = _checked(tensors.read(key), key, tensors.origin).to(device=device, dtype=dtype)
            else:  # an optional buffer the checkpoint does not carry
                state[key] = torch.zeros(shape, dtype=dtype, device=device)
        model.load_state_dict(state, strict=True, assign=True)
    return model.eval()


def _checked(tensor: torch.Tensor, key: str, origin: str) -> torch.Tensor:
    """A stored weight as it may be loaded: floating point (an integer tensor would be cast silently into nonsense)
    and finite (a NaN weight makes every frame NaN, which the video encoder then writes as black or noise)."""
    if not tensor.is_floating_point():
        raise CheckpointError(f"{origin}: tensor {key!r} holds {str(tensor.dtype).removeprefix('torch.')}; expected "
                              "floating-point weights")  # fmt: skip
    if not bool(torch.isfinite(tensor).all()):
        raise CheckpointError(f"{origin}: tensor {key!r} holds NaN or infinite values; the checkpoint is damaged")
    return tensor


# ----------------------------------------------------------------------------------------------------------------
# sources
# ----------------------------------------------------------------------------------------------------------------
def _normalise(key: str) -> str:
    if key.startswith("model."):
        key = key[len("model.") :]
    for old, new in DIFFUSERS_RENAMES:
        if key.startswith(old):
            key = new + key[len(old) :]
    return key


def _from_mapping(mapping: Mapping[str, Any], origin: str) -> _Tensors:
    if "generator" in mapping and isinstance(mapping["generator"], Mapping):
        mapping = mapping["generator"]
    if "state_dict" in mapping and isinstance(mapping["state_dict"], Mapping):
        mapping = mapping["state_dict"]
    tensors: dict[str, torch.Tensor] = {}
    for key, value in mapping.items():
        if not isinstance(value, torch.Tensor):
            raise CheckpointError(f"{origin}: entry {key!r} is a {type(value).__name__}, not a tensor")
        name = _normalise(key)
        if name not in IGNORED_KEYS:
            tensors[name] = value
    return _Tensors({k: tuple(v.shape) for k, v in tensors.items()}, tensors.__getitem__, origin)


def _from_safetensors(files: list[Path], stack: contextlib.ExitStack, origin: str) -> _Tensors:
    from safetensors import SafetensorError, safe_open

    handles: dict[str, Any] = {}
    shapes: dict[str, tuple[int, ...]] = {}
    for path in files:
        try:
            handle = stack.enter_context(safe_open(str(path), framework="pt", device="cpu"))
            keys = list(handle.keys())
            file_shapes = {k: tuple(handle.get_slice(k).get_shape()) for k in keys}
        except (SafetensorError, OSError) as exc:
            raise CheckpointError(f"{path}: not a readable safetensors file (truncated or corrupt?): {exc}") from None
        for key in keys:
            name = _normalise(key)
            if name in IGNORED_KEYS:
                continue
            handles[name] = (handle, key, path)
            shapes[name] = file_shapes[key]

    def read(name: str) -> torch.Tensor:
        handle, key, path = handles[name]
        try:
            return handle.get_tensor(key)
        except (SafetensorError, OSError, RuntimeError) as exc:
            raise CheckpointError(f"{path}: tensor {key!r} cannot be read (truncated or corrupt?): {exc}") from None

    return _Tensors(shapes, read, origin)


def _from_torch_file(path: Path) -> _Tensors:
    try:
        try:
            obj = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
        except RuntimeError as exc:
            if "mmap" not in str(exc):  # legacy (non-zip) files cannot be memory-mapped
                raise
            obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many kinds (pickle, zip, OSError) for a bad file  # noqa: BLE001
        raise CheckpointError(f"{path}: not a readable torch checkpoint ({_torch_load_reason(exc)})") from None
    if not isinstance(obj, Mapping):
        raise CheckpointError(f"{path}: expected a dict of tensors, found a {type(obj).__name__}")
    return _from_mapping(obj, str(path))


def _torch_load_reason(exc: BaseException) -> str:
    """Why ``torch.load(weights_only=True)`` refused a file, in a few words. torch's own message runs to many lines
    and advises re-running with ``weights_only=False``, which would execute the file's pickled code: never repeated
    here."""
    text = str(exc)
    if "weights_only" in text or "Unsupported global" in text or "Unpickler" in text:
        return "it holds pickled Python objects other than tensors, refused for safety"
    return clip_text(text.splitlines()[0] if text.strip() else type(exc).__name__, 120) + "; truncated or corrupt?"


def _open_file(path: Path, stack: contextlib.ExitStack) -> _Tensors:
    if path.suffix == ".safetensors":
        return _from_safetensors([path], stack, str(path))
    if path.suffix in (".pt", ".pth", ".bin", ".ckpt"):
        return _from_torch_file(path)
    raise InputFileError(f"{path}: unknown checkpoint kind; expected a .safetensors or .pt file, or a model folder")


def _open_diffusers(folder: Path, stack: contextlib.ExitStack) -> _Tensors:
    config_path = folder / "config.json"
    metadata = read_json(config_path, error=CheckpointError, expect=dict)
    single = folder / "diffusion_pytorch_model.safetensors"
    index = folder / "diffusion_pytorch_model.safetensors.index.json"
    if single.is_file():
        files = [single]
    elif index.is_file():
        weight_map = read_json(index, error=CheckpointError, expect=dict).get("weight_map")
        files = [folder / name for name in shard_names(weight_map, index)]
        for shard in files:
            if not shard.is_file():
                raise BundleError(f"{folder}: shard {shard.name} listed in {index.name} is missing")
    else:
        raise BundleError(
            f"{folder}: diffusers transformer folder without weights; expected {single.name} or {index.name}"
        )
    tensors = _from_safetensors(files, stack, str(folder))
    tensors.metadata = metadata
    return tensors


def _open_folder(folder: Path, stack: contextlib.ExitStack) -> _Tensors:
    if (folder / "config.json").is_file():
        return _open_diffusers(folder, stack)
    if (folder / "transformer" / "config.json").is_file():
        return _open_diffusers(folder / "transformer", stack)
    dit = sorted((folder / "dit").glob("*.safetensors")) if (folder / "dit").is_dir() else []
    if len(dit) > 1:
        raise BundleError(f"{folder}/dit: several checkpoints ({', '.join(p.name for p in dit)}); pass the file itself")
    if dit:
        tensors = _from_safetensors(dit, stack, str(dit[0]))
    elif (folder / "sana_dit" / "model.pt").is_file():
        tensors = _from_torch_file(folder / "sana_dit" / "model.pt")
    else:
        raise BundleError(
            f"{folder}: no transformer weights found; expected dit/<name>.safetensors (official), "
            "sana_dit/model.pt (official streaming) or transformer/config.json (diffusers)"
        )
    if (folder / "config.yaml").is_file():
        tensors.yaml_model = read_official_yaml(folder / "config.yaml")
    return tensors


def _open_source(source: str | Path | Mapping[str, torch.Tensor], stack: contextlib.ExitStack) -> _Tensors:
    if isinstance(source, Mapping):
        return _from_mapping(source, "state dict")
    path = Path(source)
    if path.is_dir():
        return _open_folder(path, stack)
    if not path.is_file():
        raise InputFileError(f"{path}: no such checkpoint file or folder")
    return _open_file(path, stack)


# ----------------------------------------------------------------------------------------------------------------
# configuration
# ----------------------------------------------------------------------------------------------------------------
def _scalar(text: str) -> Any:
    text = text.split(" #", 1)[0].strip()
    if text in ("", "~", "null", "None"):
        return None
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text


def read_official_yaml(path: Path) -> dict[str, dict[str, Any]]:
    """The flat ``key: value`` scalars of each top-level section of an NVlabs ``config.yaml``.

    A deliberately small reader (lists, nested maps and multi-line values are skipped): the loader needs only a
    few scalars of ``model:`` and ``text_encoder:``, and the engine does not depend on PyYAML.
    """
    sections: dict[str, dict[str, Any]] = {}
    current: dict[str, Any] | None = None
    try:
        lines = path.read_text().splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise CheckpointError(f"{path}: cannot read the model config: {exc}") from None
    for line in lines:
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        indent = len(line) - len(line.lstrip(" "))
        match = re.match(r"^\s*([A-Za-z0-9_]+):\s*(.*)$", line)
        if indent == 0:
            current = sections.setdefault(match.group(1), {}) if match else None
        elif indent == 2 and match and current is not None:
            current[match.group(1)] = _scalar(match.group(2))
    return sections


def infer_config_values(shapes: Mapping[str, tuple[int, ...]], origin: str = "checkpoint") -> dict[str, Any]:
    """Architecture sizes read off the tensor shapes of an official-layout state dict."""
    try:
        hidden, in_channels = shapes["x_embedder.proj.weight"][:2]
        heads = shapes["blocks.0.attn.beta_proj.weight"][0]
        depth = 1 + max(int(m.group(1)) for k in shapes if (m := re.match(r"blocks\.(\d+)\.", k)))
        mlp_out = shapes["blocks.0.mlp.inverted_conv.conv.weight"][0]
        values: dict[str, Any] = dict(
            depth=depth,
            hidden_size=hidden,
            num_heads=heads,
            head_dim=hidden // heads,
            in_channels=in_channels,
            out_channels=shapes["final_layer.linear.weight"][0],
            mlp_ratio=mlp_out / 2 / hidden,
            t_kernel_size=shapes["blocks.0.mlp.t_conv.weight"][2],
            plucker_channels=shapes["plucker_embedder.proj.weight"][1],
            raymap_channels=shapes["raymap_embedder.proj.weight"][1],
        )
    except (KeyError, IndexError, ValueError) as exc:
        raise CheckpointError(f"{origin}: not a SANA-WM DiT state dict (cannot read {exc} from the shapes)") from None
    fc1 = shapes.get("y_embedder.y_proj.fc1.weight")
    values["caption_channels"] = fc1[1] if fc1 else None
    if "y_embedder.y_embedding" in shapes:
        values["caption_length"] = shapes["y_embedder.y_embedding"][0]
    softmax = [i for i in range(depth) if f"blocks.{i}.attn.conv_k.weight" not in shapes]
    gdn = [i for i in range(depth) if i not in softmax]
    if gdn:
        values["conv_kernel_size"] = shapes[f"blocks.{gdn[0]}.attn.conv_k.weight"][-1]
    candidates = [n for n in range(0, depth + 1) if softmax == [i for i in range(depth) if n and (i + 1) % n == 0]]
    if not candidates:
        raise CheckpointError(f"{origin}: softmax blocks {softmax} (no conv_k) do not follow an every-n pattern")
    values["softmax_every_n"] = candidates[0] if candidates[0] else 0
    return values


def _yaml_overrides(sections: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    model = sections.get("model", {})
    for key, allowed in (
        ("cam_attn_compress", (1, None)),
        ("k_conv_only", (True, None)),
        ("ffn_type", ("GLUMBConvTemp", None)),
        ("pos_embed_type", ("wan_rope", "casual_wan_rope", None)),
        ("use_chunk_plucker_post_attn", (True, None)),
    ):
        if model.get(key) not in allowed:
            raise ConfigError(
                f"config.yaml: model.{key} = {model.get(key)!r} is not supported (expected {allowed[0]!r})"
            )
    values: dict[str, Any] = {}
    for yaml_key, field in (
        ("linear_head_dim", "head_dim"),
        ("softmax_every_n", "softmax_every_n"),
        ("conv_kernel_size", "conv_kernel_size"),
        ("t_kernel_size", "t_kernel_size"),
        ("mlp_ratio", "mlp_ratio"),
        ("chunk_plucker_channels", "plucker_channels"),
    ):
        if model.get(yaml_key) is not None:
            values[field] = model[yaml_key]
    if sections.get("text_encoder", {}).get("model_max_length") is not None:
        values["caption_length"] = sections["text_encoder"]["model_max_length"]
    return values


def _resolve_config(tensors: _Tensors, config: SanaWMConfig | str | None, overrides: dict[str, Any]) -> SanaWMConfig:
    if isinstance(config, str):
        return SanaWMConfig.from_preset(config, **overrides)
    if isinstance(config, SanaWMConfig):
        return config.replace(**overrides) if overrides else config
    if tensors.metadata is not None:
        return SanaWMConfig.from_diffusers_config(tensors.metadata, **overrides)
    values = infer_config_values(tensors.shapes, tensors.origin)
    if tensors.yaml_model is not None:
        values.update(_yaml_overrides(tensors.yaml_model))
    values.update(overrides)
    base = SanaWMConfig.from_preset("sana-wm-1600m-720p")
    return base.replace(preset=None, **values)


# ----------------------------------------------------------------------------------------------------------------
# strict check
# ----------------------------------------------------------------------------------------------------------------
def _listing(kind: str, keys: list[str]) -> str:
    more = f", ... ({len(keys) - _SHOW} more)" if len(keys) > _SHOW else ""
    return f"{len(keys)} {kind} ({', '.join(keys[:_SHOW])}{more})"


def _check_keys(expected: Mapping[str, tuple[int, ...]], tensors: _Tensors) -> None:
    found = tensors.shapes
    missing = [k for k in expected if k not in found and not OPTIONAL_BUFFER_PATTERN.match(k)]
    unexpected = [k for k in found if k not in expected]
    mismatched = [
        f"{k}: checkpoint {list(found[k])} vs model {list(shape)}"
        for k, shape in expected.items()
        if k in found and tuple(found[k]) != tuple(shape)
    ]
    if missing or unexpected or mismatched:
        parts = [
            _listing(kind, keys)
            for kind, keys in (("missing", missing), ("unexpected", unexpected), ("shape-mismatched", mismatched))
            if keys
        ]
        raise CheckpointError(f"{tensors.origin} does not match the model: " + "; ".join(parts))
