"""The deletion test of explanations, by hand, and on a small trained recommender."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from attnsight.explain.faithfulness import (
    classifier_faithfulness,
    deletion_test,
    integrated_gradients,
    recommender_faithfulness,
    scorer_faithfulness,
)


def test_deletion_drops_by_hand() -> None:
    # the "model": probability = sum of the importances of the inputs kept
    importance = [np.array([0.4, 0.1, 0.3, 0.2]), np.array([0.05, 0.5, 0.05, 0.2, 0.2])]

    def predict(rows, keeps):
        return np.array([importance[r][keep].sum() for r, keep in zip(rows, keeps)])

    faithful = importance
    backwards = [-w for w in importance]
    result = deletion_test({"faithful": faithful, "backwards": backwards}, predict, k=2, random_draws=200)
    # deleting the two most important: 0.4 + 0.3 and 0.5 + 0.2 (ties keep the first) → mean 0.7
    assert result["drop"]["faithful"] == pytest.approx(0.7)
    # the two least important: 0.1 + 0.2 and 0.05 + 0.05 → mean 0.2
    assert result["drop"]["backwards"] == pytest.approx(0.2)
    # random pairs: 2/4 and 2/5 of each total (1.0) on average → 0.45
    assert result["drop"]["random"] == pytest.approx(0.45, abs=0.03)
    assert result["most_faithful"] == "faithful" and result["examples"] == 2
    assert result["mean_probability"] == pytest.approx(1.0)


def test_examples_too_short_are_skipped() -> None:
    result = deletion_test({"a": [np.ones(2), np.ones(5)]}, lambda rows, keeps: np.array([k.sum() for k in keeps]),
                           k=2, random_draws=1)
    assert result["examples"] == 1
    with pytest.raises(ValueError, match="more than k=2"):
        deletion_test({"a": [np.ones(2)]}, lambda rows, keeps: np.zeros(len(rows)), k=2)


def test_integrated_gradients_are_complete() -> None:
    """Attributions add up to f(input) - f(baseline) (the IG axiom), here on a linear model."""
    torch.manual_seed(0)
    embedding = torch.nn.Embedding(10, 4, padding_idx=0)
    weight = torch.randn(4)

    def forward(items):
        return (embedding(items) @ weight).sum(-1)

    items = torch.tensor([[1, 2, 3], [4, 5, 0]])
    attributions = integrated_gradients(forward, embedding, items, steps=8)
    assert attributions.shape == (2, 3)
    assert attributions.sum(-1) == pytest.approx((forward(items) - forward(torch.zeros_like(items))).detach(), abs=1e-5)
    assert attributions[1, 2] == 0  # padding: no input, no attribution


@pytest.fixture(scope="module")
def recommender():
    from attnsight.data.synthetic import make_audience
    from attnsight.recommender import SequentialRecommender

    audience = make_audience(num_users=80, num_items=40, mean_events=15, seed=1)
    return SequentialRecommender(max_len=20, dim=16, num_layers=1, num_heads=1, epochs=8, lr=5e-3, device="cpu",
                                 seed=0).fit(audience.interactions)


def test_recommender_faithfulness(recommender) -> None:
    result = recommender_faithfulness(recommender, users=40, k=2)
    assert result["examples"] == 40 and result["k"] == 2
    assert set(result["drop"]) == {"attention", "integrated_gradients", "random"}
    assert all(np.isfinite(v) for v in result["drop"].values())
    assert 0 < result["mean_probability"] < 1
    # deleting what integrated gradients names costs this small model's top item more than chance
    assert result["drop"]["integrated_gradients"] > result["drop"]["random"]


def test_classifier_faithfulness() -> None:
    from attnsight.classifier import TextClassifier
    from attnsight.data.synthetic import make_reviews

    reviews = make_reviews(240, "en", seed=0)
    clf = TextClassifier(vocab_size=200, max_len=32, dim=32, num_layers=1, num_heads=2, epochs=6, lr=3e-3,
                         device="cpu", seed=0).fit(reviews)
    result = classifier_faithfulness(clf, reviews.texts[:30], k=2)
    assert result["examples"] == 30 and set(result["drop"]) == {"attention", "integrated_gradients", "random"}
    assert 0.5 < result["mean_probability"] <= 1
    # the review's sentiment words carry it: deleting the two the gradients name costs more than chance
    assert result["drop"]["integrated_gradients"] > result["drop"]["random"]


def test_classifier_faithfulness_of_a_wide_model_adds_the_mixed_explanations() -> None:
    from attnsight.classifier import TextClassifier
    from attnsight.data.synthetic import make_reviews

    reviews = make_reviews(240, "en", seed=0)
    clf = TextClassifier(vocab_size=200, max_len=32, dim=32, num_layers=1, num_heads=2, epochs=2, lr=3e-3,
                         wide_buckets=512, device="cpu", seed=0).fit(reviews)
    clf.model_.wide.mix.fill_(1.0)  # the wide head alone decides: its evidence is exact for it
    result = classifier_faithfulness(clf, reviews.texts[:30], k=2)
    assert set(result["drop"]) == {"attention", "integrated_gradients", "attention + wide",
                                   "integrated_gradients + wide", "random"}
    drop = result["drop"]
    # a linear head's own attributions beat the encoder's, which it does not read, and chance
    assert drop["attention + wide"] == drop["integrated_gradients + wide"]  # both are the wide evidence alone
    assert drop["attention + wide"] > max(drop["attention"], drop["random"])


def test_scorer_faithfulness(tmp_path) -> None:
    from attnsight.data.events import EventSchema, read_events
    from attnsight.data.synthetic import make_transactions
    from attnsight.scorer import RiskScorer

    path = tmp_path / "transactions.csv"
    make_transactions(customers=60, terminals=120, days=40).write_csv(path)
    schema = EventSchema("customer", "timestamp", ("amount",), ("channel",), "fraud", "terminal", "transaction_id")
    events = read_events(path, schema)
    scorer = RiskScorer(history_len=6, dim=16, num_layers=1, num_heads=2, epochs=2, label_delay_days=2, valid_days=3,
                        gap_days=2, test_days=5, device="cpu", seed=0, exclude_known=False, baseline=False).fit(events)
    riskiest = np.argsort(-scorer.score(events))[:40]
    result = scorer_faithfulness(scorer, events, riskiest, k=2)
    assert result["examples"] > 20 and set(result["drop"]) == {"attention", "integrated_gradients", "random"}
    assert all(np.isfinite(v) for v in result["drop"].values())
    # deleting the past events the gradients name costs the score more than deleting random ones
    assert result["drop"]["integrated_gradients"] > result["drop"]["random"]
