"""Full-ranking evaluation of next-item prediction, with a most-popular baseline.

Every item of the catalogue is a candidate (no sampled negatives), and the items already in the
user's history are removed from the ranking. Scores that are dot products of a user vector and
an item vector (`DotScorer`) are scanned a chunk of items at a time, so a catalogue of millions
never needs a (users × items) matrix.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from attnsight.evaluate.metrics import DEFAULT_KS, ranking_metrics, target_ranks
from attnsight.train.distributed import shard_gather

ScoreFn = Callable[[Sequence[np.ndarray]], Tensor]  # histories -> (B, num_items + 1) scores


@dataclass(frozen=True)
class DotScorer:
    """Scores that are user vector · item vector. Called, it is a ScoreFn (the full matrix);
    `evaluate_ranking` instead scores it one chunk of items at a time."""

    users: Callable[..., Tensor]  # histories (, profiles) -> (B, C)
    items: Tensor  # (num_items + 1, C); row 0 is padding and never ranks

    def __call__(self, histories: Sequence[np.ndarray], *profiles: np.ndarray) -> Tensor:
        return self.users(histories, *profiles) @ self.items.T


def seen_mask(
    histories: Sequence[np.ndarray], num_columns: int, device: torch.device | str = "cpu", start: int = 0
) -> Tensor:
    """(B, num_columns) bool over catalogue columns start..start + num_columns - 1: True at every
    item in each history, and at padding column 0."""
    mask = torch.zeros(len(histories), num_columns, dtype=torch.bool, device=device)
    rows = np.repeat(np.arange(len(histories)), [len(h) for h in histories])
    cols = np.concatenate([np.zeros(0, dtype=np.int64), *histories]).astype(np.int64) - start
    inside = (cols >= 0) & (cols < num_columns)
    mask[torch.from_numpy(rows[inside]).to(device), torch.from_numpy(cols[inside]).to(device)] = True
    if start == 0:
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
    item_chunk: int = 65_536,
    profiles: np.ndarray | None = None,
) -> dict[str, float]:
    """HR, NDCG and MRR at each k over the whole catalogue, in batches of histories.

    `profiles` (one user-feature row per history, for a model that reads user side features) are
    passed to the scorer beside each batch: `score_fn(batch, profiles)`.

    A `DotScorer` over more than `item_chunk` items is scored chunk by chunk: memory per batch is
    batch_size × item_chunk scores, whatever the catalogue. Under torchrun the users are split
    across ranks and their ranks gathered: every rank returns the same metrics over all users.
    """
    depth = max(ks)

    @torch.no_grad()
    def rank_rows(rows: np.ndarray) -> np.ndarray:
        ranks = [np.zeros(0, dtype=np.int64)]
        for start in range(0, len(rows), batch_size):
            chunk = rows[start : start + batch_size]
            batch = [histories[r] for r in chunk]
            extra = () if profiles is None else (profiles[chunk],)
            tgt = torch.as_tensor(targets[chunk], dtype=torch.long)
            if isinstance(score_fn, DotScorer) and len(score_fn.items) > item_chunk:
                found = _chunked_ranks(score_fn, batch, tgt, exclude_seen, item_chunk, depth, extra)
            else:
                scores = score_fn(batch, *extra).float()
                found = target_ranks(scores, tgt.to(scores.device), _excluded(batch, scores, 0, exclude_seen))
            ranks.append(found.cpu().numpy())
        return np.concatenate(ranks)

    metrics = ranking_metrics(shard_gather(len(histories), rank_rows), ks)
    metrics["users"] = float(len(histories))
    return metrics


def _excluded(batch: Sequence[np.ndarray], scores: Tensor, start: int, exclude_seen: bool) -> Tensor:
    """Which of these score columns (from catalogue column `start` on) leave the ranking."""
    if exclude_seen:
        return seen_mask(batch, scores.shape[1], scores.device, start)
    mask = torch.zeros(scores.shape, dtype=torch.bool, device=scores.device)
    if start == 0:
        mask[:, 0] = True
    return mask


def _chunked_ranks(
    scorer: DotScorer, batch: Sequence[np.ndarray], targets: Tensor, exclude_seen: bool, item_chunk: int, depth: int,
    extra: tuple = (),
) -> Tensor:
    """`target_ranks` over a catalogue scanned in chunks of items, capped at `depth`.

    A rank of `depth` or more scores 0 on every metric at k <= depth, so each user keeps only
    the `depth` best candidate scores seen so far; the target's own score is read from the
    chunk that holds it, from the same matmul as its rivals' (a separately computed dot
    product can round differently, and break or make a tie).
    """
    users = scorer.users(batch, *extra).float()
    targets = targets.to(users.device)
    best = torch.full((len(batch), 0), float("-inf"), device=users.device)
    target_scores = torch.empty(len(batch), device=users.device)
    for start in range(0, len(scorer.items), item_chunk):
        scores = users @ scorer.items[start : start + item_chunk].float().T  # (B, chunk)
        scores = scores.masked_fill(_excluded(batch, scores, start, exclude_seen), float("-inf"))
        here = (targets >= start) & (targets < start + scores.shape[1])
        target_scores[here] = scores[here].gather(1, targets[here][:, None] - start)[:, 0]
        best = torch.cat([best, scores.topk(min(depth, scores.shape[1]), dim=1).values], dim=1)
        best = best.topk(min(depth, best.shape[1]), dim=1).values
    # the target's score in column 0: target_ranks counts the best scores above it
    return target_ranks(torch.cat([target_scores[:, None], best], dim=1), torch.zeros_like(targets))


def popularity_scorer(train_histories: Sequence[np.ndarray], num_items: int) -> DotScorer:
    """Score every item by its count in the training histories, the same for every user."""
    counts = np.bincount(np.concatenate(train_histories), minlength=num_items + 1).astype(np.float32)
    return DotScorer(lambda batch: torch.ones(len(batch), 1), torch.from_numpy(counts)[:, None])
