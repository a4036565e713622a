"""``sana-wm bench``: measured performance, printed as ratios from one run.

* ``stream`` — per-chunk latency and memory of a streaming rollout (:mod:`engine.bench.stream`), with the
  all-softmax comparison that shows linear versus quadratic growth; with ``--device`` (or ``--scan`` / ``--memory``)
  instead every gated-delta scan implementation x memory tier on that device (:mod:`engine.bench.gpu_stream`).
* ``soak`` — a long session that drives, rewinds and branches (:mod:`engine.bench.soak`): RSS, chunk time and held
  chunks over the first and last tenth of the run.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from engine.bench.soak import format_table as format_soak
from engine.bench.soak import run_soak
from engine.bench.gpu_stream import CODECS, benchmark_matrix, describe_device, format_matrix, parse_list
from engine.bench.stream import benchmark_stream, format_table
from engine.bundles import load_bundle
from engine.commands.arguments import check_output_folders, image_size, write_json_result
from engine.commands.progress import ProgressLine
from engine.errors import ConfigError
from engine.model.chunks import AttentionWindow
from engine.memory.tiers import TIERS
from engine.model.config import PRESETS
from engine.ops.gated_delta import IMPLEMENTATIONS

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


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
    s.add_argument("--device", help="run the scan x tier matrix on this device (cuda, cuda:N or cpu) instead of the "
                   "hybrid vs all-softmax comparison")  # fmt: skip
    s.add_argument("--dtype", choices=sorted(DTYPES), help="matrix: weights' dtype (default bfloat16 on CUDA, float32 "
                   "on the CPU)")  # fmt: skip
    s.add_argument("--scan", help=f"matrix: scan implementations, 'all' (default) or a list from {', '.join(IMPLEMENTATIONS)}")
    s.add_argument("--memory", help=f"matrix: memory tiers, 'all' (default) or a list from {', '.join(TIERS)}")
    s.add_argument("--codec", choices=CODECS, help="matrix: the latent codec: ltx2 = the LTX-2.0 VAE with random "
                   "weights (default with the 720p preset), patch = the zero-parameter stand-in")  # fmt: skip
    s.add_argument("--model", metavar="FOLDER", help="benchmark a model folder instead of a random preset "
                   "('embedded' = the shipped default model); its own frame size is used")
    s.add_argument("--chunks", type=int, help="chunks to generate (default 60 = 90 s of video; matrix: 10 per run)")
    s.add_argument("--size", type=image_size, metavar="WxH",
                   help="frame size (default 320x176; 1280x704 for the matrix of the 720p preset)")  # fmt: skip
    s.add_argument("--spatial-factor", type=int, help="pixels per latent cell (default 16; 32 for the matrix of the "
                   "720p preset, the LTX-2 VAE's)")  # fmt: skip
    s.add_argument("--window", type=int, default=2, help="cached chunks seen by softmax blocks (default 2)")
    s.add_argument("--no-sink", action="store_true", help="do not keep the image chunk as an attention sink")
    s.add_argument("--no-softmax-baseline", action="store_true", help="skip the all-softmax comparison")
    s.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice)")
    s.add_argument("--json", type=Path, metavar="PATH", help="also write the results as JSON ('-' = stdout)")
    s.add_argument("--quiet", action="store_true", help="no per-chunk progress line")
    s.set_defaults(handler=run_stream)

    k = bsub.add_parser(
        "soak",
        help="drive, rewind and branch a session for MINUTES; RSS, chunk time and held chunks at the start and end",
        description="Drive the embedded model (or --model) with random keys, rewinding to earlier chunks and to the "
        "start over and over, for --minutes of wall-clock time; report process RSS, per-chunk time and the chunks "
        "the session holds over the first and the last tenth of the run, with their ratios (flat = 1).",
    )
    k.add_argument("--minutes", type=float, default=30.0, help="wall-clock length (default 30)")
    k.add_argument("--model", metavar="FOLDER", help="a model folder (default: the embedded model)")
    k.add_argument("--seed", type=int, default=0, help="keys, rewinds and noise (default 0)")
    k.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice)")
    k.add_argument("--json", type=Path, metavar="PATH", help="also write the summary as JSON ('-' = stdout)")
    k.add_argument("--quiet", action="store_true", help="no progress line")
    k.set_defaults(handler=run_soak_command)


def run_soak_command(args: argparse.Namespace) -> int:
    if not 0 < args.minutes <= 24 * 60:
        raise ConfigError(f"--minutes: expected a length in (0, 1440], found {args.minutes:g}")
    if args.threads is not None and args.threads < 1:
        raise ConfigError(f"--threads: expected a whole number >= 1, found {args.threads}")
    check_output_folders(json=args.json)
    if args.threads:
        torch.set_num_threads(args.threads)
    bundle = load_bundle(args.model, refiner=False)

    bar = ProgressLine(enabled=not args.quiet)

    def progress(run) -> None:
        stage = f"soak chunk {len(run.chunk_ms)} ({run.chunk_ms[-1]:.0f} ms, RSS {run.rss[-1] / 1024**2:.0f} MiB), second"
        bar.update(stage, min(int(run.t_s[-1]), int(60 * args.minutes)), int(60 * args.minutes))

    run = run_soak(bundle, args.minutes, seed=args.seed, progress=progress)
    bar.close()
    print(format_soak(run))
    write_json_result(args.json, run.summary())
    return 0


def _matrix_mode(args: argparse.Namespace) -> bool:
    return any(v is not None for v in (args.device, args.dtype, args.scan, args.memory, args.codec))


def run_stream(args: argparse.Namespace) -> int:
    matrix = _matrix_mode(args)
    official = args.preset == "sana-wm-1600m-720p" and matrix
    args.chunks = args.chunks if args.chunks is not None else (10 if matrix else 60)
    args.size = args.size or ((1280, 704) if official else (320, 176))
    args.spatial_factor = args.spatial_factor or (32 if official else 16)
    if args.chunks < 2:
        raise ConfigError(f"--chunks: expected at least 2, found {args.chunks}")
    for option, value, low in (("--spatial-factor", args.spatial_factor, 1), ("--window", args.window, 0),
                               ("--threads", args.threads, 1)):  # fmt: skip
        if value is not None and value < low:
            raise ConfigError(f"{option}: expected a whole number >= {low}, found {value}")
    check_output_folders(json=args.json)
    if args.threads:
        torch.set_num_threads(args.threads)
    if matrix:
        return run_matrix(args, official)
    width, height = args.size
    if width % args.spatial_factor or height % args.spatial_factor:
        raise ConfigError(f"--size {width}x{height}: expected multiples of --spatial-factor {args.spatial_factor}")

    bar = ProgressLine(enabled=not args.quiet)  # redraws on a terminal; into a log, a line every few seconds

    def progress(variant: str, done: int, total: int, ms: float) -> None:
        bar.update(f"{variant} chunk", done, total)

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
    bar.close()
    print(format_table(result))
    write_json_result(args.json, result.as_dict())
    return 0


def matrix_device(text: str | None) -> torch.device:
    """``--device`` of the matrix: cpu, or a CUDA device that exists (default: CUDA when available)."""
    try:
        device = torch.device(text or ("cuda" if torch.cuda.is_available() else "cpu"))
    except (RuntimeError, ValueError):
        raise ConfigError(f"--device: expected cpu or cuda (cuda:N), found {text!r}") from None
    if device.type not in ("cpu", "cuda") or (device.type == "cuda" and not torch.cuda.is_available()):
        found = "cuda, but no CUDA device is available" if device.type == "cuda" else repr(text)
        raise ConfigError(f"--device: expected cpu or an available cuda device, found {found}")
    return device


def run_matrix(args: argparse.Namespace, official: bool) -> int:
    """``bench stream --device ...``: every scan x tier (engine.bench.gpu_stream)."""
    scans = parse_list(args.scan or "all", IMPLEMENTATIONS, "--scan")
    tiers = parse_list(args.memory or "all", TIERS, "--memory")
    if args.model:
        raise ConfigError("--model: the scan x tier matrix runs random weights of --preset; leave out --model")
    device = matrix_device(args.device)
    dtype = DTYPES[args.dtype] if args.dtype else (torch.bfloat16 if device.type == "cuda" else torch.float32)
    codec = args.codec or ("ltx2" if official else "patch")
    bar = ProgressLine(enabled=not args.quiet)
    rows = benchmark_matrix(args.preset, device, dtype=dtype, scans=scans, tiers=tiers, chunks=args.chunks,
                            frame_size=args.size, spatial_factor=args.spatial_factor, codec=codec,
                            progress=lambda label, done, total: bar.update(f"{label} chunk", done, total))  # fmt: skip
    bar.close()
    width, height = args.size
    header = (f"streaming: preset {args.preset} (random weights), {width}x{height}, {describe_device(device)}, "
              f"{str(dtype).removeprefix('torch.')}, codec {codec}, {args.chunks} chunks of 24 frames per run")  # fmt: skip
    print(format_matrix(rows, header=header))
    write_json_result(args.json, {"preset": args.preset, "device": describe_device(device), "dtype": str(dtype),
                                  "frame_size": [width, height], "codec": codec, "chunks": args.chunks,
                                  "rows": [r.summary() for r in rows]})  # fmt: skip
    return 0
