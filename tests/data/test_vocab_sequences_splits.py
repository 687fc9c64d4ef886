"""Vocabulary, per-user sequences (CSR), padding, and leakage-free splits."""

from __future__ import annotations

import numpy as np
import pytest

from attnsight.data.readers import Interactions
from attnsight.data.sequences import Sequences, build_sequences, pad_left
from attnsight.data.splits import PROTOCOLS, leave_one_out, make_split, temporal_split
from attnsight.data.vocab import Vocabulary
from attnsight.errors import AttnsightError

# ----------------------------------------------------------------------------- vocabulary


def test_vocabulary_indices():
    vocab = Vocabulary(["b", "007", "a"])
    assert len(vocab) == 3
    assert [vocab.index(x) for x in ["b", "007", "a"]] == [1, 2, 3]
    assert vocab.mask_index == 4
    assert vocab.index("zzz") is None and vocab.index("7") is None
    assert "007" in vocab and "7" not in vocab


def test_vocabulary_encode_decode():
    vocab = Vocabulary(["b", "007", "a"])
    encoded = vocab.encode(["a", "unknown", "b", "007"])
    assert encoded.dtype == np.int64
    assert encoded.tolist() == [3, 0, 1, 2]
    assert vocab.decode([3, 1, 2]) == ["a", "b", "007"]
    assert vocab.encode([]).tolist() == []


def test_vocabulary_rejects_duplicates():
    with pytest.raises(ValueError):
        Vocabulary(["a", "b", "a"])


def test_vocabulary_save_load(tmp_path):
    vocab = Vocabulary(["b", "007", "café", "a b"])
    vocab.save(tmp_path / "items.json")
    loaded = Vocabulary.load(tmp_path / "items.json")
    assert loaded.ids == ["b", "007", "café", "a b"]
    assert loaded.index("café") == 3 and loaded.mask_index == 5


# ----------------------------------------------------------------------------- sequences


def test_build_sequences_orders_users_and_items():
    data = Interactions.from_records(
        users=["u2", "u1", "u2", "u1", "u2", "u3"],
        items=["c", "a", "b", "b", "a", "c"],
        timestamps=[30, 5, 10, 5, 20, 1],
    )
    seqs, vocab = build_sequences(data)
    assert seqs.users == ["u2", "u1", "u3"]  # order of first appearance, not of time or name
    assert vocab.ids == ["c", "a", "b"]  # order of first appearance in the file
    assert seqs.offsets.tolist() == [0, 3, 5, 6] and seqs.offsets.dtype == np.int64
    assert seqs.lengths.tolist() == [3, 2, 1]
    # u2 sorted by time: b(10) a(20) c(30); u1 tie at 5: file order a then b
    assert vocab.decode(seqs[0].tolist()) == ["b", "a", "c"]
    assert vocab.decode(seqs[1].tolist()) == ["a", "b"]
    assert vocab.decode(seqs[2].tolist()) == ["c"]
    assert seqs.times(0).tolist() == [10, 20, 30]
    assert seqs.times(1).tolist() == [5, 5]
    assert seqs.items.dtype == np.int64 and seqs.timestamps.dtype == np.int64


def test_build_sequences_without_timestamps_keeps_file_order():
    data = Interactions.from_records(["u", "v", "u", "u", "v"], ["z", "y", "x", "z", "w"])
    seqs, vocab = build_sequences(data)
    assert seqs.users == ["u", "v"]
    assert vocab.decode(seqs[0].tolist()) == ["z", "x", "z"]
    assert vocab.decode(seqs[1].tolist()) == ["y", "w"]
    assert seqs.timestamps is None
    with pytest.raises(ValueError):
        seqs.times(0)


def test_build_sequences_with_given_vocabulary_drops_unknown_items():
    data = Interactions.from_records(["u", "u", "u", "v"], ["a", "new", "b", "new"])
    seqs, vocab = build_sequences(data, Vocabulary(["b", "a"]))
    assert vocab.ids == ["b", "a"]
    assert seqs.users == ["u"]  # v had only an unknown item
    assert seqs[0].tolist() == [2, 1]


def test_sequences_save_load_round_trip(tmp_path):
    data = Interactions.from_records(["u", "u", "v"], ["a", "b", "a"], timestamps=[2, 1, 3])
    seqs, _ = build_sequences(data)
    seqs.save(tmp_path / "h.safetensors")
    loaded = Sequences.load(tmp_path / "h.safetensors", seqs.users)
    assert loaded.users == ["u", "v"]
    np.testing.assert_array_equal(loaded.offsets, seqs.offsets)
    np.testing.assert_array_equal(loaded.items, seqs.items)
    np.testing.assert_array_equal(loaded.timestamps, [1, 2, 3])
    assert loaded[0].tolist() == [2, 1]


