"""Checkpoint files: RNG states round-trip, pruning keeps the newest, foreign files are refused."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from engine.errors import CheckpointError
from engine.train.checkpoint import (
    RunState,
    checkpoint_path,
    list_checkpoints,
    load_checkpoint,
    prune_checkpoints,
    restore_rng,
    rng_state,
    save_checkpoint,
)


def draws() -> tuple[float, float, float]:
    return float(torch.rand(())), float(np.random.rand()), random.random()


def test_rng_states_round_trip_through_a_checkpoint_file(tmp_path):
    model = torch.nn.Linear(2, 2)
    optimizer = torch.optim.AdamW(model.parameters())
    path = save_checkpoint(checkpoint_path(tmp_path, 3), model=model, ema=model, optimizer=optimizer,
                           state=RunState(step=3, samples_seen=6), config_json="{}")  # fmt: skip
    expected = draws()
    draws()  # move every generator on
    restore_rng(load_checkpoint(path)["rng"])
    assert draws() == expected


def test_pruning_keeps_the_newest_checkpoints_by_step(tmp_path):
    for step in (5, 100, 20):
        checkpoint_path(tmp_path, step).parent.mkdir(exist_ok=True)
        checkpoint_path(tmp_path, step).write_bytes(b"")
    (tmp_path / "checkpoints" / "notes.txt").write_text("kept")
    prune_checkpoints(tmp_path, keep=2)
    assert [p.name for p in list_checkpoints(tmp_path)] == ["step_0000020.pt", "step_0000100.pt"]
    assert (tmp_path / "checkpoints" / "notes.txt").exists()


def test_files_that_are_not_training_checkpoints_are_refused(tmp_path):
    torch.save({"weights": torch.zeros(1)}, tmp_path / "other.pt")
    with pytest.raises(CheckpointError, match="expected a 'sana-wm-train-checkpoint/1' checkpoint"):
        load_checkpoint(tmp_path / "other.pt")
    (tmp_path / "broken.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="could not read"):
        load_checkpoint(tmp_path / "broken.pt")
