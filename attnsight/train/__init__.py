"""Training: one Trainer, objectives, batching, callbacks."""

from attnsight.train.batches import EventBatcher, SequenceBatcher, TokenBatcher
from attnsight.train.objectives import (
    ClassificationObjective,
    ClozeObjective,
    MaskedEventObjective,
    MaskedTokenObjective,
    NextItemObjective,
    RiskObjective,
)
from attnsight.train.sampling import SAMPLERS, NegativeSampler
from attnsight.train.trainer import Callback, Trainer, TrainerConfig, TrainResult, resolve_device

__all__ = [
    "Callback",
    "ClassificationObjective",
    "ClozeObjective",
    "EventBatcher",
    "MaskedEventObjective",
    "MaskedTokenObjective",
    "NegativeSampler",
    "NextItemObjective",
    "RiskObjective",
    "SAMPLERS",
    "SequenceBatcher",
    "TokenBatcher",
    "TrainResult",
    "Trainer",
    "TrainerConfig",
    "resolve_device",
]
