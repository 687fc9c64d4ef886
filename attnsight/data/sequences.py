"""Per-user item sequences in time order, stored compactly (CSR: offsets + one item array)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl
from safetensors.numpy import load_file, save_file

from attnsight.data.readers import Interactions
from attnsight.data.vocab import Vocabulary
from attnsight.files import write_atomic


@dataclass
class Sequences:
    """Row u holds user `users[u]`'s item indices items[offsets[u]:offsets[u + 1]], oldest first."""

    users: list[str]
    offsets: np.ndarray  # (U + 1,) int64
    items: np.ndarray  # (N,) int64 item indices (1-based, see Vocabulary)
    timestamps: np.ndarray | None = None  # (N,) int64, aligned with items

    def __len__(self) -> int:
        return len(self.users)

    def __getitem__(self, row: int) -> np.ndarray:
        return self.items[self.offsets[row] : self.offsets[row + 1]]

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)

    def times(self, row: int) -> np.ndarray:
        if self.timestamps is None:
            raise ValueError("these sequences have no timestamps")
        return self.timestamps[self.offsets[row] : self.offsets[row + 1]]

    def save(self, path: str | Path) -> None:
        tensors = {"offsets": self.offsets, "items": self.items}
        if self.timestamps is not None:
            tensors["timestamps"] = self.timestamps
        write_atomic(path, lambda tmp: save_file(tensors, str(tmp)))

    @classmethod
    def load(cls, path: str | Path, users: list[str]) -> Sequences:
        t = load_file(str(path))
        return cls(users, t["offsets"], t["items"], t.get("timestamps"))


def build_sequences(
    interactions: Interactions, item_vocab: Vocabulary | None = None
) -> tuple[Sequences, Vocabulary]:
    """Group events by user (users in order of first appearance), each sorted by time.

    Without timestamps the file order is the time order. A given item vocabulary is kept (items
    outside it are dropped); otherwise one is built with items in order of first appearance.
    A scanned log (integer codes, see `scan_interactions`) comes out with its raw ids.
    """
    coded = interactions.item_ids is not None
    if coded and item_vocab is not None:
        raise ValueError("a given item vocabulary needs a log of raw ids, not a scanned one")
    if item_vocab is None:
        item_vocab = Vocabulary(interactions.frame["item"].unique(maintain_order=True).to_list())
    dtype = interactions.frame.schema["item"]
    mapping = pl.LazyFrame({
        "item": pl.Series(item_vocab.ids, dtype=dtype),
        "_index": np.arange(1, len(item_vocab) + 1, dtype=np.int64),
    })
    # one lazy query, so that only the columns kept are materialised (memory for large logs)
    rows = interactions.frame.lazy().with_row_index("_row").join(mapping, on="item", how="inner")
    first_seen = rows.group_by("user").agg(pl.col("_row").min().alias("_first"))
    order = ["_first", "timestamp", "_row"] if interactions.has_timestamp else ["_first", "_row"]
    kept = ["user", "_index", "timestamp"] if interactions.has_timestamp else ["user", "_index"]
    frame = rows.join(first_seen, on="user").sort(order).select(kept).collect()
    users_col = frame["user"]
    boundaries = np.flatnonzero(users_col.ne(users_col.shift(1)).fill_null(True).to_numpy())
    offsets = np.append(boundaries, frame.height).astype(np.int64)
    users = users_col.gather(boundaries).to_list()
    timestamps = frame["timestamp"].to_numpy().astype(np.int64) if interactions.has_timestamp else None
    if coded:
        users = [interactions.user_ids[c] for c in users]
        item_vocab = Vocabulary(interactions.item_ids[c] for c in item_vocab.ids)
    return Sequences(users, offsets, frame["_index"].to_numpy().astype(np.int64), timestamps), item_vocab


def pad_left(rows: Sequence[np.ndarray], length: int) -> np.ndarray:
    """Stack the last `length` entries of each row, left-padded with 0, into (len(rows), length)."""
    out = np.zeros((len(rows), length), dtype=np.int64)
    for i, row in enumerate(rows):
        tail = row[-length:] if length else row[:0]
        if len(tail):
            out[i, length - len(tail) :] = tail
    return out
