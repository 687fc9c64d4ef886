"""Reading interaction logs from the formats people have, with errors that say where.

Every reader returns an `Interactions` table with canonical columns: user and item (raw ids
as strings, so ids round-trip exactly), and timestamp (int64) and rating (float64) when present.
Row order is the file's order, which stands in for time when there is no timestamp.
"""

from __future__ import annotations

import csv
import glob
import gzip
import io
import json
import re
import zlib
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import numpy as np
import polars as pl

from attnsight.errors import DataError

FORMATS = ("auto", "csv", "tsv", "jsonl", "parquet", "dat", "pairs", "sequences")
TABLE_FORMATS = ("csv", "tsv", "jsonl", "parquet")
_SEPARATORS = {"csv": ",", "tsv": "\t"}
# numeric features are read as float32: a value beyond it would be infinite to the model
FLOAT32_MAX = float(np.finfo(np.float32).max)
_EXTENSIONS = {".csv": "csv", ".tsv": "tsv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl",
               ".parquet": "parquet", ".pq": "parquet", ".dat": "dat"}


@dataclass
class Interactions:
    """A behaviour log: one row per event, columns user, item[, timestamp][, rating].

    A log read by `scan_interactions` holds integer codes in user and item, and the raw ids
    they stand for in `user_ids` / `item_ids` (code c is `user_ids[c]`): a tenth of the memory.
    """

    frame: pl.DataFrame
    source: str = "<memory>"
    user_ids: list[str] | None = None
    item_ids: list[str] | None = None

    @property
    def has_timestamp(self) -> bool:
        return "timestamp" in self.frame.columns

    @property
    def has_rating(self) -> bool:
        return "rating" in self.frame.columns

    def __len__(self) -> int:
        return self.frame.height

    @classmethod
    def from_records(
        cls,
        users: list[object],
        items: list[object],
        timestamps: list[int] | None = None,
        ratings: list[float] | None = None,
    ) -> Interactions:
        data: dict[str, object] = {"user": [str(u) for u in users], "item": [str(i) for i in items]}
        if timestamps is not None:
            data["timestamp"] = pl.Series(timestamps, dtype=pl.Int64)
        if ratings is not None:
            data["rating"] = pl.Series(ratings, dtype=pl.Float64)
        return cls(pl.DataFrame(data))


def detect_format(path: Path) -> str:
    """Format from the extension (after .gz), or sniffed from the first lines of a .txt."""
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] == ".gz":
        suffixes.pop()
    if suffixes and suffixes[-1] in _EXTENSIONS:
        return _EXTENSIONS[suffixes[-1]]
    lines = [ln for ln in read_text(path).splitlines()[:200] if ln.strip()]
    if not lines:
        raise DataError(path, "file is empty")
    if any("::" in ln for ln in lines):
        return "dat"
    # pairs: `user item [timestamp]`; three tokens none of which ends in a time are a sequences file
    tokens = [ln.split() for ln in lines]
    if all(len(t) in (2, 3) for t in tokens) and (
        all(len(t) == 2 for t in tokens) or any(len(t) == 3 and _looks_like_time(t[2]) for t in tokens)
    ):
        return "pairs"
    return "sequences"


def _looks_like_time(token: str) -> bool:
    """An integer or an ISO date: what the third field of a `pairs` line holds."""
    return re.fullmatch(r"[+-]?[0-9]+|[0-9]{4}-[0-9]{2}-[0-9]{2}(T\S*)?", token) is not None


def read_interactions(
    path: str | Path,
    format: str = "auto",
    user_col: str = "user",
    item_col: str = "item",
    time_col: str | None = "timestamp",
    rating_col: str | None = "rating",
    encoding: str = "utf-8",
) -> Interactions:
    """Read a behaviour log.

    Tabular formats (csv, tsv, jsonl, parquet) need named user and item columns; timestamp and
    rating columns are used when present (numbers, or dates for the timestamp). Line formats:
    `dat` (MovieLens `user::item::rating::timestamp`), `pairs` (`user item [timestamp]` per
    line) and `sequences` (one user's items per line, in order; the user id is the line number).
    Any of them may be gzip-compressed (`.gz`).
    """
    path = Path(path)
    fmt = check_path(path, format, FORMATS)
    if fmt in TABLE_FORMATS:
        used = [c for c in (user_col, item_col, time_col, rating_col) if c]
        frame, first_line = read_table(path, fmt, encoding, used)
        return Interactions(_canonical(path, frame, first_line, user_col, item_col, time_col, rating_col), str(path))
    text = read_text(path, encoding)
    return Interactions(_read_lines(path, text, fmt), str(path))


