"""The evaluation protocol of ``sana-wm eval``: roll a model out on held-out procedural worlds and score it
against ground-truth renders of the same poses (see docs/eval.md).

Per scene (world seed ``seed + i``, ``i < scenes``):

1. **Long path**: an explore path (:func:`engine.synth.trajectories.sample_clip`, no return) long enough for the
   largest horizon and the drift check, rounded up to whole chunks. The start frame is the ground-truth render
   of its first pose; every model is started from it and driven along the path's poses (relative to the first).
2. **Horizons**: PSNR, SSIM and the sharpness ratio (:func:`engine.eval.metrics.sharpness_ratio`: mean luma
   gradient, generated / truth) of generated frames against the renders at ``round(h * fps)`` (16, 80, 320 at
   16 fps), averaged over ``±window`` frames around each and over scenes.
   **Parallax** (:mod:`engine.eval.parallax`): on the straight forward-driving stretches of the long path, the
   image expansion and optical flow of the generated frames against the truth's (1.0 = right parallax, 0 = none).
3. **Revisit**: a return path (out and back, :attr:`ClipPlan.revisits`); at the pair ``(i, j)`` farthest apart the
   generated frame ``j`` is compared with the generated frame ``i`` (self-consistency: does the model remember
   what it showed?) and with the render at ``j``.
4. **Drift**: per-frame luma and saturation mean/std (:func:`engine.eval.metrics.frame_stats`) over
   ``drift_seconds``; a frame is in range when all four lie within ``[min - margin, max + margin]`` of the
   scene's ground-truth renders; reported as the fraction of frames in range.

Rows: the model, and the baselines "repeat first frame" (the start image for every frame), "untrained model"
(:meth:`ModelBundle.random` of the model's preset, frame size and codec patch size), and the "cache render" rows
(:mod:`engine.eval.cache_row`: the world cache of the start frame alone, from the model's depth estimator and from
exact depth, scored where covered, with the covered share), and "cache render + start frame": that cache render
with its holes filled from the start image, a whole-frame video scored like a model (the strongest thing one
can show without a model: geometry where the start view reaches, the start image elsewhere).

**Held-out seeds.** Training worlds (:mod:`engine.synth.dataset`) use seeds drawn as ``uint32 >> 1``, i.e. in
``[0, 2**31)``; held-out world seeds start at :data:`HELD_OUT_SEED_BASE` = ``2**31``, so they can never meet.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import asdict, dataclass, field, replace
from typing import Callable

import numpy as np

from engine.bundles import ModelBundle
from engine.camera.trajectory import DEFAULT_FPS
from engine.errors import ConfigError
from engine.generation.state import StreamSettings
from engine.generation.world_memory import DepthSource, depth_source_for
from engine.eval.cache_row import FILLED_CACHE_ROW, filled_cache_frames, score_cache_row
from engine.eval.exposure import ExposureCurves, exposure_curves
from engine.eval.metrics import frame_stats, psnr, sharpness_ratio, ssim
from engine.eval.parallax import parallax_scores
from engine.eval.rows import RowResult, mean_parallax
from engine.eval.rollout import CHUNK_FRAMES, PSNR_CAP_DB, Progress, Scene, repeat_first_frame, rollout
from engine.synth.trajectories import ClipPlan, PathConfig, sample_clip
from engine.synth.world import make_world

log = logging.getLogger(__name__)

#: First held-out world seed (training world seeds are below it; see the module docstring).
HELD_OUT_SEED_BASE = 2**31


@dataclass(frozen=True)
class EvalConfig:
    """What ``sana-wm eval`` measures. ``seed`` is an offset added to :data:`HELD_OUT_SEED_BASE`."""

    scenes: int = 4
    seed: int = 0
    horizons_s: tuple[float, ...] = (1.0, 5.0, 20.0)
    window: int = 2
    drift_seconds: float = 60.0
    drift_margin: float = 10.0
    revisit_frames: int = 97
    fps: float = DEFAULT_FPS
    session_seed: int = 42
    exposure_chunks: int = 0
    #: re-anchor the stream when the model's trained context is full (:mod:`engine.generation.session`); False measures without
    reanchor: bool = True
    #: the model's stream contrast floor (:attr:`~engine.generation.state.StreamSettings.contrast_floor`); None = the
    #: model's own (the baselines always stream with their own)
    contrast_floor: float | None = None
    #: index (among this run's worlds) of the world whose horizon frames the figure shows
    example_world: int = 0

    def __post_init__(self) -> None:
        if self.scenes < 1:
            raise ConfigError(f"scenes: expected at least 1, found {self.scenes}")
        if self.seed < 0:
            raise ConfigError(f"seed: expected a non-negative offset, found {self.seed}")
        if not self.horizons_s or min(self.horizons_s) <= 0:
            raise ConfigError(f"horizons: expected positive seconds, found {self.horizons_s}")
        if self.drift_seconds < 0 or self.window < 0:
            raise ConfigError("drift seconds and window: expected non-negative values")
        if self.revisit_frames < 25:
            raise ConfigError(f"revisit frames: expected at least 25, found {self.revisit_frames}")
        if self.exposure_chunks < 0:
            raise ConfigError(f"exposure chunks: expected 0 (off) or more, found {self.exposure_chunks}")
        if self.contrast_floor is not None and not 0.0 <= self.contrast_floor <= 1.0:  # also True for NaN
            raise ConfigError(f"contrast floor: expected a share of the start image's contrast in [0, 1], found {self.contrast_floor}")
        if not 0 <= self.example_world < self.scenes:
            raise ConfigError(f"figure world: expected an index in 0..{self.scenes - 1} (one per scene), "
                              f"found {self.example_world}")

    def horizon_frames(self) -> list[int]:
        return [max(1, round(h * self.fps)) for h in self.horizons_s]

    def path_frames(self) -> int:
        """Frames of the long path: covers every horizon window and the drift span, in whole chunks (1 + 24 k)."""
        need = max(max(self.horizon_frames()) + self.window, round(self.drift_seconds * self.fps),
                   CHUNK_FRAMES * self.exposure_chunks) + 1
        return 1 + CHUNK_FRAMES * math.ceil((need - 1) / CHUNK_FRAMES)

    def world_seeds(self) -> list[int]:
        return [HELD_OUT_SEED_BASE + self.seed + i for i in range(self.scenes)]


@dataclass
class EvalResult:
    model: str
    frame_size: tuple[int, int]
    config: EvalConfig
    world_seeds: list[int]
    rows: list[RowResult] = field(default_factory=list)
    seconds: float = 0.0
    #: ground-truth frames of world ``config.example_world`` at the horizon frames (see :attr:`RowResult.examples`)
    truth_examples: np.ndarray | None = field(default=None, repr=False, compare=False)
    #: per-chunk free vs teacher-forced PSNR (``EvalConfig.exposure_chunks > 0``; :mod:`engine.eval.exposure`)
    exposure: ExposureCurves | None = None
    #: the model's trained context in latent frames (:attr:`ModelBundle.context_frames`), None = unlimited
    context_frames: int | None = None

    def as_dict(self) -> dict:
        out = asdict(self)
        out.pop("truth_examples")
        for row in out["rows"]:
            row.pop("examples")
        out["psnr_cap_db"] = PSNR_CAP_DB
        return out

    def to_markdown(self) -> str:
        hs = list(self.rows[0].horizons) if self.rows else []
        head = ["", *[f"PSNR {h}" for h in hs], *[f"SSIM {h}" for h in hs],
                "revisit PSNR self / GT", "revisit SSIM self / GT", f"in range {self.config.drift_seconds:g} s",
                *[f"sharpness {h}" for h in hs], "parallax", "flow cos / EPE px"]
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for r in self.rows:
            cells = [r.name, *[_num(r.horizons[h]["psnr"], 2) for h in hs], *[_num(r.horizons[h]["ssim"], 3) for h in hs],
                     f"{_num(r.revisit_self_psnr, 2)} / {_num(r.revisit_truth_psnr, 2)}",
                     f"{_num(r.revisit_self_ssim, 3)} / {_num(r.revisit_truth_ssim, 3)}",
                     "—" if math.isnan(r.drift_in_range) else f"{100 * r.drift_in_range:.0f}%",
                     *[_num(r.horizons[h].get("sharpness", math.nan), 2) for h in hs],
                     _num(r.parallax.get("expansion_ratio", math.nan), 2),
                     f"{_num(r.parallax.get('flow_cosine', math.nan), 2)} / "
                     f"{_num(r.parallax.get('flow_epe_px', math.nan), 1)}"]
            lines.append("| " + " | ".join(cells) + " |")
        w, h = self.frame_size
        lines.append("")
        lines.append(f"{self.model}; {len(self.world_seeds)} held-out worlds (seeds {self.world_seeds[0]}..."
                     f"{self.world_seeds[-1]}), {w}x{h}, PSNR in dB (capped at {PSNR_CAP_DB:g}), SSIM on luma, "
                     f"±{self.config.window} frames around each horizon{self._streaming_note()}. Sharpness: "
                     f"mean luma gradient, generated / ground truth (1 = as detailed, below 1 = blurrier). Parallax: "
                     f"image expansion while driving straight forward, generated / ground truth (1 = right, 0 = no "
                     f"motion), and the flow's cosine with the truth's and end-point error, "
                     f"{self._parallax_note()}.")
        partial = [r for r in self.rows if r.coverage is not None]
        if partial:
            lines.append("")
            lines += [f"{r.name}: PSNR over the pixels the cache covers, covered share "
                      + ", ".join(f"{100 * r.coverage[h]:.0f}% at {h}" for h in hs) + f" ({r.label})." for r in partial]
        if len(self.world_seeds) > 1 and all(r.per_world for r in self.rows):
            lines += ["", "Per world, PSNR in dB at each horizon:", "", *self._per_world_markdown(hs)]
            lines += ["", "Per world, sharpness (generated / ground truth) at each horizon:", "",
                      *self._per_world_markdown(hs, "sharpness")]
        drifting = [r for r in self.rows if r.per_world_drift]
        if len(self.world_seeds) > 1 and drifting:
            lines += ["", f"Per world, frames in range over {self.config.drift_seconds:g} s, and the statistics that "
                      "leave it (share of frames below / above the truth's range):", "",
                      *self._per_world_drift_markdown(drifting)]
        if len(self.world_seeds) > 1 and all(r.per_world_parallax for r in self.rows):
            lines += ["", "Per world, parallax: expansion ratio, flow cosine (frame pairs):", "",
                      *self._per_world_parallax_markdown()]
        if self.exposure is not None:
            lines += ["", "Exposure check: PSNR per chunk of the model fed its own chunks (free) and fed the ground "
                      "truth as context (teacher-forced).", "", self.exposure.to_markdown()]
        return "\n".join(lines)

    def _parallax_note(self) -> str:
        pairs = [w.get("pairs", 0) for w in self.rows[0].per_world_parallax] if self.rows else []
        if not any(pairs):
            return "not measured (no straight forward driving on these paths)"
        truth = self.rows[0].parallax.get("truth_flow_px", math.nan)
        worlds = sum(1 for p in pairs if p)
        return (f"over {sum(pairs)} frame pairs 0.5 s apart in {worlds} of {len(pairs)} worlds (true flow "
                f"{_num(truth, 1)} px on average)")

    def _streaming_note(self) -> str:
        if self.context_frames is None:
            return ""
        if not self.config.reanchor:
            return f", re-anchoring off (the model's trained context is {self.context_frames} latent frames)"
        return f", re-anchored every time the model's trained context of {self.context_frames} latent frames is full"

    def _per_world_markdown(self, horizons: list[str], metric: str = "psnr") -> list[str]:
        head = ["world seed", *[f"{r.name} {h}" for h in horizons for r in self.rows]]
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for k, seed in enumerate(self.world_seeds):
            cells = [_num(r.per_world[k][h].get(metric, math.nan), 2) for h in horizons for r in self.rows]
            lines.append(f"| {seed} | " + " | ".join(cells) + " |")
        return lines

    @staticmethod
    def _drift_cell(world: dict[str, float]) -> str:
        misses = [f"{name} {100 * world[f'{name} {side}']:.0f} % {side}" for name in STAT_NAMES
                  for side in ("low", "high") if world[f"{name} {side}"] >= 0.005]  # fmt: skip
        return f"{100 * world['in_range']:.0f} %" + (f" ({', '.join(misses)})" if misses else "")

    def _per_world_drift_markdown(self, rows: list[RowResult]) -> list[str]:
        head = ["world seed", *[r.name for r in rows]]
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for k, seed in enumerate(self.world_seeds):
            lines.append(f"| {seed} | " + " | ".join(self._drift_cell(r.per_world_drift[k]) for r in rows) + " |")
        return lines

    def _per_world_parallax_markdown(self) -> list[str]:
        head = ["world seed", *[r.name for r in self.rows]]
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for k, seed in enumerate(self.world_seeds):
            cells = []
            for r in self.rows:
                w = r.per_world_parallax[k]
                cells.append("—" if not w["pairs"] else f"{_num(w['expansion_ratio'], 2)}, "
                             f"{_num(w['flow_cosine'], 2)} ({w['pairs']})")
            lines.append(f"| {seed} | " + " | ".join(cells) + " |")
        return lines


def _num(value: float, digits: int) -> str:
    return "—" if math.isnan(value) else f"{value:.{digits}f}"


# ----- scenes -------------------------------------------------------------------------------------------------
def make_scenes(config: EvalConfig, frame_size: tuple[int, int], renderer, progress: Progress | None = None, *,
                start_depth: bool = False) -> list[Scene]:  # fmt: skip
    """Build and render the held-out scenes (deterministic in ``config``); ``start_depth`` also renders the exact
    depth of each path's first frame (the cache rows)."""
    scenes = []
    for k, seed in enumerate(config.world_seeds()):
        world = make_world(seed)
        rng = np.random.default_rng([seed, 0xE7A1])
        path = sample_clip(world, rng, PathConfig(num_frames=config.path_frames(), size=frame_size, return_probability=0.0))
        revisit = sample_clip(world, rng, PathConfig(num_frames=config.revisit_frames, size=frame_size,
                                                     return_probability=1.0))
        truth = renderer.render(world, path.c2w, path.intrinsics, frame_size)
        revisit_truth = renderer.render(world, revisit.c2w, revisit.intrinsics, frame_size)
        scene = Scene(seed, world, path, truth, revisit, revisit_truth)
        if start_depth:
            scene.start_depth = renderer.render(world, path.c2w[:1], path.intrinsics[:1], frame_size, depth=True)[1][0]
            scene.revisit_start_depth = renderer.render(world, revisit.c2w[:1], revisit.intrinsics[:1], frame_size,
                                                        depth=True)[1][0]  # fmt: skip
        scenes.append(scene)
        if progress:
            progress("render", k + 1, config.scenes)
    return scenes


