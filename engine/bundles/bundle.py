"""A model bundle: everything one generation needs, loaded and ready (the DiT, its codec, optional text encoder
and refiner, the pixel size the model runs at, and defaults).

Sessions, pipelines, the CLI and the app all take a :class:`ModelBundle`; :func:`engine.bundles.load_bundle` finds
one (:mod:`engine.bundles.load`). :meth:`ModelBundle.random` builds a random-weight bundle from a preset for tests and
benchmarks; it is labelled as such everywhere it is shown.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch

from engine.components.codec import LatentCodec
from engine.components.patch_codec import PatchDCTCodec
from engine.memory.tiers import FULL, TierPolicy
from engine.model.config import SanaWMConfig
from engine.model.transformer import SanaWMTransformer

log = logging.getLogger(__name__)

#: Where the embedded default model lives (shipped with the project, never downloaded).
RESOURCES = Path(__file__).resolve().parents[2] / "resources"
EMBEDDED_MODEL_DIR = RESOURCES / "models" / "sana-wm-tiny"
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
            window); a session re-anchors before a chunk would go past it (:class:`engine.generation.session.WorldSession`).
            None = no limit (the official checkpoints, trained on long clips, stream with absolute positions).
        contrast_floor: the stream's contrast floor this model was measured with
            (:attr:`engine.generation.state.StreamSettings.contrast_floor`; ``contrast_floor`` in an embedded
            bundle.json): the share of the start image's luma spread below which a session stretches a shown frame.
            0 = none (the official checkpoints, random bundles).
        memory: the memory tier the bundle was loaded in (:mod:`engine.memory.tiers`); sessions and pipelines read
            how to decode from it. ``full`` unless a tier was chosen (:func:`engine.bundles.load_bundle`).
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
    contrast_floor: float = 0.0
    memory: TierPolicy = FULL

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
