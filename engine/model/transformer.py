"""The SANA-WM Stage-1 DiT (spec model §3): latents + per-frame timesteps + caption + cameras -> flow velocity.

Module attribute names are the official state-dict keys (spec §7), so official checkpoints load strictly through
:func:`engine.bundles.weights.load_transformer`. The base-class ``pos_embed`` buffer of the NVlabs model (zeros, never
used by the video model) is *not* owned here; the loader ignores it. RoPE tables are computed per call.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from engine.errors import SanaWMInputError
from engine.model.block import SanaWMBlock
from engine.model.config import SanaWMConfig
from engine.model.cross_attention import caption_bias
from engine.model.embeddings import CaptionEmbedder, PatchEmbed, TimestepEmbedder, truncate_timesteps
from engine.model.final_layer import FinalLayer
from engine.model.norms import RMSNorm
from engine.model.rope import WanRotaryEmbedding
from engine.model.time_mixing import BIDIRECTIONAL, TimeMixing
from engine.model.ucpe import UCPEEncoding


class SanaWMTransformer(nn.Module):
    """Hybrid Gated-DeltaNet / softmax video DiT with UCPE + Plücker camera conditioning, any size."""

    def __init__(self, config: SanaWMConfig) -> None:
        super().__init__()
        self.config = config
        c = config.hidden_size
        self.x_embedder = PatchEmbed(config.in_channels, c)
        self.t_embedder = TimestepEmbedder(c, config.frequency_embedding_size)
        self.t_block = nn.Sequential(nn.SiLU(), nn.Linear(c, 6 * c))
        if config.text_conditioning:
            self.y_embedder = CaptionEmbedder(config.caption_channels, c, config.caption_length)
            self.attention_y_norm = RMSNorm(c, config.y_norm_eps)
        self.plucker_embedder = PatchEmbed(config.plucker_channels, c)
        self.raymap_embedder = PatchEmbed(config.raymap_channels, c)  # in the checkpoint, never applied (spec §3.3)
        if config.cache_channels:
            # The v2 world-cache input: zero at first, so a model initialised from cache-free weights starts as them.
            self.cache_embedder = PatchEmbed(config.cache_channels, c)
            nn.init.zeros_(self.cache_embedder.proj.weight)
            nn.init.zeros_(self.cache_embedder.proj.bias)
        self.blocks = nn.ModuleList(SanaWMBlock(config, i) for i in range(config.depth))
        self.final_layer = FinalLayer(c, config.out_channels, config.layer_norm_eps)
        # A plain attribute, not a module/buffer: computed tables must escape dtype casts and state dicts.
        self.rope = WanRotaryEmbedding(config.head_dim, config.rope_theta, config.rope_max_seq_len)

    @property
    def dtype(self) -> torch.dtype:
        return self.x_embedder.proj.weight.dtype

    def _check_inputs(self, latents, timesteps, caption, caption_mask, camera_conditions, chunk_plucker, cache) -> None:
        cfg = self.config
        if latents.ndim != 5 or latents.shape[1] != cfg.in_channels:
            raise SanaWMInputError(f"latents must be (B, {cfg.in_channels}, T, H, W), got {tuple(latents.shape)}")
        b, _, t, h, w = latents.shape

        def expect(name: str, tensor: torch.Tensor | None, *shapes: tuple[int, ...]) -> None:
            if tensor is not None and tuple(tensor.shape) not in shapes:
                wanted = " or ".join(str(s) for s in shapes)
                raise SanaWMInputError(f"{name} must have shape {wanted} for latents {tuple(latents.shape)}, "
                                       f"got {tuple(tensor.shape)}")  # fmt: skip

        expect("timesteps", timesteps, (b,), (b, t), (b, 1, t))
        expect("camera_conditions", camera_conditions, (b, t, 20))
        expect("chunk_plucker", chunk_plucker, (b, cfg.plucker_channels, t, h, w))
        if cache is not None and not cfg.cache_channels:
            raise SanaWMInputError("cache: this model has no world-cache input (cache_channels = 0); pass cache=None")
        expect("cache", cache, (b, cfg.cache_channels, t, h, w))
        if cfg.text_conditioning:
            if caption is None:
                raise SanaWMInputError("this model is text-conditioned: pass caption (B, L, C_y) and its mask (B, L)")
            expect("caption", caption, (b, caption.shape[1], cfg.caption_channels))
            expect("caption_mask", caption_mask, (b, caption.shape[1]))

    def forward(
        self,
        latents: torch.Tensor,
        timesteps: torch.Tensor,
        caption: torch.Tensor | None = None,
        caption_mask: torch.Tensor | None = None,
        camera_conditions: torch.Tensor | None = None,
        chunk_plucker: torch.Tensor | None = None,
        *,
        frame_offset: int = 0,
        mixing: TimeMixing | None = None,
        cache: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Predict the flow velocity ``v ~ eps - x0`` for every latent frame.

        Args:
            latents: ``(B, C, T, H, W)`` normalised latents (frame 0 = the clean image latent in the official use).
            timesteps: ``(B, T)`` per-frame flow timesteps in [0, 1000] (``(B, 1, T)`` and ``(B,)`` also accepted);
                truncated toward zero as the official model does.
            caption: ``(B, L, C_y)`` (or ``(B, 1, L, C_y)``) text-encoder states; required iff the config has text
                conditioning.
            caption_mask: ``(B, L)`` 1 = valid token; None = all valid.
            camera_conditions: ``(B, T, 20)`` ``[c2w row-major (16), fx, fy, cx, cy]`` at latent-grid resolution;
                None skips the camera branches (the released model was always run with cameras).
            chunk_plucker: ``(B, 48, T, H, W)`` packed Plücker rays; None skips the Plücker injection.
            frame_offset: absolute latent-frame index of the first frame of ``latents`` (RoPE time positions); a
                streaming chunk ``[a, b)`` passes ``a``.
            mixing: how frames mix in time (:mod:`engine.model.time_mixing`): None = bidirectional (the whole
                clip), a :class:`~engine.model.time_mixing.ChunkCausalMixer` for the uncached chunk-causal teacher, or a
                :class:`~engine.model.stream_cache.CachedStep` for one streaming chunk.
            cache: ``(B, cache_channels, T, H, W)`` the world-cache render of every latent frame (codec latents +
                coverage, :func:`engine.generation.world_memory.cache_conditioning`); only for models with
                ``cache_channels > 0``, where None means "nothing known" (zeros, as a dropped cache in training).

        Returns:
            ``(B, C_out, T, H, W)`` in the model's dtype.
        """
        if caption is not None and caption.ndim == 4:
            caption = caption[:, 0]
        self._check_inputs(latents, timesteps, caption, caption_mask, camera_conditions, chunk_plucker, cache)
        b, _, t, height, width = latents.shape
        dtype, device = self.dtype, latents.device
        grid = (t, height, width)

        h = self.x_embedder(latents.to(dtype))  # (B, N, C)
        if self.config.cache_channels:
            if cache is None:
                cache = latents.new_zeros((b, self.config.cache_channels, t, height, width), dtype=dtype)
            h = h + self.cache_embedder(cache.to(device=device, dtype=dtype))
        ts = truncate_timesteps(timesteps.reshape(b, -1).expand(b, t).to(device))  # (B, T)
        e = self.t_embedder(ts)  # (B, T, C)
        e6 = self.t_block(e)  # (B, T, 6C)
        rope = self.rope.table(t, height, width, frame_offset, device=device)  # (N, D/2) complex
        ucpe = None
        if camera_conditions is not None:
            camera_rope = self.rope.camera_table(t, height, width, frame_offset, device=device)
            ucpe = UCPEEncoding.from_cameras(camera_conditions.to(device), height, width, camera_rope)
        plucker_emb = None if chunk_plucker is None else self.plucker_embedder(chunk_plucker.to(dtype))
        text, text_bias = None, None
        if self.config.text_conditioning:
            text = self.attention_y_norm(self.y_embedder(caption.to(dtype)))  # (B, L, C)
            mask = torch.ones(caption.shape[:2], device=device) if caption_mask is None else caption_mask
            text_bias = caption_bias(mask.to(device), dtype)

        mixing = mixing or BIDIRECTIONAL
        for index, block in enumerate(self.blocks):
            h = block(h, e6, grid, rope, ucpe, plucker_emb, text, text_bias, mixing.for_block(index))

        out = self.final_layer(h, e)  # (B, N, C_out)
        return out.view(b, t, height, width, -1).permute(0, 4, 1, 2, 3)  # (B, C_out, T, H, W)
