"""Side information as model inputs: category codes, tag codes, standardised numbers, title
tokens (or a title's sentence embedding) and vectors, one row per item (or user), by a
`FeatureSpace` fitted on the training side data and saved in the bundle, so a brand-new item is
encoded exactly as the known ones were.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from attnsight.data.side import SideSchema, SideTable, Vectors, match_ids
from attnsight.data.tokenizer import TextTokenizer
from attnsight.errors import AttnsightError, DataError
from attnsight.files import write_text_atomic

TEXT_SEP = " | "  # joins an item's text columns into the one text it is read as
TEXT_ENCODERS = ("wordpiece", "minilm")  # tokens learned with the model | a frozen sentence embedding
Embed = Callable[[list[str]], np.ndarray]  # texts -> (N, text_dim) sentence embeddings


@dataclass
class FeatureArrays:
    """Rows of encoded features. Code 0 is missing or unknown throughout (and padding for tags/text)."""

    categorical: np.ndarray  # (N, n_categorical) int64
    tags: np.ndarray  # (N, tag_slots) int64
    numeric: np.ndarray  # (N, n_numeric) float32, standardised; 0 where missing
    numeric_present: np.ndarray  # (N, n_numeric) bool
    text: np.ndarray  # (N, text_len) int64 token ids
    text_vector: np.ndarray  # (N, text_dim) float32 sentence embeddings; zero where no text
    vector: np.ndarray  # (N, vector_dim) float32
    vector_present: np.ndarray  # (N,) bool

    def __len__(self) -> int:
        return len(self.categorical)

    @classmethod
    def concat(cls, parts: list[FeatureArrays]) -> FeatureArrays:
        return cls(*(np.concatenate([getattr(p, f) for p in parts]) for f in cls.__dataclass_fields__))


class FeatureSpace:
    """The vocabularies and statistics that turn side rows into `FeatureArrays`."""

    FILE = "features.json"

    def __init__(
        self,
        schema: SideSchema,
        categories: dict[str, list[str]],
        tags: list[str],
        tag_slots: int,
        numeric_stats: dict[str, tuple[float, float]],
        tokenizer: TextTokenizer | None,
        vector_dim: int,
        text_encoder: str = "wordpiece",
        text_dim: int = 0,
    ) -> None:
        self.schema, self.categories, self.tags, self.tag_slots = schema, categories, tags, tag_slots
        self.numeric_stats, self.tokenizer, self.vector_dim = numeric_stats, tokenizer, vector_dim
        self.text_encoder, self.text_dim = text_encoder, text_dim
        self._codes = {c: {v: i for i, v in enumerate(values, start=1)} for c, values in categories.items()}
        self._tag_codes = {t: i for i, t in enumerate(tags, start=1)}

    @classmethod
    def fit(
        cls, table: SideTable | None, vectors: Vectors | None = None, max_tags: int = 8, text_len: int = 16,
        text_vocab: int = 4000, min_count: int = 1, text_encoder: str = "wordpiece", text_dim: int = 0,
    ) -> FeatureSpace:
        """Learn vocabularies from the side data of the training catalogue (values seen fewer than
        `min_count` times are treated as unknown). Text columns: a WordPiece vocabulary trained on
        them (`wordpiece`), or the `text_dim`-wide embeddings that `transform`'s `embed` gives (`minilm`)."""
        if text_encoder not in TEXT_ENCODERS:
            raise AttnsightError(f"unknown text encoder {text_encoder!r}; choose one of {', '.join(TEXT_ENCODERS)}")
        schema = table.schema if table is not None else SideSchema("id")
        categories = {}
        for name in schema.categorical:
            counts = Counter(v for v in table.categorical[name] if v)
            categories[name] = sorted(v for v, n in counts.items() if n >= min_count)
        tag_counts = Counter(t for name in schema.tags for row in table.tags[name] for t in row)
        tags = sorted(t for t, n in tag_counts.items() if n >= min_count)
        slots = max((sum(len(table.tags[n][r]) for n in schema.tags) for r in range(len(table))), default=0) \
            if schema.tags else 0
        stats = {}
        for name in schema.numeric:
            values = table.numeric[name][np.isfinite(table.numeric[name])]
            stats[name] = (float(values.mean()), float(values.std()) or 1.0) if len(values) else (0.0, 1.0)
        tokenizer = None
        if schema.text and text_encoder == "wordpiece":
            texts = [t for t in _texts(table) if t]
            tokenizer = TextTokenizer.train(texts, vocab_size=text_vocab, min_frequency=1, max_len=text_len)
        return cls(schema, categories, tags, min(slots, max_tags), stats, tokenizer,
                   vectors.dim if vectors is not None else 0, text_encoder,
                   text_dim if schema.text and text_encoder != "wordpiece" else 0)

    # ----------------------------------------------------------------------------- encoding

    @property
    def text_len(self) -> int:
        return self.tokenizer.max_len if self.tokenizer is not None else 0

    @property
    def token_names(self) -> list[str]:
        """The name of each feature token, in the order `FeatureArrays` are embedded (explanations)."""
        s = self.schema
        text = [TEXT_SEP.join(s.text)] if s.text else []
        tags = ["+".join(s.tags)] * self.tag_slots
        return [*s.categorical, *tags, *s.numeric, *text, *(["vector"] if self.vector_dim else [])]

    def describe(self, categorical: list[int], tags: list[int]) -> list[tuple[str, str, tuple[int, int] | None]]:
        """(feature, value, key) of each feature token of one row, in token order; key = (column, code)
        for a category (column -1 for tags), by which rows sharing the value are found; None otherwise."""
        s = self.schema
        out: list[tuple[str, str, tuple[int, int] | None]] = [
            (name, self.categories[name][code - 1] if code else "", (j, code) if code else None)
            for j, (name, code) in enumerate(zip(s.categorical, categorical))]
        tag_name = "+".join(s.tags)
        out += [(tag_name, self.tags[code - 1] if code else "", (-1, code) if code else None) for code in tags]
        out += [(name, "", None) for name in s.numeric]
        out += [(TEXT_SEP.join(s.text), "", None)] if s.text else []
        out += [("vector", "", None)] if self.vector_dim else []
        return out

    def transform(self, table: SideTable | None, ids: list[str], vectors: Vectors | None = None,
                  embed: Embed | None = None) -> FeatureArrays:
        """Encode the rows of `ids` (ids with no side row or no vector get missing features); `embed`
        reads the text columns of a space fitted with a sentence-embedding text encoder."""
        n = len(ids)
        s = self.schema
        if table is None:  # no side data: every row missing
            table = SideTable([], s, {c: [] for c in s.text}, {c: [] for c in s.categorical}, {c: [] for c in s.tags},
                              {c: np.zeros(0) for c in s.numeric})
        for role in ("text", "categorical", "tags", "numeric"):  # a table of other columns, or of the users' for items
            missing = [name for name in getattr(s, role) if name not in getattr(table.schema, role)]
            if missing:
                raise DataError(table.source, f"no {role} column {missing[0]!r}; the model was trained with the side "
                                              f"columns {', '.join(s.columns())}")
        rows = match_ids(table.ids, ids).rows
        has = rows >= 0
        categorical = np.zeros((n, len(s.categorical)), dtype=np.int64)
        for j, name in enumerate(s.categorical):
            codes = self._codes[name]
            categorical[has, j] = [codes.get(table.categorical[name][r], 0) for r in rows[has]]
        tags = np.zeros((n, self.tag_slots), dtype=np.int64)
        for i in np.flatnonzero(has):
            found = [c for name in s.tags for t in table.tags[name][rows[i]] if (c := self._tag_codes.get(t))]
            tags[i, : min(len(found), self.tag_slots)] = found[: self.tag_slots]
        numeric = np.zeros((n, len(s.numeric)), dtype=np.float32)
        present = np.zeros((n, len(s.numeric)), dtype=bool)
        for j, name in enumerate(s.numeric):
            values = np.full(n, np.nan)
            values[has] = table.numeric[name][rows[has]]
            mean, std = self.numeric_stats[name]
            present[:, j] = np.isfinite(values)
            numeric[present[:, j], j] = (values[present[:, j]] - mean) / std
        text = np.zeros((n, self.text_len), dtype=np.int64)
        if self.tokenizer is not None:
            texts = [""] * n
            for i, t in zip(np.flatnonzero(has), _texts(table, rows[has])):
                texts[i] = t
            bare = self.tokenizer.encode_bare(texts)
            for i, token_ids in enumerate(bare):
                text[i, : min(len(token_ids), self.text_len)] = token_ids[: self.text_len]
        text_vector = np.zeros((n, self.text_dim), dtype=np.float32)
        if self.text_dim:
            texts = dict(zip(np.flatnonzero(has), _texts(table, rows[has])))
            with_text = [i for i, t in texts.items() if t]
            if with_text:
                if embed is None:
                    raise AttnsightError(f"the side texts are read by {self.text_encoder}: give its embedding function")
                text_vector[with_text] = embed([texts[i] for i in with_text])
        vector = np.zeros((n, self.vector_dim), dtype=np.float32)
        vector_present = np.zeros(n, dtype=bool)
        if vectors is not None and self.vector_dim:
            if vectors.dim != self.vector_dim:
                raise AttnsightError(f"{vectors.source}: vectors of dimension {vectors.dim}; the model was trained on "
                                     f"{self.vector_dim}")
            vrows = match_ids(vectors.ids, ids).rows
            vector_present = vrows >= 0
            vector[vector_present] = vectors.matrix[vrows[vector_present]]
        return FeatureArrays(categorical, tags, numeric, present, text, text_vector, vector, vector_present)

    def sizes(self) -> dict[str, object]:
        """What a model needs to embed these arrays (its feature config)."""
        return {"categorical": [len(self.categories[c]) + 1 for c in self.schema.categorical],
                "tag_vocab": len(self.tags) + 1, "tag_slots": self.tag_slots, "numeric": len(self.schema.numeric),
                "text_vocab": self.tokenizer.vocab_size if self.tokenizer else 0, "text_len": self.text_len,
                "text_dim": self.text_dim,
                "vector_dim": self.vector_dim, "names": self.token_names}

    # ----------------------------------------------------------------------------- bundle

    def save(self, folder: str | Path, prefix: str) -> None:
        folder = Path(folder)
        payload = {"schema": {k: list(v) if isinstance(v, tuple) else v for k, v in vars(self.schema).items()},
                   "categories": self.categories, "tags": self.tags, "tag_slots": self.tag_slots,
                   "numeric_stats": self.numeric_stats, "vector_dim": self.vector_dim, "text_len": self.text_len,
                   "text_encoder": self.text_encoder, "text_dim": self.text_dim}
        write_text_atomic(folder / f"{prefix}_{self.FILE}", json.dumps(payload, ensure_ascii=False))
        if self.tokenizer is not None:
            self.tokenizer.save(folder / f"{prefix}_tokenizer.json")

    @classmethod
    def load(cls, folder: str | Path, prefix: str) -> FeatureSpace:
        folder = Path(folder)
        p = json.loads((folder / f"{prefix}_{cls.FILE}").read_text(encoding="utf-8"))
        schema = SideSchema(**{k: tuple(v) if isinstance(v, list) else v for k, v in p["schema"].items()})
        encoder = p.get("text_encoder", "wordpiece")
        tokenizer = TextTokenizer.from_file(folder / f"{prefix}_tokenizer.json", p["text_len"]) \
            if schema.text and encoder == "wordpiece" else None
        stats = {k: (float(m), float(s)) for k, (m, s) in p["numeric_stats"].items()}
        return cls(schema, p["categories"], p["tags"], p["tag_slots"], stats, tokenizer, p["vector_dim"], encoder,
                   p.get("text_dim", 0))


def _texts(table: SideTable, rows: np.ndarray | None = None) -> list[str]:
    """Each row's text columns joined into one text."""
    rows = np.arange(len(table)) if rows is None else rows
    return [TEXT_SEP.join(t for name in table.schema.text if (t := table.text[name][r])) for r in rows]
