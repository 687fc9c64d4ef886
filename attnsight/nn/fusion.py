"""Attention fusion: a set of feature tokens read into one vector by a learned query.

What an item (or a user) is known by — its id, title, categories, numbers, an image vector —
arrives as a few tokens; one query per head attends over the valid ones. The weights say which
features the representation was made of, and an item missing a feature (a new item has no id
embedding yet) is represented from the others.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn


class AttentionFusion(nn.Module):
    """(N, T, C) tokens with a (N, T) validity mask → (N, C) fused, and (N, T) weights (mean over heads)."""

    def __init__(self, dim: int, num_heads: int = 2, dropout: float = 0.0) -> None:
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"dim {dim} is not divisible by num_heads {num_heads}")
        self.num_heads = num_heads
        self.query = nn.Parameter(torch.zeros(num_heads, dim // num_heads))
        self.norm = nn.LayerNorm(dim)
        self.key = nn.Linear(dim, dim)
        self.value = nn.Linear(dim, dim)
        self.out = nn.Linear(dim, dim)
        self.dropout = nn.Dropout(dropout)

    def forward(self, tokens: Tensor, valid: Tensor) -> tuple[Tensor, Tensor]:
        N, T, C = tokens.shape
        if not bool(valid.any(dim=1).all()):
            raise ValueError("every row needs at least one valid feature token")
        x = self.norm(tokens)
        k = self.key(x).view(N, T, self.num_heads, -1)  # (N, T, nh, hs)
        v = self.value(x).view(N, T, self.num_heads, -1)
        scores = torch.einsum("nthd,hd->nht", k, self.query) / math.sqrt(k.shape[-1])
        weights = torch.softmax(scores.masked_fill(~valid[:, None, :], float("-inf")), dim=-1)  # (N, nh, T)
        fused = torch.einsum("nht,nthd->nhd", self.dropout(weights), v).reshape(N, C)
        # the residual mean of the valid tokens keeps every feature's gradient path open from step one
        mean = (tokens * valid[..., None]).sum(1) / valid.sum(1, keepdim=True)
        return mean + self.out(fused), weights.mean(dim=1)
