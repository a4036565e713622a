"""The LTX-2 stage-2 refiner (spec ``ltx2_vae_refiner.md`` §2), wrapped around diffusers' ``SanaWMLTX2Refiner``.

Why: Stage 1 produces latents that are right in motion and layout but soft; the released refiner (an LTX-2 DiT
with a 3-step distilled schedule) sharpens them in the same normalised latent space, with latent frame 0 (the clean
image latent) as an attention sink that is copied to the output unchanged. diffusers 0.42.1 implements the
chunk-causal *block mode* the streaming release uses and the refiner was trained with (``block_size 3``,
``kv_max_frames 11``: 1 sink + 10 history frames of K/V, one noise draw per block, §2.5); this wrapper adds what the
engine needs around it:

* loading from local folders only — the refiner folder (``transformer/``, ``connectors/``) and the Gemma-3 folder
  (model + tokenizer) — with the strict, meta-device loader of :mod:`engine.bundles.local_models`;
* laziness: nothing heavy is loaded until the first :meth:`LTX2Refiner.refine`; Gemma-3 (12 B parameters in the
  release) is loaded only to encode a new prompt and freed right after (its packed, connector-projected embeddings
  are cached per prompt, §2.6);
* a plain API: normalised Stage-1 latents + prompt + seed in, refined latents out, with a progress callback per
  block (raise from it to cancel);
* placement for the memory tiers (:mod:`engine.memory.tiers`): ``resident=False`` frees the refiner after each
  refine and encodes the prompt with Gemma-3 *before* the transformer moves to the device (the two never share it);
  ``audio_on_device=False`` keeps the transformer's audio weights in host memory (the video-only forward never
  reads them; 30 % of its parameters); ``offload=True`` leaves the transformer and Gemma-3 in host memory and moves
  them to the device one block at a time while they run (diffusers' block-level group offloading, with a CUDA
  stream prefetching the next block).

Not covered: the legacy single-shot "sink-bidirectional" mode of the first bidirectional release (§2.4) — it is not
in diffusers and the refiner was trained for block mode.
"""

from __future__ import annotations

import functools
import logging
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from engine.bundles.local_models import (
    enforce_offline,
    load_diffusers_model,
    missing_files,
    read_json,
)
from engine.errors import BundleError, SanaWMInputError

logger = logging.getLogger(__name__)

Progress = Callable[[int, int], None]
"""``progress(blocks_done, blocks_total)``; raising from it aborts the refinement."""

REFINER_FPS = 16.0
BLOCK_SIZE = 3
KV_MAX_FRAMES = 11
SINK_SIZE = 1
TEXT_MAX_SEQUENCE_LENGTH = 1024


def refiner_missing(refiner_folder: Path, gemma_folder: Path) -> list[str]:
    """Expected refiner files that are absent, as ``path: file`` strings (empty = the refiner can be loaded)."""
    parts = [
        (refiner_folder / "transformer", "diffusers"),
        (refiner_folder / "connectors", "diffusers"),
        (gemma_folder, "transformers"),
        (gemma_folder, "tokenizer"),
    ]
    return [f"{folder}/{name}" for folder, kind in parts for name in missing_files(folder, kind)]


def refiner_available(refiner_folder: str | Path, gemma_folder: str | Path) -> bool:
    """Whether both folders hold every file the refiner needs (nothing is loaded)."""
    return not refiner_missing(Path(refiner_folder), Path(gemma_folder))


class _ProgressBar:
    """The slice of tqdm's interface diffusers' pipeline loop uses, reporting to a callback."""

    def __init__(self, total: int, callback: Progress | None) -> None:
        self.total, self.done, self.callback = total, 0, callback

    def __enter__(self) -> _ProgressBar:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def update(self, n: int = 1) -> None:
        self.done += n
        if self.callback is not None:
            self.callback(self.done, self.total)


@functools.cache
def _pipeline_class() -> type:
    """``SanaWMLTX2Refiner`` with its prompt encoding and progress bar routed to the owning :class:`LTX2Refiner`."""
    from diffusers.pipelines.sana_wm.refiner import SanaWMLTX2Refiner

    class _Pipeline(SanaWMLTX2Refiner):
        owner: LTX2Refiner

        def _encode_prompt(self, prompt: str, *, device: torch.device, dtype: torch.dtype) -> Any:
            return self.owner._prompt_embeddings(self, prompt, device, dtype)

        def progress_bar(self, iterable: Any = None, total: int | None = None) -> _ProgressBar:
            return _ProgressBar(int(total or 0), self.owner._progress)

        def encode_with_gemma(self, prompt: str, device: torch.device, dtype: torch.dtype) -> Any:
            return SanaWMLTX2Refiner._encode_prompt(self, prompt, device=device, dtype=dtype)

        @property
        def _execution_device(self) -> torch.device:  # the owner's device, whatever part sits in host memory
            return self.owner.device

    return _Pipeline


