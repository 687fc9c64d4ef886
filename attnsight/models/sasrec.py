"""Self-attentive sequential recommender (SASRec family) with a cloze (BERT4Rec) mode.

One encoder serves both objectives: causal attention for next-item prediction, bidirectional
attention for masked-item pretraining. Items are scored against the shared item embedding
table (tied output layer), which is what makes full-softmax training (SASRec+) cheap.
Item indices: 0 = padding, 1..num_items = items, num_items + 1 = [MASK].

With side features (`item_features`), an item's vector is not a row of the embedding table but
the attention fusion of its id embedding with its feature tokens (`models/side.py`); items never
seen in training (`has_id` False) are represented from their features alone, and in training the
id token is dropped at random (`id_dropout`) so that features learn to carry an item by themselves.
With `user_features`, a user's features are fused the same way into a profile vector that is added
to every hidden state of their history and, alone, is trained to predict their items: a new user
is scored from a few items plus their profile, or from the profile alone.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from attnsight.models.base import PretrainedModel, init_weights
from attnsight.models.side import FeatureConfig, FeatureEncoder
from attnsight.nn import LearnedPositions, TransformerEncoder, build_attention_mask, chunked_cross_entropy


@dataclass
class SASRecConfig:
    num_items: int  # catalogue size, without padding and [MASK]
    max_len: int = 200  # longest history the model attends over
    dim: int = 64  # embedding and hidden size
    num_layers: int = 2  # transformer blocks
    num_heads: int = 2  # attention heads per block
    ffn_dim: int = 256  # feed-forward inner size
    dropout: float = 0.2  # on embeddings, residual branches and feed-forward
    attn_dropout: float = 0.0  # on attention weights; > 0 pushes SDPA off its fused CPU kernel
    mode: str = "causal"  # how a history is read to predict: causal (next-item) | cloze ([MASK] appended)
    item_features: dict | None = None  # FeatureConfig fields of the items' side features, when given
    id_dropout: float = 0.0  # training: the chance an item's id token is left out of its fusion
    user_features: dict | None = None  # FeatureConfig fields (rows included) of the users' side features

    @property
    def mask_index(self) -> int:
        return self.num_items + 1


@dataclass
class SASRecOutput:
    """Hidden states (B, T, C), the loss when targets were given, attention weights when asked."""

    hidden: Tensor
    loss: Tensor | None = None
    attentions: tuple[Tensor, ...] | None = None


class SASRec(PretrainedModel):
    config_class = SASRecConfig
    task = "recsys"

    def __init__(self, config: SASRecConfig) -> None:
        super().__init__(config)
        self.item_embedding = nn.Embedding(config.num_items + 2, config.dim, padding_idx=0)
        self.item_features = None
        if config.item_features is not None:
            features = FeatureConfig(**{**config.item_features, "rows": config.num_items + 2})
            self.item_features = FeatureEncoder(features, config.dim, config.num_heads, config.dropout)
            self.register_buffer("has_id", torch.ones(config.num_items + 2, dtype=torch.bool))
        self.user_features = None
        if config.user_features is not None:  # row 0: no profile
            self.user_features = FeatureEncoder(FeatureConfig(**config.user_features), config.dim, config.num_heads,
                                                config.dropout)
        self.positions = LearnedPositions(config.max_len, config.dim)
        self.emb_dropout = nn.Dropout(config.dropout)
        self.encoder = TransformerEncoder(
            config.dim, config.num_layers, config.num_heads, config.ffn_dim, config.dropout, config.attn_dropout
        )
        self.apply(init_weights)

    def forward(
        self, items: Tensor, targets: Tensor | None = None, causal: bool = True, output_attentions: bool = False,
        last_only: bool = False, users: Tensor | None = None,
    ) -> SASRecOutput:
        """items (B, T) left-padded with 0; targets (B, T) with 0 where no loss is taken; `last_only`
        computes the top layer at the last position only (hidden (B, 1, C)), for prediction;
        `users` (B,) the rows of their user features (0: none), for a model with user features.

        With targets, the loss is full-softmax cross-entropy over the catalogue, computed only
        at positions that have a target (padding costs nothing); with users, plus the same loss of
        each profile alone against its row's targets.
        """
        valid = items != 0
        if self.item_features is None:  # the plain path calls the embedding module itself: attributions hook it
            table, embedded = self.item_embedding.weight, self.item_embedding(items)
        elif targets is None:  # prediction: fuse only the items these histories hold, not the catalogue
            rows, inverse = items.unique(return_inverse=True)
            table, embedded = None, self.fuse_items(rows)[0][inverse]
        else:
            table = self.item_table()
            embedded = F.embedding(items, table)
        x = embedded * self.config.dim**0.5 + self.positions(items.shape[1])
        x = self.emb_dropout(x)
        out = self.encoder(x, build_attention_mask(valid, causal), output_attentions, last_only)
        hidden = out.last_hidden_state
        profile = self.profiles(users) if users is not None and self.user_features is not None else None
        if profile is not None:  # a history with no item (a user known by features alone) reads nothing
            hidden = torch.where(valid.any(1)[:, None, None], hidden, 0.0) + profile[:, None]
        loss = None
        if targets is not None:
            at = targets != 0
            catalogue = table[: self.config.num_items + 1]
            loss = chunked_cross_entropy(hidden[at], catalogue, targets[at])
            if profile is not None:
                # the profile learns to point at its user's items; it does not move the items themselves
                logits = profile @ catalogue.detach().T
                logits[:, 0] = float("-inf")  # padding
                taken = torch.log_softmax(logits, -1).gather(1, targets)  # -inf at padding targets
                loss = loss - torch.where(at, taken, 0.0).sum() / at.sum().clamp(min=1)
        return SASRecOutput(hidden, loss, out.attentions)

    def profiles(self, users: Tensor) -> Tensor:
        """(B, C) the fused user features of user rows (B,); zero for row 0 (no profile)."""
        fused, _ = self.user_features(users)
        return fused * (users != 0)[:, None]

    @torch.no_grad()
    def add_users(self, features: object) -> None:
        """Append the users of these `FeatureArrays` as new profile rows (known by features alone)."""
        if self.user_features is None:
            raise ValueError("only a model with user features can take users by their features")
        self.user_features.insert_rows(self.user_features.config.rows, features)
        self.config.user_features["rows"] = self.user_features.config.rows

    def item_table(self) -> Tensor:
        """(num_items + 2, C): every item's vector (padding and [MASK] rows included)."""
        if self.item_features is None:
            return self.item_embedding.weight
        return self.fuse_items()[0]

    def fuse_items(self, rows: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """Fused vectors of item `rows` (all when None) and their fusion weights over [id, features]."""
        if self.item_features is None:
            raise ValueError("this model has no item features")
        has_id = self.has_id if rows is None else self.has_id[rows]
        if self.training and self.config.id_dropout > 0:
            has_id = has_id & (torch.rand(has_id.shape, device=has_id.device) >= self.config.id_dropout)
        ids = self.item_embedding.weight if rows is None else self.item_embedding(rows)
        return self.item_features(rows, ids, has_id)

    @torch.no_grad()
    def add_items(self, features: object) -> None:
        """Grow the catalogue by the items of these `FeatureArrays` (indices num_items + 1 on; [MASK]
        moves to the end): no id embedding yet, represented by their features alone."""
        if self.item_features is None:
            raise ValueError("only a model with item features can take items it has not seen")
        n, old = len(features.categorical), self.config.num_items
        weight = self.item_embedding.weight
        grown = torch.cat([weight[: old + 1], weight.new_zeros(n, weight.shape[1]), weight[old + 1 :]])
        self.item_embedding = nn.Embedding.from_pretrained(grown, freeze=False, padding_idx=0)
        self.has_id = torch.cat([self.has_id[: old + 1], self.has_id.new_zeros(n), self.has_id[old + 1 :]])
        self.item_features.insert_rows(old + 1, features)
        self.config.num_items += n

    def score(self, hidden: Tensor) -> Tensor:
        """Scores of hidden states (..., C) against every item: (..., num_items + 1).

        Column 0 (padding) is -inf so it never ranks and never takes probability mass.
        """
        logits = hidden @ self.item_table()[: self.config.num_items + 1].T
        logits[..., 0] = float("-inf")
        return logits

    def sampled_loss(self, hidden: Tensor, targets: Tensor, negatives: Tensor, log_q: Tensor | None = None) -> Tensor:
        """Cross-entropy of each target against negatives (K,) shared by the batch.

        hidden (N, C), targets (N,). `log_q` (num_items + 1,) is the log-probability that the
        sampler draws each item; None means uniform, where it is a constant that cancels.
        Accidental hits (a negative equal to the target) are masked.
        """
        table = self.item_table()
        pos = (hidden * table[targets]).sum(-1, keepdim=True)  # (N, 1)
        neg = hidden @ table[negatives].T  # (N, K)
        if log_q is not None:
            # logQ correction of every candidate logit, the target's included: Jean et al. 2015
            # (eq. 10), TensorFlow's sampled_softmax_loss (subtract_log_q), Yi et al. 2019 (eq. 3)
            pos = pos - log_q[targets, None]
            neg = neg - log_q[negatives]
        neg = neg.masked_fill(negatives[None, :] == targets[:, None], float("-inf"))
        logits = torch.cat([pos, neg], dim=1)
        return F.cross_entropy(logits, torch.zeros(len(targets), dtype=torch.long, device=hidden.device))

    @torch.no_grad()
    def predict(self, items: Tensor, output_attentions: bool = False, users: Tensor | None = None) -> SASRecOutput:
        """Representation (B, C) that scores the next item after each left-padded history (B, T).

        In cloze mode (a model only pretrained with masked items) a [MASK] is appended and read
        with bidirectional attention, as BERT4Rec predicts; attentions then cover that slot too.
        """
        causal = self.config.mode == "causal"
        if not causal:
            mask = torch.full_like(items[:, :1], self.config.mask_index)
            items = torch.cat([items[:, 1:] if items.shape[1] == self.config.max_len else items, mask], dim=1)
        out = self(items, causal=causal, output_attentions=output_attentions, last_only=True, users=users)
        return SASRecOutput(out.hidden[:, -1], None, out.attentions)
