"""Event tables for risk scoring: read_events (formats, time order, errors that name file, line and
column), time_split on a hand-made table, history_index and window_features against brute-force
loops, and Events.concat / days / date / event_ids."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from attnsight.data.events import (
    DAY,
    UNLABELLED,
    Events,
    EventSchema,
    history_index,
    read_events,
    time_split,
    window_features,
)
from attnsight.errors import AttnsightError, ConfigError, DataError

T0 = 1_735_689_600  # 2025-01-01T00:00:00Z, a Wednesday
HOUR = 3_600
FULL = EventSchema("account", "timestamp", ("amount",), ("channel",), "label", "terminal", "id")
HEADER = ["id", "account", "timestamp", "amount", "channel", "label", "terminal"]


def write(path: Path, content: str | bytes) -> Path:
    path.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
    return path


def write_rows(path: Path, rows: list[list[object]], header: list[str] = HEADER) -> Path:
    lines = [",".join(header)] + [",".join(str(v) for v in row) for row in rows]
    return write(path, "\n".join(lines) + "\n")


def raises_data_error(path: Path, schema: EventSchema = FULL, **kwargs) -> DataError:
    with pytest.raises(DataError) as info:
        read_events(path, schema, **kwargs)
    assert isinstance(info.value, AttnsightError)
    assert str(path) in str(info.value)  # every message names the file
    assert "\n" not in str(info.value)
    return info.value


# ----------------------------------------------------------------------------- reading

# file lines: 1 header, 2 e1, 3 e2, 4 e3; e2 and e3 share a time (file order breaks the tie), e1 is latest
SMALL_CSV = (
    "id,account,timestamp,amount,channel,label,terminal\n"
    f"e1, A ,{T0 + HOUR},10.5,pos,0,T1\n"
    f"e2,B,{T0},,online,1,T2\n"
    f"e3,A,{T0},7,atm,true,\n"
)


def test_read_csv_sorts_by_time_and_keeps_every_field(tmp_path):
    events = read_events(write(tmp_path / "events.csv", SMALL_CSV), FULL)
    assert len(events) == 3 and events.has_labels
    assert events.ids.tolist() == ["e2", "e3", "e1"]  # by time, ties in file order
    assert events.lines.tolist() == [3, 4, 2]
    assert events.time.tolist() == [T0, T0, T0 + HOUR]
    assert events.accounts.tolist() == ["A", "B"]  # ids stripped
    assert events.accounts[events.account].tolist() == ["B", "A", "A"]
    assert events.label.tolist() == [1, 1, 0]  # "true" is a positive
    assert np.isnan(events.numeric[0, 0])  # the empty amount is missing, not 0
    assert events.numeric[1:, 0].tolist() == [7.0, 10.5]
    assert events.categorical[:, 0].tolist() == ["online", "atm", "pos"]
    # the row without a terminal has entity -1; the others are codes into entities
    assert events.entities.tolist() == ["T1", "T2"]
    assert events.entity.tolist() == [1, -1, 0]
    assert events.source == str(tmp_path / "events.csv")


@pytest.mark.parametrize("positive, negative", [("true", "false"), ("True", "FALSE"), ("yes", "no"), ("1.0", "0.0")])
def test_labels_as_words_are_accepted(tmp_path, positive, negative):
    path = write_rows(tmp_path / "words.csv", [
        ["a", "A", T0, 1, "pos", positive, "T1"],
        ["b", "B", T0 + 1, 2, "pos", negative, "T1"],
    ])
    assert read_events(path, FULL).label.tolist() == [1, 0]


def test_iso_timestamps_are_read_as_epoch_seconds(tmp_path):
    path = write(tmp_path / "iso.csv", "account,timestamp\nA,2025-01-02\nB,2025-01-01T06:00:00\n")
    events = read_events(path, EventSchema())
    assert events.time.tolist() == [T0 + 6 * HOUR, T0 + DAY]
    assert events.accounts[events.account].tolist() == ["B", "A"]
    assert events.label is None and events.entity is None and events.ids is None


def test_gzipped_jsonl_with_json_types_and_blank_lines(tmp_path):
    records = [
        {"id": 1, "account": "A", "timestamp": T0 + 50, "amount": 2.5, "channel": "pos", "label": True,
         "terminal": "T1"},
        None,  # a blank line: skipped, but it still counts for line numbers
        {"id": 2, "account": "B", "timestamp": T0 + 10, "amount": None, "channel": "atm", "label": False,
         "terminal": "T2"},
    ]
    text = "\n".join("" if r is None else json.dumps(r) for r in records) + "\n"
    path = write(tmp_path / "events.jsonl.gz", gzip.compress(text.encode("utf-8")))
    events = read_events(path, FULL)
    assert events.ids.tolist() == ["2", "1"]
    assert events.lines.tolist() == [3, 1]
    assert events.label.tolist() == [0, 1]  # JSON booleans
    assert np.isnan(events.numeric[0, 0]) and events.numeric[1, 0] == 2.5
    assert events.accounts[events.account].tolist() == ["B", "A"]


def test_gzipped_csv_and_tsv_and_parquet(tmp_path):
    csv_gz = write(tmp_path / "events.csv.gz", gzip.compress(SMALL_CSV.encode("utf-8")))
    tsv = write(tmp_path / "events.tsv", SMALL_CSV.replace(",", "\t"))
    parquet = tmp_path / "events.parquet"
    pl.DataFrame({
        "id": ["e1", "e2", "e3"], "account": ["A", "B", "A"], "timestamp": [T0 + HOUR, T0, T0],
        "amount": [10.5, None, 7.0], "channel": ["pos", "online", "atm"], "label": [0, 1, 1],
        "terminal": ["T1", "T2", None],
    }).write_parquet(parquet)
    for path in (csv_gz, tsv, parquet):
        events = read_events(path, FULL)
        assert events.ids.tolist() == ["e2", "e3", "e1"], path
        assert events.label.tolist() == [1, 1, 0], path
        assert events.numeric[1:, 0].tolist() == [7.0, 10.5], path
        assert events.entity.tolist() == [1, -1, 0], path


GOOD_ROWS = [
    ["a", "A", T0, 1.0, "pos", 0, "T1"],
    ["b", "B", T0 + 60, 2.0, "pos", 1, "T1"],
    ["c", "C", T0 + 120, 3.0, "atm", 0, "T2"],
    ["d", "D", T0 + 180, 4.0, "pos", 0, "T2"],
]


def test_labels_may_be_empty_or_absent_when_not_required(tmp_path):
    rows = [list(r) for r in GOOD_ROWS]
    rows[1][HEADER.index("label")] = ""
    events = read_events(write_rows(tmp_path / "open.csv", rows), FULL)
    assert events.label.tolist() == [0, UNLABELLED, 0, 0]  # time order = file order here
    header = [h for h in HEADER if h != "label"]
    path = write_rows(tmp_path / "unlabelled.csv", [[v for h, v in zip(HEADER, r) if h != "label"] for r in GOOD_ROWS],
                      header)
    assert read_events(path, FULL).label.tolist() == [UNLABELLED] * 4
    assert "no column 'label'" in str(raises_data_error(path, require_labels=True))


@pytest.mark.parametrize("row, column, value, what", [
    (2, "amount", "abc", "not a number"),
    (1, "amount", "1;5", "not a number"),
    (3, "amount", "inf", "not a finite number"),
    (3, "label", "2", "label is not 0/1"),
    (0, "label", "", "missing label"),
    (2, "timestamp", "yesterday", "not a number or ISO 8601 date"),
    (1, "account", "  ", "empty account id"),
    (3, "account", "", "empty account id"),
    (1, "id", " ", "empty event id"),
    (3, "id", "b", "event id given to an earlier row too: 'b'"),  # the second of the two is named
])
def test_bad_values_name_file_line_and_column(tmp_path, row, column, value, what):
    rows = [list(r) for r in GOOD_ROWS]
    rows[row][HEADER.index(column)] = value
    path = write_rows(tmp_path / "bad.csv", rows)
    error = raises_data_error(path, require_labels=True)
    assert error.line == row + 2  # line 1 is the header
    assert error.column == column
    assert f"line {row + 2}" in str(error) and f"column {column!r}" in str(error)
    assert what in str(error)


@pytest.mark.parametrize("column, value, message", [
    ("timestamp", "1e30", "not a number or ISO 8601 date: '1e30'"),  # beyond int64: once a traceback
    ("timestamp", "-1e15", "not a time of the years 1 to 9999: '-1e15'"),
    ("amount", "1e39", "too large for a float32 (beyond ±3.4e+38): '1e39'"),
])
def test_values_out_of_range_are_named(tmp_path, column, value, message):
    rows = [["e1", "A", T0, "10", "web", 0, "t1"], ["e2", "A", T0 + 1, "12", "web", 1, "t1"]]
    rows[1][HEADER.index(column)] = value
    error = raises_data_error(write_rows(tmp_path / "e.csv", rows))
    assert (error.line, error.column, error.message) == (3, column, message)


def test_nan_in_a_number_column_is_a_missing_value(tmp_path):
    rows = [["e1", "A", T0, "NaN", "web", 0, "t1"], ["e2", "A", T0 + 1, "12", "web", 1, "t1"]]
    events = read_events(write_rows(tmp_path / "e.csv", rows), FULL)
    assert np.isnan(events.numeric[0, 0]) and events.numeric[1, 0] == 12.0  # as an empty cell would be


def test_error_line_counts_blank_lines(tmp_path):
    # lines: 1 header, 2 a, 3 blank, 4 b, 5 blank, 6 c (bad label)
    path = write(tmp_path / "blank.csv", (
        "account,timestamp,label\n"
        f"A,{T0},0\n\n"
        f"B,{T0 + 1},1\n\n"
        f"C,{T0 + 2},maybe\n"
    ))
    error = raises_data_error(path, EventSchema(label="label"))
    assert (error.line, error.column) == (6, "label")
    assert "'maybe'" in str(error)


def test_jsonl_error_line(tmp_path):
    path = write(tmp_path / "bad.jsonl", (
        json.dumps({"account": "A", "timestamp": T0, "label": 0}) + "\n\n"
        + json.dumps({"account": "B", "timestamp": T0 + 1, "label": 3}) + "\n"
    ))
    error = raises_data_error(path, EventSchema(label="label"))
    assert (error.line, error.column) == (3, "label")
    assert "label is not 0/1" in str(error)


@pytest.mark.parametrize("schema, missing, hint", [
    (EventSchema("account", "timestamp", ("fee",), (), "label"), "fee", "--numeric / --categorical"),
    (EventSchema("account", "timestamp", (), ("country",), "label"), "country", "--numeric / --categorical"),
    (EventSchema("card", "timestamp", (), (), "label"), "card", "--account-col"),
    (EventSchema("account", "when", (), (), "label"), "when", "--time-col"),
    (EventSchema("account", "timestamp", (), (), "is_fraud"), "is_fraud", "--label-col"),
    (EventSchema("account", "timestamp", (), (), "label", "merchant"), "merchant", "--entity-col"),
    (EventSchema("account", "timestamp", (), (), "label", None, "tx"), "tx", "--id-col"),
])
def test_missing_column_names_it_and_the_flag(tmp_path, schema, missing, hint):
    path = write_rows(tmp_path / "cols.csv", GOOD_ROWS)
    error = raises_data_error(path, schema, require_labels=True)  # the label column is only needed for training
    assert f"no column {missing!r}" in str(error)
    assert hint in str(error)
    assert "columns: id, account, timestamp" in str(error)


def test_require_labels_without_a_label_column(tmp_path):
    path = write_rows(tmp_path / "nolabel.csv", GOOD_ROWS)
    error = raises_data_error(path, EventSchema(), require_labels=True)
    assert "no label column" in str(error)
    assert read_events(path, EventSchema()).label is None  # fine when labels are not required


def test_missing_file_and_empty_file(tmp_path):
    raises_data_error(tmp_path / "nope.csv")
    error = raises_data_error(write(tmp_path / "empty.csv", ""))
    assert "empty" in str(error)


# ----------------------------------------------------------------------------- days, dates, ids


def test_days_dates_and_event_ids(tmp_path):
    path = write(tmp_path / "days.csv", (
        "account,timestamp\n"
        f"A,{T0 + 23 * HOUR}\n"  # day 0, late
        f"A,{T0 + DAY + 1}\n"  # day 1, just after midnight
        f"B,{T0 + 3 * DAY + 12 * HOUR}\n"  # day 3
    ))
    events = read_events(path, EventSchema())
    assert events.days.tolist() == [0, 1, 3]  # from the midnight before the first event
    assert events.date(0) == "2025-01-01" and events.date(3) == "2025-01-04"
    assert events.event_ids(np.array([2, 0])) == ["line 4", "line 2"]  # no id column: file lines


# ----------------------------------------------------------------------------- time_split

SPLIT_ACCOUNTS = ["A", "B", "C", "D"]
POSITIVE_DAY = {"A": 3, "B": 6, "C": 8, "D": 0}  # each account's one positive


@pytest.fixture
def ten_days(tmp_path) -> Events:
    """4 accounts, one event each per day for 10 days; row index = 4 * day + account (A, B, C, D)."""
    rows = []
    for day in range(10):
        for i, account in enumerate(SPLIT_ACCOUNTS):
            rows.append([f"{account}{day}", account, T0 + day * DAY + 12 * HOUR + 60 * i, 1.0, "pos",
                         int(POSITIVE_DAY[account] == day), "T1"])
    events = read_events(write_rows(tmp_path / "split.csv", rows), FULL)
    assert events.days.tolist() == [d for d in range(10) for _ in range(4)]
    return events


def rows_of(days: range | list[int]) -> list[int]:
    return [4 * d + i for d in days for i in range(4)]


def test_time_split_day_boundaries_and_known_accounts(ten_days):
    split = time_split(ten_days, valid_days=2, gap_days=1, test_days=2, delay_days=2)
    # last day 9: test = days 8-9, gap = day 7, valid = days 5-6, train = days 0-4
    assert split.train.tolist() == rows_of(range(0, 5))
    # validation leaves out known accounts the same way: day 5 knows positives of days < 3: D -> row 23 (D5);
    # day 6 knows those of days < 4: A (day 3), D -> rows 24 (A6), 27 (D6)
    assert split.valid.tolist() == [20, 21, 22, 25, 26]
    # test day 8 knows positives of days < 8 - 2 = 6: A (day 3), D (day 0) -> rows 32 (A8), 35 (D8) left out
    # test day 9 knows positives of days < 7: A, B (day 6), D -> rows 36 (A9), 37 (B9), 39 (D9) left out
    # C's positive is on day 8 itself: never known, C stays
    assert split.test.tolist() == [33, 34, 38]
    p = split.protocol
    assert p["train"] == ["2025-01-01", "2025-01-05"]
    assert p["valid"] == ["2025-01-06", "2025-01-07"]
    assert p["test"] == ["2025-01-09", "2025-01-10"]
    assert p["gap_days"] == 1 and p["label_delay_days"] == 2
    assert p["test_excluded_known_accounts"] == 5 and p["valid_excluded_known_accounts"] == 3
    assert p["rows"] == {"train": 20, "valid": 5, "test": 3}


def test_time_split_known_positives_count_from_the_training_start(ten_days):
    # train_days=3: training is days 2-4, so D's positive on day 0 is before it and does not exclude D
    split = time_split(ten_days, train_days=3, valid_days=2, gap_days=1, test_days=2, delay_days=2)
    assert split.train.tolist() == rows_of(range(2, 5))
    assert split.test.tolist() == [33, 34, 35, 38, 39]  # only A8, A9, B9 left out
    assert split.protocol["test_excluded_known_accounts"] == 3
    assert split.protocol["train"] == ["2025-01-03", "2025-01-05"]


def test_time_split_keep_known_and_longer_delay(ten_days):
    kept = time_split(ten_days, valid_days=2, gap_days=1, test_days=2, delay_days=2, exclude_known=False)
    assert kept.test.tolist() == rows_of(range(8, 10))
    assert kept.protocol["test_excluded_known_accounts"] == 0
    # delay 5: day 8 knows days < 3 (D), day 9 knows days < 4 (A, D)
    late = time_split(ten_days, valid_days=2, gap_days=1, test_days=2, delay_days=5)
    assert late.test.tolist() == [32, 33, 34, 37, 38]


def test_time_split_test_start_date(ten_days):
    split = time_split(ten_days, valid_days=2, gap_days=1, test_days=2, test_start="2025-01-08", delay_days=2)
    # test = days 7-8, gap = day 6, valid = days 4-5, train = days 0-3
    assert split.train.tolist() == rows_of(range(0, 4))
    # valid day 4 knows days < 2: D -> row 19 (D4) out; day 5 knows days < 3: D -> row 23 (D5) out
    assert split.valid.tolist() == [16, 17, 18, 20, 21, 22]
    # day 7 knows days < 5: A, D; day 8 knows days < 6: A, D (B's day 6 is not known yet)
    assert split.test.tolist() == [29, 30, 33, 34]
    assert split.protocol["test"] == ["2025-01-08", "2025-01-09"]


def test_time_split_without_validation(ten_days):
    split = time_split(ten_days, valid_days=0, gap_days=0, test_days=1, delay_days=0, exclude_known=False)
    assert split.valid.tolist() == [] and split.protocol["valid"] is None
    assert split.train.tolist() == rows_of(range(0, 9))
    assert split.test.tolist() == rows_of([9])


@pytest.mark.parametrize("kwargs, fragment", [
    (dict(valid_days=2, gap_days=1, test_days=8), "too few"),  # 8 + 1 + 2 > 10 days
    (dict(train_days=6, valid_days=2, gap_days=1, test_days=2), "too few"),  # train would start on day -1
    (dict(valid_days=2, gap_days=1, test_days=2, test_start="2025-01-10"), "too few"),  # runs past the data
    (dict(valid_days=2, gap_days=1, test_days=0), "at least one day"),
    (dict(train_days=0, valid_days=2, gap_days=1, test_days=2), "at least one day"),
    (dict(valid_days=-1, gap_days=1, test_days=2), "negative"),
    (dict(valid_days=2, gap_days=1, test_days=2, test_start="next tuesday"), "not a date"),
])
def test_time_split_errors(ten_days, kwargs, fragment):
    with pytest.raises(DataError) as info:
        time_split(ten_days, **kwargs)
    assert fragment in str(info.value)
    assert ten_days.source in str(info.value)


# ----------------------------------------------------------------------------- history_index


def brute_history(keys: np.ndarray, times: np.ndarray, rows: np.ndarray, length: int) -> np.ndarray:
    out = np.full((len(rows), length), -1, dtype=np.int64)
    for i, r in enumerate(rows):
        if keys[r] < 0:
            continue
        earlier = [j for j in range(len(keys)) if keys[j] == keys[r] and times[j] < times[r]][-length:]
        if earlier:
            out[i, length - len(earlier):] = earlier  # right-aligned, oldest first
    return out


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("length", [1, 3, 12])
def test_history_index_matches_brute_force(seed, length):
    rng = np.random.default_rng(seed)
    keys = rng.integers(-2, 5, 70)  # negative keys: no history
    times = np.sort(rng.integers(0, 30, 70))  # in time order, with many ties
    rows = np.concatenate([np.arange(70), rng.integers(0, 70, 20)])  # all rows, then some again in any order
    got = history_index(keys, times, rows, length)
    assert got.shape == (len(rows), length)
    np.testing.assert_array_equal(got, brute_history(keys, times, rows, length))


def test_history_index_by_hand():
    keys = np.array([0, 1, 0, -1, 0, 1])
    got = history_index(keys, np.arange(6), np.array([4, 5, 3, 0]), 2)
    assert got.tolist() == [[0, 2], [-1, 1], [-1, -1], [-1, -1]]
    # rows 2 and 4 share a time: neither is the other's history, in either order
    tied = history_index(keys, np.array([0, 1, 2, 3, 2, 5]), np.array([4, 2, 5]), 2)
    assert tied.tolist() == [[-1, 0], [-1, 0], [-1, 1]]


# ----------------------------------------------------------------------------- window_features


def random_events(seed: int, n: int = 90) -> Events:
    """Times on a 6-hour grid (many ties, many events exactly on window edges)."""
    rng = np.random.default_rng(seed)
    time = np.sort(T0 + rng.integers(0, 14 * 4, n) * 6 * HOUR + rng.choice([0, 0, 0, 1800], n))
    numeric = rng.normal(50, 20, (n, 2))
    numeric[rng.random((n, 2)) < 0.1] = np.nan
    categorical = rng.choice(np.array(["pos", "atm", "online"], dtype=object), (n, 1))
    schema = EventSchema("account", "timestamp", ("amount", "fee"), ("channel",), "label", "terminal")
    return Events(schema, rng.integers(0, 4, n), np.array(["A", "B", "C", "D"]), time, numeric, categorical,
                  (rng.random(n) < 0.3).astype(np.int8), rng.integers(-1, 3, n), np.array(["T0", "T1", "T2"]),
                  None, np.arange(2, n + 2))


def brute_windows(events: Events, rows: np.ndarray, windows: tuple[int, ...], delay: int) -> dict[str, np.ndarray]:
    out: dict[str, list[float]] = {}
    t, acc, ent, lab = events.time, events.account, events.entity, events.label
    values = events.numeric
    for r in rows:
        for w in windows:
            # the account's events in (t - w days, t], the event itself included (ties: earlier rows)
            same = [j for j in range(len(events)) if acc[j] == acc[r] and t[r] - w * DAY < t[j] <= t[r]
                    and (t[j] < t[r] or j <= r)]
            out.setdefault(f"account_count_{w}d", []).append(len(same))
            for k, name in enumerate(events.schema.numeric):
                present = [values[j, k] for j in same if not np.isnan(values[j, k])]  # missing numbers left out
                mean = sum(present) / max(len(present), 1)
                out.setdefault(f"account_mean_{name}_{w}d", []).append(mean)
            # the entity's events in (t - delay - w days, t - delay days]
            if ent[r] < 0:
                count, risk = 0, 0.0
            else:
                known = [j for j in range(len(events)) if ent[j] == ent[r]
                         and t[r] - (delay + w) * DAY < t[j] <= t[r] - delay * DAY]
                count, risk = len(known), sum(int(lab[j]) for j in known) / max(len(known), 1)
            out.setdefault(f"entity_count_{w}d", []).append(count)
            out.setdefault(f"entity_risk_{w}d", []).append(risk)
    return {k: np.asarray(v, dtype=np.float64) for k, v in out.items()}


@pytest.mark.parametrize("seed", [0, 1])
def test_window_features_match_brute_force(seed):
    events = random_events(seed)
    rng = np.random.default_rng(seed + 10)
    rows = np.concatenate([np.arange(len(events)), rng.integers(0, len(events), 10)])
    x, names = window_features(events, rows, windows=(1, 3), delay_days=2)
    assert x.shape == (len(rows), len(names))
    assert names[:7] == ["amount", "fee", "hour", "weekday", "weekend", "night", "channel"]
    assert names[7:] == [
        "account_count_1d", "account_mean_amount_1d", "account_mean_fee_1d",
        "account_count_3d", "account_mean_amount_3d", "account_mean_fee_3d",
        "entity_count_1d", "entity_risk_1d", "entity_count_3d", "entity_risk_3d",
    ]
    column = {name: x[:, j] for j, name in enumerate(names)}
    expected = brute_windows(events, rows, (1, 3), 2)
    for name, values in expected.items():
        np.testing.assert_allclose(column[name], values, rtol=1e-9, atol=1e-9, err_msg=name)
    # the brute force is not trivially zero: windows hold several events, some entities have risk
    assert expected["account_count_3d"].max() >= 3 and expected["entity_risk_3d"].max() > 0
    # the event's own fields
    np.testing.assert_array_equal(column["amount"], events.numeric[rows, 0])  # NaN kept
    seconds = events.time[rows] % DAY
    np.testing.assert_array_equal(column["hour"], seconds // 3600)
    weekday = (events.time[rows] // DAY + 3) % 7
    np.testing.assert_array_equal(column["weekday"], weekday)
    np.testing.assert_array_equal(column["weekend"], weekday >= 5)
    np.testing.assert_array_equal(column["night"], seconds < 6 * 3600)
    codes = {"atm": 0, "online": 1, "pos": 2}  # sorted values
    np.testing.assert_array_equal(column["channel"], [codes[v] for v in events.categorical[rows, 0]])


def test_window_features_by_hand():
    # account A: 2025-01-04 10:00 (Saturday), then 1 day later exactly, then 1 day + 1 s after the first;
    # terminal T0 all three; labels 1, 0, 0
    schema = EventSchema("account", "timestamp", ("amount",), (), "label", "terminal")
    time = np.array([T0 + 3 * DAY + 10 * HOUR, T0 + 4 * DAY + 10 * HOUR, T0 + 4 * DAY + 10 * HOUR + 1])
    events = Events(schema, np.zeros(3, dtype=np.int64), np.array(["A"]), time, np.array([[10.0], [20.0], [np.nan]]),
                    np.empty((3, 0), dtype=object), np.array([1, 0, 0], dtype=np.int8), np.zeros(3, dtype=np.int64),
                    np.array(["T0"]), None, np.array([2, 3, 4]))
    x, names = window_features(events, np.arange(3), windows=(1,), delay_days=1)
    f = {name: x[:, j].tolist() for j, name in enumerate(names)}
    assert f["weekday"] == [5, 6, 6] and f["weekend"] == [1, 1, 1] and f["hour"] == [10, 10, 10]
    # 1-day window (t - 1 day, t]: row 1 sits exactly one day after row 0, so row 0 is out
    assert f["account_count_1d"] == [1, 1, 2]
    # row 2: its own amount is missing, so the mean is that of row 1 alone: 20 / 1
    assert f["account_mean_amount_1d"] == [10.0, 20.0, 20.0]
    # entity, delay 1, window 1: (t - 2 days, t - 1 day]; row 1: row 0 is exactly at t - 1 day, in;
    # row 2: row 0 is at t - 1 day - 1 s, in; row 1 at t - 1 s, out
    assert f["entity_count_1d"] == [0, 1, 1]
    assert f["entity_risk_1d"] == [0.0, 1.0, 1.0]


def test_window_features_without_entity_or_labels():
    events = random_events(3)
    events.entity = events.entities = None
    _, names = window_features(events, np.arange(5), windows=(7,))
    assert not any(name.startswith("entity_") for name in names)
    assert "account_count_7d" in names


# ----------------------------------------------------------------------------- concat


def test_concat_merges_account_and_entity_codes(tmp_path):
    history = read_events(write_rows(tmp_path / "history.csv", [
        ["h1", "A", T0, 1, "pos", 1, "T9"],
        ["h2", "B", T0 + 60, 2, "atm", 0, "T1"],
    ]), FULL)
    new = read_events(write_rows(tmp_path / "new.csv", [
        ["n1", "C", T0 + DAY, 3, "pos", 0, "T1"],
        ["n2", "B", T0 + DAY + 60, 4, "online", 1, ""],
        ["n3", "A", T0 + DAY + 120, 5, "pos", 0, "T2"],
    ]), FULL)
    both, new_rows = history.concat(new)
    assert new_rows.tolist() == [2, 3, 4]
    assert len(both) == 5
    assert both.accounts.tolist() == ["A", "B", "C"]
    assert both.accounts[both.account].tolist() == ["A", "B", "C", "B", "A"]
    assert both.entities.tolist() == ["T1", "T2", "T9"]
    names = [both.entities[e] if e >= 0 else None for e in both.entity]
    assert names == ["T9", "T1", "T1", None, "T2"]
    assert both.ids.tolist() == ["h1", "h2", "n1", "n2", "n3"]
    assert both.label.tolist() == [1, 0, 0, 1, 0]
    assert both.numeric[:, 0].tolist() == [1, 2, 3, 4, 5]
    assert both.categorical[:, 0].tolist() == ["pos", "atm", "pos", "online", "pos"]
    assert both.lines.tolist() == [2, 3, 2, 3, 4]
    assert both.source == new.source
    # histories now run across the two files
    assert history_index(both.account, both.time, np.array([4]), 2).tolist() == [[-1, 0]]


def test_concat_puts_overlapping_files_in_time_order(tmp_path):
    history = read_events(write(tmp_path / "h.csv", f"account,timestamp\nA,{T0}\nA,{T0 + 20}\n"), EventSchema())
    new = read_events(write(tmp_path / "n.csv", f"account,timestamp\nA,{T0 + 10}\nA,{T0 + 20}\n"), EventSchema())
    both, new_rows = history.concat(new)
    assert both.time.tolist() == [T0, T0 + 10, T0 + 20, T0 + 20]  # on a tie the history's event comes first
    assert new_rows.tolist() == [1, 3]
    assert both.lines.tolist() == [2, 2, 3, 3]
    # without an id column events are named by line: the history's lines carry its file's name
    assert both.event_ids(np.arange(4)) == ["h.csv line 2", "line 2", "h.csv line 3", "line 3"]


def test_concat_needs_the_same_columns(tmp_path):
    path = write_rows(tmp_path / "a.csv", GOOD_ROWS)
    with pytest.raises(DataError, match="different columns"):
        read_events(path, FULL).concat(read_events(path, EventSchema(label="label")))


def test_concat_when_the_history_has_no_entity_values(tmp_path):
    history = read_events(write(tmp_path / "h.csv", f"account,timestamp,terminal\nA,{T0},\nB,{T0 + 1},\n"),
                          EventSchema(entity="terminal"))
    new = read_events(write(tmp_path / "n.csv", f"account,timestamp,terminal\nA,{T0 + 2},T1\nB,{T0 + 3},\n"),
                      EventSchema(entity="terminal"))
    assert history.entities.tolist() == [] and history.entity.tolist() == [-1, -1]
    both, new_rows = history.concat(new)
    assert new_rows.tolist() == [2, 3]
    assert both.entities.tolist() == ["T1"]
    assert both.entity.tolist() == [-1, -1, 0, -1]


def test_missing_column_when_scoring_names_what_the_model_was_trained_with(tmp_path):
    path = write_rows(tmp_path / "cols.csv", GOOD_ROWS)
    error = raises_data_error(path, EventSchema("card", "timestamp", (), (), "label"))  # as a bundle reads
    assert "no column 'card'" in str(error) and "the model was trained with --account-col card" in str(error)


@pytest.mark.parametrize("schema, fragment", [
    (dict(numeric=("label",), label="label"), "--label-col and --numeric name the same column 'label'"),
    (dict(categorical=("label",), label="label"), "--label-col and --categorical name the same column 'label'"),
    (dict(entity="account"), "--account-col and --entity-col name the same column 'account'"),
])
def test_a_column_in_two_roles_is_refused(schema, fragment):
    with pytest.raises(ConfigError, match=fragment):
        EventSchema(**schema)


@pytest.mark.parametrize("test_start", ["2030-01-01", "2024-12-01"])
def test_time_split_test_start_outside_the_data(ten_days, test_start):
    with pytest.raises(DataError) as info:
        time_split(ten_days, valid_days=2, gap_days=1, test_days=2, test_start=test_start)
    assert f"test start {test_start} is outside the data's days (2025-01-01 … 2025-01-10)" in str(info.value)
