"""Synthetic training clips: generation (seeded, parallel, resumable) and the on-disk format.

**Format** (``format = "sana-wm-synth"``, ``format_version = 2``). A dataset is a folder::

    DIR/index.json            the configuration and one record per clip (written last, atomically)
    DIR/clips/clip_000000.npz one numpy archive per clip (each written atomically)

Each clip archive (``np.load(path, allow_pickle=False)``) holds:

=====================  ===============  ===========================================================
key                    dtype, shape     meaning
=====================  ===============  ===========================================================
``frames``             uint8 (F,H,W,3)  RGB frames, row 0 at the top (``frames_codec = "raw"``), or
``frames_jpeg``        uint8 (N,)       the frames as concatenated JPEG files (``frames_codec = "jpeg"``,
``frames_offsets``     int64 (F+1,)     the default), frame ``k`` = bytes ``offsets[k]:offsets[k+1]``
``frames_codec``       str ()           ``"raw"`` or ``"jpeg"``; :func:`read_clip` decodes either to ``frames``
``depth``              float32 (F,H,W)  metric depth: camera-space z (metres along +Z) of the surface seen
                                        through each pixel centre; ``inf`` = sky (no surface). Version 2;
                                        absent when made with ``depth=False`` or by version 1
``c2w``                float64 (F,4,4)  world camera-to-world poses, OpenCV axes (+X right, +Y down,
                                        +Z forward); world frame of :mod:`engine.synth.world` (up = −Y)
``intrinsics``         float64 (F,4)    ``[fx, fy, cx, cy]`` in pixels of the frames; pixel ``i`` covers
                                        ``[i, i+1)`` (``cx = W/2`` is the centre)
``image_size``         int64 (2,)       ``(W, H)``
``fps``                float64 ()       frames per second (16)
``action``             str ()           action DSL string that produced the path from ``c2w[0]``
``action_version``     str ()           ``"v1"`` / ``"v2"`` key mapping
``translation_speed``  float64 ()       metres per frame used with ``action``
``rotation_speed_deg`` float64 ()       degrees per frame used with ``action``
``smooth``             bool ()          velocity smoothing used with ``action``
``kind``               str ()           ``"explore"``, ``"return"`` or ``"turn"``
``fov_deg``            float64 ()       horizontal field of view
``eye_height``         float64 ()       camera height above the ground at the start (metres)
``revisits``           int64 (K,2)      frame pairs ``(i, j)`` showing the same view (returns)
``seed``               int64 ()         the clip's seed (path and intrinsics draws)
``world_seed``         int64 ()         :func:`engine.synth.world.make_world` seed
``theme``              str ()           world theme
``convention``         str ()           ``"opencv_c2w"``
``format_version``     int64 ()         2 (1: no ``depth``)
=====================  ===============  ===========================================================

**Versions.** 1: the first release (no depth). 2: adds ``depth``. :func:`read_clip` reads both (``depth`` is
None for version 1 files and for datasets made without depth) and refuses newer files, naming the version
found and the newest it reads. A depth array that is not ``(F, H, W)`` float32, holds NaN, zero or negative
values is refused with an error naming the file.

``relative_to_first(c2w)`` equals ``action_to_c2w(action, version=action_version, translation_speed=...,
rotation_speed_deg=..., smooth=...)`` up to float rounding.

**Frame storage.** The worlds are texture-rich and compress poorly without loss: a 49-frame 320x176 clip is
~3.5-4.5 MB zlib-compressed (``raw``) but ~0.9 MB as JPEG at quality 95 (``jpeg``, the default, PSNR above
40 dB, encoded at ~0.5 ms per frame). Use ``raw`` when bit-exact frames matter more than disk space. Exact
float32 depth dominates a clip's size when present (~8.3 MB per 49 frames at 320x176, zlib-compressed).

**Seeds.** Clip ``i`` of a dataset with seed ``S`` uses world ``make_world(world_seed, theme)`` with
``world_seed`` drawn from ``(S, i // clips_per_world)`` and the theme cycling through
:data:`engine.synth.world.THEMES`; its path is drawn from ``(S, i)``. A clip's pixels therefore depend only
on ``(S, i)`` and the configuration, not on the number of workers or on which clips were made before.
"""

