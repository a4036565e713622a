"""The embedded model v2 trained on a lent GPU machine in one command: render, fine-tune, bundle, evaluate.

Why a job of its own: a GPU machine is lent to some sessions only, for at most 15 minutes in all (machine start
included), one command of at most 10 minutes, on a bare copy of the working tree with no network, and it returns
at most 8 files of at most 16 MiB from ``$OUT``. A training run there must therefore fit one command, survive being
killed at any moment, come back in a few files, and continue in a later session (docs/embedded_model.md,
"Training on a lent GPU"). On a fresh 16-core + H100 machine::

    python -m engine.train.device_job --minutes 8 --out $OUT/v2            # a new run from the shipped model
    python -m engine.train.device_job --minutes 8 --out $OUT/v2 --resume runs/v2_carry

1. **check** (seconds): CUDA, a headless GL context (EGL), the shipped bundle and depth estimator; a missing part
   ends the job before any minute is spent on it.
2. **render** (``--render-seconds``, default 120): ``sana-wm synth dataset`` clips with depth (97 frames, 320x176)
   in one process per core. The clip count is the budget times the workers divided by the time one process takes
   per clip, measured on the project machine (:data:`SECONDS_PER_CLIP`); if that machine's cores are slower, the
   render is stopped at 1.25x the budget and training uses the clips finished by then.
3. **train** (what is left but :data:`EVAL_RESERVE_S`): ``sana-wm train`` of ``sana-wm-tiny`` with the world-cache
   input (``cache_channels = 33``) from the shipped weights (``--init-from``) or from ``--resume``, on CUDA with
   bf16 autocast, windows built by ``cores - 1`` data workers (:mod:`engine.train.loader`), ``--max-minutes`` for
   the budget and a checkpoint every minute. The learning rate is constant after warm-up: the run ends when the
   clock says, not at a step count, and resumed runs continue the same schedule. Each checkpoint is copied to
   ``--out`` at once (optimizer moments stripped, in parts of at most 16 MB) with the bundle of its EMA weights, so
   a killed command returns at most a minute less.
4. **evaluate** (what is left): ``sana-wm eval`` of the new bundle (the shipped depth estimator beside it, so its
   sessions build the world cache) and of the shipped model on the same held-out worlds, in two processes.

``--out`` then holds (at most 8 files): ``checkpoint.pt.part0..`` (the newest checkpoint without optimizer state),
``bundle.json`` + ``model.safetensors`` (the EMA weights of that checkpoint), ``report.json`` (settings, timings,
throughput, run config, both evaluations, the parts' SHA-256), ``report.md`` and ``job.log``.

Back on the project machine, ``python -m engine.train.device_job unpack DIR`` joins and checks the parts into a
run folder (``runs/v2_gpu``) with its bundle (the depth estimator copied beside it); ``carry`` writes the small
folder a later device command resumes from; ``prepare`` downloads the GL libraries and the moderngl wheels the bare
machine lacks. Not a ``sana-wm`` sub-command because ``sana-wm`` imports PyAV (video export), which that machine
does not have and which is too large to carry; nothing here needs it.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import logging
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch

from engine.bundles import load_bundle, load_embedded_bundle
from engine.commands.train import read_training_clip
from engine.components.patch_codec import PatchDCTCodec
from engine.errors import ConfigError, InputFileError, SanaWMInputError
from engine.eval.protocol import EvalConfig, evaluate
from engine.io.atomic import atomic_path, atomic_write_text
from engine.synth.dataset import DatasetConfig, Progress, generate_dataset
from engine.train.cache_data import CacheAugment
from engine.train.checkpoint import (
    CHECKPOINT_DIR,
    checkpoint_path,
    list_checkpoints,
    load_checkpoint,
    run_state,
    strip_optimizer,
)
from engine.train.config import TrainConfig
from engine.train.curves import plot_loss, write_loss_csv
from engine.train.data import ClipFolder, TrainingData
from engine.train.loop import StepReport, TrainingDiverged, TrainResult, build_model, train
from engine.train.objective import ObjectiveConfig
from engine.train.run_folder import write_bundle

log = logging.getLogger("engine.train.device_job")

REPO = Path(__file__).resolve().parents[2]
SHIPPED_BUNDLE = REPO / "resources" / "models" / "sana-wm-tiny"
DEPTH_FILE = "depth.safetensors"
#: Seconds one process takes to render one 97-frame 320x176 clip with depth (JPEG frames, default quality), measured
#: on the project machine (one Zen 4 core, llvmpipe on one thread): 8 clips in 23.6 s, 2.83 s per clip.
SECONDS_PER_CLIP = 2.9
#: Seconds a render pool takes to start (spawned processes import torch, make GL contexts, build the first world).
RENDER_STARTUP_S = 10.0
#: Seconds kept after training for the last checkpoint's copy, the two evaluations and the report.
EVAL_RESERVE_S = 80.0
#: Bytes per part of a checkpoint in ``--out`` (the device tool returns files of at most 16 MiB).
PART_BYTES = 16_000_000
#: Steps of the learning-rate schedule: never reached (the clock ends a run); the rate is constant after warm-up.
STEP_CAP = 1_000_000
CHECKPOINT_NAME = "checkpoint.pt"
#: The GL libraries and wheels a bare device machine lacks (``prepare``; docs/embedded_model.md).
GL_DEBS = ("libegl1", "libglvnd0", "libopengl0", "libgl1", "libglx0", "libgles2")
WHEELS = ("moderngl==5.13.0", "glcontext==3.1.0")


@dataclass(frozen=True)
class JobOptions:
    """Settings of one device job (the command-line flags; see the module docstring)."""

    out: Path
    minutes: float = 8.0
    resume: Path | None = None
    work: Path = Path("/tmp/sana-wm-v2")
    device: str = "cuda"
    bf16: bool = True
    render_workers: int = 0  # 0 = one per core
    render_seconds: float = 120.0
    clips: int = 0  # 0 = planned from render_seconds
    data_seed: int | None = None  # None = 1 + the starts the resumed run has had (new worlds each session)
    data_workers: int = -1  # -1 = cores - 1
    batch: int = 4
    lr: float = 3e-4
    eval_scenes: int = 2
    eval_horizons: tuple[float, ...] = (1.0, 5.0)

    def __post_init__(self) -> None:
        problems = []
        if not 1.0 <= self.minutes <= 60.0:
            problems.append(f"--minutes: expected 1..60, found {self.minutes:g}")
        if not 5.0 <= self.render_seconds <= 3600.0:
            problems.append(f"--render-seconds: expected 5..3600, found {self.render_seconds:g}")
        if self.clips < 0 or self.render_workers < 0 or self.data_workers < -1:
            problems.append("--clips, --render-workers and --data-workers: expected >= 0")
        if self.batch < 1 or not self.lr > 0 or self.eval_scenes < 0:
            problems.append("--batch, --lr: expected positive values; --eval-scenes: expected >= 0")
        if problems:
            raise ConfigError("device job: " + "; ".join(problems))


def cores() -> int:
    return os.cpu_count() or 1


def plan_clips(workers: int, seconds: float, clips_per_world: int = 4) -> int:
    """Clips ``workers`` processes render in ``seconds`` (at :data:`SECONDS_PER_CLIP` each, after the pool's
    start-up), in whole worlds; at least one world."""
    clips = int(workers * max(0.0, seconds - RENDER_STARTUP_S) / SECONDS_PER_CLIP)
    return max(clips_per_world, clips // clips_per_world * clips_per_world)


# ----- the parts of a file in --out ----------------------------------------------------------------------------
def split_file(path: Path, folder: Path, name: str, part_bytes: int = PART_BYTES) -> list[dict[str, Any]]:
    """Write ``path`` as ``folder/name.part0``, ``.part1``, ... of at most ``part_bytes`` each (each atomically;
    parts of an earlier, longer file are removed). Returns the manifest: name, bytes and SHA-256 of each part."""
    manifest = []
    with open(path, "rb") as source:
        while chunk := source.read(part_bytes):
            part = folder / f"{name}.part{len(manifest)}"
            with atomic_path(part) as tmp:
                Path(tmp).write_bytes(chunk)
            manifest.append({"file": part.name, "bytes": len(chunk), "sha256": hashlib.sha256(chunk).hexdigest()})
    k = len(manifest)
    while (stale := folder / f"{name}.part{k}").exists():
        stale.unlink()
        k += 1
    return manifest


def join_parts(folder: Path, manifest: Sequence[dict[str, Any]], dest: Path) -> Path:
    """Join the parts listed in ``manifest`` (from :func:`split_file`) into ``dest``, checking each part's size
    and SHA-256. Raises :class:`InputFileError` naming the first part that is missing or differs."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(dest) as tmp, open(tmp, "wb") as out:
        for entry in manifest:
            part = folder / entry["file"]
            if not part.is_file():
                raise InputFileError(f"{part}: expected a checkpoint part of {entry['bytes']} bytes, found no file")
            data = part.read_bytes()
            if len(data) != entry["bytes"] or hashlib.sha256(data).hexdigest() != entry["sha256"]:
                raise InputFileError(f"{part}: expected {entry['bytes']} bytes with SHA-256 {entry['sha256'][:12]}..., "
                                     f"found {len(data)} bytes that differ (an incomplete copy?)")  # fmt: skip
            out.write(data)
    return dest


