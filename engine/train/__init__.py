"""Training of the embedded model (``sana-wm train``): chunk-causal flow matching with diffusion forcing.

* :mod:`engine.train.data` — clips -> seeded windows of latents with camera tensors;
* :mod:`engine.train.objective` — the loss: per-chunk timesteps, clean-context batches, shifted timesteps;
* :mod:`engine.train.init` — initialisation for training from scratch;
* :mod:`engine.train.checkpoint` — resumable checkpoints (weights, EMA, optimizer, RNG, data position);
* :mod:`engine.train.curves` — ``loss.csv`` and ``loss.png``;
* :mod:`engine.train.loop` — :class:`TrainConfig` and :func:`train` (run folder, EMA, final bundle).

See ``docs/training.md``.
"""

from engine.train.data import Clip, ClipFolder, TrainingBatch, TrainingData, read_raw_clip
from engine.train.loop import StepReport, TrainConfig, TrainingDiverged, TrainResult, train
from engine.train.objective import ObjectiveConfig, flow_matching_loss, sample_schedule

__all__ = [
    "Clip",
    "ClipFolder",
    "ObjectiveConfig",
    "StepReport",
    "TrainConfig",
    "TrainResult",
    "TrainingBatch",
    "TrainingData",
    "TrainingDiverged",
    "flow_matching_loss",
    "read_raw_clip",
    "sample_schedule",
    "train",
]
