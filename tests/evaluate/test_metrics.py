"""Ranking metrics against numbers computed by hand, and the full-ranking protocol."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from attnsight.evaluate import (
    evaluate_ranking,
    hit_rate,
    mrr,
    ndcg,
    popularity_scorer,
    ranking_metrics,
    seen_mask,
    target_ranks,
)

RANKS = np.array([0, 1, 4, 12])


def test_metrics_at_5_by_hand() -> None:
    assert hit_rate(RANKS, 5) == pytest.approx(3 / 4)
    assert ndcg(RANKS, 5) == pytest.approx((1 + 1 / math.log2(3) + 1 / math.log2(6)) / 4)
    assert mrr(RANKS, 5) == pytest.approx((1 + 1 / 2 + 1 / 5) / 4)


def test_metrics_at_1_by_hand() -> None:
    assert hit_rate(RANKS, 1) == pytest.approx(1 / 4)
    assert ndcg(RANKS, 1) == pytest.approx(1 / 4)
    assert mrr(RANKS, 1) == pytest.approx(1 / 4)


def test_metrics_at_20_by_hand() -> None:
    assert hit_rate(RANKS, 20) == pytest.approx(1.0)
    assert ndcg(RANKS, 20) == pytest.approx((1 + 1 / math.log2(3) + 1 / math.log2(6) + 1 / math.log2(14)) / 4)
    assert mrr(RANKS, 20) == pytest.approx((1 + 1 / 2 + 1 / 5 + 1 / 13) / 4)


def test_rank_k_boundary_is_outside_top_k() -> None:
    assert hit_rate(np.array([5]), 5) == 0.0
    assert ndcg(np.array([5]), 5) == 0.0
    assert mrr(np.array([5]), 5) == 0.0
    assert hit_rate(np.array([4]), 5) == 1.0


def test_ranking_metrics_keys() -> None:
    out = ranking_metrics(RANKS, ks=(1, 5))
    assert set(out) == {"hr@1", "ndcg@1", "mrr@1", "hr@5", "ndcg@5", "mrr@5"}
    assert out["ndcg@5"] == pytest.approx(ndcg(RANKS, 5))


def test_target_ranks_counts_strictly_greater() -> None:
    scores = torch.tensor([[0.1, 0.5, 0.5, 0.9, 0.2], [1.0, 2.0, 3.0, 4.0, 5.0]])
    ranks = target_ranks(scores, torch.tensor([1, 4]))
    # row 0: only 0.9 beats the target (the tie at 0.5 does not); row 1: nothing beats 5.0
    assert ranks.tolist() == [1, 0]
    assert target_ranks(scores, torch.tensor([2, 0])).tolist() == [1, 4]


def test_target_ranks_with_exclude_mask() -> None:
    scores = torch.tensor([[0.1, 0.5, 0.7, 0.9, 0.2]])
    exclude = torch.tensor([[False, False, False, True, False]])
    assert target_ranks(scores, torch.tensor([1])).tolist() == [2]
    assert target_ranks(scores, torch.tensor([1]), exclude).tolist() == [1]
    # an excluded target scores -inf and ranks behind every remaining candidate
    assert target_ranks(scores, torch.tensor([3]), exclude).tolist() == [4]


def test_a_target_scored_nan_ranks_last_not_first() -> None:
    # a diverged model scores NaN; `>` against NaN is never true, which would count every NaN target a hit
    scores = torch.tensor([[0.1, float("nan"), 0.5], [float("nan")] * 3, [0.3, float("nan"), 0.1]])
    assert target_ranks(scores, torch.tensor([1, 0, 0])).tolist() == [3, 3, 0]  # a NaN rival does not count


# ----------------------------------------------------------------------------- protocol

NUM_ITEMS = 5
# columns 0..5; column 0 is padding and scores highest to prove it can never rank
FIXED = torch.tensor([100.0, 5.0, 4.0, 3.0, 2.0, 1.0])
HISTORIES = [np.array([1]), np.array([2, 4])]
TARGETS = np.array([3, 5])


def _score_fn(batch):
    return FIXED.expand(len(batch), -1)


@pytest.mark.parametrize("batch_size", [1, 256])
def test_evaluate_ranking_with_seen_items_excluded(batch_size: int) -> None:
    # user 0: item 1 seen -> only item 2 beats item 3 -> rank 1
    # user 1: items 2, 4 seen -> items 1 and 3 beat item 5 -> rank 2
    out = evaluate_ranking(_score_fn, HISTORIES, TARGETS, NUM_ITEMS, ks=(1, 5), batch_size=batch_size)
    assert out["users"] == 2.0
    assert out["hr@1"] == 0.0
    assert out["hr@5"] == 1.0
    assert out["ndcg@5"] == pytest.approx((1 / math.log2(3) + 1 / math.log2(4)) / 2)
    assert out["mrr@5"] == pytest.approx((1 / 2 + 1 / 3) / 2)


def test_evaluate_ranking_without_exclusion() -> None:
    # user 0: items 1, 2 beat item 3 -> rank 2; user 1: items 1..4 beat item 5 -> rank 4
    out = evaluate_ranking(_score_fn, HISTORIES, TARGETS, NUM_ITEMS, ks=(1, 3, 5), exclude_seen=False)
    assert out["hr@3"] == pytest.approx(1 / 2)
    assert out["ndcg@5"] == pytest.approx((1 / math.log2(4) + 1 / math.log2(6)) / 2)
    assert out["mrr@5"] == pytest.approx((1 / 3 + 1 / 5) / 2)
    # excluding the seen items moves the ranks up
    excluded = evaluate_ranking(_score_fn, HISTORIES, TARGETS, NUM_ITEMS, ks=(1, 3, 5))
    assert excluded["ndcg@5"] > out["ndcg@5"]


def test_evaluate_ranking_does_not_modify_scores_of_caller() -> None:
    scores = FIXED.clone().expand(2, -1).clone()
    evaluate_ranking(lambda b: scores[: len(b)], HISTORIES, TARGETS, NUM_ITEMS, ks=(5,), exclude_seen=False)
    assert scores[0, 0] == 100.0


def test_seen_mask() -> None:
    mask = seen_mask(HISTORIES, NUM_ITEMS + 1)
    assert mask.tolist() == [
        [True, True, False, False, False, False],
        [True, False, True, False, True, False],
    ]


def test_popularity_scorer_counts() -> None:
    train = [np.array([1, 2, 2]), np.array([2, 3])]
    scorer = popularity_scorer(train, num_items=4)
    scores = scorer([np.array([1]), np.array([2]), np.array([3])])
    assert scores.shape == (3, 5)
    assert scores[0].tolist() == [0.0, 1.0, 3.0, 1.0, 0.0]
    assert torch.equal(scores[0], scores[2])
    # item 2 is the most popular: a user who has not seen it gets it at rank 0
    out = evaluate_ranking(scorer, [np.array([1])], np.array([2]), 4, ks=(1,))
    assert out["hr@1"] == 1.0