def interactions_from_frame(frame: pl.DataFrame, source: str = "DataFrame") -> Interactions:
    """A behaviour log held in memory: columns user and item (any type, read as text) and optional
    timestamp (numbers, dates or ISO 8601 text) and rating (numbers), checked and parsed as the
    file readers check and parse theirs, errors named by row."""
    missing = [c for c in ("user", "item") if c not in frame.columns]
    if missing:
        raise DataError(source, f"no {' or '.join(missing)} column (columns: {', '.join(frame.columns)})")
    used = [c for c in ("user", "item", "timestamp", "rating") if c in frame.columns]
    # as text, the columns take the file readers' path; a date or datetime as its epoch seconds first
    as_text = [(pl.col(c).dt.epoch("s") if frame.schema[c].is_temporal() else pl.col(c)).cast(pl.String) for c in used]
    return Interactions(_canonical(Path(source), frame.select(as_text), None, "user", "item", "timestamp", "rating"),
                        source)


SCAN_FORMATS = ("auto", "csv", "tsv", "jsonl", "parquet")


def scan_interactions(
    path: str | Path,
    format: str = "auto",
    user_col: str = "user",
    item_col: str = "item",
    time_col: str | None = "timestamp",
    rating_col: str | None = "rating",
) -> Interactions:
    """Read a log larger than memory with polars lazy scans and its streaming engine.

    `path`: an uncompressed csv/tsv/jsonl/parquet file, or a folder or glob of Parquet parts.
    The raw columns are never all in memory at once: one pass collects the distinct user and
    item ids, a second streams the rows through a join that replaces ids by integer codes, so
    what stays is 4 + 4 (+ 8 for a timestamp, + 8 for a rating) bytes per event. The ids,
    timestamps and ratings of a csv/tsv/jsonl are read as text and parsed as the in-memory reader
    parses them (ids kept as written, leading zeros included; timestamps by `with_epoch_seconds`),
    so a type that changes after the first rows is no error; Parquet keeps its types (integer ids,
    numeric timestamps, date/datetime columns).
    """
    path = Path(path)
    fmt = _scan_format(path, format)
    try:
        scanned = _scan(path, fmt, [c for c in (user_col, item_col, time_col, rating_col) if c])
        schema = scanned.collect_schema()
    except (pl.exceptions.PolarsError, OSError) as exc:
        raise _unreadable(path, fmt, "cannot scan", exc) from None
    _require_ids(path, list(schema), user_col, item_col)
    blank = _blank_row(list(schema)) if fmt in ("csv", "tsv") else pl.lit(False)
    frame = scanned.filter(~blank)
    columns = [(pl.col(c).str.strip_chars() if schema[c] == pl.String else pl.col(c)).alias(role)
               for c, role in ((user_col, "user"), (item_col, "item"))]
    # text values that do not parse become nulls here; only if nulls come out is the file read
    # again, to name the first bad value's row
    unparsed: dict[str, tuple[pl.LazyFrame, pl.Expr, str, str]] = {}
    if time_col and time_col in schema:
        dtype = schema[time_col]
        if dtype.is_temporal():
            columns.append(pl.col(time_col).dt.epoch("s").alias("timestamp"))
        elif dtype.is_float():  # floored, as text seconds are
            columns.append(pl.col(time_col).floor().cast(pl.Int64).alias("timestamp"))
        elif dtype.is_numeric():
            columns.append(pl.col(time_col).cast(pl.Int64).alias("timestamp"))
        elif dtype == pl.String:
            frame = with_epoch_seconds(frame, time_col, "_seconds")
            columns.append(pl.col("_seconds").alias("timestamp"))
            unparsed["timestamp"] = (with_epoch_seconds(scanned, time_col, "_seconds"),
                                     pl.col(time_col).is_not_null() & pl.col("_seconds").is_null(), time_col, BAD_TIME)
        else:
            raise DataError(path, f"timestamps must be numbers, dates or text, not {dtype}", column=time_col)
    if rating_col and rating_col in schema:
        dtype = schema[rating_col]
        if dtype == pl.String:
            rating = pl.col(rating_col).str.strip_chars().cast(pl.Float64, strict=False)
            columns.append(rating.alias("rating"))
            unparsed["rating"] = (scanned, pl.col(rating_col).is_not_null() & rating.is_null(), rating_col,
                                  "not a number")
        elif dtype.is_numeric():
            columns.append(pl.col(rating_col).cast(pl.Float64).alias("rating"))
        else:
            raise DataError(path, f"ratings must be numbers, not {dtype}", column=rating_col)
    frame = frame.select(columns)
    try:
        codes = {role: _distinct(frame, role) for role in ("user", "item")}
        for (role, table), column in zip(codes.items(), (user_col, item_col)):
            if _empty(table[role]).any():  # the first pass found one; the row takes another
                _first_bad_row(path, scanned, ~blank & _empty(pl.col(column)), column, "empty id")
            if fmt == "jsonl":
                _refuse_nested_ids(path, table[role], column)
            frame = frame.join(table.with_row_index("code").lazy(), on=role, maintain_order="left") \
                .with_columns(pl.col("code").alias(role)).drop("code")
        events = frame.collect(engine="streaming")
    except pl.exceptions.PolarsError as exc:
        raise _unreadable(path, fmt, "cannot read", exc) from None
    if events.height == 0:
        raise DataError(path, "no rows")
    for role, (source, bad, column, what) in unparsed.items():
        if events[role].null_count():  # a bad value, or (harmless for a rating) a missing one
            _first_bad_row(path, source, ~blank & bad, column, what)
    if "timestamp" in events.columns and events["timestamp"].null_count():
        _first_bad_row(path, scanned, ~blank & pl.col(time_col).is_null(), time_col, "missing timestamp")
    return Interactions(events, str(path), codes["user"]["user"].cast(pl.String).to_list(),
                        codes["item"]["item"].cast(pl.String).to_list())


