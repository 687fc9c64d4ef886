"""Item influence: source → target attention, shares, lifts and ranking computed by hand."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import sparse

from attnsight.explain.influence import item_influence

ITEMS = ["a", "b", "c", "d"]


def _three_users():
    """u0 read a, b (attention 0.8, 0.2) and got c, d; u1 read a, c (0.5, 0.5) and got b, d; u2 read b
    (1.0) and got c only (-1: the catalogue ran out).

    By hand, influence = Σ over users of attention(source) for each recommended target:
      a→c 0.8 (u0), a→d 0.8 + 0.5 = 1.3 (u0, u1), a→b 0.5 (u1), b→c 0.2 + 1.0 = 1.2 (u0, u2),
      b→d 0.2 (u0), c→b 0.5 (u1), c→d 0.5 (u1); 5.0 in all (5 recommendations).
    Per source: a 2.6, b 1.4, c 1.0. Per target: b 1.0, c 2.0, d 2.0.
    Expected under independence = source · target / 5, excess = influence - expected:
      a→c 0.8 - 1.04 = -0.24, a→d 1.3 - 1.04 = 0.26, a→b 0.5 - 0.52 = -0.02,
      b→c 1.2 - 0.56 = 0.64, b→d 0.2 - 0.56 = -0.36, c→b 0.5 - 0.2 = 0.3, c→d 0.5 - 0.4 = 0.1.
    """
    attention = sparse.csr_matrix(np.array([[0.8, 0.2, 0, 0], [0.5, 0, 0.5, 0], [0, 1.0, 0, 0]]))
    recommended = np.array([[2, 3], [1, 3], [2, -1]])
    return attention, recommended


def test_pairs_ranked_by_attention_beyond_popularity() -> None:
    result = item_influence(*_three_users(), ITEMS, top=10, min_count=1)
    assert result.users == 3 and result.recommendations == 5
    # only the pairs with positive excess, largest first: b→c 0.64, c→b 0.3, a→d 0.26, c→d 0.1
    assert [(p.source, p.target) for p in result.pairs] == [("b", "c"), ("c", "b"), ("a", "d"), ("c", "d")]
    bc, cb, ad, cd = result.pairs
    # b→c: 2 recommendations (u0, u2), attention 1.2, mean 0.6; share of c's 2.0 = 0.6;
    # b's share of all 5.0 is 1.4 / 5 = 0.28, so lift 0.6 / 0.28
    assert (bc.count, bc.attention, bc.mean) == (2, pytest.approx(1.2), pytest.approx(0.6))
    assert bc.share == pytest.approx(0.6) and bc.lift == pytest.approx(0.6 / 0.28)
    # c→b: u1 only; share 0.5 / 1.0 of b's attention, c's share of all 1.0 / 5 = 0.2: lift 2.5
    assert (cb.count, cb.share, cb.lift) == (1, pytest.approx(0.5), pytest.approx(2.5))
    # a→d: u0 and u1, 1.3 of d's 2.0 = 0.65, a's share of all 2.6 / 5 = 0.52: lift 1.25
    assert (ad.count, ad.mean, ad.share, ad.lift) == (2, pytest.approx(0.65), pytest.approx(0.65), pytest.approx(1.25))
    assert cd.lift == pytest.approx((0.5 / 2.0) / 0.2)  # 1.25
    # a is the most attended item, yet it drives c less than its popularity predicts (lift 0.4 / 0.52)
    assert ("a", "c") not in {(p.source, p.target) for p in result.pairs}


def test_per_item_lists_and_min_count() -> None:
    result = item_influence(*_three_users(), ITEMS, top=10, min_count=1)
    c = result.items["c"]
    assert [p.target for p in c.drives] == ["b", "d"]  # excess 0.3, then 0.1
    assert [p.source for p in c.driven_by] == ["b"]
    assert [p.source for p in result.items["d"].driven_by] == ["a", "c"]  # excess 0.26, then 0.1
    assert result.items["a"].driven_by == [] and [p.target for p in result.items["a"].drives] == ["d"]
    one = item_influence(*_three_users(), ITEMS, top=1, min_count=1)
    assert [p.target for p in one.items["c"].drives] == ["b"] and len(one.pairs) == 1
    # at least 2 recommendations: of the four, only b→c and a→d (2 users each) stay
    two = item_influence(*_three_users(), ITEMS, top=10, min_count=2)
    assert [(p.source, p.target) for p in two.pairs] == [("b", "c"), ("a", "d")]
    assert set(two.items) == {"a", "b", "c", "d"} and two.items["c"].drives == []


def test_an_item_recommended_to_everyone_drives_nothing() -> None:
    """Everyone gets p (column 3) and one other item: every source's share of p's attention equals its
    share of all attention (lift 1), so no pair with p passes, however much attention it sums.
    By hand (u0 read a, got p, b; u1 read a, b, got p, c; u2 read c, got p, a): a→p sums 1.0 + 0.5 = 1.5
    of the 3.0 behind p's recommendations (share 0.5), and a gets 3.0 of all 6.0 (share 0.5): lift 1."""
    attention = sparse.csr_matrix(np.array([[1.0, 0, 0, 0], [0.5, 0.5, 0, 0], [0, 0, 1.0, 0]]))
    recommended = np.array([[3, 1], [3, 2], [3, 0]])
    result = item_influence(attention, recommended, ["a", "b", "c", "p"], min_count=1)
    assert all("p" not in (pair.source, pair.target) for pair in result.pairs)
    assert "p" not in result.items
    # a→b: b's one recommendation (u0) rests on a entirely (share 1.0); a's share of all is 0.5: lift 2
    ab = next(p for p in result.pairs if (p.source, p.target) == ("a", "b"))
    assert ab.share == pytest.approx(1.0) and ab.lift == pytest.approx(2.0)


def test_mismatched_rows() -> None:
    attention, recommended = _three_users()
    with pytest.raises(ValueError, match="2 rows of recommendations for 3 users"):
        item_influence(attention, recommended[:2], ITEMS)
