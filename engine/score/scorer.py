"""How well a video follows its camera path: ``sana-wm score`` and the explorer's "Score this take".

Steps (see docs/score.md):

1. The video's frames and the requested path (the ``.npz`` beside the video, or any trajectory file) must have one
   pose per frame; the intrinsics come from the path (scaled to the video's size) or are given.
2. Every ``stride``-th frame (and the last) is given to SfM (:mod:`engine.score.sfm`) with the known intrinsics.
3. The registered estimates are aligned to the requested poses by a similarity (:mod:`engine.score.align`).
4. RotErr / TransErr / CamMC per scored frame (:mod:`engine.score.metrics`), means and sums.
5. Revisit consistency: where the requested path returns to an earlier pose, PSNR / SSIM between the two frames.

Outcomes (:attr:`ScoreReport.status`): ``"scored"`` when at least ``min_registered`` of the scored frames were
registered (errors over the registered ones); ``"static"`` when SfM could not register them but the frames do not
move (median match displacement below :data:`STATIC_MOTION_PX`): the estimate is then a camera that stays put,
which is what the video shows, and it is scored as such; ``"unregistered"`` otherwise: no errors are given, never a
guess.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from engine.camera import intrinsics as intr
from engine.camera.formats import read_trajectory
from engine.camera.trajectory import Trajectory
from engine.errors import ConfigError, IntrinsicsError, TrajectoryError
from engine.eval.metrics import psnr, ssim
from engine.export.job import sidecar_path
from engine.score.align import fit_similarity
from engine.score.metrics import path_errors
from engine.score.sfm import Progress, estimate_poses
from engine.score.video import read_video
from engine.synth.trajectories import find_revisits

#: Fewest frames a video needs to be scored (SfM needs views to triangulate and register).
MIN_FRAMES = 9
#: Fewest frames given to SfM; shorter videos use a smaller stride.
MIN_SCORED_FRAMES = 8
#: Median match displacement (pixels) below which consecutive frames count as not moving.
STATIC_MOTION_PX = 0.5
#: Per-frame intrinsics may differ by this relative amount and still count as one camera.
INTRINSICS_RTOL = 1e-3
#: At most this many revisit pairs are compared (evenly chosen among all).
MAX_REVISIT_PAIRS = 32


@dataclass(frozen=True)
class ScoreSettings:
    """``stride``: score every stride-th frame (SANA-WM's benchmark uses 4); ``min_registered``: the share of scored
    frames SfM must register for a score; ``threads``: CPU threads for SfM; ``overlap``: frames matched ahead."""

    stride: int = 4
    min_registered: float = 0.5
    threads: int = 2
    overlap: int = 10
    seed: int = 0
    mapper: str = "incremental"

    def __post_init__(self) -> None:
        if self.stride < 1:
            raise ConfigError(f"--stride: expected 1 or more frames, found {self.stride}")
        if not 0.0 < self.min_registered <= 1.0:
            raise ConfigError(f"--min-registered: expected a share in (0, 1], found {self.min_registered}")
        if self.threads < 1 or self.overlap < 1:
            raise ConfigError(f"--threads / overlap: expected 1 or more, found {self.threads} / {self.overlap}")


@dataclass
class ScoreReport:
    """The result of scoring one video. Errors are None unless ``status`` is ``"scored"`` or ``"static"``; the
    translation errors are None for a path that does not translate; the revisit scores are None without a revisit.
    Arrays (``requested``, ``estimated``: ``(N, 4, 4)`` over the scored frames, NaN rows where not registered, the
    estimate aligned to the requested frame) are for plots and the explorer; :meth:`to_dict` leaves them out."""

    video: str
    trajectory: str
    status: str
    message: str
    num_frames: int
    scored_frames: list[int]
    registered: int
    share_registered: float
    rot_err_deg: float | None = None
    trans_err: float | None = None
    cammc: float | None = None
    rot_err_deg_sum: float | None = None
    trans_err_sum: float | None = None
    cammc_sum: float | None = None
    path_size: float | None = None
    revisit_pairs: int = 0
    revisit_psnr: float | None = None
    revisit_ssim: float | None = None
    sfm_points: int = 0
    seconds: float = 0.0
    requested: np.ndarray | None = field(default=None, repr=False)
    estimated: np.ndarray | None = field(default=None, repr=False)

    @property
    def is_scored(self) -> bool:
        return self.status in ("scored", "static")

    def to_dict(self) -> dict:
        out = {k: v for k, v in self.__dict__.items() if k not in ("requested", "estimated")}
        return out

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    def summary(self) -> str:
        """Two lines for a terminal or a status bar."""
        head = f"{Path(self.video).name}: {self.status}, {self.registered}/{len(self.scored_frames)} frames registered"
        if not self.is_scored:
            return f"{head}\n{self.message}"
        fmt = lambda v, spec: "n/a" if v is None else format(v, spec)  # noqa: E731
        line = (f"RotErr {fmt(self.rot_err_deg, '.2f')} deg   TransErr {fmt(self.trans_err, '.3f')}   "
                f"CamMC {fmt(self.cammc, '.3f')}   (means per scored frame)")
        if self.revisit_pairs:
            line += (f"   revisit PSNR {self.revisit_psnr:.2f} dB / SSIM {self.revisit_ssim:.3f} "
                     f"({self.revisit_pairs} pairs)")
        return f"{head}\n{line}"


def scored_indices(num_frames: int, stride: int) -> list[int]:
    """Every ``stride``-th frame from 0 and the last; the stride shrinks so at least :data:`MIN_SCORED_FRAMES` are
    scored."""
    stride = max(1, min(stride, (num_frames - 1) // (MIN_SCORED_FRAMES - 1)))
    idx = list(range(0, num_frames, stride))
    if idx[-1] != num_frames - 1:
        idx.append(num_frames - 1)
    return idx


def camera_for_video(trajectory: Trajectory, video_size: tuple[int, int], *, name: str,
                     intrinsics: np.ndarray | None = None) -> np.ndarray:
    """One ``[fx, fy, cx, cy]`` in pixels of the video: the given one, or the trajectory's scaled to the video."""
    if intrinsics is not None:
        vec = intr.as_vec4(intrinsics, name="--intrinsics")
    elif trajectory.intrinsics is not None and trajectory.image_size is not None:
        vec = intr.scale_to_grid(trajectory.intrinsics, trajectory.image_size, video_size)
    else:
        raise IntrinsicsError(f"{name}: expected intrinsics with an image size in the trajectory, found none; "
                              "pass --intrinsics K.npy in pixels of the video")
    spread = np.abs(vec - vec[0]).max(axis=0) / np.maximum(np.abs(vec[0]), 1.0)
    if (spread > INTRINSICS_RTOL).any():
        raise IntrinsicsError(f"{name}: expected one camera for the whole video, found intrinsics that change over "
                              f"the frames (up to {100 * spread.max():.1f} %); the scorer fixes one pinhole camera")
    return vec[0]


def score_frames(frames: np.ndarray, trajectory: Trajectory, *, settings: ScoreSettings = ScoreSettings(),
                 intrinsics: np.ndarray | None = None, video: str = "<frames>", trajectory_name: str = "<trajectory>",
                 progress: Progress | None = None) -> ScoreReport:
    """Score ``frames`` (``(F, H, W, 3)`` uint8) against ``trajectory`` (one pose per frame)."""
    started = time.perf_counter()
    frames = np.asarray(frames)
    n = int(frames.shape[0])
    if n != trajectory.num_frames:
        raise TrajectoryError(f"{trajectory_name}: expected one pose per video frame ({n} frames in {video}), "
                              f"found {trajectory.num_frames} poses")
    if n < MIN_FRAMES:
        raise TrajectoryError(f"{video}: expected at least {MIN_FRAMES} frames to score, found {n}")
    k = camera_for_video(trajectory, (frames.shape[2], frames.shape[1]), name=trajectory_name, intrinsics=intrinsics)
    idx = scored_indices(n, settings.stride)
    requested = np.asarray(trajectory.c2w, dtype=np.float64)[idx]
    sfm = estimate_poses(frames[idx], k, threads=settings.threads, overlap=settings.overlap, seed=settings.seed,
                         mapper=settings.mapper, progress=progress)
    report = ScoreReport(video=video, trajectory=trajectory_name, status="unregistered", message="", num_frames=n,
                         scored_frames=idx, registered=int(sfm.registered.sum()),
                         share_registered=round(sfm.share_registered, 4), sfm_points=sfm.num_points,
                         requested=requested)
    report.revisit_pairs, report.revisit_psnr, report.revisit_ssim = revisit_scores(frames, trajectory.c2w)
    motion = sfm.motion_px[np.isfinite(sfm.motion_px)]
    if sfm.share_registered >= settings.min_registered and sfm.registered.sum() >= 3:
        ok = sfm.registered
        estimated = sfm.c2w
        report.status, report.message = "scored", f"{report.registered} of {len(idx)} scored frames registered"
    elif motion.size and float(np.median(motion)) < STATIC_MOTION_PX:
        ok = np.ones(len(idx), dtype=bool)
        estimated = np.repeat(np.eye(4)[None], len(idx), axis=0)
        report.status = "static"
        report.message = (f"the frames do not move (median feature motion {np.median(motion):.2f} px between "
                          "scored frames): scored as a camera that stays put")
    else:
        report.message = (f"not scored: SfM registered {report.registered} of {len(idx)} scored frames "
                          f"({100 * sfm.share_registered:.0f} %), fewer than the {100 * settings.min_registered:.0f} % "
                          "needed; the video's camera motion cannot be recovered")
        report.seconds = round(time.perf_counter() - started, 2)
        return report
    aligned = np.full_like(estimated, np.nan)
    aligned[ok] = fit_similarity(estimated[ok], requested[ok]).apply(estimated[ok])
    report.estimated = aligned
    errors = path_errors(requested[ok], aligned[ok])
    report.rot_err_deg, report.rot_err_deg_sum = _mean_sum(errors.rot_deg)
    report.trans_err, report.trans_err_sum = _mean_sum(errors.trans)
    report.cammc, report.cammc_sum = _mean_sum(errors.cammc)
    report.path_size = round(errors.path_size, 6)
    report.seconds = round(time.perf_counter() - started, 2)
    return report


def score_video(video: str | Path, trajectory: str | Path | None = None, *, settings: ScoreSettings = ScoreSettings(),
                intrinsics: np.ndarray | None = None, progress: Progress | None = None) -> ScoreReport:
    """Score a video file against ``trajectory`` (default: the ``.npz`` written beside it by ``generate``)."""
    video = Path(video)
    frames, _ = read_video(video)
    path = Path(trajectory) if trajectory is not None else sidecar_path(video)
    if trajectory is None and not path.is_file():
        raise TrajectoryError(f"{video}: expected its camera path beside it ({path.name}), found none; "
                              "pass the trajectory file as --trajectory")
    return score_frames(frames, read_trajectory(path), settings=settings, intrinsics=intrinsics, video=str(video),
                        trajectory_name=str(path), progress=progress)


def _mean_sum(values: np.ndarray | None) -> tuple[float | None, float | None]:
    if values is None:
        return None, None
    return round(float(np.mean(values)), 6), round(float(np.sum(values)), 6)


def revisit_scores(frames: np.ndarray, c2w: np.ndarray) -> tuple[int, float | None, float | None]:
    """``(pairs, mean PSNR dB, mean SSIM)`` between the frames of the requested path's revisit pairs (the same pose
    seen again, :func:`engine.synth.trajectories.find_revisits`); ``(0, None, None)`` without a revisit. PSNR is
    capped at 100 dB (identical frames)."""
    pairs = find_revisits(np.asarray(c2w))
    if len(pairs) == 0:
        return 0, None, None
    if len(pairs) > MAX_REVISIT_PAIRS:
        pairs = pairs[np.linspace(0, len(pairs) - 1, MAX_REVISIT_PAIRS).round().astype(int)]
    a, b = frames[pairs[:, 0]], frames[pairs[:, 1]]
    return (int(len(pairs)), round(float(np.mean(np.minimum(psnr(a, b), 100.0))), 3),
            round(float(np.mean(ssim(a, b))), 4))
