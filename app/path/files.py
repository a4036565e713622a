"""Import and export of camera paths through :mod:`engine.camera.formats`, without dialogs.

Why plain functions: the panel's Import…/Export… buttons only pick a file name; everything that can fail (format
detection, a reader needing an image size, a writer needing intrinsics) happens here, where tests reach it.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from engine.camera.keyframes import DEFAULT_FRAME_SIZE, IMPORT_EVERY, CameraPath
from engine.camera.formats import FORMATS, detect_format, read_trajectory, write_trajectory


@contextmanager
def engine_warnings() -> Iterator[list[str]]:
    """Collect the engine's warnings (``logging`` records at WARNING and above under ``engine``) while the block
    runs: what a format reader or writer had to drop (an off-centre principal point, ``fx != fy``) is shown to the
    user, not only written to the terminal."""
    caught: list[str] = []

    class _Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            caught.append(record.getMessage())

    handler = _Collect(logging.WARNING)
    logger = logging.getLogger("engine")
    logger.addHandler(handler)
    try:
        yield caught
    finally:
        logger.removeHandler(handler)


def import_path(
    file: str | os.PathLike,
    *,
    format: str | None = None,
    every: int = IMPORT_EVERY,
    frame_size: tuple[int, int] | None = None,
) -> CameraPath:
    """Read a trajectory file in any supported format and pick keyframes from it every ``every`` frames (and the
    last frame; see :meth:`CameraPath.from_trajectory`).

    Formats that store a vertical FOV but no pixel size (CSV, Nuke ``.chan``) are read with ``frame_size`` as their
    image size (default :data:`DEFAULT_FRAME_SIZE`), so their FOV survives. ``frame_size`` is also the path's frame
    size (default: the file's).
    """
    p = Path(file)
    name = format or detect_format(p)
    options: dict[str, object] = {}
    if name in FORMATS and "image_size" in FORMATS[name].read_options:
        options["image_size"] = tuple(int(v) for v in (frame_size or DEFAULT_FRAME_SIZE))
    trajectory = read_trajectory(p, format=name, **options)
    return CameraPath.from_trajectory(trajectory, every=every, frame_size=frame_size)


def export_path(
    path: CameraPath,
    file: str | os.PathLike,
    *,
    format: str | None = None,
    num_frames: int | None = None,
) -> list[Path]:
    """Write the sampled path (every pixel frame, intrinsics for the path's frame size) atomically; returns the
    files written. ``format`` defaults to the one implied by the file name."""
    trajectory = path.to_trajectory(num_frames)
    return write_trajectory(trajectory, file, format=format)


def dialog_filters() -> list[str]:
    """Qt file-dialog filters, one per format (``"npz — native … (*.npz)"``), then "All files"."""
    out = []
    for fmt in FORMATS.values():
        patterns = " ".join(f"*{e}" for e in fmt.extensions if e) or "*"
        if fmt.name == "colmap":
            patterns = "cameras.txt images.txt"
        out.append(f"{fmt.name} — {fmt.description} ({patterns})")
    out.append("All files (*)")
    return out


def format_from_filter(selected_filter: str) -> str | None:
    """The format name a filter from :func:`dialog_filters` stands for (``None`` for "All files")."""
    head = selected_filter.split(" — ", 1)[0].strip()
    return head if head in FORMATS else None


__all__ = ["dialog_filters", "export_path", "format_from_filter", "import_path"]
