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
    layers = [_with_residual(layer.float().mean(dim=1)) for layer in attentions[:-1]]  # (B, T, T) each
    top = attentions[-1].float().mean(dim=1)  # (B, T or 1, T)
    if position is None:
        rollout = _with_residual(top)
        for a in reversed(layers):
            rollout = rollout @ a
        return rollout
    T = top.shape[-1]
    row = top[:, position if top.shape[1] == T else 0]  # (B, T)
    row = 0.5 * row + 0.5 * torch.nn.functional.one_hot(torch.tensor(position % T), T).to(row)
    row = row / row.sum(dim=-1, keepdim=True)
    for a in reversed(layers):
        row = (row.unsqueeze(1) @ a).squeeze(1)
    return row


def _with_residual(a: Tensor) -> Tensor:
    a = 0.5 * a + 0.5 * torch.eye(a.shape[-1], device=a.device)
    return a / a.sum(dim=-1, keepdim=True)
