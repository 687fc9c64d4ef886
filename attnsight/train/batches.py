"""Shuffled, length-bucketed batches as tensors: left-padded item histories, right-padded token sequences."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import torch
from torch import Tensor

from attnsight.data.sequences import pad_left

Batch = dict[str, Tensor]


def bucketed(lengths: np.ndarray, batch_size: int, rng: np.random.Generator, bucket: int = 50) -> list[np.ndarray]:
    """One epoch's batches of row indices: shuffled, each run of `bucket` batches sorted by length
    (so rows of a batch have similar lengths), then the batches shuffled."""
    order = rng.permutation(len(lengths))
    span = batch_size * bucket
    chunks = [order[i : i + span] for i in range(0, len(order), span)]
    chunks = [c[np.argsort(-lengths[c], kind="stable")] for c in chunks]
    batches = [c[i : i + batch_size] for c in chunks for i in range(0, len(c), batch_size)]
    return [batches[i] for i in rng.permutation(len(batches))]


class SequenceBatcher:
    """Batches over a fixed set of histories.

    With `shift=True` (next-item training) a history h yields input h[:-1] and target h[1:];
    otherwise (cloze) the input is h itself and the objective makes its own targets. Each epoch
    shuffles, then sorts runs of ~50 batches by length and trims every batch to its longest
    row: padding is most of the compute on short-sequence data, and this removes most of it.
    """

    def __init__(
        self, histories: Sequence[np.ndarray], max_len: int, batch_size: int, shift: bool, windows: bool = False,
        owners: np.ndarray | None = None,
    ) -> None:
        """`windows=True` cuts a history longer than max_len into consecutive windows, so every
        event is trained on, not only the last max_len (each target still appears once).
        `owners` (one per history: its user's feature row) go into each batch as "users"."""
        span = max_len + 1 if shift else max_len  # a shifted window of max_len + 1 items has max_len targets
        rows = [(h, o) for h, o in zip(histories, owners if owners is not None else np.zeros(len(histories), int))]
        if windows:
            rows = [(h[max(0, end - span) : end], o) for h, o in rows for end in range(len(h), 0, -max_len)]
        rows = [(h, o) for h, o in rows if len(h) >= (2 if shift else 1)]
        if not rows:
            raise ValueError("no training sequences long enough")
        histories = [h for h, _ in rows]
        self.owners = np.array([o for _, o in rows], dtype=np.int64) if owners is not None else None
        self.batch_size = batch_size
        if shift:
            self.inputs = pad_left([h[:-1] for h in histories], max_len)
            self.targets: np.ndarray | None = pad_left([h[1:] for h in histories], max_len)
        else:
            self.inputs, self.targets = pad_left(histories, max_len), None
        self.lengths = (self.inputs != 0).sum(axis=1)

    def __len__(self) -> int:
        return -(-len(self.inputs) // self.batch_size)

    def epoch(self, rng: np.random.Generator) -> Iterator[Batch]:
        for rows in bucketed(self.lengths, self.batch_size, rng):
            width = max(int(self.lengths[rows].max()), 1)
            batch = {"items": torch.from_numpy(self.inputs[rows, -width:])}
            if self.targets is not None:
                batch["targets"] = torch.from_numpy(self.targets[rows, -width:])
            if self.owners is not None:
                batch["users"] = torch.from_numpy(self.owners[rows])
            yield batch


def pad_right(rows: Sequence[np.ndarray], width: int, value: int = 0) -> np.ndarray:
    out = np.full((len(rows), width), value, dtype=np.int64)
    for i, row in enumerate(rows):
        out[i, : min(len(row), width)] = row[:width]
    return out


def padded_width(longest: int) -> int:
    """`longest` rounded up to a multiple of an eighth of the power of two at or above it (8 at least).

    With every width its own tensor shape, the CPU allocator fragments and resident memory grows
    step after step; eight widths per doubling keep the shapes few (20 up to 512 tokens) while
    padding a batch by under a quarter of its longest row (a fixed step of 32 padded SST-2's
    13-token phrases to 34 tokens on average; this pads them to 17: half the compute)."""
    step = max(8, (1 << max(longest - 1, 1).bit_length()) // 8)
    return -(-max(longest, 1) // step) * step


class TokenBatcher:
    """Batches of right-padded token sequences with their labels (and segment ids for pairs).

    Bucketed like SequenceBatcher, so each batch is padded only to its own longest text.
    """

    def __init__(
        self,
        ids: Sequence[np.ndarray],
        batch_size: int,
        labels: np.ndarray | None = None,
        type_ids: Sequence[np.ndarray] | None = None,
        pad_id: int = 0,
        word_ids: Sequence[np.ndarray] | None = None,
        wide_ids: Sequence[np.ndarray] | None = None,
    ) -> None:
        """`word_ids`: per token, the index of the word it belongs to (-1 for none), for whole-word masking;
        `wide_ids`: each whole text's ids, of which `ids` may be a truncation (what a wide head reads)."""
        if not len(ids):
            raise ValueError("no texts to batch")
        self.ids, self.labels, self.type_ids, self.word_ids = list(ids), labels, type_ids, word_ids
        self.wide_ids = wide_ids
        self.batch_size, self.pad_id = batch_size, pad_id
        self.lengths = np.array([len(row) for row in ids])
        self.max_width = max(int(self.lengths.max()), 1)

    def __len__(self) -> int:
        return -(-len(self.ids) // self.batch_size)

    def epoch(self, rng: np.random.Generator) -> Iterator[Batch]:
        for rows in bucketed(self.lengths, self.batch_size, rng):
            yield self.batch(rows)

    def in_order(self) -> Iterator[tuple[np.ndarray, Batch]]:
        """Every row once, sorted by length for speed; yields (row indices, batch)."""
        order = np.argsort(-self.lengths, kind="stable")
        for i in range(0, len(order), self.batch_size):
            rows = order[i : i + self.batch_size]
            yield rows, self.batch(rows)

    def batch(self, rows: np.ndarray) -> Batch:
        width = min(padded_width(int(self.lengths[rows].max())), self.max_width)
        ids = pad_right([self.ids[r] for r in rows], width, self.pad_id)
        mask = self.lengths[rows, None] > np.arange(width)
        batch = {"input_ids": torch.from_numpy(ids), "attention_mask": torch.from_numpy(mask)}
        if self.type_ids is not None:
            batch["token_type_ids"] = torch.from_numpy(pad_right([self.type_ids[r] for r in rows], width))
        if self.word_ids is not None:
            batch["word_ids"] = torch.from_numpy(pad_right([self.word_ids[r] for r in rows], width, -1))
        if self.wide_ids is not None:  # padded to their own longest: longer than `width` where truncated
            whole = [self.wide_ids[r] for r in rows]
            batch["wide_ids"] = torch.from_numpy(pad_right(whole, padded_width(max(map(len, whole))), self.pad_id))
        if self.labels is not None:
            batch["labels"] = torch.from_numpy(self.labels[rows])
        return batch


class EventBatcher:
    """Batches of events with their histories, gathered on the fly from whole-table arrays.

    Each example is the event itself (token 0) followed by its history rows (-1: none). What a
    past event shows of its label depends on the current event's time: only labels at least
    `label_delay` seconds old are known, so no batch leaks a label the scorer could not have had.
    """

    def __init__(
        self,
        numeric: np.ndarray,
        categorical: np.ndarray,
        time: np.ndarray,
        rows: np.ndarray,
        history: np.ndarray,
        sources: np.ndarray,
        batch_size: int,
        labels: np.ndarray | None = None,
        label_delay: int = 0,
    ) -> None:
        """numeric (N, F) float32 and categorical (N, C) int64 of every event; rows (M,): the events
        to score; history (M, H): their history rows; sources (H,): 1 account, 2 entity."""
        self.numeric, self.categorical = torch.from_numpy(numeric), torch.from_numpy(categorical)
        self.time = torch.from_numpy(time)
        self.labels = None if labels is None else torch.from_numpy(labels.astype(np.int64))
        self.rows, self.history = rows, history
        self.source = torch.from_numpy(np.concatenate([[0], sources]).astype(np.int64))
        self.batch_size, self.label_delay = batch_size, label_delay

    def __len__(self) -> int:
        return -(-len(self.rows) // self.batch_size)

    def epoch(self, rng: np.random.Generator) -> Iterator[Batch]:
        order = rng.permutation(len(self.rows))
        for i in range(0, len(order), self.batch_size):
            yield self.batch(order[i : i + self.batch_size])

    def in_order(self) -> Iterator[tuple[np.ndarray, Batch]]:
        for i in range(0, len(self.rows), self.batch_size):
            positions = np.arange(i, min(i + self.batch_size, len(self.rows)))
            yield positions, self.batch(positions)

    def batch(self, positions: np.ndarray) -> Batch:
        """The examples at these positions of `rows`."""
        index = torch.from_numpy(np.concatenate([self.rows[positions, None], self.history[positions]], axis=1))
        valid = index >= 0
        index = index.clamp(min=0)
        delta = self.time[index[:, :1]] - self.time[index]
        batch = {
            "numeric": self.numeric[index],
            "categorical": self.categorical[index],
            "delta": delta,
            "source": self.source.expand(len(positions), -1),
            "valid": valid,
        }
        known = torch.zeros_like(index)
        if self.labels is not None:
            visible = valid & (delta >= self.label_delay)
            visible[:, 0] = False  # the current event's own label is what is predicted
            known = torch.where(visible, self.labels[index] + 1, known)
            batch["target"] = self.labels[index[:, 0]].float()
        batch["known"] = known
        return batch
