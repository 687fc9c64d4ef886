"""Full-ranking evaluation of next-item prediction, with a most-popular baseline.

Every item of the catalogue is a candidate (no sampled negatives), and the items already in the
user's history are removed from the ranking.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch
from torch import Tensor

from attnsight.evaluate.metrics import DEFAULT_KS, ranking_metrics, target_ranks

ScoreFn = Callable[[Sequence[np.ndarray]], Tensor]  # histories -> (B, num_items + 1) scores


def seen_mask(histories: Sequence[np.ndarray], num_columns: int, device: torch.device | str = "cpu") -> Tensor:
    """(B, num_columns) bool: True at every item in each history, and at padding column 0."""
    mask = torch.zeros(len(histories), num_columns, dtype=torch.bool, device=device)
    for row, history in enumerate(histories):
        mask[row, torch.as_tensor(history, dtype=torch.long, device=device)] = True
    mask[:, 0] = True
    return mask


def evaluate_ranking(
    score_fn: ScoreFn,
    histories: Sequence[np.ndarray],
    targets: np.ndarray,
    num_items: int,
    ks: Sequence[int] = DEFAULT_KS,
    batch_size: int = 256,
    exclude_seen: bool = True,
) -> dict[str, float]:
    """HR, NDCG and MRR at each k over the whole catalogue, in batches of histories."""
    ranks = []
    for start in range(0, len(histories), batch_size):
        batch = histories[start : start + batch_size]
        scores = score_fn(batch).float()
        exclude = seen_mask(batch, num_items + 1, scores.device) if exclude_seen else None
        if exclude is None:
            scores = scores.clone()
            scores[:, 0] = float("-inf")
        tgt = torch.as_tensor(targets[start : start + batch_size], dtype=torch.long, device=scores.device)
        ranks.append(target_ranks(scores, tgt, exclude).cpu().numpy())
    metrics = ranking_metrics(np.concatenate(ranks) if ranks else np.zeros(0), ks)
    metrics["users"] = float(len(histories))
    return metrics


def popularity_scorer(train_histories: Sequence[np.ndarray], num_items: int) -> ScoreFn:
    """Score every item by its count in the training histories, the same for every user."""
    counts = np.bincount(np.concatenate(train_histories), minlength=num_items + 1).astype(np.float32)
    scores = torch.from_numpy(counts)
    return lambda batch: scores.expand(len(batch), -1)
