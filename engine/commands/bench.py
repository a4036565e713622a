"""``sana-wm bench``: measured performance, printed as ratios from one run.

* ``stream`` — per-chunk latency and memory of a streaming rollout (:mod:`engine.bench.stream`), with the
  all-softmax comparison that shows linear versus quadratic growth.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from engine.bench.stream import benchmark_stream, format_table
from engine.bundles import load_bundle
from engine.commands.arguments import check_output_folders, image_size, write_json_result
from engine.errors import ConfigError
from engine.model.chunks import AttentionWindow
from engine.model.config import PRESETS


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("bench", help="benchmarks (ratios measured in one run)")
    bsub = p.add_subparsers(dest="bench_command", metavar="BENCHMARK", required=True)
    s = bsub.add_parser(
        "stream",
        help="per-chunk latency and memory of a streaming rollout, hybrid vs. all-softmax",
        description="Roll out N chunks of a random-weight preset from a start frame while driving forward, and "
        "report early vs. late chunk time, peak RSS at N/10 and N, and the cache size; then the same rollout "
        "with every block softmax and full-history K/V (quadratic total cost).",
    )
    s.add_argument("--preset", default="sana-wm-tiny-test", choices=sorted(PRESETS), help="model size (random weights)")
    s.add_argument("--model", metavar="FOLDER", help="benchmark a model folder instead of a random preset "
                   "('embedded' = the shipped default model); its own frame size is used")
    s.add_argument("--chunks", type=int, default=60, help="chunks to generate (default 60 = 90 s of video)")
    s.add_argument("--size", type=image_size, default=(320, 176), metavar="WxH", help="frame size (default 320x176)")
    s.add_argument("--spatial-factor", type=int, default=16, help="pixels per latent cell (default 16)")
    s.add_argument("--window", type=int, default=2, help="cached chunks seen by softmax blocks (default 2)")
    s.add_argument("--no-sink", action="store_true", help="do not keep the image chunk as an attention sink")
    s.add_argument("--no-softmax-baseline", action="store_true", help="skip the all-softmax comparison")
    s.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice)")
    s.add_argument("--json", type=Path, metavar="PATH", help="also write the results as JSON ('-' = stdout)")
    s.add_argument("--quiet", action="store_true", help="no per-chunk progress line")
    s.set_defaults(handler=run_stream)


def run_stream(args: argparse.Namespace) -> int:
    if args.chunks < 2:
        raise ConfigError(f"--chunks: expected at least 2, found {args.chunks}")
    for option, value, low in (("--spatial-factor", args.spatial_factor, 1), ("--window", args.window, 0),
                               ("--threads", args.threads, 1)):  # fmt: skip
        if value is not None and value < low:
            raise ConfigError(f"{option}: expected a whole number >= {low}, found {value}")
    check_output_folders(json=args.json)
    if args.threads:
        torch.set_num_threads(args.threads)
    width, height = args.size
    if width % args.spatial_factor or height % args.spatial_factor:
        raise ConfigError(f"--size {width}x{height}: expected multiples of --spatial-factor {args.spatial_factor}")

    def progress(variant: str, done: int, total: int, ms: float) -> None:
        if not args.quiet:
            print(f"\r{variant}: chunk {done}/{total} ({ms:.0f} ms)   ", end="", file=sys.stderr, flush=True)

    model = args.preset
    if args.model:
        model = load_bundle(None if args.model == "embedded" else args.model, refiner=False)
    result = benchmark_stream(
        model,
        args.chunks,
        frame_size=args.size,
        spatial_factor=args.spatial_factor,
        window=AttentionWindow(args.window, sink=not args.no_sink),
        compare_softmax=not args.no_softmax_baseline,
        progress=progress,
    )
    if not args.quiet:
        print(file=sys.stderr)
    print(format_table(result))
    write_json_result(args.json, result.as_dict())
    return 0