def _blank_row(columns: Sequence[str]) -> pl.Expr:
    """A csv/tsv row with nothing in it, which both readers skip: a blank line scans as a row of
    nulls, a whitespace-only one as its first field and nulls, and a spreadsheet's empty row
    (`,,,`) as nulls."""
    first, *rest = columns
    return pl.all_horizontal(pl.col(first).str.strip_chars().fill_null("") == "", *(pl.col(c).is_null() for c in rest))


def _empty(ids: pl.Expr | pl.Series) -> pl.Expr | pl.Series:
    return ids.is_null() | (ids.cast(pl.String).str.strip_chars() == "")


def _first_bad_row(path: Path, scanned: pl.LazyFrame, bad: pl.Expr, column: str, what: str) -> None:
    """Raise for the first row of a scan that `bad` flags, named by its data row (a scan does not
    count file lines). It streams the file once more, so it is called only once a check failed."""
    found = scanned.with_row_index("_row").filter(bad).select("_row", column).head(1).collect(engine="streaming")
    if found.height:
        row, value = found.row(0)
        shown = f": {value!r}" if value is not None and str(value).strip() else ""
        raise DataError(path, f"{what}{shown}", column=column, row=row + 1)


def _scan_format(path: Path, format: str) -> str:
    """The format of a file, folder or glob to scan, after checking it exists and can be scanned."""
    is_glob = _is_glob(path)
    if not is_glob and not path.exists():
        raise DataError(path, "no such file")
    if format not in SCAN_FORMATS:
        raise DataError(path, f"cannot scan format {format!r} lazily; choose one of {', '.join(SCAN_FORMATS)}")
    if format == "auto":
        format = "parquet" if path.is_dir() or is_glob else _EXTENSIONS.get(path.suffix.lower(), "")
    if format not in ("parquet", "csv", "tsv", "jsonl"):
        raise DataError(path, "cannot scan this file lazily: give an uncompressed csv, tsv, jsonl or parquet "
                              "(--format)")
    if format != "parquet":
        with path.open("rb") as f:
            head = f.read(4)
        name = next((name for bom, name in _BOMS if head.startswith(bom)), None)
        if name:
            raise DataError(path, f"is {name.upper()} (it starts with a byte-order mark), and --stream reads UTF-8 "
                                  f"only: convert it (iconv -f {name.upper()} -t UTF-8) or leave out --stream")
        if format == "jsonl" and head.startswith(b"\xef\xbb\xbf"):
            raise DataError(path, "starts with a byte-order mark, which polars' JSON scan cannot read: remove it, "
                                  "or leave out --stream")
    return format


def _is_glob(path: Path) -> bool:
    return any(c in path.name for c in "*?[")


