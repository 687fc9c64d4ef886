"""Training: one Trainer, objectives, batching, callbacks."""

from attnsight.train.batches import SequenceBatcher
from attnsight.train.objectives import ClozeObjective, NextItemObjective
from attnsight.train.trainer import Callback, Trainer, TrainerConfig, TrainResult, resolve_device

__all__ = [
    "Callback",
    "ClozeObjective",
    "NextItemObjective",
    "SequenceBatcher",
    "TrainResult",
    "Trainer",
    "TrainerConfig",
    "resolve_device",
]