# ----- scoring ------------------------------------------------------------------------------------------------
def _capped(values) -> float:
    return float(np.mean(np.minimum(np.asarray(values, dtype=np.float64), PSNR_CAP_DB)))


def horizon_scores(generated: np.ndarray, truth: np.ndarray, frame: int, window: int) -> tuple[float, float]:
    """Mean (capped) PSNR and SSIM over frames ``frame - window .. frame + window`` (clipped to the stream)."""
    lo, hi = max(0, frame - window), min(len(truth), frame + window + 1)
    if lo >= hi or hi > len(generated):
        raise ConfigError(f"horizon frame {frame}: outside the {len(generated)} generated frames")
    return _capped(psnr(generated[lo:hi], truth[lo:hi])), float(np.mean(ssim(generated[lo:hi], truth[lo:hi])))


def horizon_sharpness(generated: np.ndarray, truth: np.ndarray, frame: int, window: int) -> float:
    """Sharpness ratio (:func:`engine.eval.metrics.sharpness_ratio`) over the frames :func:`horizon_scores` uses."""
    lo, hi = max(0, frame - window), min(len(truth), frame + window + 1)
    return sharpness_ratio(generated[lo:hi], truth[lo:hi])


def range_misses(generated: np.ndarray, truth: np.ndarray, margin: float) -> tuple[np.ndarray, np.ndarray]:
    """``(below, above)``: ``(F, 4)`` bool, generated frame ``f``'s :func:`~engine.eval.metrics.frame_stats` entry
    lies below the truth's least value - ``margin`` (or above its greatest + ``margin``) over the span."""
    ref = frame_stats(truth)
    got = frame_stats(generated)
    return got < ref.min(0) - margin, got > ref.max(0) + margin