def _check_parts(path: Path, columns: Sequence[str]) -> None:
    """A folder or glob of Parquet parts: that it holds some, and that each of `columns` has one type
    in all of them (polars' scan would fail midway, naming neither the part nor the fix)."""
    if not (path.is_dir() or _is_glob(path)):
        return
    parts = sorted(map(Path, glob.glob(str(path / "*.parquet" if path.is_dir() else path))))
    if not parts:
        raise DataError(path, "no .parquet file in this folder" if path.is_dir() else "matches no file")
    first: dict[str, tuple[Path, pl.DataType]] = {}
    for part in parts:
        try:
            schema = pl.read_parquet_schema(part)
        except (pl.exceptions.PolarsError, OSError) as exc:
            raise DataError(part, f"not a readable Parquet file: {str(exc).splitlines()[0]}") from None
        for column in (c for c in columns if c in schema):
            seen = first.setdefault(column, (part, schema[column]))
            if schema[column] != seen[1]:
                raise DataError(part, f"{schema[column]} values here, {seen[1]} in {seen[0].name}: give every part "
                                      f"one type", column=column)


def _scan(path: Path, format: str, text: Sequence[str]) -> pl.LazyFrame:
    """The lazy scan of a file, folder or glob in a `_scan_format` format. A csv/tsv/jsonl's `text`
    columns are read as text, as the in-memory reader reads them (a type guessed from the first rows
    would refuse a later one: an id with letters, a decimal rating), to be parsed as it parses them."""
    if format == "parquet":
        _check_parts(path, text)
        return pl.scan_parquet(path / "*.parquet" if path.is_dir() else path)
    if format in ("csv", "tsv"):
        with path.open(encoding="utf-8", errors="replace") as f:
            header = next(((number, line) for number, line in enumerate(f, start=1) if line.strip()), None)
        if header:  # an empty file is polars' to report
            _check_header(path, header[1], format, header[0])
        return pl.scan_csv(path, separator=_SEPARATORS[format], infer_schema=False)
    # overrides must name columns the file has; the other columns are never parsed
    present = set(pl.scan_ndjson(path).collect_schema())
    return pl.scan_ndjson(path, schema_overrides={c: pl.String for c in text if c in present})


def _unreadable(path: Path, format: str, what: str, exc: Exception) -> DataError:
    """The error for a file a scan failed on: its first bad line, if reading it line by line finds
    one (only now that the scan failed: it is slow), else polars' words."""
    found = _first_unreadable_line(path, format) if format != "parquet" else None
    if found:
        return DataError(path, found[1], found[0])
    return DataError(path, f"{what}: {str(exc).splitlines()[0]}")


def _first_unreadable_line(path: Path, format: str) -> tuple[int, str] | None:
    """The first line of a csv/tsv/jsonl that is not UTF-8, not JSON, or (in a table) a record of
    other than the header's number of fields, and what is wrong with it."""
    with path.open("rb") as f:
        at = 0  # the physical line last pulled (a csv record may span several)

        def lines() -> Iterator[str]:
            nonlocal at
            for number, raw in enumerate(f, start=1):
                try:
                    line = raw.decode("utf-8")
                except UnicodeDecodeError as exc:
                    raise _BadLine(number, f"not valid utf-8 (byte 0x{raw[exc.start:exc.start + 1].hex()})") \
                        from None
                at = number
                yield line

        try:
            if format == "jsonl":
                for number, line in enumerate(lines(), start=1):
                    if line.strip():
                        try:
                            json.loads(line)
                        except json.JSONDecodeError as exc:
                            return number, f"not JSON: {exc.msg.removesuffix(' at')} at character {exc.pos + 1}"
                return None
            width = None
            for record in csv.reader(lines(), delimiter=_SEPARATORS[format]):
                if width is None:
                    width = len(record)
                elif record and len(record) != width:
                    return at, f"{len(record)} fields where the header has {width}"
        except _BadLine as bad:
            return bad.line, bad.message
        except csv.Error as exc:
            return max(at, 1), f"not readable as {format} ({exc})"
    return None


class _BadLine(Exception):
    def __init__(self, line: int, message: str) -> None:
        super().__init__(message)
        self.line, self.message = line, message


def _distinct(frame: pl.LazyFrame, role: str) -> pl.DataFrame:
    """The sorted distinct ids of a column (its codes are their positions)."""
    return frame.select(role).unique().sort(role).collect(engine="streaming")


