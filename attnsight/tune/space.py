"""The documented search spaces, named as the train commands name their options (`--max-len`
is max_len), so a trial's values are option values that `<task> train --config` takes back."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Union

if TYPE_CHECKING:
    import optuna


@dataclass(frozen=True)
class Choice:
    """One of a few values (sizes that must divide each other, or a handful of sampled sizes)."""

    values: tuple[Any, ...]

    def suggest(self, trial: optuna.Trial, name: str) -> Any:
        return trial.suggest_categorical(name, list(self.values))

    def __str__(self) -> str:
        return ", ".join(map(str, self.values))


@dataclass(frozen=True)
class Range:
    """An interval: integers when both ends are, else floats (on a log scale for learning rates)."""

    low: float
    high: float
    log: bool = False

    def suggest(self, trial: optuna.Trial, name: str) -> Any:
        if isinstance(self.low, int) and isinstance(self.high, int):
            return trial.suggest_int(name, self.low, self.high, log=self.log)
        return trial.suggest_float(name, self.low, self.high, log=self.log)

    def __str__(self) -> str:
        return f"{self.low:g} … {self.high:g}" + (" (log)" if self.log else "")


Space = dict[str, Union[Choice, Range]]

# every hidden size divides by every head count of its space
SPACES: dict[str, Space] = {
    "recsys": {
        "dim": Choice((32, 64, 128)),
        "layers": Range(1, 3),
        "heads": Choice((1, 2, 4)),
        "dropout": Range(0.0, 0.5),
        "lr": Range(1e-4, 1e-2, log=True),
        "max_len": Choice((50, 100, 200)),
        "negatives": Choice((0, 64, 256)),  # 0: full softmax
    },
    "text": {
        "dim": Choice((64, 128, 256)),
        "layers": Range(1, 3),
        "heads": Choice((2, 4)),
        "dropout": Range(0.0, 0.3),
        "lr": Range(1e-4, 3e-3, log=True),
        "max_len": Choice((64, 128, 256)),
    },
    "risk": {
        "dim": Choice((32, 64, 128)),
        "layers": Range(1, 3),
        "heads": Choice((2, 4)),
        "dropout": Range(0.0, 0.3),
        "lr": Range(1e-4, 1e-2, log=True),
        "history_len": Choice((8, 16, 32, 64)),  # the risk model's maximum length
        "negative_rate": Choice((0.25, 0.5, 1.0)),  # its negatives: the share of negative events trained on
    },
}

# the validation metric each task's Trainer selects on (its `monitor`), and the search maximises
METRICS = {"recsys": "ndcg@10", "text": "macro_f1", "risk": "average_precision"}


def suggest(trial: optuna.Trial, space: Space) -> dict[str, Any]:
    """The trial's values for every option of the space."""
    return {name: dimension.suggest(trial, name) for name, dimension in space.items()}
