"""Side features as tokens, fused by attention into one vector per item (or user).

The encoded feature arrays (`attnsight.data.features.FeatureArrays`) live in the module as
buffers, so they are saved in the bundle's safetensors with the weights. Each categorical
column, each tag slot, each number, the text and the vector become one token, plus an optional
id token the owner supplies (the item embedding): `AttentionFusion` reads them into one vector
and its weights name the features a representation was made of.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor, nn

from attnsight.nn.fusion import AttentionFusion

_ARRAYS = ("categorical", "tags", "numeric", "numeric_present", "text", "text_vector", "vector", "vector_present")


@dataclass
class FeatureConfig:
    rows: int  # rows of the feature tables (items + padding + [MASK], or users)
    categorical: list[int] = field(default_factory=list)  # vocabulary size per column, 0 = missing included
    tag_vocab: int = 0
    tag_slots: int = 0
    numeric: int = 0
    text_vocab: int = 0
    text_len: int = 0
    text_dim: int = 0  # a sentence embedding of the text instead of its tokens
    vector_dim: int = 0
    names: list[str] = field(default_factory=list)  # one per feature token, for explanations

    @property
    def num_tokens(self) -> int:
        return len(self.categorical) + self.tag_slots + self.numeric + (1 if self.text_len or self.text_dim else 0) + \
            (1 if self.vector_dim else 0)


class FeatureEncoder(nn.Module):
    """Feature tokens of some rows, fused (optionally with an id token) into (N, C)."""

    def __init__(self, config: FeatureConfig, dim: int, num_heads: int = 2, dropout: float = 0.0) -> None:
        super().__init__()
        self.config = config
        n = config.rows
        self.register_buffer("categorical", torch.zeros(n, len(config.categorical), dtype=torch.long))
        self.register_buffer("tags", torch.zeros(n, config.tag_slots, dtype=torch.long))
        self.register_buffer("numeric", torch.zeros(n, config.numeric))
        self.register_buffer("numeric_present", torch.zeros(n, config.numeric, dtype=torch.bool))
        self.register_buffer("text", torch.zeros(n, config.text_len, dtype=torch.long))
        self.register_buffer("text_vector", torch.zeros(n, config.text_dim))
        self.register_buffer("vector", torch.zeros(n, config.vector_dim))
        self.register_buffer("vector_present", torch.zeros(n, dtype=torch.bool))
        self.category_embeddings = nn.ModuleList(nn.Embedding(size, dim, padding_idx=0) for size in config.categorical)
        self.tag_embedding = nn.Embedding(max(config.tag_vocab, 1), dim, padding_idx=0)
        self.numeric_weight = nn.Parameter(torch.zeros(config.numeric, dim))
        self.numeric_bias = nn.Parameter(torch.zeros(config.numeric, dim))
        self.text_embedding = nn.Embedding(max(config.text_vocab, 1), dim, padding_idx=0)
        self.text_projection = nn.Linear(config.text_dim, dim) if config.text_dim else None
        self.vector_projection = nn.Linear(config.vector_dim, dim) if config.vector_dim else None
        self.kinds = nn.Embedding(config.num_tokens + 1, dim)  # which feature a token is (+ the id token)
        self.fusion = AttentionFusion(dim, num_heads, dropout)

    def set_features(self, arrays: object) -> None:
        """Load encoded `FeatureArrays` into the buffers (rows must match the config)."""
        for name in _ARRAYS:
            value = torch.from_numpy(np.ascontiguousarray(getattr(arrays, name)))
            buffer = getattr(self, name)
            if value.shape != buffer.shape:
                raise ValueError(f"feature {name}: shape {tuple(value.shape)}, expected {tuple(buffer.shape)}")
            buffer.copy_(value)

    def insert_rows(self, at: int, arrays: object) -> None:
        """Insert the rows of `FeatureArrays` before row `at` (new items, ahead of [MASK])."""
        for name in _ARRAYS:
            buffer = getattr(self, name)
            value = torch.from_numpy(np.ascontiguousarray(getattr(arrays, name))).to(buffer.device, buffer.dtype)
            if value.shape[1:] != buffer.shape[1:]:
                raise ValueError(f"feature {name}: rows of shape {tuple(value.shape[1:])}, "
                                 f"expected {tuple(buffer.shape[1:])}")
            # a tensor set on a buffer's name stays a buffer
            setattr(self, name, torch.cat([buffer[:at], value, buffer[at:]]))
        self.config.rows += len(arrays.categorical)

    def tokens(self, rows: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """(N, T, C) feature tokens of `rows` (all rows when None) and their (N, T) validity."""
        pick = (lambda t: t) if rows is None else (lambda t: t[rows])
        out, valid = [], []
        categorical = pick(self.categorical)
        for j, embedding in enumerate(self.category_embeddings):
            out.append(embedding(categorical[:, j]))
            valid.append(categorical[:, j] > 0)
        if self.config.tag_slots:
            tags = pick(self.tags)
            out.extend(self.tag_embedding(tags).unbind(1))
            valid.extend((tags > 0).unbind(1))
        if self.config.numeric:
            numeric = pick(self.numeric)
            out.extend((numeric[..., None] * self.numeric_weight + self.numeric_bias).unbind(1))
            valid.extend(pick(self.numeric_present).unbind(1))
        if self.config.text_len:
            text = pick(self.text)
            present = text > 0
            summed = (self.text_embedding(text) * present[..., None]).sum(1)
            out.append(summed / present.sum(1, keepdim=True).clamp(min=1))  # mean of the title's tokens
            valid.append(present.any(1))
        if self.text_projection is not None:
            text_vector = pick(self.text_vector)
            out.append(self.text_projection(text_vector))
            valid.append(text_vector.any(1))
        if self.vector_projection is not None:
            out.append(self.vector_projection(pick(self.vector)))
            valid.append(pick(self.vector_present))
        n = len(categorical)
        if not out:
            return torch.zeros(n, 0, self.kinds.embedding_dim, device=categorical.device), \
                torch.zeros(n, 0, dtype=torch.bool, device=categorical.device)
        tokens = torch.stack(out, 1) + self.kinds.weight[1:][None]
        return tokens, torch.stack(valid, 1)

    def forward(self, rows: Tensor | None = None, ids: Tensor | None = None,
                id_valid: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """Fused (N, C) and the fusion weights (N, 1 + T) over [id, features...]; rows with no valid
        token at all (no id, no features) fall back to their id token, which is then zero."""
        tokens, valid = self.tokens(rows)
        n = tokens.shape[0]
        if ids is None:
            ids = torch.zeros(n, tokens.shape[-1], device=tokens.device)
            id_valid = torch.zeros(n, dtype=torch.bool, device=tokens.device)
        id_valid = id_valid | ~valid.any(1)
        tokens = torch.cat([(ids + self.kinds.weight[0])[:, None], tokens], 1)
        fused, weights = self.fusion(tokens, torch.cat([id_valid[:, None], valid], 1))
        # the id at full strength where there is one: a known item stays as distinct as an id-only model
        # makes it, and the features add what they know (all there is of an item without an id)
        return fused + ids * id_valid[:, None], weights
