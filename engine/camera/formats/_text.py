"""Helpers shared by the trajectory file formats.

* Line-oriented text parsing that keeps 1-based line numbers, so every parse error names the file, the
  line, what was expected and what was found.
* Number formatting with ``repr`` (the shortest string that parses back to the same float), so text
  formats round-trip float64 values exactly.
* Option parsing (``image_size``, ``fps``) and the single-vertical-FOV conversion used by the formats that
  store one FOV angle per frame (nerfstudio, Nuke ``.chan``, CSV).
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from engine.camera.intrinsics import as_vec4, focal_to_fov_deg, fov_deg_to_focal
from engine.camera.trajectory import DEFAULT_FPS, Trajectory
from engine.errors import InputFileError, TrajectoryFormatError

log = logging.getLogger(__name__)

#: Relative tolerance for "fx == fy" and "principal point at the image centre" in single-FOV formats.
SQUARE_PIXEL_RTOL = 1e-6
#: How far from 1 a stored rotation quaternion's norm may be (writers store unit quaternions; text rounded to 6
#: decimals is still within 1e-5, a norm of 5 is a mistake).
QUATERNION_NORM_TOLERANCE = 1e-3


# --------------------------------------------------------------------------------------------- reading


def require_file(path: Path, what: str = "trajectory file") -> Path:
    """Return ``path`` if it is an existing file, else raise :class:`InputFileError` naming it."""
    if not path.exists():
        raise InputFileError(f"{path}: {what} not found")
    if not path.is_file():
        raise InputFileError(f"{path}: expected a {what}, found a folder or special file")
    return path


def read_lines(path: Path) -> list[str]:
    """All lines of a UTF-8 text file without their line endings (index ``i`` is line ``i + 1``)."""
    require_file(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise TrajectoryFormatError(f"{path}: expected a UTF-8 text file, found undecodable bytes ({exc.reason})")
    return text.splitlines()


def data_lines(lines: Sequence[str], comment: str | None = "#") -> list[tuple[int, str]]:
    """``(line_number, stripped_text)`` for every line that is neither blank nor a ``comment`` line."""
    out = []
    for i, raw in enumerate(lines, start=1):
        text = raw.strip()
        if not text or (comment is not None and text.startswith(comment)):
            continue
        out.append((i, text))
    return out


def shorten(text: str, limit: int = 80) -> str:
    """``text`` cut to ``limit`` characters for error messages."""
    return text if len(text) <= limit else text[: limit - 3] + "..."


def line_error(path: Path, lineno: int, expected: str, found: str) -> TrajectoryFormatError:
    """A :class:`TrajectoryFormatError` of the form ``"<file> line N: expected '...', found '...'"``."""
    return TrajectoryFormatError(f"{path.name} line {lineno}: expected {expected}, found '{shorten(found)}'")


def parse_floats(tokens: Iterable[str], *, path: Path, lineno: int, expected: str, line: str) -> list[float]:
    """Parse ``tokens`` as finite floats or raise :func:`line_error` with ``expected``."""
    try:
        values = [float(t) for t in tokens]
    except ValueError:
        raise line_error(path, lineno, expected, line) from None
    if not all(math.isfinite(v) for v in values):
        raise line_error(path, lineno, f"{expected} (finite numbers)", line)
    return values


def parse_frame_number(token: str, *, path: Path, lineno: int, expected: str, line: str) -> int:
    """A frame number: an integer, also accepted when written as a float with no fraction (``"12.0"``)."""
    try:
        value = float(token)
    except ValueError:
        raise line_error(path, lineno, expected, line) from None
    if not math.isfinite(value) or value != int(value):
        raise line_error(path, lineno, expected, line)
    return int(value)


def order_by_frame(frames: list[int], linenos: list[int], path: Path) -> np.ndarray:
    """Indices sorting ``frames`` ascending; raises on a repeated frame number (naming both lines)."""
    seen: dict[int, int] = {}
    for frame, lineno in zip(frames, linenos):
        if frame in seen:
            raise TrajectoryFormatError(
                f"{path.name} line {lineno}: expected unique frame numbers, found frame {frame} again "
                f"(first on line {seen[frame]})"
            )
        seen[frame] = lineno
    order = np.argsort(np.asarray(frames), kind="stable")
    gaps = np.diff(np.asarray(frames)[order])
    if (gaps != 1).any():
        log.warning("%s: frame numbers are not consecutive; poses are used in frame order, one per frame", path.name)
    return order


# --------------------------------------------------------------------------------------------- writing


def fmt(x: float) -> str:
    """Shortest text that parses back to exactly the same float64 (``repr``); ``-0.0`` is written as ``0.0``."""
    return repr(float(x) + 0.0)


def fmt_row(values: Iterable[float], sep: str = " ") -> str:
    """Join :func:`fmt` of each value with ``sep``."""
    return sep.join(fmt(v) for v in values)


# --------------------------------------------------------------------------------------------- options


def parse_image_size(value: object, *, name: str = "image_size") -> tuple[int, int] | None:
    """``None``, a ``(width, height)`` pair or a ``"WxH"`` string -> ``(width, height)`` positive ints."""
    if value is None:
        return None
    if isinstance(value, str):
        m = re.fullmatch(r"\s*(\d+)\s*[xX,]\s*(\d+)\s*", value)
        if not m:
            raise TrajectoryFormatError(f"{name}: expected 'WIDTHxHEIGHT' (e.g. '832x480'), found '{value}'")
        w, h = int(m.group(1)), int(m.group(2))
    else:
        try:
            w, h = (int(v) for v in value)  # type: ignore[union-attr]
        except (TypeError, ValueError):
            raise TrajectoryFormatError(f"{name}: expected (width, height), found {value!r}") from None
    if w <= 0 or h <= 0:
        raise TrajectoryFormatError(f"{name}: expected positive width and height, found {w}x{h}")
    return w, h


def resolve_fps(value: float | None) -> float:
    """The ``fps`` read option: the given value, or :data:`DEFAULT_FPS` for formats that store no rate."""
    return DEFAULT_FPS if value is None else float(value)


# --------------------------------------------------------------------------------------------- FOV


def intrinsics_from_vfov(vfov_deg: np.ndarray, image_size: tuple[int, int], *, where: str) -> np.ndarray:
    """``(F, 4)`` square-pixel, centred intrinsics from per-frame vertical FOVs for a ``(W, H)`` image."""
    w, h = image_size
    vfov = np.asarray(vfov_deg, dtype=np.float64)
    if ((vfov <= 0) | (vfov >= 180)).any():
        i = int(np.argmax((vfov <= 0) | (vfov >= 180)))
        raise TrajectoryFormatError(f"{where}: expected vertical FOV in degrees in (0, 180), found {vfov[i]:g}")
    f = fov_deg_to_focal(vfov, h)
    return np.stack([f, f, np.full_like(f, w / 2.0), np.full_like(f, h / 2.0)], axis=1)


def vfov_for_export(traj: Trajectory, fmt_name: str, *, required: bool) -> np.ndarray | None:
    """Per-frame vertical FOV in degrees for a single-FOV format, or ``None`` when the trajectory has none.

    Formats that store one vertical FOV assume ``fx == fy`` and a centred principal point; other values
    are written as the vertical FOV (from ``fy``) with a logged warning. Raises when ``required`` and the
    trajectory lacks intrinsics or an image size.
    """
    if traj.intrinsics is None or traj.image_size is None:
        if required:
            missing = "intrinsics" if traj.intrinsics is None else "image size"
            raise TrajectoryFormatError(
                f"{fmt_name}: the trajectory has no {missing}; this format stores a vertical FOV and needs "
                "pixel intrinsics with their image size (add them, e.g. with --fov/--intrinsics and --image-size)"
            )
        return None
    vec = as_vec4(traj.intrinsics)
    w, h = traj.image_size
    if (np.abs(vec[:, 0] - vec[:, 1]) > SQUARE_PIXEL_RTOL * vec[:, 1]).any():
        log.warning("%s: fx != fy in some frames; only the vertical FOV (from fy) is written, fx is lost", fmt_name)
    centre = np.array([w / 2.0, h / 2.0])
    if (np.abs(vec[:, 2:] - centre) > SQUARE_PIXEL_RTOL * max(w, h)).any():
        log.warning(
            "%s: the principal point is not at the image centre in some frames; it is lost "
            "(readers assume cx = W/2, cy = H/2)",
            fmt_name,
        )
    return focal_to_fov_deg(vec[:, 1], h)


__all__ = [
    "QUATERNION_NORM_TOLERANCE",
    "require_file",
    "read_lines",
    "data_lines",
    "shorten",
    "line_error",
    "parse_floats",
    "parse_frame_number",
    "order_by_frame",
    "fmt",
    "fmt_row",
    "parse_image_size",
    "resolve_fps",
    "intrinsics_from_vfov",
    "vfov_for_export",
]
