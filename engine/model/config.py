"""Configuration of the SANA-WM Stage-1 DiT: one dataclass, named presets, readers for official configs.

Every size of the model — the released 1600M/720p network and the small CPU models of the same architecture —
is built from a :class:`SanaWMConfig` by the same code. Hyper-parameters and their official values are in
``spec/sana_wm_model.md`` §1 and §10.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from engine.errors import ConfigError
from engine.ops.gated_delta import IMPLEMENTATIONS as GATED_DELTA_IMPLEMENTATIONS

CAMERA_VARIANTS = ("first-release", "pr401", "head", "diffusers-0.42.1")


@dataclass(frozen=True)
class SanaWMConfig:
    """Hyper-parameters of the hybrid Gated-DeltaNet / softmax DiT.

    Architecture (spec §1): ``depth`` blocks of width ``hidden_size``; self-attention uses heads of ``head_dim``
    channels (``hidden_size // head_dim`` heads), cross-attention ``num_heads`` heads. Block ``i`` is a softmax block
    iff ``(i + 1) % softmax_every_n == 0`` (0 = no softmax blocks), otherwise a Gated-DeltaNet block with a short
    conv of ``conv_kernel_size`` frames on K. Every block carries the UCPE camera branch and the Plücker injection.
    ``caption_channels`` 0 or None turns text conditioning off: no caption embedder, no cross-attention (small
    presets); the checkpoint then has no ``y_embedder`` / ``cross_attn`` keys.

    ``camera_variant`` selects how the camera branch treats its UCPE-transformed q/k/v (spec §11); the released
    bidirectional weights were produced by the NVlabs code, whose behaviour changed between versions:

    =================  ======================  ============================  ===========================
    variant            GDN-block camera        softmax-block camera          softmax camera SDPA scale
    =================  ======================  ============================  ===========================
    first-release      no RMS downscale        RMS downscale                 1/sqrt(padded head dim)
    pr401              no RMS downscale        no RMS downscale              1/sqrt(padded head dim)
    head (default)     no RMS downscale        no RMS downscale              1/sqrt(head dim)
    diffusers-0.42.1   downscale, then iota    RMS downscale                 1/sqrt(padded head dim)
    =================  ======================  ============================  ===========================

    "RMS downscale" scales each UCPE-transformed head vector by ``min(1, rms(before) / rms(after))``; in GDN blocks
    the β-discount inflation ``iota`` is then measured on the downscaled keys (so it rarely triggers). The padded
    head dim is the FlashAttention size the head is zero-padded to (112 -> 128; 32, 64, 128, 256 stay), which
    changes the default SDPA scale when no scale is passed. The main softmax branch always uses 1/sqrt(head dim).

    ``cache_channels`` > 0 adds the world-cache conditioning path of the embedded model v2 (docs/embedded_model.md):
    a ``cache_embedder`` (a per-token linear map, initialised to zero) of the cache render of every latent frame,
    encoded by the bundle's codec, plus its coverage (``in_channels + 1`` channels for the embedded codec), is added
    to the latent embedding. 0 (every preset) is the official architecture: no such weights, no such input.

    Numerics switches: ``sdpa_bf16`` rounds softmax-attention operands to bf16 as the reference does even when the
    model runs in fp32 (on for the official preset, off for the small ones); ``gated_delta_impl`` names the scan
    implementation (one of :data:`engine.ops.gated_delta.IMPLEMENTATIONS`), resolved once when the blocks are built;
    ``"auto"`` then runs the Triton kernel on CUDA inference calls and ``"chunk"`` everywhere else.
    """

    depth: int = 20
    hidden_size: int = 2240
    num_heads: int = 20
    head_dim: int = 112
    softmax_every_n: int = 4
    in_channels: int = 128
    out_channels: int = 128
    caption_channels: int | None = 2304
    caption_length: int = 300
    mlp_ratio: float = 3.0
    t_kernel_size: int = 3
    conv_kernel_size: int = 4
    plucker_channels: int = 48
    raymap_channels: int = 3
    frequency_embedding_size: int = 256
    rope_theta: float = 10000.0
    rope_max_seq_len: int = 1024
    camera_variant: str = "head"
    qk_norm_eps: float = 1e-5
    cross_norm_eps: float = 1e-6
    y_norm_eps: float = 1e-5
    layer_norm_eps: float = 1e-6
    gdn_eps: float = 1e-8
    sdpa_bf16: bool = True
    gated_delta_impl: str = "auto"
    cache_channels: int = 0
    preset: str | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        problems = []
        if self.depth < 1:
            problems.append(f"depth must be >= 1, got {self.depth}")
        if self.head_dim <= 0 or self.head_dim % 8:
            problems.append(
                f"head_dim must be a positive multiple of 8 (UCPE 4x4 groups + RoPE pairs), got {self.head_dim}"
            )
        elif self.hidden_size % self.head_dim:
            problems.append(f"hidden_size {self.hidden_size} is not a multiple of head_dim {self.head_dim}")
        if self.num_heads <= 0 or self.hidden_size % self.num_heads:
            problems.append(f"hidden_size {self.hidden_size} is not a multiple of num_heads {self.num_heads}")
        if self.softmax_every_n < 0:
            problems.append(f"softmax_every_n must be >= 0, got {self.softmax_every_n}")
        if self.conv_kernel_size < 1:
            problems.append(f"conv_kernel_size must be >= 1, got {self.conv_kernel_size}")
        if self.t_kernel_size < 1 or self.t_kernel_size % 2 == 0:
            problems.append(f"t_kernel_size must be a positive odd number, got {self.t_kernel_size}")
        if self.cache_channels < 0:
            problems.append(f"cache_channels must be >= 0 (0 = no world-cache input), got {self.cache_channels}")
        if self.camera_variant not in CAMERA_VARIANTS:
            problems.append(f"camera_variant {self.camera_variant!r} is not one of {', '.join(CAMERA_VARIANTS)}")
        if self.gated_delta_impl not in GATED_DELTA_IMPLEMENTATIONS:
            problems.append(
                f"gated_delta_impl {self.gated_delta_impl!r} is not one of {', '.join(GATED_DELTA_IMPLEMENTATIONS)}"
            )
        for name in ("in_channels", "out_channels", "plucker_channels", "mlp_ratio", "caption_length"):
            if getattr(self, name) <= 0:
                problems.append(f"{name} must be positive, got {getattr(self, name)}")
        if problems:
            raise ConfigError("invalid SanaWMConfig: " + "; ".join(problems))

    # ----- derived quantities -----------------------------------------------------------------------------------
    @property
    def self_attn_heads(self) -> int:
        return self.hidden_size // self.head_dim

    @property
    def mlp_hidden(self) -> int:
        return int(self.hidden_size * self.mlp_ratio)

    @property
    def text_conditioning(self) -> bool:
        return bool(self.caption_channels)

    def is_softmax_block(self, index: int) -> bool:
        return self.softmax_every_n > 0 and (index + 1) % self.softmax_every_n == 0

    @property
    def gdn_camera_downscale(self) -> bool:
        return self.camera_variant == "diffusers-0.42.1"

    @property
    def softmax_camera_downscale(self) -> bool:
        return self.camera_variant in ("first-release", "diffusers-0.42.1")

    @property
    def softmax_camera_scale(self) -> float:
        """SDPA scale of the softmax-block camera branch (see the variant table)."""
        if self.camera_variant == "head":
            return self.head_dim**-0.5
        return padded_head_dim(self.head_dim) ** -0.5

    # ----- constructors -----------------------------------------------------------------------------------------
    @classmethod
    def from_preset(cls, name: str, **overrides: Any) -> SanaWMConfig:
        """A named preset (see :data:`PRESETS`) with field overrides.

        Raises:
            ConfigError: unknown preset (the message lists the valid names) or unknown / invalid override.
        """
        if name not in PRESETS:
            raise ConfigError(f"unknown model preset {name!r}; valid presets: {', '.join(PRESETS)}")
        fields = {f.name for f in dataclasses.fields(cls)} - {"preset"}
        unknown = sorted(set(overrides) - fields)
        if unknown:
            raise ConfigError(
                f"unknown SanaWMConfig field(s) {', '.join(unknown)} for preset {name!r}; "
                f"valid fields: {', '.join(sorted(fields))}"
            )
        try:
            return cls(**{**PRESETS[name], **overrides, "preset": name})
        except TypeError as exc:  # e.g. a string where a number belongs
            raise ConfigError(f"invalid override for preset {name!r}: {exc}") from None

    def replace(self, **overrides: Any) -> SanaWMConfig:
        """A copy with some fields changed (validated)."""
        try:
            return dataclasses.replace(self, **overrides)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"invalid SanaWMConfig override: {exc}") from None

    @classmethod
    def from_diffusers_config(cls, config: dict[str, Any], **overrides: Any) -> SanaWMConfig:
        """Read a diffusers ``transformer/config.json`` (``SanaWMTransformer3DModel``).

        Only the architecture this package implements is accepted (patch 1, Wan RoPE, GLUMBConvTemp, K-only
        conv, Plücker post-attention in every block, full-width camera branch); anything else is a ConfigError.
        The default camera variant stays ``head`` unless overridden (diffusers' own numerics: ``diffusers-0.42.1``).
        """
        expect = {
            "patch_size": [1, 1, 1],
            "ffn_type": "GLUMBConvTemp",
            "k_conv_only": True,
            "pos_embed_type": "wan_rope",
            "qk_norm": True,
            "cross_norm": True,
            "y_norm": True,
            "cam_attn_compress": 1,
            "use_chunk_plucker_post_attn": True,
            "use_pe": True,
            "pred_sigma": False,
        }
        for key, value in expect.items():
            found = config.get(key, value)
            if isinstance(found, tuple):
                found = list(found)
            if found != value:
                raise ConfigError(f"diffusers config: {key} = {found!r} is not supported (expected {value!r})")
        acts = list(config.get("mlp_acts", ["silu", "silu", None]))
        if acts != ["silu", "silu", None]:
            raise ConfigError(f"diffusers config: mlp_acts = {acts!r} is not supported (expected silu, silu, None)")
        depth = int(config.get("num_layers", 20))
        post_attn = int(config.get("chunk_plucker_post_attn_blocks", depth))
        if 0 <= post_attn < depth:
            raise ConfigError(
                f"diffusers config: chunk_plucker_post_attn_blocks = {post_attn} < num_layers = {depth} "
                "is not supported (Plücker injection in every block)"
            )
        in_channels = int(config.get("in_channels", 128))
        values = dict(
            depth=depth,
            hidden_size=int(config.get("hidden_size", 2240)),
            num_heads=int(config.get("num_attention_heads", 20)),
            head_dim=int(config.get("linear_head_dim", 112)),
            softmax_every_n=int(config.get("softmax_every_n", 4)),
            in_channels=in_channels,
            out_channels=in_channels,
            caption_channels=int(config.get("caption_channels", 2304)),
            mlp_ratio=float(config.get("mlp_ratio", 3.0)),
            t_kernel_size=int(config.get("t_kernel_size", 3)),
            conv_kernel_size=int(config.get("conv_kernel_size", 4)),
            plucker_channels=int(config.get("chunk_plucker_channels", 48)),
        )
        values.update(overrides)
        try:
            return cls(**values)
        except TypeError as exc:
            raise ConfigError(f"invalid SanaWMConfig override: {exc}") from None


def padded_head_dim(head_dim: int) -> int:
    """Head dim after FlashAttention-style zero padding: kept if in {32, 64, 128, 256}, else up to 128 or 256."""
    if head_dim in (32, 64, 128, 256) or head_dim >= 256:
        return head_dim
    return 128 if head_dim <= 128 else 256


PRESETS: dict[str, dict[str, Any]] = {
    # The released SANA-WM 1600M / 720p network (spec §1): 20 blocks x 2240, 20 heads of 112, softmax blocks
    # 3/7/11/15/19, LTX-2 latents (128 ch), Gemma-2 captions (2304 ch, 300 tokens).
    "sana-wm-1600m-720p": dict(),
    # Smallest network with both block kinds and every branch: for tests (4 blocks x 64, 2 heads of 32).
    "sana-wm-tiny-test": dict(
        depth=4,
        hidden_size=64,
        num_heads=2,
        head_dim=32,
        in_channels=8,
        out_channels=8,
        caption_channels=None,
        mlp_ratio=2.0,
        sdpa_bf16=False,
    ),
    # The architecture of the shipped embedded model (resources/models/sana-wm-tiny, docs/embedded_model.md):
    # 4 blocks x 192 (3 Gated DeltaNet + 1 softmax), heads of 64; sized so that it trains on 2 CPU cores in
    # about an hour and streams far above real time there.
    "sana-wm-tiny": dict(
        depth=4,
        hidden_size=192,
        num_heads=3,
        head_dim=64,
        in_channels=32,
        out_channels=32,
        caption_channels=None,
        mlp_ratio=3.0,
        sdpa_bf16=False,
    ),
    # The size class of the embedded CPU model (shared/notes/cpu_budget.md): 8 blocks x 256, heads of 64.
    # Text conditioning is off by default; override caption_channels to turn it on.
    "sana-wm-small": dict(
        depth=8,
        hidden_size=256,
        num_heads=4,
        head_dim=64,
        in_channels=32,
        out_channels=32,
        caption_channels=None,
        mlp_ratio=3.0,
        sdpa_bf16=False,
    ),
}
