"""Training: one Trainer, objectives, batching, callbacks."""

from attnsight.train.batches import SequenceBatcher, TokenBatcher
from attnsight.train.objectives import (
    ClassificationObjective,
    ClozeObjective,
    MaskedTokenObjective,
    NextItemObjective,
)
from attnsight.train.trainer import Callback, Trainer, TrainerConfig, TrainResult, resolve_device

__all__ = [
    "Callback",
    "ClassificationObjective",
    "ClozeObjective",
    "MaskedTokenObjective",
    "NextItemObjective",
    "SequenceBatcher",
    "TokenBatcher",
    "TrainResult",
    "Trainer",
    "TrainerConfig",
    "resolve_device",
]
