"""Risk metrics against numbers computed by hand: precision@k, the Fraud Detection Handbook's card
precision@k per day (detected accounts leave the following days), and risk_metrics' AUC and AP."""

from __future__ import annotations

import math

import numpy as np
import pytest

from attnsight.evaluate.risk import card_precision_at_k, precision_at_k, risk_metrics

# ----------------------------------------------------------------------------- precision@k

LABELS = np.array([1, 0, 1, 0, 0])
SCORES = np.array([0.9, 0.8, 0.7, 0.6, 0.5])


def test_precision_at_k_by_hand():
    # ranked labels: 1 0 1 0 0
    assert precision_at_k(LABELS, SCORES, 1) == pytest.approx(1 / 1)
    assert precision_at_k(LABELS, SCORES, 2) == pytest.approx(1 / 2)
    assert precision_at_k(LABELS, SCORES, 3) == pytest.approx(2 / 3)
    assert precision_at_k(LABELS, SCORES, 5) == pytest.approx(2 / 5)


def test_precision_at_k_ranks_by_score_not_by_order():
    # reversed rows, same events: the 0.9 and 0.7 events are still the top and the third
    assert precision_at_k(LABELS[::-1], SCORES[::-1], 2) == pytest.approx(1 / 2)
    assert precision_at_k(LABELS[::-1], SCORES[::-1], 3) == pytest.approx(2 / 3)


def test_precision_at_k_larger_than_the_events():
    # k = 10 > 5 events: all 5 are taken, 2 positives among 5 (the denominator is min(k, n))
    assert precision_at_k(LABELS, SCORES, 10) == pytest.approx(2 / 5)


def test_precision_at_k_ties_broken_by_order():
    labels = np.array([0, 1, 1])
    scores = np.array([0.5, 0.5, 0.5])
    assert precision_at_k(labels, scores, 1) == 0.0  # the first row wins the tie, a negative
    assert precision_at_k(labels, scores, 2) == pytest.approx(1 / 2)


# ----------------------------------------------------------------------------- card precision@k

# (day, account, score, label)
CARD_EVENTS = [
    # day 0: account risks 0 -> 0.9 (compromised by its 0.1 event), 1 -> 0.8, 2 -> 0.3 (compromised)
    (0, 0, 0.9, 0), (0, 0, 0.1, 1), (0, 1, 0.8, 0), (0, 2, 0.3, 1),
    # day 1: account 0 (0.95, positive) was detected on day 0 and is left out
    (1, 0, 0.95, 1), (1, 1, 0.2, 1), (1, 2, 0.6, 0), (1, 3, 0.1, 1),
    # day 2: account 1 (0.99, positive) was detected on day 1 and is left out
    (2, 1, 0.99, 1), (2, 3, 0.5, 0), (2, 2, 0.4, 0),
]


def card_arrays():
    days, accounts, scores, labels = (np.array(column) for column in zip(*CARD_EVENTS))
    return labels, scores, accounts, days


def test_card_precision_at_k_by_hand():
    labels, scores, accounts, days = card_arrays()
    # k = 2
    # day 0: top 2 accounts 0 (0.9, compromised), 1 (0.8, not) -> 1/2; detected {0}
    # day 1: without 0: 2 (0.6, not), 1 (0.2, compromised) -> 1/2; detected {0, 1}
    # day 2: without 0, 1: 3 (0.5, not), 2 (0.4, not) -> 0/2
    # mean (1/2 + 1/2 + 0) / 3 = 1/3 (keeping detected accounts would give day 2 = 1/2, mean 1/2)
    assert card_precision_at_k(labels, scores, accounts, days, k=2) == pytest.approx(1 / 3)


def test_card_precision_at_1_by_hand():
    labels, scores, accounts, days = card_arrays()
    # day 0: account 0 (0.9, compromised) -> 1; detected {0}
    # day 1: 2 (0.6, not) -> 0
    # day 2: account 1 (0.99) is not yet detected (day 1's top was account 2), compromised -> 1
    # mean 2/3
    assert card_precision_at_k(labels, scores, accounts, days, k=1) == pytest.approx(2 / 3)


def test_card_precision_with_k_larger_than_the_accounts():
    labels, scores, accounts, days = card_arrays()
    # k = 10, divided by k even when fewer accounts are active
    # day 0: accounts 0, 1, 2; compromised 0, 2 -> 2/10; detected {0, 2}
    # day 1: accounts 1, 3 (0, 2 left out); both compromised -> 2/10; detected {0, 1, 2, 3}
    # day 2: every account left out -> 0/10
    # mean (0.2 + 0.2 + 0) / 3 = 2/15
    assert card_precision_at_k(labels, scores, accounts, days, k=10) == pytest.approx(2 / 15)


