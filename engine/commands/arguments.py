"""Argument types shared by the ``sana-wm`` sub-commands."""

from __future__ import annotations

import argparse


def image_size(text: str) -> tuple[int, int]:
    """``"1280x704"`` -> ``(1280, 704)`` (width, height), for ``type=`` of argparse options."""
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT such as 1280x704, found {text!r}") from None
    if w <= 0 or h <= 0:
        raise argparse.ArgumentTypeError(f"expected positive WIDTHxHEIGHT, found {text!r}")
    return w, h
