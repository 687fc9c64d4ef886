"""make_audience: deterministic, well-formed synthetic behaviour."""

from __future__ import annotations

import polars as pl
import pytest

from attnsight.data.synthetic import CATEGORIES, EPOCH_2025, make_audience


@pytest.fixture(scope="module")
def audience():
    return make_audience(num_users=50, num_items=48, mean_events=15, seed=3)


def test_deterministic_per_seed(audience):
    again = make_audience(num_users=50, num_items=48, mean_events=15, seed=3)
    assert again.interactions.frame.equals(audience.interactions.frame)
    assert again.items.equals(audience.items)
    assert again.interests == audience.interests
    other = make_audience(num_users=50, num_items=48, mean_events=15, seed=4)
    assert not other.interactions.frame.equals(audience.interactions.frame)


def test_sizes(audience):
    frame = audience.interactions.frame
    assert frame.columns == ["user", "item", "timestamp"]
    assert frame.schema["timestamp"] == pl.Int64
    assert frame["user"].n_unique() == 50
    assert frame["user"].unique(maintain_order=True).to_list() == [f"u{u:05d}" for u in range(1, 51)]
    assert audience.items.height == 48
    assert frame.group_by("user").len()["len"].min() >= 1
    assert set(frame["item"].to_list()) <= set(audience.items["item"].to_list())


def test_catalogue(audience):
    items = audience.items
    assert items.columns == ["item", "title", "category"]
    assert items["item"].to_list() == [f"i{i:04d}" for i in range(1, 49)]
    names = list(CATEGORIES)
    assert items["category"].to_list() == [names[i % len(names)] for i in range(48)]
    for title, category in zip(items["title"].to_list(), items["category"].to_list()):
        assert any(word in title for word in CATEGORIES[category])  # the title names its category's theme
        assert title.split()[-1].isdigit()  # part number of a series
    assert items["title"].n_unique() == 48


def test_timestamps_increase_and_items_do_not_repeat(audience):
    for (user,), group in audience.interactions.frame.group_by("user"):
        times = group["timestamp"].to_list()
        assert all(b > a for a, b in zip(times, times[1:])), user
        assert times[0] > EPOCH_2025
        assert group["item"].n_unique() == group.height, user


def test_interests(audience):
    assert set(audience.interests) == set(audience.interactions.frame["user"].to_list())
    for follows in audience.interests.values():
        assert 2 <= len(follows) <= 3 and set(follows) <= set(CATEGORIES)
