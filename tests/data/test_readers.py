"""read_interactions: every format, auto-detection, exact ids, and errors that say where."""

from __future__ import annotations

import gzip
import re
from pathlib import Path

import polars as pl
import pytest

from attnsight.data.readers import (
    Interactions,
    detect_format,
    interactions_from_frame,
    read_interactions,
    read_table,
    scan_interactions,
)
from attnsight.errors import AttnsightError, DataError

JAN_1_2024 = 1_704_067_200  # 2024-01-01T00:00:00Z


def write(path: Path, content: str | bytes) -> Path:
    path.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
    return path


def rows(interactions: Interactions) -> list[dict]:
    return interactions.frame.to_dicts()


def raises_data_error(path: Path, **kwargs) -> DataError:
    with pytest.raises(DataError) as info:
        read_interactions(path, **kwargs)
    error = info.value
    assert isinstance(error, AttnsightError)
    assert str(path) in str(error)  # every message names the file
    return error


# ----------------------------------------------------------------------------- formats


def test_csv_with_timestamp_and_rating(tmp_path):
    data = read_interactions(write(tmp_path / "log.csv", "user,item,timestamp,rating\n007,i1,10,4.5\n007,i2,11,3\n8,i1,12,1\n"))
    assert data.frame.columns == ["user", "item", "timestamp", "rating"]
    assert data.frame.schema == {"user": pl.String, "item": pl.String, "timestamp": pl.Int64, "rating": pl.Float64}
    assert rows(data) == [
        {"user": "007", "item": "i1", "timestamp": 10, "rating": 4.5},
        {"user": "007", "item": "i2", "timestamp": 11, "rating": 3.0},
        {"user": "8", "item": "i1", "timestamp": 12, "rating": 1.0},
    ]
    assert data.has_timestamp and data.has_rating and len(data) == 3
    assert data.source == str(tmp_path / "log.csv")


def test_csv_without_optional_columns(tmp_path):
    data = read_interactions(write(tmp_path / "log.csv", "user,item\nu1,a\nu1,b\n"))
    assert rows(data) == [{"user": "u1", "item": "a"}, {"user": "u1", "item": "b"}]
    assert not data.has_timestamp and not data.has_rating


def test_tsv(tmp_path):
    data = read_interactions(write(tmp_path / "log.tsv", "user\titem\ttimestamp\n007\tx y\t5\n"))
    assert rows(data) == [{"user": "007", "item": "x y", "timestamp": 5}]


def test_jsonl_ids_stay_strings(tmp_path):
    text = '{"user": "007", "item": "a", "timestamp": 5, "rating": 2}\n{"user": 7, "item": 12, "timestamp": 6, "rating": 3.5}\n'
    data = read_interactions(write(tmp_path / "log.jsonl", text))
    assert rows(data) == [
        {"user": "007", "item": "a", "timestamp": 5, "rating": 2.0},
        {"user": "7", "item": "12", "timestamp": 6, "rating": 3.5},
    ]


def test_parquet(tmp_path):
    path = tmp_path / "log.parquet"
    pl.DataFrame({"user": ["007", "8"], "item": ["a", "b"], "timestamp": [3, 4], "rating": [1.5, 2.0]}).write_parquet(path)
    data = read_interactions(path)
    assert rows(data) == [
        {"user": "007", "item": "a", "timestamp": 3, "rating": 1.5},
        {"user": "8", "item": "b", "timestamp": 4, "rating": 2.0},
    ]
    assert data.frame.schema["timestamp"] == pl.Int64


def test_parquet_integer_ids_and_datetime_column(tmp_path):
    from datetime import datetime

    path = tmp_path / "log.pq"
    pl.DataFrame({"user": [7, 8], "item": [1, 2], "timestamp": [datetime(2024, 1, 1), datetime(2024, 1, 2)]}).write_parquet(path)
    assert rows(read_interactions(path)) == [
        {"user": "7", "item": "1", "timestamp": JAN_1_2024},
        {"user": "8", "item": "2", "timestamp": JAN_1_2024 + 86_400},
    ]


