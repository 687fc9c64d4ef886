"""Turning per-layer, per-head attention weights into one weight per history item."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor


def attention_rollout(attentions: Sequence[Tensor], position: int | None = None) -> Tensor:
    """Attention rollout (Abnar & Zuidema, 2020): heads averaged, the residual path added as
    identity, rows renormalised, then layers multiplied so attention flows through the stack.

    attentions: per layer (B, nh, T, T). Returns (B, T, T): row t is how much position t's final
    representation draws on each input position; with `position`, only that row (B, T), computed
    as a vector through the layers (top down) instead of a product of full matrices.

    The top layer may hold only that position's query row (B, nh, 1, T), as a model computing its
    last layer for the predicting position only returns.
    """
    if not attentions:
        raise ValueError("no attention weights given")
    top = attentions[-1].float().mean(dim=1)  # (B, T or 1, T)
    if position is None:
        rollout = _with_residual(top)
        for layer in reversed(attentions[:-1]):
            rollout = rollout @ _with_residual(layer.float().mean(dim=1))
        return rollout
    T = top.shape[-1]
    row = top[:, position if top.shape[1] == T else 0]  # (B, T)
    row = 0.5 * row + 0.5 * torch.nn.functional.one_hot(torch.tensor(position % T), T).to(row)
    row = row / row.sum(dim=-1, keepdim=True)
    for layer in reversed(attentions[:-1]):
        # row @ _with_residual(A) without building the (B, T, T) matrix: row t of (A + I) / 2,
        # renormalised, is (A[t] + e_t) / (s_t + 1) with s_t the sum of A[t]
        a = layer.float().mean(dim=1)
        scaled = row / (a.sum(dim=-1) + 1)
        row = (scaled.unsqueeze(1) @ a).squeeze(1) + scaled
    return row


def _with_residual(a: Tensor) -> Tensor:
    a = 0.5 * a + 0.5 * torch.eye(a.shape[-1], device=a.device)
    return a / a.sum(dim=-1, keepdim=True)
