"""Population stability index (PSI) of live values against a reference profile from training.

A profile maps a feature name to a reference histogram: numeric features by quantile bins of
the training values, categorical ones by category (unseen categories share an "other" bin).
PSI = Σ (live% − ref%) · ln(live% / ref%); the usual reading: < 0.1 stable, 0.1–0.25 moderate
shift, > 0.25 major shift. Bundles keep their profile in profile.json.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

PROFILE_FILE = "profile.json"
OTHER = "<other>"
_EPS = 1e-4  # floor on bin shares, so an empty bin costs a large but finite PSI


def numeric_reference(values: np.ndarray, bins: int = 10) -> dict[str, Any]:
    """Quantile bins of training values (ties merged): inner edges and the share in each bin."""
    values = np.asarray(values, dtype=np.float64)
    values = values[np.isfinite(values)]
    if len(values) == 0:
        raise ValueError("no finite values to build a reference from")
    edges = np.unique(np.quantile(values, np.linspace(0, 1, bins + 1)[1:-1]))
    counts = np.bincount(np.searchsorted(edges, values, side="right"), minlength=len(edges) + 1)
    return {"kind": "numeric", "edges": edges.tolist(), "proportions": (counts / counts.sum()).tolist()}


def categorical_reference(values: Iterable[str], categories: Sequence[str] | None = None) -> dict[str, Any]:
    """Share of each category in training (plus an empty "other" bin for unseen ones)."""
    values = [str(v) for v in values]
    categories = sorted(set(values)) if categories is None else [str(c) for c in categories]
    index = {c: i for i, c in enumerate(categories)}
    counts = np.zeros(len(categories) + 1)
    for v in values:
        counts[index.get(v, len(categories))] += 1
    return {"kind": "categorical", "categories": categories + [OTHER],
            "proportions": (counts / max(counts.sum(), 1)).tolist()}


def bin_index(reference: dict[str, Any], values: Iterable[Any]) -> np.ndarray:
    """Which bin of the reference each value falls in."""
    if reference["kind"] == "numeric":
        return np.searchsorted(np.asarray(reference["edges"]), np.asarray(list(values), dtype=np.float64),
                               side="right")
    index = {c: i for i, c in enumerate(reference["categories"])}
    other = len(reference["categories"]) - 1
    return np.array([index.get(str(v), other) for v in values], dtype=np.int64)


def psi(reference: dict[str, Any], counts: np.ndarray) -> float:
    """PSI of live bin counts against the reference shares; NaN while there are no live values."""
    counts = np.asarray(counts, dtype=np.float64)
    if counts.sum() == 0:
        return float("nan")
    expected = np.maximum(np.asarray(reference["proportions"], dtype=np.float64), _EPS)
    actual = np.maximum(counts / counts.sum(), _EPS)
    return float(np.sum((actual - expected) * np.log(actual / expected)))
