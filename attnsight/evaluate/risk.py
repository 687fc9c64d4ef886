"""Risk metrics: ROC-AUC and average precision (scikit-learn), precision@k, and the Fraud
Detection Handbook's card precision@k per day."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sklearn.metrics import average_precision_score, roc_auc_score


def precision_at_k(labels: np.ndarray, scores: np.ndarray, k: int) -> float:
    """Share of positives among the k highest-scored events (ties broken by order)."""
    top = np.argsort(-scores, kind="stable")[:k]
    return float(labels[top].sum() / max(min(k, len(labels)), 1))


def card_precision_at_k(
    labels: np.ndarray, scores: np.ndarray, accounts: np.ndarray, days: np.ndarray, k: int = 100
) -> float:
    """Mean over days of the share of compromised accounts among the k accounts with the highest
    risk that day (an account's risk: its highest event score; compromised: any positive event that
    day). As in the handbook, an account found compromised is left out of the following days, since
    investigators would already have blocked it."""
    detected: set[object] = set()
    per_day = []
    for day in np.unique(days):
        on_day = (days == day) & ~np.isin(accounts, list(detected))
        day_accounts, inverse = np.unique(accounts[on_day], return_inverse=True)
        risk = np.full(len(day_accounts), -np.inf)
        np.maximum.at(risk, inverse, scores[on_day])
        compromised = np.zeros(len(day_accounts), dtype=bool)
        np.logical_or.at(compromised, inverse, labels[on_day] == 1)
        top = np.argsort(-risk, kind="stable")[:k]
        found = day_accounts[top][compromised[top]]
        per_day.append(len(found) / k)
        detected.update(found.tolist())
    return float(np.mean(per_day)) if per_day else 0.0


def risk_metrics(
    labels: np.ndarray,
    scores: np.ndarray,
    accounts: np.ndarray,
    days: np.ndarray,
    ks: Sequence[int] = (100, 500),
    card_k: int = 100,
) -> dict[str, float]:
    """ROC-AUC, average precision, precision@k and card precision@card_k per day."""
    labels = np.asarray(labels).astype(np.int64)
    both = 0 < labels.sum() < len(labels)
    metrics = {
        "roc_auc": float(roc_auc_score(labels, scores)) if both else float("nan"),
        "average_precision": float(average_precision_score(labels, scores)) if both else float("nan"),
        **{f"precision@{k}": precision_at_k(labels, scores, k) for k in ks},
        f"card_precision@{card_k}": card_precision_at_k(labels, scores, accounts, days, card_k),
        "events": float(len(labels)),
        "positives": float(labels.sum()),
    }
    return metrics
