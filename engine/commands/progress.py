"""A one-line terminal progress display for long commands (chunks, steps, refine, decode, encode)."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class ProgressLine:
    """Redraws one status line on ``stream`` (stderr): ``[#####.....] chunk 3/10  12.4 s``.

    ``update(stage, done, total)`` is the progress callback of :func:`engine.generation.pipeline.generate` and
    :class:`engine.generation.session.WorldSession`; when the stream is not a terminal, a line is printed per finished stage
    unit only every few seconds so logs stay short.
    """

    WIDTH = 24

    def __init__(self, enabled: bool = True, stream: TextIO | None = None, min_interval_s: float = 2.0) -> None:
        self.enabled = enabled
        self.stream = stream or sys.stderr
        self.interactive = self.stream.isatty()
        self.min_interval_s = min_interval_s
        self.started = time.perf_counter()
        self._last_print = 0.0
        self._dirty = False

    def update(self, stage: str, done: int, total: int) -> None:
        if not self.enabled:
            return
        now = time.perf_counter()
        filled = int(self.WIDTH * done / max(total, 1))
        text = f"[{'#' * filled}{'.' * (self.WIDTH - filled)}] {stage} {done}/{total}  {now - self.started:.1f} s"
        if self.interactive:
            self.stream.write("\r" + text + "   ")
            self.stream.flush()
            self._dirty = True
        elif done == total or now - self._last_print >= self.min_interval_s:
            self.stream.write(text + "\n")
            self._last_print = now

    def close(self) -> None:
        if self.enabled and self._dirty:
            self.stream.write("\n")
            self.stream.flush()
            self._dirty = False