def drift_in_range(generated: np.ndarray, truth: np.ndarray, margin: float) -> float:
    """Fraction of generated frames whose luma/saturation mean and std all lie within the truth's range ± margin."""
    return drift_breakdown(generated, truth, margin)["in_range"]


#: Names of :func:`~engine.eval.metrics.frame_stats`' columns, as reports print them.
STAT_NAMES = ("luma mean", "luma std", "saturation mean", "saturation std")


def drift_breakdown(generated: np.ndarray, truth: np.ndarray, margin: float) -> dict[str, float]:
    """The drift check of one world and why frames fail it: ``in_range`` (:func:`drift_in_range`) and, per
    :data:`STAT_NAMES` entry, the share of frames below (``"luma std low"``) and above (``"... high"``) the truth's
    range ± ``margin``. A frame is in range when it misses on none; it may miss on several, so the shares need not
    add up."""
    below, above = range_misses(generated, truth, margin)
    out = {"in_range": float((~(below | above)).all(axis=1).mean())}
    for k, name in enumerate(STAT_NAMES):
        out[f"{name} low"] = float(below[:, k].mean())
        out[f"{name} high"] = float(above[:, k].mean())
    return out


def score_row(name: str, label: str, config: EvalConfig, scenes: list[Scene],
              generate: Callable[[Scene, ClipPlan, np.ndarray], np.ndarray]) -> RowResult:
    """Score one model (``generate(scene, path, start) -> frames``) on every scene."""
    started = time.perf_counter()
    hp = {f"{h:g}s": ([], [], []) for h in config.horizons_s}
    rev = ([], [], [], [])
    drift = []
    parallax = []
    examples = None
    n_drift = round(config.drift_seconds * config.fps) + 1
    for k, scene in enumerate(scenes):
        gen = generate(scene, scene.path, scene.truth[0])
        if k == config.example_world:
            examples = gen[config.horizon_frames()].copy()
        for key, frame in zip(hp, config.horizon_frames()):
            p, s = horizon_scores(gen, scene.truth, frame, config.window)
            hp[key][0].append(p)
            hp[key][1].append(s)
            hp[key][2].append(horizon_sharpness(gen, scene.truth, frame, config.window))
        parallax.append(parallax_scores(scene.parallax, gen))
        if config.drift_seconds > 0:
            drift.append(drift_breakdown(gen[:n_drift], scene.truth[:n_drift], config.drift_margin))
        pair = scene.revisit_pair
        if pair is not None:
            i, j = pair
            rgen = generate(scene, scene.revisit_path, scene.revisit_truth[0])
            rev[0].append(min(psnr(rgen[j], rgen[i]), PSNR_CAP_DB))
            rev[1].append(ssim(rgen[j], rgen[i]))
            rev[2].append(min(psnr(rgen[j], scene.revisit_truth[j]), PSNR_CAP_DB))
            rev[3].append(ssim(rgen[j], scene.revisit_truth[j]))
    mean = lambda v: float(np.mean(v)) if v else math.nan  # noqa: E731
    return RowResult(
        name=name,
        label=label,
        horizons={k: {"psnr": mean(p), "ssim": mean(s), "sharpness": mean(sh)} for k, (p, s, sh) in hp.items()},
        revisit_self_psnr=mean(rev[0]),
        revisit_self_ssim=mean(rev[1]),
        revisit_truth_psnr=mean(rev[2]),
        revisit_truth_ssim=mean(rev[3]),
        drift_in_range=mean([d["in_range"] for d in drift]),
        per_world_drift=drift,
        seconds=time.perf_counter() - started,
        per_world=[{key: {"psnr": ps[i], "ssim": ss[i], "sharpness": sh[i]} for key, (ps, ss, sh) in hp.items()}
                   for i in range(len(scenes))],
        examples=examples,
        parallax=mean_parallax(parallax),
        per_world_parallax=parallax,
    )


