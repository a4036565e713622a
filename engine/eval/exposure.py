"""The exposure check of ``sana-wm eval --exposure N``: per-chunk PSNR of a free rollout and of a teacher-forced one.

A **free** rollout feeds the model its own chunks as context, as every user sees it. A **teacher-forced** rollout
samples each chunk the same way but then commits the ground truth's encoding of that chunk to the cache
(:meth:`WorldSession.step` with ``commit_latents``), so the next chunk sees perfect context. Both are scored chunk by
chunk against the ground-truth renders, next to "repeat first frame":

* a gap that opens between the two curves is error the model compounds on its own output (exposure bias); a
  fine-tune on its own rollouts (``sana-wm train --self-rollout-prob``) is the remedy;
* a teacher-forced curve that itself falls shows the model losing its reach over long streams (RoPE positions or
  camera distances beyond its training windows), which more context will not fix.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import numpy as np

from engine.bundles import ModelBundle
from engine.eval.metrics import psnr
from engine.eval.rollout import CHUNK_FRAMES, PSNR_CAP_DB, Progress, Scene, repeat_first_frame, rollout


@dataclass
class ExposureCurves:
    """Mean PSNR (dB, over scenes and the 24 frames of each chunk) per chunk ``0 .. chunks - 1``."""

    chunks: int
    fps: float
    free: list[float]
    teacher_forced: list[float]
    repeat_first: list[float]

    def to_markdown(self) -> str:
        head = "| chunk | ends at s | free rollout | teacher-forced | repeat first frame |\n|---|---|---|---|---|"
        rows = [f"| {k} | {(k + 1) * CHUNK_FRAMES / self.fps:.1f} | {f:.2f} | {t:.2f} | {r:.2f} |"
                for k, (f, t, r) in enumerate(zip(self.free, self.teacher_forced, self.repeat_first))]  # fmt: skip
        return "\n".join([head, *rows])


def chunk_psnr(generated: np.ndarray, truth: np.ndarray, chunks: int) -> np.ndarray:
    """``(chunks,)`` mean capped PSNR of pixel frames ``24 k + 1 .. 24 k + 24`` of each chunk ``k``."""
    scores = np.minimum(psnr(generated[1 : 1 + CHUNK_FRAMES * chunks], truth[1 : 1 + CHUNK_FRAMES * chunks]), PSNR_CAP_DB)
    return np.asarray(scores, dtype=np.float64).reshape(chunks, CHUNK_FRAMES).mean(axis=1)


def exposure_curves(bundle: ModelBundle, scenes: list[Scene], chunks: int, *, seed: int, fps: float,
                    reanchor: bool = True, progress: Progress | None = None) -> ExposureCurves:  # fmt: skip
    """Free and teacher-forced rollouts of ``chunks`` chunks along each scene's long path (module docstring)."""
    frames = 1 + CHUNK_FRAMES * chunks
    free, forced, repeat = [], [], []
    for i, scene in enumerate(scenes):
        truth = scene.truth[:frames]
        c2w, intrinsics = scene.path.c2w[:frames], scene.path.intrinsics[:frames]
        run = partial(rollout, bundle, truth[0], c2w, intrinsics, seed=seed, reanchor=reanchor)
        free.append(chunk_psnr(run(), truth, chunks))
        forced.append(chunk_psnr(run(commit_truth=truth), truth, chunks))
        repeat.append(chunk_psnr(repeat_first_frame(truth[0], frames), truth, chunks))
        if progress:
            progress("exposure", i + 1, len(scenes))
    mean = lambda rows: [float(v) for v in np.mean(rows, axis=0)]  # noqa: E731
    return ExposureCurves(chunks, fps, mean(free), mean(forced), mean(repeat))
