"""A stand-in for the stage-2 refiner (:class:`engine.components.refiner.LTX2Refiner`), for tests and demos of the
refine plumbing on random-weight bundles, which have no refiner: same call, a cheap deterministic change."""

from __future__ import annotations

from collections.abc import Callable

import torch


class ShiftRefiner:
    """Adds ``shift`` to every latent frame after the sink (the real refiner keeps the sink bit-identical too) and
    reports ``blocks`` progress steps; records each call as ``(shape, prompt, seed)`` in :attr:`calls`."""

    sink_size = 1

    def __init__(self, shift: float = 0.1, blocks: int = 2) -> None:
        self.shift = shift
        self.blocks = blocks
        self.calls: list[tuple[tuple[int, ...], str, int]] = []

    def refine(
        self, latents: torch.Tensor, prompt: str, seed: int = 42, progress: Callable[[int, int], None] | None = None
    ) -> torch.Tensor:
        self.calls.append((tuple(latents.shape), prompt, seed))
        for done in range(1, self.blocks + 1):
            if progress is not None:
                progress(done, self.blocks)
        out = latents.clone()
        out[:, :, self.sink_size :] += self.shift
        return out