def check_path(path: Path, format: str, formats: tuple[str, ...]) -> str:
    """The file's format (detected when 'auto'), after checking the path is a readable file."""
    if not path.exists():
        raise DataError(path, "no such file")
    if path.is_dir():
        raise DataError(path, "is a directory, not a data file")
    if format not in formats:
        raise DataError(path, f"unknown format {format!r}; choose one of {', '.join(formats)}")
    return detect_format(path) if format == "auto" else format


def read_table(
    path: Path, fmt: str, encoding: str = "utf-8", used: Collection[str] | None = None
) -> tuple[pl.DataFrame, int | list[int]]:
    """A csv/tsv/jsonl/parquet file (optionally gzipped) as all-string columns, and the file line
    of each row (one int: the line of row 0, rows consecutive; a list: every row's line).

    `used`: the columns the caller reads (None: all of them). A list or record value (jsonl,
    parquet) is refused in those; in any other column it is kept as JSON text."""
    if fmt == "parquet":
        frame, first_line = _read_parquet(path, used), 1
    else:
        frame, first_line = _read_table(path, read_text(path, encoding), fmt, used)
    if frame.height == 0:
        raise DataError(path, "no rows")
    return frame, first_line


def _read_bytes(path: Path) -> bytes:
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as exc:
            raise DataError(path, f"corrupt gzip data ({exc})") from None
    elif path.suffix == ".gz" and raw:
        raise DataError(path, "named .gz but not gzip data")
    return raw


def read_text(path: Path, encoding: str = "utf-8") -> str:
    """A text file's contents (gunzipped when gzip), decoded; see `_decode` for 'auto'."""
    return _decode(path, _read_bytes(path), encoding)


_BOMS = ((b"\xff\xfe\x00\x00", "utf-32"), (b"\x00\x00\xfe\xff", "utf-32"),  # UTF-32 LE's starts as UTF-16 LE's
         (b"\xff\xfe", "utf-16"), (b"\xfe\xff", "utf-16"))


def _decode(path: Path, raw: bytes, encoding: str) -> str:
    """'auto' is UTF-8, or Latin-1 when the bytes are not UTF-8 (MovieLens' .dat files are Latin-1).
    Either way a UTF-16/32 byte-order mark names the encoding (no UTF-8 text starts with one;
    spreadsheets save "Unicode text" as UTF-16)."""
    if encoding.lower().replace("_", "-") in ("auto", "utf-8", "utf8"):
        encoding = next((name for bom, name in _BOMS if raw.startswith(bom)), encoding)
    if encoding == "auto":
        try:
            raw.decode("utf-8")
            encoding = "utf-8"
        except UnicodeDecodeError:
            encoding = "latin-1"
    try:
        text = raw.decode(encoding)
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        byte = raw[exc.start : exc.start + 1].hex()
        raise DataError(
            path, f"not valid {encoding} (byte 0x{byte}); give the file's encoding, e.g. --encoding latin-1", line
        ) from None
    except LookupError:
        raise DataError(path, f"unknown encoding {encoding!r}") from None
    # UTF-8 read as UTF-16 is no error: one line of CJK-like text (bytes counted only when it has no line)
    breaks = 0 if "\n" in text else raw.count(b"\n")
    if breaks > 1:
        raise DataError(path, f"not {encoding}: the file's {breaks} line breaks read as none; give the file's "
                              "encoding (--encoding)")
    if not text.strip():
        raise DataError(path, "file is empty")
    if "\r" in text and "\n" not in text:  # lines ended by CR alone, as classic Mac OS and its CSV exports wrote
        text = text.replace("\r", "\n")
    return text.removeprefix("\ufeff")


def _read_table(
    path: Path, text: str, fmt: str, used: Collection[str] | None
) -> tuple[pl.DataFrame, int | list[int]]:
    """The table, and the file line of each row (blank lines and rows are skipped, not read as empty rows)."""
    lines = text.split("\n")
    kept = [number for number, line in enumerate(lines, start=1) if line.strip()]
    buffer = io.BytesIO("".join(line + "\n" for line in lines if line.strip()).encode("utf-8"))
    try:
        if fmt == "jsonl":
            frame = _as_strings(path, pl.read_ndjson(buffer, infer_schema_length=None), used)
        else:
            frame = pl.read_csv(buffer, separator=_SEPARATORS[fmt], infer_schema=False)
    except pl.exceptions.PolarsError as exc:
        records = [lines[k - 1] for k in kept]
        frame = _lenient_jsonl(records) if fmt == "jsonl" else _lenient_table(records, fmt)
        if frame is None:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise DataError(path, f"cannot parse as {fmt}: {first}", _bad_table_line(text, fmt)) from None
    if fmt == "jsonl":
        if len(kept) != frame.height:
            return frame, 1
        _refuse_nested_values(path, frame, [lines[k - 1] for k in kept], kept, used)
        return frame, kept
    _check_header(path, lines[kept[0] - 1], fmt, kept[0])
    rows = kept[1:]
    if len(rows) != frame.height:  # quoted fields spanning lines: each record's first line, as csv reads them
        rows = [kept[i] for i in _record_starts([lines[k - 1] for k in kept], fmt)][1:]
    if len(rows) != frame.height:
        rows = list(range(2, 2 + frame.height))
    blank = frame.select(_blank_row(frame.columns)).to_series()
    if blank.any():
        rows = [line for line, skip in zip(rows, blank) if not skip]
        frame = frame.filter(~blank)
    return frame, rows


