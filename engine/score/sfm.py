"""Camera poses estimated from video frames by classical structure-from-motion (pycolmap, CPU, known intrinsics).

Why SfM and not a learned pose network: it needs no weights and no GPU, it is deterministic for a fixed seed and
thread count, and its failure mode is explicit (frames it cannot register are reported, never guessed). The
intrinsics are the ones the video was generated with; they are held fixed (a single PINHOLE camera, no intrinsics
refinement), as SANA-WM's benchmark passes the known camera to its pose estimator.

Pipeline: SIFT features -> sequential matching (each frame against the next ``overlap`` frames) -> incremental
mapping; the reconstruction with the most registered frames is kept. A video whose frames do not move at all
(a static video) cannot be triangulated; the median keypoint motion between consecutive frames is measured so the
caller can tell "the camera did not move" from "SfM failed" (:attr:`SfmResult.motion_px`).

pycolmap is an optional dependency (``pip install -e ".[batch]"``); it is imported when a video is scored.
"""

from __future__ import annotations

import logging
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
from PIL import Image

from engine.errors import ConfigError

log = logging.getLogger(__name__)

#: How to get the scorer's dependency (named in the error when it is missing).
INSTALL_HINT = 'pip install -e ".[batch]"  (or: pip install pycolmap)'

#: SIFT features kept per frame and the detection threshold (COLMAP's defaults: 8192 and 0.0067).
MAX_FEATURES = 8192
SIFT_PEAK_THRESHOLD = 0.002
#: ``progress(stage, done, total)``: stages "features", "matching", "mapping".
Progress = Callable[[str, int, int], None]


@dataclass
class SfmResult:
    """Poses of the frames given to :func:`estimate_poses`, in SfM's own world frame and scale.

    Attributes:
        c2w: ``(N, 4, 4)`` float64 camera-to-world (OpenCV axes, as COLMAP's); NaN rows where not registered.
        registered: ``(N,)`` bool.
        num_points: 3D points of the kept reconstruction (0 when none).
        motion_px: ``(N - 1,)`` median displacement in pixels of the raw feature matches between consecutive frames
            (NaN for a pair without matches): near 0 everywhere means the video does not move.
        seconds: wall time of the whole estimate.
    """

    c2w: np.ndarray
    registered: np.ndarray
    num_points: int
    motion_px: np.ndarray
    seconds: float

    @property
    def share_registered(self) -> float:
        return float(self.registered.mean()) if self.registered.size else 0.0


def import_pycolmap():
    """pycolmap, or an input error that says how to install it (the scorer is an optional extra)."""
    try:
        import pycolmap
    except ImportError:
        raise ConfigError(f"sana-wm score: expected the pycolmap package (the scorer's SfM), found it missing; "
                          f"install it with {INSTALL_HINT}") from None
    return pycolmap


