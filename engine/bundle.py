"""A model bundle: everything one generation needs, loaded and ready (the DiT, its codec, optional text encoder
and refiner, the pixel size the model runs at, and defaults) — and the embedded bundle's folder format.

Sessions, pipelines, the CLI and the app all take a :class:`ModelBundle`. :func:`load_bundle` finds one: the
embedded model shipped in ``resources/models/`` (the default), an embedded-format folder (``bundle.json`` +
``model.safetensors``, written by :func:`save_bundle`), or an official SANA-WM folder
(:mod:`engine.components.official_bundle`). :meth:`ModelBundle.random` builds a random-weight bundle from a preset
for tests and benchmarks; it is labelled as such everywhere it is shown.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch

from engine.atomic import atomic_path, atomic_write_text
from engine.components.codec import LatentCodec
from engine.components.patch_codec import PatchDCTCodec
from engine.errors import BundleError
from engine.model.config import SanaWMConfig
from engine.model.transformer import SanaWMTransformer

log = logging.getLogger(__name__)

#: Where the embedded default model lives (shipped with the project, never downloaded).
RESOURCES = Path(__file__).resolve().parents[1] / "resources"
EMBEDDED_MODEL_DIR = RESOURCES / "models" / "sana-wm-tiny"
BUNDLE_FORMAT = "sana-wm-embedded/1"
#: The random stand-in used while no embedded model is shipped (clearly labelled wherever it is shown).
FALLBACK_PRESET = "sana-wm-small"


class TextEncoder(Protocol):
    """Prompt -> the DiT's caption input (``(1, L, C_y)`` states and ``(1, L)`` mask)."""

    def encode(self, prompt: str) -> tuple[torch.Tensor, torch.Tensor]:
        """A user prompt (with the model's instruction prefix, if it has one)."""
        ...

    def encode_negative(self, prompt: str = "") -> tuple[torch.Tensor, torch.Tensor]:
        """The negative prompt of classifier-free guidance (official: no instruction prefix)."""
        ...


@dataclass
class ModelBundle:
    """A loaded model and its companions.

    Attributes:
        name: short identifier shown to users (e.g. ``sana-wm-tiny``).
        transformer: the Stage-1 DiT (eval mode).
        codec: pixels <-> normalised latents (:mod:`engine.components.codec`).
        frame_size: ``(width, height)`` in pixels of the frames the model generates; a multiple of the codec's
            spatial factor. Input images are resized and centre-cropped to it.
        text_encoder: prompt encoder for text-conditioned models, None otherwise.
        refiner: the stage-2 refiner adapter, None when the bundle has none.
        default_intrinsics: ``(4,)`` ``fx, fy, cx, cy`` in ``frame_size`` pixels used when the user gives none
            (the embedded model's training FOV); None = intrinsics are required.
        source: folder or file it was loaded from (None for random bundles).
        label: a human note shown next to the name, e.g. "random weights: plumbing only".
        extras: free-form metadata (training run, licence, ...).
        context_frames: the longest stream, in latent frames, the model was trained to continue (its training
            window); a session re-anchors before a chunk would go past it (:class:`engine.session.WorldSession`).
            None = no limit (the official checkpoints, trained on long clips, stream with absolute positions).
    """

    name: str
    transformer: SanaWMTransformer
    codec: LatentCodec
    frame_size: tuple[int, int]
    text_encoder: TextEncoder | None = None
    refiner: Any | None = None
    default_intrinsics: np.ndarray | None = None
    source: Path | None = None
    label: str = ""
    extras: dict[str, Any] = field(default_factory=dict)
    context_frames: int | None = None

    @property
    def config(self) -> SanaWMConfig:
        return self.transformer.config

    @property
    def latent_grid(self) -> tuple[int, int]:
        """``(width, height)`` in latent cells (sizes are ``(width, height)`` everywhere, as in the camera layer)."""
        s = self.codec.spatial_factor
        return self.frame_size[0] // s, self.frame_size[1] // s

    @property
    def display_name(self) -> str:
        return f"{self.name} ({self.label})" if self.label else self.name

    @classmethod
    def random(
        cls,
        preset: str | SanaWMConfig = "sana-wm-tiny-test",
        *,
        frame_size: tuple[int, int] = (320, 176),
        spatial_factor: int = 16,
        seed: int = 0,
        dtype: torch.dtype = torch.float32,
        **overrides: Any,
    ) -> ModelBundle:
        """A random-weight bundle of ``preset`` with the zero-parameter :class:`PatchDCTCodec` (no text encoder,
        so ``caption_channels`` is switched off). For plumbing, tests and benchmarks only."""
        config = preset if isinstance(preset, SanaWMConfig) else SanaWMConfig.from_preset(preset)
        config = config.replace(caption_channels=None, **overrides)
        torch.manual_seed(seed)
        model = SanaWMTransformer(config).to(dtype).eval()
        codec = PatchDCTCodec(config.in_channels, spatial_factor)
        width, height = frame_size
        focal = 0.5 * width / np.tan(np.radians(60.0) / 2)  # 60 degrees horizontal FOV
        return cls(
            name=config.preset or "custom",
            transformer=model,
            codec=codec,
            frame_size=frame_size,
            default_intrinsics=np.array([focal, focal, width / 2, height / 2]),
            label="random weights: plumbing only",
        )


