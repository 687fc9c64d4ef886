"""Audience segments: clustering by representation, attention shares and lifts computed by hand."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import sparse

from attnsight.explain.segments import choose_k, segment_users


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