from __future__ import annotations

import io
import json
import logging
import multiprocessing
import os
import time
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
from PIL import Image

from engine.io.atomic import atomic_path, atomic_write_text
from engine.errors import ConfigError, InputFileError
from engine.synth.trajectories import ClipPlan, PathConfig, sample_clip
from engine.synth.world import THEMES, World, make_world

log = logging.getLogger(__name__)

FORMAT = "sana-wm-synth"
FORMAT_VERSION = 2
#: Versions :func:`read_clip` and :func:`read_index` accept.
READABLE_VERSIONS = (1, 2)
CONVENTION = "opencv_c2w"

#: Renderer settings by quality name (see :class:`engine.synth.renderer.Renderer`).
QUALITIES: dict[str, dict[str, int]] = {
    "fast": {"msaa": 0, "supersample": 1},
    "default": {"msaa": 4, "supersample": 1},
    "high": {"msaa": 4, "supersample": 2},
}


FRAME_CODECS = ("jpeg", "raw")


@dataclass(frozen=True)
class DatasetConfig:
    """Everything that determines a dataset's content (stored in ``index.json``)."""

    seed: int = 0
    clips: int = 100
    num_frames: int = 49
    size: tuple[int, int] = (320, 176)
    clips_per_world: int = 4
    themes: tuple[str, ...] = THEMES
    quality: str = "default"
    frames_codec: str = "jpeg"
    jpeg_quality: int = 95
    depth: bool = True
    path: PathConfig = field(default_factory=PathConfig)

    def __post_init__(self) -> None:
        if self.seed < 0:
            raise ConfigError(f"dataset seed: expected a non-negative integer, found {self.seed}")
        if self.clips < 1:
            raise ConfigError(f"dataset clips: expected at least 1, found {self.clips}")
        if self.num_frames < 2 or (self.num_frames - 1) % 8:
            raise ConfigError(f"clip frames: expected 1 + 8k frames (e.g. 25, 49, 97), found {self.num_frames}")
        w, h = self.size
        if w < 16 or h < 16:
            raise ConfigError(f"frame size: expected at least 16x16 pixels, found {w}x{h}")
        if self.clips_per_world < 1:
            raise ConfigError(f"clips per world: expected at least 1, found {self.clips_per_world}")
        unknown = [t for t in self.themes if t not in THEMES]
        if not self.themes or unknown:
            raise ConfigError(f"themes: expected some of {', '.join(THEMES)}, found {list(self.themes)}")
        if self.frames_codec not in FRAME_CODECS:
            raise ConfigError(f"frames codec: expected one of {', '.join(FRAME_CODECS)}, found {self.frames_codec!r}")
        if not 50 <= self.jpeg_quality <= 100:
            raise ConfigError(f"JPEG quality: expected 50..100, found {self.jpeg_quality}")
        if self.quality not in QUALITIES:
            raise ConfigError(f"quality: expected one of {', '.join(QUALITIES)}, found {self.quality!r}")
        # the path settings follow the clip length and size
        object.__setattr__(self, "path", replace(self.path, num_frames=self.num_frames, size=tuple(self.size)))


@dataclass(frozen=True)
class ClipSpec:
    """Where clip ``index`` comes from: its world and its path seed."""

    index: int
    seed: int
    world_seed: int
    theme: str


def clip_spec(config: DatasetConfig, index: int) -> ClipSpec:
    """The seeds and theme of clip ``index`` (see the module docstring)."""
    world_index = index // config.clips_per_world
    world_seed = int(np.random.SeedSequence([config.seed, world_index, 0x3D]).generate_state(1)[0] >> 1)
    seed = int(np.random.SeedSequence([config.seed, index, 0xC1]).generate_state(1)[0] >> 1)
    theme = config.themes[world_index % len(config.themes)]
    return ClipSpec(index, seed, world_seed, theme)


