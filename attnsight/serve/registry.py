"""The served bundles: loaded by task, each with its micro-batchers, swapped whole on reload."""

from __future__ import annotations

import gc
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from attnsight.classifier import TextClassifier
from attnsight.errors import AttnsightError
from attnsight.explain.segments import Segmentation
from attnsight.models.base import read_bundle_config
from attnsight.recommender import RecommendResult, SequentialRecommender
from attnsight.scorer import RiskScorer
from attnsight.serve.batching import MicroBatcher
from attnsight.serve.monitor import Monitor
from attnsight.serve.settings import Settings
from attnsight.serve.store import EventStore, HistoryVersion

PREDICTORS: dict[str, type] = {"recsys": SequentialRecommender, "text": TextClassifier, "risk": RiskScorer}


def bundle_task(path: Path) -> str:
    """The task of the bundle in this folder, or a one-line error when it is none the service serves."""
    try:
        task = read_bundle_config(path).get("task")
    except FileNotFoundError as exc:
        raise AttnsightError(str(exc)) from None
    if task not in PREDICTORS:
        raise AttnsightError(f"{path}: a {task!r} bundle; the service serves {', '.join(PREDICTORS)} bundles")
    return task


class NotFound(AttnsightError):
    """Something the request names does not exist (model, user, item): HTTP 404."""


@dataclass(frozen=True)
class RecQuery:
    """One recommendation asked for: a user (their bundle history, then their stored events) or
    a raw history."""

    user: str | None
    history: list[str] | None
    k: int = 10
    exclude_seen: bool = True
    explain: int = 3
    where: str | None = None  # its place in the request body (requests[1]), to name in its error


@dataclass(frozen=True)
class Segments:
    """A recommender's audience segments and each known user's segment number."""

    segmentation: Segmentation
    of_user: dict[str, int]


@dataclass
class Served:
    name: str
    task: str
    path: Path
    version: int
    loaded_at: str
    predictor: Any
    batchers: dict[str, MicroBatcher] = field(default_factory=dict)
    _segments: Segments | None = field(default=None, repr=False)
    _segments_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def segments(self) -> Segments:
        """A recsys bundle's segments, computed on first use (seconds: every user is read) and kept
        with this version; concurrent first callers wait for the one computing them."""
        with self._segments_lock:
            if self._segments is None:
                rec = self.predictor
                segmentation = rec.segments()
                self._segments = Segments(segmentation, dict(zip(rec.sequences_.users, segmentation.labels)))
            return self._segments

    def close(self) -> None:
        for batcher in self.batchers.values():
            batcher.close()


