"""Fitting a text model's wide head (Wide & Deep, late fusion): scikit-learn's logistic regression
on the TF-IDF features the head reads, its strength chosen by cross-validation on the training
texts, then how much of it to mix into the trained attention head's logits, chosen on validation."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from scipy import sparse

from attnsight.evaluate.classification import classification_metrics
from attnsight.models.text import TextTransformer, WideHead
from attnsight.train.batches import TokenBatcher

C_VALUES = (1.0, 4.0, 16.0, 64.0)  # inverse L2 strengths tried
FOLDS = 5  # a validation set of a few hundred texts chose C by chance; the training texts are many more
MIXES = np.linspace(0.0, 1.0, 21)  # shares of the wide logits tried, smallest first (preferred on a tie)
MONITOR = "macro_f1"  # what the attention head's early stopping selects on, too


def tfidf_matrix(model: TextTransformer, ids: Sequence[np.ndarray], pad_id: int) -> sparse.csr_matrix:
    """(texts, features) TF-IDF matrix of the wide head's features."""
    return _tfidf(model.wide, _counts(model, ids, pad_id))


def wide_logits(model: TextTransformer, ids: Sequence[np.ndarray], pad_id: int) -> np.ndarray:
    """(texts, classes) logits of the wide head alone, without running the encoder."""
    head = model.wide
    return tfidf_matrix(model, ids, pad_id) @ head.weight.cpu().numpy() + head.bias.cpu().numpy()


@torch.no_grad()
def _counts(model: TextTransformer, ids: Sequence[np.ndarray], pad_id: int) -> sparse.csr_matrix:
    """(texts, features) counts of the wide head's features (`TextTransformer.wide_counts`)."""
    device = next(model.parameters()).device
    parts = []
    for order, batch in TokenBatcher(ids, 256, pad_id=pad_id).in_order():
        tallies = model.wide_counts(batch["input_ids"].to(device), batch["attention_mask"].to(device).bool())
        rows, features = tallies.indices().cpu().numpy()
        parts.append((order[rows], features, tallies.values().cpu().numpy()))
    rows, features, values = (np.concatenate(column) for column in zip(*parts))
    return sparse.csr_matrix((values, (rows, features)), shape=(len(ids), model.wide.idf.numel()))


@torch.no_grad()
def _tfidf(head: WideHead, counts: sparse.csr_matrix) -> sparse.csr_matrix:
    """`counts` weighed by the head's own `tfidf`, the computation it makes at prediction time."""
    coo = counts.tocoo()  # from CSR: one entry per (text, feature), in order
    index = torch.from_numpy(np.vstack([coo.row, coo.col]).astype(np.int64))
    tallies = torch.sparse_coo_tensor(index, torch.from_numpy(coo.data), coo.shape, device=head.idf.device,
                                      check_invariants=False).coalesce()
    rows, features, values = (t.cpu().numpy() for t in head.tfidf(tallies))
    return sparse.csr_matrix((values, (rows, features)), shape=coo.shape)


def fit_wide_head(
    model: TextTransformer,
    buckets: int,
    train_ids: Sequence[np.ndarray],
    y_train: np.ndarray,
    valid_ids: Sequence[np.ndarray],
    y_valid: np.ndarray,
    attention_valid: np.ndarray,
    pad_id: int,
    seed: int = 0,
) -> dict[str, Any]:
    """Add and fit `model`'s wide head; `attention_valid` is the attention head's (N, classes) log
    probabilities on the validation texts. Returns what was chosen and the validation metrics of
    the attention head alone, the wide head alone and the mix."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GridSearchCV, StratifiedKFold

    started = time.perf_counter()
    head = model.add_wide_head(buckets)
    classes = int(model.config.num_labels)
    counts = _counts(model, train_ids, pad_id)
    frequency = np.bincount(counts.indices, minlength=head.idf.numel())
    head.idf.copy_(torch.from_numpy(np.log((1.0 + len(train_ids)) / (1.0 + frequency)) + 1.0))  # sklearn's smooth idf
    x_train = _tfidf(head, counts)

    def score(logits: np.ndarray) -> dict[str, float]:
        return classification_metrics(y_valid, logits.argmax(1), classes)

    # as many folds as the rarest class allows (each fold should see every class), at least 2
    folds = StratifiedKFold(int(np.clip(np.bincount(y_train).min(), 2, FOLDS)), shuffle=True, random_state=seed)
    # tol 1e-6, not sklearn's 1e-4: at 1e-4 two solver paths to one optimum (all features, or only the
    # used ones) stopped far enough apart to move SST-2 dev accuracy by a third of a point
    regression = LogisticRegression(tol=1e-6, max_iter=5000)
    search = GridSearchCV(regression, {"C": list(C_VALUES)}, scoring="f1_macro", cv=folds)
    # a feature in no training text gets weight 0 under the L2 penalty: leaving those out of the
    # regression changes nothing but its time and memory (L-BFGS keeps (features, classes) arrays)
    used = np.flatnonzero(frequency)
    weight = np.zeros((head.idf.numel(), classes), dtype=np.float32)
    weight[used], bias = _logit_weights(search.fit(x_train[:, used], y_train).best_estimator_, classes)
    head.weight.copy_(torch.from_numpy(weight))
    head.bias.copy_(torch.from_numpy(bias))
    wide_valid = wide_logits(model, valid_ids, pad_id)
    mixed = [score((1 - mix) * attention_valid + mix * wide_valid) for mix in MIXES]
    best = int(np.argmax([metrics[MONITOR] for metrics in mixed]))  # the first of equals: the least wide
    head.mix.fill_(float(MIXES[best]))
    return {"buckets": buckets, "C": float(search.best_params_["C"]), "mix": float(MIXES[best]), "valid": mixed[best],
            "valid_wide": score(wide_valid), "valid_attention": score(attention_valid),
            "seconds": time.perf_counter() - started}


def _logit_weights(regression: Any, classes: int) -> tuple[np.ndarray, np.ndarray]:
    """(features, classes) weights and (classes,) bias giving the regression's logits; a binary one
    has a single score z for class 1, split as (-z/2, z/2), which softmax turns into sigmoid(z)."""
    coef, intercept = regression.coef_.astype(np.float32), regression.intercept_.astype(np.float32)
    if classes == 2:
        return np.stack([-coef[0], coef[0]], axis=1) / 2, np.array([-intercept[0], intercept[0]]) / 2
    return np.ascontiguousarray(coef.T), intercept