def estimate_poses(frames: np.ndarray, intrinsics: np.ndarray, *, threads: int = 2, overlap: int = 10,
                   seed: int = 0, mapper: str = "incremental", progress: Progress | None = None) -> SfmResult:
    """Estimate the camera of every frame of ``frames`` (``(N, H, W, 3)`` uint8) seen through one pinhole camera
    ``intrinsics = [fx, fy, cx, cy]`` in pixels of the frames. ``threads`` bounds every stage's CPU threads."""
    pycolmap = import_pycolmap()
    frames = np.asarray(frames)
    n = frames.shape[0]
    k = np.asarray(intrinsics, dtype=np.float64).reshape(4)
    started = time.perf_counter()
    pycolmap.logging.minloglevel = 2  # warnings and errors only: the command draws its own progress
    with tempfile.TemporaryDirectory(prefix="sana-wm-score-") as tmp:
        root = Path(tmp)
        images = root / "images"
        images.mkdir()
        names = [f"{i:06d}.png" for i in range(n)]
        for name, frame in zip(names, frames):
            Image.fromarray(frame).save(images / name, compress_level=1)
        database = root / "database.db"

        _report(progress, "features", 0, 3)
        reader = pycolmap.ImageReaderOptions()
        reader.camera_model = "PINHOLE"
        reader.camera_params = ",".join(repr(float(v)) for v in k)
        extraction = pycolmap.FeatureExtractionOptions()
        extraction.num_threads = threads
        extraction.use_gpu = False
        # video frames are small and procedural / generated textures are soft: keep more, weaker features
        extraction.sift.max_num_features = MAX_FEATURES
        extraction.sift.peak_threshold = SIFT_PEAK_THRESHOLD
        pycolmap.extract_features(database, images, image_names=names, camera_mode=pycolmap.CameraMode.SINGLE,
                                  reader_options=reader, extraction_options=extraction, device=pycolmap.Device.cpu)

        _report(progress, "matching", 1, 3)
        pairing = pycolmap.SequentialPairingOptions()
        pairing.overlap = overlap
        pairing.num_threads = threads
        matching = pycolmap.FeatureMatchingOptions()
        matching.num_threads = threads
        matching.use_gpu = False
        verification = pycolmap.TwoViewGeometryOptions()
        # COLMAP seeds the two-view RANSAC from the clock unless told (random_seed -1): without this the same video
        # scored 0.08-3.1 deg RotErr from run to run
        verification.ransac.random_seed = seed
        pycolmap.match_sequential(database, matching_options=matching, pairing_options=pairing,
                                  verification_options=verification, device=pycolmap.Device.cpu)
        motion = _consecutive_motion(pycolmap, database, names)

        _report(progress, "mapping", 2, 3)
        sparse = root / "sparse"
        sparse.mkdir()
        if mapper == "global":
            reconstructions = pycolmap.global_mapping(database, images, sparse,
                                                      options=_global_options(pycolmap, threads, seed))
        else:
            reconstructions = pycolmap.incremental_mapping(database, images, sparse,
                                                           options=_incremental_options(pycolmap, threads, seed))
        _report(progress, "mapping", 3, 3)

    c2w = np.full((n, 4, 4), np.nan)
    registered = np.zeros(n, dtype=bool)
    points = 0
    if reconstructions:
        best = max(reconstructions.values(), key=lambda r: r.num_reg_images())
        points = int(best.num_points3D())
        index = {name: i for i, name in enumerate(names)}
        for image in best.images.values():
            if not image.has_pose:
                continue
            cam_from_world = image.cam_from_world()
            w2c = np.eye(4)
            w2c[:3, :4] = cam_from_world.matrix()
            i = index[image.name]
            c2w[i] = np.linalg.inv(w2c)
            registered[i] = True
    result = SfmResult(c2w, registered, points, motion, time.perf_counter() - started)
    log.info("SfM: %d of %d frames registered, %d points, %.1f s", registered.sum(), n, points, result.seconds)
    return result


def _incremental_options(pycolmap, threads: int, seed: int):
    """COLMAP's incremental mapper (its default thresholds) with the camera held fixed."""
    options = pycolmap.IncrementalPipelineOptions()
    options.num_threads = threads
    options.random_seed = seed
    options.ba_refine_focal_length = False
    options.ba_refine_principal_point = False
    options.ba_refine_extra_params = False
    return options


def _global_options(pycolmap, threads: int, seed: int):
    """GLOMAP (rotation averaging, then global positioning) with the camera held fixed."""
    options = pycolmap.GlobalPipelineOptions()
    options.num_threads = threads
    options.random_seed = seed
    ba = options.mapper.bundle_adjustment
    ba.refine_focal_length = False
    ba.refine_principal_point = False
    ba.refine_extra_params = False
    return options


def _consecutive_motion(pycolmap, database: Path, names: list[str]) -> np.ndarray:
    """Median pixel displacement of the raw matches between frames ``i`` and ``i + 1`` (NaN without matches)."""
    out = np.full(max(len(names) - 1, 0), np.nan)
    with pycolmap.Database.open(database) as db:
        ids = {image.name: image.image_id for image in db.read_all_images()}
        for i in range(len(names) - 1):
            a, b = ids[names[i]], ids[names[i + 1]]
            if not db.exists_matches(a, b):
                continue
            matches = np.asarray(db.read_matches(a, b))
            if matches.size == 0:
                continue
            ka = np.asarray(db.read_keypoints(a))[:, :2]
            kb = np.asarray(db.read_keypoints(b))[:, :2]
            out[i] = float(np.median(np.linalg.norm(ka[matches[:, 0]] - kb[matches[:, 1]], axis=1)))
    return out


def _report(progress: Progress | None, stage: str, done: int, total: int) -> None:
    if progress is not None:
        progress(stage, done, total)