def _refuse_nested_values(
    path: Path, frame: pl.DataFrame, lines: list[str], numbers: list[int], used: Collection[str] | None
) -> None:
    """A JSONL column of text can hold a list or record on some lines (polars writes those as JSON
    text): refused where the column is read, as a column of them is. Only values that start as
    JSON lists and records do are parsed again."""
    for name in frame.columns if used is None else [c for c in used if c in frame.columns]:
        value = frame[name]
        for row in _looks_nested(value).arg_true().to_list():
            _check_single(path, json.loads(lines[row]).get(name), numbers[row], name)


def _looks_nested(values: pl.Series) -> pl.Series:
    """Text that may be a list or record polars wrote as JSON."""
    return values.str.starts_with("[") | values.str.starts_with("{")


def _check_single(path: Path, value: object, line: int, column: str) -> None:
    if isinstance(value, (list, dict)):
        raise DataError(path, f"holds {'a list' if isinstance(value, list) else 'a record'}, not a single value",
                        line, column)


def _refuse_nested_ids(path: Path, ids: pl.Series, column: str) -> None:
    """A scanned JSONL's list or record id arrives as its JSON text; only when a distinct id looks
    like one is the file read line by line to tell."""
    if ids.dtype != pl.String or not _looks_nested(ids).any():
        return
    with path.open("rb") as f:
        for number, raw in enumerate(f, start=1):
            if raw.strip():
                _check_single(path, json.loads(raw).get(column), number, column)


def _lenient_jsonl(lines: list[str]) -> pl.DataFrame | None:
    """The records as text columns, as Python's json module reads them: a column whose values mix
    types (0 and false, 7 and "7"), which polars refuses, reads as the text of each value; None
    unless every line is a JSON object."""
    try:
        records = [json.loads(line) for line in lines]
    except ValueError:
        return None
    if not all(isinstance(r, dict) for r in records):
        return None

    def text(value: object) -> str | None:
        if value is None or isinstance(value, str):
            return value
        if isinstance(value, bool):
            return "true" if value else "false"  # as polars writes a boolean
        return json.dumps(value) if isinstance(value, (list, dict)) else str(value)

    names = list(dict.fromkeys(name for r in records for name in r))
    return pl.DataFrame({name: [text(r.get(name)) for r in records] for name in names},
                        schema=dict.fromkeys(names, pl.String))


def _lenient_table(lines: list[str], fmt: str) -> pl.DataFrame | None:
    """The table as Python's csv module reads it, which takes a quote inside an unquoted field
    (`5" tall`) as the character it is, where polars refuses the file; None unless every record
    has the header's number of fields (a header naming a column twice is refused after, as for
    polars' frame)."""
    records = list(csv.reader(iter(lines), delimiter=_SEPARATORS[fmt]))
    header = records[0]
    if any(len(record) != len(header) for record in records[1:]):
        return None
    columns = [[value if value != "" else None for value in column] for column in zip(*records[1:])] \
        if len(records) > 1 else [[] for _ in header]
    return pl.DataFrame(dict(zip(header, columns)), schema=dict.fromkeys(header, pl.String))


def _check_header(path: Path, header: str, fmt: str, line: int) -> None:
    """Refuse a csv/tsv header that names a column twice (polars would rename the second)."""
    names = next(csv.reader([header], delimiter=_SEPARATORS[fmt]))
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise DataError(path, f"the header names column {name!r} twice", line)
        seen.add(name)


