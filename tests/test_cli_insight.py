"""Audience insight from the command line: `recsys influence` and `recsys segments --windows`, on a tiny
bundle with item categories and timestamps."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from attnsight.data.readers import Interactions
from attnsight.data.synthetic import make_audience
from attnsight.errors import AttnsightError
from attnsight.recommender import SequentialRecommender
from cli_helpers import assert_one_line_error, invoke


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> tuple[SequentialRecommender, Path]:
    audience = make_audience(num_users=60, num_items=40, mean_events=12)
    info = {row["item"]: {"title": row["title"], "category": row["category"]} for row in audience.items.to_dicts()}
    rec = SequentialRecommender(max_len=20, dim=16, num_layers=1, num_heads=1, epochs=2, batch_size=32,
                                device="cpu", seed=0)
    rec.fit(audience.interactions, item_info=info)
    bundle = tmp_path_factory.mktemp("insight") / "bundle"
    rec.save_pretrained(bundle)
    return rec, bundle


def test_influence(trained) -> None:
    rec, bundle = trained
    payload = json.loads(invoke("recsys", "influence", "--model", bundle, "--users", 40, "--k", 5, "--top", 8,
                                "--min-count", 2, "--device", "cpu", "--json").stdout)
    assert payload["users"] == 40 and payload["recommendations"] == 40 * 5
    pairs = payload["pairs"]
    assert 1 <= len(pairs) <= 8
    excess = [p["attention"] * (1 - 1 / p["lift"]) for p in pairs]  # attention beyond what popularity predicts
    assert excess == sorted(excess, reverse=True)
    for p in pairs:
        assert p["lift"] > 1 and p["count"] >= 2 and 0 < p["share"] <= 1
        assert p["mean"] == pytest.approx(p["attention"] / p["count"])
        assert p["source"] in rec.item_vocab_ and p["target"] in rec.item_vocab_
    top = pairs[0]
    item = json.loads(invoke("recsys", "influence", "--model", bundle, "--users", 40, "--k", 5, "--min-count", 2,
                             "--item", top["source"], "--device", "cpu", "--json").stdout)
    assert item["item"] == top["source"] and item["drives"][0] == top  # its strongest pair is the strongest of all
    table = invoke("recsys", "influence", "--model", bundle, "--users", 40, "--k", 5, "--top", 8, "--min-count", 2,
                   "--device", "cpu").stdout  # the same pairs as the JSON above
    assert "What drives recommendations: 200 recommendations (top 5) to 40 sampled users" in table
    assert "driver (in the history)" in table and rec.item_info_[top["source"]]["category"] in table


def test_influence_counts_the_recommendations_users_get(trained) -> None:
    """Every user, every pair: a pair's count is the number of users who read its source and got its
    target from `recommend`, and its attention what those recommendations' attention gave the source."""
    rec, _ = trained
    result = rec.influence(users=None, k=3, top=5, min_count=1)
    assert result.users == len(rec.sequences_) and len(result.pairs) == 5
    everyone = [rec.recommend(user=user, k=3, explain=0) for user in rec.sequences_.users]
    for pair in result.pairs:
        count, attention = 0, 0.0
        for got in everyone:
            if pair.target in [r.item for r in got.items] and pair.source in got.history:
                count += 1
                attention += sum(w for i, w in zip(got.history, got.attention) if i == pair.source)
        assert (pair.count, pair.attention) == (count, pytest.approx(attention, rel=1e-4))


def test_segments_with_windows(trained) -> None:
    rec, bundle = trained
    payload = json.loads(invoke("recsys", "segments", "--model", bundle, "--k", 2, "--windows", 3, "--top", 3,
                                "--device", "cpu", "--json").stdout)
    assert payload["k"] == 2 and set(payload["labels"]) == set(rec.sequences_.users)  # unchanged without trends
    trends = payload["trends"]
    assert trends["by"] == "category" and len(trends["windows"]) == 3
    windows = trends["windows"]
    assert [w["start"] for w in windows[1:]] == [w["end"] for w in windows[:-1]]  # consecutive
    assert all(w["end"].startswith("2025-") for w in windows)  # epoch seconds shown as dates
    users = [w["users"] for w in windows]
    assert users == sorted(users) and users[-1] == 60  # everyone has events by the last window's end
    sizes = {s["segment"]: s["users"] for s in payload["segments"]}
    for trend in trends["segments"]:
        assert trend["users"][-1] == sizes[trend["segment"]]
        assert 1 <= len(trend["shares"]) <= 3
        for w in range(3):
            shown = [s[w] for s in trend["shares"].values() if s[w] is not None]
            assert all(0 <= x <= 1 for x in shown) and sum(shown) <= 1 + 1e-6
        riser = trend["riser"]
        if riser is not None:
            assert riser["change"] > 0 and riser["change"] == pytest.approx(riser["end"] - riser["start"])
    table = invoke("recsys", "segments", "--model", bundle, "--k", 2, "--windows", 3, "--device", "cpu").stdout
    assert "2 segments of 60 users" in table and "Attention by category over 3 windows" in table
    assert "Segment 1" in table and "Segment 2" in table and f"to {windows[-1]['end']}" in table
    plain = invoke("recsys", "segments", "--model", bundle, "--k", 2, "--device", "cpu", "--json").stdout
    assert "trends" not in json.loads(plain)