# ----- the job ---------------------------------------------------------------------------------------------------
class Job:
    """One run of the device job (see the module docstring); ``report`` is rewritten to ``--out`` after each phase
    and checkpoint, so a killed command still returns what happened up to then."""

    def __init__(self, options: JobOptions) -> None:
        self.options = options
        self.started = time.perf_counter()
        self.ends = self.started + 60.0 * options.minutes
        self.out = Path(options.out)
        self.work = Path(options.work)
        self.report: dict[str, Any] = {
            "format": "sana-wm-device-job/1",
            "started_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "options": json.loads(json.dumps(dataclasses.asdict(options), default=str)),
            "phases": {},
        }
        self._last_log = 0.0

    def left(self) -> float:
        return self.ends - time.perf_counter()

    def elapsed(self) -> float:
        return time.perf_counter() - self.started

    def write_report(self) -> None:
        atomic_write_text(self.out / "report.json", json.dumps(self.report, indent=1, default=str) + "\n")
        atomic_write_text(self.out / "report.md", report_markdown(self.report) + "\n")

    # -- 1. check ------------------------------------------------------------------------------------------------
    def check(self) -> None:
        """Fail in seconds, naming what is missing, rather than minutes into the job."""
        env: dict[str, Any] = {"torch": torch.__version__, "python": sys.version.split()[0], "cpu_count": cores()}
        device = torch.device(self.options.device)
        if device.type == "cuda":
            if not torch.cuda.is_available():
                raise ConfigError(f"--device {self.options.device}: torch {torch.__version__} sees no CUDA device here")
            env["gpu"] = torch.cuda.get_device_name(device)
            env["gpu_memory_gib"] = round(torch.cuda.get_device_properties(device).total_memory / 2**30, 1)
        # in a child process, so that a driver that crashes takes only the probe down and is reported in one line
        probe = subprocess.run([sys.executable, "-c", _GL_PROBE], cwd=REPO, capture_output=True, text=True)
        if probe.returncode != 0:
            raise ConfigError(f"GL: {(probe.stderr.strip().splitlines() or ['the probe crashed'])[-1]}")
        env["gl_renderer"], env["gl_version"] = probe.stdout.strip().splitlines()[-2:]
        for path in (SHIPPED_BUNDLE / "bundle.json", SHIPPED_BUNDLE / DEPTH_FILE):
            if not path.is_file():
                raise InputFileError(f"{path}: expected the shipped bundle's file, found none")
        self.report["environment"] = env
        log.info("check: %s", env)

    # -- 2. render -----------------------------------------------------------------------------------------------
    def render(self, seed: int) -> Path:
        """Render the dataset into ``work/data``; stop at 1.25x the budget and keep the finished clips."""
        workers = self.options.render_workers or cores()
        budget = self.options.render_seconds
        clips = self.options.clips or plan_clips(workers, budget)
        folder = self.work / f"data_seed{seed}"
        config = DatasetConfig(seed=seed, clips=clips, num_frames=97, size=(320, 176))
        stop_at = time.perf_counter() + 1.25 * budget
        started = time.perf_counter()
        done = 0

        def progress(p: Progress) -> None:
            nonlocal done
            done = p.done
            if time.perf_counter() > stop_at and p.done < p.total:
                raise _RenderStopped()

        log.info("render: %d clips (seed %d) with %d workers, budget %.0f s", clips, seed, workers, budget)
        try:
            generate_dataset(folder, config, workers=workers, progress=progress)
            complete = True
        except _RenderStopped:
            complete = False
            # the clips written so far are whole (atomic writes); an index without a list makes every one a clip
            (folder / "index.json").write_text(json.dumps({"note": f"render stopped after {done} of {clips} clips"}))
        seconds = time.perf_counter() - started
        rendered = sum(1 for p in (folder / "clips").glob("clip_*.npz"))
        if rendered == 0:
            raise InputFileError(f"{folder}: the render made no clip in {seconds:.0f} s")
        per_clip = seconds * workers / rendered
        self.report["render"] = {"clips_planned": clips, "clips": rendered, "complete": complete, "seed": seed,
                                 "workers": workers, "seconds": round(seconds, 1),
                                 "seconds_per_clip_per_worker": round(per_clip, 2),
                                 "assumed_seconds_per_clip_per_worker": SECONDS_PER_CLIP}  # fmt: skip
        log.info("render: %d clips in %.0f s (%.2f s per clip per worker; planned with %.2f)", rendered, seconds,
                 per_clip, SECONDS_PER_CLIP)  # fmt: skip
        return folder

    # -- 3. train ------------------------------------------------------------------------------------------------
    def train_config(self, data: Path, resume_config: dict[str, Any] | None) -> TrainConfig:
        workers = self.options.data_workers if self.options.data_workers >= 0 else max(1, cores() - 1)
        run = {"device": self.options.device, "data": str(data), "data_workers": workers, "threads": 1,
               "checkpoint_every": STEP_CAP, "checkpoint_minutes": 1.0, "keep_checkpoints": 2}  # fmt: skip
        if resume_config is not None:
            return TrainConfig.from_dict({**resume_config, **run})
        return TrainConfig(
            preset="sana-wm-tiny", model_overrides={"cache_channels": 33}, frame_size=(320, 176),
            window_latent_frames=13, batch_size=self.options.batch, steps=STEP_CAP, lr=self.options.lr,
            lr_schedule="constant", warmup_steps=20, ema_decay=0.995, seed=0, bf16=self.options.bf16,
            objective=ObjectiveConfig(shift=8.0, context_noise=0.1, clean_context_prob=0.5, self_rollout_prob=0.25),
            bundle_name="sana-wm-tiny-v2", init_from=str(SHIPPED_BUNDLE),
            cache_augment=CacheAugment(predicted_depth_prob=0.3, depth_weights=str(SHIPPED_BUNDLE / DEPTH_FILE),
                                       start_only_prob=0.6),  # the shipped fourth run's recipe (docs/embedded_model.md)
            **{k: v for k, v in run.items() if k != "data"}, data=str(data),
        )  # fmt: skip

    def train(self, data: Path, run_dir: Path, config: TrainConfig, resume: bool) -> TrainResult:
        """Train until the reserve for evaluation; each checkpoint goes to ``--out`` at once (:meth:`publish`)."""
        clips = ClipFolder(data, reader=read_training_clip)
        minutes = (self.left() - EVAL_RESERVE_S) / 60.0
        if minutes < 0.5:
            raise ConfigError(f"--minutes {self.options.minutes:g}: {self.elapsed():.0f} s went to checks and the "
                              f"render, which leaves {60 * minutes:.0f} s to train; give more --minutes or fewer "
                              "--render-seconds")  # fmt: skip
        log.info("train: %s from %s, %.1f min, batch %d, %d data workers, bf16 %s, on %s",
                 "resuming" if resume else "fine-tuning", run_dir if resume else config.init_from, minutes,
                 config.batch_size, config.data_workers, config.bf16, config.device)  # fmt: skip
        self.report["train"].update(minutes_budget=round(minutes, 2), config=config.to_dict())
        return train(config, clips, run_dir, lambda r: self.on_step(r, config, clips, run_dir), resume=resume,
                     max_minutes=minutes)  # fmt: skip

    def on_step(self, report: StepReport, config: TrainConfig, clips: ClipFolder, run_dir: Path) -> None:
        now = time.perf_counter()
        if report.checkpoint is not None:
            self.publish(report.checkpoint, config, clips, run_dir)
        if now - self._last_log >= 15.0 or report.checkpoint is not None:
            log.info("step %d  loss %.4f  %.1f windows/s  %.0f s%s", report.step, report.loss, report.samples_per_s,
                     self.elapsed(), f"  [checkpoint {report.checkpoint.name} -> --out]" if report.checkpoint else "")
            self._last_log = now

    def publish(self, checkpoint: Path, config: TrainConfig, clips: ClipFolder, run_dir: Path) -> None:
        """Copy ``checkpoint`` to ``--out`` without optimizer state, in parts, with the bundle of its EMA weights
        and the run's config and throughput in the report."""
        slim = strip_optimizer(checkpoint, self.work / CHECKPOINT_NAME)
        payload = load_checkpoint(slim)
        ema = build_model(config, load_init=False)
        ema.load_state_dict(payload["ema"])
        model_config = config.model_config()
        data = TrainingData(clips, PatchDCTCodec(model_config.in_channels, config.spatial_factor), config.frame_size,
                            config.window_latent_frames, config.seed)  # fmt: skip
        state = run_state(payload)
        bundle = write_bundle(self.work / "published", config, ema, data, state,
                              sum(p.numel() for p in ema.parameters()), torch.device(config.device))  # fmt: skip
        for name in ("model.safetensors", "bundle.json"):  # weights first: bundle.json marks a complete copy
            shutil.copyfile(bundle / name, self.out / f".{name}.tmp")
            os.replace(self.out / f".{name}.tmp", self.out / name)
        manifest = split_file(slim, self.out, CHECKPOINT_NAME)
        self.report["checkpoint"] = {"step": state.step, "samples_seen": state.samples_seen, "parts": manifest,
                                     "optimizer": "stripped (AdamW moments restart on resume)"}  # fmt: skip
        self.report["run_config"] = json.loads((run_dir / "config.json").read_text())
        self.report["train"].update(throughput(state.history, self.report["train"].get("start_step", 0),
                                               config.batch_size))
        self.write_report()

    # -- 4. evaluate ---------------------------------------------------------------------------------------------
    def evaluate(self, bundle: Path) -> None:
        """``sana-wm eval`` of ``bundle`` and of the shipped model on the same worlds, in two processes, within the
        time left."""
        shutil.copyfile(SHIPPED_BUNDLE / DEPTH_FILE, bundle / DEPTH_FILE)  # its sessions build the world cache
        if self.options.eval_scenes == 0:
            return
        threads = max(1, cores() // 2)
        horizons = ",".join(f"{h:g}" for h in self.options.eval_horizons)
        jobs = {}
        for name, model in (("trained", bundle), ("shipped", SHIPPED_BUNDLE)):
            argv = [sys.executable, "-m", "engine.train.device_job", "eval", "--model", str(model),
                    "--scenes", str(self.options.eval_scenes), "--horizons", horizons, "--threads", str(threads),
                    "--json", str(self.work / f"eval_{name}.json")]  # fmt: skip
            jobs[name] = subprocess.Popen(argv, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        log.info("eval: the trained and the shipped model on %d held-out worlds at %s s, %d threads each, %.0f s left",
                 self.options.eval_scenes, horizons, threads, self.left())  # fmt: skip
        results: dict[str, Any] = {}
        for name, proc in jobs.items():
            try:
                output, _ = proc.communicate(timeout=max(1.0, self.left() - 5.0))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.communicate()
                results[name] = {"error": f"stopped: the job's --minutes {self.options.minutes:g} ran out"}
                continue
            path = self.work / f"eval_{name}.json"
            if proc.returncode != 0 or not path.is_file():
                results[name] = {"error": f"exit code {proc.returncode}: {output.strip().splitlines()[-1:] or ''}"}
                continue
            results[name] = json.loads(path.read_text())
        self.report["eval"] = results
        self.report["verdict"] = verdict(results)
        log.info("eval: %s", self.report["verdict"])

    # -- all of it -----------------------------------------------------------------------------------------------
    def run(self) -> int:
        self.out.mkdir(parents=True, exist_ok=True)
        self.work.mkdir(parents=True, exist_ok=True)
        phases = self.report["phases"]
        try:
            t = time.perf_counter()
            self.check()
            resume_config, seed, run_dir = self.prepare_run()
            phases["check_s"] = round(time.perf_counter() - t, 1)
            self.write_report()

            t = time.perf_counter()
            data = self.render(seed)
            phases["render_s"] = round(time.perf_counter() - t, 1)
            self.write_report()

            t = time.perf_counter()
            config = self.train_config(data, resume_config)
            try:
                result = self.train(data, run_dir, config, resume=resume_config is not None)
            except (RuntimeError, TrainingDiverged) as exc:
                numerics = isinstance(exc, TrainingDiverged) or "bfloat16" in str(exc).lower()
                if not (numerics and config.bf16 and resume_config is None and not list_checkpoints(run_dir)):
                    raise
                log.warning("train: bf16 failed before the first checkpoint (%s); starting again in fp32", exc)
                self.report["bf16_fallback"] = str(exc)
                shutil.rmtree(run_dir)
                config = dataclasses.replace(config, bf16=False)
                result = self.train(data, run_dir, config, resume=False)
            phases["train_s"] = round(time.perf_counter() - t, 1)
            self.report["train"].update({"steps_end": result.steps, "samples_seen": result.samples_seen,
                                         "final_loss": result.final_loss, "stopped_early": result.stopped_early})

            t = time.perf_counter()
            self.evaluate(result.bundle_dir)
            phases["eval_s"] = round(time.perf_counter() - t, 1)
            return 0
        except (SanaWMInputError, RuntimeError, OSError) as exc:
            log.error("device job: %s", exc)
            self.report["error"] = f"{type(exc).__name__}: {exc}"
            return 2
        finally:
            phases["total_s"] = round(self.elapsed(), 1)
            self.write_report()

    def prepare_run(self) -> tuple[dict[str, Any] | None, int, Path]:
        """The run folder in ``work``: empty for a new run, or ``--resume``'s config and newest checkpoint. Returns
        the recorded config (None for a new run), the dataset seed and the folder."""
        run_dir = self.work / "run"
        if run_dir.exists():
            shutil.rmtree(run_dir)
        run_dir.mkdir(parents=True)
        if self.options.resume is None:
            self.report["train"] = {"start_step": 0}
            return None, 1 if self.options.data_seed is None else self.options.data_seed, run_dir
        source = Path(self.options.resume)
        record_path, checkpoints = source / "config.json", list_checkpoints(source)
        if not record_path.is_file() or not checkpoints:
            raise InputFileError(f"--resume {source}: expected a run folder with config.json and checkpoints/, found "
                                 f"{'no config.json' if not record_path.is_file() else 'no checkpoint'} "
                                 "(make one with: python -m engine.train.device_job carry RUN)")  # fmt: skip
        (run_dir / "checkpoints").mkdir()
        shutil.copyfile(record_path, run_dir / "config.json")
        shutil.copyfile(checkpoints[-1], run_dir / "checkpoints" / checkpoints[-1].name)
        record = json.loads(record_path.read_text())
        start = int(load_checkpoint(checkpoints[-1])["step"])
        self.report["train"] = {"start_step": start, "resumed_from": str(checkpoints[-1])}
        seed = self.options.data_seed if self.options.data_seed is not None else 1 + len(record.get("runs", []))
        return record["train"], seed, run_dir


#: Makes a headless GL context and prints its renderer and version (run in a child process by ``Job.check``).
_GL_PROBE = """
from engine.synth.renderer import create_context
ctx = create_context()
print(ctx.info.get("GL_RENDERER", "?"))
print(ctx.info.get("GL_VERSION", "?"))
ctx.release()
"""


class _RenderStopped(Exception):
    """Raised from the render's progress callback when its time is up (the pool is terminated)."""


def throughput(history: Sequence[dict[str, float]], start_step: int, batch: int) -> dict[str, float]:
    """Windows per second of this start's steps, the share of step time spent waiting for windows, and what the
    step alone could take, ``batch / (step time - data wait)``: far above the first, the data limits the run."""
    rows = [r for r in history if r["step"] > start_step][5:]  # the first steps include start-up
    if not rows:
        return {}
    step_s = [batch / r["samples_per_s"] for r in rows]
    total, wait = sum(step_s), sum(r.get("data_wait_s", 0.0) for r in rows)
    return {"steps_measured": len(rows), "windows_per_s": round(batch * len(rows) / total, 2),
            "data_wait_share": round(wait / total, 3), "compute_s_per_step": round((total - wait) / len(rows), 4),
            "step_only_windows_per_s": round(batch * len(rows) / max(total - wait, 1e-9), 1)}  # fmt: skip


def verdict(results: dict[str, Any]) -> str:
    """One line: does the trained model beat the shipped one in PSNR at every horizon on these worlds (a first
    look, not the ship decision)."""
    try:
        new = next(r for r in results["trained"]["rows"] if r["name"] == "model")["horizons"]
        old = next(r for r in results["shipped"]["rows"] if r["name"] == "model")["horizons"]
    except (KeyError, StopIteration, TypeError):
        return "no comparison (an evaluation failed; see report.json)"
    parts = [f"{h}: trained {new[h]['psnr']:.2f} dB vs shipped {old[h]['psnr']:.2f} dB" for h in new if h in old]
    better = all(new[h]["psnr"] > old[h]["psnr"] for h in new if h in old)
    return ("the trained model beats the shipped one at every horizon" if better
            else "the trained model does not beat the shipped one at every horizon") + " (" + \
        "; ".join(parts) + "); ship only after the full protocol (docs/embedded_model.md)"


def report_markdown(report: dict[str, Any]) -> str:
    """``report.md``: what the job did, in a few lines and the evaluation tables."""
    env = report.get("environment", {})
    lines = [f"# Device job {report.get('started_at', '')}", "",
             f"- machine: {env.get('gpu', 'no GPU')}, {env.get('cpu_count', '?')} cores, GL {env.get('gl_renderer', '?')}, "
             f"torch {env.get('torch', '?')}",
             f"- phases (s): {report.get('phases', {})}"]  # fmt: skip
    if "render" in report:
        r = report["render"]
        lines.append(f"- render: {r['clips']} of {r['clips_planned']} planned clips (seed {r['seed']}) in {r['seconds']} s "
                     f"with {r['workers']} workers: {r['seconds_per_clip_per_worker']} s per clip per worker "
                     f"(planned with {r['assumed_seconds_per_clip_per_worker']})")  # fmt: skip
    t = report.get("train", {})
    if "steps_end" in t or "windows_per_s" in t:
        lines.append(f"- train: steps {t.get('start_step', 0)} -> {t.get('steps_end', report.get('checkpoint', {}).get('step'))}, "
                     f"{t.get('windows_per_s', '?')} windows/s, data wait {t.get('data_wait_share', '?')} of the time, "
                     f"{t.get('compute_s_per_step', '?')} s compute per step (the step alone could take "
                     f"{t.get('step_only_windows_per_s', '?')} windows/s), final loss {t.get('final_loss', '?')}")  # fmt: skip
    if "checkpoint" in report:
        c = report["checkpoint"]
        lines.append(f"- checkpoint in --out: step {c['step']} in {len(c['parts'])} part(s), {c['optimizer']}")
    for key in ("bf16_fallback", "error", "verdict"):
        if key in report:
            lines.append(f"- {key}: {report[key]}")
    for name, result in report.get("eval", {}).items():
        lines += ["", f"## eval {name}", ""]
        lines.append(result["markdown"] if "markdown" in result else f"failed: {result.get('error')}")
    return "\n".join(lines)


# ----- sub-commands ------------------------------------------------------------------------------------------------
def evaluate_bundle(model: Path, scenes: int, horizons: tuple[float, ...], threads: int, json_path: Path) -> None:
    """``sana-wm eval`` without PyAV (the device machine has none): the protocol's rows and table as JSON. No drift
    check (60 s of streaming per world, too long for the job)."""
    torch.set_num_threads(threads)
    result = evaluate(load_bundle(model), EvalConfig(scenes=scenes, horizons_s=horizons, drift_seconds=0.0))
    record = {**result.as_dict(), "markdown": result.to_markdown()}
    atomic_write_text(json_path, json.dumps(record, default=str) + "\n")


def unpack(source: Path, dest: Path) -> Path:
    """A run folder ``dest`` from a job's ``--out`` folder ``source``: the checkpoint joined and checked, the run's
    ``config.json``, ``loss.csv``/``loss.png`` from the checkpoint's log, ``bundle/`` with the shipped depth
    estimator beside it, and the job's report as ``device_report_<step>.md/.json``. Returns the bundle folder.

    Raises:
        InputFileError: no report, a part missing or altered, or a bundle of another step than the checkpoint
            (a command killed while it copied them).
    """
    report_path = source / "report.json"
    if not report_path.is_file():
        raise InputFileError(f"{source}: expected a device job's --out folder with report.json, found none")
    report = json.loads(report_path.read_text())
    if "checkpoint" not in report:
        raise InputFileError(f"{report_path}: the job wrote no checkpoint ({report.get('error', 'see job.log')})")
    step = int(report["checkpoint"]["step"])
    target = checkpoint_path(dest, step)
    join_parts(source, report["checkpoint"]["parts"], target)
    payload = load_checkpoint(target)
    bundle_meta = json.loads((source / "bundle.json").read_text()) if (source / "bundle.json").is_file() else {}
    bundle_step = bundle_meta.get("extras", {}).get("training", {}).get("steps")
    if bundle_step != step:
        raise InputFileError(f"{source / 'bundle.json'}: expected the bundle of step {step} (the checkpoint's), found "
                             f"{bundle_step!r}; write it from the checkpoint with sana-wm train --resume --steps {step}")  # fmt: skip
    atomic_write_text(dest / "config.json", json.dumps(report["run_config"], indent=2) + "\n")
    write_loss_csv(payload["history"], dest / "loss.csv")
    plot_loss(payload["history"], dest / "loss.png", title="sana-wm-tiny v2 on a lent GPU: chunk-causal flow matching")
    bundle = dest / "bundle"
    bundle.mkdir(parents=True, exist_ok=True)
    for name in ("model.safetensors", "bundle.json"):
        shutil.copyfile(source / name, bundle / name)
    shutil.copyfile(SHIPPED_BUNDLE / DEPTH_FILE, bundle / DEPTH_FILE)
    load_embedded_bundle(bundle)  # strict: every weight present and shaped as its config says
    for suffix in ("md", "json"):
        shutil.copyfile(source / f"report.{suffix}", dest / f"device_report_{step:07d}.{suffix}")
    return bundle


def carry(run: Path, dest: Path) -> Path:
    """The folder a device command resumes from (``--resume DEST``): ``run``'s ``config.json`` and its newest
    checkpoint without optimizer state (about 30 MB for ``sana-wm-tiny``: the working tree that travels to the
    machine may hold 64 MiB in all)."""
    checkpoints = list_checkpoints(run)
    if not (run / "config.json").is_file() or not checkpoints:
        raise InputFileError(f"{run}: expected a run folder with config.json and checkpoints/, found "
                             f"{'no config.json' if not (run / 'config.json').is_file() else 'no checkpoint'}")  # fmt: skip
    if dest.exists():
        shutil.rmtree(dest)
    (dest / CHECKPOINT_DIR).mkdir(parents=True)
    shutil.copyfile(run / "config.json", dest / "config.json")
    strip_optimizer(checkpoints[-1], dest / CHECKPOINT_DIR / checkpoints[-1].name)
    return dest


#: The device command of docs/embedded_model.md (``prepare`` prints it): unpack the GL libraries, install the
#: wheels, point libglvnd at the NVIDIA EGL driver where the machine has it, run the job.
DEVICE_COMMAND = (
    "for f in .gl/*.deb; do dpkg -x $f /; done; ldconfig; "
    "v=/usr/local/nvidia/share/glvnd/egl_vendor.d/10_nvidia.json; [ -f $v ] && export __EGL_VENDOR_LIBRARY_FILENAMES=$v; "
    "python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site "
    ".whl/*.whl && export PYTHONPATH=/tmp/site || exit; "
    "PYTHONUNBUFFERED=1 python3 -m engine.train.device_job --minutes 8 --out $OUT/v2"
)


def prepare(repo: Path = REPO) -> None:
    """Download what the bare device machine lacks into ``repo/.gl`` (EGL/GL loader packages, unpacked there) and
    ``repo/.whl`` (moderngl and glcontext for its Python 3.12), both ignored by git (``.git/info/exclude``) and
    named in the call's ``carry``. Needs the network (this machine, not the device one)."""
    git_path = subprocess.run(["git", "rev-parse", "--git-path", "info/exclude"], cwd=repo, capture_output=True,
                              text=True, check=True).stdout.strip()  # fmt: skip
    exclude = repo / git_path  # .git/info/exclude, also in a worktree (where .git is a file)
    lines = exclude.read_text().splitlines() if exclude.is_file() else []
    exclude.parent.mkdir(parents=True, exist_ok=True)
    exclude.write_text("\n".join([*lines, *[e for e in ("/.gl/", "/.whl/") if e not in lines]]) + "\n")
    lists = Path("/tmp/amd64")
    (lists / "partial").mkdir(parents=True, exist_ok=True)
    apt = ["apt-get", "-oAPT::Architecture=amd64", "-oAPT::Architectures=amd64", f"-oDir::State::Lists={lists}"]
    (repo / ".gl").mkdir(exist_ok=True)
    subprocess.run([*apt, "update", "-qq"], check=True)
    subprocess.run([*apt, "download", *GL_DEBS], check=True, cwd=repo / ".gl")
    platforms = [f"--platform={p}" for p in ("manylinux_2_28_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64")]
    subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:",
                    "--python-version", "3.12", "--implementation", "cp", *platforms, "-d", str(repo / ".whl"),
                    *WHEELS], check=True)  # fmt: skip


