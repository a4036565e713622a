"""Trajectory file formats: read and write :class:`~engine.camera.trajectory.Trajectory` records.

Each format lives in its own module with a ``read_<name>(path, **options)`` and a
``write_<name>(trajectory, path, **options)`` function; :data:`FORMATS` registers them so the CLI and the
docs can list names, extensions and options. Conventions, losses and options per format are described in
``docs/trajectory_formats.md`` and in each module's docstring. Every write is atomic (temporary file, then
rename) through :mod:`engine.io.atomic`.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from engine.camera.formats.colmap import read_colmap, write_colmap
from engine.camera.formats.csv_format import read_csv, write_csv
from engine.camera.formats.nerfstudio import read_nerfstudio, write_nerfstudio
from engine.camera.formats.npz import read_npz, write_npz
from engine.camera.formats.nuke_chan import read_nuke_chan, write_nuke_chan
from engine.camera.formats.re10k import read_re10k, write_re10k
from engine.camera.formats.sana_npy import read_sana_npy, write_sana_npy
from engine.camera.trajectory import Trajectory
from engine.errors import InputFileError, SanaWMInputError, TrajectoryFormatError


def _option_names(func: Callable) -> tuple[str, ...]:
    return tuple(
        name for name, p in inspect.signature(func).parameters.items() if p.kind is inspect.Parameter.KEYWORD_ONLY
    )


@dataclass(frozen=True)
class TrajectoryFormat:
    """A registered file format: its name, file extensions, a one-line description and its functions."""

    name: str
    extensions: tuple[str, ...]
    description: str
    reader: Callable[..., Trajectory]
    writer: Callable[..., list[Path]]

    @property
    def read_options(self) -> tuple[str, ...]:
        """Keyword options the reader accepts."""
        return _option_names(self.reader)

    @property
    def write_options(self) -> tuple[str, ...]:
        """Keyword options the writer accepts."""
        return _option_names(self.writer)


FORMATS: dict[str, TrajectoryFormat] = {
    f.name: f
    for f in (
        TrajectoryFormat("npz", (".npz",), "native lossless archive (OpenCV camera-to-world, intrinsics, fps, action)",
                         read_npz, write_npz),
        TrajectoryFormat("sana-npy", (".npy",), "SANA-WM --camera (F,4,4) c2w array + <stem>_intrinsics.npy sidecar",
                         read_sana_npy, write_sana_npy),
        TrajectoryFormat("nerfstudio", (".json",), "nerfstudio viewer camera_path.json (ns-render camera-path)",
                         read_nerfstudio, write_nerfstudio),
        TrajectoryFormat("colmap", ("", ".txt"), "COLMAP text model folder (cameras.txt + images.txt)",
                         read_colmap, write_colmap),
        TrajectoryFormat("re10k", (".txt",), "RealEstate10K camera .txt (normalised intrinsics, world-to-camera)",
                         read_re10k, write_re10k),
        TrajectoryFormat("nuke-chan", (".chan",), "Nuke .chan (translate, ZXY rotate in degrees, vertical FOV)",
                         read_nuke_chan, write_nuke_chan),
        TrajectoryFormat("csv", (".csv",), "CSV frame,x,y,z,qw,qx,qy,qz,vfov_deg (OpenCV camera-to-world)",
                         read_csv, write_csv),
    )
}

_COLMAP_FILES = {"cameras.txt", "images.txt", "points3d.txt"}
_BY_SUFFIX = {".npz": "npz", ".npy": "sana-npy", ".json": "nerfstudio", ".txt": "re10k", ".chan": "nuke-chan",
              ".csv": "csv"}


def detect_format(path: str | os.PathLike) -> str:
    """Format name from the path: a folder (or a name without extension), ``cameras.txt``, ``images.txt`` or
    ``points3D.txt`` -> ``"colmap"``; otherwise by extension (``.npz``, ``.npy``, ``.json``, ``.txt`` ->
    ``"re10k"``, ``.chan``, ``.csv``)."""
    p = Path(path)
    if p.is_dir() or p.name.lower() in _COLMAP_FILES or (p.suffix == "" and not p.exists()):
        return "colmap"
    name = _BY_SUFFIX.get(p.suffix.lower())
    if name is None:
        known = ", ".join(f"{f.name} ({'/'.join(e or 'folder' for e in f.extensions)})" for f in FORMATS.values())
        raise TrajectoryFormatError(
            f"{p.name}: cannot tell the trajectory format from the extension '{p.suffix or '(none)'}'; "
            f"known formats: {known}; pass the format explicitly (CLI --from/--to)"
        )
    return name


def _resolve(path: Path, format: str | None, options: dict, *, write: bool) -> tuple[TrajectoryFormat, Callable]:
    name = detect_format(path) if format is None else format.lower()
    if name not in FORMATS:
        raise TrajectoryFormatError(f"format: expected one of {', '.join(FORMATS)}, found '{format}'")
    fmt = FORMATS[name]
    accepted = fmt.write_options if write else fmt.read_options
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise TrajectoryFormatError(
            f"{name}: the {'writer' if write else 'reader'} does not take option(s) {', '.join(unknown)}; "
            f"it accepts: {', '.join(accepted) or 'no options'}"
        )
    return fmt, fmt.writer if write else fmt.reader


def read_trajectory(path: str | os.PathLike, *, format: str | None = None, **options) -> Trajectory:
    """Read a trajectory file; ``format`` defaults to :func:`detect_format`, ``options`` go to the reader."""
    p = Path(path)
    if not p.exists():
        raise InputFileError(f"{p}: trajectory file not found")
    _, reader = _resolve(p, format, options, write=False)
    try:
        return reader(p, **options)
    except SanaWMInputError as exc:  # a check below the reader (poses, intrinsics) that could not know the file
        if str(p) in str(exc) or p.name in str(exc):
            raise
        raise type(exc)(f"{p}: {exc}") from None


def write_trajectory(
    trajectory: Trajectory, path: str | os.PathLike, *, format: str | None = None, **options
) -> list[Path]:
    """Write ``trajectory`` (atomically) and return the files written; ``format`` defaults to
    :func:`detect_format`, ``options`` go to the writer."""
    p = Path(path)
    _, writer = _resolve(p, format, options, write=True)
    return writer(trajectory, p, **options)


__all__ = ["FORMATS", "TrajectoryFormat", "detect_format", "read_trajectory", "write_trajectory"]
