"""Hyperparameter search with Optuna (the `tune` extra): resumable, pruned, shared by workers."""

from attnsight.tune.search import (
    FINISHED,
    Fit,
    PruningCallback,
    best_config,
    discard_study,
    finished_trials,
    open_study,
    optimize,
    redact,
)
from attnsight.tune.space import METRICS, SPACES, Choice, Range, Space, suggest

__all__ = [
    "FINISHED",
    "METRICS",
    "SPACES",
    "Choice",
    "Fit",
    "PruningCallback",
    "Range",
    "Space",
    "best_config",
    "discard_study",
    "finished_trials",
    "open_study",
    "optimize",
    "redact",
    "suggest",
]