def clip_name(index: int) -> str:
    return f"clips/clip_{index:06d}.npz"


@dataclass(frozen=True, eq=False)
class Clip:
    """A rendered clip: its frames, its path plan and where it came from."""

    spec: ClipSpec
    plan: ClipPlan
    frames: np.ndarray  # (F, H, W, 3) uint8
    depth: np.ndarray | None = None  # (F, H, W) float32 metres, inf = sky


class ClipMaker:
    """Makes clips of one dataset configuration; keeps one renderer and the last world between clips."""

    def __init__(self, config: DatasetConfig, renderer=None) -> None:
        from engine.synth.renderer import Renderer

        self.config = config
        self.renderer = renderer if renderer is not None else Renderer(**QUALITIES[config.quality])
        self._world: World | None = None
        self._world_key: tuple[int, str] | None = None

    def world(self, spec: ClipSpec) -> World:
        key = (spec.world_seed, spec.theme)
        if key != self._world_key:
            self._world = make_world(spec.world_seed, spec.theme)
            self._world_key = key
        assert self._world is not None
        return self._world

    def make(self, index: int) -> Clip:
        spec = clip_spec(self.config, index)
        world = self.world(spec)
        plan = sample_clip(world, np.random.default_rng(spec.seed), self.config.path)
        if self.config.depth:
            frames, depth = self.renderer.render(world, plan.c2w, plan.intrinsics, plan.size, depth=True)
            return Clip(spec, plan, frames, depth)
        frames = self.renderer.render(world, plan.c2w, plan.intrinsics, plan.size)
        return Clip(spec, plan, frames)

    def release(self) -> None:
        self.renderer.release()


def encode_frames(frames: np.ndarray, codec: str = "jpeg", quality: int = 95) -> dict[str, np.ndarray]:
    """The archive entries holding ``frames`` ``(F, H, W, 3)`` uint8 with ``codec`` (see the module docstring)."""
    if codec == "raw":
        return {"frames": np.ascontiguousarray(frames, np.uint8), "frames_codec": np.str_("raw")}
    if codec != "jpeg":
        raise ConfigError(f"frames codec: expected one of {', '.join(FRAME_CODECS)}, found {codec!r}")
    blobs = []
    for frame in frames:
        buf = io.BytesIO()
        Image.fromarray(frame).save(buf, "JPEG", quality=int(quality), subsampling=0 if quality >= 90 else 2)
        blobs.append(np.frombuffer(buf.getvalue(), np.uint8))
    offsets = np.concatenate([[0], np.cumsum([len(b) for b in blobs])]).astype(np.int64)
    return {"frames_jpeg": np.concatenate(blobs), "frames_offsets": offsets, "frames_codec": np.str_("jpeg"),
            "frames_shape": np.array(frames.shape, np.int64)}


def decode_frames(data: dict) -> np.ndarray:
    """``(F, H, W, 3)`` uint8 frames from archive entries written by :func:`encode_frames`."""
    codec = str(data.get("frames_codec", "raw"))
    if codec == "raw":
        return np.asarray(data["frames"])
    if codec != "jpeg":
        raise InputFileError(f"synth clip: unknown frames codec {codec!r}")
    blob, offsets = np.asarray(data["frames_jpeg"]), np.asarray(data["frames_offsets"])
    frames = [np.asarray(Image.open(io.BytesIO(blob[a:b].tobytes())).convert("RGB")) for a, b in zip(offsets[:-1], offsets[1:])]
    return np.stack(frames)


