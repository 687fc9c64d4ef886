"""Ranking metrics as pure functions of 0-based target ranks (rank 0 = top of the list)."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
from torch import Tensor

DEFAULT_KS = (1, 5, 10, 20)


def target_ranks(scores: Tensor, targets: Tensor, exclude: Tensor | None = None) -> Tensor:
    """Rank of each target among all candidates: how many candidates score strictly higher.

    scores (B, N), targets (B,), exclude (B, N) bool marking candidates removed from the ranking
    (a target that is excluded scores -inf and so ranks last). A target scored NaN (a diverged
    model) ranks last too: no candidate compares above NaN, which would make it a hit.
    """
    if exclude is not None:
        scores = scores.masked_fill(exclude, float("-inf"))
    target_scores = scores.gather(1, targets[:, None])
    ranks = (scores > target_scores).sum(dim=1)
    return ranks.masked_fill(target_scores[:, 0].isnan(), scores.shape[1])


def hit_rate(ranks: np.ndarray, k: int) -> float:
    """Share of targets ranked in the top k."""
    return float(np.mean(np.asarray(ranks) < k))


def ndcg(ranks: np.ndarray, k: int) -> float:
    """One relevant item per list: gain 1 / log2(rank + 2) inside the top k, ideal DCG = 1."""
    ranks = np.asarray(ranks, dtype=np.float64)
    return float(np.mean(np.where(ranks < k, 1.0 / np.log2(ranks + 2.0), 0.0)))


def mrr(ranks: np.ndarray, k: int) -> float:
    """Mean reciprocal rank, counting 0 for targets outside the top k."""
    ranks = np.asarray(ranks, dtype=np.float64)
    return float(np.mean(np.where(ranks < k, 1.0 / (ranks + 1.0), 0.0)))


def ranking_metrics(ranks: np.ndarray, ks: Iterable[int] = DEFAULT_KS) -> dict[str, float]:
    out: dict[str, float] = {}
    for k in ks:
        out[f"hr@{k}"] = hit_rate(ranks, k)
        out[f"ndcg@{k}"] = ndcg(ranks, k)
        out[f"mrr@{k}"] = mrr(ranks, k)
    return out