def test_sequences_save_load_without_timestamps(tmp_path):
    seqs, _ = build_sequences(Interactions.from_records(["u", "u"], ["a", "b"]))
    seqs.save(tmp_path / "h.safetensors")
    loaded = Sequences.load(tmp_path / "h.safetensors", ["u"])
    assert loaded.timestamps is None and loaded[0].tolist() == [1, 2]


def test_pad_left():
    rows = [np.array([1, 2, 3, 4, 5]), np.array([7]), np.array([], dtype=np.int64)]
    out = pad_left(rows, 3)
    assert out.dtype == np.int64
    assert out.tolist() == [[3, 4, 5], [0, 0, 7], [0, 0, 0]]
    assert pad_left(rows, 0).shape == (3, 0)
    assert pad_left([], 4).shape == (0, 4)


# ----------------------------------------------------------------------------- leave-one-out


def sequences_of(*rows: list[str], timestamps: list[list[int]] | None = None) -> tuple[Sequences, Vocabulary]:
    users, items, times = [], [], []
    for u, row in enumerate(rows):
        users += [f"u{u}"] * len(row)
        items += row
        if timestamps is not None:
            times += timestamps[u]
    return build_sequences(Interactions.from_records(users, items, times if timestamps is not None else None))


def test_leave_one_out():
    seqs, vocab = sequences_of(["a", "b", "c", "d"], ["e", "f"], ["g", "h", "i"], ["j"])
    split = leave_one_out(seqs)
    assert split.protocol == "loo"
    assert split.train.rows.tolist() == [0, 1, 2, 3]
    assert split.train.cuts.tolist() == [2, 2, 1, 1]  # len - 2 when evaluable, else the whole sequence
    assert split.valid.rows.tolist() == [0, 2] and split.test.rows.tolist() == [0, 2]
    assert split.valid.cuts.tolist() == [2, 1] and split.test.cuts.tolist() == [3, 2]
    assert vocab.decode(split.targets(split.valid)) == ["c", "h"]  # second-to-last
    assert vocab.decode(split.targets(split.test)) == ["d", "i"]  # last
    test_histories = [vocab.decode(h) for h in split.histories(split.test)]
    assert test_histories == [["a", "b", "c"], ["g", "h"]]  # include the validation item
    assert [vocab.decode(h) for h in split.histories(split.train)] == [["a", "b"], ["e", "f"], ["g"], ["j"]]
    assert len(split.valid) == 2


# ----------------------------------------------------------------------------- temporal


def test_temporal_split_never_leaks():
    # 20 distinct times 1..20: t1 = quantile 0.8 = 16.2, t2 = quantile 0.9 = 18.1
    times = [[1, 2, 3, 4], [5, 6, 7, 8, 9, 10, 11], [13, 14, 15, 16, 17, 18, 20], [12, 19]]
    rows = [[f"e{t}" for t in row] for row in times]
    seqs, vocab = sequences_of(*rows, timestamps=times)
    split = temporal_split(seqs)
    t1, t2 = 16.2, 18.1
    assert split.protocol == "temporal"
    # user 3 has a single event before t1: not enough to train on
    assert split.train.rows.tolist() == [0, 1, 2] and split.train.cuts.tolist() == [4, 7, 4]
    assert split.valid.rows.tolist() == [2] and split.valid.cuts.tolist() == [4]
    assert split.test.rows.tolist() == [2, 3] and split.test.cuts.tolist() == [6, 1]
    assert vocab.decode(split.targets(split.valid)) == ["e17"]  # first event in [t1, t2)
    assert vocab.decode(split.targets(split.test)) == ["e20", "e19"]  # first event at or after t2
    for part, cut in ((split.train, t1), (split.valid, t1), (split.test, t2)):
        for r, c in zip(part.rows, part.cuts):
            assert (seqs.times(r)[:c] < cut).all()  # no history event at or after the cut
            if part is not split.train:
                assert seqs.times(r)[c] >= cut
    assert [vocab.decode(h) for h in split.histories(split.test)] == [
        ["e13", "e14", "e15", "e16", "e17", "e18"], ["e12"]]


def test_temporal_split_needs_timestamps():
    seqs, _ = sequences_of(["a", "b", "c"])
    with pytest.raises(AttnsightError, match="timestamps"):
        temporal_split(seqs)
    with pytest.raises(AttnsightError):
        make_split(seqs, "temporal")


def test_make_split():
    seqs, _ = sequences_of(["a", "b", "c"], ["d", "e", "f"])
    assert PROTOCOLS == ("loo", "temporal")
    assert make_split(seqs, "loo").test.cuts.tolist() == [2, 2]
    with pytest.raises(AttnsightError, match="unknown split 'random'"):
        make_split(seqs, "random")
