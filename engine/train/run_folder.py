"""The records of a training run beside its checkpoints: ``config.json`` (settings, resolved model, data, and the
environment of every start) and, at the end, ``bundle/`` (an embedded-format model bundle with the EMA weights).

Written by :func:`engine.train.loop.train`; the folder layout is described there and in docs/training.md.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import json
import os
import platform
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import torch

from engine import __version__
from engine.bundles import ModelBundle, save_bundle
from engine.io.atomic import atomic_write_text
from engine.model.config import SanaWMConfig
from engine.model.transformer import SanaWMTransformer
from engine.train.checkpoint import RunState
from engine.train.config import TrainConfig
from engine.train.data import TrainingData, median_intrinsics

CONFIG_FORMAT = "sana-wm-train-config/1"


def environment(device: torch.device) -> dict[str, Any]:
    """Where a run executes: versions, device, threads (recorded in ``config.json`` and the bundle)."""
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
    else:
        name = platform.processor() or platform.machine()
        with contextlib.suppress(OSError):
            for line in Path("/proc/cpuinfo").read_text().splitlines():
                if line.startswith("model name"):
                    name = line.split(":", 1)[1].strip()
                    break
    return {
        "engine": __version__,
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "numpy": np.__version__,
        "platform": platform.platform(),
        "device": str(device),
        "device_name": name,
        "threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(),
    }


def write_run_config(out_dir: Path, config: TrainConfig, model_config: SanaWMConfig, parameters: int,
                     clips: int, start_step: int, env: dict[str, Any]) -> None:  # fmt: skip
    """Write ``out_dir/config.json``, appending this start (``start_step``, ``env``) to the runs already recorded."""
    path = out_dir / "config.json"
    runs: list[dict[str, Any]] = []
    if start_step > 0 and path.is_file():
        with contextlib.suppress(OSError, ValueError):
            runs = list(json.loads(path.read_text()).get("runs", []))
    runs.append({"started_at": datetime.now(timezone.utc).isoformat(timespec="seconds"), "start_step": start_step,
                 "environment": env})  # fmt: skip
    record = {
        "format": CONFIG_FORMAT,
        "train": config.to_dict(),
        "model": {k: v for k, v in dataclasses.asdict(model_config).items()},
        "parameters": parameters,
        "data": {"path": config.data, "clips": clips, "frame_size": list(config.frame_size),
                 "window_latent_frames": config.window_latent_frames,
                 "window_pixel_frames": 8 * (config.window_latent_frames - 1) + 1},  # fmt: skip
        "runs": runs,
    }
    atomic_write_text(path, json.dumps(record, indent=2) + "\n")


def final_loss(history: list[dict[str, float]]) -> float:
    """Mean loss of the last 10% of steps (at least one): a less noisy summary than the last step."""
    if not history:
        return float("nan")
    tail = history[-max(1, len(history) // 10) :]
    return float(np.mean([row["loss"] for row in tail]))


def _base_bundle_record(folder: str) -> dict[str, Any]:
    """Name, label and training summary of a fine-tune's starting bundle (its lineage), from its bundle.json."""
    record: dict[str, Any] = {"path": folder, "name": Path(folder).name}
    with contextlib.suppress(OSError, ValueError):
        meta = json.loads((Path(folder) / "bundle.json").read_text())
        record.update(name=meta.get("name", record["name"]), label=meta.get("label", ""),
                      training=meta.get("extras", {}).get("training"))  # fmt: skip
    return record


def write_bundle(out_dir: Path, config: TrainConfig, ema: SanaWMTransformer, data: TrainingData, state: RunState,
                 parameters: int, device: torch.device) -> Path:  # fmt: skip
    """Save the EMA weights as ``out_dir/bundle`` with the codec, the data's median intrinsics, a label and a
    training summary (lineage of ``init_from`` included) in ``extras``."""
    env = environment(device)
    summary = {
        "steps": state.step,
        "samples_seen": state.samples_seen,
        "wall_time_s": round(state.wall_time_s, 3),
        "final_loss": final_loss(state.history),
        "clips": len(data),
        "data": config.data,
        "preset": config.preset,
        "parameters": parameters,
        "seed": config.seed,
        "device": env["device"],
        "device_name": env["device_name"],
        "threads": env["threads"],
        "torch": env["torch"],
        "weights": "EMA",
    }
    label = f"trained {state.step} steps on {len(data)} clips"
    if config.init_from:
        base = _base_bundle_record(config.init_from)
        summary["init_from"] = base
        label = f"{base.get('label') or base['name']}, then {state.step} steps" + (
            " with self-rollout context" if config.objective.self_rollout_prob > 0 else ""
        )
    model = copy.deepcopy(ema).cpu().eval()
    bundle = ModelBundle(
        name=config.bundle_name,
        transformer=model,
        codec=data.codec,
        frame_size=config.frame_size,
        default_intrinsics=median_intrinsics(data.clips, config.frame_size),
        label=label,
        extras={"training": summary, "train_config": config.to_dict()},
        context_frames=config.window_latent_frames,
    )
    return save_bundle(bundle, out_dir / "bundle")
