"""Official SANA-WM bundles from a local folder: find the parts, validate them, load a :class:`ModelBundle`.

Why: the official releases are folders of heterogeneous parts (an NVlabs DiT checkpoint with its ``config.yaml``, a
diffusers VAE, a diffusers refiner with a transformers Gemma-3, and a transformers Gemma-2 caption encoder that the
NVlabs scripts fetch from its own Hub repo). The engine never downloads (``DESIGN.md``), so a user points it at a
folder; this module works out which layout it is, checks that every part it will need is there *before* loading
anything heavy, and reports a missing part as a :class:`~engine.errors.BundleError` naming the folder and the file
expected.

Layouts (paths relative to the bundle root; details in ``docs/official_bundles.md``):

* ``SANA-WM_bidirectional``: ``config.yaml`` (required), ``dit/<one>.safetensors``, ``vae/``, refiner
  ``refiner/{transformer,connectors}/`` with Gemma-3 in ``refiner/text_encoder/``;
* ``SANA-WM_streaming``: ``sana_wm_streaming_1600m_720p.yaml`` or ``config.yaml`` (optional: the Hub repo ships
  none), ``sana_dit/model.pt``, ``ltx2_causal_vae/``, refiner ``refiner_diffusers/{transformer,connectors}/`` with
  Gemma-3 in ``gemma3_12b/``;
* diffusers pipeline: ``model_index.json``, ``transformer/``, ``vae/``, Gemma-2 in ``text_encoder/`` with its
  tokenizer in ``tokenizer/``, refiner as in the bidirectional layout;
* Gemma-2 (captions) for the two NVlabs layouts: ``text_encoder/`` or ``gemma-2-2b-it/`` (model + tokenizer).

The refiner is used when its folder exists (and ``refiner=True``); a refiner folder that exists but is incomplete is
an error, not a silent fallback. The Gemma-2 folder is not part of the Hub releases (NVlabs loads
``Efficient-Large-Model/gemma-2-2b-it`` separately); it is looked up under the names above or given explicitly.

Config: the YAML's ``text_encoder.chi_prompt`` lines and ``model_max_length`` drive the caption encoder; an optional
``sana_wm_explorer`` section (``name``, ``label``, ``frame_size: [W, H]``) is this project's own addition, used by
the tiny test bundles. Official bundles generate 1280x704 frames and carry no default intrinsics.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from engine.bundles.bundle import ModelBundle
from engine.bundles.local_models import enforce_offline, missing_files
from engine.bundles.weights import load_transformer
from engine.components.gemma_text import GemmaCaptionEncoder
from engine.components.ltx2_vae import LTX2VideoCodec
from engine.components.refiner import LTX2Refiner, refiner_missing
from engine.errors import BundleError, CheckpointError, clip_text
from engine.io.bounded import MAX_JSON_BYTES, read_bytes
from engine.memory.fp8 import quantize_fp8
from engine.memory.tiers import FULL, TierPolicy

logger = logging.getLogger(__name__)

OFFICIAL_FRAME_SIZE = (1280, 704)
GEMMA2_FOLDERS = ("text_encoder", "gemma-2-2b-it")
STREAMING_CONFIGS = ("sana_wm_streaming_1600m_720p.yaml", "config.yaml")
KINDS = ("bidirectional", "streaming", "diffusers")


@dataclass(frozen=True)
class OfficialBundleLayout:
    """Where each part of a bundle is (or would be). Paths may not exist; :func:`validate_layout` checks them.

    Attributes:
        kind: ``"bidirectional"``, ``"streaming"`` or ``"diffusers"``.
        root: the bundle folder.
        config: the YAML model config, None when the layout has none.
        dit: the Stage-1 checkpoint (a file, or the root for folder layouts) as :func:`engine.bundles.weights.load_transformer`
            takes it.
        vae: the diffusers VAE folder.
        text_encoder: the Gemma-2 model folder.
        tokenizer: the Gemma-2 tokenizer folder (usually ``text_encoder``).
        refiner: the folder holding the refiner's ``transformer/`` and ``connectors/``.
        refiner_text_encoder: the Gemma-3 folder (model + tokenizer).
    """

    kind: str
    root: Path
    config: Path | None
    dit: Path
    vae: Path
    text_encoder: Path
    tokenizer: Path
    refiner: Path
    refiner_text_encoder: Path

    @property
    def has_refiner(self) -> bool:
        """Whether the bundle ships a refiner at all (its folder exists; completeness is checked separately)."""
        return self.refiner.is_dir() or self.refiner_text_encoder.is_dir()

    def describe(self) -> list[tuple[str, Path | None, bool]]:
        """``(part, path, present)`` for every part, for listings (``sana-wm`` info output, error messages)."""
        rows: list[tuple[str, Path | None, bool]] = [
            ("config", self.config, self.config is not None and self.config.is_file()),
            ("dit", self.dit, not _dit_missing(self)),
            ("vae", self.vae, not missing_files(self.vae, "diffusers")),
            ("text_encoder", self.text_encoder, not missing_files(self.text_encoder, "transformers")),
            ("tokenizer", self.tokenizer, not missing_files(self.tokenizer, "tokenizer")),
            ("refiner", self.refiner, not any(missing_files(self.refiner / sub, "diffusers")
                                              for sub in ("transformer", "connectors"))),
            ("refiner_text_encoder", self.refiner_text_encoder,
             not missing_files(self.refiner_text_encoder, "transformers")),
        ]  # fmt: skip
        return rows


def _gemma2_folder(root: Path) -> Path:
    """The first candidate holding a config, else the first that exists (so errors name the user's folder)."""
    for test in (lambda p: (p / "config.json").is_file(), Path.is_dir):
        for name in GEMMA2_FOLDERS:
            if test(root / name):
                return root / name
    return root / GEMMA2_FOLDERS[0]


def find_layout(folder: str | Path, *, text_encoder_folder: str | Path | None = None) -> OfficialBundleLayout:
    """Identify the layout of ``folder`` from its marker files (nothing is loaded or fully checked).

    Args:
        folder: the bundle root.
        text_encoder_folder: the Gemma-2 folder when it is not inside the bundle.

    Raises:
        BundleError: the folder does not exist or matches no known layout (the message lists what was expected).
    """
    root = Path(folder).expanduser()
    if not root.is_dir():
        raise BundleError(f"{root}: no such bundle folder")
    if (root / "model_index.json").is_file() or (root / "transformer" / "config.json").is_file():
        gemma = Path(text_encoder_folder) if text_encoder_folder else root / "text_encoder"
        tokenizer = gemma if text_encoder_folder or not (root / "tokenizer").is_dir() else root / "tokenizer"
        layout = OfficialBundleLayout(
            "diffusers", root, None, root, root / "vae", gemma, tokenizer, root / "refiner",
            root / "refiner" / "text_encoder",
        )  # fmt: skip
    elif (root / "sana_dit").is_dir() or (root / "ltx2_causal_vae").is_dir():
        config = next((root / n for n in STREAMING_CONFIGS if (root / n).is_file()), None)
        gemma = Path(text_encoder_folder) if text_encoder_folder else _gemma2_folder(root)
        layout = OfficialBundleLayout(
            "streaming", root, config, root / "sana_dit" / "model.pt", root / "ltx2_causal_vae", gemma, gemma,
            root / "refiner_diffusers", root / "gemma3_12b",
        )  # fmt: skip
    elif (root / "dit").is_dir() or (root / "config.yaml").is_file():
        gemma = Path(text_encoder_folder) if text_encoder_folder else _gemma2_folder(root)
        layout = OfficialBundleLayout(
            "bidirectional", root, root / "config.yaml", root, root / "vae", gemma, gemma, root / "refiner",
            root / "refiner" / "text_encoder",
        )  # fmt: skip
    else:
        raise BundleError(
            f"{root}: not a SANA-WM bundle; expected config.yaml and dit/<name>.safetensors (SANA-WM_bidirectional), "
            "sana_dit/model.pt and ltx2_causal_vae/ (SANA-WM_streaming), or model_index.json with transformer/ "
            "(diffusers)"
        )
    return layout


def _dit_missing(layout: OfficialBundleLayout) -> list[str]:
    if layout.kind == "streaming":
        return [] if layout.dit.is_file() else [str(layout.dit)]
    if layout.kind == "diffusers":
        return [f"{layout.root / 'transformer'}/{m}" for m in missing_files(layout.root / "transformer", "diffusers")]
    found = sorted((layout.root / "dit").glob("*.safetensors"))
    return [] if len(found) == 1 else [str(layout.root / "dit" / "<name>.safetensors")]


def _part_problems(label: str, folder: Path, *kinds: str, also: str = "") -> list[str]:
    """What is missing for one part: the whole folder (with the files it should hold) or single files in it."""
    missing = [name for kind in kinds for name in missing_files(folder, kind)]
    if not missing:
        return []
    if not folder.is_dir():
        return [f"{label} folder {folder}/{also} holding {', '.join(missing)}"]
    return [f"{label} {folder}/{name}" for name in missing]


def validate_layout(layout: OfficialBundleLayout, *, refiner: bool = True) -> None:
    """Check that every part the loader will read is present.

    Raises:
        BundleError: listing each missing file with its full path (folder + file name), e.g.
            ``.../vae/config.json``; several ``dit/*.safetensors`` files are reported too.
    """
    problems: list[str] = []
    if layout.kind == "bidirectional" and not layout.config.is_file():
        problems.append(f"model config {layout.config}")
    if layout.kind == "bidirectional" and len(list((layout.root / "dit").glob("*.safetensors"))) > 1:
        found = ", ".join(p.name for p in sorted((layout.root / "dit").glob("*.safetensors")))
        problems.append(f"exactly one Stage-1 checkpoint in {layout.root / 'dit'} (found {found})")
    else:
        problems += [f"Stage-1 DiT {path}" for path in _dit_missing(layout)]
    problems += _part_problems("LTX-2 VAE", layout.vae, "diffusers")
    if layout.tokenizer == layout.text_encoder:
        elsewhere = layout.kind != "diffusers" and layout.text_encoder.parent == layout.root
        also = f" (or {'/ or '.join(GEMMA2_FOLDERS[1:])}/)" if elsewhere else ""
        problems += _part_problems("Gemma-2 text encoder", layout.text_encoder, "transformers", "tokenizer", also=also)
    else:
        problems += _part_problems("Gemma-2 text encoder", layout.text_encoder, "transformers")
        problems += _part_problems("Gemma-2 tokenizer", layout.tokenizer, "tokenizer")
    if refiner and layout.has_refiner:
        problems += [f"refiner {path}" for path in refiner_missing(layout.refiner, layout.refiner_text_encoder)]
    if problems:  # paths inside the bundle relative to it, and at most three: the message stays one short line
        shown = [p.replace(f"{layout.root}/", "") for p in problems]
        more = f" (and {len(shown) - 3} more)" if len(shown) > 3 else ""
        raise BundleError(f"{layout.root} ({layout.kind} layout) is incomplete: expected " + "; ".join(shown[:3]) + more)


def read_bundle_config(layout: OfficialBundleLayout) -> dict[str, Any]:
    """The YAML config as a dict (``{}`` when the layout has none)."""
    if layout.config is None or not layout.config.is_file():
        return {}
    import yaml

    text = read_bytes(layout.config, where=str(layout.config), error=CheckpointError, max_bytes=MAX_JSON_BYTES, what="a YAML config")
    try:
        config = yaml.safe_load(text)  # safe_load: no Python tags, no objects built from the file
    except RecursionError:
        raise CheckpointError(f"{layout.config}: expected a YAML config, found nesting too deep to read") from None
    except (UnicodeDecodeError, yaml.YAMLError) as exc:
        raise CheckpointError(f"{layout.config}: cannot read the bundle config ({clip_text(exc, 120)})") from None
    if not isinstance(config, dict):
        raise CheckpointError(f"{layout.config}: expected a mapping at the top level")
    return config


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise BundleError(message)


def load_official_bundle(
    folder: str | Path,
    *,
    dtype: torch.dtype = torch.float32,
    device: str | torch.device = "cpu",
    refiner: bool = True,
    frame_size: tuple[int, int] | None = None,
    text_encoder_folder: str | Path | None = None,
    keep_text_encoder_loaded: bool = True,
    memory: TierPolicy = FULL,
    **dit_overrides: Any,
) -> ModelBundle:
    """Load an official bundle folder into a :class:`ModelBundle`, offline.

    The DiT and the VAE are loaded now (strictly); the Gemma-2 encoder and the refiner are checked now and loaded
    on first use (they are large and not always needed).

    Args:
        folder: the bundle root (any layout of the module docstring).
        dtype, device: where everything runs (``torch.bfloat16`` on a GPU matches the reference).
        refiner: use the bundle's refiner when it has one (False = ``--no_refiner``: not even checked).
        frame_size: ``(W, H)`` override; default from the config's ``sana_wm_explorer.frame_size``, else 1280x704.
        text_encoder_folder: the Gemma-2 folder when it is not inside the bundle.
        keep_text_encoder_loaded: False frees Gemma-2 after each encode (so does a tier that says so).
        memory: the memory tier's placement (:mod:`engine.memory.tiers`): fp8 DiT weights (converted right after the
            DiT loads, before anything else is on the device), Gemma-2 freed after each prompt, the refiner's
            placement. Checking that it fits is :func:`engine.bundles.load_bundle`'s job.
        **dit_overrides: :class:`~engine.model.SanaWMConfig` fields for the DiT (e.g. ``camera_variant``).

    Raises:
        BundleError: missing or inconsistent parts (folder and file named).
        CheckpointError: unreadable or mismatching weights.
    """
    enforce_offline()
    layout = find_layout(folder, text_encoder_folder=text_encoder_folder)
    validate_layout(layout, refiner=refiner)
    config = read_bundle_config(layout)
    ours = config.get("sana_wm_explorer") or {}
    text_config = config.get("text_encoder") or {}

    transformer = load_transformer(layout.dit, dtype=dtype, device=device, **dit_overrides)
    if memory.dit_fp8:
        quantize_fp8(transformer)
    codec = LTX2VideoCodec.from_folder(layout.vae, dtype=dtype, device=device)
    cfg = transformer.config
    _check(
        codec.latent_channels == cfg.in_channels,
        f"{layout.vae}: VAE latent_channels {codec.latent_channels} != DiT in_channels {cfg.in_channels}",
    )
    text_encoder = None
    if cfg.text_conditioning:
        text_encoder = GemmaCaptionEncoder(
            layout.text_encoder, tokenizer_folder=layout.tokenizer, chi_prompt=text_config.get("chi_prompt"),
            caption_length=cfg.caption_length, dtype=dtype, device=device,
            keep_loaded=keep_text_encoder_loaded and memory.text_encoder_resident,
        )  # fmt: skip
        _check(
            text_encoder.hidden_size == cfg.caption_channels,
            f"{layout.text_encoder}/config.json: hidden_size {text_encoder.hidden_size} != DiT caption_channels "
            f"{cfg.caption_channels}",
        )
    stage2 = None
    if refiner and layout.has_refiner:
        stage2 = LTX2Refiner(layout.refiner, layout.refiner_text_encoder, dtype=dtype, device=device,
                             resident=memory.refiner_resident, audio_on_device=memory.refiner_audio_on_device,
                             offload=memory.refiner_offload)  # fmt: skip
        _check(
            stage2.latent_channels == codec.latent_channels,
            f"{layout.refiner}/transformer/config.json: in_channels {stage2.latent_channels} != VAE latent_channels "
            f"{codec.latent_channels}",
        )
    elif refiner:
        logger.info("%s has no refiner; Stage-1 latents will be decoded directly", layout.root)

    width, height = frame_size or tuple(ours.get("frame_size") or OFFICIAL_FRAME_SIZE)
    s = codec.spatial_factor
    _check(
        width > 0 and height > 0 and width % s == 0 and height % s == 0,
        f"frame size {width}x{height} is not a multiple of the VAE's {s} pixels",
    )
    return ModelBundle(
        name=str(ours.get("name") or f"sana-wm-{layout.kind}"),
        transformer=transformer,
        codec=codec,
        frame_size=(int(width), int(height)),
        text_encoder=text_encoder,
        refiner=stage2,
        default_intrinsics=None,
        source=layout.root,
        label=str(ours.get("label") or "official weights"),
        extras=dict(layout=layout, kind=layout.kind, config=config, streaming=layout.kind == "streaming"),
        memory=memory,
    )