def cache_rows(config: EvalConfig, scenes: list[Scene], depth: DepthSource | None) -> list[RowResult]:
    """The "cache render" rows (:mod:`engine.eval.cache_row`): from ``depth`` (when given) and from exact depth,
    scored where covered; and, from ``depth``, the whole-frame row "cache render + start frame"."""
    from engine.world_cache import CacheRenderer

    rows = []
    with CacheRenderer() as renderer:
        if depth is not None:
            estimated = lambda scene, path, start: depth(start[None], path.intrinsics[:1])[0]  # noqa: E731
            rows.append(score_cache_row("cache render", "the start frame's world cache, estimated depth", config,
                                        scenes, estimated, renderer))  # fmt: skip
            rows.append(filled_cache_row(config, scenes, depth, renderer))
        exact = lambda scene, path, start: scene.start_depth if path is scene.path else scene.revisit_start_depth  # noqa: E731
        rows.append(score_cache_row("cache render, exact depth", "the start frame's world cache, exact depth", config,
                                    scenes, exact, renderer))  # fmt: skip
    return rows


def filled_cache_row(config: EvalConfig, scenes: list[Scene], depth: DepthSource, renderer) -> RowResult:
    """The whole-frame baseline "cache render + start frame" (:func:`~engine.eval.cache_row.filled_cache_frames`):
    the start frame's cache from ``depth``, its holes filled from the start frame, scored like a model."""
    def generate(scene: Scene, path: ClipPlan, start: np.ndarray) -> np.ndarray:
        return filled_cache_frames(path, start, depth(start[None], path.intrinsics[:1])[0], renderer)

    return score_row(FILLED_CACHE_ROW, "the cache render where it covers, the start frame elsewhere", config, scenes,
                     generate)


