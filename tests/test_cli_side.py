"""Side features from the command line: `recsys train --item-features/--user-features`, then
`recsys add-items` and `recsys add-users` on the bundle, and their errors."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest
from cli_helpers import assert_one_line_error, invoke

from attnsight.data.synthetic import make_audience

TINY = ["--max-len", 20, "--dim", 16, "--layers", 1, "--heads", 2, "--epochs", 3, "--batch-size", 64,
        "--device", "cpu"]


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("side-cli")
    audience = make_audience(num_users=120, num_items=40, mean_events=10, seed=2)
    new = audience.items[-4:]
    frame = audience.interactions.frame.filter(~pl.col("item").is_in(new["item"].to_list()))
    paths = {"log": root / "log.csv", "items": root / "items.csv", "new_items": root / "new_items.csv",
             "users": root / "users.csv", "new_users": root / "new_users.csv", "bundle": root / "bundle"}
    frame.write_csv(paths["log"])
    audience.items[:-4].write_csv(paths["items"])
    new.write_csv(paths["new_items"])
    likes = {u: "|".join(c) for u, c in audience.interests.items()}
    users = list(likes)[:100] + [next(iter(likes))]  # the last row repeats the first user: counted, and ignored
    pl.DataFrame({"user": users, "likes": list(likes.values())[:100] + ["Music"]}).write_csv(paths["users"])
    pl.DataFrame({"user": ["newcomer"], "likes": ["Gaming|Music"]}).write_csv(paths["new_users"])
    return paths


def test_train_with_side_features_then_add_items_and_users(workspace) -> None:
    w = workspace
    out = invoke("recsys", "train", "--data", w["log"], "--out", w["bundle"], *TINY,
                 "--item-features", w["items"], "--item-text", "title", "--item-categorical", "category",
                 "--user-features", w["users"], "--user-tags", "likes").stdout
    assert f"item side data {w['items']}: 36 matched, 0 rows for ids not in the log, 0 ids without a row\n" in out
    assert (f"user side data {w['users']}: 100 matched, 0 rows for ids not in the log, 20 ids without a row, "
            "1 rows repeating an id (the first kept)") in out
    assert "item features: category, title" in out
    added = json.loads(invoke("recsys", "add-items", "--model", w["bundle"], "--item-features", w["new_items"],
                              "--json").stdout)
    assert added == {"added": 4, "already_known": 0, "items": 40, "repeated": 0}
    again = invoke("recsys", "add-items", "--model", w["bundle"], "--item-features", w["new_items"]).stdout
    assert "added 0 items (4 already known); 40 items now" in again
    new_item = pl.read_csv(w["new_items"])["item"][0]
    audience = json.loads(invoke("recsys", "audience", "--model", w["bundle"], "--item", new_item, "--k", 5,
                                 "--json").stdout)
    assert len(audience["audience"]) == 5  # a new item has an audience at once
    invoke("recsys", "add-users", "--model", w["bundle"], "--user-features", w["new_users"])
    table = invoke("recsys", "recommend", "--model", w["bundle"], "--user", "newcomer", "--k", 3).stdout
    assert "user newcomer has no history yet: recommended from their profile (user features) alone" in table
    result = json.loads(invoke("recsys", "recommend", "--model", w["bundle"], "--user", "newcomer", "--k", 3,
                               "--json").stdout)
    assert result["history"] == [] and len(result["items"]) == 3


def test_side_feature_errors_are_one_line(workspace, tmp_path, monkeypatch, capsys) -> None:
    w = workspace
    assert_one_line_error(monkeypatch, capsys, ["recsys", "train", "--data", w["log"], "--out", tmp_path / "b",
                                                *TINY, "--item-features", w["items"]],
                          "--item-features", "--item-text")
    assert_one_line_error(monkeypatch, capsys, ["recsys", "train", "--data", w["log"], "--out", tmp_path / "b",
                                                *TINY, "--item-features", w["items"], "--item-tags", "genre"],
                          str(w["items"]), "genre")
    plain = tmp_path / "plain"
    invoke("recsys", "train", "--data", w["log"], "--out", plain, *TINY)
    assert_one_line_error(monkeypatch, capsys, ["recsys", "add-users", "--model", plain, "--user-features",
                                                w["new_users"]], "trained without user features")
    assert_one_line_error(monkeypatch, capsys, ["recsys", "add-items", "--model", plain, "--item-features",
                                                w["new_items"]], "trained without item features")


def test_add_items_refuses_numbers_out_of_reach_and_reports_repeated_ids(workspace, tmp_path, monkeypatch,
                                                                         capsys) -> None:
    w = workspace
    bundle = tmp_path / "priced"
    items = pl.read_csv(w["items"]).with_columns(price=pl.int_range(pl.len()) % 7 + 1)
    items.write_csv(tmp_path / "items.csv")
    invoke("recsys", "train", "--data", w["log"], "--out", bundle, *TINY, "--item-features", tmp_path / "items.csv",
           "--item-numeric", "price")
    huge = tmp_path / "huge.csv"
    huge.write_text("item,price\nnew1,4\nnew2,1e38\n")  # a float32, but no longer one once standardised
    assert_one_line_error(monkeypatch, capsys, ["recsys", "add-items", "--model", bundle, "--item-features", huge],
                          "huge.csv, line 3, column 'price': more than 1e+15 standard deviations")
    twice = tmp_path / "twice.csv"
    twice.write_text("item,price\nnew1,4\nnew1,5\n")
    out = invoke("recsys", "add-items", "--model", bundle, "--item-features", twice).stdout
    assert "added 1 items" in out and "1 row(s) repeated an id of the table: the first row of each id was used" in out


def test_feature_flags_need_their_table(workspace, tmp_path, monkeypatch, capsys) -> None:
    assert_one_line_error(monkeypatch, capsys, ["recsys", "train", "--data", workspace["log"], "--out",
                                                tmp_path / "b", *TINY, "--item-numeric", "price"],
                          "--item-numeric needs --item-features")
