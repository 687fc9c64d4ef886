"""clean_interactions: rating threshold, de-duplication, k-core to a fixed point; report counts by hand."""

from __future__ import annotations

import pytest

from attnsight.data.cleaning import CleaningConfig, CleaningReport, clean_interactions
from attnsight.data.readers import Interactions
from attnsight.errors import DataError


def config(**overrides) -> CleaningConfig:
    # no filtering unless a test asks for it (the defaults require 3 events per user)
    base = {"min_rating": None, "dedupe": True, "min_user_events": 1, "min_item_events": 1, "min_seq_len": 1}
    return CleaningConfig(**{**base, **overrides})


def triples(interactions: Interactions) -> list[tuple]:
    return list(interactions.frame.iter_rows())


def test_defaults():
    c = CleaningConfig()
    assert (c.min_rating, c.dedupe, c.min_user_events, c.min_item_events, c.min_seq_len) == (None, True, 1, 1, 3)


def test_min_rating_threshold_is_inclusive():
    data = Interactions.from_records(["u", "u", "u", "u", "v"], ["a", "b", "c", "d", "a"], ratings=[5, 3, 4, 1, 4.5])
    out, report = clean_interactions(data, config(min_rating=4))
    assert triples(out) == [("u", "a", 5.0), ("u", "c", 4.0), ("v", "a", 4.5)]
    assert report == CleaningReport(rows_in=5, below_min_rating=2, duplicates=0, kcore_rounds=1,
                                    dropped_by_user_filter=0, dropped_by_item_filter=0,
                                    rows_out=3, users_out=2, items_out=2)


def test_min_rating_without_rating_column():
    data = Interactions.from_records(["u"], ["a"])
    data.source = "log.csv"
    with pytest.raises(DataError) as info:
        clean_interactions(data, config(min_rating=3))
    assert "log.csv" in str(info.value) and "rating" in str(info.value)


def test_duplicates_with_timestamps_match_user_item_and_time():
    data = Interactions.from_records(
        ["u", "u", "u", "v", "u", "v"],
        ["a", "a", "a", "a", "b", "a"],
        timestamps=[1, 1, 2, 1, 3, 1],
    )
    out, report = clean_interactions(data, config())
    # (u, a, 1) twice and (v, a, 1) twice: the first of each is kept; (u, a, 2) is another event
    assert triples(out) == [("u", "a", 1), ("u", "a", 2), ("v", "a", 1), ("u", "b", 3)]
    assert report.duplicates == 2
    assert (report.rows_in, report.rows_out, report.users_out, report.items_out) == (6, 4, 2, 2)


def test_duplicates_without_timestamps_are_consecutive_repeats_per_user():
    users = ["u", "u", "v", "u", "u", "u", "v", "v"]
    items = ["a", "a", "a", "a", "b", "a", "b", "a"]
    out, report = clean_interactions(Interactions.from_records(users, items), config())
    # u: a a a b a -> a b a (two consecutive repeats, interleaved v events do not break a run);
    # v: a b a -> kept whole (the repeat of a is not consecutive)
    assert triples(out) == [("u", "a"), ("v", "a"), ("u", "b"), ("u", "a"), ("v", "b"), ("v", "a")]
    assert report.duplicates == 2
    assert report.rows_out == 6


def test_dedupe_off_keeps_repeats():
    data = Interactions.from_records(["u", "u", "u"], ["a", "a", "a"], timestamps=[1, 1, 1])
    out, report = clean_interactions(data, config(dedupe=False))
    assert len(out) == 3 and report.duplicates == 0


def test_kcore_runs_to_a_fixed_point():
    # u1: a b, u2: b c, u3: c x, u4: b c.  Items a and x are seen once.
    users = ["u1", "u1", "u2", "u2", "u3", "u3", "u4", "u4"]
    items = ["a", "b", "b", "c", "c", "x", "b", "c"]
    out, report = clean_interactions(Interactions.from_records(users, items), config(min_user_events=2, min_item_events=2))
    # round 1: every user has 2 events; items a and x go (2 rows) -> u1 and u3 are left with one event each
    # round 2: u1 (b) and u3 (c) go (2 rows); b and c keep 2 events each
    # round 3: nothing changes
    assert triples(out) == [("u2", "b"), ("u2", "c"), ("u4", "b"), ("u4", "c")]
    assert report == CleaningReport(rows_in=8, below_min_rating=0, duplicates=0, kcore_rounds=3,
                                    dropped_by_user_filter=2, dropped_by_item_filter=2,
                                    rows_out=4, users_out=2, items_out=2)


def test_min_seq_len_drops_short_users():
    users = ["u", "u", "u", "v", "v", "w"]
    items = ["a", "b", "c", "a", "b", "a"]
    out, report = clean_interactions(Interactions.from_records(users, items), config(min_seq_len=3))
    assert triples(out) == [("u", "a"), ("u", "b"), ("u", "c")]
    assert (report.dropped_by_user_filter, report.dropped_by_item_filter, report.kcore_rounds) == (3, 0, 2)
    assert (report.rows_out, report.users_out, report.items_out) == (3, 1, 3)


def test_min_seq_len_and_min_user_events_take_the_larger():
    users = ["u", "u", "u", "u", "v", "v", "v"]
    items = ["a", "b", "c", "d", "a", "b", "c"]
    out, report = clean_interactions(Interactions.from_records(users, items), config(min_seq_len=3, min_user_events=4))
    assert out.frame["user"].unique().to_list() == ["u"] and report.dropped_by_user_filter == 3


def test_everything_filtered_raises():
    data = Interactions.from_records(["u", "v"], ["a", "b"])
    data.source = "tiny.csv"
    with pytest.raises(DataError) as info:
        clean_interactions(data, config(min_seq_len=3))
    assert "tiny.csv" in str(info.value) and "no events left" in str(info.value)
    # the thresholds at work are named with their values: here --min-len, the others at 1
    assert "lower --min-len (3), --min-user-events (1) or --min-item-events (1)" in str(info.value)


def test_cascade_to_nothing_raises():
    users = ["u1", "u1", "u2", "u2", "u3", "u3"]
    items = ["a", "b", "b", "c", "c", "x"]
    with pytest.raises(DataError):
        clean_interactions(Interactions.from_records(users, items), config(min_user_events=2, min_item_events=2))


def test_everything_combined_keeps_file_order_and_columns():
    data = Interactions.from_records(
        ["u", "u", "u", "u", "u", "v", "v"],
        ["a", "a", "b", "c", "d", "a", "b"],
        timestamps=[5, 5, 4, 3, 2, 1, 1],
        ratings=[5, 5, 4, 2, 5, 5, 5],
    )
    out, report = clean_interactions(data, config(min_rating=3, min_seq_len=3))
    # c (rating 2) goes, the second (u, a, 5) is a duplicate, v has 2 events < 3
    assert triples(out) == [("u", "a", 5, 5.0), ("u", "b", 4, 4.0), ("u", "d", 2, 5.0)]
    assert out.frame.columns == ["user", "item", "timestamp", "rating"]
    assert report.as_dict() == {"rows_in": 7, "below_min_rating": 1, "duplicates": 1, "kcore_rounds": 2,
                                "dropped_by_user_filter": 2, "dropped_by_item_filter": 0,
                                "rows_out": 3, "users_out": 1, "items_out": 3}


def test_input_is_not_modified():
    data = Interactions.from_records(["u", "u", "v"], ["a", "a", "b"])
    clean_interactions(data, config())
    assert len(data) == 3 and data.frame.columns == ["user", "item"]
