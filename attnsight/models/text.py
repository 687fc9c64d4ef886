"""Transformer text encoder with a classification head, a masked-LM head and an optional NSP head.

The same module is trained from scratch (pre-norm) or loaded from a pretrained BERT checkpoint
such as all-MiniLM-L6-v2 (post-norm, `from_bert`), so explanations and training are the same
code for both.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from attnsight.errors import ConfigError
from attnsight.models.base import PretrainedModel, init_weights
from attnsight.nn.attention import build_attention_mask
from attnsight.nn.encoder import TransformerEncoder

POOLINGS = ("cls", "mean")
_BIGRAM_PRIME = 1_000_003  # spreads (previous, this) id pairs over the buckets


@dataclass
class TextConfig:
    vocab_size: int
    max_len: int = 128  # position embeddings, [CLS] and [SEP] included
    dim: int = 128
    num_layers: int = 2
    num_heads: int = 4
    ffn_dim: int = 512
    dropout: float = 0.1
    attn_dropout: float = 0.1
    norm_first: bool = True  # False: BERT's post-norm (pretrained checkpoints)
    layer_norm_eps: float = 1e-5
    type_vocab_size: int = 2
    pooling: str = "cls"  # cls | mean (over real tokens)
    num_labels: int = 0  # 0: an encoder without a classification head (pretraining)
    nsp: bool = False  # a next-sentence-prediction head for pretraining
    pad_id: int = 0
    bigram_buckets: int = 0  # > 0: hashed embeddings of each (previous, this) token pair, fastText's n-grams
    wide_buckets: int = 0  # > 0: a WideHead over the tokens and the token pairs hashed into this many buckets

    def __post_init__(self) -> None:
        if self.pooling not in POOLINGS:
            raise ConfigError(f"pooling must be one of {', '.join(POOLINGS)}, not {self.pooling!r}")
        for name in ("bigram_buckets", "wide_buckets"):
            if getattr(self, name) == 1 or getattr(self, name) < 0:
                raise ConfigError(f"{name} must be 0 (off) or at least 2, not {getattr(self, name)}")


@dataclass
class TextOutput:
    hidden: Tensor  # (B, T, C) last layer
    pooled: Tensor  # (B, C)
    logits: Tensor | None = None  # (B, num_labels)
    attentions: tuple[Tensor, ...] | None = None  # per layer (B, nh, T, T)


class TextTransformer(PretrainedModel):
    config_class = TextConfig
    task = "text"

    def __init__(self, config: TextConfig) -> None:
        super().__init__(config)
        c = config
        self.token_embedding = nn.Embedding(c.vocab_size, c.dim, padding_idx=c.pad_id)
        self.position_embedding = nn.Embedding(c.max_len, c.dim)
        self.type_embedding = nn.Embedding(c.type_vocab_size, c.dim)
        # bucket 0: no pair (first position or padding)
        self.bigram_embedding = nn.Embedding(c.bigram_buckets, c.dim, padding_idx=0) if c.bigram_buckets else None
        self.embed_norm = nn.LayerNorm(c.dim, eps=c.layer_norm_eps)
        self.embed_drop = nn.Dropout(c.dropout)
        self.encoder = TransformerEncoder(
            c.dim, c.num_layers, c.num_heads, c.ffn_dim, c.dropout, c.attn_dropout, c.norm_first, c.layer_norm_eps
        )
        # BERT's MLM transform; the output projection is tied to the token embeddings
        self.mlm_transform = nn.Sequential(nn.Linear(c.dim, c.dim), nn.GELU(), nn.LayerNorm(c.dim, eps=c.layer_norm_eps))
        self.mlm_bias = nn.Parameter(torch.zeros(c.vocab_size))
        self.nsp_head = nn.Linear(c.dim, 2) if c.nsp else None
        self.head_drop = nn.Dropout(c.dropout)
        self.classifier = nn.Linear(c.dim, c.num_labels) if c.num_labels else None
        self.apply(init_weights)
        self.wide = WideHead(c.vocab_size + c.wide_buckets, c.num_labels) if c.wide_buckets and c.num_labels else None

    def set_num_labels(self, num_labels: int) -> None:
        """A fresh classification head for `num_labels` classes (fine-tuning a pretrained encoder),
        without a wide head (`add_wide_head` adds one once the attention head is trained)."""
        self.config.num_labels, self.config.wide_buckets, self.wide = num_labels, 0, None
        self.classifier = nn.Linear(self.config.dim, num_labels).to(self.token_embedding.weight.device)
        init_weights(self.classifier)

    def add_wide_head(self, buckets: int) -> WideHead:
        """A wide head over the tokens and token pairs hashed into `buckets`, at mix 0 until fitted."""
        self.config.wide_buckets = buckets
        self.wide = WideHead(self.config.vocab_size + buckets, self.config.num_labels)
        return self.wide.to(self.token_embedding.weight.device)

    def wide_features(self, input_ids: Tensor, valid: Tensor) -> tuple[Tensor, Tensor]:
        """(B, 2T) feature of each position, then of each position's pair with the token before it
        (the pairs hashed after the vocabulary), and (B, 2T) whether it is there: what the wide head reads."""
        pairs = self.bigram_ids(input_ids, self.config.wide_buckets) + (self.config.vocab_size - 1)  # bucket 0: none
        return torch.cat([input_ids, pairs], dim=1), torch.cat([valid, pairs >= self.config.vocab_size], dim=1)

    def wide_counts(self, input_ids: Tensor, valid: Tensor) -> Tensor:
        """Sparse (B, vocabulary + buckets) counts of each text's tokens and token pairs (`wide_features`)."""
        features, present = self.wide_features(input_ids, valid)
        rows = torch.arange(len(input_ids), device=input_ids.device).unsqueeze(1).expand_as(features)
        index = torch.stack([rows[present], features[present]])
        ones = torch.ones(index.shape[1], device=input_ids.device)
        shape = (len(input_ids), self.config.vocab_size + self.config.wide_buckets)
        return torch.sparse_coo_tensor(index, ones, shape, check_invariants=False).coalesce()

    def layerwise_groups(self, decay: float) -> list[dict]:
        """AdamW parameter groups for layer-wise learning-rate decay (ELECTRA's fine-tuning): the heads
        and the last block learn at the full rate ("lr_scale" 1), each block below at `decay` times
        the one above it, the embeddings at decay ** num_layers — the lower layers, which hold the
        most general features, move least."""
        top = self.config.num_layers

        def depth(name: str) -> int:
            if name.startswith("encoder.blocks."):
                return int(name.split(".")[2])
            if name.startswith(("token_embedding", "position_embedding", "type_embedding", "bigram_embedding",
                                "embed_norm")):
                return -1
            return top - 1  # the final norm and the heads

        groups: dict[int, list[nn.Parameter]] = {}
        for name, parameter in self.named_parameters():
            groups.setdefault(depth(name), []).append(parameter)
        return [{"params": params, "lr_scale": decay ** (top - 1 - d)} for d, params in sorted(groups.items())]

    def forward(
        self,
        input_ids: Tensor,
        attention_mask: Tensor | None = None,
        token_type_ids: Tensor | None = None,
        output_attentions: bool = False,
        wide_ids: Tensor | None = None,
    ) -> TextOutput:
        """input_ids (B, T) right-padded; attention_mask (B, T) True for real tokens; wide_ids (B, T')
        right-padded: the whole texts, of which input_ids may be truncations, for the wide head to
        read (default: input_ids). The encoder's cost grows with the square of T, the wide head's
        only with T', so a long text's words beyond max_len still count through the wide head."""
        B, T = input_ids.shape
        if T > self.config.max_len:
            raise ValueError(f"sequence length {T} exceeds max_len {self.config.max_len}")
        valid = input_ids != self.config.pad_id if attention_mask is None else attention_mask.bool()
        positions = torch.arange(T, device=input_ids.device)
        x = self.token_embedding(input_ids) + self.position_embedding(positions)
        if self.bigram_embedding is not None:
            x = x + self.bigram_embedding(self.bigram_ids(input_ids, self.config.bigram_buckets))
        types = torch.zeros_like(input_ids) if token_type_ids is None else token_type_ids
        x = self.embed_drop(self.embed_norm(x + self.type_embedding(types)))
        out = self.encoder(x, build_attention_mask(valid, causal=False), output_attentions)
        hidden = out.last_hidden_state
        if self.config.pooling == "cls":
            pooled = hidden[:, 0]
        else:
            weights = valid.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * weights).sum(1) / weights.sum(1).clamp(min=1.0)
        logits = self.classifier(self.head_drop(pooled)) if self.classifier is not None else None
        if self.wide is not None:
            counts = self.wide_counts(input_ids, valid) if wide_ids is None else self.wide_counts(
                wide_ids, wide_ids != self.config.pad_id)
            logits = torch.lerp(logits, self.wide(counts), self.wide.mix)
        return TextOutput(hidden, pooled, logits, out.attentions)

    def bigram_ids(self, input_ids: Tensor, buckets: int) -> Tensor:
        """(B, T) hashed bucket (1 … buckets - 1) of each token with the one before it; 0 where either
        is padding.

        Hashed from the ids the model is given, so under masked-language modelling a masked token's
        pairs hash [MASK], never the token itself: the pairs give nothing away."""
        pad = self.config.pad_id
        previous = F.pad(input_ids[:, :-1], (1, 0), value=pad)
        ids = (previous * _BIGRAM_PRIME + input_ids) % (buckets - 1) + 1
        return ids.masked_fill((previous == pad) | (input_ids == pad), 0)

    def mlm_logits(self, hidden: Tensor) -> Tensor:
        """(N, C) hidden states of masked positions → (N, vocab) logits."""
        return F.linear(self.mlm_transform(hidden), self.token_embedding.weight, self.mlm_bias)

    def nsp_logits(self, hidden: Tensor) -> Tensor:
        if self.nsp_head is None:
            raise ValueError("this model has no next-sentence-prediction head (nsp=False)")
        return self.nsp_head(hidden[:, 0])

    @classmethod
    def from_bert(cls, path: str | Path, pooling: str = "mean", dropout: float | None = None) -> TextTransformer:
        """Load a Hugging Face BERT checkpoint (config.json + model.safetensors) into this module.

        Query, key and value are fused into our one projection; BERT's post-norm LayerNorms map to
        the block's ln1/ln2. Its pooler (dense + tanh, trained for NSP) is not used: sentence
        encoders such as all-MiniLM-L6-v2 are trained with mean pooling.
        """
        from safetensors.torch import load_file

        path = Path(path)
        hf = json.loads((path / "config.json").read_text(encoding="utf-8"))
        if hf.get("model_type") != "bert":
            raise ValueError(f"{path}: not a BERT checkpoint (model_type {hf.get('model_type')!r})")
        config = TextConfig(
            vocab_size=hf["vocab_size"],
            max_len=hf["max_position_embeddings"],
            dim=hf["hidden_size"],
            num_layers=hf["num_hidden_layers"],
            num_heads=hf["num_attention_heads"],
            ffn_dim=hf["intermediate_size"],
            dropout=hf["hidden_dropout_prob"] if dropout is None else dropout,
            attn_dropout=hf["attention_probs_dropout_prob"],
            norm_first=False,
            layer_norm_eps=hf["layer_norm_eps"],
            type_vocab_size=hf["type_vocab_size"],
            pooling=pooling,
            pad_id=hf.get("pad_token_id", 0),
        )
        model = cls(config)
        weights = load_file(str(path / "model.safetensors"))
        weights = {k.removeprefix("bert."): v for k, v in weights.items()}
        try:
            state = _bert_state(weights, config.num_layers)
        except KeyError as exc:
            raise ValueError(f"{path}: checkpoint does not fit (missing {exc.args[0]!r})") from None
        missing, unexpected = model.load_state_dict(state, strict=False)
        # only our own heads may be left at their initial values
        left = [k for k in missing if not k.startswith(("mlm_", "nsp_head", "classifier"))]
        if left or unexpected:
            raise ValueError(f"{path}: checkpoint does not fit (missing {left[:3]}, unexpected {unexpected[:3]})")
        return model


