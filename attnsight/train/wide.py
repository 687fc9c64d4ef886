"""Fitting a text model's wide head (Wide & Deep, late fusion): scikit-learn's logistic regression
on the TF-IDF features the head reads, then how much of it to mix into the trained attention
head's logits, both chosen on validation."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from scipy import sparse

from attnsight.evaluate.classification import classification_metrics
from attnsight.models.text import TextTransformer
from attnsight.train.batches import TokenBatcher

C_VALUES = (1.0, 4.0, 16.0)  # inverse L2 strengths tried, strongest first (preferred on a tie)
MIXES = np.linspace(0.0, 1.0, 21)  # shares of the wide logits tried, smallest first
MONITOR = "macro_f1"  # what the attention head's early stopping selects on, too


@torch.no_grad()
def tfidf_matrix(
    model: TextTransformer, ids: Sequence[np.ndarray], pad_id: int, counts: bool = False
) -> sparse.csr_matrix:
    """(texts, features) TF-IDF matrix of the wide head's features (raw counts with `counts`)."""
    device = next(model.parameters()).device
    parts = []
    for order, batch in TokenBatcher(ids, 256, pad_id=pad_id).in_order():
        tallies = model.wide_counts(batch["input_ids"].to(device), batch["attention_mask"].to(device).bool())
        rows, features, values = (*tallies.indices(), tallies.values()) if counts else model.wide.tfidf(tallies)
        parts.append((order[rows.cpu().numpy()], features.cpu().numpy(), values.cpu().numpy()))
    rows, features, values = (np.concatenate(column) for column in zip(*parts))
    return sparse.csr_matrix((values, (rows, features)), shape=(len(ids), model.wide.idf.numel()))


def fit_wide_head(
    model: TextTransformer,
    buckets: int,
    train_ids: Sequence[np.ndarray],
    y_train: np.ndarray,
    valid_ids: Sequence[np.ndarray],
    y_valid: np.ndarray,
    attention_valid: np.ndarray,
    pad_id: int,
) -> dict[str, Any]:
    """Add and fit `model`'s wide head; `attention_valid` is the attention head's (N, classes) log
    probabilities on the validation texts. Returns what was chosen and the validation metrics of
    the attention head alone, the wide head alone and the mix."""
    from sklearn.linear_model import LogisticRegression

    started = time.perf_counter()
    head = model.add_wide_head(buckets)
    classes = int(model.config.num_labels)
    frequency = np.bincount(tfidf_matrix(model, train_ids, pad_id, counts=True).indices, minlength=head.idf.numel())
    head.idf.copy_(torch.from_numpy(np.log((1.0 + len(train_ids)) / (1.0 + frequency)) + 1.0))  # sklearn's smooth idf
    x_train, x_valid = tfidf_matrix(model, train_ids, pad_id), tfidf_matrix(model, valid_ids, pad_id)

    def score(logits: np.ndarray) -> dict[str, float]:
        return classification_metrics(y_valid, logits.argmax(1), classes)

    best: dict[str, Any] = {"score": -np.inf}
    for c in C_VALUES:
        regression = LogisticRegression(C=c, max_iter=2000).fit(x_train, y_train)
        weight, bias = _logit_weights(regression, classes)
        wide_valid = x_valid @ weight + bias
        for mix in MIXES:
            metrics = score((1 - mix) * attention_valid + mix * wide_valid)
            if metrics[MONITOR] > best["score"]:
                best = {"score": metrics[MONITOR], "C": c, "mix": float(mix), "weight": weight, "bias": bias,
                        "valid": metrics, "valid_wide": score(wide_valid)}
    head.weight.copy_(torch.from_numpy(best["weight"]))
    head.bias.copy_(torch.from_numpy(best["bias"]))
    head.mix.fill_(best["mix"])
    return {"buckets": buckets, "C": best["C"], "mix": best["mix"], "valid": best["valid"],
            "valid_wide": best["valid_wide"], "valid_attention": score(attention_valid),
            "seconds": time.perf_counter() - started}


def _logit_weights(regression: Any, classes: int) -> tuple[np.ndarray, np.ndarray]:
    """(features, classes) weights and (classes,) bias giving the regression's logits; a binary one
    has a single score z for class 1, split as (-z/2, z/2), which softmax turns into sigmoid(z)."""
    coef, intercept = regression.coef_.astype(np.float32), regression.intercept_.astype(np.float32)
    if classes == 2:
        return np.stack([-coef[0], coef[0]], axis=1) / 2, np.array([-intercept[0], intercept[0]]) / 2
    return np.ascontiguousarray(coef.T), intercept