class Registry:
    def __init__(self, settings: Settings, monitor: Monitor, store: EventStore) -> None:
        self.settings, self.monitor = settings, monitor
        self.histories = HistoryCache(store, settings.cache_users)
        self._models: dict[str, Served] = {}
        self._lock = threading.Lock()  # one reload at a time

    def load_all(self) -> None:
        names = [Path(p).resolve().name for p in self.settings.models]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise AttnsightError(f"two bundles share the folder name {duplicates[0]!r}; models are served by it")
        for path in self.settings.models:
            served = self._load(Path(path), version=1)  # on an error, close() stops those loaded so far
            self._watch(served)
            self._models[served.name] = served
        _freeze_heap()

    def _load(self, path: Path, version: int, name: str | None = None) -> Served:
        task = bundle_task(path)
        # a damaged bundle is an AttnsightError naming it: one line at startup, a 422 on reload
        predictor = PREDICTORS[task].from_pretrained(path, device=self.settings.device)
        _check_servable(path, task, predictor)
        name = name or path.resolve().name
        served = Served(name, task, path, version, datetime.now(timezone.utc).isoformat(timespec="seconds"),
                        predictor)
        self._add_batchers(served)
        return served

    def _watch(self, served: Served) -> None:
        """Drift counts start over against this version's training profile."""
        predictor = served.predictor
        # a recsys profile is computed from the stored histories when the bundle lacks one
        self.monitor.watch(served.name, predictor.drift_profile() if served.task == "recsys" else predictor.profile_)

    def _add_batchers(self, served: Served) -> None:
        wait, size = self.settings.batch_wait_ms / 1000, self.settings.max_batch
        observe = self.monitor.batch_size.labels(served.name).observe
        predictor = served.predictor
        if served.task == "recsys":
            def recommend(queries: list[RecQuery]) -> list[RecommendResult | AttnsightError]:
                """Histories read (store included) here, in the batch's thread, then one batched pass."""
                out: list[RecommendResult | AttnsightError | None] = [None] * len(queries)
                ready: list[tuple[int, np.ndarray, int, int]] = []
                versions = self.histories.versions([q.user for q in queries if q.user is not None])
                for i, q in enumerate(queries):
                    try:
                        ready.append((i, *self._history(served, q, versions.get(q.user or ""))))
                    except AttnsightError as exc:  # this request's error only
                        out[i] = _located(exc, q)
                results = predictor.recommend_batch(
                    [h for _, h, _, _ in ready], [queries[i].k for i, *_ in ready],
                    [queries[i].exclude_seen for i, *_ in ready], [queries[i].explain for i, *_ in ready],
                    [u for _, _, u, _ in ready], [p for *_, p in ready]) if ready else []
                for (i, *_), result in zip(ready, results):
                    out[i] = result
                read = [h[-predictor.max_len :] for _, h, _, _ in ready]  # what the model read of each
                self.monitor.observe(served.name, "history_length", [len(h) for h in read])
                if read:
                    popularity = predictor.item_popularity(np.concatenate(read))
                    self.monitor.observe(served.name, "item_popularity", popularity)
                self.monitor.observe(served.name, "score", [r.items[0].score for r in results if r.items])
                return out  # type: ignore[return-value]

            served.batchers["recommend"] = MicroBatcher(recommend, size, wait, observe, f"{served.name}-recommend")
        elif served.task == "text":
            served.batchers["classify"] = MicroBatcher(lambda texts: list(predictor.predict_proba(texts)), size,
                                                       wait, observe, f"{served.name}-classify")
            served.batchers["explain"] = MicroBatcher(predictor.explain, size, wait, observe,
                                                      f"{served.name}-explain")

    def _history(self, served: Served, q: RecQuery, version: HistoryVersion | None = None
                 ) -> tuple[np.ndarray, int, int]:
        """Catalogue indices of the history to recommend from, how many raw items were unknown, and
        the user's profile row (user features; 0 for none)."""
        rec, monitor = served.predictor, self.monitor
        profile = 0
        if q.user is None:
            indices, unknown = rec.history_indices(history=q.history)
            raw = len(q.history or [])
        else:
            live = self.histories.items(q.user, rec.max_len, version)
            profile = int(rec.profile_rows([q.user])[0])
            known = rec.knows_user(q.user) or profile > 0  # a bundle user, or one added by their features
            if not known and not live:
                raise NotFound(f"unknown user {q.user!r}: no training history and no events in the store; "
                               "send their items as history instead")
            indices, unknown = (rec.history_indices(user=q.user, extra=live) if known
                                else rec.history_indices(history=live))
            raw = len(live)
        monitor.lookups.labels("item").inc(raw)
        monitor.unknown.labels("item").inc(unknown)
        return indices, unknown, profile

    def get(self, name: str | None, task: str) -> Served:
        """The named model, or the only one of this task when no name is given."""
        if name is not None:
            served = self._models.get(name)
            if served is None:
                raise NotFound(f"no model named {name!r} (loaded: {', '.join(self._models) or 'none'})")
            if served.task != task:
                raise AttnsightError(f"model {name!r} is a {served.task} model, not a {task} one")
            return served
        of_task = [m for m in self._models.values() if m.task == task]
        if not of_task:
            raise NotFound(f"no {task} model is loaded (start the service with --model DIR for one)")
        if len(of_task) > 1:
            raise AttnsightError(f"several {task} models are loaded ({', '.join(m.name for m in of_task)}): "
                                 "name one in the request's model field")
        return of_task[0]

    def all(self) -> list[Served]:
        return list(self._models.values())

    def reload(self, name: str, path: Path | None = None) -> Served:
        """Load a new version of a model (from its folder, or another) and swap it in; requests already
        holding the old one finish on it, and its batchers drain before they stop."""
        with self._lock:
            old = self._models.get(name)
            if old is None:
                raise NotFound(f"no model named {name!r} (loaded: {', '.join(self._models) or 'none'})")
            new = self._load(Path(path) if path else old.path, old.version + 1, name=name)
            if new.task != old.task:
                new.close()
                raise AttnsightError(f"{new.path} holds a {new.task} model; {name!r} serves {old.task}")
            self._watch(new)
            self._models[name] = new
        old.close()
        del old  # unreferenced before the collection below, or it is frozen again
        gc.unfreeze()  # the old version's objects become collectable again
        _freeze_heap()
        return new

    def close(self) -> None:
        for served in self._models.values():
            served.close()
        self._models.clear()


def _located(exc: AttnsightError, q: RecQuery) -> AttnsightError:
    """The error prefixed with the query's field, requests[1].history: ..., keeping its HTTP status."""
    if q.where is None:
        return exc
    message = f"{q.where}.{'history' if q.user is None else 'user'}: {exc}"
    return NotFound(message) if isinstance(exc, NotFound) else AttnsightError(message)


def _check_servable(path: Path, task: str, predictor: Any) -> None:
    """Refuse a classifier that loads but could not answer a request: a pretraining bundle (an
    encoder without classes)."""
    if task == "text":
        predictor.check_labelled(path)


def _freeze_heap() -> None:
    """Move what is alive now (the loaded bundles: vocabularies, histories, millions of objects) out
    of the garbage collector's sight: a full collection otherwise walks them all, a 150 ms pause in
    the middle of requests (ML-1M bundle), which was most of the service's p99."""
    gc.collect()
    gc.freeze()


class HistoryCache:
    """Users' stored items (raw ids, oldest first), re-read only when the store's version for the
    user changed: correct with several replicas writing, cheap when nothing did."""

    def __init__(self, store: EventStore, size: int) -> None:
        self.store, self.size = store, size
        self._entries: OrderedDict[str, tuple[HistoryVersion, int, list[str]]] = OrderedDict()
        self._lock = threading.Lock()

    def versions(self, users: Sequence[str]) -> dict[str, HistoryVersion]:
        return self.store.history_versions(users)

    def items(self, user: str, limit: int, version: HistoryVersion | None = None) -> list[str]:
        """The user's last `limit` items; `version`: the store's, when the caller already asked it
        (`versions`, once for a batch of requests)."""
        version = version or self.store.history_version(user)
        if version.count == 0:
            return []
        with self._lock:
            entry = self._entries.get(user)
            if entry is not None and entry[0] == version and entry[1] >= limit:
                self._entries.move_to_end(user)
                return entry[2][-limit:]
        items = self.store.history(user, limit)
        with self._lock:
            self._entries[user] = (version, limit, items)
            self._entries.move_to_end(user)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)
        return items
