"""What one batch worker does with one job: the ``sana-wm generate`` code path with a model it keeps loaded.

Runs inside a Ray actor (:mod:`engine.batch.runner`) but imports nothing of Ray, so it is testable alone. The job's
arguments go through ``generate``'s own parser and ``run``; only the model loading is shared between jobs, which
is what makes a batch faster than separate ``sana-wm generate`` processes and keeps its videos identical to theirs.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from engine.errors import SanaWMInputError, one_line

#: File name of a job's video in the SANA-WM-Bench layout.
BENCH_SUFFIX = "_generated"


@dataclass
class JobResult:
    """How a job ended: ``status`` is ``done``, ``failed``, ``skipped`` (outputs already complete) or ``invalid``
    (its job-file line could not be read); ``error`` is one line; ``seconds`` is the job's own wall time."""

    name: str
    line: int
    status: str
    seconds: float = 0.0
    video: str | None = None
    error: str | None = None
    worker: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)


def output_video(output_dir: Path, name: str, mode: str, layout: str) -> Path:
    """Where a job's video goes: ``<name>_<mode>.mp4`` as ``generate`` names it, or ``<name>_generated.mp4`` in
    the ``sana-wm-bench`` layout."""
    stem = f"{name}{BENCH_SUFFIX}" if layout == "sana-wm-bench" else f"{name}_{mode}"
    return Path(output_dir) / f"{stem}.mp4"


def is_complete(video: Path) -> bool:
    """A job is complete when its video and the trajectory beside it exist: both are written atomically (a
    temporary file renamed at the end), so a file that exists is whole."""
    return video.is_file() and video.with_suffix(".npz").is_file()


class GenerateWorker:
    """Generates jobs one after another with ``threads`` CPU threads, keeping each model it loaded."""

    def __init__(self, threads: int) -> None:
        import torch

        self.threads = threads
        torch.set_num_threads(threads)
        self._bundles: dict[tuple, object] = {}
        self.name = f"pid {os.getpid()}"

    def run(self, argv: list[str], video: str, layout: str, expected_frames: int | None = None) -> dict:
        """Generate one job (``argv``: its ``sana-wm generate`` arguments) and return a :class:`JobResult` dict
        without ``name``/``line`` filled in. Errors are caught and returned as one line: one bad job never stops
        the batch."""
        started = time.perf_counter()
        try:
            self._generate(argv, Path(video), layout, expected_frames)
            return {"status": "done", "seconds": time.perf_counter() - started, "video": video, "worker": self.name}
        except SanaWMInputError as exc:
            message = one_line(exc)
        except SystemExit:  # argparse rejected an argument; its message went to the captured stderr
            message = "invalid generate arguments"
        except Exception as exc:  # noqa: BLE001 - any failure of one job is recorded and the batch goes on
            message = one_line(f"{type(exc).__name__}: {exc}")
        return {"status": "failed", "seconds": time.perf_counter() - started, "error": message, "worker": self.name}

    def _generate(self, argv: list[str], video: Path, layout: str, expected_frames: int | None) -> None:
        from engine.commands import generate as generate_cmd

        parser = argparse.ArgumentParser(prog="sana-wm")
        generate_cmd.register(parser.add_subparsers(dest="command"))
        err = io.StringIO()
        try:
            with contextlib.redirect_stderr(err):
                args = parser.parse_args(["generate", *argv])
        except SystemExit:
            raise SanaWMInputError(one_line(err.getvalue().strip().splitlines()[-1] if err.getvalue() else
                                            "invalid generate arguments")) from None
        bundle = self._bundle(args, generate_cmd)
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            generate_cmd.run(args, bundle=bundle)
        written = Path(args.output_dir) / f"{args.name}_{args.mode}.mp4"
        if written != video:  # the benchmark layout renames; os.replace is atomic on one file system
            if expected_frames is not None:
                _check_frames(written, expected_frames)
            os.replace(written.with_suffix(".npz"), video.with_suffix(".npz"))
            os.replace(written, video)

    def _bundle(self, args: argparse.Namespace, generate_cmd):
        """The model for ``args``, loaded once per (folder, dtype, device, refiner, memory tier) and kept."""
        import torch

        from engine.bundles import load_bundle

        key = (str(args.model), args.dtype, args.device, args.no_refiner, args.memory)
        if key not in self._bundles:
            device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
            dtype = generate_cmd.DTYPES[args.dtype] if args.dtype else (
                torch.bfloat16 if device.type == "cuda" else torch.float32)
            self._bundles[key] = load_bundle(args.model, dtype=dtype, device=device, refiner=not args.no_refiner,
                                             memory=args.memory)  # fmt: skip
        return self._bundles[key]


def _check_frames(video: Path, expected: int) -> None:
    """The benchmark scorer expects a fixed frame count; a shorter camera path must fail the job, not pass. The video
    holds ``expected`` frames, or one fewer when the pipeline drops the image's reconstruction (streaming, or
    refined: the official pipeline does the same, and the benchmark's scorer skips the first frame when needed)."""
    import numpy as np

    with np.load(video.with_suffix(".npz")) as data:
        found = int(data["c2w"].shape[0])
    if found not in (expected, expected - 1):
        for p in (video, video.with_suffix(".npz")):
            p.unlink(missing_ok=True)
        raise SanaWMInputError(f"{video.stem}: expected {expected} frames for the SANA-WM-Bench layout, "
                               f"generated {found} (the camera path is shorter)")
