"""Running a job file on Ray: ``sana-wm batch`` (docs/batch.md).

Ray does the distribution, retries and resource accounting; nothing here schedules. Each worker is a Ray actor
(:class:`engine.batch.worker.GenerateWorker`) that reserves ``threads`` CPUs and keeps the models it loaded; the
jobs go to whichever actor is free (:class:`ray.util.ActorPool`). A worker process that dies is restarted by Ray
and its job retried (``max_restarts`` / ``max_task_retries``); a job that fails with an error is recorded with its
one-line message and the batch goes on. Jobs whose outputs are complete are skipped before anything starts, so a
re-run finishes what is missing.

Ray is an optional extra (``pip install -e ".[batch]"``), imported only when a batch runs.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from engine.batch.bench_inputs import official_inputs
from engine.batch.jobs import Job, JobLineError
from engine.batch.worker import GenerateWorker, JobResult, is_complete, output_video
from engine.errors import ConfigError, SanaWMInputError, clip_text, one_line
from engine.io.atomic import atomic_write_text

log = logging.getLogger(__name__)

INSTALL_HINT = 'pip install -e ".[batch]"  (or: pip install "ray[default]")'
LAYOUTS = ("default", "sana-wm-bench")
#: Frames and frame rate of SANA-WM-Bench videos (60 s at 16 fps).
BENCH_FRAMES = 961
BENCH_FPS = 16.0
#: Seconds to wait for a cluster's address to answer before giving up.
CONNECT_TIMEOUT_S = 5.0

#: ``progress(done, total, result)`` after each finished job.
Progress = Callable[[int, int, JobResult], None]


@dataclass(frozen=True)
class BatchSettings:
    """``workers`` Ray actors with ``threads`` CPU threads each; ``address`` joins a running cluster (None: start a
    local Ray with ``workers * threads`` CPUs); ``layout``: ``default`` or ``sana-wm-bench``."""

    output_dir: Path
    workers: int = 2
    threads: int = 1
    address: str | None = None
    layout: str = "default"
    bench_frames: int = BENCH_FRAMES
    max_retries: int = 1

    def __post_init__(self) -> None:
        if self.workers < 1:
            raise ConfigError(f"--workers: expected 1 or more, found {self.workers}")
        if self.threads < 1:
            raise ConfigError(f"--threads-per-worker: expected 1 or more, found {self.threads}")
        if self.layout not in LAYOUTS:
            raise ConfigError(f"--layout: expected one of {', '.join(LAYOUTS)}, found {self.layout!r}")
        if self.bench_frames < 1:
            raise ConfigError(f"--bench-frames: expected 1 or more, found {self.bench_frames}")


@dataclass
class BatchReport:
    """Every job's :class:`JobResult` in job-file order, the wall time and the settings; ``to_json`` is the
    machine-readable report."""

    results: list[JobResult]
    wall_seconds: float
    workers: int
    threads: int
    address: str
    layout: str
    extra: dict = field(default_factory=dict)

    def counts(self) -> dict[str, int]:
        out = {"done": 0, "failed": 0, "skipped": 0, "invalid": 0}
        for r in self.results:
            out[r.status] += 1
        return out

    def seconds_per_job(self) -> float | None:
        done = [r.seconds for r in self.results if r.status == "done"]
        return sum(done) / len(done) if done else None

    def to_dict(self) -> dict:
        return {"counts": self.counts(), "wall_seconds": round(self.wall_seconds, 3),
                "seconds_per_job": self.seconds_per_job(), "workers": self.workers,
                "threads_per_worker": self.threads, "address": self.address, "layout": self.layout,
                **self.extra, "jobs": [r.to_dict() for r in self.results]}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    def table(self) -> str:
        """The summary a terminal shows: one row per job, then the totals."""
        width = max([len(r.name) for r in self.results] + [4])
        lines = [f"{'job':<{width}}  {'status':<8} {'seconds':>8}  note"]
        for r in self.results:
            note = r.error or (Path(r.video).name if r.video else "")
            lines.append(f"{r.name:<{width}}  {r.status:<8} {r.seconds:>8.1f}  {clip_text(note, 100)}")
        c = self.counts()
        per_job = self.seconds_per_job()
        lines.append(f"done {c['done']}, failed {c['failed']}, skipped {c['skipped']}, invalid lines {c['invalid']}; "
                     f"{self.wall_seconds:.1f} s wall" + (f", {per_job:.1f} s per job" if per_job else ""))
        return "\n".join(lines)


def import_ray():
    """Ray, or an input error saying how to install the extra."""
    try:
        import ray
    except ImportError:
        raise ConfigError(f"sana-wm batch: expected the ray package (the batch extra), found it missing; "
                          f"install it with {INSTALL_HINT}") from None
    return ray


def check_address(address: str, timeout_s: float = CONNECT_TIMEOUT_S) -> None:
    """Fail in seconds when a cluster address does not answer (Ray itself retries for minutes). ``auto`` and
    ``local`` are Ray's own lookups and are left to it."""
    if address in ("auto", "local"):
        return
    target = address.split("://", 1)[-1]
    host, sep, port = target.rpartition(":")
    if not sep or not port.isdigit():
        raise ConfigError(f"--address: expected HOST:PORT (or ray://HOST:PORT, auto), found {clip_text(address, 60)!r}")
    try:
        with socket.create_connection((host, int(port)), timeout=timeout_s):
            pass
    except OSError as exc:
        raise ConfigError(f"--address {address}: expected a Ray cluster answering there, found no answer within "
                          f"{timeout_s:.0f} s ({clip_text(exc, 60)})") from None


