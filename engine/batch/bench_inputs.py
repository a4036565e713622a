"""SANA-WM-Bench camera files as ``sana-wm generate`` inputs.

The benchmark ships each scene's path as an ``.npz`` with ``c2w (961, 4, 4)`` (OpenCV camera-to-world, the official
``--camera`` convention) and ``intrinsics (961, 3, 3)`` in pixels of the scene image, without this project's
convention tag (which the native reader requires rather than guessing). The benchmark's own instructions save the
two arrays as ``<scene>_c2w.npy`` and ``<scene>_intrinsics.npy`` and pass them as ``--camera`` and ``--intrinsics``;
:func:`official_inputs` does the same, so a manifest runs as it is.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from engine.batch.jobs import Job
from engine.camera.formats.npz import CONVENTION
from engine.errors import TrajectoryFormatError
from engine.io.atomic import atomic_path


def is_bench_camera(path: Path) -> bool:
    """An ``.npz`` with ``c2w`` and ``intrinsics`` arrays and no native convention tag."""
    if path.suffix.lower() != ".npz":
        return False
    try:
        with np.load(path, allow_pickle=False) as data:
            keys = set(data.files)
            tagged = "convention" in keys and str(data["convention"]) == CONVENTION
    except (OSError, ValueError):
        return False
    return {"c2w", "intrinsics"} <= keys and not tagged


def official_inputs(job: Job, folder: Path) -> Job:
    """``job`` with a benchmark camera ``.npz`` replaced by ``<folder>/<name>_c2w.npy`` and, unless the job names
    its own, ``<folder>/<name>_intrinsics.npy`` (written atomically); other jobs are returned unchanged."""
    if job.camera is None or not is_bench_camera(job.camera):
        return job
    with np.load(job.camera, allow_pickle=False) as data:
        c2w, intrinsics = np.asarray(data["c2w"]), np.asarray(data["intrinsics"])
    if c2w.ndim != 3 or c2w.shape[1:] != (4, 4):
        raise TrajectoryFormatError(f"{job.camera}: expected 'c2w' of shape (F, 4, 4), found {c2w.shape}")
    folder.mkdir(parents=True, exist_ok=True)
    camera = folder / f"{job.name}_c2w.npy"
    with atomic_path(camera) as tmp:
        np.save(tmp, c2w)
    out = replace(job, camera=camera)
    if job.intrinsics is None:
        k = folder / f"{job.name}_intrinsics.npy"
        with atomic_path(k) as tmp:
            np.save(tmp, intrinsics)
        out = replace(out, intrinsics=k)
    return out