def _record_starts(lines: list[str], fmt: str) -> list[int]:
    """The index in `lines` of the first line of each csv/tsv record."""
    reader = csv.reader(iter(lines), delimiter=_SEPARATORS[fmt])
    starts = []
    while True:
        start = reader.line_num
        try:
            next(reader)
        except (StopIteration, csv.Error):
            return starts
        starts.append(start)


def _bad_table_line(text: str, fmt: str) -> int | None:
    """The file line of the first record a table parser rejects (bad JSON, too many fields), if found."""
    if fmt == "jsonl":
        for number, line in enumerate(text.split("\n"), start=1):
            if line.strip():
                try:
                    if not isinstance(json.loads(line), dict):
                        return number
                except ValueError:
                    return number
        return None
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_SEPARATORS[fmt], strict=True)
    start = 1  # the line the record being read starts on
    try:
        header = next(reader)
        start = reader.line_num + 1
        for record in reader:
            if len(record) > len(header):
                return reader.line_num
            start = reader.line_num + 1
    except csv.Error:  # a quote never closed, or text after a closing quote: where that record starts
        return start
    except StopIteration:
        return None
    return None


def _read_parquet(path: Path, used: Collection[str] | None) -> pl.DataFrame:
    try:
        frame = pl.read_parquet(io.BytesIO(_read_bytes(path)))
    except pl.exceptions.PolarsError as exc:
        raise DataError(path, f"cannot read as parquet: {str(exc).splitlines()[0]}") from None
    return _as_strings(path, frame, used)


def _as_strings(path: Path, frame: pl.DataFrame, used: Collection[str] | None) -> pl.DataFrame:
    """Every column as strings. A used column of lists or records has no one value per row to read;
    an unused one becomes JSON text, so its name still counts (the report matches files by columns)."""
    for name, dtype in frame.schema.items():
        if not dtype.is_nested():
            continue
        if used is None or name in used:
            raise DataError(path, f"holds {dtype} values, not one value per row", column=name)
        frame = frame.with_columns(pl.Series(name, [None if v is None else json.dumps(v, default=str)
                                                    for v in frame[name].to_list()], dtype=pl.String))
    return frame.with_columns(pl.all().cast(pl.String))


def _require_ids(path: Path, columns: list[str], user_col: str, item_col: str) -> None:
    for role, name in (("user", user_col), ("item", item_col)):
        if name not in columns:
            raise DataError(path, f"no {role} column {name!r} (columns: {', '.join(columns)}); name it with --{role}-col")


def _canonical(
    path: Path,
    frame: pl.DataFrame,
    first_line: int | None,
    user_col: str,
    item_col: str,
    time_col: str | None,
    rating_col: str | None,
) -> pl.DataFrame:
    _require_ids(path, frame.columns, user_col, item_col)
    columns = {"user": pl.col(user_col).str.strip_chars(), "item": pl.col(item_col).str.strip_chars()}
    out = frame.select(**columns)
    for name in ("user", "item"):
        first_bad(path, out[name].is_null() | (out[name] == ""), first_line, name, "empty id")
    if time_col and time_col in frame.columns:
        out = out.with_columns(timestamp=parse_time(path, frame[time_col], first_line, time_col))
    if rating_col and rating_col in frame.columns:
        raw = frame[rating_col].str.strip_chars()
        rating = raw.cast(pl.Float64, strict=False)
        first_bad(path, raw.is_not_null() & rating.is_null(), first_line, rating_col, "not a number", raw)
        out = out.with_columns(rating=rating)
    return out


# ISO 8601 as logs write it, once a space between date and time became "T": %.f reads an optional
# fraction, %#z an offset (+02:00, +0200, Z). The most common first: each later one reads only what
# the earlier ones left. Other formats polars would guess (01/02/2025) are ambiguous, so refused.
_ISO_FORMATS = ("%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d", "%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S%.f%#z", "%Y-%m-%dT%H:%M%#z")
BAD_TIME = "not a number or ISO 8601 date"

Frame = TypeVar("Frame", pl.DataFrame, pl.LazyFrame)


