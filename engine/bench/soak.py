"""``sana-wm bench soak``: a long headless session that drives, rewinds and branches, to show that nothing grows.

What the explorer does for an hour, without the window: a :class:`~engine.generation.session.WorldSession` on the
embedded model (or ``--model``) keeps its history and snapshots, a driver holds random keys for a few chunks, then
rewinds to an earlier chunk (a new branch from there) or to the start, over and over for ``minutes``. After every
chunk it samples the process RSS (after returning freed memory to the system), the chunk's time and the number of
chunks the session holds. The report compares the first and the last tenth of the run: a leak shows as an RSS ratio
above 1, a slowdown (a cache that grows, an index that lengthens) as a time ratio above 1. The held-chunk count is
bounded by the driving pattern, so its ratio shows that a rewind really drops what it should.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from engine.bench.memory import current_rss_bytes
from engine.bundles import ModelBundle
from engine.camera.controls import DSL_KEYS
from engine.camera.integrator import MotionIntegrator
from engine.generation.session import StreamSettings, WorldSession

#: Longest stretch driven before a rewind (chunks): keeps the held history bounded, as a user's takes are.
MAX_DRIVE_CHUNKS = 10


@dataclass
class SoakRun:
    """Per-chunk samples of a soak. ``t_s``: seconds since the start; ``chunk_ms``; ``rss``: process RSS in bytes;
    ``held``: chunks the session holds (history with snapshots)."""

    model: str
    minutes: float
    t_s: list[float] = field(default_factory=list)
    chunk_ms: list[float] = field(default_factory=list)
    rss: list[int] = field(default_factory=list)
    held: list[int] = field(default_factory=list)
    rewinds: int = 0
    branches: int = 0

    def _tenth(self, values: list, which: str) -> list:
        n = max(1, len(values) // 10)
        body = values[1:] if len(values) > 2 else values  # chunk 0 warms up
        return body[:n] if which == "start" else body[-n:]

    def figure(self, name: str, which: str) -> float:
        """Median of ``name`` over the first (``"start"``) or last (``"end"``) tenth of the chunks."""
        return float(statistics.median(self._tenth(getattr(self, name), which)))

    def ratio(self, name: str) -> float:
        start = self.figure(name, "start")
        return self.figure(name, "end") / start if start else float("nan")

    def summary(self) -> dict:
        return {
            "model": self.model,
            "minutes": self.minutes,
            "chunks": len(self.chunk_ms),
            "rewinds": self.rewinds,
            "branches": self.branches,
            **{f"{name}_{which}": self.figure(name, which) for name in ("chunk_ms", "rss", "held") for which in ("start", "end")},
            **{f"{name}_ratio": self.ratio(name) for name in ("chunk_ms", "rss", "held")},
        }


def run_soak(
    bundle: ModelBundle,
    minutes: float,
    *,
    seed: int = 0,
    progress: Callable[[SoakRun], None] | None = None,
) -> SoakRun:
    """Drive ``bundle`` for ``minutes`` of wall-clock time: drive 1..MAX_DRIVE_CHUNKS chunks with random held keys,
    rewind to a random earlier chunk (a branch) or, one time in four, to the start; repeat."""
    rng = np.random.default_rng(seed)
    session = WorldSession(bundle, StreamSettings(seed=seed), keep_history=True, keep_snapshots=True)
    width, height = bundle.frame_size
    session.start(rng.integers(0, 256, (height, width, 3), dtype=np.uint8), seed=seed)
    run = SoakRun(model=bundle.display_name, minutes=minutes)
    keys = sorted(DSL_KEYS)
    began = time.perf_counter()
    deadline = began + 60.0 * minutes
    while time.perf_counter() < deadline:
        integrator = MotionIntegrator(pose=session.pose)
        for _ in range(int(rng.integers(1, MAX_DRIVE_CHUNKS + 1))):
            held = {k for k in keys if rng.random() < 0.25} or {"w"}
            poses = np.stack([integrator.step(held) for _ in range(session.frames_per_chunk)])
            started = time.perf_counter()
            session.step(poses)
            run.chunk_ms.append(1000.0 * (time.perf_counter() - started))
            run.rss.append(current_rss_bytes())
            run.held.append(len(session.history))
            run.t_s.append(time.perf_counter() - began)
            if progress is not None:
                progress(run)
            if time.perf_counter() >= deadline or len(session.history) >= MAX_DRIVE_CHUNKS:
                break
        to_start = rng.random() < 0.25 or len(session.history) < 2
        session.rewind(-1 if to_start else int(rng.integers(0, len(session.history) - 1)))
        run.rewinds += 1
        run.branches += int(not to_start)
    return run


def format_table(run: SoakRun) -> str:
    s = run.summary()
    mib = 1024.0**2
    rows = [
        f"soak: {s['model']}, {s['minutes']:g} min, {s['chunks']} chunks, {s['rewinds']} rewinds ({s['branches']} to a "
        "branch point, the rest to the start)",
        f"{'':<22}{'first tenth':>14}{'last tenth':>14}{'ratio':>9}",
        f"{'chunk time (ms)':<22}{s['chunk_ms_start']:>14.1f}{s['chunk_ms_end']:>14.1f}{s['chunk_ms_ratio']:>9.3f}",
        f"{'process RSS (MiB)':<22}{s['rss_start'] / mib:>14.1f}{s['rss_end'] / mib:>14.1f}{s['rss_ratio']:>9.3f}",
        f"{'chunks held':<22}{s['held_start']:>14.1f}{s['held_end']:>14.1f}{s['held_ratio']:>9.3f}",
    ]
    return "\n".join(rows)
