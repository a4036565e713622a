"""Measure the long-horizon drift of a streaming model and where it happens (docs/embedded_model.md, "What the drift
is made of"): the held-out worlds of ``sana-wm eval`` streamed for ``--seconds`` (60, the drift check's span) with
variants of :class:`~engine.generation.state.StreamSettings`; per variant, PSNR at each horizon, the frames in range
(the drift check of ``sana-wm eval``), and the palette's walk split by chunk kind: the mean per-chunk change
(signed, and its size) of the generated frames' luma mean *relative to the truth's*, in the chunks that re-anchor
the model's context and in the others.

Why the split: a biased walk that happens mostly at re-anchors is the fresh context's doing (its sink is four
generated latents, where training always showed a real image); one spread evenly over chunks is the sampler's or
the model's per-chunk bias. Choose settings on the validation worlds (``--seed 1000``, ``--seed 1004``), never on the
eval's own::

    OMP_NUM_THREADS=1 python -m engine.eval.drift_probe --seed 1000 --worlds 4
    OMP_NUM_THREADS=1 python -m engine.eval.drift_probe --seed 1000 --variants '{"3 steps": {"timesteps": [1000, 960, 889]}}'
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from dataclasses import dataclass

import numpy as np
import torch

from engine.bundles import load_bundle
from engine.errors import SanaWMInputError, one_line
from engine.eval.metrics import frame_stats
from engine.eval.protocol import (STAT_NAMES, EvalConfig, drift_breakdown, drift_in_range, horizon_scores,
                                  make_scenes)
from engine.eval.rollout import CHUNK_FRAMES, rollout
from engine.generation.sampling import self_forcing_sigmas
from engine.generation.session import StreamSettings
from engine.synth.renderer import Renderer

#: StreamSettings fields a variant may set (the sampling and context ones; the decode has ``sharp_probe``).
VARIANT_FIELDS = ("timesteps", "commit_shown", "reanchor", "seed", "contrast_floor", "contrast_cap", "reanchor_sink")


@dataclass(frozen=True)
class PaletteWalk:
    """The per-chunk change of (generated - truth) luma mean, in luma levels, averaged over the chunks that
    re-anchored and over the others (NaN where there are none): signed (the direction of the walk) and absolute
    (how far the palette jumps, whichever way); and the gap at the last chunk."""

    at_reanchor: float
    elsewhere: float
    jump_at_reanchor: float
    jump_elsewhere: float
    final_gap: float


def palette_walk(generated: np.ndarray, truth: np.ndarray, reanchored: np.ndarray) -> PaletteWalk:
    """Split the palette's walk by chunk kind.

    Args:
        generated, truth: ``(K, 4)`` per-chunk means of :func:`~engine.eval.metrics.frame_stats` (luma mean first).
        reanchored: ``(K,)`` bool, chunk ``k`` started a fresh context.

    The gap ``g_k = generated_k - truth_k`` (luma mean) discounts the world's own change of brightness; the walk of
    chunk ``k`` is ``g_k - g_{k-1}`` (chunk 0 has none).
    """
    generated, truth = np.asarray(generated, np.float64), np.asarray(truth, np.float64)
    reanchored = np.asarray(reanchored, bool)
    if generated.shape != truth.shape or generated.ndim != 2 or generated.shape[0] != reanchored.shape[0]:
        raise SanaWMInputError(f"palette_walk: expected (K, 4) stats and (K,) flags, found {generated.shape}, "
                               f"{truth.shape}, {reanchored.shape}")  # fmt: skip
    gap = generated[:, 0] - truth[:, 0]
    step = np.diff(gap)
    kind = reanchored[1:]
    mean = lambda v: float(v.mean()) if v.size else float("nan")  # noqa: E731
    return PaletteWalk(at_reanchor=mean(step[kind]), elsewhere=mean(step[~kind]), jump_at_reanchor=mean(abs(step[kind])),
                       jump_elsewhere=mean(abs(step[~kind])), final_gap=float(gap[-1]))  # fmt: skip


def chunk_stats(frames: np.ndarray, chunks: int) -> np.ndarray:
    """``(chunks, 4)`` mean :func:`~engine.eval.metrics.frame_stats` of each chunk's 24 frames (frame 0 left out)."""
    return np.stack([frame_stats(frames[1 + CHUNK_FRAMES * k : 1 + CHUNK_FRAMES * (k + 1)]).mean(0)
                     for k in range(chunks)])  # fmt: skip


def miss_summary(generated: np.ndarray, truth: np.ndarray, margin: float) -> str:
    """Which statistic takes frames out of range, e.g. ``"luma mean 12 % low / 0 % high, ..."``: per
    :data:`STAT_NAMES` entry, the share of frames below and above the truth's range ± ``margin`` (the drift check's
    test, one statistic at a time; a frame may miss on several)."""
    shares = drift_breakdown(generated, truth, margin)
    return ", ".join(f"{name} {100 * shares[f'{name} low']:.0f} % low / {100 * shares[f'{name} high']:.0f} % high"
                     for name in STAT_NAMES)  # fmt: skip