def write_clip(clip: Clip, path: str | os.PathLike, *, codec: str = "jpeg", quality: int = 95) -> None:
    """Write one clip archive atomically (keys in the module docstring). ``raw`` frames and depth are
    zlib-compressed."""
    p = clip.plan
    extra = {}
    if clip.depth is not None:
        extra["depth"] = check_depth(clip.depth, (len(clip.frames), *clip.frames.shape[1:3]), f"clip {clip.spec.index}")
    # JPEG bytes do not compress further; float32 depth a little (11 -> 8.3 MB per 49 frames at 320x176)
    save = np.savez_compressed if codec == "raw" or extra else np.savez
    with atomic_path(path) as tmp:
        save(
            tmp,
            **encode_frames(clip.frames, codec, quality),
            **extra,
            c2w=p.c2w.astype(np.float64),
            intrinsics=p.intrinsics.astype(np.float64),
            image_size=np.array(p.size, np.int64),
            fps=np.float64(p.trajectory().fps),
            action=np.str_(p.action),
            action_version=np.str_(p.action_version),
            translation_speed=np.float64(p.translation_speed),
            rotation_speed_deg=np.float64(p.rotation_speed_deg),
            smooth=np.bool_(p.smooth),
            kind=np.str_(p.kind),
            fov_deg=np.float64(p.fov_deg),
            eye_height=np.float64(p.eye_height),
            revisits=p.revisits.astype(np.int64).reshape(-1, 2),
            seed=np.int64(clip.spec.seed),
            world_seed=np.int64(clip.spec.world_seed),
            theme=np.str_(clip.spec.theme),
            convention=np.str_(CONVENTION),
            format_version=np.int64(FORMAT_VERSION),
        )


def check_depth(depth, shape: tuple[int, int, int], where: str) -> np.ndarray:
    """``depth`` as ``(F, H, W)`` float32 if it is a valid depth array of ``shape``, else :class:`InputFileError`
    naming ``where``: metres, > 0, ``inf`` allowed (sky), NaN and negative values refused."""
    arr = np.asarray(depth)
    if arr.dtype != np.float32 or arr.shape != tuple(shape):
        raise InputFileError(f"{where}: depth must be float32 {tuple(shape)} (F, H, W), found {arr.dtype} {arr.shape}")
    if np.isnan(arr).any():
        raise InputFileError(f"{where}: depth holds {int(np.isnan(arr).sum())} NaN values")
    if (arr <= 0).any():
        raise InputFileError(f"{where}: depth must be > 0 metres (inf for sky), found min {float(arr.min())}")
    return arr


_REQUIRED = ("c2w", "intrinsics", "image_size", "action", "action_version", "convention")


def read_clip(path: str | os.PathLike, *, frames: bool = True) -> dict[str, np.ndarray | str | float | int | bool]:
    """Read a clip archive into a dict (arrays as arrays, scalars as Python values); validates the basics.

    The frames come back as ``"frames"`` ``(F, H, W, 3)`` uint8 whatever the codec; ``frames=False`` skips
    reading and decoding them and the depth (metadata only). ``"depth"`` is ``(F, H, W)`` float32 metres
    (``inf`` = sky), or None when the file has none (format version 1, or made without depth).
    """
    path = Path(path)
    if not path.is_file():
        raise InputFileError(f"synth clip {path}: not found")
    try:
        with np.load(path, allow_pickle=False) as data:
            skip = set() if frames else {"frames", "frames_jpeg", "depth"}
            out = {k: data[k] for k in data.files if k not in skip}
            has_frames = "frames" in data.files or "frames_jpeg" in data.files
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise InputFileError(f"synth clip {path}: expected a numpy .npz archive, could not read it ({exc})") from None
    missing = [k for k in _REQUIRED if k not in out]
    if missing:
        raise InputFileError(f"synth clip {path}: missing {missing}; is it a sana-wm synth clip?")
    if str(out["convention"]) != CONVENTION:
        raise InputFileError(f"synth clip {path}: expected convention {CONVENTION!r}, found {str(out['convention'])!r}")
    version = int(out.get("format_version", 1))
    if version not in READABLE_VERSIONS:
        raise InputFileError(
            f"synth clip {path}: format_version {version} is not readable by this build "
            f"(expected one of {', '.join(map(str, READABLE_VERSIONS))}); update sana-wm or re-render the dataset"
        )
    for key, value in list(out.items()):
        if isinstance(value, np.ndarray) and value.ndim == 0:
            out[key] = value.item()
    if not has_frames:
        raise InputFileError(f"synth clip {path}: holds no frames ('frames' or 'frames_jpeg')")
    c2w = out["c2w"]
    if c2w.ndim != 3 or c2w.shape[1:] != (4, 4) or out["intrinsics"].shape != (len(c2w), 4):
        raise InputFileError(f"synth clip {path}: inconsistent shapes c2w {c2w.shape}, intrinsics {out['intrinsics'].shape}")
    if not frames:
        return out
    try:
        out["frames"] = decode_frames(out)
    except (OSError, ValueError) as exc:
        raise InputFileError(f"synth clip {path}: could not decode its frames ({exc})") from None
    for key in ("frames_jpeg", "frames_offsets", "frames_shape"):
        out.pop(key, None)
    shape = out["frames"].shape
    w, h = (int(v) for v in out["image_size"])
    if shape != (len(c2w), h, w, 3) or out["frames"].dtype != np.uint8:
        raise InputFileError(f"synth clip {path}: frames {shape} do not match {len(c2w)} poses at {w}x{h}")
    out["depth"] = None if out.get("depth") is None else check_depth(out["depth"], (len(c2w), h, w), f"synth clip {path}")
    return out


