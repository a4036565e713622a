"""Measure sharp frames (docs/embedded_model.md, "Sharp frames"): the same held-out worlds streamed with
``StreamSettings.sharp_frames`` off and on (and variants of :class:`SharpSettings`), PSNR and sharpness ratio at
each horizon (a 5-frame window around it, as ``sana-wm eval``), frames in range (the drift check of ``sana-wm
eval`` over the streamed frames), the sharpness of the frames between key frames over the key frames' (1 = no
pulse), block-grid energy over the whole rollout.

    OMP_NUM_THREADS=1 python -m engine.eval.sharp_probe --worlds 2 --horizons 1,5
    OMP_NUM_THREADS=1 python -m engine.eval.sharp_probe --seed 1000 --worlds 4 --horizons 1,5,20  # choose here
"""

from __future__ import annotations

import argparse
import dataclasses
import json

import numpy as np
import torch

import engine.components.guided_decode as gd
import engine.generation.session as session_module
from engine.bundles import load_bundle
from engine.camera.poses import relative_to_first
from engine.eval.metrics import psnr, sharpness, sharpness_ratio
from engine.errors import SanaWMInputError, one_line
from engine.eval.protocol import EvalConfig, drift_in_range, make_scenes
from engine.generation.session import StreamSettings, WorldSession
from engine.synth.renderer import Renderer


def between_over_key(frames: np.ndarray, truth: np.ndarray, every: int = 8) -> float:
    """Mean sharpness ratio (generated / truth, per frame) of the frames between latent key frames over that of the
    key frames (pixel frames ``every * j``, frame 0 left out): 1.0 = no pulse of sharpness between key frames."""
    ratio = sharpness(frames[1:]) / sharpness(truth[1:])
    key = np.arange(1, len(frames)) % every == 0
    return float(np.nanmean(ratio[~key]) / np.nanmean(ratio[key]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worlds", type=int, default=2)
    parser.add_argument("--horizons", default="1,5", help="seconds, comma-separated (streamed up to the last)")
    parser.add_argument("--seed", type=int, default=0, help="held-out world seed offset (as sana-wm eval --seed)")
    parser.add_argument("--variants", default='{"plain": null, "sharp": {}}',
                        help="JSON {name: SharpSettings fields over those of its sharp_decode version (plus commit_shown: false, "
                             "sharp_decode: N), or null for sharp frames off}")
    args = parser.parse_args()
    try:
        horizons = tuple(float(h) for h in args.horizons.split(","))
    except ValueError:
        parser.error(f"--horizons: expected seconds separated by commas, e.g. 1,5,20, found {args.horizons!r}")
    try:
        variants = json.loads(args.variants)
        config = EvalConfig(scenes=args.worlds, horizons_s=horizons, drift_seconds=0, seed=args.seed)
    except json.JSONDecodeError as exc:
        parser.error(f"--variants: expected a JSON object, {exc}")
    except SanaWMInputError as exc:
        parser.error(one_line(exc))
    if not isinstance(variants, dict):
        parser.error(f"--variants: expected a JSON object {{name: settings}}, found {type(variants).__name__}")
    known = {f.name for f in dataclasses.fields(gd.SharpSettings)} | {"commit_shown", "sharp_decode"}
    for name, fields in variants.items():
        if fields is not None and (not isinstance(fields, dict) or set(fields) - known):
            parser.error(f"--variants {name}: expected null or an object with keys among {', '.join(sorted(known))}, "
                         f"found {json.dumps(fields)}")  # fmt: skip
        if fields is not None and fields.get("sharp_decode", StreamSettings.sharp_decode) not in gd.SHARP_DECODES:
            parser.error(f"--variants {name}: sharp_decode: expected one of {', '.join(map(str, gd.SHARP_DECODES))}, "
                         f"found {json.dumps(fields['sharp_decode'])}")  # fmt: skip
        try:
            gd.SharpSettings(**{k: v for k, v in (fields or {}).items() if k not in ("commit_shown", "sharp_decode")})
        except SanaWMInputError as exc:
            parser.error(f"--variants {name}: {one_line(exc)}")
    torch.set_num_threads(1)
    bundle = load_bundle()
    renderer = Renderer()
    scenes = make_scenes(config, bundle.frame_size, renderer)
    renderer.release()
    at, half = config.horizon_frames(), config.window
    chunks = (config.path_frames() - 1) // 24  # the rendered paths hold every horizon's window
    n = 1 + 24 * chunks
    for name, fields in variants.items():
        fields = None if fields is None else dict(fields)
        commit_shown = True if fields is None else bool(fields.pop("commit_shown", True))
        version = StreamSettings.sharp_decode if fields is None else int(fields.pop("sharp_decode", StreamSettings.sharp_decode))
        session_module.sharp_decode = lambda v, f=fields or {}: dataclasses.replace(
            gd.sharp_decode(v), settings=dataclasses.replace(gd.sharp_decode(v).settings, **f))
        rows, grids, decode, in_range, pulse = [], [], [], [], []
        for scene in scenes:
            rel, k = relative_to_first(scene.path.c2w[:n]), scene.path.intrinsics[:n]
            settings = StreamSettings(seed=42, sharp_frames=fields is not None, commit_shown=commit_shown,
                                      sharp_decode=version)  # fmt: skip
            s = WorldSession(bundle, settings, keep_snapshots=False, keep_history=False)
            s.start(scene.truth[0], intrinsics=k[0])
            records = [s.step(rel[1 + 24 * c : 25 + 24 * c], k[1 + 24 * c : 25 + 24 * c]) for c in range(chunks)]
            frames = np.concatenate([r.frames for r in records])
            decode += [r.timings["decode"] for r in records]
            grids.append(gd.block_grid_energy(frames))
            in_range.append(drift_in_range(frames, scene.truth[:n], config.drift_margin))
            pulse.append(between_over_key(frames, scene.truth[:n]))
            row = []
            for f in at:
                w = slice(f - half, f + half + 1)
                row += [float(np.mean(psnr(frames[w], scene.truth[w]))), sharpness_ratio(frames[w], scene.truth[w])]
            rows.append(row)
        m = np.mean(rows, 0)
        cells = ", ".join(f"{h:g} s {m[2 * i]:.2f} dB / {m[2 * i + 1]:.3f}" for i, h in enumerate(config.horizons_s))
        print(f"{name}: PSNR / sharpness {cells}; in range {100 * np.mean(in_range):.1f} %; "
              f"sharpness between / at key frames {np.mean(pulse):.3f}; "
              f"block grid {np.mean(grids):.2f}; "
              f"decode ms/chunk (median) {1000 * np.median(decode):.0f}", flush=True)


if __name__ == "__main__":
    main()
