"""Training data: video clips with camera poses -> seeded batches of latent windows with camera tensors.

Input (a small protocol, so the trainer does not depend on where clips come from): a sequence of clips, each a
mapping or object with

* ``frames`` — uint8 ``(F, H, W, 3)`` RGB, ``F = 1 + 8k``, at the training frame size;
* ``c2w`` — ``(F, 4, 4)`` camera-to-world poses (OpenCV axes, any origin);
* ``intrinsics`` — ``(F, 4)`` ``[fx, fy, cx, cy]`` in frame pixels (any official form is accepted).

:class:`ClipFolder` reads the dataset folders written by ``sana-wm synth`` (``DIR/index.json`` +
``DIR/clips/*.npz``). Its default reader, :func:`read_raw_clip`, only needs ``np.load`` of the three keys above
(raw frames). **JPEG hook**: datasets that store compressed frames are read by passing another reader,
``ClipFolder(path, reader=engine.synth.dataset.read_clip)``; a reader is any ``Path -> clip`` callable.

From a clip to a training sample (:class:`TrainingData`):

1. the frames are encoded once with the codec and the latents cached (the codec is deterministic, so the cache
   is exact). For a *frame-local* codec such as :class:`PatchDCTCodec` (latent ``j`` depends on pixel frame
   ``8j`` only) one encode per clip serves every window; any other codec (e.g. a causal video VAE, whose first
   latent covers one frame and later ones eight) is encoded per window, because a cropped latent sequence is not
   the encoding of the cropped clip there;
2. a window of ``W = 1 + 3k`` latent frames is cropped at a random start ``s``: latent frame 0 of the window
   becomes the conditioning "image" latent, exactly as the start image of a streaming session;
3. the window's pixel frames ``8s .. 8(s + W - 1)`` give the camera tensors through
   :class:`~engine.camera.conditioning.CameraConditioner`, which makes the poses relative to the window's first
   pixel frame (the streaming convention: poses relative to the start image);
4. for a model with a world-cache input (``cache_builder`` given), the window's cache input is built from the
   clip's frames and depth (:mod:`engine.train.cache_data`; clips must carry ``depth``), with the augmentations
   drawn from ``(seed, sample index)``.

Order is a pure function of ``(seed, sample index)``: sample ``n`` comes from epoch ``n // N`` (a seeded
permutation of the ``N`` clips) with a crop start drawn from ``(seed, n)``. Resuming therefore needs only the
number of samples already seen, and a run's data never depends on how it was interrupted.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from engine.camera.conditioning import CameraConditioner, CameraConditioning
from engine.camera.frames import TEMPORAL_STRIDE, latent_frame_count
from engine.camera.intrinsics import fit_to_frames, fov_deg, fov_deg_to_focal
from engine.camera.poses import validate_c2w
from engine.components.codec import LatentCodec
from engine.components.patch_codec import PatchDCTCodec
from engine.errors import ConfigError, InputFileError, SanaWMInputError
from engine.train.self_rollout import reanchor_start

log = logging.getLogger(__name__)

#: Latent frames per chunk after chunk 0 (the streaming chunk).
CHUNK_LATENT_FRAMES = 3


@dataclass(frozen=True)
class Clip:
    """One training clip. ``frames`` uint8 ``(F, H, W, 3)``; ``c2w`` float64 ``(F, 4, 4)``; ``intrinsics`` float64
    ``(F, 4)`` in pixels of ``frames``."""

    frames: np.ndarray
    c2w: np.ndarray
    intrinsics: np.ndarray
    name: str = ""
    depth: np.ndarray | None = None  # (F, H, W) float32 metres, inf = sky (datasets of format version 2)

    @property
    def frame_size(self) -> tuple[int, int]:
        """``(width, height)`` in pixels."""
        return int(self.frames.shape[2]), int(self.frames.shape[1])


def as_clip(item: Any, name: str = "clip") -> Clip:
    """Validate a clip given as a :class:`Clip`, a mapping or an object with ``frames``, ``c2w``, ``intrinsics``
    (uint8 frames, ``1 + 8k`` of them, one rigid pose per frame, intrinsics fitted to the frames)."""
    get = item.__getitem__ if isinstance(item, Mapping) else lambda key: getattr(item, key)
    try:
        frames, c2w, intrinsics = get("frames"), get("c2w"), get("intrinsics")
    except (KeyError, AttributeError) as exc:
        raise InputFileError(f"{name}: expected frames, c2w and intrinsics, found no {exc}") from None
    frames = np.asarray(frames)
    if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[-1] != 3:
        raise InputFileError(f"{name}: frames must be uint8 (F, H, W, 3), found {frames.dtype} {frames.shape}")
    f = frames.shape[0]
    if (f - 1) % TEMPORAL_STRIDE:
        raise InputFileError(f"{name}: expected 1 + {TEMPORAL_STRIDE}k frames, found {f}")
    poses = validate_c2w(np.asarray(c2w, dtype=np.float64), name=f"{name} c2w")
    if poses.shape[0] != f:
        raise InputFileError(f"{name}: expected {f} poses (one per frame), found {poses.shape[0]}")
    intr = fit_to_frames(intrinsics, f, name=f"{name} intrinsics")
    try:
        depth = get("depth")
    except (KeyError, AttributeError):
        depth = None
    if depth is not None:
        depth = np.asarray(depth)
        if depth.shape != frames.shape[:3]:
            raise InputFileError(f"{name}: depth must be (F, H, W) = {frames.shape[:3]}, found {depth.shape}")
    return Clip(frames=frames, c2w=poses, intrinsics=intr, name=str(getattr(item, "name", "") or name), depth=depth)


#: A clip reader: file -> clip (a :class:`Clip`, a mapping or an object with the three fields).
ClipReader = Callable[[Path], Any]


def read_raw_clip(path: Path) -> Clip:
    """Read a clip ``.npz`` holding raw ``frames`` (uint8), ``c2w`` and ``intrinsics``.

    Raises:
        InputFileError: unreadable file or missing keys; a file without raw ``frames`` is probably
            JPEG-compressed: read it with ``ClipFolder(path, reader=engine.synth.dataset.read_clip)``.
    """
    try:
        with np.load(path, allow_pickle=False) as data:
            keys = set(data.files)
            if "frames" not in keys:
                raise InputFileError(
                    f"{path}: expected raw 'frames' (found keys {', '.join(sorted(keys))}); a clip with compressed "
                    "frames needs a decoding reader (ClipFolder(..., reader=engine.synth.dataset.read_clip))"
                )
            missing = {"c2w", "intrinsics"} - keys
            if missing:
                raise InputFileError(
                    f"{path}: expected keys frames, c2w, intrinsics; missing {', '.join(sorted(missing))}"
                )
            return as_clip({k: data[k] for k in ("frames", "c2w", "intrinsics")}, name=path.name)
    except (OSError, ValueError) as exc:
        if isinstance(exc, SanaWMInputError):
            raise
        raise InputFileError(f"{path}: could not read the clip ({exc})") from None


class ClipFolder(Sequence[Clip]):
    """The clips of a dataset folder ``DIR/index.json`` + ``DIR/clips/*.npz``, read lazily.

    ``index.json`` marks the folder as a dataset; when it holds a ``"clips"`` list (file names relative to
    ``DIR``, or objects with a ``"file"`` / ``"path"`` entry) that list gives the clips and their order,
    otherwise every ``clips/*.npz`` is used, sorted by name (hidden files excluded: a writer's partial files).
    ``reader`` turns a file into a clip (default :func:`read_raw_clip`; see the module docstring for compressed
    frames).
    """

    def __init__(self, root: str | Path, reader: ClipReader = read_raw_clip) -> None:
        self.root = Path(root)
        index_path = self.root / "index.json"
        if not index_path.is_file():
            raise InputFileError(f"--data {self.root}: expected a dataset folder with index.json, found no such file")
        try:
            self.index: dict[str, Any] = json.loads(index_path.read_text())
        except (OSError, ValueError) as exc:
            raise InputFileError(f"{index_path}: could not read the dataset index ({exc})") from None
        self.reader = reader
        self.paths = self._clip_paths()
        if not self.paths:
            raise InputFileError(f"--data {self.root}: expected clips in {self.root / 'clips'}, found none")

    def _clip_paths(self) -> list[Path]:
        listed = self.index.get("clips") if isinstance(self.index, dict) else None
        if isinstance(listed, list) and listed:
            paths = []
            for entry in listed:
                name = entry if isinstance(entry, str) else (entry or {}).get("file") or (entry or {}).get("path")
                if not isinstance(name, str):
                    raise InputFileError(f"{self.root / 'index.json'}: a clips entry has no file name: {entry!r}")
                path = self.root / name
                paths.append(path if path.suffix else path.with_suffix(".npz"))
            missing = [p for p in paths if not p.is_file()]
            if missing:
                raise InputFileError(f"--data {self.root}: {len(missing)} listed clip(s) missing, e.g. {missing[0]}")
            return paths
        # hidden files are writers' partial files (atomic writes: ``.name.XXXX.part.npz``), never clips
        return sorted(p for p in (self.root / "clips").glob("*.npz") if not p.name.startswith("."))

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> Clip:  # type: ignore[override]
        return as_clip(self.reader(self.paths[index]), name=self.paths[index].name)

    def intrinsics(self, index: int) -> np.ndarray:
        """``(F, 4)`` intrinsics of clip ``index`` without decoding its frames (reads one array of the npz)."""
        try:
            with np.load(self.paths[index], allow_pickle=False) as data:
                return np.asarray(data["intrinsics"], dtype=np.float64).reshape(-1, 4)
        except (OSError, ValueError, KeyError):
            return as_clip(self[index]).intrinsics


@dataclass
class EncodedClip:
    """A clip's cached latents and cameras: ``latents (C, T, h, w)`` float32 (all latent frames of the clip, or of
    one window for codecs that are not frame-local), ``c2w (F, 4, 4)``, ``intrinsics (F, 4)``."""

    latents: torch.Tensor
    c2w: np.ndarray
    intrinsics: np.ndarray
    name: str

    @property
    def num_latent_frames(self) -> int:
        return latent_frame_count(self.c2w.shape[0])


@dataclass
class ReanchoredCameras:
    """Camera tensors of a window's re-anchored part, latent frames ``[r, W)`` with ``r`` =
    :func:`~engine.train.self_rollout.reanchor_start` ``(W)``, poses re-based to latent frame ``r`` as a session
    re-bases them when it re-anchors: ``camera_conditions (..., W - r, 20)``, ``chunk_plucker (..., 48, W - r, h,
    w)`` (a leading batch dimension in a :class:`TrainingBatch`)."""

    camera_conditions: torch.Tensor
    chunk_plucker: torch.Tensor

    def map(self, fn: Callable[[torch.Tensor], torch.Tensor]) -> ReanchoredCameras:
        return ReanchoredCameras(fn(self.camera_conditions), fn(self.chunk_plucker))


@dataclass
class TrainingSample:
    """One window. ``latents (C, W, h, w)`` float32 (frame 0 = the conditioning image latent);
    ``camera_conditions (W, 20)`` and ``chunk_plucker (48, W, h, w)`` float32, poses relative to the window's
    first pixel frame; ``clip``/``start`` say where it came from (clip index, first latent frame)."""

    latents: torch.Tensor
    camera_conditions: torch.Tensor
    chunk_plucker: torch.Tensor
    clip: int
    start: int
    cache: torch.Tensor | None = None  # (C + 1, W, h, w) world-cache input (models with cache_channels > 0)
    reanchored: ReanchoredCameras | None = None  # camera tensors of the re-anchored window (when asked for)


@dataclass
class TrainingBatch:
    """``B`` stacked samples: ``latents (B, C, W, h, w)``, ``camera_conditions (B, W, 20)``,
    ``chunk_plucker (B, 48, W, h, w)``; ``sources`` = ``[(clip, start), ...]``."""

    latents: torch.Tensor
    camera_conditions: torch.Tensor
    chunk_plucker: torch.Tensor
    sources: list[tuple[int, int]]
    cache: torch.Tensor | None = None  # (B, C + 1, W, h, w) world-cache inputs, or None
    reanchored: ReanchoredCameras | None = None  # the re-anchored part's camera tensors, or None

    @classmethod
    def stack(cls, samples: Sequence[TrainingSample]) -> TrainingBatch:
        caches = [s.cache for s in samples]
        tails = [s.reanchored for s in samples]
        return cls(
            latents=torch.stack([s.latents for s in samples]),
            camera_conditions=torch.stack([s.camera_conditions for s in samples]),
            chunk_plucker=torch.stack([s.chunk_plucker for s in samples]),
            sources=[(s.clip, s.start) for s in samples],
            cache=None if any(c is None for c in caches) else torch.stack(caches),
            reanchored=None if any(r is None for r in tails) else ReanchoredCameras(
                torch.stack([r.camera_conditions for r in tails]), torch.stack([r.chunk_plucker for r in tails])),
        )

    def map(self, fn: Callable[[torch.Tensor], torch.Tensor]) -> TrainingBatch:
        """The batch with ``fn`` applied to every tensor (a move, page-locking)."""
        return TrainingBatch(fn(self.latents), fn(self.camera_conditions), fn(self.chunk_plucker), self.sources,
                             None if self.cache is None else fn(self.cache),
                             None if self.reanchored is None else self.reanchored.map(fn))  # fmt: skip

    def to(self, device: torch.device | str, non_blocking: bool = False) -> TrainingBatch:
        return self.map(lambda t: t.to(device, non_blocking=non_blocking))

    def pin_memory(self) -> TrainingBatch:
        """The batch in page-locked memory, so that ``to(cuda, non_blocking=True)`` copies it asynchronously."""
        return self.map(torch.Tensor.pin_memory)


def is_frame_local(codec: LatentCodec) -> bool:
    """True when latent frame ``j`` depends only on pixel frame ``8j`` (cropping latents == encoding the crop)."""
    return isinstance(codec, PatchDCTCodec)


def check_window(window_latent_frames: int) -> None:
    """A window must be the image latent plus whole chunks: ``1 + 3k`` latent frames, ``k >= 1``."""
    w = int(window_latent_frames)
    if w < 1 + CHUNK_LATENT_FRAMES or (w - 1) % CHUNK_LATENT_FRAMES:
        raise ConfigError(
            f"window: expected 1 + {CHUNK_LATENT_FRAMES}k latent frames (4, 7, 10, ...), found {window_latent_frames}"
        )


class TrainingData:
    """Seeded windows of a clip sequence (see the module docstring).

    Args:
        clips: the clips (:class:`ClipFolder`, a list of :class:`Clip` / mappings, ...).
        codec: encodes frames to normalised latents (its channels must match the model's).
        frame_size: ``(width, height)`` every clip must have (no resizing here: render data at the model size).
        window_latent_frames: ``W = 1 + 3k`` latent frames per sample (7 = 49 pixel frames = image + 2 chunks).
        seed: data-order seed.
        cache_builder: builds each window's world-cache input (:class:`~engine.train.cache_data.WindowCacheBuilder`);
            None for models without one.
        reanchored: also give each sample the camera tensors of its re-anchored part (:class:`ReanchoredCameras`;
            for the objective's re-anchored windows).
    """

    def __init__(
        self,
        clips: Sequence[Any],
        codec: LatentCodec,
        frame_size: tuple[int, int],
        window_latent_frames: int,
        seed: int,
        cache_builder: Any = None,
        reanchored: bool = False,
    ) -> None:
        check_window(window_latent_frames)
        self.reanchor_start = reanchor_start(window_latent_frames) if reanchored else None
        if len(clips) == 0:
            raise InputFileError("training data: expected at least one clip, found none")
        width, height = frame_size
        s = codec.spatial_factor
        if width % s or height % s:
            raise ConfigError(f"frame size {width}x{height}: expected multiples of the codec's spatial factor {s}")
        self.clips = clips
        self.codec = codec
        self.frame_size = (int(width), int(height))
        self.latent_grid = (width // s, height // s)
        self.window = int(window_latent_frames)
        self.seed = int(seed)
        self.frame_local = is_frame_local(codec)
        self.cache_builder = cache_builder
        self._cache: dict[tuple[int, int], EncodedClip] = {}

    def __len__(self) -> int:
        return len(self.clips)

    def __getstate__(self) -> dict[str, Any]:
        """Pickled for a data worker (:mod:`engine.train.loader`) without the encoded latents: each worker encodes
        the clips it uses, and the copy sent to it stays small."""
        state = dict(self.__dict__)
        state["_cache"] = {}
        return state

    # ----- encoding (cached) ----------------------------------------------------------------------------------
    def _load(self, index: int) -> Clip:
        clip = as_clip(self.clips[index], name=f"clip {index}")
        if clip.frame_size != self.frame_size:
            w, h = clip.frame_size
            raise InputFileError(
                f"clip {index} ({clip.name}): frames are {w}x{h}, expected the training frame size "
                f"{self.frame_size[0]}x{self.frame_size[1]}"
            )
        if latent_frame_count(clip.frames.shape[0]) < self.window:
            raise InputFileError(
                f"clip {index} ({clip.name}): {clip.frames.shape[0]} frames = "
                f"{latent_frame_count(clip.frames.shape[0])} latent frames, shorter than the window of {self.window} "
                f"({1 + TEMPORAL_STRIDE * (self.window - 1)} frames)"
            )
        return clip

    def _encode(self, frames: np.ndarray) -> torch.Tensor:
        with torch.no_grad():
            return self.codec.encode(frames)[0].float().contiguous()  # (C, T, h, w)

    def encoded(self, index: int) -> EncodedClip:
        """Clip ``index`` with its latents (encoded on first use, then cached; all latent frames of the clip)."""
        key = (index, -1)
        if key not in self._cache:
            clip = self._load(index)
            latents = self._encode(clip.frames) if self.frame_local else torch.empty(0)
            self._cache[key] = EncodedClip(latents, clip.c2w, clip.intrinsics, clip.name)
        return self._cache[key]

    def window_latents(self, index: int, start: int) -> torch.Tensor:
        """``(C, W, h, w)`` latents of the window of clip ``index`` starting at latent frame ``start``."""
        enc = self.encoded(index)
        if self.frame_local:
            return enc.latents[:, start : start + self.window]
        key = (index, start)
        if key not in self._cache:
            p0, p1 = self.pixel_range(start)
            frames = self._load(index).frames[p0:p1]
            self._cache[key] = EncodedClip(self._encode(frames), enc.c2w[p0:p1], enc.intrinsics[p0:p1], enc.name)
        return self._cache[key].latents

    def pixel_range(self, start: int) -> tuple[int, int]:
        """Pixel frames ``[p0, p1)`` of a window starting at latent frame ``start``."""
        p0 = TEMPORAL_STRIDE * start
        return p0, p0 + TEMPORAL_STRIDE * (self.window - 1) + 1

    def _cameras(self, enc: EncodedClip, start: int, end: int) -> CameraConditioning:
        """float32 camera tensors of latent frames ``[start, end)`` of a clip, poses re-based to frame ``start``."""
        p0, p1 = TEMPORAL_STRIDE * start, TEMPORAL_STRIDE * (end - 1) + 1
        conditioner = CameraConditioner(enc.c2w[p0:p1], enc.intrinsics[p0:p1], self.frame_size, self.latent_grid)
        return conditioner.conditioning(0, end - start).to(dtype=torch.float32)

    # ----- samples ----------------------------------------------------------------------------------------------
    def window_cache(self, index: int, start: int, rng: np.random.Generator) -> torch.Tensor:
        """``(C + 1, W, h, w)`` the world-cache input of a window (reads the clip's frames and depth again: they are
        too large to keep for every clip)."""
        clip = self._load(index)
        if clip.depth is None:
            raise InputFileError(
                f"clip {index} ({clip.name}): the model has a world-cache input, which needs clips with depth "
                "(sana-wm synth dataset without --no-depth, format version 2); found none"
            )
        return self.cache_builder.window_input(clip.frames, clip.depth, clip.c2w, clip.intrinsics, start,
                                               self.window, rng)  # fmt: skip

    def sample_at(self, index: int, start: int, rng: np.random.Generator | None = None) -> TrainingSample:
        """The window of clip ``index`` starting at latent frame ``start`` (poses re-based to its first frame);
        ``rng`` draws the cache augmentations (default: keyed by the seed, clip and start)."""
        enc = self.encoded(index)
        if not 0 <= start <= enc.num_latent_frames - self.window:
            raise SanaWMInputError(
                f"window start {start}: expected 0..{enc.num_latent_frames - self.window} for clip {index}"
            )
        end = start + self.window
        cond = self._cameras(enc, start, end)
        reanchored = None
        if self.reanchor_start is not None:
            tail = self._cameras(enc, start + self.reanchor_start, end)
            reanchored = ReanchoredCameras(tail.camera_conditions, tail.chunk_plucker)
        cache = None
        if self.cache_builder is not None:
            rng = rng or np.random.default_rng([self.seed, 4, int(index), int(start)])
            cache = self.window_cache(index, start, rng)
        return TrainingSample(
            latents=self.window_latents(index, start),
            camera_conditions=cond.camera_conditions,
            chunk_plucker=cond.chunk_plucker,
            clip=index,
            start=start,
            cache=cache,
            reanchored=reanchored,
        )

    def clip_for(self, n: int) -> int:
        """Clip index of global sample ``n``: epoch ``n // N`` is a seeded permutation of the clips."""
        count = len(self.clips)
        epoch, position = divmod(int(n), count)
        order = np.random.default_rng([self.seed, 0, epoch]).permutation(count)
        return int(order[position])

    def sample(self, n: int) -> TrainingSample:
        """Global sample ``n`` (a pure function of the seed and ``n``)."""
        index = self.clip_for(n)
        starts = self.encoded(index).num_latent_frames - self.window + 1
        start = int(np.random.default_rng([self.seed, 1, int(n)]).integers(0, starts))
        return self.sample_at(index, start, np.random.default_rng([self.seed, 3, int(n)]))

    def batch(self, first: int, batch_size: int) -> TrainingBatch:
        """Samples ``first .. first + batch_size - 1`` stacked."""
        return TrainingBatch.stack([self.sample(first + i) for i in range(batch_size)])


def median_intrinsics(clips: Sequence[Any], frame_size: tuple[int, int], max_clips: int = 256) -> np.ndarray:
    """``(4,)`` centred square-pixel intrinsics with the median horizontal and vertical FOV of the data.

    Looks at up to ``max_clips`` clips spread over the sequence (every frame of each); this is the bundle's
    default field of view, used when a user starts a stream without intrinsics.
    """
    width, height = frame_size
    count = len(clips)
    picks = np.unique(np.linspace(0, count - 1, min(count, max_clips)).round().astype(int))
    rows = []
    for i in picks:
        if hasattr(clips, "intrinsics") and callable(clips.intrinsics):
            rows.append(clips.intrinsics(int(i)))
        else:
            rows.append(as_clip(clips[int(i)], name=f"clip {i}").intrinsics)
    fov_x, fov_y = fov_deg(np.concatenate(rows), width, height)
    fx = float(fov_deg_to_focal(np.median(fov_x), width))
    fy = float(fov_deg_to_focal(np.median(fov_y), height))
    return np.array([fx, fy, width / 2.0, height / 2.0])