def move_except(module: torch.nn.Module, device: torch.device, *, skip: str) -> None:
    """Move ``module``'s parameters and buffers to ``device``, except those whose name contains ``skip`` (they stay
    where they are)."""
    for name, sub in module.named_modules():
        for table in (sub._parameters, sub._buffers):
            for key, tensor in table.items():
                if tensor is not None and skip not in f"{name}.{key}" and tensor.device != device:
                    moved = tensor.to(device)
                    table[key] = torch.nn.Parameter(moved, tensor.requires_grad) if isinstance(tensor, torch.nn.Parameter) else moved


class LTX2Refiner:
    """Stage-2 refiner over a local refiner folder and Gemma-3 folder (see the module docstring).

    Args:
        refiner_folder: holds ``transformer/`` and ``connectors/`` (diffusers folders).
        gemma_folder: a transformers Gemma-3 folder with its tokenizer files.
        dtype, device: where the refiner runs (bf16 on a GPU for the release).
        fps: frame rate fed to the refiner's RoPE (16 for SANA-WM).
        block_size, kv_max_frames, sink_size: block-mode settings (release: 3, 11, 1).
        text_max_sequence_length: Gemma-3 tokens per prompt (release: 1024).
        resident, audio_on_device, offload: placement (see the module docstring; the defaults keep everything on
            ``device``).

    Raises:
        BundleError: a file the refiner needs is missing (checked at construction; nothing heavy is loaded).
    """

    def __init__(
        self,
        refiner_folder: str | Path,
        gemma_folder: str | Path,
        *,
        dtype: torch.dtype = torch.float32,
        device: str | torch.device = "cpu",
        fps: float = REFINER_FPS,
        block_size: int = BLOCK_SIZE,
        kv_max_frames: int = KV_MAX_FRAMES,
        sink_size: int = SINK_SIZE,
        text_max_sequence_length: int = TEXT_MAX_SEQUENCE_LENGTH,
        resident: bool = True,
        audio_on_device: bool = True,
        offload: bool = False,
    ) -> None:
        self.refiner_folder = Path(refiner_folder)
        self.gemma_folder = Path(gemma_folder)
        missing = refiner_missing(self.refiner_folder, self.gemma_folder)
        if missing:
            raise BundleError(f"the LTX-2 refiner is incomplete: expected {', '.join(missing)}")
        if block_size < 1 or sink_size < 1 or kv_max_frames < sink_size:
            raise SanaWMInputError(
                f"refiner settings: need block_size >= 1, sink_size >= 1, kv_max_frames >= sink_size; got "
                f"block_size={block_size}, sink_size={sink_size}, kv_max_frames={kv_max_frames}"
            )
        self.dtype = dtype
        self.device = torch.device(device)
        self.fps = float(fps)
        self.block_size = block_size
        self.kv_max_frames = kv_max_frames
        self.sink_size = sink_size
        self.text_max_sequence_length = text_max_sequence_length
        self.resident = resident
        self.audio_on_device = audio_on_device and not offload
        self.offload = offload
        self._pipe: Any = None
        self._placed = False
        self._progress: Progress | None = None
        self._prompts: OrderedDict[tuple[str, str, torch.dtype], Any] = OrderedDict()

    @property
    def latent_channels(self) -> int:
        """Channels of the latents it refines (from the transformer's ``config.json``, without loading)."""
        return int(read_json(self.refiner_folder / "transformer" / "config.json").get("in_channels", 128))

    @property
    def is_loaded(self) -> bool:
        return self._pipe is not None

    # ----- life cycle -------------------------------------------------------------------------------------------
    def load(self) -> None:
        """Load the tokenizer, the transformer and the connectors (Gemma-3 itself only when a prompt needs it)."""
        if self._pipe is not None:
            return
        enforce_offline()
        from diffusers import FlowMatchEulerDiscreteScheduler
        from diffusers.models.transformers.transformer_sana_wm_refiner import SanaWMLTX2RefinerTransformer3DModel
        from diffusers.pipelines.ltx2.connectors import LTX2TextConnectors
        from transformers import AutoTokenizer

        kwargs = dict(dtype=self.dtype, device=self.device)
        transformer_class = SanaWMLTX2RefinerTransformer3DModel
        where = self.device if self.audio_on_device else torch.device("cpu")  # else placed in _place_transformer
        transformer = load_diffusers_model(transformer_class, self.refiner_folder / "transformer", dtype=self.dtype,
                                           device=where)  # fmt: skip
        connectors = load_diffusers_model(LTX2TextConnectors, self.refiner_folder / "connectors", **kwargs)
        tokenizer = AutoTokenizer.from_pretrained(str(self.gemma_folder), local_files_only=True)
        if tokenizer.pad_token is None:  # §2.6: pad falls back to EOS
            tokenizer.pad_token = tokenizer.eos_token
        pipe = _pipeline_class()(
            transformer=transformer,
            connectors=connectors,
            tokenizer=tokenizer,
            text_encoder=None,  # loaded per new prompt, see _prompt_embeddings
            scheduler=FlowMatchEulerDiscreteScheduler(shift=1.0),
            vae=None,
            text_max_sequence_length=self.text_max_sequence_length,
        )
        pipe.owner = self
        self._pipe = pipe
        self._placed = self.audio_on_device
        logger.info("loaded the LTX-2 refiner from %s", self.refiner_folder)

    def _place_transformer(self) -> None:
        """Put the loaded transformer where the placement says: its video weights on the device (audio weights stay in
        host memory), or under block-level group offloading."""
        if self._placed:
            return
        transformer = self._pipe.transformer
        if self.offload:
            from diffusers.hooks import apply_group_offloading

            apply_group_offloading(transformer, onload_device=self.device, offload_device="cpu",
                                   offload_type="block_level", num_blocks_per_group=1,
                                   use_stream=self.device.type == "cuda")  # fmt: skip
        else:
            move_except(transformer, self.device, skip="audio")
        self._placed = True

    def release(self) -> None:
        """Free the refiner (cached prompt embeddings are kept; they are small)."""
        self._pipe = None
        self._placed = False

    def _prompt_embeddings(self, pipe: Any, prompt: str, device: torch.device, dtype: torch.dtype) -> Any:
        """Connector outputs for ``prompt``: cached, else Gemma-3 is loaded, run once and freed (§2.6)."""
        key = (prompt.strip(), str(device), dtype)
        if key not in self._prompts:
            from transformers import Gemma3ForConditionalGeneration

            gemma = Gemma3ForConditionalGeneration.from_pretrained(
                str(self.gemma_folder), dtype=self.dtype, local_files_only=True
            )
            if self.offload:  # stays in host memory; each layer visits the device while it runs
                from diffusers.hooks import apply_group_offloading

                apply_group_offloading(gemma, onload_device=device, offload_device="cpu", offload_type="block_level",
                                       num_blocks_per_group=1, use_stream=device.type == "cuda")  # fmt: skip
            else:
                gemma = gemma.to(device)
            pipe.text_encoder = gemma.eval()
            try:
                self._prompts[key] = pipe.encode_with_gemma(prompt, device, dtype)
            finally:
                pipe.text_encoder = None
            while len(self._prompts) > 4:
                self._prompts.popitem(last=False)
        return self._prompts[key]

    # ----- refinement -------------------------------------------------------------------------------------------
    def refine(
        self,
        latents: torch.Tensor,
        prompt: str,
        seed: int = 42,
        progress: Progress | None = None,
    ) -> torch.Tensor:
        """Refine normalised Stage-1 latents.

        Args:
            latents: ``(1, C, T, h, w)`` normalised Stage-1 latents; frame 0 is the clean image latent (the sink),
                ``T > sink_size``.
            prompt: the user prompt (no chi prefix; stripped, as the reference does).
            seed: seeds the per-block noise (one ``torch.Generator`` on the refiner's device, blocks in order).
            progress: called after each refined block as ``progress(done, total)``; raise from it to cancel.

        Returns:
            ``(1, C, T, h, w)`` refined latents in ``latents``' dtype and device; the sink frames are bit-identical
            to the input.
        """
        if latents.ndim != 5 or latents.shape[0] != 1:
            raise SanaWMInputError(f"refiner latents must be (1, C, T, h, w), got {tuple(latents.shape)}")
        if latents.shape[2] <= self.sink_size:
            raise SanaWMInputError(
                f"refiner latents need more than {self.sink_size} frame(s) (the sink), got {latents.shape[2]}"
            )
        self.load()
        pipe = self._pipe
        channels = pipe.transformer.config.in_channels
        if latents.shape[1] != channels:
            raise SanaWMInputError(f"refiner latents must have {channels} channels, got {latents.shape[1]}")
        self._progress = progress
        try:
            # the prompt first (cached per prompt): Gemma-3 has come and gone before the transformer moves over
            self._prompt_embeddings(pipe, prompt, self.device, pipe.transformer.dtype)
            self._place_transformer()
            generator = torch.Generator(device=self.device).manual_seed(int(seed))
            refined = pipe(
                latents.to(device=self.device, dtype=self.dtype),
                prompt,
                fps=self.fps,
                sink_size=self.sink_size,
                generator=generator,
                block_size=self.block_size,
                kv_max_frames=self.kv_max_frames,
                output_type="latent",
            )
        finally:
            self._progress = None
            if not self.resident:
                self.release()
        out = refined.to(device=latents.device, dtype=latents.dtype)
        out[:, :, : self.sink_size] = latents[:, :, : self.sink_size]  # exact even across a dtype round trip
        return out
