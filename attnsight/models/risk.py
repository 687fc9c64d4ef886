"""Target attention over an account's (and an entity's) recent events, for risk scores.

The current event is token 0; the account's previous events and the entity's previous events
follow. Each token is its numeric features (normalised), its categorical embeddings, how long
before the current event it happened, its label when already known, and which sequence it
comes from. A bidirectional encoder lets the current event attend over its history; its output
gives the risk logit. Masked-feature modelling (recover the hidden features of some events from
the others) pretrains the same encoder without labels.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from attnsight.models.base import PretrainedModel, init_weights
from attnsight.nn.attention import build_attention_mask
from attnsight.nn.encoder import TransformerEncoder

TIME_BUCKETS = 40  # half-octaves of minutes: 1 minute … ~2 years
UNKNOWN = 0  # categorical code of values not seen in training; observed values start at 1
SOURCES = ("current", "account", "entity")


@dataclass
class RiskConfig:
    num_numeric: int
    categorical_sizes: list[int] = field(default_factory=list)  # codes per column, UNKNOWN included
    history_len: int = 32  # previous events per sequence (account, entity)
    dim: int = 64
    num_layers: int = 2
    num_heads: int = 4
    ffn_dim: int = 256
    dropout: float = 0.1
    attn_dropout: float = 0.1


@dataclass
class RiskOutput:
    logits: Tensor  # (B,) risk logit of the current event
    hidden: Tensor  # (B, T, C)
    attentions: tuple[Tensor, ...] | None = None


def time_bucket(seconds: Tensor) -> Tensor:
    """Log-scale bucket of a non-negative time difference, 1…TIME_BUCKETS-1 (0: the event itself)."""
    minutes = seconds.clamp(min=0).float() / 60.0
    return (torch.log2(1.0 + minutes) * 2).long().clamp(max=TIME_BUCKETS - 2) + 1


class RiskTransformer(PretrainedModel):
    config_class = RiskConfig
    task = "risk"

    def __init__(self, config: RiskConfig) -> None:
        super().__init__(config)
        c = config
        self.numeric = nn.Linear(c.num_numeric, c.dim) if c.num_numeric else None
        # past events also carry how their numbers differ from the current event's, as in DIN's
        # target attention: "five times this card's usual amount" is then one projection away
        self.relative = nn.Linear(c.num_numeric, c.dim) if c.num_numeric else None
        self.categorical = nn.ModuleList(nn.Embedding(size, c.dim) for size in c.categorical_sizes)
        self.feature_mask = nn.Parameter(torch.zeros(c.dim))  # replaces the features of a masked event
        self.delta = nn.Embedding(TIME_BUCKETS, c.dim)
        self.known = nn.Embedding(3, c.dim)  # label unknown yet, known genuine, known positive
        self.source = nn.Embedding(len(SOURCES), c.dim)
        self.ln_in = nn.LayerNorm(c.dim)
        self.drop = nn.Dropout(c.dropout)
        self.encoder = TransformerEncoder(c.dim, c.num_layers, c.num_heads, c.ffn_dim, c.dropout, c.attn_dropout)
        self.head = nn.Sequential(nn.Linear(c.dim, c.dim), nn.GELU(), nn.Dropout(c.dropout), nn.Linear(c.dim, 1))
        # masked-feature modelling heads
        self.numeric_out = nn.Linear(c.dim, c.num_numeric) if c.num_numeric else None
        self.categorical_out = nn.ModuleList(nn.Linear(c.dim, size) for size in c.categorical_sizes)
        self.apply(init_weights)

    def features(self, numeric: Tensor, categorical: Tensor, hidden: Tensor | None = None) -> Tensor:
        """(B, T, C) embedding of each event's fields and of its numbers' difference from the current
        event's (token 0); `hidden` (B, T) masks events whose fields are hidden: their features and
        every difference involving them are left out, so nothing hidden leaks."""
        x = 0.0
        if self.numeric is not None:
            difference = self.relative(numeric[:, :1] - numeric)
            if hidden is not None:
                difference = difference * (~hidden & ~hidden[:, :1])[..., None]
            x = self.numeric(numeric) + difference
        for j, embedding in enumerate(self.categorical):
            x = x + embedding(categorical[..., j])
        if hidden is not None:
            x = torch.where(hidden[..., None], self.feature_mask.to(x.dtype), x)
        return x

    def forward(
        self,
        batch: dict[str, Tensor],
        feature_mask: Tensor | None = None,
        output_attentions: bool = False,
        tokens: Tensor | None = None,
    ) -> RiskOutput:
        """batch: numeric (B, T, F), categorical (B, T, C), delta (B, T) seconds before the current
        event, known (B, T), source (B, T), valid (B, T); token 0 is the current event. `tokens`
        (B, T, dim): the events' feature embeddings given instead of computed from the batch
        (integrated gradients interpolate them)."""
        x = self.features(batch["numeric"], batch["categorical"], feature_mask) if tokens is None else tokens
        delta = time_bucket(batch["delta"])
        delta[:, 0] = 0
        x = x + self.delta(delta) + self.known(batch["known"]) + self.source(batch["source"])
        x = self.drop(self.ln_in(x))
        out = self.encoder(x, build_attention_mask(batch["valid"], causal=False), output_attentions)
        hidden = out.last_hidden_state
        return RiskOutput(self.head(hidden[:, 0]).squeeze(-1), hidden, out.attentions)

    def masked_feature_loss(self, hidden: Tensor, batch: dict[str, Tensor], masked: Tensor) -> Tensor:
        """Mean squared error on the numbers and cross-entropy on the categories of masked events."""
        h = hidden[masked]
        loss = hidden.new_zeros(())
        if self.numeric_out is not None:
            loss = loss + F.mse_loss(self.numeric_out(h).float(), batch["numeric"][masked].float())
        for j, head in enumerate(self.categorical_out):
            target = batch["categorical"][..., j][masked]
            if (target != UNKNOWN).any():  # all-unknown targets would make the mean NaN
                loss = loss + F.cross_entropy(head(h).float(), target, ignore_index=UNKNOWN)
        return loss