def test_movielens_dat(tmp_path):
    data = read_interactions(write(tmp_path / "ratings.dat", "1::1193::5::978300760\n1::661::3::978302109\n007::42::4.5::978301968\n"))
    assert rows(data) == [
        {"user": "1", "item": "1193", "rating": 5.0, "timestamp": 978300760},
        {"user": "1", "item": "661", "rating": 3.0, "timestamp": 978302109},
        {"user": "007", "item": "42", "rating": 4.5, "timestamp": 978301968},
    ]


def test_dat_without_timestamp(tmp_path):
    data = read_interactions(write(tmp_path / "r.dat", "1::10::4\n2::20::5\n"))
    assert rows(data) == [{"user": "1", "item": "10", "rating": 4.0}, {"user": "2", "item": "20", "rating": 5.0}]
    assert not data.has_timestamp


def test_pairs_with_and_without_timestamps(tmp_path):
    timed = read_interactions(write(tmp_path / "p.txt", "007 a 10\n007 b 11\nu2 a 2024-01-01\n"), format="pairs")
    assert rows(timed) == [
        {"user": "007", "item": "a", "timestamp": 10},
        {"user": "007", "item": "b", "timestamp": 11},
        {"user": "u2", "item": "a", "timestamp": JAN_1_2024},
    ]
    plain = read_interactions(write(tmp_path / "q.txt", "007 a\n007 b\n"), format="pairs")
    assert rows(plain) == [{"user": "007", "item": "a"}, {"user": "007", "item": "b"}]


def test_sequences_user_is_line_number(tmp_path):
    data = read_interactions(write(tmp_path / "s.txt", "a b c\n\nd 007\n"), format="sequences")
    assert rows(data) == [
        {"user": "1", "item": "a"}, {"user": "1", "item": "b"}, {"user": "1", "item": "c"},
        {"user": "3", "item": "d"}, {"user": "3", "item": "007"},
    ]


def test_gzip_csv(tmp_path):
    path = write(tmp_path / "log.csv.gz", gzip.compress(b"user,item,timestamp\n007,a,1\n007,b,2\n"))
    assert detect_format(path) == "csv"
    assert rows(read_interactions(path)) == [
        {"user": "007", "item": "a", "timestamp": 1}, {"user": "007", "item": "b", "timestamp": 2},
    ]


def test_gzip_with_a_corrupt_body_and_a_gz_that_is_not_gzip(tmp_path):
    with pytest.raises(DataError, match="corrupt gzip data"):
        read_interactions(write(tmp_path / "bad.csv.gz", b"\x1f\x8b\x08\x00garbagegarbage"))
    with pytest.raises(DataError, match="named .gz but not gzip data"):
        read_interactions(write(tmp_path / "plain.csv.gz", "user,item\n1,a\n"))


@pytest.mark.parametrize("name", ["lists.parquet", "lists.jsonl"])
def test_a_column_of_lists_is_named_not_cast(tmp_path, name):
    frame = pl.DataFrame({"user": ["1", "2"], "item": [["a", "b"], ["c"]]})
    path = tmp_path / name
    frame.write_parquet(path) if name.endswith("parquet") else frame.write_ndjson(path)
    with pytest.raises(DataError, match=r"column 'item': holds List\(String\) values, not one value per row"):
        read_interactions(path)


