"""Multi-head attention: the SDPA kernel as the fast path, an explicit path that returns weights."""

from __future__ import annotations

import functools
import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def build_attention_mask(valid: Tensor, causal: bool) -> Tensor:
    """Boolean mask (True = may attend) of shape (B, 1, T, T) from a (B, T) validity mask.

    Every position may attend to itself, so rows of padding positions are never all-masked
    (an all-masked softmax row is NaN and its gradient poisons the batch); padding outputs are
    ignored downstream anyway.
    """
    T = valid.shape[1]
    mask = valid[:, None, None, :]  # (B, 1, 1, T): keys that are real items
    if causal:
        mask = mask & _lower_triangle(T, valid.device)
    return mask | _identity(T, valid.device)


# built once per length and device: a serving process builds masks of the same few lengths per request
@functools.lru_cache(maxsize=64)
def _lower_triangle(T: int, device: torch.device) -> Tensor:
    return torch.ones(T, T, dtype=torch.bool, device=device).tril()


@functools.lru_cache(maxsize=64)
def _identity(T: int, device: torch.device) -> Tensor:
    return torch.eye(T, dtype=torch.bool, device=device)


def attention_with_weights(
    q: Tensor, k: Tensor, v: Tensor, mask: Tensor | None = None, dropout_p: float = 0.0
) -> tuple[Tensor, Tensor]:
    """softmax(q kᵀ / √d) v with the weights returned: the explicit path of the SDPA kernel.

    The scale applies to the scores that the softmax sees (a common bug scales a copy of q and
    then multiplies with the unscaled one). Returns (output (B, nh, T, hs), weights (B, nh, T, T)).
    """
    B, nh, T, hs = q.shape
    S = k.shape[2]
    # one baddbmm computes mask + scale · q kᵀ on (B·nh) matrices, the mask as an additive bias (0 or
    # -inf): a third faster on CPU than a matmul, a division and a masked_fill, each a pass over T²
    bias = q.new_zeros(()) if mask is None else torch.where(mask, 0.0, float("-inf")).to(q.dtype)
    scores = torch.baddbmm(bias.expand(B, nh, T, S).reshape(B * nh, T, S), q.reshape(B * nh, T, hs),
                           k.reshape(B * nh, S, hs).transpose(1, 2), alpha=1 / math.sqrt(hs))
    weights = torch.softmax(scores, dim=-1).view(B, nh, T, S)
    dropped = F.dropout(weights, p=dropout_p) if dropout_p > 0 else weights
    return dropped @ v, weights


def attend(
    q: Tensor, k: Tensor, v: Tensor, mask: Tensor | None = None, dropout_p: float = 0.0, need_weights: bool = False
) -> tuple[Tensor, Tensor | None]:
    """The attention step on (B, nh, T, hs) heads: the fused SDPA kernel, or the explicit path
    when the weights are wanted (same numbers to float precision)."""
    if need_weights:
        return attention_with_weights(q, k, v, mask, dropout_p)
    return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=dropout_p), None


class MultiHeadAttention(nn.Module):
    """Multi-head self-attention over (B, T, C) with a boolean mask (True = may attend)."""

    def __init__(self, dim: int, num_heads: int, dropout: float = 0.0, bias: bool = True) -> None:
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"dim {dim} is not divisible by num_heads {num_heads}")
        self.num_heads = num_heads
        self.dropout = dropout
        self.qkv = nn.Linear(dim, 3 * dim, bias=bias)
        self.proj = nn.Linear(dim, dim, bias=bias)

    def forward(
        self, x: Tensor, mask: Tensor | None = None, need_weights: bool = False, last_query: bool = False
    ) -> tuple[Tensor, Tensor | None]:
        """(B, T, C) out, or (B, 1, C) for the last position only when `last_query` (all keys still
        read): what a model that predicts from the last position needs of its top layer."""
        B, T, C = x.shape
        q, k, v = self.qkv(x).split(C, dim=2)
        # (B, T, C) -> (B, nh, T, hs)
        q, k, v = (t.view(B, T, self.num_heads, C // self.num_heads).transpose(1, 2) for t in (q, k, v))
        if last_query:
            q, mask = q[:, :, -1:], None if mask is None else mask[..., -1:, :]
        y, weights = attend(q, k, v, mask, self.dropout if self.training else 0.0, need_weights)
        y = y.transpose(1, 2).reshape(B, q.shape[2], C)
        return self.proj(y), weights
