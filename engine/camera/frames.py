"""Frame counts: the LTX-2 ``stride * k + 1`` rule and the official snapping (spec streaming §7.5).

The video VAE compresses 8 pixel frames into one latent frame after the first, so clips have ``8k + 1``
frames (bidirectional); the streaming sampler works in chunks of 3 latent frames, so it uses ``24k + 1``.
"""

from __future__ import annotations

from engine.errors import TrajectoryError

#: Pixel frames per latent frame of the LTX-2 VAE.
TEMPORAL_STRIDE = 8
#: Snapping stride of the bidirectional script and of streaming (8 x 3-latent-frame chunks).
BIDIRECTIONAL_STRIDE = 8
STREAMING_STRIDE = 24


def snap_num_frames(num_frames: int, stride: int = BIDIRECTIONAL_STRIDE, *, upper_bound: int | None = None) -> int:
    """Snap to the nearest ``stride * k + 1`` with the official rule.

    Keep ``n`` if it already fits; otherwise take the lower candidate when it is strictly closer, else the
    upper one (ties go up), but never above ``upper_bound`` (then the lower one); at least 1.
    """
    if stride < 1:
        raise TrajectoryError(f"frame stride: expected a positive integer, found {stride}")
    n = int(num_frames)
    if n < 1:
        return 1
    if (n - 1) % stride == 0:
        return n
    lo = n - (n - 1) % stride
    hi = lo + stride
    snapped = lo if (n - lo) < (hi - n) else hi
    if upper_bound is not None and snapped > upper_bound:
        snapped = lo
    return max(snapped, 1)


def resolve_num_frames(requested: int | None, trajectory_frames: int, stride: int = BIDIRECTIONAL_STRIDE) -> int:
    """The frame count the pipeline uses: ``min(requested, trajectory)`` snapped, bounded by the trajectory."""
    if trajectory_frames < 1:
        raise TrajectoryError("trajectory: expected at least one pose, found 0")
    if requested is not None and requested < 1:
        raise TrajectoryError(f"num_frames: expected a positive integer, found {requested}")
    n = trajectory_frames if requested is None else min(int(requested), trajectory_frames)
    return snap_num_frames(n, stride, upper_bound=trajectory_frames)


def latent_frame_count(num_frames: int, temporal_stride: int = TEMPORAL_STRIDE) -> int:
    """Latent frames of a ``num_frames`` clip: ``(F - 1) // stride + 1``."""
    return (int(num_frames) - 1) // temporal_stride + 1


def pixel_frame_count(latent_frames: int, temporal_stride: int = TEMPORAL_STRIDE) -> int:
    """Pixel frames decoded from ``latent_frames``: ``stride * (T - 1) + 1``."""
    return temporal_stride * (int(latent_frames) - 1) + 1