def test_a_list_or_record_on_some_jsonl_lines_of_a_column_read_is_named_by_line(tmp_path):
    # polars reads such a column as text, writing the list as JSON: it would pass for an id or a text
    lines = ['{"user": "1", "item": "a"}', "", '{"user": "[2]", "item": "b", "meta": ["x"]}',
             '{"user": "2", "item": ["c", "d"]}']
    error = raises_data_error(write(tmp_path / "log.jsonl", "\n".join(lines) + "\n"))
    assert (error.line, error.column, error.message) == (4, "item", "holds a list, not a single value")
    with pytest.raises(DataError) as scanned:  # --stream finds it too
        scan_interactions(tmp_path / "log.jsonl")
    assert (scanned.value.line, scanned.value.column) == (4, "item")
    lines[3] = '{"user": {"id": 2}, "item": "c"}'
    error = raises_data_error(write(tmp_path / "log.jsonl", "\n".join(lines) + "\n"))
    assert (error.line, error.column, error.message) == (4, "user", "holds a record, not a single value")
    lines[3] = '{"user": "2", "item": "c", "meta": "y"}'  # "[2]" is an id; the list in meta is not read
    assert rows(read_interactions(write(tmp_path / "log.jsonl", "\n".join(lines) + "\n")))[1] == {"user": "[2]",
                                                                                                 "item": "b"}


@pytest.mark.parametrize("name", ["meta.parquet", "meta.jsonl"])
def test_lists_and_records_in_a_column_not_read_are_no_error(tmp_path, name):
    frame = pl.DataFrame({"user": ["1", "2"], "item": ["a", "b"], "tags": [["x"], None],
                          "meta": [{"source": "app"}, {"source": "web"}]})
    path = tmp_path / name
    frame.write_parquet(path) if name.endswith("parquet") else frame.write_ndjson(path)
    assert rows(read_interactions(path)) == [{"user": "1", "item": "a"}, {"user": "2", "item": "b"}]
    table, _ = read_table(path, name.split(".")[1], used=())
    assert table["tags"].to_list() == ['["x"]', None] and table["meta"].to_list() == ['{"source": "app"}',
                                                                                     '{"source": "web"}']


def test_gzip_sequences(tmp_path):
    path = write(tmp_path / "seqs.txt.gz", gzip.compress(b"a b c d\ne f g h i\n"))
    assert detect_format(path) == "sequences"
    data = read_interactions(path)
    assert data.frame["user"].to_list() == ["1"] * 4 + ["2"] * 5
    assert data.frame["item"].to_list() == list("abcdefghi")


# ----------------------------------------------------------------------------- detection


@pytest.mark.parametrize(
    ("name", "expected"),
    [("a.csv", "csv"), ("a.tsv", "tsv"), ("a.jsonl", "jsonl"), ("a.ndjson", "jsonl"), ("a.json", "jsonl"),
     ("a.parquet", "parquet"), ("a.pq", "parquet"), ("a.dat", "dat"), ("a.CSV", "csv"), ("a.tsv.gz", "tsv")],
)
def test_detect_format_from_extension(tmp_path, name, expected):
    # the content would sniff as something else: the extension wins
    assert detect_format(write(tmp_path / name, "x y z w v\n")) == expected


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("u1 i1 100\nu1 i2 101\nu2 i1 102\n", "pairs"),
        ("u1 i1\nu2 i2\n", "pairs"),
        ("u1 i1 2024-01-01\nu2 i2 2024-01-02T10:00:00\n", "pairs"),
        ("a b c d\ne f\ng h i j k\n", "sequences"),
        ("a b c\nd e f\n", "sequences"),  # three items per line, none a time
        ("1::2::5::100\n1::3::4::101\n", "dat"),
    ],
)
def test_sniffing_txt(tmp_path, content, expected):
    path = write(tmp_path / "log.txt", content)
    assert detect_format(path) == expected
    assert len(read_interactions(path)) > 0


def test_auto_reads_sniffed_pairs_and_dat(tmp_path):
    pairs = read_interactions(write(tmp_path / "p.txt", "007 a 5\n008 b 6\n"))
    assert rows(pairs) == [{"user": "007", "item": "a", "timestamp": 5}, {"user": "008", "item": "b", "timestamp": 6}]
    dat = read_interactions(write(tmp_path / "d.txt", "007::a::3::5\n"))
    assert rows(dat) == [{"user": "007", "item": "a", "rating": 3.0, "timestamp": 5}]