def untrained_like(bundle: ModelBundle) -> ModelBundle:
    """The "untrained model" baseline: random weights of exactly ``bundle``'s architecture (its config, overrides
    included), frame size, codec patch size and streaming context (so it is rolled out the same way)."""
    preset = bundle.config
    factor = getattr(bundle.codec, "spatial_factor", 16)
    untrained = ModelBundle.random(preset, frame_size=bundle.frame_size, spatial_factor=factor)
    return replace(untrained, context_frames=bundle.context_frames)


def evaluate(bundle: ModelBundle, config: EvalConfig = EvalConfig(), *, baselines: bool = True, renderer=None,
             progress: Progress | None = None, depth: DepthSource | str | None = "auto") -> EvalResult:
    """Run the whole protocol (module docstring) for ``bundle`` (and the baselines unless ``baselines=False``).
    ``depth``: the estimator of the "cache render (estimated depth)" row: "auto" = the one shipped beside the
    bundle (:func:`~engine.generation.world_memory.depth_source_for`), None = no such row."""
    if isinstance(depth, str):
        depth = depth_source_for(bundle.source)
    started = time.perf_counter()
    own_renderer = renderer is None
    if own_renderer:
        from engine.synth.renderer import Renderer

        renderer = Renderer()
    try:
        scenes = make_scenes(config, bundle.frame_size, renderer, progress, start_depth=baselines)
    finally:
        if own_renderer:
            renderer.release()

    def model_rows(b: ModelBundle, stage: str, floor: float | None = None) -> Callable[[Scene, ClipPlan, np.ndarray], np.ndarray]:
        settings = StreamSettings(seed=config.session_seed, reanchor=config.reanchor, contrast_floor=floor)

        def generate(scene: Scene, path: ClipPlan, start: np.ndarray) -> np.ndarray:
            chunk_progress = (lambda _s, d, t: progress(f"{stage} {scene.world_seed - HELD_OUT_SEED_BASE}", d, t)) if progress else None
            return rollout(b, start, path.c2w, path.intrinsics, progress=chunk_progress, settings=settings)
        return generate

    result = EvalResult(bundle.display_name, bundle.frame_size, config, config.world_seeds(),
                        context_frames=bundle.context_frames)
    result.truth_examples = scenes[config.example_world].truth[config.horizon_frames()].copy()
    result.rows.append(score_row("model", bundle.label or bundle.name, config, scenes,
                                  model_rows(bundle, "model", config.contrast_floor)))  # fmt: skip
    if baselines:
        result.rows.append(score_row("repeat first frame", "the start image for every frame", config, scenes,
                                     lambda scene, path, start: repeat_first_frame(start, path.num_frames)))
        untrained = untrained_like(bundle)
        result.rows.append(score_row("untrained model", untrained.label, config, scenes,
                                     model_rows(untrained, "untrained")))
        result.rows += cache_rows(config, scenes, depth)
    if config.exposure_chunks:
        result.exposure = exposure_curves(bundle, scenes, config.exposure_chunks, seed=config.session_seed,
                                          fps=config.fps, reanchor=config.reanchor, progress=progress)  # fmt: skip
    result.seconds = time.perf_counter() - started
    return result
