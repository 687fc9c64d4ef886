"""attnsight: attention models over audience data, with the evidence they attended to."""

from importlib import import_module
from typing import Any

__version__ = "0.1.0"

# Public names resolve lazily so `import attnsight` (and the CLI's --help) never imports torch.
_LAZY = {
    "SequentialRecommender": "attnsight.recommender",
    "read_interactions": "attnsight.data.readers",
    "clean_interactions": "attnsight.data.cleaning",
    "TextClassifier": "attnsight.classifier",
    "read_texts": "attnsight.data.texts",
    "clean_texts": "attnsight.data.texts",
    "RiskScorer": "attnsight.scorer",
    "read_events": "attnsight.data.events",
    "EventSchema": "attnsight.data.events",
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'attnsight' has no attribute {name!r}")