def test_explicit_format_overrides_extension(tmp_path):
    path = write(tmp_path / "log.csv", "user\titem\n007\ta,b\n")  # tab-separated despite the name
    assert rows(read_interactions(path, format="tsv")) == [{"user": "007", "item": "a,b"}]
    lines = write(tmp_path / "log.data", "u1 i1 5\nu1 i2 6\n")
    assert rows(read_interactions(lines, format="sequences"))[:3] == [
        {"user": "1", "item": "u1"}, {"user": "1", "item": "i1"}, {"user": "1", "item": "5"},
    ]


# ----------------------------------------------------------------------------- values


def test_ids_stay_exact_strings(tmp_path):
    data = read_interactions(write(tmp_path / "log.csv", "user,item\n007,0010\n7,10\n 007 , 1.0 \n"))
    assert data.frame["user"].to_list() == ["007", "7", "007"]
    assert data.frame["item"].to_list() == ["0010", "10", "1.0"]


def test_iso_dates_and_datetimes(tmp_path):
    text = "user,item,timestamp\nu,a,2024-01-01\nu,b,2024-01-01T10:00:00\nu,c,2024-01-02 00:00:01\n"
    data = read_interactions(write(tmp_path / "log.csv", text))
    assert data.frame["timestamp"].to_list() == [JAN_1_2024, JAN_1_2024 + 36_000, JAN_1_2024 + 86_401]


def test_integer_timestamps_stay_as_given(tmp_path):
    data = read_interactions(write(tmp_path / "log.csv", "user,item,timestamp\nu,a,1700000000\nu,b,-3\nu,c,0\n"))
    assert data.frame["timestamp"].to_list() == [1_700_000_000, -3, 0]


def test_custom_columns(tmp_path):
    text = "visitor,product,when,stars,other\n007,p1,5,4,x\n008,p2,6,2,y\n"
    data = read_interactions(write(tmp_path / "log.csv", text), user_col="visitor", item_col="product",
                             time_col="when", rating_col="stars")
    assert rows(data) == [
        {"user": "007", "item": "p1", "timestamp": 5, "rating": 4.0},
        {"user": "008", "item": "p2", "timestamp": 6, "rating": 2.0},
    ]


def test_time_and_rating_columns_can_be_ignored(tmp_path):
    path = write(tmp_path / "log.csv", "user,item,timestamp,rating\nu,a,junk,junk\n")
    data = read_interactions(path, time_col=None, rating_col=None)
    assert data.frame.columns == ["user", "item"]


def test_blank_lines_are_skipped_in_tables(tmp_path):
    data = read_interactions(write(tmp_path / "log.csv", "user,item\nu,a\n\nu,b\n\n\n"))
    assert rows(data) == [{"user": "u", "item": "a"}, {"user": "u", "item": "b"}]
    error = raises_data_error(write(tmp_path / "bad.csv", "user,item,timestamp\n\nu,a,1\n\nu,b,x\n"))
    assert error.line == 5 and error.column == "timestamp"
    error = raises_data_error(write(tmp_path / "bad.jsonl", '{"user":"u","item":"a","timestamp":1}\n\n{"user":"u","item":"a","timestamp":"x"}\n'))
    assert error.line == 3 and "line 3" in str(error)


@pytest.mark.parametrize("value", ["1e30", "9223372036854775808", "-1e19"])
def test_a_numeric_timestamp_beyond_int64_is_a_bad_value_for_both_readers(tmp_path, value):
    path = write(tmp_path / "log.csv", f"user,item,timestamp\nu,a,1\nu,b,{value}\n")
    error = raises_data_error(path)
    assert (error.line, error.column) == (3, "timestamp") and "not a number or ISO 8601 date" in error.message
    with pytest.raises(DataError) as scanned:
        scan_interactions(path)
    assert (scanned.value.row, scanned.value.column) == (2, "timestamp")