# ----- the embedded bundle format ------------------------------------------------------------------------------
_CODECS = {"patch-dct": PatchDCTCodec}


def _codec_spec(codec: LatentCodec) -> dict[str, Any]:
    if not isinstance(codec, PatchDCTCodec):
        raise BundleError(f"save_bundle: codec {codec.name!r} has no embedded-format description")
    return {"type": codec.name, "latent_channels": codec.latent_channels, "spatial_factor": codec.spatial_factor,
            "temporal_factor": codec.temporal_factor}  # fmt: skip


def save_bundle(bundle: ModelBundle, folder: str | Path) -> Path:
    """Write ``bundle`` as an embedded-format folder (``bundle.json`` + ``model.safetensors``, atomically each)."""
    from safetensors.torch import save_file

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    config = {k: v for k, v in dataclasses.asdict(bundle.config).items() if k != "preset"}
    meta = {
        "format": BUNDLE_FORMAT,
        "name": bundle.name,
        "label": bundle.label,
        "preset": bundle.config.preset,
        "config": config,
        "codec": _codec_spec(bundle.codec),
        "frame_size": list(bundle.frame_size),
        "default_intrinsics": None if bundle.default_intrinsics is None else [float(v) for v in bundle.default_intrinsics],
        "context_latent_frames": bundle.context_frames,
        "extras": bundle.extras,
    }
    state = {k: v.detach().contiguous().cpu() for k, v in bundle.transformer.state_dict().items()}
    with atomic_path(folder / "model.safetensors") as tmp:
        save_file(state, str(tmp))
    atomic_write_text(folder / "bundle.json", json.dumps(meta, indent=2) + "\n")
    return folder


def load_embedded_bundle(
    folder: str | Path, *, dtype: torch.dtype = torch.float32, device: torch.device | str = "cpu"
) -> ModelBundle:
    """Load an embedded-format folder strictly (every weight present and shaped as the config says)."""
    from engine.weights import load_transformer

    folder = Path(folder)
    meta_path = folder / "bundle.json"
    if not meta_path.is_file():
        raise BundleError(f"{folder}: expected an embedded model bundle with bundle.json, found no such file")
    try:
        meta = json.loads(meta_path.read_text())
    except (OSError, ValueError) as exc:
        raise BundleError(f"{meta_path}: could not read the bundle description ({exc})") from None
    if meta.get("format") != BUNDLE_FORMAT:
        raise BundleError(f"{meta_path}: expected format {BUNDLE_FORMAT!r}, found {meta.get('format')!r}")
    context = meta.get("context_latent_frames")
    if context is not None and (isinstance(context, bool) or not isinstance(context, int) or context < 1):
        raise BundleError(f"{meta_path}: context_latent_frames: expected a positive integer or null, found {context!r}")
    weights = folder / "model.safetensors"
    if not weights.is_file():
        raise BundleError(f"{folder}: expected the model weights in model.safetensors, found no such file")
    config = SanaWMConfig(**meta["config"], preset=meta.get("preset"))
    codec_spec = dict(meta["codec"])
    codec_type = codec_spec.pop("type")
    if codec_type not in _CODECS:
        raise BundleError(f"{meta_path}: unknown codec {codec_type!r}; expected one of {', '.join(_CODECS)}")
    model = load_transformer(weights, config=config, dtype=dtype, device=device).eval()
    intr = meta.get("default_intrinsics")
    return ModelBundle(
        name=meta["name"],
        transformer=model,
        codec=_CODECS[codec_type](**codec_spec),
        frame_size=tuple(meta["frame_size"]),
        default_intrinsics=None if intr is None else np.asarray(intr, dtype=np.float64),
        source=folder,
        label=meta.get("label", ""),
        extras=meta.get("extras", {}),
        context_frames=context,
    )


def load_bundle(
    source: str | Path | None = None,
    *,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str = "cpu",
    refiner: bool = True,
) -> ModelBundle:
    """The bundle at ``source``: None = the embedded default; a folder with ``bundle.json`` = embedded format;
    any other folder = an official SANA-WM bundle (with its refiner unless ``refiner=False``)."""
    if source is None:
        if (EMBEDDED_MODEL_DIR / "bundle.json").is_file():
            return load_embedded_bundle(EMBEDDED_MODEL_DIR, dtype=dtype, device=device)
        log.warning("no embedded model is shipped yet; using random %s weights (plumbing only)", FALLBACK_PRESET)
        bundle = ModelBundle.random(FALLBACK_PRESET, dtype=dtype)
        bundle.transformer.to(device)
        bundle.label = "random weights: plumbing only, the embedded model is not trained yet"
        return bundle
    path = Path(source)
    if not path.exists():
        raise BundleError(f"--model {path}: expected a model folder, found nothing at that path")
    if (path / "bundle.json").is_file():
        return load_embedded_bundle(path, dtype=dtype, device=device)
    from engine.components.official_bundle import load_official_bundle

    return load_official_bundle(path, dtype=dtype, device=device, refiner=refiner)
