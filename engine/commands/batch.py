"""``sana-wm batch JOBS``: a job file rendered on Ray (local by default, ``--address`` for a cluster).

Prints a progress line while jobs finish, a summary table at the end, and writes a JSON report. With
``--compare-sequential`` it then runs the same jobs as separate ``sana-wm generate`` processes, one after another,
checks that each gives the same video, and prints the time ratio (the number docs/batch.md reports).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from engine.batch.jobs import read_jobs
from engine.batch.runner import BENCH_FRAMES, LAYOUTS, BatchSettings, run_batch, write_report
from engine.batch.worker import JobResult
from engine.commands.arguments import check_output_folders
from engine.commands.progress import ProgressLine
from engine.generation.pipeline import MODES


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "batch",
        help="generate the videos of a job file on Ray",
        description="Render every job of a JSON Lines or CSV job file (image or demo, prompt, action or camera "
        "file, intrinsics, seed, frames, model, name) on Ray: a local Ray by default, --address to join a "
        "cluster. Each worker loads its model once. A failed job is recorded and the batch goes on; a re-run "
        "skips jobs whose outputs are complete. Needs the extra: pip install -e \".[batch]\".",
    )
    p.add_argument("jobs", type=Path, help="job file (.jsonl or .csv); see docs/batch.md")
    p.add_argument("--output-dir", "--output_dir", type=Path, default=Path("output"), help="default ./output")
    p.add_argument("--root", type=Path, help="folder that relative paths in the job file start from "
                   "(default: the job file's folder; for SANA-WM-Bench manifests: the benchmark folder)")
    p.add_argument("--workers", type=int, default=2, help="Ray workers, each keeping its model loaded (default 2)")
    p.add_argument("--threads-per-worker", type=int, default=1, help="CPU threads per worker (default 1)")
    p.add_argument("--address", help="join a running Ray cluster (HOST:PORT, ray://HOST:PORT or auto)")
    p.add_argument("--model", type=Path, help="default model folder for jobs without one (default: embedded)")
    p.add_argument("--mode", choices=MODES, help="default mode for jobs without one (default streaming)")
    p.add_argument("--frames", type=int, help="default frame count for jobs without one")
    p.add_argument("--layout", choices=LAYOUTS, default="default",
                   help="sana-wm-bench: <name>_generated.mp4 at 16 fps with --bench-frames frames")
    p.add_argument("--bench-frames", type=int, default=BENCH_FRAMES,
                   help=f"frames per video in the sana-wm-bench layout (default {BENCH_FRAMES} = 60 s at 16 fps)")
    p.add_argument("--report", type=Path, help="JSON report (default <output-dir>/batch_report.json)")
    p.add_argument("--compare-sequential", action="store_true",
                   help="afterwards run each job as its own `sana-wm generate` process, check the videos are the "
                   "same, and print the time ratio")
    p.add_argument("--quiet", action="store_true", help="no progress line")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    settings = BatchSettings(output_dir=args.output_dir, workers=args.workers, threads=args.threads_per_worker,
                             address=args.address, layout=args.layout, bench_frames=args.bench_frames)
    report_path = args.report or args.output_dir / "batch_report.json"
    check_output_folders(report=args.report)
    frames = args.frames if args.frames is not None else (args.bench_frames if args.layout == "sana-wm-bench" else None)
    jobs, invalid = read_jobs(args.jobs, root=args.root, model=args.model, mode=args.mode, frames=frames)
    for error in invalid:
        print(f"sana-wm: skipped: {error.message}", file=sys.stderr)
    bar = ProgressLine(enabled=not args.quiet)

    def progress(done: int, total: int, result: JobResult) -> None:
        bar.update(f"jobs ({result.name}: {result.status})", done, total)

    report = run_batch(jobs, invalid, settings, progress=progress)
    bar.close()
    if args.compare_sequential:
        report.extra["sequential"] = _compare_sequential(jobs, report, args)
    write_report(report, report_path)
    print(report.table())
    if args.compare_sequential:
        seq = report.extra["sequential"]
        print(f"sequential `sana-wm generate` x{seq['jobs']}: {seq['wall_seconds']:.1f} s; batch: "
              f"{report.wall_seconds:.1f} s; ratio {seq['ratio']:.2f}; generated frames identical (PNG): "
              f"{seq['png_frames_identical']}; largest decoded-video difference {seq['max_video_pixel_difference']}")
    print(f"report: {report_path}")
    counts = report.counts()
    return 1 if counts["failed"] or counts["invalid"] else 0


def _compare_sequential(jobs, report, args: argparse.Namespace) -> dict:
    """Each done job again as ``sana-wm generate`` in its own process (fresh interpreter, model loaded each time),
    one after another, into ``<output-dir>/sequential``. The decoded videos are compared: libx264 does not encode
    bit-reproducibly from run to run, so the largest pixel difference is reported; the generated frames themselves
    are compared exactly through the PNG sequences of jobs that ask for them (``"png": true``)."""
    from PIL import Image

    from engine.score.video import read_video

    done = {r.name: r for r in report.results if r.status == "done"}
    folder = args.output_dir / "sequential"
    started = time.perf_counter()
    diff = 0
    png_identical: bool | None = None
    count = 0
    for job in jobs:
        if job.name not in done:
            continue
        argv = job.generate_argv(folder, fps=16.0 if args.layout == "sana-wm-bench" else None)
        subprocess.run([sys.executable, "-m", "engine.cli", "generate", *argv], check=True,
                       stdout=subprocess.DEVNULL)
        count += 1
        ours, _ = read_video(done[job.name].video)
        theirs, _ = read_video(folder / f"{job.name}_{job.mode}.mp4")
        if ours.shape != theirs.shape:
            diff = 255
        else:
            diff = max(diff, int(np.abs(ours.astype(np.int16) - theirs).max()))
        if job.png:
            stem = f"{job.name}_{job.mode}_frames"
            a = sorted((args.output_dir / stem).glob("*.png"))
            b = sorted((folder / stem).glob("*.png"))
            same = len(a) == len(b) > 0 and all(
                np.array_equal(np.asarray(Image.open(x)), np.asarray(Image.open(y))) for x, y in zip(a, b))
            png_identical = same if png_identical is None else (png_identical and same)
    wall = time.perf_counter() - started
    ratio = round(report.wall_seconds / wall, 3) if wall else None
    return {"jobs": count, "wall_seconds": round(wall, 3), "ratio": ratio,
            "max_video_pixel_difference": diff, "png_frames_identical": png_identical}
