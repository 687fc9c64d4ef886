"""Prometheus metrics and live drift, one registry per app (several apps can live in a process)."""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import Any

import numpy as np
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from attnsight.evaluate.drift import bin_index, psi

_LATENCY = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
_BATCH = (1, 2, 4, 8, 16, 32, 64, 128, 256)
_SCORE = (0.01, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99)


MIN_LIVE = 100  # fewer live values than this and PSI is mostly sampling noise


def drift_status(value: float, count: int) -> str:
    """The usual reading of a PSI value."""
    if count < MIN_LIVE:
        return f"warming up (under {MIN_LIVE} live values)"
    return "stable" if value < 0.1 else "moderate" if value < 0.25 else "major"


class Monitor:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter("attnsight_requests", "HTTP requests", ["endpoint", "status"], registry=r)
        self.latency = Histogram("attnsight_request_seconds", "Request latency", ["endpoint"], buckets=_LATENCY,
                                 registry=r)
        self.batch_size = Histogram("attnsight_batch_size", "Items per forward pass", ["model"], buckets=_BATCH,
                                    registry=r)
        self.events = Counter("attnsight_events_ingested", "Events stored (new, not duplicates)", ["kind"],
                              registry=r)
        self.duplicates = Counter("attnsight_events_duplicate", "Events already stored (same event id)", ["kind"],
                                  registry=r)
        self.lookups = Counter("attnsight_ids_looked_up", "Ids looked up in a model's vocabulary", ["kind"],
                               registry=r)
        self.unknown = Counter("attnsight_ids_unknown", "Ids a model did not know (skipped)", ["kind"], registry=r)
        self.scores = Histogram("attnsight_score", "Risk scores and top class probabilities", ["model"],
                                buckets=_SCORE, registry=r)
        self.classes = Counter("attnsight_predicted_class", "Predicted classes", ["model", "label"], registry=r)
        self.psi = Gauge("attnsight_drift_psi", "Population stability index of live inputs and scores against "
                         "the bundle's training profile", ["model", "feature"], registry=r)
        self._lock = threading.Lock()
        self._profiles: dict[str, dict[str, Any]] = {}
        self._counts: dict[str, dict[str, np.ndarray]] = {}

    def watch(self, model: str, profile: dict[str, Any] | None) -> None:
        """Start (or, after a reload, restart) drift counts for a model against its profile."""
        with self._lock:
            self._profiles[model] = profile or {}
            self._counts[model] = {name: np.zeros(len(ref["proportions"]), dtype=np.int64)
                                   for name, ref in (profile or {}).items()}

    def observe(self, model: str, feature: str, values: Iterable[Any]) -> None:
        """Count live values into the reference's bins (ignored when the profile lacks the feature)."""
        reference = self._profiles.get(model, {}).get(feature)
        if reference is None:
            return
        values = [v for v in values if v is not None]
        if not values:
            return
        counts = np.bincount(bin_index(reference, values), minlength=len(reference["proportions"]))
        with self._lock:
            live = self._counts[model][feature]
            live += counts[: len(live)]

    def drift(self) -> dict[str, dict[str, dict[str, Any]]]:
        """PSI per model and feature, also set on the Prometheus gauges."""
        with self._lock:
            snapshot = {m: {f: c.copy() for f, c in features.items()} for m, features in self._counts.items()}
            profiles = dict(self._profiles)
        out: dict[str, dict[str, dict[str, Any]]] = {}
        for model, features in snapshot.items():
            out[model] = {}
            for feature, counts in features.items():
                value, count = psi(profiles[model][feature], counts), int(counts.sum())
                if count >= MIN_LIVE:
                    self.psi.labels(model, feature).set(value)
                out[model][feature] = {"psi": None if np.isnan(value) else round(value, 6), "live_count": count,
                                       "status": drift_status(value, count)}
        return out

    def exposition(self) -> bytes:
        self.drift()  # refresh the gauges first
        return generate_latest(self.registry)
