"""A contrast floor for streamed frames: no shown frame is flatter than a share of the start image's contrast.

Why (docs/embedded_model.md, "Washed out where it invents"): where the start image's world cache does not cover
the view, the embedded model paints the mean of what might be there, a low-contrast haze with a landscape's
layout. Every frame the drift check fails is washed out in this way (luma spread low, luma mean high, saturation
low); no frame fails for being too contrasted. The floor stretches such a frame about its own mean colour, per
channel, until its luma spread reaches ``floor`` times the start image's, with the stretch capped at ``cap``. A
frame whose spread is already at the floor is returned unchanged, so streams that hold their contrast (and every
frame while the start view covers the scene) are untouched.

The stretch keeps each frame's mean colour and layout: it adds no content, it only undoes the flattening. It is
applied to the decoded frames, so what the session shows, commits as the model's next context (with
:attr:`~engine.generation.state.StreamSettings.commit_shown`) and fuses into the world cache is the same frame.
"""

from __future__ import annotations

import numpy as np

from engine.components.guided_decode import LUMA
from engine.errors import SanaWMInputError

#: BT.601 luma weights (the guided decode's, and the drift check's :func:`engine.eval.metrics.luma`).
LUMA_WEIGHTS = np.array(LUMA, dtype=np.float32)


def luma_std(frame: np.ndarray) -> float:
    """Spatial standard deviation of one ``(H, W, 3)`` frame's BT.601 luma, 0-255 scale."""
    return float((np.asarray(frame, dtype=np.float32) @ LUMA_WEIGHTS).std())


def check_floor(floor: float, cap: float) -> None:
    """Raise :class:`SanaWMInputError` unless ``0 <= floor <= 1`` and ``cap >= 1`` (finite)."""
    if not 0.0 <= floor <= 1.0:  # also False for NaN
        raise SanaWMInputError(f"contrast_floor: expected a share of the start image's contrast in [0, 1], found {floor!r}")
    if not 1.0 <= cap < float("inf"):
        raise SanaWMInputError(f"contrast_cap: expected a finite stretch of at least 1, found {cap!r}")


def floor_contrast(frames: np.ndarray, reference_std: float, floor: float, cap: float) -> np.ndarray:
    """Stretch each frame whose luma spread is below ``floor * reference_std`` about its mean colour.

    Args:
        frames: ``(F, H, W, 3)`` uint8.
        reference_std: the start image's luma spread (:func:`luma_std`).
        floor: share of ``reference_std`` no frame falls below (0 = off: ``frames`` is returned as it is).
        cap: the largest stretch; a frame flatter than ``floor / cap`` of the reference gets ``cap``.

    Returns:
        ``(F, H, W, 3)`` uint8; frames at or above the floor are bit-identical to the input.
    """
    check_floor(floor, cap)
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise SanaWMInputError(f"frames: expected (F, H, W, 3) uint8, found {frames.shape} {frames.dtype}")
    if floor == 0.0 or reference_std <= 0.0:
        return frames
    out = frames.copy()
    target = floor * reference_std
    for i, frame in enumerate(frames):
        spread = luma_std(frame)
        if spread >= target:
            continue
        x = frame.astype(np.float32)
        gain = min(target / max(spread, 1e-3), cap)
        mean = x.reshape(-1, 3).mean(0)
        out[i] = np.clip(mean + gain * (x - mean) + 0.5, 0, 255).astype(np.uint8)
    return out
