"""The bundles a report shows, loaded by the task their config.json names, and which of the
`--data` files each one reads.

Matching is by columns, so the order of `--data` does not matter: a text classifier reads a file
with the text column it was trained on (its texts to explain), a risk scorer a file with every
column of its event schema but the label (the events to score); a recommender reads none, its
users' histories are in the bundle. Each file goes to the first bundle, in `--model` order, that fits it and has no file
yet, so two text bundles take two text files in turn — unless that bundle is the only one a later
file fits, which then takes it and moves the earlier file on (an augmenting path: every file gets a
bundle whenever some matching gives each one); a bundle left without one reads the first file that
fits it, so one file serves every bundle it fits. A file that fits no bundle, or whose bundles
every matching gives other files, is an error; the report names the file each bundle read.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from attnsight.classifier import TextClassifier, bundle_columns
from attnsight.data.readers import TABLE_FORMATS, check_path, read_table
from attnsight.errors import AttnsightError, DataError
from attnsight.models.base import read_bundle_config
from attnsight.recommender import SequentialRecommender
from attnsight.scorer import RiskScorer

PREDICTORS: dict[str, type] = {"recsys": SequentialRecommender, "text": TextClassifier, "risk": RiskScorer}
TASKS = tuple(PREDICTORS)


@dataclass
class Bundle:
    """A loaded bundle: its predictor (SequentialRecommender, TextClassifier or RiskScorer), its
    config.json and metrics.json, and the data file the report reads for it, if any."""

    path: Path
    task: str
    config: dict[str, Any]
    predictor: Any = None
    metrics: dict[str, Any] = field(default_factory=dict)
    data: Path | None = None
    encoding: str = "utf-8"  # of `data` (a text file's; Parquet has none)
    inputs: dict[str, Any] = field(default_factory=dict)  # what one part read from `data` and the next reuses

    @property
    def name(self) -> str:
        return self.path.resolve().name


def read_config(path: Path) -> dict[str, Any]:
    """config.json of a bundle the report knows, or a one-line error saying what is wrong."""
    if not path.exists():
        raise AttnsightError(f"{path}: no such bundle folder")
    try:
        config = read_bundle_config(path)
    except FileNotFoundError as exc:
        raise AttnsightError(str(exc)) from None
    except ValueError as exc:
        raise AttnsightError(f"{path}: config.json is not JSON ({exc})") from None
    if config.get("task") not in TASKS:
        raise AttnsightError(f"{path}: a {config.get('task')!r} bundle; the report shows {', '.join(TASKS)} bundles")
    return config


def required_columns(task: str, config: dict[str, Any]) -> set[str] | None:
    """The columns a data file needs for this bundle to read it; None: the bundle reads no file."""
    if task == "text":
        return {bundle_columns(config)["text"]}
    if task == "risk":
        schema = config["schema"]
        roles = [schema["account"], schema["time"], schema.get("entity"), schema.get("id")]
        return {c for c in roles if c} | set(schema["numeric"]) | set(schema["categorical"])
    return None


def columns_of(path: Path, encoding: str = "utf-8") -> list[str]:
    fmt = check_path(path, "auto", ("auto", *TABLE_FORMATS))
    if fmt not in TABLE_FORMATS:
        raise DataError(path, f"the report reads {', '.join(TABLE_FORMATS)} files, not {fmt}")
    return read_table(path, fmt, encoding, used=())[0].columns


def match_data(bundles: Sequence[Bundle], data: Sequence[Path], encoding: str = "utf-8") -> None:
    """Give each bundle its data file (see the module docstring), to read in `encoding`."""
    needs = [required_columns(b.task, b.config) for b in bundles]
    fits: list[tuple[Path, list[Bundle]]] = []
    for path in data:
        columns = set(columns_of(path, encoding))
        fitting = [b for b, need in zip(bundles, needs) if need is not None and need <= columns]
        if not fitting:
            wants = "; ".join(f"{b.name} needs {', '.join(sorted(need))}" for b, need in zip(bundles, needs) if need)
            raise DataError(path, f"fits none of the bundles (columns: {', '.join(sorted(columns))}"
                                  + (f"; {wants})" if wants else "; none of them reads a data file)"))
        fits.append((path, fitting))
    taken: dict[int, Path] = {}  # id of a bundle → the file it reads
    by_path = dict(fits)
    for path, fitting in fits:
        if not _assign(path, by_path, taken, set()):
            names = ", ".join(b.name for b in fitting)
            raise DataError(path, f"every bundle it fits ({names}) reads another --data file: give one file per "
                                  "bundle")
    for bundle in bundles:
        if id(bundle) in taken:
            bundle.data, bundle.encoding = taken[id(bundle)], encoding
    for path, fitting in fits:
        for bundle in fitting:
            if bundle.data is None:
                bundle.data, bundle.encoding = path, encoding


def _assign(path: Path, fits: dict[Path, list[Bundle]], taken: dict[int, Path], visited: set[int]) -> bool:
    """Kuhn's augmenting path: give `path` the first bundle it fits that is free, else the first whose
    file can move to another bundle it fits."""
    free = next((b for b in fits[path] if id(b) not in taken), None)
    if free is not None:
        taken[id(free)] = path
        return True
    for bundle in fits[path]:
        if id(bundle) in visited:
            continue
        visited.add(id(bundle))
        if _assign(taken[id(bundle)], fits, taken, visited):
            taken[id(bundle)] = path
            return True
    return False


def load(bundle: Bundle, device: str) -> None:
    bundle.predictor = PREDICTORS[bundle.task].from_pretrained(bundle.path, device=device)
    bundle.metrics = getattr(bundle.predictor, "metrics_", {})
    if bundle.task == "text" and not bundle.predictor.model_.config.num_labels:
        raise AttnsightError(f"{bundle.path}: a pretrained encoder without a classifier; the report shows trained "
                             "bundles (text train --init it)")