def test_card_precision_with_string_account_ids():
    labels, scores, accounts, days = card_arrays()
    names = np.array(["C0", "C1", "C2", "C3"])[accounts]
    # the same events as test_card_precision_at_k_by_hand, accounts named instead of coded: 1/3
    assert card_precision_at_k(labels, scores, names, days, k=2) == pytest.approx(1 / 3)


def test_card_precision_risk_is_the_accounts_highest_score():
    # one day; account 5 has one high score among low ones, account 7 one middling score
    labels = np.array([0, 0, 1, 0])
    scores = np.array([0.1, 0.95, 0.2, 0.5])
    accounts = np.array([5, 5, 5, 7])
    days = np.zeros(4, dtype=int)
    # account risks: 5 -> 0.95 (compromised: its 0.2 event is positive), 7 -> 0.5 -> top 1 = account 5 -> 1/1
    assert card_precision_at_k(labels, scores, accounts, days, k=1) == pytest.approx(1.0)
    # if the risk were the mean (0.42) account 7 would rank first: 0
    assert card_precision_at_k(labels, np.array([0.1, 0.4, 0.2, 0.5]), accounts, days, k=1) == pytest.approx(0.0)


def test_card_precision_of_no_days_is_zero():
    empty = np.array([], dtype=int)
    assert card_precision_at_k(empty, np.array([], dtype=float), empty, empty, k=5) == 0.0


# ----------------------------------------------------------------------------- risk_metrics


def test_risk_metrics_by_hand():
    labels = np.array([1, 0, 1, 0])
    scores = np.array([0.8, 0.6, 0.4, 0.2])
    accounts = np.array([0, 1, 2, 3])
    days = np.array([0, 0, 1, 1])
    m = risk_metrics(labels, scores, accounts, days, ks=(1, 2), card_k=1)
    assert set(m) == {"roc_auc", "average_precision", "precision@1", "precision@2", "card_precision@1",
                      "events", "positives"}
    # AUC: positive-negative pairs (0.8>0.6) (0.8>0.2) (0.4<0.6) (0.4>0.2) -> 3/4
    assert m["roc_auc"] == pytest.approx(3 / 4)
    # AP: ranked P N P N; precision at each positive: 1/1, 2/3 -> (1 + 2/3) / 2 = 5/6
    assert m["average_precision"] == pytest.approx(5 / 6)
    assert m["precision@1"] == pytest.approx(1.0)
    assert m["precision@2"] == pytest.approx(1 / 2)
    # day 0: top account 0 (0.8, positive) -> 1; day 1: top account 2 (0.4, positive) -> 1; mean 1
    assert m["card_precision@1"] == pytest.approx(1.0)
    assert m["events"] == 4.0 and m["positives"] == 2.0


def test_risk_metrics_perfect_and_reversed_ranking():
    labels = np.array([0, 0, 1, 0, 1])
    scores = np.array([0.1, 0.2, 0.9, 0.3, 0.8])
    accounts = np.arange(5)
    days = np.zeros(5, dtype=int)
    perfect = risk_metrics(labels, scores, accounts, days)
    assert perfect["roc_auc"] == pytest.approx(1.0) and perfect["average_precision"] == pytest.approx(1.0)
    # default keys; precision@100 over 5 events: 2/5; card precision@100 on one day: 2 compromised / 100
    assert perfect["precision@100"] == pytest.approx(2 / 5)
    assert perfect["precision@500"] == pytest.approx(2 / 5)
    assert perfect["card_precision@100"] == pytest.approx(2 / 100)
    reversed_ = risk_metrics(labels, 1 - scores, accounts, days)
    assert reversed_["roc_auc"] == pytest.approx(0.0)
    # reversed ranking N N N P P: precision at positives 1/4, 2/5 -> (1/4 + 2/5) / 2 = 13/40
    assert reversed_["average_precision"] == pytest.approx(13 / 40)


def test_risk_metrics_with_one_class_are_nan_not_an_error():
    m = risk_metrics(np.zeros(3, dtype=int), np.array([0.1, 0.5, 0.2]), np.arange(3), np.zeros(3, dtype=int))
    assert math.isnan(m["roc_auc"]) and math.isnan(m["average_precision"])
    assert m["precision@100"] == 0.0 and m["positives"] == 0.0 and m["events"] == 3.0
