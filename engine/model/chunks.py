"""Latent chunk layouts and the softmax attention window of streaming (spec streaming §1.1, §1.2, §3.3).

A stream of ``T`` latent frames is cut into chunks of ``chunk_size`` (3) frames; the first chunk also holds the
image latent (frame 0), so the official layout is ``[0, 4), [4, 7), [7, 10), ...``. Two official rules place any
remainder differently (they agree when ``T = 1 (mod 3)``, the only case the streaming script produces):

* the sampler (:func:`sampler_chunk_starts`) puts it into chunk 0;
* the teacher / training code (:func:`teacher_chunk_starts`) merges it into the last chunk.

Softmax blocks see only a window of earlier chunks (:class:`AttentionWindow`); Gated-DeltaNet blocks carry all
history in their recurrent state and have no window.
"""

from __future__ import annotations

from dataclasses import dataclass

from engine.errors import SanaWMInputError

CHUNK_SIZE = 3


def _check(num_frames: int, chunk_size: int) -> None:
    if chunk_size < 1:
        raise SanaWMInputError(f"chunk_size must be >= 1, got {chunk_size}")
    if num_frames < 1:
        raise SanaWMInputError(f"a stream needs at least one latent frame, got {num_frames}")


def sampler_chunk_starts(num_frames: int, chunk_size: int = CHUNK_SIZE) -> tuple[int, ...]:
    """Chunk start frames of the self-forcing sampler: chunk 0 = ``[0, chunk_size + r)`` with ``r = T mod
    chunk_size``, then chunks of ``chunk_size``. Needs ``T > chunk_size``."""
    _check(num_frames, chunk_size)
    if num_frames <= chunk_size:
        raise SanaWMInputError(
            f"the streaming sampler needs more than {chunk_size} latent frames (image + one chunk), got {num_frames}"
        )
    first = chunk_size + num_frames % chunk_size
    return (0, *range(first, num_frames, chunk_size))


def teacher_chunk_starts(num_frames: int, chunk_size: int = CHUNK_SIZE) -> tuple[int, ...]:
    """Chunk start frames of the chunk-causal teacher (``first_plus_one``): ``[0] + range(chunk_size + 1, T,
    chunk_size)``, dropping a last start whose chunk would be shorter than ``chunk_size`` (its frames join the
    previous chunk). ``T <= chunk_size + 1`` is one chunk."""
    _check(num_frames, chunk_size)
    starts = [0, *range(chunk_size + 1, num_frames, chunk_size)]
    if len(starts) > 1 and num_frames - starts[-1] < chunk_size:
        starts.pop()
    return tuple(starts)


def chunk_bounds(starts: tuple[int, ...], num_frames: int) -> list[tuple[int, int]]:
    """``[(a, b), ...]`` frame ranges of the chunks given their starts."""
    ends = (*starts[1:], num_frames)
    return list(zip(starts, ends))


@dataclass(frozen=True)
class AttentionWindow:
    """Which earlier chunks a softmax query of chunk ``k`` sees (besides its own chunk).

    Args:
        num_cached_chunks: ``N`` earlier chunks kept; -1 = all (full history, quadratic cost); 0 = none.
        sink: keep chunk 0 (the image chunk) as a permanent "attention sink"; it counts as one of the ``N``.

    With the official ``N = 2`` and sink: chunk 1 sees {0}, chunk 2 sees {0, 1}, chunk k >= 3 sees {0, k - 1}.
    """

    num_cached_chunks: int = 2
    sink: bool = True

    def __post_init__(self) -> None:
        if self.num_cached_chunks < -1:
            raise SanaWMInputError(f"num_cached_chunks must be -1 (all) or >= 0, got {self.num_cached_chunks}")

    @classmethod
    def full(cls) -> AttentionWindow:
        """Every earlier chunk (the uncached teacher's semantics)."""
        return cls(num_cached_chunks=-1, sink=False)

    def visible(self, chunk_index: int) -> list[int]:
        """Earlier chunk indices visible to chunk ``chunk_index``, in the order their keys are concatenated."""
        k, n = chunk_index, self.num_cached_chunks
        if n < 0:
            return list(range(k))
        recent = list(range(max(k - n, 0), k))
        if self.sink and n > 0:
            first_recent = max(k - n + 1, 0)
            if first_recent > 0:
                return [0, *range(first_recent, k)]
        return recent
