"""Shuffled, length-bucketed batches of left-padded sequences, as tensors."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import torch
from torch import Tensor

from attnsight.data.sequences import pad_left

Batch = dict[str, Tensor]


class SequenceBatcher:
    """Batches over a fixed set of histories.

    With `shift=True` (next-item training) a history h yields input h[:-1] and target h[1:];
    otherwise (cloze) the input is h itself and the objective makes its own targets. Each epoch
    shuffles, then sorts runs of ~50 batches by length and trims every batch to its longest
    row: padding is most of the compute on short-sequence data, and this removes most of it.
    """

    BUCKET = 50

    def __init__(
        self, histories: Sequence[np.ndarray], max_len: int, batch_size: int, shift: bool, windows: bool = False
    ) -> None:
        """`windows=True` cuts a history longer than max_len into consecutive windows, so every
        event is trained on, not only the last max_len (each target still appears once)."""
        span = max_len + 1 if shift else max_len  # a shifted window of max_len + 1 items has max_len targets
        if windows:
            histories = [h[max(0, end - span) : end] for h in histories for end in range(len(h), 0, -max_len)]
        histories = [h for h in histories if len(h) >= (2 if shift else 1)]
        if not histories:
            raise ValueError("no training sequences long enough")
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
        order = rng.permutation(len(self.inputs))
        span = self.batch_size * self.BUCKET
        chunks = [order[i : i + span] for i in range(0, len(order), span)]
        chunks = [c[np.argsort(-self.lengths[c], kind="stable")] for c in chunks]
        batches = [c[i : i + self.batch_size] for c in chunks for i in range(0, len(c), self.batch_size)]
        for index in rng.permutation(len(batches)):
            rows = batches[index]
            width = max(int(self.lengths[rows].max()), 1)
            batch = {"items": torch.from_numpy(self.inputs[rows, -width:])}
            if self.targets is not None:
                batch["targets"] = torch.from_numpy(self.targets[rows, -width:])
            yield batch
