"""Negatives for sampled softmax, and the probability Q each item is drawn with.

Sampled softmax scores each target against a few drawn items instead of the whole catalogue.
Drawn items other than uniformly, its gradient is biased towards the sampler's favourites
unless every candidate's logit is corrected by -log Q(item) (the logQ correction). Nothing
here is as wide as batch × catalogue: a step holds (N, K) logits, and the sampler one number
per item.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor

SAMPLERS = ("uniform", "log-uniform", "in-batch")


def log_uniform_probs(num_items: int) -> np.ndarray:
    """P(k) = log((k + 2) / (k + 1)) / log(V + 1) for ranks k = 0..V-1: Zipf-like, summing to 1."""
    k = np.arange(num_items, dtype=np.float64)
    return np.log((k + 2) / (k + 1)) / math.log(num_items + 1)


class NegativeSampler:
    """Draws K negatives shared by a batch, and knows log Q(item), the chance of drawing each item.

    - uniform: every item alike. log Q is a constant that cancels in the softmax: no correction.
    - log-uniform: a popularity rank k (most frequent training target first) with probability
      `log_uniform_probs`, then the item of that rank (the item indices are not in popularity
      order, so ranks go through a permutation).
    - in-batch: K of the batch's own targets (all of them when it has fewer), as in Yi et al.
      2019; a target is drawn as often as it occurs, so Q is its frequency among training targets.
    """

    def __init__(self, kind: str, num_items: int, target_counts: np.ndarray | None = None) -> None:
        """`target_counts` (num_items + 1,): how often each item index is a training target (index 0,
        padding, is ignored); needed by log-uniform and in-batch."""
        if kind not in SAMPLERS:
            raise ValueError(f"unknown sampler {kind!r}; choose one of {', '.join(SAMPLERS)}")
        self.kind, self.num_items = kind, num_items
        self._by_rank: Tensor | None = None
        self._log_q: Tensor | None = None
        if kind == "uniform":
            return
        if target_counts is None or len(target_counts) != num_items + 1:
            raise ValueError(f"the {kind} sampler needs the training count of each of the {num_items} items")
        counts = np.asarray(target_counts, dtype=np.float64)[1:]
        if kind == "log-uniform":
            by_rank = np.argsort(-counts, kind="stable")  # item row of each popularity rank
            q = np.empty(num_items)
            q[by_rank] = log_uniform_probs(num_items)
            self._by_rank = torch.from_numpy(by_rank + 1)
        else:
            q = counts / counts.sum()
        # index 0 (padding) is never drawn nor a target; items never a target get log 0 = -inf and,
        # for in-batch, are never drawn either
        self._log_q = torch.log(torch.from_numpy(np.concatenate([[1.0], q]))).float()

    def log_q(self, device: torch.device) -> Tensor | None:
        """(num_items + 1,) log Q of every item index; None for uniform, where it cancels."""
        if self._log_q is not None:
            self._log_q = self._log_q.to(device)
        return self._log_q

    def draw(self, k: int, targets: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """(K,) negative item indices for a batch whose (non-padding) targets are `targets` (N,)."""
        device = targets.device
        if self.kind == "uniform":
            return torch.randint(1, self.num_items + 1, (k,), device=device, generator=generator)
        if self.kind == "in-batch":
            return targets[torch.randperm(len(targets), device=device, generator=generator)[:k]]
        # inverse CDF: P(rank <= r) = log(r + 2) / log(V + 1)
        u = torch.rand(k, device=device, generator=generator, dtype=torch.float64)
        ranks = (torch.exp(u * math.log(self.num_items + 1)).floor().long() - 1).clamp_(0, self.num_items - 1)
        self._by_rank = self._by_rank.to(device)
        return self._by_rank[ranks]