def run_batch(jobs: list[Job], invalid: list[JobLineError], settings: BatchSettings,
              progress: Progress | None = None) -> BatchReport:
    """Render ``jobs`` on Ray; ``invalid`` lines are reported as such. Returns the report (not yet written)."""
    started = time.perf_counter()
    output_dir = Path(settings.output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    bench = settings.layout == "sana-wm-bench"
    results: dict[int, JobResult] = {e.line: JobResult(e.name, e.line, "invalid", error=e.message) for e in invalid}
    todo: list[tuple[Job, Path]] = []
    for job in jobs:
        video = output_video(output_dir, job.name, job.mode, settings.layout)
        if is_complete(video):
            results[job.line] = JobResult(job.name, job.line, "skipped", video=str(video))
            continue
        try:
            todo.append((official_inputs(job, output_dir / "inputs"), video))
        except SanaWMInputError as exc:
            results[job.line] = JobResult(job.name, job.line, "failed", error=one_line(exc))
    total = len(jobs) + len(invalid)
    done_count = len(results)
    address = "local"
    if todo:
        ray = import_ray()
        if settings.address:
            check_address(settings.address)
        _init_ray(ray, settings)
        address = settings.address or "local"
        try:
            from ray.util import ActorPool

            actor_class = ray.remote(GenerateWorker).options(
                num_cpus=settings.threads, max_restarts=settings.max_retries, max_task_retries=settings.max_retries)
            actors = [actor_class.remote(settings.threads) for _ in range(min(settings.workers, len(todo)))]
            pool = ActorPool(actors)
            for job, video in todo:
                argv = job.generate_argv(output_dir, fps=BENCH_FPS if bench else None)
                pool.submit(lambda actor, a: actor.run.remote(*a),
                            (argv, str(video), settings.layout, settings.bench_frames if bench else None))
            by_video = {str(video): job for job, video in todo}
            order = [str(video) for _, video in todo]
            # ActorPool.get_next returns results in submission order; each is one job's outcome
            for key in order:
                try:
                    outcome = pool.get_next()
                except Exception as exc:  # noqa: BLE001 - a worker that died for good fails its job only
                    outcome = {"status": "failed", "error": clip_text(f"worker lost: {exc}", 200)}
                job = by_video[key]
                result = JobResult(job.name, job.line, **{k: outcome.get(k) for k in ("status", "error", "worker")},
                                   seconds=float(outcome.get("seconds") or 0.0),
                                   video=key if outcome.get("status") == "done" else None)
                results[job.line] = result
                done_count += 1
                if progress:
                    progress(done_count, total, result)
        finally:
            ray.shutdown()
    ordered = [results[line] for line in sorted(results)]
    return BatchReport(ordered, time.perf_counter() - started, settings.workers, settings.threads, address,
                       settings.layout)


def write_report(report: BatchReport, target: Path) -> None:
    """The machine-readable report, written atomically."""
    atomic_write_text(target, report.to_json() + "\n")


def _init_ray(ray, settings: BatchSettings) -> None:
    """Start a local Ray sized to the batch, or connect to ``settings.address``."""
    env = {"env_vars": {"OMP_NUM_THREADS": str(settings.threads), "MKL_NUM_THREADS": str(settings.threads),
                        "TOKENIZERS_PARALLELISM": "false"}}
    common = dict(include_dashboard=False, log_to_driver=False, configure_logging=True,
                  logging_level=logging.WARNING, runtime_env=env, ignore_reinit_error=True)
    if settings.address:
        ray.init(address=settings.address, **common)
    else:
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
        ray.init(num_cpus=settings.workers * settings.threads, num_gpus=0, **common)