def test_a_row_of_empty_fields_is_skipped_by_both_readers(tmp_path):
    # spreadsheets export empty rows as ",,"; a row with any value is read (and its empty id refused)
    path = write(tmp_path / "log.csv", "user,item,timestamp\nu,a,1\n,,\n ,,\nu,b,2\n")
    expected = [{"user": "u", "item": "a", "timestamp": 1}, {"user": "u", "item": "b", "timestamp": 2}]
    assert rows(read_interactions(path)) == expected
    scanned = scan_interactions(path)
    assert scanned.frame["timestamp"].to_list() == [1, 2] and scanned.user_ids == ["u"]
    error = raises_data_error(write(tmp_path / "bad.csv", "user,item,timestamp\n,,\nu,a,1\n,,3\nu,b,x\n"))
    assert (error.line, error.column, error.message) == (4, "user", "empty id")
    error = raises_data_error(write(tmp_path / "late.csv", "user,item,timestamp\n,,\nu,a,1\nu,b,x\n"))
    assert error.line == 4 and error.column == "timestamp"  # lines counted past the skipped row


def test_bom_and_crlf(tmp_path):
    data = read_interactions(write(tmp_path / "log.csv", "\ufeffuser,item,timestamp\r\nu,a,1\r\nu,b,2\r\n"))
    assert rows(data) == [{"user": "u", "item": "a", "timestamp": 1}, {"user": "u", "item": "b", "timestamp": 2}]


# ----------------------------------------------------------------------------- errors


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-be", "utf-32"])
def test_a_utf16_or_utf32_file_is_known_by_its_byte_order_mark(tmp_path, encoding):
    text = "user,item,timestamp\ncafé,i1,1\nzoë,i2,2\n"
    bom = "\ufeff" if encoding.endswith("-be") else ""  # "utf-16"/"utf-32" write their own mark
    path = tmp_path / "log.csv"
    path.write_bytes((bom + text).encode(encoding))
    for given in ("utf-8", "auto"):  # the default, and the side tables' UTF-8-else-Latin-1
        assert read_interactions(path, encoding=given).frame["user"].to_list() == ["café", "zoë"]
    with pytest.raises(DataError, match="no user column"):  # an encoding given on purpose is obeyed
        read_interactions(path, encoding="latin-1")


def test_a_header_that_names_a_column_twice_is_refused_by_both_readers(tmp_path):
    path = write(tmp_path / "log.csv", "\nuser,item,item,timestamp\nu1,i1,i9,1\n")
    for reader in (read_interactions, scan_interactions):
        with pytest.raises(DataError, match=r"log\.csv, line 2: the header names column 'item' twice"):
            reader(path)


def test_lines_are_counted_across_quoted_newlines(tmp_path):
    path = write(tmp_path / "log.csv", 'user,item,timestamp\nu1,"i\n1",1\n\nu1,"i2",x\n')
    with pytest.raises(DataError, match=r"log\.csv, line 5, column 'timestamp': not a number or ISO 8601 date: 'x'"):
        read_interactions(path)


def test_missing_file(tmp_path):
    error = raises_data_error(tmp_path / "nope.csv")
    assert "no such file" in str(error)


def test_directory(tmp_path):
    (tmp_path / "folder").mkdir()
    error = raises_data_error(tmp_path / "folder")
    assert "directory" in str(error)


def test_misnamed_user_column_lists_columns(tmp_path):
    error = raises_data_error(write(tmp_path / "log.csv", "visitor,item,ts\n1,a,1\n"))
    message = str(error)
    assert "'user'" in message and "visitor, item, ts" in message and "--user-col" in message


def test_misnamed_item_column_lists_columns(tmp_path):
    error = raises_data_error(write(tmp_path / "log.csv", "user,product\n1,a\n"), item_col="sku")
    message = str(error)
    assert "'sku'" in message and "user, product" in message and "--item-col" in message


