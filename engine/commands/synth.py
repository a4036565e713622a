"""``sana-wm synth``: procedural training clips, demo scenes and previews (see docs/synth.md).

* ``dataset --out DIR --clips N`` — render seeded clips (frames, exact poses and intrinsics, action strings);
* ``demos --out DIR`` — demo scenes (start image, camera, title, suggested action);
* ``preview --out FILE.png|.gif`` — one dataset clip as a contact sheet or an animated GIF, for eyeballing;
  ``--depth`` puts each frame's ground-truth depth (colour-mapped) under it.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from engine.io.atomic import atomic_path
from engine.commands.arguments import image_size
from engine.errors import ConfigError
from engine.synth.dataset import FRAME_CODECS, QUALITIES, DatasetConfig, Progress
from engine.synth.world import THEMES


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("synth", help="procedural 3D worlds: training clips, demo scenes, previews")
    ssub = p.add_subparsers(dest="synth_command", metavar="ACTION", required=True)

    d = ssub.add_parser("dataset", help="render seeded training clips to a folder",
                        description="Render clips of procedural worlds along random held-key camera paths. "
                        "Each clip is DIR/clips/clip_NNNNNN.npz; DIR/index.json lists them (format in docs/synth.md). "
                        "Existing clips are kept, so an interrupted run resumes.")
    d.add_argument("--out", type=Path, required=True, help="output folder")
    d.add_argument("--clips", type=int, default=100, help="number of clips (default 100)")
    _add_clip_options(d)
    d.add_argument("--workers", type=int, default=1, help="rendering processes (default 1)")
    d.add_argument("--clips-per-world", type=int, default=4, help="clips rendered in each world (default 4)")
    d.add_argument("--codec", choices=FRAME_CODECS, default="jpeg", help="frame storage: jpeg (q95, default) or raw (lossless)")
    d.add_argument("--no-depth", dest="depth", action="store_false",
                   help="do not store ground-truth depth (smaller clips; format version 2 without 'depth')")
    d.add_argument("--overwrite", action="store_true", help="re-render existing clips / replace another dataset's index")
    d.set_defaults(handler=run_dataset)

    m = ssub.add_parser("demos", help="write demo scenes (image.png + scene.json per scene)")
    m.add_argument("--out", type=Path, required=True, help="output folder (one sub-folder per scene)")
    m.add_argument("--size", type=image_size, default=(1280, 704), metavar="WxH", help="image size (default 1280x704)")
    m.add_argument("--only", action="append", metavar="NAME", help="write only this demo (repeatable)")
    m.set_defaults(handler=run_demos)

    v = ssub.add_parser("preview", help="render one dataset clip as a contact sheet (.png) or animation (.gif)")
    v.add_argument("--out", type=Path, required=True, help="output .png (contact sheet) or .gif (animation)")
    v.add_argument("--index", type=int, default=0, help="clip index in the dataset of --seed (default 0)")
    _add_clip_options(v)
    v.add_argument("--every", type=int, default=6, help="contact sheet: every Nth frame (default 6)")
    v.add_argument("--depth", action="store_true",
                   help="show each frame's exact depth under it (log colours: near warm, far blue, sky black)")
    v.set_defaults(handler=run_preview)


def _add_clip_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--seed", type=int, default=0, help="dataset seed (default 0)")
    p.add_argument("--frames", type=int, default=49, help="frames per clip, 1 + 8k (default 49)")
    p.add_argument("--size", type=image_size, default=(320, 176), metavar="WxH", help="frame size (default 320x176)")
    p.add_argument("--theme", action="append", choices=THEMES, help="restrict to these themes (repeatable; default all)")
    p.add_argument("--quality", choices=sorted(QUALITIES), default="default",
                   help="anti-aliasing: fast (none), default (4x MSAA), high (4x MSAA + 2x2 supersampling)")


def _config(args: argparse.Namespace, clips: int) -> DatasetConfig:
    return DatasetConfig(
        seed=args.seed,
        clips=clips,
        num_frames=args.frames,
        size=args.size,
        clips_per_world=getattr(args, "clips_per_world", 4),
        themes=tuple(args.theme) if args.theme else THEMES,
        quality=args.quality,
        frames_codec=getattr(args, "codec", "jpeg"),
        depth=bool(getattr(args, "depth", True)),
    )


def _renderer_guard(fn):
    """Run ``fn``; turn a missing GL/EGL stack into one line on stderr and exit code 1."""
    from engine.synth.renderer import RendererUnavailableError

    try:
        return fn()
    except RendererUnavailableError as exc:
        print(f"sana-wm: error: {exc}", file=sys.stderr)
        return 1


def run_dataset(args: argparse.Namespace) -> int:
    from engine.synth.dataset import generate_dataset

    if args.workers < 1:
        raise ConfigError(f"--workers: expected at least 1, found {args.workers}")
    config = _config(args, args.clips)

    def show(p: Progress) -> None:
        rate = p.frames_per_s
        left = (p.total - p.done) * config.num_frames / rate if rate > 0 else float("nan")
        eta = f"{left:.0f} s" if left == left else "?"
        end = "\n" if p.done == p.total else ""
        print(f"\rsynth: {p.done}/{p.total} clips ({p.skipped} kept)  {rate:.1f} frames/s  ETA {eta}   ",
              end=end, file=sys.stderr, flush=True)

    def work() -> int:
        index = generate_dataset(args.out, config, workers=args.workers, progress=show, overwrite=args.overwrite)
        print(f"wrote {config.clips} clips of {config.num_frames} frames at {config.size[0]}x{config.size[1]}; index {index}")
        return 0

    return _renderer_guard(work)


def run_demos(args: argparse.Namespace) -> int:
    from engine.synth.demos import DEMOS, write_demos

    demos = DEMOS
    if args.only:
        names = {d.name for d in DEMOS}
        unknown = sorted(set(args.only) - names)
        if unknown:
            raise ConfigError(f"--only: unknown demo(s) {unknown}; expected some of {', '.join(sorted(names))}")
        demos = tuple(d for d in DEMOS if d.name in args.only)

    def work() -> int:
        written = write_demos(args.out, size=args.size, demos=demos)
        for path in written:
            print(f"wrote {path.parent}")
        return 0

    return _renderer_guard(work)


def run_preview(args: argparse.Namespace) -> int:
    from engine.synth.dataset import ClipMaker

    suffix = args.out.suffix.lower()
    if suffix not in (".png", ".gif"):
        raise ConfigError(f"--out {args.out}: expected a .png (contact sheet) or .gif (animation) file")
    if args.index < 0 or args.every < 1:
        raise ConfigError("--index must be >= 0 and --every >= 1")
    config = _config(args, args.index + 1)

    def work() -> int:
        maker = ClipMaker(config)
        try:
            clip = maker.make(args.index)
        finally:
            maker.release()
        frames = clip.frames
        if clip.depth is not None:
            from engine.depth.colormap import depth_to_rgb

            frames = np.concatenate([frames, depth_to_rgb(clip.depth)], axis=1)  # depth under each frame
        with atomic_path(args.out) as tmp:
            if suffix == ".gif":
                images = [Image.fromarray(f) for f in frames]
                images[0].save(tmp, format="GIF", save_all=True, append_images=images[1:],
                               duration=int(round(1000 / config.path.fps)), loop=0)
            else:
                Image.fromarray(contact_sheet(frames[:: args.every])).save(tmp, format="PNG")
        p = clip.plan
        print(f"clip {args.index}: {clip.spec.theme} (world {clip.spec.world_seed}), {p.kind}, "
              f"action {p.action} ({p.action_version}), FOV {p.fov_deg:.1f} deg -> {args.out}")
        return 0

    return _renderer_guard(work)


def contact_sheet(frames: np.ndarray, columns: int = 4, gap: int = 2) -> np.ndarray:
    """Tile ``(N, H, W, 3)`` frames row by row into one image with ``gap`` white pixels between them."""
    n, h, w, _ = frames.shape
    columns = max(1, min(columns, n))
    rows = -(-n // columns)
    sheet = np.full((rows * h + (rows - 1) * gap, columns * w + (columns - 1) * gap, 3), 255, np.uint8)
    for k, frame in enumerate(frames):
        r, c = divmod(k, columns)
        sheet[r * (h + gap) : r * (h + gap) + h, c * (w + gap) : c * (w + gap) + w] = frame
    return sheet
