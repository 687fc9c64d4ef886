"""Full ranking scanned in chunks of items gives the metrics of the whole score matrix, exactly."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from allocations import Allocations

from attnsight.evaluate import DotScorer, evaluate_ranking, popularity_scorer

NUM_ITEMS, DIM = 300, 4
KS = (1, 5, 10, 20, 1000)  # k = 1000 > catalogue: mrr@1000 sees every rank uncapped


def _problem(seed: int, integer: bool) -> tuple[DotScorer, list[np.ndarray], np.ndarray]:
    """Item vectors whose scores tie often (small integers, exact in float32) or never (Gaussian);
    a user is the sum of their history's items. Some targets are in their own history, so the
    exclusion removes them."""
    g = torch.Generator().manual_seed(seed)
    if integer:
        items = torch.randint(-2, 3, (NUM_ITEMS + 1, DIM), generator=g).float()
    else:
        items = torch.randn(NUM_ITEMS + 1, DIM, generator=g)
    rng = np.random.default_rng(seed)
    histories = [rng.integers(1, NUM_ITEMS + 1, rng.integers(0, 40)) for _ in range(80)]
    targets = rng.integers(1, NUM_ITEMS + 1, 80)
    for row in range(0, 80, 7):
        histories[row] = np.append(histories[row], targets[row])  # an excluded target
    users = lambda batch: torch.stack([items[torch.as_tensor(h, dtype=torch.long)].sum(0) for h in batch])  # noqa: E731
    return DotScorer(users, items), histories, targets


@pytest.mark.parametrize("integer", [True, False])
@pytest.mark.parametrize("exclude_seen", [True, False])
@pytest.mark.parametrize("item_chunk", [1, 7, 64, 300])
def test_chunked_equals_whole_matrix(integer: bool, exclude_seen: bool, item_chunk: int) -> None:
    scorer, histories, targets = _problem(0, integer)
    whole = evaluate_ranking(lambda batch: scorer(batch), histories, targets, NUM_ITEMS, KS, batch_size=16,
                             exclude_seen=exclude_seen)
    chunked = evaluate_ranking(scorer, histories, targets, NUM_ITEMS, KS, batch_size=16, exclude_seen=exclude_seen,
                               item_chunk=item_chunk)
    assert chunked == whole
    assert 0 < whole["hr@20"] < 1 and whole["mrr@1000"] > whole["mrr@20"]  # neither trivial nor capped


def test_excluded_targets_rank_last_in_chunks_too() -> None:
    scorer, histories, targets = _problem(1, integer=True)
    histories = [np.append(h, t) for h, t in zip(histories, targets)]  # every target already seen
    out = evaluate_ranking(scorer, histories, targets, NUM_ITEMS, KS, item_chunk=16)
    assert out["hr@20"] == 0.0
    assert out == evaluate_ranking(lambda batch: scorer(batch), histories, targets, NUM_ITEMS, KS)


def test_popularity_baseline_chunked_equals_whole() -> None:
    rng = np.random.default_rng(2)
    train = [rng.integers(1, 40, rng.integers(1, 30)) for _ in range(50)]  # items 40..NUM_ITEMS never occur
    histories, targets = train, rng.integers(1, NUM_ITEMS + 1, 50)
    scorer = popularity_scorer(train, NUM_ITEMS)
    whole = evaluate_ranking(lambda batch: scorer(batch), histories, targets, NUM_ITEMS, KS)
    assert evaluate_ranking(scorer, histories, targets, NUM_ITEMS, KS, item_chunk=13) == whole


def test_chunked_ranking_never_holds_users_by_catalogue() -> None:
    scorer, histories, targets = _problem(3, integer=False)
    with Allocations() as made:
        evaluate_ranking(scorer, histories[:16], targets[:16], NUM_ITEMS, (10, 20), item_chunk=32)
    # a chunk of scores, or the 20 best so far beside a chunk's 20 best
    assert made.largest() == 16 * max(32, 2 * 20) < 16 * (NUM_ITEMS + 1)