def with_epoch_seconds(frame: Frame, column: str, out: str) -> Frame:
    """`frame` with column `out`: text column `column` as int64 seconds. Each value an integer
    (epoch seconds or any ordinal), a decimal number of seconds (floored), or an ISO 8601
    date/time (UTC unless it has an offset); null where it is none of them."""
    raw = pl.col(column).str.strip_chars()
    seconds = pl.col(out)
    # one column per step, each step reading only the values still null: nested expressions would
    # evaluate every earlier step again, and a date parser run over millions of integers is slow
    frame = frame.with_columns(raw.cast(pl.Int64, strict=False).alias(out))
    number = pl.when(seconds.is_null()).then(raw).cast(pl.Float64, strict=False)
    in_range = number.is_finite() & (number.abs() < 2.0**63)  # beyond, no int64 holds it: a bad value, not a crash
    frame = frame.with_columns(seconds.fill_null(pl.when(in_range).then(number.floor().cast(pl.Int64))))
    iso = pl.when(seconds.is_null()).then(raw.str.replace(" ", "T", literal=True, n=1))
    for fmt in _ISO_FORMATS:
        parsed = iso.str.to_datetime(fmt, strict=False, time_unit="us").dt.epoch("s")
        frame = frame.with_columns(seconds.fill_null(parsed))
    return frame


def parse_time(path: Path, raw: pl.Series, first_line: int | list[int] | None, name: str) -> pl.Series:
    """`with_epoch_seconds` of a column, its first bad or missing value named by line."""
    raw = raw.str.strip_chars()
    seconds = with_epoch_seconds(pl.DataFrame({"raw": raw}), "raw", "seconds")["seconds"]
    first_bad(path, raw.is_not_null() & seconds.is_null(), first_line, name, BAD_TIME, raw)
    first_bad(path, raw.is_null(), first_line, name, "missing timestamp")
    return seconds


def first_bad(
    path: Path, bad: pl.Series, first_line: int | list[int] | None, column: str, what: str,
    values: pl.Series | None = None,
) -> None:
    """Raise for the first flagged row; first_line is the file line of row 0, or every row's line,
    or None for a table in memory (named by its row, from 1)."""
    if bad.any():
        row = int(bad.arg_true()[0])
        shown = f": {values[row]!r}" if values is not None else ""
        if first_line is None:
            raise DataError(path, f"{what}{shown}", column=column, row=row + 1)
        line = first_line[row] if isinstance(first_line, list) else first_line + row
        raise DataError(path, f"{what}{shown}", line, column)


def parse_numbers(path: Path, raw: pl.Series, first_line: int | list[int] | None, name: str) -> pl.Series:
    """A text column of numeric features as float64, missing values null ("nan" is one too, as
    pandas writes it); a value that is no number, infinite or beyond float32 named by its line."""
    raw = raw.str.strip_chars()
    values = raw.cast(pl.Float64, strict=False)
    first_bad(path, raw.is_not_null() & (raw != "") & values.is_null(), first_line, name, "not a number", raw)
    values = values.fill_nan(None)
    first_bad(path, values.is_infinite().fill_null(False), first_line, name, "not a finite number", raw)
    first_bad(path, (values.abs() > FLOAT32_MAX).fill_null(False), first_line, name,
              f"too large for a float32 (beyond ±{FLOAT32_MAX:.3g})", raw)
    return values


def _read_lines(path: Path, text: str, fmt: str) -> pl.DataFrame:
    users: list[str] = []
    items: list[str] = []
    extra: list[list[str]] = []
    numbers: list[int] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        if fmt == "sequences":
            tokens = line.split()
            users.extend([str(number)] * len(tokens))
            items.extend(tokens)
            continue
        fields = line.strip().split("::") if fmt == "dat" else line.split()
        if len(fields) < 2 or any(not f.strip() for f in fields[:2]):
            expected = "user::item[::rating[::timestamp]]" if fmt == "dat" else "user item [timestamp]"
            raise DataError(path, f"expected {expected}, got {line.strip()[:60]!r}", number)
        users.append(fields[0].strip())
        items.append(fields[1].strip())
        extra.append(fields[2:])
        numbers.append(number)
    if not users:
        raise DataError(path, "no rows")
    frame = pl.DataFrame({"user": users, "item": items})
    # dat: user::item::rating::timestamp; pairs: user item timestamp
    roles = ["rating", "timestamp"] if fmt == "dat" else ["timestamp"]
    for position, role in enumerate(roles):
        if extra and all(len(e) > position for e in extra):
            raw = pl.Series(role, [e[position].strip() for e in extra])
            if role == "timestamp":
                frame = frame.with_columns(timestamp=parse_time(path, raw, numbers, f"field {position + 3}"))
            else:
                values = raw.cast(pl.Float64, strict=False)
                first_bad(path, values.is_null(), numbers, f"field {position + 3}", "not a number", raw)
                frame = frame.with_columns(rating=values)
    return frame
