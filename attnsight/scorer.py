"""RiskScorer: an event table in, risk scores with the past events that raised them out.

Split by time ([train][valid][gap][test]) → features normalised on the training period →
optional masked-feature pretraining → a target-attention transformer over each event's account
and entity histories, trained with a class-weighted loss → test metrics beside a gradient-boosting
baseline on the Fraud Detection Handbook's engineered features, under the same split.
"""

from __future__ import annotations

import inspect
import platform
import time
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import torch
from sklearn.base import BaseEstimator

from attnsight import __version__
from attnsight.data.events import (
    DAY,
    UNLABELLED,
    Events,
    EventSchema,
    TimeSplit,
    events_from_records,
    history_index,
    read_events,
    time_split,
    window_features,
    without_known,
)
from attnsight.errors import AttnsightError, DataError, check_count
from attnsight.evaluate.drift import PROFILE_FILE, numeric_reference
from attnsight.evaluate.risk import risk_metrics
from attnsight.explain.attention import attention_rollout
from attnsight.models.base import read_json, read_task_config, reading_bundle, write_or_remove_json
from attnsight.models.risk import SOURCES, UNKNOWN, RiskConfig, RiskTransformer
from attnsight.train import EventBatcher, MaskedEventObjective, RiskObjective, Trainer, TrainerConfig
from attnsight.train.distributed import is_main_process, shard_gather
from attnsight.train.settings import check_settings
from attnsight.train.trainer import Callback, TrainResult, data_digest, peak_rss_mb, resolve_device

METRICS_FILE = "metrics.json"
MAX_CATEGORIES = 10_000  # per column; rarer values share the unknown code
_DERIVED = ("hour", "weekday")  # categorical features every event table has, from its timestamp


@dataclass
class AttendedEvent:
    source: str  # account | entity
    event: str  # its id (or file line)
    time: str
    seconds_before: int
    weight: float  # share of the current event's attention (rollout over layers)
    fields: dict[str, Any]
    label: int | None  # its label when it was already known at scoring time


@dataclass
class RiskExplanation:
    event: str
    account: str
    score: float
    attended: list[AttendedEvent]  # most attended first