def _record(index: int, seed: int, world_seed: int, theme: str, kind: str, action: str, action_version: str,
            fov_deg: float, eye_height: float, revisits: int) -> dict:
    """One clip's entry in ``index.json``."""
    return {
        "file": clip_name(index), "index": index, "seed": seed, "world_seed": world_seed, "theme": theme,
        "kind": kind, "action": action, "action_version": action_version, "fov_deg": round(fov_deg, 4),
        "eye_height": round(eye_height, 4), "revisits": revisits,
    }


def _clip_record(clip: Clip) -> dict:
    p, s = clip.plan, clip.spec
    return _record(s.index, s.seed, s.world_seed, s.theme, p.kind, p.action, p.action_version, p.fov_deg,
                   p.eye_height, int(len(p.revisits)))


def _record_from_file(path: Path, index: int, spec: ClipSpec) -> dict | None:
    """The index record of an existing clip file made for ``spec`` (for resuming), or None to re-render it."""
    try:
        data = read_clip(path, frames=False)
        if (int(data["seed"]), int(data["world_seed"]), str(data["theme"])) != (spec.seed, spec.world_seed, spec.theme):
            return None
        return _record(index, spec.seed, spec.world_seed, spec.theme, str(data["kind"]), str(data["action"]),
                       str(data["action_version"]), float(data["fov_deg"]), float(data["eye_height"]),
                       int(len(data["revisits"])))
    except (InputFileError, KeyError, TypeError, ValueError):
        return None


# -- generation ------------------------------------------------------------------------------------------------

_WORKER: ClipMaker | None = None  # one per worker process (set by _init_worker)
_WORKER_ERROR: Exception | None = None  # why the worker could not start (raised by its first job)


def _init_worker(config: DatasetConfig, single_thread: bool) -> None:
    global _WORKER, _WORKER_ERROR
    if single_thread:
        os.environ["LP_NUM_THREADS"] = "1"  # read by llvmpipe when the context is created
    try:
        _WORKER = ClipMaker(config)
    except Exception as exc:  # an initializer that raises makes the pool respawn workers forever
        _WORKER_ERROR = exc


def _work(job: tuple[int, str]) -> dict:
    index, path = job
    if _WORKER is None:
        raise _WORKER_ERROR or RuntimeError("synth worker was not initialised")
    clip = _WORKER.make(index)
    write_clip(clip, path, codec=_WORKER.config.frames_codec, quality=_WORKER.config.jpeg_quality)
    return _clip_record(clip)


@dataclass
class Progress:
    """What :func:`generate_dataset` reports after each clip."""

    done: int
    total: int
    skipped: int
    elapsed_s: float
    frames_per_s: float


