"""Leakage-free splits of per-user sequences: leave-one-out and a global temporal split.

A split never copies sequences: each part is (rows, cut), meaning "user row r's first `cut`
events", with the event at position `cut` as the target for evaluation parts.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from attnsight.data.sequences import Sequences
from attnsight.errors import AttnsightError

PROTOCOLS = ("loo", "temporal")


@dataclass
class Part:
    rows: np.ndarray  # (M,) user rows
    cuts: np.ndarray  # (M,) history length; for evaluation parts the target is at index `cut`

    def __len__(self) -> int:
        return len(self.rows)


@dataclass
class Split:
    sequences: Sequences
    train: Part  # training prefixes (only these are seen in training)
    valid: Part  # targets for model selection
    test: Part  # targets read once at the end
    protocol: str

    def histories(self, part: Part) -> list[np.ndarray]:
        return [self.sequences[r][:c] for r, c in zip(part.rows, part.cuts)]

    def targets(self, part: Part) -> np.ndarray:
        return np.array([self.sequences[r][c] for r, c in zip(part.rows, part.cuts)], dtype=np.int64)


def leave_one_out(sequences: Sequences) -> Split:
    """Last event of each user is the test target, second-to-last the validation target.

    Users with fewer than 3 events only contribute to training.
    """
    lengths = sequences.lengths
    rows = np.arange(len(sequences))
    evaluable = rows[lengths >= 3]
    train_cuts = np.where(lengths >= 3, lengths - 2, lengths)
    return Split(
        sequences,
        train=Part(rows, train_cuts),
        valid=Part(evaluable, lengths[evaluable] - 2),
        test=Part(evaluable, lengths[evaluable] - 1),
        protocol="loo",
    )


def temporal_split(sequences: Sequences, valid_fraction: float = 0.1, test_fraction: float = 0.1) -> Split:
    """Two global time cuts t1 < t2 at quantiles of all event times.

    Training sees only events before t1. A user's validation target is their first event in
    [t1, t2) given everything before t1; the test target is their first event at or after t2
    given everything before t2. No event at or after a cut ever feeds a prediction before it.
    """
    if sequences.timestamps is None:
        raise AttnsightError("the temporal split needs timestamps; use --split loo or give --time-col")
    t1, t2 = np.quantile(sequences.timestamps, [1 - valid_fraction - test_fraction, 1 - test_fraction])
    before_t1 = np.array([np.searchsorted(sequences.times(r), t1, "left") for r in range(len(sequences))])
    before_t2 = np.array([np.searchsorted(sequences.times(r), t2, "left") for r in range(len(sequences))])
    lengths = sequences.lengths
    rows = np.arange(len(sequences))
    valid = rows[(before_t1 >= 1) & (before_t2 > before_t1)]
    test = rows[(before_t2 >= 1) & (lengths > before_t2)]
    return Split(
        sequences,
        train=Part(rows[before_t1 >= 2], before_t1[before_t1 >= 2]),
        valid=Part(valid, before_t1[valid]),
        test=Part(test, before_t2[test]),
        protocol="temporal",
    )


def make_split(sequences: Sequences, protocol: str) -> Split:
    if protocol == "loo":
        return leave_one_out(sequences)
    if protocol == "temporal":
        return temporal_split(sequences)
    raise AttnsightError(f"unknown split {protocol!r}; choose one of {', '.join(PROTOCOLS)}")
