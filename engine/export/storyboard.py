"""Storyboard contact sheet: frames every N seconds with time codes, camera-move notes and the prompt.

``sana-wm generate --storyboard`` and the explorer's export write two files from one layout:

* ``<name>.png`` — one sheet with every panel (a header, then a grid);
* ``<name>.pdf`` — the same panels paginated, ``rows_per_page`` rows a page; text is real PDF text
  (DejaVu Sans embedded as TrueType), thumbnails are embedded losslessly at panel resolution.

Each panel shows the frame at ``t = k * every_s`` seconds (frame ``round(t * fps)``), its time code
``mm:ss.cc`` and frame index, and — when a trajectory is given — the camera move until the next panel in
words (:mod:`engine.export.camera_moves`). The header has the title, the video's size, length and frame
rate, the action string if the trajectory has one, and the prompt.

The two files are staged together and renamed only when both are complete; an error or a cancel leaves
neither (an older storyboard under the same name stays as it was).
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.backends.backend_pdf import PdfPages  # noqa: E402
from PIL import Image, ImageDraw  # noqa: E402

from engine.io.atomic import AtomicFile  # noqa: E402
from engine.camera.trajectory import DEFAULT_FPS, Trajectory  # noqa: E402
from engine.errors import ExportError  # noqa: E402
from engine.export.camera_moves import describe_camera_move  # noqa: E402
from engine.export.fonts import font, text_width, wrap_text  # noqa: E402
from engine.export.frames import as_frames, output_error  # noqa: E402
from engine.export.progress import CancelFlag, ProgressCallback, check_cancel, report  # noqa: E402

#: The PNG sheet is refused above this height (pixels): most viewers fail on taller images.
MAX_SHEET_HEIGHT = 32_000
_BACKGROUND = "#ffffff"
_INK = "#1b1b1b"
_MUTED = "#5c5c5c"
_PANEL = "#efefef"
_POINTS_PER_PIXEL = 0.72  # PDF pages are laid out at 100 px per inch


def storyboard_indices(num_frames: int, fps: float, every_s: float = 1.0) -> list[int]:
    """Frame indices of the panels: ``round(k * every_s * fps)`` for ``k = 0, 1, ...`` within the video."""
    if num_frames < 1:
        raise ExportError(f"storyboard: expected at least one frame, found {num_frames}")
    if not math.isfinite(every_s) or every_s <= 0:
        raise ExportError(f"storyboard every_s: expected a positive number of seconds, found {every_s!r}")
    if not math.isfinite(fps) or fps <= 0:
        raise ExportError(f"storyboard fps: expected a positive number, found {fps!r}")
    step = every_s * fps
    count = int(math.floor((num_frames - 1) / step + 1e-9)) + 1
    return sorted({min(num_frames - 1, round(k * step)) for k in range(count)})


def format_timecode(frame: int, fps: float) -> str:
    """``mm:ss.cc`` (minutes, seconds, hundredths) of ``frame`` at ``fps``; frame 0 is 00:00.00."""
    centis = round(frame / fps * 100)
    minutes, centis = divmod(centis, 6000)
    return f"{minutes:02d}:{centis // 100:02d}.{centis % 100:02d}"


@dataclass(frozen=True)
class StoryboardResult:
    """What :func:`write_storyboard` wrote: the files, the panels' frame indices, and where each panel's
    thumbnail is on the PNG sheet (``(x0, y0, x1, y1)``, exclusive end) and each panel's camera note."""

    png: Path
    pdf: Path
    frame_indices: list[int]
    pages: int
    panel_boxes: list[tuple[int, int, int, int]]
    notes: list[str]


# -- layout: one list of drawing items, drawn by PIL (PNG) and matplotlib (PDF) ------------------------


@dataclass(frozen=True)
class _Text:
    x: float
    y: float  # top of the line
    text: str
    size: int  # pixels
    bold: bool = False
    color: str = _INK
    align: str = "left"  # or "right" (x is then the right edge)


@dataclass(frozen=True)
class _Picture:
    x: int
    y: int
    image: np.ndarray  # (h, w, 3) uint8


@dataclass(frozen=True)
class _Box:
    x: int
    y: int
    w: int
    h: int
    color: str


@dataclass
class _Page:
    width: int
    height: int
    items: list


@dataclass(frozen=True)
class _Panel:
    thumb: np.ndarray  # (h, w, 3)
    heading: str
    note: str


