"""``sana-wm depth``: the monocular depth estimator (see docs/depth.md).

* ``train --out RUN`` — train on procedural frames with exact depth (resumable: ``--resume``);
* ``eval --weights FILE | --run RUN`` — AbsRel, δ<1.25 on held-out worlds, and ms per frame on N threads;
* ``export --run RUN --out FILE`` — the run's newest weights as the shipped safetensors file.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from engine.commands.arguments import image_size
from engine.errors import ConfigError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("depth", help="monocular depth estimator: train, evaluate, export")
    dsub = p.add_subparsers(dest="depth_command", metavar="ACTION", required=True)

    t = dsub.add_parser("train", help="train the depth network on procedural frames (resumable)",
                        description="Train the depth network on frames of procedural worlds rendered with exact "
                        "depth. Writes RUN/config.json, RUN/checkpoints/, RUN/log.csv, RUN/heldout.csv.")
    t.add_argument("--out", type=Path, required=True, help="run folder, e.g. runs/depth/main")
    t.add_argument("--resume", action="store_true", help="continue the run in --out from its newest checkpoint")
    t.add_argument("--steps", type=int, help="total optimiser steps (default 5000; may be raised on --resume)")
    t.add_argument("--batch", type=int, help="frames per step (default 8)")
    t.add_argument("--lr", type=float, help="peak learning rate (default 2e-3)")
    t.add_argument("--widths", type=lambda s: tuple(int(v) for v in s.split(",")), help="stage widths, e.g. 16,32,64,96,128")
    t.add_argument("--size", type=image_size, metavar="WxH", help="rendered frame size (default 320x176)")
    t.add_argument("--crop", type=image_size, metavar="WxH", help="random training crops (default 192x112)")
    t.add_argument("--pool-clips", type=int, help="clips held in memory (3 frames each; default 150)")
    t.add_argument("--threads", type=int, help="torch threads (default 1: on a shared machine 2 threads "
                   "stall on each other)")
    t.add_argument("--checkpoint-minutes", type=float, help="minutes between checkpoints (default 4)")
    t.add_argument("--minutes", type=float, help="stop (with a checkpoint) after this many minutes")
    t.add_argument("--seed", type=int, help="training seed (default 0)")
    t.add_argument("--quiet", action="store_true", help="no progress lines")
    t.set_defaults(handler=run_train)

    e = dsub.add_parser("eval", help="AbsRel and δ<1.25 on held-out worlds, and ms per frame",
                        description="Score depth weights on frames of held-out procedural worlds (a dataset seed "
                        "training never uses) or on a synth dataset folder with depth, and time the network.")
    src = e.add_mutually_exclusive_group(required=True)
    src.add_argument("--weights", type=Path, help="a depth.safetensors file")
    src.add_argument("--run", type=Path, help="a training run folder (its newest checkpoint)")
    e.add_argument("--clips", type=int, default=40, help="held-out clips (3 frames each, 2 clips per world; default 40)")
    e.add_argument("--data", type=Path, help="score on this synth dataset folder (with depth) instead")
    e.add_argument("--threads", type=int, default=2, help="torch threads for the timing (default 2)")
    e.add_argument("--json", type=Path, help="also write the numbers to this JSON file")
    e.add_argument("--figure", type=Path, help="also write a PNG: image | true depth | predicted depth for 6 frames")
    e.set_defaults(handler=run_eval)

    x = dsub.add_parser("export", help="write a run's newest weights as a depth.safetensors file")
    x.add_argument("--run", type=Path, required=True, help="training run folder")
    x.add_argument("--out", type=Path, required=True, help="output .safetensors file")
    x.set_defaults(handler=run_export)


_FLAGS = {"steps": "steps", "crop": "crop", "batch": "batch_size", "lr": "lr", "widths": "widths", "size": "size",
          "pool_clips": "pool_clips", "threads": "threads", "checkpoint_minutes": "checkpoint_minutes", "seed": "seed"}  # fmt: skip


def run_train(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from engine.depth.train import DepthTrainConfig, TrainReport, train

    base = DepthTrainConfig()
    if args.resume and (args.out / "config.json").is_file():
        base = DepthTrainConfig.from_json(json.loads((args.out / "config.json").read_text(encoding="utf-8")))
    config = replace(base, **{f: getattr(args, a) for a, f in _FLAGS.items() if getattr(args, a) is not None})

    def show(r: TrainReport) -> None:
        if args.quiet:
            return
        if r.heldout is not None or r.step % 50 == 0:
            left = (config.steps - r.step) * r.seconds_per_step
            extra = ""
            if r.heldout is not None:
                extra = f"  held-out AbsRel {r.heldout['abs_rel']:.3f} δ<1.25 {r.heldout['delta1']:.3f}"
            print(f"depth: step {r.step}/{config.steps} loss {r.loss:.4f} lr {r.lr:.2e} {r.seconds_per_step:.2f} s/step "
                  f"wall {r.wall_time_s / 60:.1f} min ETA {left / 60:.0f} min{extra}", file=sys.stderr, flush=True)

    path = train(args.out, config, resume=args.resume, progress=show, max_minutes=args.minutes)
    print(f"depth run {args.out}: checkpoint {path}")
    return 0


def run_eval(args: argparse.Namespace) -> int:
    from engine.depth.evaluate import evaluate

    if args.clips < 1 or args.threads < 1:
        raise ConfigError("--clips and --threads must be at least 1")
    result = evaluate(weights=args.weights, run=args.run, clips=args.clips, data=args.data, threads=args.threads,
                      figure=args.figure)
    where = f"dataset {args.data}" if args.data else "held-out"
    print(f"depth eval ({result['source']}): {result['frames']} frames of {result['worlds']} {where} worlds at "
          f"{result['size'][0]}x{result['size'][1]}")
    print(f"  AbsRel {result['abs_rel']:.4f}   δ<1.25 {result['delta1']:.4f}   RMSE(log) {result['rmse_log']:.4f}   "
          f"sky accuracy {result['sky_accuracy']:.4f}")
    print(f"  scale-aligned per frame (diagnostic): AbsRel {result['abs_rel_aligned']:.4f}   "
          f"δ<1.25 {result['delta1_aligned']:.4f}")
    print(f"  {result['ms_per_frame']:.1f} ms per frame on {args.threads} thread(s) (median of {result['timed_runs']}; "
          f"best {result['ms_per_frame_best']:.1f} ms)")
    if args.json:
        from engine.io.atomic import atomic_write_text

        atomic_write_text(args.json, json.dumps(result, indent=1) + "\n")
    return 0


def run_export(args: argparse.Namespace) -> int:
    from engine.depth.estimator import save_depth_weights
    from engine.depth.train import list_checkpoints, net_from_checkpoint

    found = list_checkpoints(args.run)
    if not found:
        raise ConfigError(f"depth run {args.run}: holds no checkpoints")
    net, data = net_from_checkpoint(found[-1])
    save_depth_weights(net, args.out, extra={"step": str(data["step"]), "source": str(found[-1])})
    print(f"wrote {args.out} (step {data['step']})")
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m engine.commands.depth ...``: the same sub-command without loading the other commands
    (handy for a long background run)."""
    import logging

    from engine.errors import SanaWMInputError

    parser = argparse.ArgumentParser(prog="sana-wm")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["depth", *(sys.argv[1:] if argv is None else argv)])
    logging.basicConfig(level=logging.WARNING, format="sana-wm: %(levelname)s: %(message)s")
    try:
        return int(args.handler(args) or 0)
    except SanaWMInputError as exc:
        print(f"sana-wm: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
