"""Turning per-layer, per-head attention weights into one weight per history item."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor


def attention_rollout(attentions: Sequence[Tensor]) -> Tensor:
    """Attention rollout (Abnar & Zuidema, 2020): heads averaged, the residual path added as
    identity, rows renormalised, then layers multiplied so attention flows through the stack.

    attentions: per layer (B, nh, T, T). Returns (B, T, T): row t is how much position t's final
    representation draws on each input position.
    """
    rollout = None
    for layer in attentions:
        a = layer.float().mean(dim=1)  # (B, T, T)
        eye = torch.eye(a.shape[-1], device=a.device).expand_as(a)
        a = 0.5 * a + 0.5 * eye
        a = a / a.sum(dim=-1, keepdim=True)
        rollout = a if rollout is None else a @ rollout
    if rollout is None:
        raise ValueError("no attention weights given")
    return rollout