def video_facts(width: int, height: int, total: int, fps: float, every_s: float) -> str:
    """The header's first line. The length is ``total / fps`` — how long the video plays, as the CLI says it —
    not the time of the last frame (``(total - 1) / fps``)."""
    return f"{width}x{height}  ·  {total} frames  ·  {fps:g} fps  ·  {total / fps:.1f} s  ·  a panel every {every_s:g} s"


class _Layout:
    """Sizes derived from the panel width, so the sheet reads the same at every thumbnail size."""

    def __init__(self, columns: int, panel_w: int, thumb_h: int, has_notes: bool) -> None:
        self.columns = columns
        self.panel_w = panel_w
        self.thumb_h = thumb_h
        self.margin = max(16, panel_w // 14)
        self.gap = max(8, panel_w // 28)
        self.body = max(12, round(panel_w / 25))
        self.title = round(self.body * 1.6)
        self.line = round(self.body * 1.35)
        self.note_lines = 2 if has_notes else 0
        self.pad = max(4, self.body // 3)
        self.cell_h = thumb_h + self.pad + self.line * (1 + self.note_lines) + self.pad
        self.width = 2 * self.margin + columns * panel_w + (columns - 1) * self.gap

    def header(self, title: str, right: str, lines: list[tuple[str, bool]]) -> tuple[list, int]:
        """Header items and the y where the grid starts. ``lines`` are (text, muted) rows, pre-wrapped."""
        # the title wraps (two lines at most) in the room the right-hand note leaves: it never runs under it
        room = self.width - 2 * self.margin - (text_width(right, font(self.body)) + self.gap if right else 0)
        title_lines = wrap_text(title, font(self.title, bold=True), max(room, self.title), max_lines=2)
        items: list = [_Text(self.width - self.margin, self.margin + (self.title - self.body) / 2, right, self.body,
                             color=_MUTED, align="right")]  # fmt: skip
        for n, line in enumerate(title_lines):
            items.append(_Text(self.margin, self.margin + n * round(self.title * 1.25), line, self.title, bold=True))
        y = self.margin + round(self.title * 1.25) * (len(title_lines) - 1) + round(self.title * 1.5)
        for text, muted in lines:
            items.append(_Text(self.margin, y, text, self.body, color=_MUTED if muted else _INK))
            y += self.line
        return items, y + self.gap

    def grid(self, panels: list[_Panel], top: int) -> tuple[list, list[tuple[int, int, int, int]], int]:
        """Panel items from ``top``; returns items, thumbnail boxes and the bottom y."""
        items: list = []
        boxes = []
        small = font(self.body)
        for n, panel in enumerate(panels):
            row, col = divmod(n, self.columns)
            x = self.margin + col * (self.panel_w + self.gap)
            y = top + row * (self.cell_h + self.gap)
            items.append(_Box(x, y, self.panel_w, self.cell_h, _PANEL))
            items.append(_Picture(x, y, panel.thumb))
            boxes.append((x, y, x + panel.thumb.shape[1], y + panel.thumb.shape[0]))
            ty = y + self.thumb_h + self.pad
            items.append(_Text(x + self.pad, ty, panel.heading, self.body, bold=True))
            if self.note_lines:
                for k, line in enumerate(wrap_text(panel.note, small, self.panel_w - 2 * self.pad, max_lines=self.note_lines)):
                    items.append(_Text(x + self.pad, ty + self.line * (k + 1), line, self.body, color=_MUTED))
        rows = math.ceil(len(panels) / self.columns)
        return items, boxes, top + rows * self.cell_h + (rows - 1) * self.gap + self.margin


def _draw_png(page: _Page) -> Image.Image:
    image = Image.new("RGB", (page.width, page.height), _BACKGROUND)
    draw = ImageDraw.Draw(image)
    for item in page.items:
        if isinstance(item, _Box):
            draw.rectangle((item.x, item.y, item.x + item.w - 1, item.y + item.h - 1), fill=item.color)
        elif isinstance(item, _Picture):
            image.paste(Image.fromarray(item.image), (item.x, item.y))
        else:
            anchor = "ra" if item.align == "right" else "la"
            draw.text((item.x, item.y), item.text, fill=item.color, font=font(item.size, bold=item.bold), anchor=anchor)
    return image


def _draw_pdf_page(pdf: PdfPages, page: _Page) -> None:
    w, h = page.width, page.height
    fig = plt.figure(figsize=(w / 100, h / 100), dpi=100, facecolor=_BACKGROUND)
    try:
        for item in page.items:
            if isinstance(item, _Box):
                fig.patches.append(plt.Rectangle((item.x / w, 1 - (item.y + item.h) / h), item.w / w, item.h / h,
                                                 transform=fig.transFigure, color=item.color, zorder=-1))
            elif isinstance(item, _Picture):
                ih, iw = item.image.shape[:2]
                ax = fig.add_axes((item.x / w, 1 - (item.y + ih) / h, iw / w, ih / h))
                ax.imshow(item.image, interpolation="none", aspect="auto")
                ax.set_axis_off()
            else:
                fig.text(item.x / w, 1 - item.y / h, item.text, fontsize=item.size * _POINTS_PER_PIXEL,
                         fontweight="bold" if item.bold else "normal", color=item.color, family="DejaVu Sans",
                         ha=item.align, va="top")
        pdf.savefig(fig)
    finally:
        plt.close(fig)


# -- public entry point --------------------------------------------------------------------------------


def write_storyboard(
    path: str | os.PathLike,
    frames: np.ndarray | Mapping[int, np.ndarray],
    *,
    fps: float = DEFAULT_FPS,
    num_frames: int | None = None,
    trajectory: Trajectory | np.ndarray | None = None,
    first_pose: int = 0,
    prompt: str | None = None,
    title: str | None = None,
    every_s: float = 1.0,
    columns: int = 4,
    panel_width: int | None = None,
    rows_per_page: int = 4,
    progress: ProgressCallback | None = None,
    cancel: CancelFlag | None = None,
) -> StoryboardResult:
    """Write ``<path>.png`` and ``<path>.pdf`` (the suffix of ``path`` is replaced) for a video's frames.

    Args:
        frames: all frames ``(F, H, W, 3)`` uint8, or only the panel frames as ``{index: (H, W, 3)}`` with
            ``num_frames`` given (a streaming export keeps just those; see :func:`storyboard_indices`).
        trajectory: camera poses (a :class:`Trajectory` or ``(P, 4, 4)`` c2w); video frame ``j`` shows pose
            ``first_pose + j`` (``first_pose=1`` when the first pixel frame was dropped, spec §2.7). Without
            it panels carry no camera notes.
        prompt, title: header text (the title defaults to the file's stem).
        every_s: seconds between panels. columns / panel_width: grid columns and thumbnail width in pixels
            (default the frame width, at most 384). rows_per_page: rows on each PDF page.
        progress, cancel: see :mod:`engine.export.progress` (stage ``"storyboard"``).

    Raises :class:`ExportError` for bad frames or options (before anything is drawn) and
    :class:`~engine.errors.ExportCancelled` on cancel; neither leaves a file behind.
    """
    path = Path(path)
    png_path, pdf_path = path.with_suffix(".png"), path.with_suffix(".pdf")
    for name, value in (("columns", columns), ("rows_per_page", rows_per_page)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ExportError(f"storyboard {name}: expected a whole number >= 1, found {value!r}")
    total, picked = _panel_frames(frames, num_frames, fps, every_s)
    indices = sorted(picked)
    height, width = picked[indices[0]].shape[:2]
    c2w = _poses(trajectory, first_pose + total)
    panel_w = int(panel_width) if panel_width is not None else min(width, 384)
    if panel_w < 32:
        raise ExportError(f"storyboard panel_width: expected at least 32 pixels, found {panel_w}")
    layout = _Layout(min(columns, len(indices)), panel_w, max(1, round(panel_w * height / width)), c2w is not None)

    body = font(layout.body)
    text_w = layout.width - 2 * layout.margin
    info = [(video_facts(width, height, total, fps, every_s), True)]
    action = trajectory.action if isinstance(trajectory, Trajectory) else None
    if action:
        info += [(line, True) for line in wrap_text(f"action: {action}", body, text_w, max_lines=2)]
    if prompt:
        info += [(line, False) for line in wrap_text(f"Prompt: {prompt}", body, text_w, max_lines=10)]
    title = title or path.stem
    _, top = layout.header(title, "", info)
    rows = math.ceil(len(indices) / layout.columns)
    sheet_height = top + rows * (layout.cell_h + layout.gap) - layout.gap + layout.margin
    if sheet_height > MAX_SHEET_HEIGHT:
        raise ExportError(
            f"storyboard: {len(indices)} panels make a {sheet_height}-pixel-tall sheet, expected at most "
            f"{MAX_SHEET_HEIGHT}; use a larger every_s, more columns or a smaller panel_width"
        )

    per_page = layout.columns * rows_per_page
    pages = math.ceil(len(indices) / per_page)
    steps = len(indices) + 1 + pages
    done = 0

    def step() -> None:
        nonlocal done
        check_cancel(cancel, f"storyboard {png_path}")
        done += 1
        report(progress, "storyboard", done, steps)

    panels = []
    for n, i in enumerate(indices):
        check_cancel(cancel, f"storyboard {png_path}")
        thumb = Image.fromarray(picked[i]).resize((layout.panel_w, layout.thumb_h), Image.Resampling.LANCZOS)
        note = ""
        if c2w is not None:
            end = indices[n + 1] if n + 1 < len(indices) else total - 1
            note = "end" if end == i else f"→ {format_timecode(end, fps)}: " + describe_camera_move(
                c2w[first_pose + i], c2w[first_pose + end])
        panels.append(_Panel(np.asarray(thumb), f"{format_timecode(i, fps)}   frame {i}", note))
        step()

    items, top = layout.header(title, f"{len(panels)} panels", info)
    grid, boxes, bottom = layout.grid(panels, top)
    sheet = _Page(layout.width, bottom, items + grid)
    pdf_pages = []
    for number, start in enumerate(range(0, len(panels), per_page), start=1):
        page_items, page_top = layout.header(title, f"page {number}/{pages}", info if number == 1 else [])
        page_grid, _, page_bottom = layout.grid(panels[start:start + per_page], page_top)
        pdf_pages.append(_Page(layout.width, page_bottom, page_items + page_grid))
    page_height = max(page.height for page in pdf_pages)  # one page size for the whole document
    for page in pdf_pages:
        page.height = page_height
    _write_both(png_path, pdf_path, sheet, pdf_pages, step, cancel)
    return StoryboardResult(png_path, pdf_path, indices, pages, boxes, [p.note for p in panels])


def _panel_frames(
    frames: np.ndarray | Mapping[int, np.ndarray], num_frames: int | None, fps: float, every_s: float
) -> tuple[int, dict[int, np.ndarray]]:
    """The video length and ``{index: (H, W, 3)}`` for every panel, checked for dtype, shape and one size."""
    if isinstance(frames, Mapping):
        if num_frames is None:
            raise ExportError("storyboard: frames given as {index: frame} need num_frames (the video's length)")
        total = int(num_frames)
    else:
        frames = as_frames(frames, name="storyboard frames")
        total = len(frames)
    picked = {}
    for i in storyboard_indices(total, fps, every_s):
        if isinstance(frames, Mapping) and i not in frames:
            raise ExportError(
                f"storyboard frames: expected frame {i} (the panel at {format_timecode(i, fps)}), "
                f"found frames {sorted(frames)[:8]}{'...' if len(frames) > 8 else ''}"
            )
        picked[i] = as_frames(frames[i], name=f"storyboard frame {i}")[0]
    sizes = {f.shape[:2] for f in picked.values()}
    if len(sizes) > 1:
        found = ", ".join(f"{w}x{h}" for h, w in sorted(sizes))
        raise ExportError(f"storyboard frames: expected one frame size, found {found}")
    return total, picked


def _poses(trajectory: Trajectory | np.ndarray | None, needed: int) -> np.ndarray | None:
    """The camera-to-world poses, checked to cover the video (``needed`` poses), or None."""
    if trajectory is None:
        return None
    c2w = trajectory.c2w if isinstance(trajectory, Trajectory) else np.asarray(trajectory, dtype=np.float64)
    if c2w.ndim != 3 or c2w.shape[1:] != (4, 4) or len(c2w) < needed:
        raise ExportError(
            f"storyboard trajectory: expected at least first_pose + frames = {needed} poses (F, 4, 4), found {c2w.shape}"
        )
    return c2w


def _write_both(png_path: Path, pdf_path: Path, sheet: _Page, pages: list[_Page], step, cancel: CancelFlag | None) -> None:
    """Draw the PNG sheet and the PDF pages into staged files; rename both only when both are complete."""
    try:
        staged_png, staged_pdf = AtomicFile(png_path), AtomicFile(pdf_path)
    except OSError as exc:
        raise output_error(png_path, exc) from exc
    try:
        _draw_png(sheet).save(staged_png.tmp, format="PNG", compress_level=6)
        step()
        with matplotlib.rc_context({"pdf.fonttype": 42}), PdfPages(staged_pdf.tmp) as pdf:
            for page in pages:
                _draw_pdf_page(pdf, page)
                step()
        check_cancel(cancel, f"storyboard {png_path}")
        staged_png.commit()
        staged_pdf.commit()
    except BaseException:
        staged_png.discard()
        staged_pdf.discard()
        raise
