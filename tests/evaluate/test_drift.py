"""Population stability index and its reference histograms, against values worked out by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from attnsight.evaluate.drift import OTHER, bin_index, categorical_reference, numeric_reference, psi
from attnsight.serve.monitor import MIN_LIVE, drift_status


def test_psi_of_two_bins_by_hand():
    reference = {"kind": "categorical", "categories": ["a", "b"], "proportions": [0.5, 0.5]}
    # live 30 / 10: shares 0.75 / 0.25
    expected = (0.75 - 0.5) * math.log(0.75 / 0.5) + (0.25 - 0.5) * math.log(0.25 / 0.5)
    assert psi(reference, np.array([30, 10])) == pytest.approx(expected, rel=1e-12)
    assert expected == pytest.approx(0.2746530721670274, rel=1e-12)
    # only the shares matter, not the number of live values
    assert psi(reference, np.array([3, 1])) == pytest.approx(expected, rel=1e-12)


def test_psi_of_three_bins_by_hand():
    reference = {"kind": "numeric", "edges": [1.0, 2.0], "proportions": [0.2, 0.3, 0.5]}
    live = [10, 50, 40]  # shares 0.1, 0.5, 0.4
    expected = ((0.1 - 0.2) * math.log(0.1 / 0.2) + (0.5 - 0.3) * math.log(0.5 / 0.3)
                + (0.4 - 0.5) * math.log(0.4 / 0.5))
    assert psi(reference, live) == pytest.approx(expected, rel=1e-12)


def test_psi_is_zero_for_the_reference_shares_and_symmetric_in_the_swap():
    reference = {"kind": "numeric", "edges": [0.0], "proportions": [0.25, 0.75]}
    assert psi(reference, [25, 75]) == pytest.approx(0.0, abs=1e-15)
    swapped = {"kind": "numeric", "edges": [0.0], "proportions": [0.75, 0.25]}
    # PSI is symmetric: (a-e)ln(a/e) is unchanged when live and reference shares trade places
    assert psi(reference, [75, 25]) == pytest.approx(psi(swapped, [25, 75]), rel=1e-12)
    assert psi(reference, [75, 25]) > 0


def test_psi_is_nan_without_live_values():
    reference = {"kind": "numeric", "edges": [1.0], "proportions": [0.5, 0.5]}
    assert math.isnan(psi(reference, np.array([0, 0])))
    assert math.isnan(psi(reference, np.zeros(2, dtype=np.int64)))


def test_empty_bins_are_floored_at_1e_4():
    # all live values in a bin the reference never saw: the empty shares count as 1e-4, not 0
    reference = {"kind": "numeric", "edges": [5.0], "proportions": [1.0, 0.0]}
    value = psi(reference, [0, 10])
    eps = 1e-4
    expected = (eps - 1.0) * math.log(eps / 1.0) + (1.0 - eps) * math.log(1.0 / eps)
    assert math.isfinite(value)
    assert value == pytest.approx(expected, rel=1e-12)
    assert value == pytest.approx(2 * (1 - eps) * math.log(1e4), rel=1e-12)
    # a live bin empty where the reference has some share: floored too, so the term is finite
    half = {"kind": "numeric", "edges": [5.0], "proportions": [0.5, 0.5]}
    expected = (eps - 0.5) * math.log(eps / 0.5) + (1.0 - 0.5) * math.log(1.0 / 0.5)
    assert psi(half, [0, 7]) == pytest.approx(expected, rel=1e-12)
    # both empty: floor against floor, no contribution
    three = {"kind": "numeric", "edges": [1.0, 2.0], "proportions": [0.5, 0.5, 0.0]}
    assert psi(three, [4, 4, 0]) == pytest.approx(0.0, abs=1e-15)


def test_numeric_reference_quantile_edges():
    values = np.arange(1, 11, dtype=float)  # 1..10
    ref = numeric_reference(values, bins=4)
    # quantiles 0.25, 0.5, 0.75 by linear interpolation: 1 + q * 9
    assert ref["kind"] == "numeric"
    assert ref["edges"] == pytest.approx([3.25, 5.5, 7.75])
    # bins: (-inf, 3.25) [3.25, 5.5) [5.5, 7.75) [7.75, inf): {1,2,3} {4,5} {6,7} {8,9,10}
    assert ref["proportions"] == pytest.approx([0.3, 0.2, 0.2, 0.3])
    assert sum(ref["proportions"]) == pytest.approx(1.0)


def test_numeric_reference_merges_ties_and_drops_non_finite():
    ref = numeric_reference(np.array([1.0, 1.0, 1.0, 1.0, 2.0, np.nan, np.inf]), bins=4)
    # every inner quantile is 1.0: one edge; a value equal to an edge falls right of it
    assert ref["edges"] == [1.0]
    assert ref["proportions"] == pytest.approx([0.0, 1.0])
    ref = numeric_reference(np.array([0.0, 10.0]), bins=2)
    assert ref["edges"] == [5.0] and ref["proportions"] == pytest.approx([0.5, 0.5])
    with pytest.raises(ValueError):
        numeric_reference(np.array([np.nan, np.inf]))


def test_categorical_reference_and_the_other_bin():
    ref = categorical_reference(["b", "a", "a", "c"])
    assert ref == {"kind": "categorical", "categories": ["a", "b", "c", OTHER],
                   "proportions": pytest.approx([0.5, 0.25, 0.25, 0.0])}
    # with the categories given, values outside them land in "<other>" already in training
    ref = categorical_reference(["a", "z", "a", "y"], categories=["a", "b"])
    assert ref["categories"] == ["a", "b", "<other>"]
    assert ref["proportions"] == pytest.approx([0.5, 0.0, 0.5])
    # no values at all: every share 0 (no division by zero)
    assert categorical_reference([], categories=["a"])["proportions"] == [0.0, 0.0]


def test_bin_index_numeric_and_categorical():
    numeric = numeric_reference(np.arange(1, 11, dtype=float), bins=4)  # edges 3.25, 5.5, 7.75
    assert bin_index(numeric, [0, 3.0, 3.25, 5.49, 5.5, 7.75, 100]).tolist() == [0, 0, 1, 1, 2, 3, 3]
    categorical = categorical_reference(["a", "b"])
    # an unseen category counts in the last ("<other>") bin; values are compared as strings
    assert bin_index(categorical, ["b", "a", "unseen", "b"]).tolist() == [1, 0, 2, 1]
    numbers = categorical_reference([1, 2])
    assert bin_index(numbers, [2, "1", 3]).tolist() == [1, 0, 2]


def test_live_counts_from_bin_index_give_the_psi_by_hand():
    ref = categorical_reference(["x", "y"] * 10)  # 0.5 / 0.5 / other 0
    live = ["x"] * 30 + ["y"] * 10
    counts = np.bincount(bin_index(ref, live), minlength=len(ref["proportions"]))
    assert counts.tolist() == [30, 10, 0]
    expected = (0.75 - 0.5) * math.log(0.75 / 0.5) + (0.25 - 0.5) * math.log(0.25 / 0.5)
    assert psi(ref, counts) == pytest.approx(expected, rel=1e-12)
    # an unseen category moves mass into "<other>", whose reference share is floored at 1e-4
    counts = np.bincount(bin_index(ref, ["x"] * 20 + ["new"] * 20), minlength=3)
    assert counts.tolist() == [20, 0, 20]
    eps = 1e-4
    expected = 0 + (eps - 0.5) * math.log(eps / 0.5) + (0.5 - eps) * math.log(0.5 / eps)
    assert psi(ref, counts) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("value, count, status", [
    (0.09, MIN_LIVE, "stable"), (0.1, MIN_LIVE, "moderate"), (0.2499, MIN_LIVE, "moderate"),
    (0.25, MIN_LIVE, "major"), (5.0, MIN_LIVE - 1, "warming up"), (float("nan"), 0, "warming up"),
])
def test_drift_status_reading(value, count, status):
    assert drift_status(value, count).startswith(status)
