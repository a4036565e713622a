"""Fonts and text layout for drawn exports (overlay key caps, storyboard captions).

DejaVu Sans comes with matplotlib (a dependency), so every machine renders the same glyphs, including
accents and most scripts a prompt may contain, without depending on system fonts. PIL's built-in font is
the fallback if that file is missing.
"""

from __future__ import annotations

import functools
import os

import matplotlib
from PIL import ImageFont

FontType = ImageFont.FreeTypeFont | ImageFont.ImageFont


@functools.lru_cache(maxsize=64)
def font(size: int, *, bold: bool = False, mono: bool = False) -> FontType:
    """DejaVu Sans (``bold`` / ``mono`` variants) at ``size`` pixels; cached."""
    name = "DejaVuSans" + ("Mono" if mono else "") + ("-Bold" if bold else "") + ".ttf"
    path = os.path.join(matplotlib.get_data_path(), "fonts", "ttf", name)
    try:
        return ImageFont.truetype(path, size=max(1, int(size)))
    except OSError:
        return ImageFont.load_default(size=max(1, int(size)))


def text_width(text: str, face: FontType) -> float:
    """Advance width of ``text`` in pixels."""
    return face.getlength(text)


def wrap_text(text: str, face: FontType, width: float, *, max_lines: int | None = None) -> list[str]:
    """Break ``text`` into lines no wider than ``width`` pixels at spaces (a longer word is cut).

    Existing newlines are kept. With ``max_lines`` the last kept line ends in an ellipsis when text was left out.
    """
    lines: list[str] = []
    for paragraph in text.splitlines() or [""]:
        line = ""
        for word in paragraph.split(" "):
            candidate = word if not line else f"{line} {word}"
            if text_width(candidate, face) <= width:
                line = candidate
                continue
            if line:
                lines.append(line)
            while text_width(word, face) > width and len(word) > 1:  # a word wider than the line
                cut = len(word)
                while cut > 1 and text_width(word[:cut], face) > width:
                    cut -= 1
                lines.append(word[:cut])
                word = word[cut:]
            line = word
        lines.append(line)
    if max_lines is not None and len(lines) > max_lines:
        lines = lines[:max_lines]
        last = lines[-1]
        while last and text_width(last + "…", face) > width:
            last = last[:-1]
        lines[-1] = last.rstrip() + "…"
    return lines
