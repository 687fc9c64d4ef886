"""Classification metrics (scikit-learn): the flat scores that select models, and the full report."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np


def classification_metrics(y_true: Sequence[int], y_pred: Sequence[int], num_labels: int) -> dict[str, float]:
    """Accuracy and macro precision/recall/F1 over all `num_labels` classes (absent ones count as 0)."""
    from sklearn.metrics import accuracy_score, precision_recall_fscore_support

    labels = list(range(num_labels))
    precision, recall, f1, _ = precision_recall_fscore_support(
        y_true, y_pred, labels=labels, average="macro", zero_division=0
    )
    return {
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "macro_precision": float(precision),
        "macro_recall": float(recall),
        "macro_f1": float(f1),
        "examples": float(len(y_true)),
    }


def classification_report(y_true: Sequence[int], y_pred: Sequence[int], label_names: Sequence[str]) -> dict[str, Any]:
    """The flat metrics plus per-class precision/recall/F1/support and the confusion matrix
    (rows: true class, columns: predicted, in `label_names` order)."""
    from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

    labels = list(range(len(label_names)))
    precision, recall, f1, support = precision_recall_fscore_support(
        y_true, y_pred, labels=labels, average=None, zero_division=0
    )
    per_class = {
        name: {"precision": float(p), "recall": float(r), "f1": float(f), "support": int(s)}
        for name, p, r, f, s in zip(label_names, precision, recall, f1, support)
    }
    matrix = confusion_matrix(y_true, y_pred, labels=labels)
    return {
        **classification_metrics(y_true, y_pred, len(label_names)),
        "per_class": per_class,
        "confusion_matrix": np.asarray(matrix).tolist(),
        "labels": list(label_names),
    }
