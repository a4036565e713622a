"""``sana-wm eval``: score a model on held-out procedural worlds against ground-truth renders (docs/eval.md).

Prints the markdown table (the one in the README); ``--json`` / ``--markdown`` also write it to files.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from engine.io.atomic import atomic_write_text
from engine.bundles import load_bundle
from engine.commands.progress import ProgressLine
from engine.commands.arguments import check_output_folders, write_json_result
from engine.errors import ConfigError
from engine.eval.figure import write_horizon_figure
from engine.eval.protocol import EvalConfig, evaluate


def seconds_list(text: str) -> tuple[float, ...]:
    """``"1,5,20"`` -> ``(1.0, 5.0, 20.0)``."""
    try:
        values = tuple(float(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated seconds such as 1,5,20, found {text!r}") from None
    if not values or min(values) <= 0:
        raise argparse.ArgumentTypeError(f"expected positive seconds such as 1,5,20, found {text!r}")
    return values


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "eval",
        help="PSNR/SSIM, sharpness, parallax, revisit and drift scores on held-out worlds, with baselines",
        description="Roll the model out on held-out procedural worlds along camera paths and compare with "
        "ground-truth renders of the same poses: PSNR, SSIM and sharpness (gradient ratio) at each horizon, a "
        "parallax check (image expansion while driving forward), a revisit test (out and back) and a drift check; "
        "the same for the baselines 'repeat first frame', 'untrained model' and the start frame's world cache "
        "('cache render', scored where it covers; 'cache render + start frame', its holes filled from the start "
        "image, on whole frames).",
    )
    p.add_argument("--model", type=Path, help="model folder (default: the embedded model)")
    p.add_argument("--scenes", type=int, default=4, help="held-out worlds (default 4)")
    p.add_argument("--seed", type=int, default=0, help="offset of the first held-out world seed (default 0)")
    p.add_argument("--horizons", type=seconds_list, default=(1.0, 5.0, 20.0), metavar="S,S,...",
                   help="seconds at which to score (default 1,5,20)")
    p.add_argument("--drift-seconds", type=float, default=60.0, help="length of the drift check (default 60)")
    p.add_argument("--window", type=int, default=2, help="frames either side of a horizon to average (default 2)")
    p.add_argument("--exposure", type=int, default=0, metavar="CHUNKS",
                   help="also score CHUNKS chunks per scene fed the model's own chunks (free) and fed the ground "
                   "truth as context (teacher-forced), chunk by chunk: compounding error vs reach (default 0 = off)")
    p.add_argument("--no-baselines", action="store_true", help="score only the model")
    p.add_argument("--no-reanchor", action="store_true",
                   help="never re-anchor the stream, even when the model declares a trained context (to measure "
                   "what re-anchoring does; see docs/embedded_model.md)")
    p.add_argument("--contrast-floor", type=float, metavar="SHARE",
                   help="the model's stream contrast floor: no frame flatter than SHARE of the start image's luma "
                   "spread (0 = none; default: the model's own, none for the shipped models; see docs/streaming.md)")
    p.add_argument("--stream-seed", type=int, default=42, metavar="N",
                   help="noise seed of every stream (default 42, the session's); another seed is another draw of "
                   "the same model, to see how much the noise alone moves the numbers (docs/eval.md)")
    p.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice)")
    p.add_argument("--json", type=Path, metavar="PATH", help="also write the results as JSON ('-' = stdout)")
    p.add_argument("--markdown", type=Path, metavar="PATH", help="also write the table to a markdown file")
    p.add_argument("--figure", type=Path, metavar="PNG", help="also write ground truth above the cache renders, the "
                   "model's and the baselines' frames at each horizon, for one world (see --figure-world)")
    p.add_argument("--figure-world", type=int, default=0, metavar="K",
                   help="the world the figure shows: index 0..scenes-1 in this run (default 0, the first)")
    p.add_argument("--quiet", action="store_true", help="no progress line")
    p.set_defaults(handler=run_eval)


def run_eval(args: argparse.Namespace) -> int:
    if args.threads is not None:
        if args.threads < 1:
            raise ConfigError(f"--threads: expected at least 1, found {args.threads}")
        torch.set_num_threads(args.threads)
    if not 0 <= args.stream_seed < 2**63:
        raise ConfigError(f"--stream-seed: expected a number in [0, {2**63 - 1}], found {args.stream_seed}")
    check_output_folders(json=args.json, markdown=args.markdown, figure=args.figure)
    if args.figure_world != 0 and args.figure is None:
        raise ConfigError(f"--figure-world {args.figure_world}: only used with --figure PNG, which was not given")
    config = EvalConfig(scenes=args.scenes, seed=args.seed, horizons_s=args.horizons,
                        drift_seconds=args.drift_seconds, window=args.window, exposure_chunks=args.exposure,
                        example_world=args.figure_world, reanchor=not args.no_reanchor,
                        contrast_floor=args.contrast_floor, session_seed=args.stream_seed)
    bundle = load_bundle(args.model)
    line = ProgressLine(enabled=not args.quiet)
    try:
        result = evaluate(bundle, config, baselines=not args.no_baselines, progress=line.update)
    finally:
        line.close()
    table = result.to_markdown()
    print(table)
    if args.markdown is not None:
        atomic_write_text(args.markdown, table + "\n")
    write_json_result(args.json, result.as_dict())
    if args.figure is not None:
        write_horizon_figure(result, args.figure)
    return 0
