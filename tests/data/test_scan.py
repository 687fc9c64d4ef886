"""Logs larger than memory: lazy scans give the same sequences as the in-memory reader."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from attnsight.data.cleaning import CleaningConfig, clean_interactions
from attnsight.data.readers import read_interactions, scan_interactions
from attnsight.data.sequences import build_sequences
from attnsight.errors import DataError


def _log(seed: int = 0, n: int = 600) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pl.DataFrame({
        "uid": [f"u{u}" for u in rng.integers(0, 40, n)],
        "sku": rng.integers(0, 60, n).astype(str),
        "ts": rng.integers(1_000, 1_200, n),  # narrow: ties and exact duplicates happen
    })
    return pl.concat([frame, frame.head(20)])  # 20 duplicate events at the end


def _sequences(interactions, config: CleaningConfig):
    clean, report = clean_interactions(interactions, config)
    sequences, vocab = build_sequences(clean)
    return sequences, vocab, report


def _same(a, b) -> None:
    (sa, va, ra), (sb, vb, rb) = a, b
    assert ra == rb
    assert sa.users == sb.users
    assert va.ids == vb.ids
    assert np.array_equal(sa.offsets, sb.offsets)
    assert np.array_equal(sa.items, sb.items)
    assert np.array_equal(sa.timestamps, sb.timestamps)


@pytest.mark.parametrize("fmt", ["csv", "tsv", "jsonl", "parquet"])
def test_a_scanned_log_gives_the_sequences_of_a_read_one(tmp_path: Path, fmt: str) -> None:
    frame = _log()
    path = tmp_path / f"log.{fmt}"
    {"csv": lambda: frame.write_csv(path), "tsv": lambda: frame.write_csv(path, separator="\t"),
     "jsonl": lambda: frame.write_ndjson(path), "parquet": lambda: frame.write_parquet(path)}[fmt]()
    config = CleaningConfig(min_user_events=5, min_item_events=11)
    read = read_interactions(path, user_col="uid", item_col="sku", time_col="ts")
    scanned = scan_interactions(path, user_col="uid", item_col="sku", time_col="ts")
    assert scanned.frame.schema["user"] == pl.UInt32  # codes, not strings
    result = _sequences(scanned, config)
    assert result[2].duplicates == 20 and result[2].dropped_by_item_filter > 0  # the comparison is not vacuous
    _same(_sequences(read, config), result)


def test_a_folder_or_glob_of_parquet_parts_with_integer_ids(tmp_path: Path) -> None:
    frame = _log(1).with_columns(pl.col("uid").str.slice(1).cast(pl.Int64), pl.col("sku").cast(pl.Int64))
    parts = tmp_path / "parts"
    parts.mkdir()
    for i, part in enumerate(frame.iter_slices(200)):
        part.write_parquet(parts / f"part-{i}.parquet")
    frame.write_csv(tmp_path / "whole.csv")
    expected = _sequences(read_interactions(tmp_path / "whole.csv", user_col="uid", item_col="sku", time_col="ts"),
                          CleaningConfig())
    for path in (parts, parts / "part-*.parquet"):
        _same(expected, _sequences(scan_interactions(path, user_col="uid", item_col="sku", time_col="ts"),
                                   CleaningConfig()))


def test_parts_that_are_missing_or_disagree_on_a_type_are_named(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="empty: no .parquet file in this folder"):
        scan_interactions(tmp_path / "empty")
    with pytest.raises(DataError, match=r"nomatch/\*.parquet: matches no file"):
        scan_interactions(tmp_path / "nomatch" / "*.parquet")
    parts = tmp_path / "parts"
    parts.mkdir()
    pl.DataFrame({"user": ["a"], "item": ["x"], "timestamp": [1]}).write_parquet(parts / "a.parquet")
    pl.DataFrame({"user": ["b"], "item": ["y"], "timestamp": ["later"]}).write_parquet(parts / "b.parquet")
    for path in (parts, parts / "*.parquet"):
        with pytest.raises(DataError, match=r"b.parquet, column 'timestamp': String values here, Int64 in a.parquet"):
            scan_interactions(path)
    assert scan_interactions(parts, time_col=None).frame.height == 2  # a column not read may differ


def test_dates_and_no_timestamp(tmp_path: Path) -> None:
    frame = pl.DataFrame({"user": ["a", "a", "b", "b", "a"], "item": ["x", "y", "x", "z", "z"],
                          "when": pl.Series([3000, 1000, 2000, 5000, 2000]).cast(pl.Datetime("ms"))})
    frame.write_parquet(tmp_path / "dated.parquet")
    seqs, vocab = build_sequences(scan_interactions(tmp_path / "dated.parquet", time_col="when"))
    assert seqs.users == ["a", "b"]
    assert vocab.decode(seqs[0]) == ["y", "z", "x"]  # by time, not by file order
    seqs, vocab = build_sequences(scan_interactions(tmp_path / "dated.parquet", time_col=None))
    assert vocab.decode(seqs[0]) == ["x", "y", "z"] and seqs.timestamps is None  # file order


def test_iso_dates_and_blank_lines_of_a_csv_scan_as_they_read(tmp_path: Path) -> None:
    frame = _log(2).with_columns(pl.from_epoch(pl.col("ts") * 3600).dt.strftime("%Y-%m-%dT%H:%M:%S"))
    lines = frame.write_csv().split("\n")
    path = tmp_path / "dated.csv"
    path.write_text("\n".join(lines[:100] + ["", "  "] + lines[100:]))  # blank lines among the rows
    read = read_interactions(path, user_col="uid", item_col="sku", time_col="ts")
    scanned = scan_interactions(path, user_col="uid", item_col="sku", time_col="ts")
    assert len(scanned) == len(read) == frame.height
    _same(_sequences(read, CleaningConfig()), _sequences(scanned, CleaningConfig()))


def test_a_csv_whose_types_change_past_the_first_rows_scans_as_it_reads(tmp_path: Path) -> None:
    # past any schema-inference window: integer-looking ids with leading zeros, then letters; integer
    # ratings, then a half star; integer timestamps, then an ISO date
    n = 12_000
    rows = [f"{u:05d},{i:010d},{1_000 + k},{1 + k % 5}" for k, (u, i) in enumerate(
        zip(np.arange(n) % 97, np.arange(n) % 301))]
    rows[11_000] = "U-late,B00LATE,2020-01-01,3.5"
    rows[11_001] = "U-late,0000000007,2020-01-02T10:00:00,4"
    path = tmp_path / "log.csv"
    path.write_text("user,item,timestamp,rating\n" + "\n".join(rows) + "\n")
    read, scanned = read_interactions(path), scan_interactions(path)
    assert "00001" in scanned.user_ids and "B00LATE" in scanned.item_ids and "0000000007" in scanned.item_ids
    assert scanned.frame["rating"].max() == 5.0 and 3.5 in scanned.frame["rating"].to_list()
    assert scanned.frame["timestamp"].max() == 1_577_959_200  # 2020-01-02T10:00:00
    _same(_sequences(read, CleaningConfig()), _sequences(scanned, CleaningConfig()))


def test_a_jsonl_whose_types_change_past_the_first_lines_scans_as_it_reads(tmp_path: Path) -> None:
    lines = [{"user": k % 7, "item": k % 11, "ts": 1_000 + k, "stars": 4, "note": 1} for k in range(300)]
    lines[250] |= {"user": "u-late", "stars": 4.5, "note": "an unused field changes type too"}
    lines[260] |= {"ts": "2020-01-01 10:00:00"}
    path = tmp_path / "log.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    read = read_interactions(path, time_col="ts", rating_col="stars")
    scanned = scan_interactions(path, time_col="ts", rating_col="stars")
    assert "u-late" in scanned.user_ids and scanned.frame["timestamp"].max() == 1_577_872_800
    assert 4.5 in scanned.frame["rating"].to_list()
    _same(_sequences(read, CleaningConfig()), _sequences(scanned, CleaningConfig()))


@pytest.mark.parametrize("written, seconds", [
    ("1735812000", 1735812000), ("1735812000.9", 1735812000), ("2025-01-02", 1735776000),
    ("2025-01-02 10:00", 1735812000), ("2025-01-02T10:00:00.250", 1735812000), ("2025-01-02T10:00:00Z", 1735812000),
    ("2025-01-02T12:00:00+02:00", 1735812000), ("2025-01-02 05:00:00.5-0500", 1735812000),
    ("2025-01-02T11:00+01:00", 1735812000),
])
def test_timestamps_read_and_scan_as_the_same_seconds(tmp_path: Path, written: str, seconds: int) -> None:
    path = tmp_path / "log.csv"
    path.write_text(f"user,item,timestamp\nu1,i1,1000\nu1,i2,{written}\n")
    for reader in (read_interactions, scan_interactions):
        assert reader(path).frame["timestamp"].to_list() == [1000, seconds], reader.__name__
    if "." in written and "-" not in written:  # decimal seconds in a typed column: floored too
        pl.DataFrame({"user": ["u1", "u1"], "item": ["i1", "i2"], "timestamp": [-0.5, float(written)]}) \
            .write_parquet(tmp_path / "log.parquet")
        for reader in (read_interactions, scan_interactions):
            assert reader(tmp_path / "log.parquet").frame["timestamp"].to_list() == [-1, seconds], reader.__name__


@pytest.mark.parametrize("written", ["01/02/2025", "2025/01/02", "Jan 2 2025", "nan", "inf", "2025-13-01"])
def test_timestamps_neither_numbers_nor_iso_dates_are_refused_by_both_readers(tmp_path: Path, written: str) -> None:
    path = tmp_path / "log.csv"
    path.write_text(f"user,item,timestamp\nu1,i1,1000\nu1,i2,{written}\n")
    with pytest.raises(DataError, match=rf"line 3, column 'timestamp': not a number or ISO 8601 date: '{written}'"):
        read_interactions(path)
    with pytest.raises(DataError, match=rf"row 2, column 'timestamp': not a number or ISO 8601 date: '{written}'"):
        scan_interactions(path)


def test_errors_name_the_row(tmp_path: Path) -> None:
    good = "\n".join(f"u{i % 7},i{i % 11},{1000 + i},{1 + i % 5}" for i in range(40))
    for bad, where in ((",i1,1,1", "row 30, column 'user': empty id$"),
                       ("u1, ,1,1", "row 30, column 'item': empty id$"),
                       ("u1,i1,soon,1", "row 30, column 'timestamp': not a number or ISO 8601 date: 'soon'"),
                       ("u1,i1,,1", "row 30, column 'timestamp': missing timestamp"),
                       ("u1,i1,1,good", "row 30, column 'rating': not a number: 'good'")):
        rows = good.split("\n")
        rows.insert(29, bad)
        path = tmp_path / "log.csv"
        path.write_text("user,item,timestamp,rating\n" + "\n".join(rows) + "\n")
        with pytest.raises(DataError, match=rf"log\.csv, {where}"):
            scan_interactions(path)
    pl.DataFrame({"user": ["a", "b", "c"], "item": ["x", "y", "z"], "timestamp": ["1", "2", "later"]}) \
        .write_ndjson(tmp_path / "log.jsonl")
    with pytest.raises(DataError, match=r"log\.jsonl, row 3, column 'timestamp': not a number or ISO 8601 date: 'later'"):
        scan_interactions(tmp_path / "log.jsonl")


@pytest.mark.parametrize("fmt, lines, where", [
    ("csv", ["u1,i1,1", "u1,i2,2,9"], "line 3: 4 fields where the header has 3"),
    ("csv", ["u1,i1,1", '"u\n1",i2,2', "u1,i3,3,4"], "line 5: 4 fields where the header has 3"),  # a quoted newline
    ("csv", ["u1,i1,1", "caf\xe9,i2,2"], r"line 3: not valid utf-8 \(byte 0xe9\)"),
    ("jsonl", ['{"user": "u1", "item": "i1", "timestamp": 1}', '{"user": "u1", "item": '],
     "line 3: not JSON: Expecting value at character 25"),
])
def test_lines_a_scan_cannot_read_are_named(tmp_path: Path, fmt: str, lines: list[str], where: str) -> None:
    path = tmp_path / f"log.{fmt}"
    header = [] if fmt == "jsonl" else ["user,item,timestamp"]
    rows = [line.encode("latin-1") for line in header + lines]
    if fmt == "jsonl":
        rows.insert(0, b'{"user": "u0", "item": "i0", "timestamp": 0}')
    path.write_bytes(b"\n".join(rows) + b"\n")
    with pytest.raises(DataError, match=rf"log\.{fmt}, {where}"):
        scan_interactions(path)


@pytest.mark.parametrize("fmt, bom, fragment", [
    ("csv", "\ufeff".encode("utf-16-le"), "is UTF-16 .* --stream reads UTF-8 only"),
    ("jsonl", "\ufeff".encode("utf-8"), "starts with a byte-order mark, which polars' JSON scan cannot read"),
])
def test_byte_order_marks_a_scan_cannot_read_are_named(tmp_path: Path, fmt: str, bom: bytes, fragment: str) -> None:
    path = tmp_path / f"log.{fmt}"
    text = "user,item\nu1,i1\n" if fmt == "csv" else '{"user": "u1", "item": "i1"}\n'
    path.write_bytes(bom + text.encode("utf-16-le" if fmt == "csv" else "utf-8"))
    with pytest.raises(DataError, match=fragment):
        scan_interactions(path)
    assert len(read_interactions(path)) == 1  # the in-memory reader reads both


def test_errors_name_the_file_and_column(tmp_path: Path) -> None:
    _log().write_parquet(tmp_path / "log.parquet")
    with pytest.raises(DataError, match=r"log\.parquet.*no user column 'user'.*uid, sku, ts"):
        scan_interactions(tmp_path / "log.parquet")
    with pytest.raises(DataError, match="no such file"):
        scan_interactions(tmp_path / "missing.parquet")
    pl.DataFrame({"user": ["a"], "item": ["b"], "timestamp": ["yesterday"]}).write_csv(tmp_path / "t.csv")
    with pytest.raises(DataError, match=r"t\.csv, row 1, column 'timestamp': not a number or ISO 8601 date: 'yesterday'"):
        scan_interactions(tmp_path / "t.csv")
    pl.DataFrame({"user": ["a", None], "item": ["b", "c"]}).write_parquet(tmp_path / "null.parquet")
    with pytest.raises(DataError, match=r"null\.parquet, row 2, column 'user': empty id"):
        scan_interactions(tmp_path / "null.parquet")
    (tmp_path / "log.csv.gz").write_bytes(b"\x1f\x8b")
    with pytest.raises(DataError, match="uncompressed"):
        scan_interactions(tmp_path / "log.csv.gz")