def test_bad_timestamp_names_line_and_column(tmp_path):
    path = write(tmp_path / "log.csv", "user,item,timestamp\nu,a,1\nu,b,yesterday\nu,c,3\n")
    error = raises_data_error(path)
    assert "line 3" in str(error) and "column 'timestamp'" in str(error) and "yesterday" in str(error)
    assert (error.line, error.column) == (3, "timestamp")


def test_bad_timestamp_in_custom_column(tmp_path):
    error = raises_data_error(write(tmp_path / "log.csv", "user,item,when\nu,a,1\nu,b,2\nu,c,3\nu,d,?\n"), time_col="when")
    assert (error.line, error.column) == (5, "when")


def test_missing_timestamp(tmp_path):
    error = raises_data_error(write(tmp_path / "log.csv", "user,item,timestamp\nu,a,1\nu,b,\n"))
    assert (error.line, error.column) == (3, "timestamp")


def test_bad_rating(tmp_path):
    error = raises_data_error(write(tmp_path / "log.csv", "user,item,rating\nu,a,5\nu,b,4\nu,c,five\n"))
    assert "line 4" in str(error) and "column 'rating'" in str(error) and "five" in str(error)


def test_bad_timestamp_in_jsonl(tmp_path):
    text = '{"user":"u","item":"a","timestamp":1}\n{"user":"u","item":"b","timestamp":"soon"}\n'
    error = raises_data_error(write(tmp_path / "log.jsonl", text))
    assert (error.line, error.column) == (2, "timestamp")


def test_bad_pairs_timestamp(tmp_path):
    error = raises_data_error(write(tmp_path / "log.txt", "u a 1\nu b 2\nu c later\n"), format="pairs")
    assert error.line == 3 and "later" in str(error)


def test_bad_dat_rating(tmp_path):
    error = raises_data_error(write(tmp_path / "r.dat", "1::2::5::10\n1::3::x::11\n"))
    assert error.line == 2 and "'x'" in str(error)


@pytest.mark.parametrize(("user", "item", "column"), [("", "a", "user"), ("u", "", "item"), ("  ", "a", "user")])
def test_empty_id(tmp_path, user, item, column):
    error = raises_data_error(write(tmp_path / "log.csv", f"user,item\nu,x\n{user},{item}\n"))
    assert (error.line, error.column) == (3, column)
    assert "empty id" in str(error) and "line 3" in str(error)


@pytest.mark.parametrize("content", ["", "\n\n  \n"])
def test_empty_file(tmp_path, content):
    error = raises_data_error(write(tmp_path / "log.csv", content))
    assert "empty" in str(error)


@pytest.mark.parametrize("name", ["log.csv", "log.tsv"])
def test_header_only(tmp_path, name):
    error = raises_data_error(write(tmp_path / name, "user,item,timestamp\n" if name.endswith("csv") else "user\titem\n"))
    assert "no rows" in str(error)


def test_invalid_utf8_then_latin1(tmp_path):
    path = write(tmp_path / "log.csv", "user,item\nu,a\nu,caf\xe9\n".encode("latin-1"))
    error = raises_data_error(path)
    assert "line 3" in str(error) and error.line == 3
    assert "--encoding" in str(error)
    data = read_interactions(path, encoding="latin-1")
    assert data.frame["item"].to_list() == ["a", "café"]


def test_unknown_encoding(tmp_path):
    error = raises_data_error(write(tmp_path / "log.csv", "user,item\nu,a\n"), encoding="no-such-codec")
    assert "no-such-codec" in str(error)


def test_dat_line_with_one_field(tmp_path):
    error = raises_data_error(write(tmp_path / "r.dat", "1::2::5::10\n1::3::4::11\n42\n"))
    assert error.line == 3 and "line 3" in str(error) and "'42'" in str(error)


