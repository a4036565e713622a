"""Gemma-2 caption encoder for the Stage-1 DiT (spec ``sana_wm_model.md`` §6).

Why: the DiT's cross-attention was trained on a specific view of Gemma-2-2B-it's last hidden state — the prompt is
prefixed with SANA's "chi" instruction, tokenised to a length that depends on the prefix, and only 300 positions
are kept. Any other selection shifts every caption token the model sees. The rule, as the reference implements it:

* ``chi = "\\n".join(chi_prompt)``, text ``= chi + prompt``; tokenise right-padded to
  ``len(tokenizer.encode(chi)) + 300 - 2`` tokens (``truncation=True``), run the decoder, and keep positions
  ``[0] + [-299, ..., -1]`` of the last hidden state (after the final norm) and of the attention mask;
* the negative prompt (default ``""``) gets no prefix, 300 tokens, all kept.

The chi lines are part of the release's ``config.yaml`` (``text_encoder.chi_prompt``) and are passed in by the bundle
loader; when none are given, the lines diffusers ships for the public release
(``diffusers.pipelines.sana_wm.pipeline_sana_wm.DEFAULT_CHI_PROMPT``) are used. An empty list disables the prefix.

The model (2.6 B parameters for the release) is loaded lazily on the first encode, strictly from the local folder
(``local_files_only=True``), and can be freed after use; results are cached per prompt so CFG's negative prompt and
repeated generations do not reload it.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch

from engine.bundles.local_models import enforce_offline, read_json, require_folder
from engine.errors import SanaWMInputError

logger = logging.getLogger(__name__)

CAPTION_LENGTH = 300


def default_chi_prompt() -> list[str]:
    """The chi instruction lines of the public release, as shipped by diffusers 0.42.1."""
    from diffusers.pipelines.sana_wm.pipeline_sana_wm import DEFAULT_CHI_PROMPT

    return list(DEFAULT_CHI_PROMPT)


class GemmaCaptionEncoder:
    """Prompt -> ``(caption (1, L, C), mask (1, L))`` for the Stage-1 DiT (the bundle's ``TextEncoder``).

    Args:
        folder: a transformers Gemma-2 folder (``config.json`` + ``model.safetensors`` [+ tokenizer files]).
        tokenizer_folder: where the tokenizer files are, when not in ``folder`` (diffusers layout: ``tokenizer/``).
        chi_prompt: instruction lines prefixed to every prompt (None = the release's lines, [] = no prefix).
        caption_length: tokens kept per caption (``L``, 300 for the release).
        dtype, device: where the encoder runs and what the captions come out as (bf16 for the release).
        keep_loaded: keep the model after an encode; False frees it after each call (or after a
            :meth:`loaded` block), trading reload time for memory.
        cache_size: prompts whose captions are remembered.

    Raises:
        BundleError: the folder lacks the model or tokenizer files (checked at construction, nothing loaded).
    """

    def __init__(
        self,
        folder: str | Path,
        *,
        tokenizer_folder: str | Path | None = None,
        chi_prompt: Sequence[str] | None = None,
        caption_length: int = CAPTION_LENGTH,
        dtype: torch.dtype = torch.float32,
        device: str | torch.device = "cpu",
        keep_loaded: bool = True,
        cache_size: int = 8,
    ) -> None:
        self.folder = Path(folder)
        self.tokenizer_folder = Path(tokenizer_folder) if tokenizer_folder is not None else self.folder
        require_folder(self.folder, "transformers", "Gemma-2 text encoder")
        require_folder(self.tokenizer_folder, "tokenizer", "Gemma-2 tokenizer")
        if caption_length < 2:
            raise SanaWMInputError(f"caption_length must be >= 2, got {caption_length}")
        self.chi_prompt = default_chi_prompt() if chi_prompt is None else list(chi_prompt)
        self.caption_length = caption_length
        self.dtype = dtype
        self.device = torch.device(device)
        self.keep_loaded = keep_loaded
        self._cache: OrderedDict[tuple[str, str], tuple[torch.Tensor, torch.Tensor]] = OrderedDict()
        self._cache_size = cache_size
        self._tokenizer: Any = None
        self._model: Any = None
        self._holds = 0

    @property
    def hidden_size(self) -> int:
        """Caption channels ``C`` (read from ``config.json``, without loading the model)."""
        config = read_json(self.folder / "config.json")
        return int(config.get("hidden_size") or config.get("text_config", {})["hidden_size"])

    @property
    def is_loaded(self) -> bool:
        return self._model is not None

    # ----- life cycle -------------------------------------------------------------------------------------------
    def load(self) -> None:
        """Load the tokenizer and the decoder stack (no-op when loaded)."""
        if self._model is not None:
            return
        enforce_offline()
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self._tokenizer = AutoTokenizer.from_pretrained(str(self.tokenizer_folder), local_files_only=True)
        causal_lm = AutoModelForCausalLM.from_pretrained(str(self.folder), dtype=self.dtype, local_files_only=True)
        self._model = causal_lm.get_decoder().to(self.device).eval()  # Gemma2Model: last_hidden_state is normed
        logger.info("loaded the Gemma-2 text encoder from %s", self.folder)

    def release(self) -> None:
        """Free the model (captions already computed stay cached)."""
        self._model = None
        self._tokenizer = None

    @contextmanager
    def loaded(self) -> Iterator[GemmaCaptionEncoder]:
        """Keep the model loaded for several encodes (e.g. prompt and negative prompt) even with
        ``keep_loaded=False``; it is freed when the outermost block ends."""
        self._holds += 1
        try:
            yield self
        finally:
            self._holds -= 1
            if not self._holds and not self.keep_loaded:
                self.release()

    # ----- encoding ---------------------------------------------------------------------------------------------
    @torch.inference_mode()
    def _run(self, text: str, length: int) -> tuple[torch.Tensor, torch.Tensor]:
        """``text`` right-padded to exactly ``length`` tokens -> hidden states (1, length, C), mask (1, length)."""
        tokens = self._tokenizer(
            [text], max_length=length, padding="max_length", padding_side="right", truncation=True, return_tensors="pt"
        )
        ids, mask = tokens.input_ids.to(self.device), tokens.attention_mask.to(self.device)
        hidden = self._model(input_ids=ids, attention_mask=mask).last_hidden_state  # (1, length, C)
        return hidden, mask

    def _encode(self, kind: str, text: str) -> tuple[torch.Tensor, torch.Tensor]:
        key = (kind, text)
        if key in self._cache:
            self._cache.move_to_end(key)
            return self._cache[key]
        with self.loaded():
            self.load()
            length = self.caption_length
            chi = "\n".join(self.chi_prompt) if kind == "prompt" else ""
            if chi:
                total = len(self._tokenizer.encode(chi)) + length - 2
                hidden, mask = self._run(chi + text, total)
                keep = [0, *range(total - (length - 1), total)]  # BOS + the last L - 1 positions
                result = hidden[:, keep], mask[:, keep]
            else:
                result = self._run(text, length)
        self._cache[key] = result
        while len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return result

    def encode(self, prompt: str) -> tuple[torch.Tensor, torch.Tensor]:
        """``prompt`` (chi-prefixed) -> ``caption (1, L, C)`` in ``dtype`` and ``mask (1, L)`` int64 (1 = valid)."""
        if not isinstance(prompt, str):
            raise SanaWMInputError(f"prompt must be a string, got {type(prompt).__name__}")
        return self._encode("prompt", prompt)

    def encode_negative(self, prompt: str = "") -> tuple[torch.Tensor, torch.Tensor]:
        """The CFG negative prompt: no prefix, ``L`` tokens, all kept. Same shapes as :meth:`encode`."""
        if not isinstance(prompt, str):
            raise SanaWMInputError(f"negative prompt must be a string, got {type(prompt).__name__}")
        return self._encode("negative", prompt)