def _horizons(text: str) -> tuple[float, ...]:
    try:
        values = tuple(float(v) for v in text.split(",") if v.strip())
    except ValueError:
        values = ()
    if not values or min(values) <= 0:
        raise argparse.ArgumentTypeError(f"expected positive seconds such as 1,5, found {text!r}")
    return values


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m engine.train.device_job", description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, required=True, help="where the returned files go ($OUT/v2 on the device)")
    p.add_argument("--minutes", type=float, default=8.0, help="wall-clock budget of the whole job (default 8)")
    p.add_argument("--resume", type=Path, help="continue the run in this folder (made by the 'carry' sub-command)")
    p.add_argument("--work", type=Path, default=Path("/tmp/sana-wm-v2"), help="data and run folder (not returned)")
    p.add_argument("--device", default="cuda", help="cuda (default), cuda:N or cpu (for a check at tiny scale)")
    p.add_argument("--bf16", action=argparse.BooleanOptionalAction, default=True, help="bf16 autocast (default on)")
    p.add_argument("--render-workers", type=int, default=0, help="rendering processes (default: one per core)")
    p.add_argument("--render-seconds", type=float, default=120.0, help="render budget (default 120)")
    p.add_argument("--clips", type=int, default=0, help="clips to render (default: planned from the budget)")
    p.add_argument("--data-seed", type=int, help="dataset seed (default 1, or 1 + the resumed run's starts)")
    p.add_argument("--data-workers", type=int, default=-1, help="window-building processes (default: cores - 1)")
    p.add_argument("--batch", type=int, default=4, help="windows per step of a new run (default 4)")
    p.add_argument("--lr", type=float, default=3e-4, help="learning rate of a new run (default 3e-4)")
    p.add_argument("--eval-scenes", type=int, default=2, help="held-out worlds of the evaluation, 0 = none (default 2)")
    p.add_argument("--eval-horizons", type=_horizons, default=(1.0, 5.0), metavar="S,S", help="default 1,5")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """The job, or a sub-command: ``eval``, ``unpack SRC [--to DIR]``, ``carry RUN [--to DIR]``, ``prepare``."""
    argv = list(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    command = argv[0] if argv and argv[0] in ("eval", "unpack", "carry", "prepare") else "run"
    try:
        if command == "eval":
            p = argparse.ArgumentParser(prog="python -m engine.train.device_job eval")
            p.add_argument("--model", type=Path, required=True)
            p.add_argument("--scenes", type=int, default=2)
            p.add_argument("--horizons", type=_horizons, default=(1.0, 5.0))
            p.add_argument("--threads", type=int, default=1)
            p.add_argument("--json", type=Path, required=True)
            a = p.parse_args(argv[1:])
            evaluate_bundle(a.model, a.scenes, a.horizons, a.threads, a.json)
        elif command in ("unpack", "carry"):
            p = argparse.ArgumentParser(prog=f"python -m engine.train.device_job {command}")
            p.add_argument("source", type=Path)
            p.add_argument("--to", type=Path, default=Path("runs/v2_gpu" if command == "unpack" else "runs/v2_carry"))
            a = p.parse_args(argv[1:])
            if command == "unpack":
                bundle = unpack(a.source, a.to)
                print(f"run folder {a.to}; bundle {bundle}; evaluate it with: sana-wm eval --model {bundle}")
            else:
                carry(a.source, a.to)
                size = sum(f.stat().st_size for f in a.to.rglob("*") if f.is_file()) / 1e6
                print(f"wrote {a.to} ({size:.1f} MB); resume on the device with --resume {a.to} and carry it")
        elif command == "prepare":
            prepare()
            print(f"wrote .gl/ and .whl/ in {REPO}; the device command (carry .gl and .whl):\n{DEVICE_COMMAND}")
        else:
            a = _parser().parse_args(argv)
            options = JobOptions(**{k: v for k, v in vars(a).items()})
            a.out.mkdir(parents=True, exist_ok=True)
            handler = logging.FileHandler(a.out / "job.log")
            handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
            logging.getLogger().addHandler(handler)
            return Job(options).run()
    except SanaWMInputError as exc:
        print(f"device_job: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
