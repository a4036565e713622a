"""``sana-wm bench stream``: per-chunk latency and memory of a streaming rollout, hybrid vs. all-softmax.

The hybrid SANA-WM DiT keeps constant time and memory per chunk: Gated-DeltaNet blocks carry history in
fixed-size states and softmax blocks attend to a fixed window (image chunk + last chunk). The comparison run makes
every block a softmax block with full-history K/V, so its attention cost and cache grow with every chunk: per-chunk
time grows linearly and the total quadratically. Both runs use the same architecture (a random-weight preset, or
``--model`` for a real bundle; the all-softmax run always has random weights: speed and memory
do not depend on the values), the same poses and the same frame size; history and snapshots are off so only the
engine's working state is measured.
"""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch

from engine.bench.memory import current_rss_bytes
from engine.bundles import ModelBundle
from engine.camera.controls import get_mapping
from engine.camera.integrator import MotionIntegrator
from engine.model.chunks import AttentionWindow
from engine.generation.session import StreamSettings, WorldSession


@dataclass
class StreamRun:
    """Measurements of one rollout. Times in ms, memory in bytes; ``rss`` is the growth over the process's RSS
    before the rollout started, sampled after each chunk (after returning freed memory to the system, see
    :func:`current_rss_bytes`; ``peak_rss_at`` = the maximum up to that chunk)."""

    variant: str
    preset: str
    blocks: str
    window: str
    chunks: int
    frame_size: tuple[int, int]
    chunk_ms: list[float] = field(default_factory=list)
    cache_bytes: list[int] = field(default_factory=list)
    rss: list[int] = field(default_factory=list)
    #: chunks that began by re-anchoring the model's context (models with a trained context, engine.generation.session)
    reanchors: int = 0
    #: per chunk: ms spent growing the world cache (depth + fusion) and the cache's bytes (empty: no world cache)
    world_ms: list[float] = field(default_factory=list)
    world_bytes: list[int] = field(default_factory=list)

    def _span(self, which: str) -> list[float]:
        tenth = max(1, self.chunks // 10)
        body = self.chunk_ms[1:]  # chunk 0 holds one more frame and warms up
        return body[:tenth] if which == "early" else body[-tenth:]

    @property
    def early_ms(self) -> float:
        return statistics.median(self._span("early"))

    @property
    def late_ms(self) -> float:
        return statistics.median(self._span("late"))

    @property
    def late_mean_ms(self) -> float:
        """Mean of the late span: what throughput is, including the occasional re-anchoring chunk the median
        skips."""
        return statistics.fmean(self._span("late"))

    def peak_rss_at(self, chunk: int) -> int:
        return max(self.rss[: chunk + 1])

    def summary(self) -> dict:
        tenth = max(1, self.chunks // 10)
        frames_per_s = 24 / (self.late_mean_ms / 1000)
        return {
            "variant": self.variant,
            "blocks": self.blocks,
            "window": self.window,
            "chunks": self.chunks,
            "early_ms": round(self.early_ms, 1),
            "late_ms": round(self.late_ms, 1),
            "late_mean_ms": round(self.late_mean_ms, 1),
            "reanchors": self.reanchors,
            "late_over_early": round(self.late_ms / self.early_ms, 3),
            "generated_fps_late": round(frames_per_s, 1),
            "peak_rss_mb_at_n_10": round(self.peak_rss_at(tenth - 1) / 2**20, 1),
            "peak_rss_mb_at_n": round(self.peak_rss_at(self.chunks - 1) / 2**20, 1),
            "peak_rss_n_over_n_10": round(self.peak_rss_at(self.chunks - 1) / max(self.peak_rss_at(tenth - 1), 1), 3),
            "cache_mb_at_n_10": round(self.cache_bytes[tenth - 1] / 2**20, 3),
            "cache_mb_at_n": round(self.cache_bytes[-1] / 2**20, 3),
            **self._world_summary(tenth),
        }

    def _world_summary(self, tenth: int) -> dict:
        """The world cache's share (bundles with a depth source): its per-chunk time early / late and its size."""
        if not self.world_ms:
            return {}
        early = statistics.median(self.world_ms[1 : 1 + tenth])
        late = statistics.median(self.world_ms[-tenth:])
        return {"world_ms_early": round(early, 1), "world_ms_late": round(late, 1),
                "world_late_over_early": round(late / early, 3),
                "world_mb_at_n_10": round(self.world_bytes[tenth - 1] / 2**20, 3),
                "world_mb_at_n": round(self.world_bytes[-1] / 2**20, 3)}  # fmt: skip


def _block_kinds(bundle: ModelBundle) -> str:
    kinds = [m.is_softmax for m in bundle.transformer.blocks]
    return f"{len(kinds) - sum(kinds)} GDN + {sum(kinds)} softmax"


def run_stream(
    bundle: ModelBundle,
    chunks: int,
    window: AttentionWindow,
    variant: str,
    *,
    progress: Callable[[int, int, float], None] | None = None,
) -> StreamRun:
    """Roll out ``chunks`` chunks while driving forward with gentle turns; record time, cache size and RSS."""
    session = WorldSession(bundle, StreamSettings(window=window), keep_history=False, keep_snapshots=False)
    width, height = bundle.frame_size
    rng = np.random.default_rng(0)
    session.start(rng.integers(0, 256, (height, width, 3), dtype=np.uint8))
    integ = MotionIntegrator(get_mapping("v2"))
    gc.collect()
    base = current_rss_bytes()
    run = StreamRun(variant, bundle.name, _block_kinds(bundle), _describe(window), chunks, bundle.frame_size)
    for k in range(chunks):
        keys = {"w", "l"} if k % 5 == 4 else {"w"}
        poses = np.stack([integ.step(keys) for _ in range(session.frames_per_chunk)])
        anchor = session.snapshot().anchor
        began = time.perf_counter()
        record = session.step(poses)
        run.chunk_ms.append((time.perf_counter() - began) * 1000)
        if session.world_cache is not None:
            run.world_ms.append(record.timings["world"] * 1000)
            run.world_bytes.append(session.world_cache.nbytes)
        run.reanchors += int(session.snapshot().anchor != anchor)
        run.cache_bytes.append(session.snapshot().cache.nbytes())
        run.rss.append(current_rss_bytes() - base)
        if progress is not None:
            progress(k + 1, chunks, run.chunk_ms[-1])
    return run


def _describe(window: AttentionWindow) -> str:
    if window.num_cached_chunks < 0:
        return "full history"
    return f"{window.num_cached_chunks} chunks" + (" incl. sink" if window.sink else "")


@dataclass
class StreamBenchmark:
    hybrid: StreamRun
    all_softmax: StreamRun | None

    def as_dict(self) -> dict:
        out = {}
        for key, run in (("hybrid", self.hybrid), ("all_softmax", self.all_softmax)):
            if run is not None:
                out[key] = run.summary()
                out[f"{key}_chunk_ms"] = [round(t, 2) for t in run.chunk_ms]
                out[f"{key}_cache_bytes"] = run.cache_bytes
        out["frame_size"] = list(self.hybrid.frame_size)
        out["preset"] = self.hybrid.preset
        out["threads"] = torch.get_num_threads()
        return out


def benchmark_stream(
    model: str | ModelBundle,
    chunks: int,
    *,
    frame_size: tuple[int, int],
    spatial_factor: int,
    window: AttentionWindow,
    compare_softmax: bool = True,
    progress: Callable[[str, int, int, float], None] | None = None,
) -> StreamBenchmark:
    """The hybrid model with ``window``, then (optionally) the all-softmax model with full history.

    ``model`` is a preset name (random weights at ``frame_size``) or a loaded bundle (e.g. the shipped embedded
    model; its own frame size and codec are used, and the all-softmax comparison gets random weights of its
    architecture with every block softmax: speed and memory do not depend on the weights)."""

    def report(variant: str):
        return None if progress is None else (lambda done, total, ms: progress(variant, done, total, ms))

    if isinstance(model, ModelBundle):
        hybrid_bundle, config = model, model.config
        frame_size = model.frame_size
        spatial_factor = getattr(model.codec, "spatial_factor", spatial_factor)
    else:
        hybrid_bundle = ModelBundle.random(model, frame_size=frame_size, spatial_factor=spatial_factor)
        config = hybrid_bundle.config
    hybrid = run_stream(hybrid_bundle, chunks, window, "hybrid", progress=report("hybrid"))
    del hybrid_bundle
    softmax = None
    if compare_softmax:
        softmax_bundle = ModelBundle.random(config, frame_size=frame_size, spatial_factor=spatial_factor, softmax_every_n=1)
        softmax = run_stream(softmax_bundle, chunks, AttentionWindow.full(), "all-softmax", progress=report("all-softmax"))
    return StreamBenchmark(hybrid, softmax)


def format_table(result: StreamBenchmark) -> str:
    """A plain-text table of both runs plus the ratios that matter."""
    rows = [result.hybrid.summary()] + ([result.all_softmax.summary()] if result.all_softmax else [])
    n = result.hybrid.chunks
    header = (f"{'variant':<12} {'blocks':<20} {'softmax window':<20} {'early ms':>9} {'late ms':>9} {'late/early':>10} "
              f"{'RSS@N/10 MB':>12} {'RSS@N MB':>9} {'RSS ratio':>9} {'cache@N/10 MB':>14} {'cache@N MB':>11} {'fps late':>9}")  # fmt: skip
    lines = [f"streaming rollout: {n} chunks of 24 frames, preset {result.hybrid.preset}, "
             f"{result.hybrid.frame_size[0]}x{result.hybrid.frame_size[1]}, {torch.get_num_threads()} threads", header]  # fmt: skip
    for r in rows:
        lines.append(
            f"{r['variant']:<12} {r['blocks']:<20} {r['window']:<20} {r['early_ms']:>9.1f} {r['late_ms']:>9.1f} "
            f"{r['late_over_early']:>10.3f} {r['peak_rss_mb_at_n_10']:>12.1f} {r['peak_rss_mb_at_n']:>9.1f} "
            f"{r['peak_rss_n_over_n_10']:>9.3f} "
            f"{r['cache_mb_at_n_10']:>14.3f} {r['cache_mb_at_n']:>11.3f} {r['generated_fps_late']:>9.1f}"
        )
    if result.all_softmax is not None:
        h, s = result.hybrid, result.all_softmax
        lines.append(
            f"all-softmax / hybrid at the last chunks: {s.late_ms / h.late_ms:.2f}x time, "
            f"{s.cache_bytes[-1] / max(h.cache_bytes[-1], 1):.2f}x cache"
        )
    if result.hybrid.reanchors:
        lines.append(f"the hybrid model re-anchored its context in {result.hybrid.reanchors} of {n} chunks; fps uses the "
                     "mean time of the late chunks, which includes them")
    w = result.hybrid.summary()
    if "world_ms_early" in w:
        lines.append(f"world cache (depth + fusion, included above): {w['world_ms_early']:.1f} ms per chunk early, "
                     f"{w['world_ms_late']:.1f} late ({w['world_late_over_early']:.3f}x); {w['world_mb_at_n_10']:.2f} MB "
                     f"at N/10, {w['world_mb_at_n']:.2f} MB at N")  # fmt: skip
    lines.append("RSS = growth of the process's resident memory over the rollout's start (history and snapshots off).")
    return "\n".join(lines)


__all__ = ["StreamBenchmark", "StreamRun", "benchmark_stream", "format_table", "run_stream"]