def test_trends_by_position_without_timestamps(trained) -> None:
    rec, _ = trained
    untimed = copy.copy(rec)
    untimed.sequences_ = copy.copy(rec.sequences_)
    untimed.sequences_.timestamps = None
    labels = [1 + u % 2 for u in range(len(rec.sequences_))]
    result = untimed.trends(labels, windows=2, users=None)
    assert result.windows[-1].end == "100% of history" and result.windows[0].end.endswith("% of history")
    assert [s.segment for s in result.segments] == [1, 2]
    # by position, each user's first event (1/n of a history of n ≥ 3) is in the first window
    assert [w.users for w in result.windows] == [60, 60] and result.segments[0].users == [30, 30]
    for segment in result.segments:
        for w in range(2):
            assert 0 < sum(shares[w] for shares in segment.shares.values()) <= 1 + 1e-6
    with pytest.raises(AttnsightError, match="59 segment labels for 60 users"):
        rec.trends(labels[:-1])


def test_errors(trained, monkeypatch, capsys) -> None:
    _, bundle = trained
    assert_one_line_error(monkeypatch, capsys, ["recsys", "influence", "--model", bundle, "--item", "nope"],
                          "unknown item 'nope'")
    assert_one_line_error(monkeypatch, capsys, ["recsys", "influence", "--model", bundle, "--users", 0],
                          "--users must be at least 1")
    assert_one_line_error(monkeypatch, capsys, ["recsys", "segments", "--model", bundle, "--windows", 0],
                          "--windows must be at least 1")


def test_windows_beyond_the_distinct_times_are_refused(trained, monkeypatch, capsys) -> None:
    rec, bundle = trained
    distinct = len(set(rec.sequences_.timestamps.tolist()))
    assert_one_line_error(monkeypatch, capsys, ["recsys", "segments", "--model", bundle, "--k", 2, "--windows",
                                                distinct + 1, "--device", "cpu"],
                          f"{distinct + 1} windows of equal event counts cannot be cut",
                          "ask for at most")  # the count that fits, tested by hand in test_segments


def test_evaluate_temporal_without_timestamps(trained, tmp_path, monkeypatch, capsys) -> None:
    rec, _ = trained
    untimed = copy.copy(rec)
    untimed.sequences_ = copy.copy(rec.sequences_)
    untimed.sequences_.timestamps = None
    untimed.save_pretrained(tmp_path / "untimed")
    assert_one_line_error(monkeypatch, capsys, ["recsys", "evaluate", "--model", tmp_path / "untimed", "--split",
                                                "temporal", "--device", "cpu"],
                          "trained on a log without timestamps", "use --split loo")


def test_one_segment_prints_valid_json_and_two_users_cannot_be_segmented(trained, tmp_path, monkeypatch,
                                                                        capsys) -> None:
    _, bundle = trained
    out = invoke("recsys", "segments", "--model", bundle, "--k", 1, "--device", "cpu", "--json").stdout
    payload = json.loads(out, parse_constant=lambda name: pytest.fail(f"{name} is not JSON"))
    assert payload["k"] == 1 and payload["silhouette"] is None  # undefined for one segment
    two = SequentialRecommender(max_len=5, dim=8, num_layers=1, num_heads=1, epochs=1, device="cpu")
    two.fit(Interactions.from_records(["u1"] * 4 + ["u2"] * 4, ["a", "b", "c", "a", "b", "c", "a", "b"]))
    two.save_pretrained(tmp_path / "two")
    assert_one_line_error(monkeypatch, capsys, ["recsys", "segments", "--model", tmp_path / "two", "--device", "cpu"],
                          "too few users (2) to compare segmentations")
