"""Audience segments: clustering by representation, attention shares and lifts computed by hand."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import sparse

from attnsight.explain.segments import bound_labels, choose_k, segment_trends, segment_users, time_windows
from attnsight.errors import ConfigError


def _audience():
    """Six users in two obvious groups (vectors near (1, 0) or (0, 1)); items a, b, c, d with
    categories x, x, y, y. Group A (users 0-2) attends to a and b, group B (users 3-5) to c, except
    user 5, who gives half of its attention to a."""
    vectors = np.array([[1, 0.05], [1, -0.05], [0.98, 0], [0.05, 1], [-0.05, 1], [0, 0.97]])
    rows = [[0.5, 0.5, 0, 0], [1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 1, 0], [0.5, 0, 0.5, 0]]
    attention = sparse.csr_matrix(np.array(rows))
    return vectors, attention, [f"u{i}" for i in range(6)], ["a", "b", "c", "d"], ["x", "x", "y", "y"]


def test_two_groups_with_their_attention_and_lift() -> None:
    vectors, attention, users, items, categories = _audience()
    result = segment_users(vectors, attention, users, items, categories, k=2, top=4)
    assert result.k == 2 and result.silhouette > 0.9
    first, second = result.segments  # equal sizes: the order is k-means' own, so find group A
    group_a = first if "u0" in first.examples else second
    group_b = second if group_a is first else first
    assert sorted(group_a.examples) == ["u0", "u1", "u2"] and group_a.users == 3 and group_a.share == 0.5
    # by hand: A's attention a = (0.5 + 1 + 0) / 3 = 0.5; all users' a = (0.5 + 1 + 0.5) / 6 = 1/3
    a = {x.name: x for x in group_a.items}
    assert a["a"].attention == pytest.approx(0.5) and a["a"].lift == pytest.approx(1.5)
    assert a["b"].attention == pytest.approx(0.5) and a["b"].lift == pytest.approx(0.5 / (1.5 / 6))
    assert "c" not in a and "d" not in a  # nobody in A attends to them
    b = {x.name: x for x in group_b.items}
    assert b["c"].attention == pytest.approx(2.5 / 3) and b["c"].lift == pytest.approx((2.5 / 3) / (2.5 / 6))
    # categories: B gives y 2.5/3 of its attention, all users give y 2.5/6
    cats = {x.name: x for x in group_b.categories}
    assert cats["y"].attention == pytest.approx(2.5 / 3) and cats["y"].lift == pytest.approx(2.0)
    assert cats["x"].lift == pytest.approx((0.5 / 3) / (3.5 / 6))
    assert group_b.distinctive[0].name == "c"  # highest lift among items it attends to
    assert result.labels == [group_a.segment] * 3 + [group_b.segment] * 3  # each user's segment, in order


def test_k_by_silhouette_finds_the_planted_clusters() -> None:
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(4, 8)) * 5
    vectors = np.concatenate([c + rng.normal(size=(30, 8)) for c in centres])
    k, scores = choose_k(vectors, ks=range(2, 8))
    assert k == 4 and scores[4] == max(scores.values()) and set(scores) == set(range(2, 8))


def test_bad_k() -> None:
    vectors, attention, users, items, categories = _audience()
    with pytest.raises(ValueError, match="between 1 and the number of users"):
        segment_users(vectors, attention, users, items, categories, k=7)
    one = segment_users(vectors, attention, users, items, None, k=1)
    assert one.segments[0].users == 6 and one.segments[0].categories == []
    assert all(x.lift == pytest.approx(1.0) for x in one.segments[0].items)  # the segment is the audience


def test_trends_shares_per_window_by_hand() -> None:
    """Items a, b (category x) and c (y); windows w1, w2. Segment 1: u0 attends to a, then half a, half c;
    u1 half a, half c, then c. Segment 2: u2 attends to c, then half b, half c; u3 has no events in w1,
    then attends to b. Segment 3: u4 appears in w2 only, attending to a."""
    w1 = sparse.csr_matrix(np.array([[1, 0, 0], [0.5, 0, 0.5], [0, 0, 1]]))  # u0, u1, u2
    w2 = sparse.csr_matrix(np.array([[0.5, 0, 0.5], [0, 0, 1], [0, 0.5, 0.5], [0, 1, 0], [1, 0, 0]]))  # u0-u4
    labels = [np.array([1, 1, 2]), np.array([1, 1, 2, 2, 3])]
    result = segment_trends([w1, w2], labels, ["t0", "t1", "t2"], ["a", "b", "c"], ["x", "x", "y"], top=2)
    assert result.by == "category"
    assert [(w.start, w.end, w.users) for w in result.windows] == [("t0", "t1", 3), ("t1", "t2", 5)]
    one, two, three = result.segments
    # segment 1, w1: x = (1 + 0.5) / 2 = 0.75, y = 0.25; w2: x = 0.5 / 2 = 0.25, y = (0.5 + 1) / 2 = 0.75
    assert one.users == [2, 2]
    assert one.shares == {"x": [pytest.approx(0.75), pytest.approx(0.25)],
                          "y": [pytest.approx(0.25), pytest.approx(0.75)]}
    assert (one.riser.name, one.riser.change) == ("y", pytest.approx(0.5))
    assert (one.faller.name, one.faller.start, one.faller.end) == ("x", pytest.approx(0.75), pytest.approx(0.25))
    # segment 2, w1 (u2 only): x 0, y 1; w2: x = (0.5 + 1) / 2 = 0.75, y = 0.5 / 2 = 0.25
    assert two.users == [1, 2]
    assert two.shares["x"] == [pytest.approx(0.0), pytest.approx(0.75)] and two.shares["y"][1] == pytest.approx(0.25)
    assert (two.riser.name, two.riser.change, two.faller.name) == ("x", pytest.approx(0.75), "y")
    # segment 3 has no members in w1 (None) and a single window to compare: no riser, no faller
    assert three.users == [0, 1] and three.shares == {"x": [None, pytest.approx(1.0)]}  # y gets nothing
    assert three.riser is None and three.faller is None


def test_trends_over_items_without_categories() -> None:
    w1 = sparse.csr_matrix(np.array([[1.0, 0, 0], [0, 1.0, 0]]))
    w2 = sparse.csr_matrix(np.array([[0, 0, 1.0], [0, 1.0, 0]]))
    result = segment_trends([w1, w2], [np.array([1, 1])] * 2, ["0", "1", "2"], ["a", "b", "c"], top=5)
    [segment] = result.segments
    # a: 0.5 → 0, b: 0.5 → 0.5, c: 0 → 0.5; ordered by mean share (b 0.5, then a and c 0.25 each)
    assert result.by == "item" and list(segment.shares) == ["b", "a", "c"]
    assert (segment.riser.name, segment.faller.name) == ("c", "a")
    with pytest.raises(ValueError, match="for 1 windows"):
        segment_trends([w1, w2], [np.array([1, 1])] * 2, ["0", "1"], ["a", "b", "c"])
    # a segment none of whose users was read (a sample of a large audience) is still reported, empty
    first, absent = segment_trends([w1, w2], [np.array([1, 1])] * 2, ["0", "1", "2"], ["a", "b", "c"],
                                   segments=[1, 2]).segments
    assert first.users == [2, 2] and (absent.segment, absent.users, absent.shares) == (2, [0, 0], {})
    assert absent.riser is None and absent.faller is None


def test_time_windows_hold_equal_event_counts() -> None:
    times = np.array([5, 1, 2, 3, 4, 6, 7, 8])
    # quartiles of 8 events, actual event times: 2 events per window
    assert time_windows(times, 4).tolist() == [1, 2, 4, 6, 8]
    assert time_windows(times, 1).tolist() == [1, 8]
    with pytest.raises(ValueError, match="at least 1"):
        time_windows(times, 0)


def test_bound_labels() -> None:
    # 1735689600 is 2025-01-01 00:00 UTC; a day later, 2025-01-02
    assert bound_labels(np.array([1735689600, 1735776000]), "time") == ["2025-01-01", "2025-01-02"]
    assert bound_labels(np.array([1735689600, 1735693200]), "time") == ["2025-01-01 00:00", "2025-01-01 01:00"]
    assert bound_labels(np.array([3, 70]), "time") == ["3", "70"]  # ordinals, not epoch seconds
    assert bound_labels(np.array([0.2, 0.5, 1.0]), "position") == ["20% of history", "50% of history",
                                                                   "100% of history"]


def test_time_windows_beyond_the_distinct_times_are_refused() -> None:
    times = np.array([1, 1, 2, 2, 3])
    assert time_windows(times, 3).tolist() == [1, 1, 2, 3]
    with pytest.raises(ConfigError, match="4 windows of equal event counts cannot be cut: .*at most 3 windows$"):
        time_windows(times, 4)  # windows would repeat others, each costing a pass over the users
    # five distinct times, but the last five events share one: a third window would end where the second does
    tied = np.array([1, 2, 3, 4, 5, 5, 5, 5, 5])
    assert time_windows(tied, 1).tolist() == [1, 5]
    with pytest.raises(ConfigError, match="3 windows of equal event counts cannot be cut: too many events share a "
                                          "time for some boundaries to differ; ask for at most 1 windows$"):
        time_windows(tied, 3)
