"""What every eval score is computed on: a held-out scene, a streaming rollout along its poses, and the
"repeat first frame" baseline.

Shared by the protocol (:mod:`engine.eval.protocol`, horizons, revisit, drift) and the exposure check
(:mod:`engine.eval.exposure`, free vs teacher-forced per-chunk PSNR); the protocol builds the scenes
(:func:`engine.eval.protocol.make_scenes`) and runs the exposure check, so both depend on this module and not on
each other.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from engine.bundles import ModelBundle
from engine.camera.poses import relative_to_first
from engine.errors import ConfigError
from engine.eval.parallax import ParallaxReference, parallax_reference
from engine.generation.session import StreamSettings, WorldSession
from engine.synth.scene import World
from engine.synth.trajectories import ClipPlan

#: PSNR of identical frames is infinite; tables and averages cap it here.
PSNR_CAP_DB = 100.0
CHUNK_FRAMES = 24

#: ``progress(stage, done, total)``.
Progress = Callable[[str, int, int], None]


@dataclass
class Scene:
    """One held-out world with its two paths and their ground-truth renders (uint8 ``(F, H, W, 3)``)."""

    world_seed: int
    world: World
    path: ClipPlan
    truth: np.ndarray
    revisit_path: ClipPlan
    revisit_truth: np.ndarray
    #: ``(H, W)`` metric depth of ``truth[0]`` and ``revisit_truth[0]`` (for the cache rows; None when not rendered)
    start_depth: np.ndarray | None = None
    revisit_start_depth: np.ndarray | None = None
    _parallax: ParallaxReference | None = field(default=None, init=False, repr=False)

    @property
    def parallax(self) -> ParallaxReference:
        """The truth's side of the parallax check on the long path (computed once, then kept)."""
        if self._parallax is None:
            self._parallax = parallax_reference(self.truth, self.path.c2w)
        return self._parallax

    @property
    def revisit_pair(self) -> tuple[int, int] | None:
        pairs = self.revisit_path.revisits
        if len(pairs) == 0:
            return None
        i, j = pairs[int(np.argmax(pairs[:, 1] - pairs[:, 0]))]
        return int(i), int(j)


def rollout(bundle: ModelBundle, start: np.ndarray, c2w: np.ndarray, intrinsics: np.ndarray, *, seed: int = 42,
            progress: Progress | None = None, commit_truth: np.ndarray | None = None,
            reanchor: bool = True, settings: StreamSettings | None = None,
            reanchored: list[bool] | None = None) -> np.ndarray:  # fmt: skip
    """Generate ``(F, H, W, 3)`` uint8 frames along world poses ``c2w (F, 4, 4)`` (``F = 1 + 24 k``) from ``start``
    (frame 0 is the model's reconstruction of it). ``commit_truth`` (``(F, H, W, 3)`` at the bundle's frame size)
    makes it teacher-forced: after each chunk the cache holds the encoding of these frames instead of the
    generated chunk (:mod:`engine.eval.exposure`). ``reanchor`` as :attr:`StreamSettings.reanchor`; ``settings``,
    when given, replaces ``seed`` and ``reanchor`` (the variants of :mod:`engine.eval.drift_probe`). ``reanchored``,
    when given, gets one entry per chunk: whether it started a fresh model context."""
    n = c2w.shape[0]
    if (n - 1) % CHUNK_FRAMES or n < 1 + CHUNK_FRAMES:
        raise ConfigError(f"rollout: expected 1 + 24 k poses, found {n}")
    settings = settings or StreamSettings(seed=seed, reanchor=reanchor)
    session = WorldSession(bundle, settings, keep_snapshots=False, keep_history=False)
    session.start(start, intrinsics=intrinsics[0])
    truth_latents = None if commit_truth is None else bundle.codec.encode(np.asarray(commit_truth)[:n])
    rel = relative_to_first(c2w)
    frames = []
    chunks = (n - 1) // CHUNK_FRAMES
    for k in range(chunks):
        sl = slice(1 + CHUNK_FRAMES * k, 1 + CHUNK_FRAMES * (k + 1))
        a, b = session.chunk_latent_range(k)
        commit = None if truth_latents is None else truth_latents[:, :, a:b]
        before = session.snapshot().anchor
        frames.append(session.step(rel[sl], intrinsics[sl], commit_latents=commit).frames)
        if reanchored is not None:
            reanchored.append(session.snapshot().anchor != before)
        if progress:
            progress("chunk", k + 1, chunks)
    return np.concatenate(frames)


def repeat_first_frame(start: np.ndarray, num_frames: int) -> np.ndarray:
    """The "repeat first frame" baseline: the start image for every frame."""
    return np.repeat(np.asarray(start)[None], num_frames, axis=0)
