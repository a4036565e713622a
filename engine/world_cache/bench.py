"""A small measurement of the world cache on procedural worlds with exact depth: time per frame and how well the
cache predicts a later frame. Reported as measured numbers (docs/world_cache.md), never asserted by timed tests.

Run ``python -m engine.world_cache.bench [--clips 4] [--threads 2]``. For each held-out clip (320x176, the eval
protocol's dataset seed 916001 worlds, exact depth from :mod:`engine.synth`):

* **prediction at 1 s**: the cache built from frame 0 alone, rendered at frame 16's pose (1 s at 16 fps), PSNR
  against the true frame 16 over the covered pixels, and the covered share;
* **time per frame**: every frame of the clip is fused (unproject + update) and the cache rendered at the next
  frame's pose, for each capacity; median ms per frame over the frames after the cache filled (from frame 16);
* **time per generated frame** under a session's policy (:class:`engine.generation.world_memory.WorldCacheSettings`
  defaults): per chunk, 3 of 24 frames fused and 3 renders (one per latent frame; a session with sharp frames
  renders 6 more: the whole cache for the decode's detail and the observed part, shared with the model's input).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from engine.synth.dataset import ClipMaker, DatasetConfig
from engine.world_cache.cache import WorldCache
from engine.world_cache.memory import CacheConfig
from engine.world_cache.render_gl import CacheRenderer

HELDOUT_SEED = 916001


def masked_psnr(a: np.ndarray, b: np.ndarray, mask: np.ndarray) -> float:
    """PSNR (dB, peak 255) of uint8 images over the pixels of ``mask``."""
    mse = np.mean((a[mask].astype(np.float64) - b[mask]) ** 2)
    return float(10 * np.log10(255.0**2 / max(mse, 1e-12)))


def predict_later_frame(clip, renderer: CacheRenderer, config: CacheConfig, later: int = 16,
                        stride: int = 1) -> tuple[float, float]:
    """(PSNR where covered, covered share) of frame ``later`` predicted by the cache of frame 0 alone."""
    plan = clip.plan
    cache = WorldCache(config, stride=stride)
    cache.add_frame(clip.frames[0], clip.depth[0], plan.c2w[0], plan.intrinsics[0])
    out = renderer.render(cache.state, plan.c2w[later], plan.intrinsics[later], plan.size)
    return masked_psnr(out.colour, clip.frames[later], out.coverage), float(out.coverage.mean())


def time_per_frame(clip, renderer: CacheRenderer, config: CacheConfig, stride: int = 1, skip: int = 16) -> dict:
    """Median ms per frame of update (unproject + fuse) and render, after the first ``skip`` frames."""
    plan = clip.plan
    cache = WorldCache(config, stride=stride)
    update_ms, render_ms = [], []
    for i in range(len(clip.frames) - 1):
        t0 = time.perf_counter()
        cache.add_frame(clip.frames[i], clip.depth[i], plan.c2w[i], plan.intrinsics[i])
        t1 = time.perf_counter()
        renderer.render(cache.state, plan.c2w[i + 1], plan.intrinsics[i + 1], plan.size)
        t2 = time.perf_counter()
        update_ms.append(1e3 * (t1 - t0))
        render_ms.append(1e3 * (t2 - t1))
    u, r = float(np.median(update_ms[skip:])), float(np.median(render_ms[skip:]))
    return {"update_ms": u, "render_ms": r, "total_ms": u + r, "voxels": len(cache)}


def time_per_generated_frame(clip, renderer: CacheRenderer, settings, renders_per_chunk: int = 3) -> dict:
    """Mean ms per generated frame under a session's policy (:class:`~engine.generation.world_memory.
    WorldCacheSettings`): per 24-frame chunk, ``fuse_every``-th frames fused and ``renders_per_chunk`` renders
    (one per latent frame, what a cache-conditioned model reads). Depth estimation is not included."""
    from engine.generation.world_memory import fused_frame_indices

    plan = clip.plan
    cache = WorldCache(settings.cache_config, stride=settings.stride)
    cache.add_frame(clip.frames[0], clip.depth[0], plan.c2w[0], plan.intrinsics[0])
    spent, frames = 0.0, 0
    for a in range(1, len(clip.frames) - 23, 24):
        t0 = time.perf_counter()
        for i in range(renders_per_chunk):
            f = a + (24 * (i + 1)) // renders_per_chunk - 1
            renderer.render(cache.state, plan.c2w[f], plan.intrinsics[f], plan.size)
        for i in fused_frame_indices(24, settings.fuse_every, skip_first=False):
            cache.add_frame(clip.frames[a + i], clip.depth[a + i], plan.c2w[a + i], plan.intrinsics[a + i])
        spent += time.perf_counter() - t0
        frames += 24
    return {"ms_per_frame": 1e3 * spent / frames, "voxels": len(cache)}


def stream_flatness(chunks: int, settings, renderer: CacheRenderer, seed: int = 2**31) -> dict:
    """The session's cache policy over ``chunks`` chunks of one long explore path in a held-out world (exact depth
    from the renderer; only the fused frames are rendered): per chunk, the process CPU time of fusing 6 frames and 3
    cache renders (CPU time, so other jobs on the machine do not inflate it) and the process RSS. Returns the
    early / late medians (first and last tenth of the chunks) and their ratios."""
    from engine.bench.memory import current_rss_bytes
    from engine.generation.world_memory import fused_frame_indices
    from engine.synth.renderer import Renderer
    from engine.synth.trajectories import PathConfig, sample_clip
    from engine.synth.world import make_world

    world = make_world(seed)
    path = sample_clip(world, np.random.default_rng([seed, 0xE7A1]),
                       PathConfig(num_frames=1 + 24 * chunks, return_probability=0.0))  # fmt: skip
    fused = [0] + [1 + 24 * k + i for k in range(chunks) for i in fused_frame_indices(24, settings.fuse_every, False)]
    cpu_ms, rss = [], []
    with Renderer() as synth:
        cache = WorldCache(settings.cache_config, stride=settings.stride)
        frame, depth = synth.render(world, path.c2w[:1], path.intrinsics[:1], path.size, depth=True)
        cache.add_frame(frame[0], depth[0], path.c2w[0], path.intrinsics[0])
        for k in range(chunks):
            picks = fused[1 + 6 * k : 1 + 6 * (k + 1)]
            frames, depths = synth.render(world, path.c2w[picks], path.intrinsics[picks], path.size, depth=True)
            t0 = time.process_time()
            for i in range(3):
                f = 1 + 24 * k + 8 * (i + 1) - 1
                renderer.render(cache.state, path.c2w[f], path.intrinsics[f], path.size)
            for frame, z, f in zip(frames, depths, picks):
                cache.add_frame(frame, z, path.c2w[f], path.intrinsics[f])
            cpu_ms.append(1e3 * (time.process_time() - t0))
            rss.append(current_rss_bytes())
    tenth = max(1, chunks // 10)
    early, late = float(np.median(cpu_ms[1 : 1 + tenth])), float(np.median(cpu_ms[-tenth:]))
    rss_early, rss_late = max(rss[:tenth]), max(rss)
    return {"chunks": chunks, "early_ms": early, "late_ms": late, "time_ratio": late / early,
            "rss_early_mb": rss_early / 2**20, "rss_late_mb": rss_late / 2**20, "rss_ratio": rss_late / rss_early,
            "voxels": len(cache)}  # fmt: skip


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=4)
    parser.add_argument("--frames", type=int, default=49)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--voxel-size", type=float, default=0.02)
    parser.add_argument("--capacities", type=int, nargs="*", default=[25_000, 50_000, 100_000, 200_000])
    parser.add_argument("--strides", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--stream", type=int, metavar="CHUNKS",
                        help="only the flatness check: the session's policy over CHUNKS chunks of one long path")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.stream:
        from engine.generation.world_memory import WorldCacheSettings

        with CacheRenderer() as renderer:
            r = stream_flatness(args.stream, WorldCacheSettings(), renderer)
        print(f"{r['chunks']} chunks, session policy: fuse 6 + render 3 per chunk, CPU {r['early_ms']:.1f} ms early / "
              f"{r['late_ms']:.1f} ms late (ratio {r['time_ratio']:.3f}); peak RSS {r['rss_early_mb']:.1f} MB in the first "
              f"tenth / {r['rss_late_mb']:.1f} MB overall (ratio {r['rss_ratio']:.3f}); {r['voxels']} voxels at the end")
        return
    maker = ClipMaker(DatasetConfig(seed=HELDOUT_SEED, clips=args.clips, num_frames=args.frames, clips_per_world=1))
    clips = [maker.make(i) for i in range(args.clips)]
    renderer = CacheRenderer()
    print(f"renderer: {renderer.ctx.info.get('GL_RENDERER')}; {args.clips} clips 320x176, voxel {args.voxel_size}")
    for stride in args.strides:
        scores = [predict_later_frame(c, renderer, CacheConfig(voxel_size=args.voxel_size), stride=stride)
                  for c in clips]
        for k, (p, cov) in enumerate(scores):
            print(f"stride {stride} clip {k}: frame 0 cache at frame 16: {p:.2f} dB where covered, coverage {cov:.3f}")
        print(f"stride {stride} mean: {np.mean([s[0] for s in scores]):.2f} dB, "
              f"coverage {np.mean([s[1] for s in scores]):.3f}")
    for capacity in args.capacities:
        for stride in args.strides:
            rows = [time_per_frame(c, renderer, CacheConfig(args.voxel_size, capacity), stride) for c in clips]
            mean = {key: float(np.mean([r[key] for r in rows])) for key in rows[0]}
            print(f"capacity {capacity:>7} stride {stride}: update {mean['update_ms']:.1f} ms + render "
                  f"{mean['render_ms']:.1f} ms = {mean['total_ms']:.1f} ms per frame ({mean['voxels']:.0f} voxels)")
    from engine.generation.world_memory import WorldCacheSettings

    settings = WorldCacheSettings()
    rows = [time_per_generated_frame(c, renderer, settings) for c in clips]
    print(f"session policy (voxel {settings.voxel_size}, capacity {settings.capacity}, stride {settings.stride}, fuse 1 "
          f"in {settings.fuse_every}, 3 renders per chunk): {np.mean([r['ms_per_frame'] for r in rows]):.1f} ms per "
          f"generated frame ({np.mean([r['voxels'] for r in rows]):.0f} voxels)")
    renderer.release()
    maker.release()


if __name__ == "__main__":
    main()
