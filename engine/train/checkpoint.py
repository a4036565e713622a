"""Training checkpoints: everything needed to continue a run bit for bit.

One file per checkpoint, ``OUT/checkpoints/step_0000100.pt`` (``torch.save``, written atomically: a crash while
writing leaves the previous checkpoints intact and no partial file). Contents (a plain dict of tensors, numbers
and strings, so it loads with ``torch.load(..., weights_only=True)``):

============  ===============================================================================================
key           value
============  ===============================================================================================
format        ``"sana-wm-train-checkpoint/1"``
step          optimizer steps done
samples_seen  the data position (samples drawn so far; the data order is a function of seed and position)
wall_time_s   training time so far, summed over resumed runs
model         the trained weights (state dict)
ema           the EMA weights (state dict): what the final bundle ships
optimizer     AdamW state (moments, step counts, hyper-parameters); ``{}`` in a stripped checkpoint
              (:func:`strip_optimizer`), which resumes with fresh moments
rng           global RNG states: ``torch`` (CPU), ``cuda`` (per device, may be empty), ``numpy``, ``python``
history       the loss log so far: one dict of floats per step (``loss.csv`` is rewritten from it)
config        the run's TrainConfig as JSON text (checked against the resuming config)
============  ===============================================================================================

The training loop draws its own randomness from generators seeded by ``(seed, step)``; the global RNG states
are saved anyway so library code that uses them (dropout, say) resumes exactly too.
"""

from __future__ import annotations

import pickle
import random
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from engine.io.atomic import atomic_path
from engine.errors import CheckpointError

CHECKPOINT_FORMAT = "sana-wm-train-checkpoint/1"
CHECKPOINT_DIR = "checkpoints"
_NAME = re.compile(r"^step_(\d+)\.pt$")


@dataclass
class RunState:
    """Counters of a run: ``step`` (optimizer steps done), ``samples_seen``, ``wall_time_s``, loss ``history``;
    ``rewarm_from``: the step at which a resume without optimizer state restarted the AdamW moments (the learning
    rate warms up again from there), None if that never happened."""

    step: int = 0
    samples_seen: int = 0
    wall_time_s: float = 0.0
    history: list[dict[str, float]] = field(default_factory=list)
    rewarm_from: int | None = None


def rng_state() -> dict[str, Any]:
    """The global RNG states of torch (CPU and CUDA), numpy and Python's ``random``."""
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "numpy": {"kind": kind, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                  "has_gauss": int(has_gauss), "gauss": float(gauss)},  # fmt: skip
        "python": random.getstate(),
    }


def restore_rng(state: dict[str, Any]) -> None:
    """Set the global RNG states saved by :func:`rng_state` (CUDA only when devices are present)."""
    torch.set_rng_state(state["torch"])
    if state.get("cuda") and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    np_state = state["numpy"]
    np.random.set_state((np_state["kind"], np_state["keys"].numpy().astype(np.uint32), np_state["pos"],
                         np_state["has_gauss"], np_state["gauss"]))  # fmt: skip
    version, internal, gauss_next = state["python"]
    random.setstate((version, tuple(internal), gauss_next))


def checkpoint_path(out_dir: str | Path, step: int) -> Path:
    return Path(out_dir) / CHECKPOINT_DIR / f"step_{int(step):07d}.pt"


def list_checkpoints(out_dir: str | Path) -> list[Path]:
    """Checkpoint files of a run, oldest first (by step)."""
    folder = Path(out_dir) / CHECKPOINT_DIR
    if not folder.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in folder.iterdir() if (m := _NAME.match(p.name))]
    return [p for _, p in sorted(found)]


def save_checkpoint(
    path: str | Path,
    *,
    model: torch.nn.Module,
    ema: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    state: RunState,
    config_json: str,
) -> Path:
    """Write one checkpoint atomically (see the module docstring for its contents)."""
    payload = {
        "format": CHECKPOINT_FORMAT,
        "step": int(state.step),
        "samples_seen": int(state.samples_seen),
        "wall_time_s": float(state.wall_time_s),
        "model": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "ema": {k: v.detach().cpu() for k, v in ema.state_dict().items()},
        "optimizer": optimizer.state_dict(),
        "rng": rng_state(),
        "history": [dict(row) for row in state.history],
        "config": config_json,
    }
    if state.rewarm_from is not None:
        payload["rewarm_from"] = int(state.rewarm_from)
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)
    return Path(path)


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read and check a checkpoint written by :func:`save_checkpoint` (tensors on the CPU).

    Raises:
        CheckpointError: unreadable file, another format, or missing entries.
    """
    path = Path(path)
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except (OSError, RuntimeError, ValueError, EOFError, pickle.UnpicklingError) as exc:
        raise CheckpointError(f"{path}: could not read the training checkpoint ({exc})") from None
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        found = payload.get("format") if isinstance(payload, dict) else type(payload).__name__
        raise CheckpointError(f"{path}: expected a {CHECKPOINT_FORMAT!r} checkpoint, found {found!r}")
    missing = {"step", "samples_seen", "model", "ema", "optimizer", "rng", "history", "config"} - set(payload)
    if missing:
        raise CheckpointError(f"{path}: the checkpoint lacks {', '.join(sorted(missing))}")
    return payload


def strip_optimizer(source: str | Path, dest: str | Path) -> Path:
    """Write ``source`` without its AdamW moments to ``dest`` (``optimizer`` = ``{}``), atomically.

    Why: the moments are half a checkpoint (two fp32 copies of the weights; 29 of 58 MB for ``sana-wm-tiny``),
    and a lent GPU machine takes and returns only a few tens of MB per call (docs/embedded_model.md, "Training
    on a lent GPU"). Resuming from the result continues the weights, EMA, data position, schedule and loss log;
    AdamW restarts its moments, and the learning rate warms up again over ``warmup_steps`` (fresh moments make
    every first update a full step of the rate, whatever the gradient's scale), as at the start of a run.
    """
    payload = load_checkpoint(source)
    payload["optimizer"] = {}
    with atomic_path(dest) as tmp:
        torch.save(payload, tmp)
    return Path(dest)


def run_state(payload: dict[str, Any]) -> RunState:
    """The counters stored in a loaded checkpoint."""
    return RunState(
        step=int(payload["step"]),
        samples_seen=int(payload["samples_seen"]),
        wall_time_s=float(payload.get("wall_time_s", 0.0)),
        history=[dict(row) for row in payload["history"]],
        rewarm_from=None if payload.get("rewarm_from") is None else int(payload["rewarm_from"]),
    )


def prune_checkpoints(out_dir: str | Path, keep: int) -> None:
    """Delete all but the newest ``keep`` checkpoints (``keep <= 0`` keeps all)."""
    if keep <= 0:
        return
    for old in list_checkpoints(out_dir)[:-keep]:
        old.unlink(missing_ok=True)