def generate_dataset(out_dir: str | os.PathLike, config: DatasetConfig, *, workers: int = 1,
                     progress: Callable[[Progress], None] | None = None, overwrite: bool = False) -> Path:
    """Render ``config.clips`` clips into ``out_dir`` and write ``index.json``; returns the index path.

    Existing readable clip files are kept (resume) unless ``overwrite``; an existing ``index.json`` written
    with a different configuration is an error (pass another folder or ``overwrite``). ``workers > 1``
    renders in that many processes (each with a single-threaded software rasteriser).
    """
    out = Path(out_dir)
    index_path = out / "index.json"
    config_json = _config_json(config)
    if index_path.exists() and not overwrite:
        try:
            previous = json.loads(index_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            previous = None
        if not isinstance(previous, dict) or previous.get("config") != config_json:
            raise ConfigError(
                f"dataset folder {out}: holds a dataset made with another configuration; "
                "choose an empty folder or pass --overwrite"
            )
    (out / "clips").mkdir(parents=True, exist_ok=True)
    records: dict[int, dict] = {}
    todo: list[tuple[int, str]] = []
    for i in range(config.clips):
        path = out / clip_name(i)
        record = None if overwrite or not path.exists() else _record_from_file(path, i, clip_spec(config, i))
        if record is not None:
            records[i] = record
        else:
            todo.append((i, str(path)))
    skipped = len(records)
    log.info("synth dataset %s: %d clips kept, %d to render with %d worker(s)", out, skipped, len(todo), workers)
    start = time.perf_counter()

    def report() -> None:
        if progress is not None:
            elapsed = time.perf_counter() - start
            made = len(records) - skipped
            progress(Progress(len(records), config.clips, skipped, elapsed, made * config.num_frames / max(elapsed, 1e-9)))

    report()
    for record in _run_jobs(config, todo, workers):
        records[record["index"]] = record
        report()
    index = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "config": config_json,
        "image_size": list(config.size),
        "num_frames": config.num_frames,
        "fps": config.path.fps,
        "clips": [records[i] for i in range(config.clips)],
    }
    atomic_write_text(index_path, json.dumps(index, indent=1) + "\n")
    return index_path


def _run_jobs(config: DatasetConfig, todo: list[tuple[int, str]], workers: int) -> Iterator[dict]:
    if not todo:
        return
    if workers <= 1:
        maker = ClipMaker(config)
        try:
            for index, path in todo:
                clip = maker.make(index)
                write_clip(clip, path, codec=config.frames_codec, quality=config.jpeg_quality)
                yield _clip_record(clip)
        finally:
            maker.release()
        return
    # spawn: EGL contexts must not be inherited through fork
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(workers, initializer=_init_worker, initargs=(config, True)) as pool:
        # consecutive clips share a world: hand them out in world-sized chunks
        yield from pool.imap_unordered(_work, todo, chunksize=max(1, config.clips_per_world))


def _config_json(config: DatasetConfig) -> dict:
    data = asdict(config)
    data["size"] = list(config.size)
    data["themes"] = list(config.themes)
    path = data["path"]
    for key, value in path.items():
        if isinstance(value, tuple):
            path[key] = list(value)
    return json.loads(json.dumps(data))


def read_index(path: str | os.PathLike) -> dict:
    """Read and check a dataset's ``index.json`` (the folder or the file)."""
    p = Path(path)
    if p.is_dir():
        p = p / "index.json"
    if not p.is_file():
        raise InputFileError(f"synth dataset index {p}: not found")
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InputFileError(f"synth dataset index {p}: not valid JSON ({exc})") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise InputFileError(f"synth dataset index {p}: expected format {FORMAT!r}")
    version = int(data.get("format_version", 0))
    if version not in READABLE_VERSIONS:
        raise InputFileError(
            f"synth dataset index {p}: format_version {version} is not readable by this build "
            f"(expected one of {', '.join(map(str, READABLE_VERSIONS))})"
        )
    return data