def test_pairs_line_with_one_field(tmp_path):
    error = raises_data_error(write(tmp_path / "p.txt", "u a\nlonely\n"), format="pairs")
    assert error.line == 2


def test_unknown_format(tmp_path):
    error = raises_data_error(write(tmp_path / "log.csv", "user,item\nu,a\n"), format="xlsx")
    assert "unknown format 'xlsx'" in str(error) and "sequences" in str(error)


def test_too_many_fields_names_line(tmp_path):
    error = raises_data_error(write(tmp_path / "log.csv", "user,item\nu,a\nu,b\nu,c,extra\n"))
    assert error.line == 4 and "cannot parse as csv" in str(error)


def test_invalid_json_names_line(tmp_path):
    error = raises_data_error(write(tmp_path / "log.jsonl", '{"user":"u","item":"a"}\n{"user":"u",\n'))
    assert error.line == 2 and "cannot parse as jsonl" in str(error)


def test_corrupt_gzip(tmp_path):
    error = raises_data_error(write(tmp_path / "log.csv.gz", b"\x1f\x8b" + b"garbage"))
    assert "gzip" in str(error)


def test_corrupt_parquet(tmp_path):
    error = raises_data_error(write(tmp_path / "log.parquet", b"not a parquet file"))
    assert "parquet" in str(error)


# ----------------------------------------------------------------------------- a log in memory


def test_a_frame_in_memory_is_parsed_as_a_file_is():
    import datetime as dt

    text_times = interactions_from_frame(pl.DataFrame({"user": [7, 7], "item": ["a", "b"], "timestamp": ["99999", "5"]}))
    assert text_times.frame.rows() == [("7", "a", 99999), ("7", "b", 5)]  # numbers, not text order
    iso = interactions_from_frame(pl.DataFrame({"user": ["u", "u"], "item": ["a", "b"],
                                                "timestamp": ["2025-01-01", "2025-01-01T02:00:00+02:00"]}))
    assert iso.frame["timestamp"].to_list() == [1735689600, 1735689600]
    dates = interactions_from_frame(pl.DataFrame({"user": ["u"], "item": ["a"], "timestamp": [dt.date(2025, 1, 2)],
                                                  "rating": [4.5]}))
    assert dates.frame.rows() == [("u", "a", 1735776000, 4.5)]


@pytest.mark.parametrize("columns, message", [
    ({"user": [1, 2], "item": ["a", None]}, "DataFrame, row 2, column 'item': empty id"),
    ({"user": [1, 2], "item": ["a", "b"], "timestamp": [1.0, float("nan")]}, "row 2, column 'timestamp': not a number"),
    ({"user": [1, 2], "item": ["a", "b"], "timestamp": [1, None]}, "row 2, column 'timestamp': missing timestamp"),
    ({"user": [1, 2], "item": ["a", "b"], "rating": ["4", "x"]}, "row 2, column 'rating': not a number: 'x'"),
    ({"user": [1], "product": ["a"]}, "DataFrame: no item column (columns: user, product)"),
])
def test_a_frame_in_memory_names_its_bad_row(columns, message):
    with pytest.raises(DataError, match=re.escape(message)):
        interactions_from_frame(pl.DataFrame(columns))


def test_jsonl_columns_of_mixed_types_read_as_the_text_of_each_value(tmp_path):
    path = tmp_path / "mixed.jsonl"
    path.write_text('{"user": 7, "item": "a", "rating": 4}\n\n{"user": "7", "item": false, "rating": 4.5}\n')
    log = read_interactions(path)  # polars alone refuses a column of 4 and 4.5 beside "a" and false
    assert log.frame.rows() == [("7", "a", 4.0), ("7", "false", 4.5)]
    path.write_text('{"user": 1, "item": [1, 2]}\n{"user": "x", "item": "b"}\n')
    with pytest.raises(DataError, match="line 1, column 'item': holds a list, not a single value"):
        read_interactions(path)
