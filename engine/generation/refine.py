"""Refine a span of a take with the bundle's stage-2 refiner (spec ``ltx2_vae_refiner.md``), without Qt.

The refiner sees the span's stage-1 latents preceded by the image latent as an attention sink (DESIGN.md, data flow:
``refine(span) --> stage-2 refiner on the span's latents (sink = latent frame 0) --> decode --> replace frames``).
For a span that starts at chunk 0 the sink is already there (chunk 0's latents begin with the image latent); for a
later span it is prepended, and its decoded frame dropped again, so the frames line up with the chunks'.

Three levels, each built on the one before::

    latents = refiner_input(records, 1, 2)                   # (1, C, 1 + 6, h, w): sink + chunks 1 and 2
    frames = refine_span(bundle, latents, 1, prompt=...)    # (48, H, W, 3): refined and decoded, sink dropped
    per_chunk = refine(bundle, records, 1, 2, prompt=...)    # [(24, H, W, 3), (24, H, W, 3)]
    refine_take(bundle, project, 1, 2)                       # the same, stored in the project (Project.set_refined)

``first_chunk`` and ``last_chunk`` are both included. The refiner's progress reaches ``progress("refine", done,
total)``, then ``progress("decode", 1, 1)``; raising from ``progress`` (e.g. :class:`~engine.errors.Cancelled`)
stops the work and changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch

from engine.bundles import ModelBundle
from engine.errors import ConfigError, SanaWMInputError
from engine.generation.project import Project
from engine.generation.state import ChunkRecord
from engine.memory.decode import decode_clip

#: ``progress(stage, done, total)`` with stages ``"refine"`` (per refined block) and ``"decode"``.
Progress = Callable[[str, int, int], None]


def refiner_input(records: Sequence[ChunkRecord], first_chunk: int, last_chunk: int) -> torch.Tensor:
    """The refiner's input for chunks ``first_chunk..last_chunk`` of a take whose records are ``records`` (chunk 0
    first): ``(1, C, T, h, w)``, the chunks' latents, preceded by the image latent (the sink) when
    ``first_chunk > 0``."""
    if not 0 <= first_chunk <= last_chunk < len(records):
        raise SanaWMInputError(
            f"refine: expected chunks first <= last inside [0, {len(records) - 1}], found {first_chunk}..{last_chunk}"
        )
    span = [r.latents for r in records[first_chunk : last_chunk + 1]]
    if first_chunk > 0:
        span.insert(0, records[0].latents[:, :, :1])
    return torch.cat(span, dim=2)


def refine_span(
    bundle: ModelBundle,
    latents: torch.Tensor,
    first_chunk: int,
    *,
    prompt: str = "",
    seed: int = 42,
    progress: Progress | None = None,
) -> np.ndarray:
    """Refine :func:`refiner_input` ``latents`` of a span starting at ``first_chunk`` and decode them: uint8 frames
    ``(F, H, W, 3)`` of the span's chunks (the sink's frame dropped when ``first_chunk > 0``)."""
    if bundle.refiner is None:
        raise ConfigError(f"refine: the model {bundle.name!r} has no stage-2 refiner")
    refined = bundle.refiner.refine(
        latents, prompt, seed=seed, progress=None if progress is None else lambda done, total: progress("refine", done, total)
    )
    frames = decode_clip(bundle.codec, refined, bundle.memory.decode_latents_per_call)
    if progress is not None:
        progress("decode", 1, 1)
    return frames if first_chunk == 0 else frames[1:]


def refine(
    bundle: ModelBundle,
    records: Sequence[ChunkRecord],
    first_chunk: int,
    last_chunk: int,
    *,
    prompt: str = "",
    seed: int = 42,
    progress: Progress | None = None,
) -> list[np.ndarray]:
    """Refine chunks ``first_chunk..last_chunk`` of a take (``records``, chunk 0 first): the refined frames of each
    chunk, each the shape of its record's ``frames``."""
    latents = refiner_input(records, first_chunk, last_chunk)
    frames = refine_span(bundle, latents, first_chunk, prompt=prompt, seed=seed, progress=progress)
    return split_frames(records[first_chunk : last_chunk + 1], frames)


def split_frames(records: Sequence[ChunkRecord], frames: np.ndarray) -> list[np.ndarray]:
    """Cut a span's frames ``(F, H, W, 3)`` into one array per chunk, sized like each record's ``frames``."""
    sizes = [r.frames.shape[0] for r in records]
    if sum(sizes) != frames.shape[0]:
        raise SanaWMInputError(f"refined frames: expected {sum(sizes)} frames for {len(records)} chunks, found {frames.shape[0]}")
    return list(np.split(frames, np.cumsum(sizes)[:-1]))


def refine_take(
    bundle: ModelBundle,
    project: Project,
    first_chunk: int,
    last_chunk: int,
    *,
    branch_id: int | None = None,
    progress: Progress | None = None,
) -> list[np.ndarray]:
    """:func:`refine` chunks ``first_chunk..last_chunk`` of a take of ``project`` (default: the current one) with
    the project's prompt and seed, and store the frames (:meth:`Project.set_refined`; chunks a fork shares show them
    on every take). Returns the frames per chunk."""
    entries = project.entries(branch_id)
    records = [e.record for e in entries]
    start = project.start
    frames = refine(bundle, records, first_chunk, last_chunk, prompt=start.prompt, seed=start.seed, progress=progress)
    for k, chunk_frames in zip(range(first_chunk, last_chunk + 1), frames, strict=True):
        project.set_refined(k, chunk_frames, branch_id=branch_id)
    return frames
