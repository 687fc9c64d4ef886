"""The wide head's fit: its regression chosen on the training texts alone, its mix on validation."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.linear_model import LogisticRegression

from attnsight.models.text import TextConfig, TextTransformer
from attnsight.train.wide import C_VALUES, MIXES, fit_wide_head, tfidf_matrix

PAD, CLS, SEP = 0, 2, 3
POSITIVE, NEGATIVE = 10, 11  # the token that gives a text's class away, most of the time


def texts(n: int, seed: int) -> tuple[list[np.ndarray], np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, n)
    cue = np.where(labels == 1, POSITIVE, NEGATIVE)
    noisy = rng.random(n) < 0.1
    cue[noisy] = POSITIVE + NEGATIVE - cue[noisy]  # the other class's token
    ids = [np.array([CLS, *rng.integers(12, 40, int(rng.integers(3, 8))), c, SEP]) for c in cue]
    return ids, labels


def model() -> TextTransformer:
    torch.manual_seed(0)
    config = TextConfig(vocab_size=40, max_len=16, dim=16, num_layers=1, num_heads=2, ffn_dim=32, num_labels=2)
    return TextTransformer(config).eval()


def fit(valid_labels_flipped: bool, attention: str) -> tuple[TextTransformer, dict]:
    train_ids, y_train = texts(200, seed=0)
    valid_ids, y_valid = texts(60, seed=1)
    if valid_labels_flipped:
        y_valid = 1 - y_valid
    if attention == "perfect":
        attention_valid = np.log(np.clip(np.eye(2)[y_valid], 1e-12, None))
    else:  # knows nothing: every class equally likely
        attention_valid = np.full((len(valid_ids), 2), np.log(0.5))
    m = model()
    return m, fit_wide_head(m, 64, train_ids, y_train, valid_ids, y_valid, attention_valid, PAD, seed=0)


def test_the_regression_is_chosen_on_the_training_texts_alone():
    m, chosen = fit(False, "uninformative")
    other, flipped = fit(True, "uninformative")  # validation labels flipped: only the mix may change
    assert chosen["C"] == flipped["C"] and chosen["C"] in C_VALUES
    torch.testing.assert_close(m.wide.weight, other.wide.weight)
    assert m.wide.weight.abs().max() > 0 and m.wide.weight[POSITIVE, 1] > m.wide.weight[POSITIVE, 0]
    assert chosen["valid_wide"]["accuracy"] >= 0.8  # the cue token, learned from the training texts


def test_the_mix_is_the_smallest_best_share_on_validation():
    _, perfect = fit(False, "perfect")
    assert perfect["mix"] == 0.0 and perfect["valid"]["accuracy"] == 1.0  # nothing to add to a perfect head
    m, uninformative = fit(False, "uninformative")
    # equal logits: mix 0 predicts one class for all, any share of the wide head predicts as it does
    assert uninformative["mix"] == pytest.approx(MIXES[1]) and float(m.wide.mix) == pytest.approx(MIXES[1])
    assert uninformative["valid"] == uninformative["valid_wide"]


def test_the_weights_are_scikit_learns_regression_on_the_whole_tf_idf_matrix():
    """Features in no training text are left out of the fit; the weights must not change for it."""
    m, chosen = fit(False, "uninformative")
    train_ids, y_train = texts(200, seed=0)
    x = tfidf_matrix(m, train_ids, PAD)
    assert x.shape[1] == 40 + 64 and (x.getnnz(axis=0) == 0).any()  # some features unused
    full = LogisticRegression(C=chosen["C"], tol=1e-6, max_iter=5000).fit(x, y_train)
    z = m.wide.weight[:, 1] - m.wide.weight[:, 0]  # the binary score, split in two halves
    np.testing.assert_allclose(z.numpy(), full.coef_[0], atol=1e-3)  # both solved to tol 1e-6, weights ~1
    assert float(m.wide.bias[1] - m.wide.bias[0]) == pytest.approx(full.intercept_[0], abs=1e-3)
