"""Path playback: a dense camera path fed to a streaming rollout one chunk at a time.

A streamed rollout has ``1 + n k`` pixel frames (``n`` frames per chunk): frame 0 is the start image, chunk ``i``
covers frames ``1 + n i .. n (i + 1)``. To generate chunk ``i`` along a path, the path is sampled through the end of
that chunk (:func:`frames_through_chunk`; a :class:`~engine.camera.keyframes.CameraPath` holds its last pose past its
length), made relative to frame 0 (:func:`~engine.camera.poses.relative_to_first`: the start image's camera is the
identity, wherever the path's world put it), and the chunk's rows go to :meth:`WorldSession.step` as they are.

Why not the MotionIntegrator: a keyframed path is not a sequence of held keys; its poses are sent exactly (see
:mod:`engine.camera.keyframes` and docs/explorer_path_mode.md).
"""

from __future__ import annotations

import numpy as np

from engine.camera.keyframes import CameraPath
from engine.camera.poses import relative_to_first
from engine.errors import TrajectoryError


def frames_through_chunk(chunk_index: int, frames_per_chunk: int) -> int:
    """Pixel frames from the start image through the last frame of chunk ``chunk_index``: ``1 + n (i + 1)``."""
    return 1 + frames_per_chunk * (chunk_index + 1)


def chunk_rows(chunk_index: int, frames_per_chunk: int) -> slice:
    """The rows of chunk ``chunk_index`` in a ``1 + n k`` frame trajectory (frame 0 is the start image)."""
    return slice(1 + frames_per_chunk * chunk_index, frames_through_chunk(chunk_index, frames_per_chunk))


def path_chunk_count(num_frames: int, frames_per_chunk: int) -> int:
    """Whole chunks a path of ``num_frames`` pixel frames (the start image's included) holds."""
    return max(0, (int(num_frames) - 1) // frames_per_chunk)


def chunk_poses(
    c2w: np.ndarray, intrinsics: np.ndarray | None, chunk_index: int, frames_per_chunk: int
) -> tuple[np.ndarray, np.ndarray | None]:
    """Chunk ``chunk_index``'s ``(poses (n, 4, 4), intrinsics (n, 4) | None)`` of a sampled path.

    ``c2w`` ``(N, 4, 4)`` camera-to-world from the start image's frame on (any world: the poses come out relative to
    frame 0), ``intrinsics`` ``(N, 4)`` or None; ``N`` must reach the end of the chunk.
    """
    if chunk_index < 0:
        raise TrajectoryError(f"path chunk: expected a chunk index >= 0, found {chunk_index}")
    c2w = np.asarray(c2w, dtype=np.float64)
    need = frames_through_chunk(chunk_index, frames_per_chunk)
    if c2w.ndim != 3 or c2w.shape[1:] != (4, 4) or len(c2w) < need:
        raise TrajectoryError(
            f"path chunk {chunk_index}: expected at least {need} poses (N, 4, 4) through the chunk's end, "
            f"found shape {tuple(c2w.shape)}"
        )
    rows = chunk_rows(chunk_index, frames_per_chunk)
    poses = relative_to_first(c2w[:need])[rows]
    return poses, None if intrinsics is None else np.asarray(intrinsics, dtype=np.float64)[rows]


def path_chunk(
    path: CameraPath, chunk_index: int, frames_per_chunk: int, frame_size: tuple[int, int] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Chunk ``chunk_index`` of an authored path: its poses relative to frame 0 and its intrinsics for
    ``frame_size`` (default the path's) — what the explorer's Generate along path sends for that chunk."""
    c2w, intrinsics = path.sample(frames_through_chunk(chunk_index, frames_per_chunk), frame_size)
    poses, intr = chunk_poses(c2w, intrinsics, chunk_index, frames_per_chunk)
    assert intr is not None
    return poses, intr
