"""Transformer encoder (pre-norm, or BERT's post-norm) with learned positions and typed outputs."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from attnsight.nn.attention import MultiHeadAttention


@dataclass
class EncoderOutput:
    """Hidden states of the last layer and, when asked, each layer's attention weights."""

    last_hidden_state: Tensor  # (B, T, C)
    attentions: tuple[Tensor, ...] | None = None  # per layer (B, nh, T, T)


class FeedForward(nn.Module):
    def __init__(self, dim: int, hidden: int, dropout: float) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(dim, hidden), nn.GELU(), nn.Dropout(dropout), nn.Linear(hidden, dim)
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)


class EncoderBlock(nn.Module):
    """Pre-norm (x + attn(ln(x)), then x + ffn(ln(x))) keeps deep stacks stable without warm-up
    tricks; post-norm (ln(x + attn(x)), then ln(x + ffn(x))) is BERT's, for its pretrained weights."""

    def __init__(
        self,
        dim: int,
        num_heads: int,
        ffn_dim: int,
        dropout: float,
        attn_dropout: float,
        norm_first: bool = True,
        eps: float = 1e-5,
    ) -> None:
        super().__init__()
        self.norm_first = norm_first
        self.ln1 = nn.LayerNorm(dim, eps=eps)
        self.attn = MultiHeadAttention(dim, num_heads, attn_dropout)
        self.ln2 = nn.LayerNorm(dim, eps=eps)
        self.ffn = FeedForward(dim, ffn_dim, dropout)
        self.drop = nn.Dropout(dropout)

    def forward(
        self, x: Tensor, mask: Tensor | None, need_weights: bool, last_query: bool = False
    ) -> tuple[Tensor, Tensor | None]:
        residual = x[:, -1:] if last_query else x
        if self.norm_first:
            h, weights = self.attn(self.ln1(x), mask, need_weights, last_query)
            x = residual + self.drop(h)
            return x + self.drop(self.ffn(self.ln2(x))), weights
        h, weights = self.attn(x, mask, need_weights, last_query)
        x = self.ln1(residual + self.drop(h))
        return self.ln2(x + self.drop(self.ffn(x))), weights


class TransformerEncoder(nn.Module):
    """A stack of blocks over embeddings that already carry positions; pre-norm stacks end in a LayerNorm."""

    def __init__(
        self,
        dim: int,
        num_layers: int,
        num_heads: int,
        ffn_dim: int,
        dropout: float,
        attn_dropout: float,
        norm_first: bool = True,
        eps: float = 1e-5,
    ) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(
            EncoderBlock(dim, num_heads, ffn_dim, dropout, attn_dropout, norm_first, eps) for _ in range(num_layers)
        )
        self.ln_f = nn.LayerNorm(dim, eps=eps) if norm_first else nn.Identity()

    def forward(
        self, x: Tensor, mask: Tensor | None = None, output_attentions: bool = False, last_only: bool = False
    ) -> EncoderOutput:
        """With `last_only`, the top block computes the last position only: (B, 1, C) out, and its
        attention weights are that one query row (B, nh, 1, T)."""
        attentions = []
        for i, block in enumerate(self.blocks):
            x, weights = block(x, mask, output_attentions, last_only and i == len(self.blocks) - 1)
            attentions.append(weights)
        return EncoderOutput(self.ln_f(x), tuple(attentions) if output_attentions else None)


class LearnedPositions(nn.Module):
    """Learned position embeddings, right-aligned: the last slot is always position max_len - 1.

    Right alignment means a batch trimmed to its longest sequence (left padding removed) keeps
    every item at the position it had at full length, and the predicting slot is always the last.
    """

    def __init__(self, max_len: int, dim: int) -> None:
        super().__init__()
        self.max_len = max_len
        self.embedding = nn.Embedding(max_len, dim)

    def forward(self, length: int) -> Tensor:
        if length > self.max_len:
            raise ValueError(f"sequence length {length} exceeds max_len {self.max_len}")
        positions = torch.arange(self.max_len - length, self.max_len, device=self.embedding.weight.device)
        return self.embedding(positions)  # (T, C)
