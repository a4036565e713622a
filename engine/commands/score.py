"""``sana-wm score VIDEO``: how well a video follows its camera path (SfM on the frames, docs/score.md).

``--validate N`` scores ground-truth renders of N held-out procedural worlds instead, with the three controls
(reversed, shuffled, static): the numbers docs/score.md reports.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from engine.commands.arguments import check_output_folders, load_intrinsics_file, write_json_result
from engine.commands.progress import ProgressLine
from engine.score.scorer import ScoreSettings, score_video


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "score",
        help="score how well a video follows its camera path",
        description="Estimate the camera of a video's frames with structure-from-motion (pycolmap, CPU, the known "
        "intrinsics), align them to the requested path by a similarity and report rotation error (degrees), "
        "translation error and CamMC as SANA-WM's benchmark names them, the share of frames registered, and "
        "revisit PSNR/SSIM where the path returns to an earlier pose. Needs pycolmap: pip install -e \".[batch]\".",
    )
    p.add_argument("video", type=Path, nargs="?", help="video file (its trajectory: the .npz beside it by default)")
    p.add_argument("--trajectory", type=Path, help="the requested camera path (any supported trajectory format)")
    p.add_argument("--intrinsics", type=Path, help=".npy [fx, fy, cx, cy] in pixels of the video (default: the path's)")
    p.add_argument("--stride", type=int, default=4, help="score every N-th frame (default 4, as SANA-WM-Bench)")
    p.add_argument("--min-registered", type=float, default=0.5,
                   help="share of scored frames SfM must register for a score (default 0.5)")
    p.add_argument("--threads", type=int, default=2, help="CPU threads for SfM (default 2)")
    p.add_argument("--plot", type=Path, help="PNG of the requested and estimated paths")
    p.add_argument("--json", type=Path, help="write the scores as JSON ('-' for stdout)")
    p.add_argument("--validate", type=int, metavar="N",
                   help="instead of a video: score ground-truth renders of N held-out worlds and the controls")
    p.add_argument("--frames", type=int, default=97, help="--validate: frames per rendered path (default 97)")
    p.add_argument("--model", help="--validate: also score this model's rollout along each path (a model folder, "
                   "or 'embedded' for the shipped model)")
    p.add_argument("--quiet", action="store_true", help="no progress line")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from engine.errors import InputFileError

    check_output_folders(plot=args.plot, json=args.json)
    settings = ScoreSettings(stride=args.stride, min_registered=args.min_registered, threads=args.threads)
    bar = ProgressLine(enabled=not args.quiet)
    if args.validate is not None:
        from engine.score.validate import validate

        bundle = None
        if args.model is not None:
            from engine.bundles import load_bundle

            bundle = load_bundle(None if args.model == "embedded" else Path(args.model))
        table = validate(args.validate, frames=args.frames, settings=settings, bundle=bundle, progress=bar.update)
        bar.close()
        print(table.markdown())
        write_json_result(args.json, table.to_dict())
        return 0 if table.passed else 1
    if args.video is None:
        raise InputFileError("VIDEO: expected a video file to score (or --validate N), found none")
    intrinsics = load_intrinsics_file(args.intrinsics) if args.intrinsics is not None else None
    report = score_video(args.video, args.trajectory, settings=settings, intrinsics=intrinsics, progress=bar.update)
    bar.close()
    if args.plot is not None and report.estimated is not None:
        from engine.score.plot import plot_paths

        plot_paths(report.requested, report.estimated, args.plot, title=Path(args.video).name)
    print(report.summary())
    write_json_result(args.json, report.to_dict())
    if not report.is_scored:
        print(f"sana-wm: {report.message}", file=sys.stderr)
        return 1
    return 0