class RiskScorer(BaseEstimator):
    """Risk scores for events (transactions, logins, claims) from attention over each account's
    recent events and, when given, the recent events of a second entity (terminal, merchant)."""

    def __init__(
        self,
        *,
        history_len: int = 32,
        label_delay_days: int = 7,
        dim: int = 64,
        num_layers: int = 2,
        num_heads: int = 4,
        ffn_dim: int | None = None,
        dropout: float = 0.1,
        epochs: int = 20,
        pretrain_epochs: int = 0,
        mask_prob: float = 0.15,
        batch_size: int = 256,
        lr: float = 1e-3,
        pretrain_lr: float = 1e-3,
        weight_decay: float = 0.01,
        pos_weight: float | None = None,
        negative_rate: float = 1.0,
        patience: int = 3,
        time_budget: float | None = None,
        train_days: int | None = None,
        valid_days: int = 7,
        gap_days: int = 7,
        test_days: int = 7,
        test_start: str | None = None,
        exclude_known: bool = True,
        baseline: bool = True,
        device: str = "auto",
        seed: int = 42,
        checkpoint_dir: str | None = None,
        resume: bool = False,
        log_dir: str | None = None,
    ) -> None:
        self.history_len = history_len
        self.label_delay_days = label_delay_days
        self.dim = dim
        self.num_layers = num_layers
        self.num_heads = num_heads
        self.ffn_dim = ffn_dim
        self.dropout = dropout
        self.epochs = epochs
        self.pretrain_epochs = pretrain_epochs
        self.mask_prob = mask_prob
        self.batch_size = batch_size
        self.lr = lr
        self.pretrain_lr = pretrain_lr
        self.weight_decay = weight_decay
        self.pos_weight = pos_weight
        self.negative_rate = negative_rate
        self.patience = patience
        self.time_budget = time_budget
        self.train_days = train_days
        self.valid_days = valid_days
        self.gap_days = gap_days
        self.test_days = test_days
        self.test_start = test_start
        self.exclude_known = exclude_known
        self.baseline = baseline
        self.device = device
        self.seed = seed
        self.checkpoint_dir = checkpoint_dir
        self.resume = resume
        self.log_dir = log_dir

    # ----------------------------------------------------------------------------- preprocessing

    def _fit_preprocessing(self, events: Events, rows: np.ndarray) -> None:
        """Normalisation of the numbers and vocabularies of the categories, from training rows only."""
        signed = _signed_log(events.numeric[rows])
        with np.errstate(all="ignore"), warnings.catch_warnings():  # an all-missing column: mean 0, scale 1
            warnings.simplefilter("ignore", RuntimeWarning)
            self.numeric_mean_ = np.nan_to_num(np.nanmean(signed, axis=0)).tolist()
            self.numeric_std_ = np.nan_to_num(np.nanstd(signed, axis=0), nan=1.0).tolist()
        self.vocabularies_ = []
        for j in range(events.categorical.shape[1]):
            values, counts = np.unique(events.categorical[rows, j].astype(str), return_counts=True)
            kept = values[np.argsort(-counts, kind="stable")[:MAX_CATEGORIES]]
            self.vocabularies_.append(sorted(kept.tolist()))

    def _arrays(self, events: Events) -> tuple[np.ndarray, np.ndarray]:
        """(N, F) float32 normalised numbers (missing: the mean) and (N, C) int64 category codes."""
        std = np.maximum(np.asarray(self.numeric_std_), 1e-6)
        numeric = (_signed_log(events.numeric) - np.asarray(self.numeric_mean_)) / std
        numeric = np.clip(np.nan_to_num(numeric), -8, 8).astype(np.float32)
        codes = []
        for j, vocabulary in enumerate(self.vocabularies_):  # sorted, never empty (training rows have values)
            column, known = events.categorical[:, j].astype(str), np.asarray(vocabulary, dtype=str)
            position = np.minimum(np.searchsorted(known, column), len(known) - 1)
            codes.append(np.where(known[position] == column, position + 1, UNKNOWN))
        seconds = events.time % DAY
        codes += [seconds // 3600 + 1, ((events.time // DAY) + 3) % 7 + 1]
        return numeric, np.stack(codes, axis=1).astype(np.int64)

    def _batcher(self, events: Events, arrays: tuple[np.ndarray, np.ndarray], rows: np.ndarray,
                 batch_size: int) -> EventBatcher:
        n = self.history_len
        parts, sources = [history_index(events.account, events.time, rows, n)], [np.full(n, 1)]
        if events.entity is not None:
            parts.append(history_index(events.entity, events.time, rows, n))
            sources.append(np.full(n, 2))
        return EventBatcher(
            arrays[0], arrays[1], events.time, rows, np.concatenate(parts, axis=1), np.concatenate(sources),
            batch_size, events.label, self.label_delay_days * DAY,
        )

    # ----------------------------------------------------------------------------- training

    def _trainer_config(self, name: str, epochs: int, lr: float, monitor: str, budget: float | None,
                        digest: str) -> TrainerConfig:
        return TrainerConfig(
            epochs=epochs, lr=lr, weight_decay=self.weight_decay, warmup_steps=100, patience=self.patience,
            linear_decay=name == "train",  # validation AP is noisy: a decaying rate settles the end of training
            monitor=monitor, time_budget=budget, seed=self.seed, device=self.device,
            checkpoint=str(Path(self.checkpoint_dir) / f"{name}.pt") if self.checkpoint_dir else None,
            resume=self.resume, log_dir=str(Path(self.log_dir) / name) if self.log_dir else None, data_digest=digest,
        )

    def fit(
        self,
        data: Events | str | Path,
        schema: EventSchema | None = None,
        callbacks: Sequence[Callback] = (),
        dataset: str | None = None,
    ) -> RiskScorer:
        """Split by time, train (pretraining first when pretrain_epochs > 0), select on validation
        average precision, then score the test period once, beside the baseline."""
        check_settings(self.get_params())
        events = _as_events(data, schema, require_labels=True)
        if len(np.unique(events.label)) < 2:
            raise DataError(events.source, "labels are all the same; risk scoring needs positives and negatives")
        split = time_split(events, self.train_days, self.valid_days, self.gap_days, self.test_days,
                           self.test_start, self.label_delay_days, self.exclude_known)
        if events.label[split.train].sum() == 0:
            raise DataError(events.source, "no positive labels in the training period")
        if len(split.valid) == 0 or events.label[split.valid].sum() == 0:
            raise DataError(events.source, "no positive labels in the validation days (known accounts left out): "
                            "model selection needs some; give more --valid-days")
        self.schema_ = events.schema
        self._fit_preprocessing(events, split.train)
        arrays = self._arrays(events)
        digest = data_digest(*arrays, events.account, events.time, events.label, split.train, split.valid)
        torch.manual_seed(self.seed)
        self.model_ = RiskTransformer(RiskConfig(
            num_numeric=len(events.schema.numeric),
            categorical_sizes=[len(v) + 1 for v in self.vocabularies_] + [24 + 1, 7 + 1],
            history_len=self.history_len, dim=self.dim,
            num_layers=self.num_layers, num_heads=self.num_heads, ffn_dim=self.ffn_dim or 4 * self.dim,
            dropout=self.dropout, attn_dropout=self.dropout,
        ))
        rng = np.random.default_rng(self.seed)
        train_rows = split.train
        if self.negative_rate < 1.0:  # every positive, a share of the negatives
            labels = events.label[train_rows]
            train_rows = train_rows[(labels == 1) | (rng.random(len(train_rows)) < self.negative_rate)]
        positives = int(events.label[train_rows].sum())
        pos_weight = self.pos_weight or float(np.sqrt((len(train_rows) - positives) / max(positives, 1)))
        valid_batcher = self._batcher(events, arrays, split.valid, 1024)
        spent = 0.0
        self.pretrain_metrics_ = None
        if self.pretrain_epochs > 0:
            spent = self._pretrain(events, arrays, split.train, callbacks, digest)
        batcher = self._batcher(events, arrays, train_rows, self.batch_size)
        valid_labels, valid_days = events.label[split.valid], events.days[split.valid]

        def validate(model: RiskTransformer) -> dict[str, float]:
            scores = self._scores(valid_batcher)
            return risk_metrics(valid_labels, scores, events.account[split.valid], valid_days)

        budget = None if self.time_budget is None else max(self.time_budget - spent, 1.0)
        config = self._trainer_config("train", self.epochs, self.lr, "average_precision", budget, digest)
        result = Trainer(config, callbacks, name="train").fit(self.model_, batcher.epoch, len(batcher),
                                                              RiskObjective(pos_weight), validate)
        self.model_.eval()
        self.metrics_ = self._final_metrics(events, arrays, split, result, spent, pos_weight, len(train_rows),
                                            dataset or Path(events.source).name)
        self.profile_ = {
            **{name: numeric_reference(events.numeric[split.valid, j]) for j, name in enumerate(events.schema.numeric)
               if np.isfinite(events.numeric[split.valid, j]).any()},
            "score": numeric_reference(self._scores(valid_batcher)),
        }
        return self

    def _pretrain(self, events: Events, arrays: tuple[np.ndarray, np.ndarray], rows: np.ndarray,
                  callbacks: Sequence[Callback], digest: str) -> float:
        """Masked-feature modelling on the training period (labels unused), early-stopped on the
        loss of a held-out 5%."""
        rng = np.random.default_rng(self.seed)
        order = rng.permutation(rows)
        held = max(1, min(5000, len(order) // 20))
        batcher = self._batcher(events, arrays, np.sort(order[held:]), self.batch_size)
        held_batcher = self._batcher(events, arrays, np.sort(order[:held]), 1024)
        objective = MaskedEventObjective(self.mask_prob)

        @torch.no_grad()
        def validate(model: RiskTransformer) -> dict[str, float]:
            torch.manual_seed(self.seed)  # the same masks every epoch
            device = next(model.parameters()).device
            losses = [float(objective(model, {k: v.to(device) for k, v in b.items()}))
                      for _, b in held_batcher.in_order()]
            return {"neg_masked_loss": -float(np.mean(losses))}

        budget = None if self.time_budget is None else self.time_budget / 3
        config = self._trainer_config("pretrain", self.pretrain_epochs, self.pretrain_lr, "neg_masked_loss", budget,
                                      digest)
        result = Trainer(config, callbacks, name="pretrain").fit(self.model_, batcher.epoch, len(batcher),
                                                                 objective, validate)
        self.pretrain_metrics_ = {"epochs": result.epochs, "best_epoch": result.best_epoch, "seconds": result.seconds,
                                  "masked_loss": -result.best_metrics.get("neg_masked_loss", float("nan"))}
        return result.seconds

    def _final_metrics(
        self, events: Events, arrays: tuple[np.ndarray, np.ndarray], split: TimeSplit, result: TrainResult,
        pretrain_seconds: float, pos_weight: float, train_examples: int, dataset: str,
    ) -> dict[str, Any]:
        test = split.test
        labels, accounts, days = events.label[test], events.account[test], events.days[test]
        scores = self._scores(self._batcher(events, arrays, test, 1024))
        peak = peak_rss_mb()  # before the baseline adds its own
        baselines = {}
        if self.baseline:
            baselines["gradient_boosting"] = self._baseline(events, split)
        return {
            "task": "risk",
            "dataset": dataset,
            "protocol": {**split.protocol, "history_len": self.history_len, "train_examples": train_examples,
                         "negative_rate": self.negative_rate, "pos_weight": pos_weight, "seed": self.seed},
            "valid": result.best_metrics,
            "test": risk_metrics(labels, scores, accounts, days),  # read once, here
            "baselines": baselines,
            "epochs": result.epochs,
            "best_epoch": result.best_epoch,
            "stopped_by": result.stopped_by,
            "pretrain": self.pretrain_metrics_,
            "train_seconds": result.seconds + pretrain_seconds,
            "seconds_per_epoch": result.seconds / max(result.epochs, 1),
            "peak_rss_mb": peak,
            "device": str(resolve_device(self.device)),
            "params": self.get_params(),
            "history": {"train": result.history},
            "versions": {"attnsight": __version__, "torch": torch.__version__, "python": platform.python_version()},
            "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        }

    def _baseline(self, events: Events, split: TimeSplit) -> dict[str, Any]:
        """scikit-learn HistGradientBoosting on the handbook's features, same training period, same test."""
        from sklearn.ensemble import HistGradientBoostingClassifier

        start = time.perf_counter()
        x_train, names = window_features(events, split.train, delay_days=self.label_delay_days)
        model = HistGradientBoostingClassifier(random_state=self.seed).fit(x_train, events.label[split.train])
        seconds = time.perf_counter() - start
        x_test, _ = window_features(events, split.test, delay_days=self.label_delay_days)
        scores = model.predict_proba(x_test)[:, 1]
        test = split.test
        return {
            "model": "HistGradientBoostingClassifier (scikit-learn defaults)",
            "features": names,
            "train_seconds": seconds,
            "peak_rss_mb": peak_rss_mb(),  # of the process: the attention model's and the baseline's
            "test": risk_metrics(events.label[test], scores, events.account[test], events.days[test]),
        }

    # ----------------------------------------------------------------------------- inference

    def _check_fitted(self) -> None:
        if not hasattr(self, "model_"):
            raise AttnsightError("this scorer is not trained yet: call fit() or from_pretrained() on a bundle")

    def _rows(self, events: Events, rows: Sequence[int] | np.ndarray | None) -> np.ndarray:
        """The rows of `events` to score (all when None), after checking that the events are in this
        model's columns: features read under other names would be scored as if they were its own."""
        self._check_fitted()
        if not isinstance(events, Events):
            raise TypeError(f"events must be an Events table, not {type(events).__name__}: scorer.load(path) reads "
                            "a file in this model's columns")
        theirs, ours = _inputs(events.schema), _inputs(self.schema_)
        for role, columns in ours.items():
            if theirs[role] != columns:
                raise AttnsightError(f"{events.source}: read with {role} columns {theirs[role]!r}, the model's are "
                                     f"{columns!r}; read it with scorer.load(path) to use the model's columns")
        if rows is None:
            return np.arange(len(events))
        rows = np.asarray(rows)
        if rows.ndim != 1 or (len(rows) and not np.issubdtype(rows.dtype, np.integer)):
            raise TypeError(f"rows must be a list of row numbers, not an array of {rows.dtype} with shape {rows.shape}")
        if len(rows) == 0:
            raise AttnsightError("no events to score")
        if rows.min() < 0 or rows.max() >= len(events):
            bad = int(rows[(rows < 0) | (rows >= len(events))][0])
            raise IndexError(f"row {bad} is not one of the {len(events)} events (0 to {len(events) - 1})")
        return rows

    @torch.no_grad()
    def _scores(self, batcher: EventBatcher) -> np.ndarray:
        """Scores of the batcher's rows in order; under torchrun each rank scores its share."""
        model = self.model_
        model.eval()
        device = next(model.parameters()).device

        def compute(share: np.ndarray) -> np.ndarray:
            out = np.zeros(len(share), dtype=np.float64)
            for start in range(0, len(share), batcher.batch_size):
                batch = batcher.batch(share[start : start + batcher.batch_size])
                logits = model({k: v.to(device) for k, v in batch.items()}).logits
                out[start : start + batcher.batch_size] = torch.sigmoid(logits.float()).cpu().numpy()
            return out

        return shard_gather(len(batcher.rows), compute)

    def load(
        self, data: str | Path, history: str | Path | None = None, encoding: str = "utf-8"
    ) -> tuple[Events, np.ndarray]:
        """An event table in this model's schema, after an optional file of earlier events (history
        only), and the rows that came from `data`: the ones to score."""
        self._check_fitted()
        events = read_events(data, self.schema_, encoding=encoding)
        if history is None:
            return events, np.arange(len(events))
        return read_events(history, self.schema_, encoding=encoding).concat(events)

    def from_records(
        self, records: Sequence[dict[str, Any]], history: Sequence[dict[str, Any]] = ()
    ) -> tuple[Events, np.ndarray]:
        """`load` for in-memory rows keyed by this model's column names (a service's requests), after
        earlier rows that serve as history only; errors carry the row's index as their line."""
        self._check_fitted()
        events = events_from_records(records, self.schema_)
        if not history:
            return events, np.arange(len(events))
        return events_from_records(history, self.schema_, source="event store").concat(events)

    def score(self, events: Events, rows: Sequence[int] | np.ndarray | None = None) -> np.ndarray:
        """Risk probability of each of these rows (all when None), each from the rows before it."""
        rows = self._rows(events, rows)
        return self._scores(self._batcher(events, self._arrays(events), rows, 1024))

    def evaluate(self, events: Events, rows: Sequence[int] | np.ndarray | None = None,
                 exclude_known: bool | None = None) -> dict[str, float]:
        """Risk metrics on these labelled rows (all when None). As the model's own test did (unless
        `exclude_known` says otherwise), each day leaves out the accounts already known to be
        compromised: a positive label among the events given, older than the label delay."""
        rows = self._rows(events, rows)
        if events.label is None:
            raise DataError(events.source, "no labels to evaluate against (--label-col)")
        open_rows = rows[events.label[rows] == UNLABELLED]
        if len(open_rows):
            none = "; no row has one to evaluate against" if len(open_rows) == len(rows) else ""
            raise DataError(events.source, f"missing label{none}", int(events.lines[open_rows[0]]), events.schema.label)
        excluded = 0
        if self.exclude_known if exclude_known is None else exclude_known:
            rows, excluded = without_known(events, rows, 0, self.label_delay_days)
        if len(np.unique(events.label[rows])) < 2:  # as training refuses: ROC AUC and AP are undefined
            raise DataError(events.source, "labels are all the same; risk scoring needs positives and negatives"
                            + (f" ({excluded:,} events of accounts already known compromised left out)"
                               if excluded else ""))
        scores = self.score(events, rows)
        metrics = risk_metrics(events.label[rows], scores, events.account[rows], events.days[rows])
        return {**metrics, "excluded_known_accounts": excluded}

    @torch.no_grad()
    def explain(self, events: Events, rows: Sequence[int] | np.ndarray, top: int = 5) -> list[RiskExplanation]:
        """For each event: its score and the past events (account's and entity's) it attended to most."""
        rows, top = self._rows(events, rows), check_count("top", top)
        model = self.model_
        model.eval()
        device = next(model.parameters()).device
        batcher = self._batcher(events, self._arrays(events), rows, 256)
        out = []
        for positions, batch in batcher.in_order():
            result = model({k: v.to(device) for k, v in batch.items()}, output_attentions=True)
            weights = attention_rollout(result.attentions, position=0).cpu().numpy()  # the current event's row
            scores = torch.sigmoid(result.logits.float()).cpu().numpy()
            for i, position in enumerate(positions):
                row = int(batcher.rows[position])
                history = batcher.history[position]
                w = weights[i, 1:] * (history >= 0)
                order = [j for j in np.argsort(-w, kind="stable")[:top] if history[j] >= 0]
                attended = [self._attended(events, row, int(history[j]), SOURCES[int(batcher.source[j + 1])],
                                           float(w[j] / max(w.sum(), 1e-12))) for j in order]
                out.append(RiskExplanation(events.event_ids(np.array([row]))[0],
                                           str(events.accounts[events.account[row]]), float(scores[i]), attended))
        return out

    def _attended(self, events: Events, row: int, past: int, source: str, weight: float) -> AttendedEvent:
        schema = events.schema
        fields: dict[str, Any] = {schema.account: str(events.accounts[events.account[past]])}
        if events.entity is not None and events.entity[past] >= 0:
            fields[schema.entity] = str(events.entities[events.entity[past]])
        fields.update({name: _number(events.numeric[past, j]) for j, name in enumerate(schema.numeric)})
        fields.update({name: str(events.categorical[past, j]) for j, name in enumerate(schema.categorical)})
        before = int(events.time[row] - events.time[past])
        known = events.label is not None and events.label[past] != UNLABELLED and before >= self.label_delay_days * DAY
        return AttendedEvent(
            source, events.event_ids(np.array([past]))[0],
            _iso(int(events.time[past])),
            before, weight, fields, int(events.label[past]) if known else None,
        )

    # ----------------------------------------------------------------------------- bundle

    def save_pretrained(self, path: str | Path) -> None:
        """Write the bundle; under torchrun only rank 0 writes."""
        if not is_main_process():
            return
        self._check_fitted()
        path = Path(path)
        extra = {
            "params": self.get_params(),
            "schema": asdict(self.schema_),
            "preprocessing": {"numeric_mean": self.numeric_mean_, "numeric_std": self.numeric_std_,
                              "vocabularies": self.vocabularies_, "derived": list(_DERIVED)},
        }
        self.model_.save_pretrained(path, extra=extra)
        write_or_remove_json(path / METRICS_FILE, getattr(self, "metrics_", None))
        write_or_remove_json(path / PROFILE_FILE, getattr(self, "profile_", None))

    @classmethod
    def from_pretrained(cls, path: str | Path, device: str = "auto") -> RiskScorer:
        path = Path(path)
        config = read_task_config(path, RiskTransformer.task)
        with reading_bundle(path):  # the options it was saved with too: a config edited by hand
            params = {**config.get("params", {}), "device": device}
            scorer = cls(**{k: v for k, v in params.items() if k in _PARAMS})
            scorer.model_ = RiskTransformer.from_pretrained(path, device=resolve_device(device)).eval()
            schema = config["schema"]
            scorer.schema_ = EventSchema(**{**schema, "numeric": tuple(schema["numeric"]),
                                            "categorical": tuple(schema["categorical"])})
            pre = config["preprocessing"]
            scorer.numeric_mean_, scorer.numeric_std_ = pre["numeric_mean"], pre["numeric_std"]
            scorer.vocabularies_ = pre["vocabularies"]
            metrics = path / METRICS_FILE
            if metrics.is_file():
                scorer.metrics_ = read_json(metrics)
            profile = path / PROFILE_FILE
            scorer.profile_ = read_json(profile) if profile.is_file() else None
        return scorer


_PARAMS = tuple(inspect.signature(RiskScorer.__init__).parameters)[1:]


def _inputs(schema: EventSchema) -> dict[str, Any]:
    """The columns a model reads, by role (the label and event id are not inputs)."""
    return {"account": schema.account, "time": schema.time, "entity": schema.entity,
            "numeric": tuple(schema.numeric), "categorical": tuple(schema.categorical)}


def _signed_log(x: np.ndarray) -> np.ndarray:
    """sign(x)·log(1 + |x|): amounts and counts are heavy-tailed; this keeps their order."""
    return np.sign(x) * np.log1p(np.abs(x))


def _iso(seconds: int) -> str:
    """UTC date-time of epoch seconds; the raw number when it is beyond what datetime represents."""
    try:
        return datetime.fromtimestamp(seconds, tz=timezone.utc).isoformat(sep=" ")
    except (OverflowError, OSError, ValueError):
        return str(seconds)


def _number(value: float) -> float | None:
    return None if np.isnan(value) else float(value)


def _as_events(data: Events | str | Path, schema: EventSchema | None, require_labels: bool = False) -> Events:
    if not isinstance(data, (Events, str, Path)):
        raise TypeError(f"data must be an event file's path or an Events table, not {type(data).__name__}: "
                        "read_events reads a file, events_from_records a list of rows")
    if isinstance(data, Events):
        if require_labels and (data.label is None or (data.label == UNLABELLED).any()):
            raise DataError(data.source, "training needs a label on every event (--label-col)")
        return data
    if schema is None:
        raise AttnsightError("reading an event file needs a schema (which column is the account, the time, ...)")
    return read_events(data, schema, require_labels=require_labels)