def parse_variants(text: str) -> dict[str, StreamSettings]:
    """``{name: StreamSettings}`` from ``--variants`` JSON (``{name: {field: value}}``; ``{}`` = the defaults)."""
    try:
        variants = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SanaWMInputError(f"--variants: expected a JSON object, {exc}") from None
    if not isinstance(variants, dict) or not variants:
        raise SanaWMInputError(f"--variants: expected a non-empty JSON object {{name: settings}}, found {text!r}")
    out = {}
    for name, fields in variants.items():
        if not isinstance(fields, dict) or set(fields) - set(VARIANT_FIELDS):
            raise SanaWMInputError(f"--variants {name}: expected an object with keys among "
                                   f"{', '.join(VARIANT_FIELDS)}, found {json.dumps(fields)}")  # fmt: skip
        for key in ("commit_shown", "reanchor"):
            if key in fields and not isinstance(fields[key], bool):
                raise SanaWMInputError(f"--variants {name}: {key}: expected true or false, found {json.dumps(fields[key])}")
        if "seed" in fields and (isinstance(fields["seed"], bool) or not isinstance(fields["seed"], int)):
            raise SanaWMInputError(f"--variants {name}: seed: expected an integer, found {json.dumps(fields['seed'])}")
        for key in ("contrast_floor", "contrast_cap"):
            if key in fields and (isinstance(fields[key], bool) or not isinstance(fields[key], (int, float))):
                raise SanaWMInputError(f"--variants {name}: {key}: expected a number, found {json.dumps(fields[key])}")
        if "timesteps" in fields:
            given = fields["timesteps"]
            if not isinstance(given, list) or not all(isinstance(t, (int, float)) and not isinstance(t, bool) for t in given):
                raise SanaWMInputError(f"--variants {name}: timesteps: expected a list of numbers, found {json.dumps(given)}")
            timesteps = tuple(float(t) for t in given)
            try:
                self_forcing_sigmas(timesteps)
            except SanaWMInputError as exc:
                raise SanaWMInputError(f"--variants {name}: {one_line(exc)}") from None
            fields = {**fields, "timesteps": timesteps}
        try:
            out[name] = dataclasses.replace(StreamSettings(), **fields)
        except SanaWMInputError as exc:
            raise SanaWMInputError(f"--variants {name}: {one_line(exc)}") from None
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="bundle folder (default: the shipped embedded model)")
    parser.add_argument("--worlds", type=int, default=4)
    parser.add_argument("--seed", type=int, default=1000, help="held-out world seed offset (as sana-wm eval --seed)")
    parser.add_argument("--seconds", type=float, default=60.0, help="length of each stream (the drift span)")
    parser.add_argument("--variants", default='{"shipped": {}}',
                        help=f"JSON {{name: StreamSettings fields}} (among {', '.join(VARIANT_FIELDS)})")
    args = parser.parse_args()
    if args.worlds < 1:
        parser.error(f"--worlds: expected at least 1, found {args.worlds}")
    if not args.seconds > 0:
        parser.error(f"--seconds: expected a positive number of seconds, found {args.seconds:g}")
    try:
        variants = parse_variants(args.variants)
        config = EvalConfig(scenes=args.worlds, seed=args.seed, drift_seconds=args.seconds)
        torch.set_num_threads(1)
        bundle = load_bundle(args.model)
    except SanaWMInputError as exc:
        parser.error(one_line(exc))
    with Renderer() as renderer:
        scenes = make_scenes(config, bundle.frame_size, renderer)
    chunks = (config.path_frames() - 1) // CHUNK_FRAMES
    n = round(config.drift_seconds * config.fps) + 1
    for name, settings in variants.items():
        rows = []
        for scene in scenes:
            flags: list[bool] = []
            frames = rollout(bundle, scene.truth[0], scene.path.c2w, scene.path.intrinsics, settings=settings,
                             reanchored=flags)  # fmt: skip
            truth = scene.truth[: len(frames)]
            walk = palette_walk(chunk_stats(frames, chunks), chunk_stats(truth, chunks), np.array(flags))
            psnrs = [horizon_scores(frames, truth, f, config.window)[0] for f in config.horizon_frames()]
            rows.append([*psnrs, drift_in_range(frames[:n], truth[:n], config.drift_margin), walk.at_reanchor,
                         walk.elsewhere, walk.jump_at_reanchor, walk.jump_elsewhere, walk.final_gap])  # fmt: skip
            print(f"  {name} world {scene.world_seed}: PSNR " + " / ".join(f"{p:.2f}" for p in psnrs)
                  + f" dB, in range {100 * rows[-1][len(psnrs)]:.1f} %, luma walk per chunk {walk.at_reanchor:+.2f} at "
                  f"re-anchors / {walk.elsewhere:+.2f} elsewhere (jumps {walk.jump_at_reanchor:.2f} / "
                  f"{walk.jump_elsewhere:.2f}), gap at the end {walk.final_gap:+.1f}; out of range: "
                  + miss_summary(frames[:n], truth[:n], config.drift_margin), flush=True)  # fmt: skip
        m = np.nanmean(rows, 0)
        h = len(config.horizons_s)
        print(f"{name}: PSNR " + " / ".join(f"{p:.2f}" for p in m[:h]) + f" dB at "
              + " / ".join(f"{s:g}" for s in config.horizons_s) + f" s; in range {100 * m[h]:.1f} %; luma walk per "
              f"chunk {m[h + 1]:+.2f} at re-anchors, {m[h + 2]:+.2f} elsewhere; jumps {m[h + 3]:.2f} at re-anchors, "
              f"{m[h + 4]:.2f} elsewhere; gap at the end {m[h + 5]:+.1f}",
              flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
