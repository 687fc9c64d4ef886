"""The parts every bundle's section has, read from its metrics.json: data and cleaning, training
curves, metrics beside baselines; and the formatting the task parts share."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from markupsafe import Markup

from attnsight.report import figures
from attnsight.report.blocks import Figure, Note, Paragraph, Part, Table
from attnsight.report.bundles import Bundle


@dataclass(frozen=True)
class TaskView:
    """How the report presents a task: its name, the validation metric that selects the model
    (the Trainer's `monitor` for that task), the metrics tabled and the ones drawn as bars."""

    name: str
    selects: str
    metrics: tuple[str, ...]
    bars: tuple[str, ...]


VIEWS = {
    "recsys": TaskView("Sequential recommender", "ndcg@10",
                       ("hr@1", "hr@5", "hr@10", "ndcg@5", "ndcg@10", "ndcg@20", "mrr@10"),
                       ("hr@10", "ndcg@10", "mrr@10", "hr@20", "ndcg@20")),
    "text": TaskView("Text classifier", "macro_f1", ("accuracy", "macro_f1", "macro_precision", "macro_recall"),
                     ("accuracy", "macro_f1", "macro_precision", "macro_recall")),
    "risk": TaskView("Risk scorer", "average_precision",
                     ("roc_auc", "average_precision", "precision@100", "card_precision@100"),
                     ("roc_auc", "average_precision", "precision@100", "card_precision@100")),
}
_CLEANING = {
    "recsys": {"rows_in": "events read", "below_min_rating": "below the minimum rating", "duplicates":
               "duplicate events", "dropped_by_user_filter": "events of users under the minimum",
               "dropped_by_item_filter": "events of items under the minimum", "kcore_rounds": "k-core rounds",
               "rows_out": "events kept", "users_out": "users", "items_out": "items"},
    "text": {"rows_in": "texts read", "html_cleaned": "texts with HTML tags or entities cleaned",
             "urls_removed": "texts with links removed", "bom_removed": "byte-order marks removed",
             "normalized": "texts changed by Unicode normalisation", "empty": "empty after cleaning (dropped)",
             "duplicates": "duplicates (dropped)", "conflicting_labels": "same text, different labels (dropped)",
             "rows_out": "texts kept"},
}
_BASELINES = {"popularity": "most popular items", "majority": "majority class",
              "gradient_boosting": "gradient boosting (hand-made features)"}
_PHASES = {"pretrain": "Pretraining", "train": "Training"}
_COUNTS = ("users", "examples", "events", "positives")  # logged beside validation metrics; not metrics


def number(value: Any) -> str:
    """A value as the report prints it: integers with separators, other numbers to 4 places."""
    if isinstance(value, bool) or value is None:
        return {True: "yes", False: "no", None: "—"}[value]
    if isinstance(value, int) or (isinstance(value, float) and value.is_integer() and abs(value) >= 1):
        return f"{int(value):,}"
    if isinstance(value, float):
        return "—" if math.isnan(value) else f"{value:.4f}"
    if isinstance(value, (list, tuple)):  # a pair is a range (of dates), longer lists enumerate
        return (" … " if len(value) == 2 else ", ").join(map(number, value)) or "—"
    if isinstance(value, dict):
        return ", ".join(f"{k} {number(v)}" for k, v in value.items())
    return str(value)


def metric(value: float | None) -> str:
    """A metric to 4 places, as the CLI prints it."""
    return "—" if value is None or math.isnan(value) else f"{value:.4f}"


def utc(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, tz=timezone.utc).strftime("%Y-%m-%d %H:%M")


def dim(main: str, detail: str) -> Markup:
    """A cell: the main text, then a detail in grey (both escaped)."""
    return Markup('{} <span class="dim">{}</span>').format(main, detail) if detail else Markup.escape(main)


def summary(bundle: Bundle) -> str:
    m = bundle.metrics
    if not m:
        return "no metrics.json: the bundle was saved without training results"
    parts = [f"dataset {m.get('dataset', '?')}", f"trained {m.get('date', '?')[:10]} on {m.get('device', '?')}",
             f"{m.get('epochs', '?')} epochs in {m.get('train_seconds', 0):.0f} s"]
    if m.get("best_epoch"):
        parts.append(f"kept epoch {m['best_epoch']} (stopped by {str(m.get('stopped_by', '?')).replace('_', ' ')})")
    return "; ".join(parts)


def data_part(bundle: Bundle, seed: int) -> Part:
    m, part = bundle.metrics, Part("Data and cleaning")
    part.blocks.append(Paragraph(f"Trained on {m.get('dataset', 'an unnamed dataset')}."))
    cleaning = m.get("cleaning")
    if cleaning:
        labels = _CLEANING.get(bundle.task, {})
        part.blocks.append(Table(["step", "count"], [[labels.get(k, k.replace("_", " ")), number(v)]
                                                     for k, v in cleaning.items()], "Cleaning", frozenset({1})))
    else:
        part.blocks.append(Note("No cleaning report in metrics.json (this task reads its table as given, "
                                "rows in error stop training with the file and line)."))
    side = m.get("side")
    if side:  # how each side table matched the log: nothing is dropped silently
        users = side.get("users") or {}
        rows = [[kind, report["source"], number(report["matched"]), number(report["unknown"]),
                 number(report["missing"]), ", ".join(dict.fromkeys(features))]
                for kind, report, features in (("items", side.get("table"), side.get("features", [])),
                                               ("item vectors", side.get("vectors"), ["vector"]),
                                               ("users", users, users.get("features", []))) if report]
        part.blocks.append(Table(["side data", "file", "matched ids", "rows of unknown ids", "ids without a row",
                                  "features"], rows, "Side information", frozenset({2, 3, 4})))
    schema = bundle.config.get("schema")
    if schema:
        part.blocks.append(Table(["role", "column(s)"], [[k, number(v)] for k, v in schema.items() if v],
                                 "Event columns"))
    protocol = m.get("protocol")
    if protocol:
        part.blocks.append(Table(["protocol", "value"], [[k.replace("_", " "), number(v)]
                                                         for k, v in protocol.items()], "Evaluation protocol"))
    return part


def curves_part(bundle: Bundle, seed: int) -> Part:
    part = Part("Training curves")
    history = bundle.metrics.get("history") or {}
    curves = [_curve(bundle, phase, logs) for phase, logs in sorted(history.items(), key=lambda p: p[0] != "pretrain")
              if logs]
    if not curves:
        part.blocks.append(Note("No training history in metrics.json."))
        return part
    part.blocks.append(Figure(figures.training_curves(curves),
                              f"Loss on the training data and {VIEWS[bundle.task].selects} on the validation split "
                              "after each epoch; the dashed line marks the epoch whose weights the bundle keeps."))
    return part


def _curve(bundle: Bundle, phase: str, logs: list[dict[str, float]]) -> figures.Curve:
    selects = f"valid_{VIEWS[bundle.task].selects}"
    logged = [k for k in logs[0] if k.startswith("valid_") and not k.endswith(_COUNTS)]
    key = selects if selects in logged else (logged[0] if logged else None)
    best = bundle.metrics.get("best_epoch") if phase == "train" else (bundle.metrics.get(phase) or {}).get("best_epoch")
    return figures.Curve(
        phase=_PHASES.get(phase, phase.capitalize()),
        epochs=[int(row["epoch"]) for row in logs],
        loss=[row.get("loss", math.nan) for row in logs],
        metric=key[len("valid_"):] if key else None,
        values=[row.get(key, math.nan) for row in logs] if key else [],
        best_epoch=best,
    )


def metrics_part(bundle: Bundle, seed: int) -> Part:
    m, view, part = bundle.metrics, VIEWS[bundle.task], Part("Metrics beside baselines")
    if "test" not in m:
        part.blocks.append(Note("No test metrics in metrics.json."))
        return part
    ours = f"attnsight ({view.name.lower()})"
    rows = [[ours, "validation", *[metric(m.get("valid", {}).get(k)) for k in view.metrics]],
            [ours, "test", *[metric(m["test"].get(k)) for k in view.metrics]]]
    tested = {ours: m["test"]}
    for key, baseline in (m.get("baselines") or {}).items():
        name = _BASELINES.get(key, key.replace("_", " "))
        for split in ("valid", "test"):
            if split in baseline:
                rows.append([name, {"valid": "validation"}.get(split, split),
                             *[metric(baseline[split].get(k)) for k in view.metrics]])
        if "test" in baseline:
            tested[name] = baseline["test"]
    numeric = frozenset(range(2, 2 + len(view.metrics)))
    part.blocks.append(Paragraph(f"The model was selected by validation {view.selects}; the test split was read "
                                 "once, at the end. Baselines are scored on the same splits."))
    part.blocks.append(Table(["model", "split", *view.metrics], rows, "Metrics (0 to 1, higher is better)", numeric))
    part.blocks.append(Figure(figures.metric_bars(tested, view.bars, "Test metrics: attnsight beside baselines"),
                              "Each group is one metric on the test split; the first bar is this bundle's model."))
    per_class = m["test"].get("per_class")
    if per_class:
        part.blocks.append(Table(["class", "precision", "recall", "F1", "test texts"],
                                 [[label, metric(c["precision"]), metric(c["recall"]), metric(c["f1"]),
                                   number(c["support"])] for label, c in per_class.items()],
                                 "Per class, on the test split", frozenset({1, 2, 3, 4})))
    if m["test"].get("confusion_matrix") and m["test"].get("labels"):
        part.blocks.append(Figure(figures.confusion(m["test"]["confusion_matrix"], m["test"]["labels"]),
                                  "Rows: the true class; columns: the predicted one; counts of test texts."))
    return part


COMMON_PARTS = (data_part, curves_part, metrics_part)