class WideHead(nn.Module):
    """The "wide" part of Wide & Deep: a linear model over a text's TF-IDF features — counts of its
    tokens and token pairs, times a smoothed IDF, rows L2-normalised, as scikit-learn's
    TfidfVectorizer makes them — fitted by logistic regression once the attention head is trained
    (attnsight.train.wide), and mixed with it: logits = (1 - mix) * attention + mix * wide."""

    def __init__(self, features: int, num_labels: int) -> None:
        super().__init__()
        self.register_buffer("weight", torch.zeros(features, num_labels))
        self.register_buffer("bias", torch.zeros(num_labels))
        self.register_buffer("idf", torch.ones(features))
        self.register_buffer("mix", torch.zeros(()))

    def row_norms(self, counts: Tensor) -> Tensor:
        """(B,) L2 norm of each row of coalesced sparse `counts` weighed by the idf."""
        rows, features = counts.indices()
        values = counts.values() * self.idf[features]
        norm = torch.zeros(counts.shape[0], dtype=values.dtype, device=values.device).index_add_(0, rows, values.square())
        return norm.sqrt().clamp(min=1e-12)

    def tfidf(self, counts: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """(rows, features, values) of the TF-IDF matrix of coalesced sparse `counts`."""
        rows, features = counts.indices()
        return rows, features, counts.values() * self.idf[features] / self.row_norms(counts)[rows]

    def forward(self, counts: Tensor) -> Tensor:
        rows, features, values = self.tfidf(counts)
        logits = self.bias.expand(counts.shape[0], -1).clone()
        return logits.index_add_(0, rows, values.unsqueeze(1) * self.weight[features])


def _bert_state(w: dict[str, Tensor], num_layers: int) -> dict[str, Tensor]:
    state = {
        "token_embedding.weight": w["embeddings.word_embeddings.weight"],
        "position_embedding.weight": w["embeddings.position_embeddings.weight"],
        "type_embedding.weight": w["embeddings.token_type_embeddings.weight"],
        "embed_norm.weight": w["embeddings.LayerNorm.weight"],
        "embed_norm.bias": w["embeddings.LayerNorm.bias"],
    }
    for i in range(num_layers):
        src, dst = f"encoder.layer.{i}.", f"encoder.blocks.{i}."
        for kind in ("weight", "bias"):
            state[f"{dst}attn.qkv.{kind}"] = torch.cat(
                [w[f"{src}attention.self.{name}.{kind}"] for name in ("query", "key", "value")]
            )
            state[f"{dst}attn.proj.{kind}"] = w[f"{src}attention.output.dense.{kind}"]
            state[f"{dst}ln1.{kind}"] = w[f"{src}attention.output.LayerNorm.{kind}"]
            state[f"{dst}ffn.net.0.{kind}"] = w[f"{src}intermediate.dense.{kind}"]
            state[f"{dst}ffn.net.3.{kind}"] = w[f"{src}output.dense.{kind}"]
            state[f"{dst}ln2.{kind}"] = w[f"{src}output.LayerNorm.{kind}"]
    return state
