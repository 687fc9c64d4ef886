"""Event tables for risk scoring: reading, time splits, leakage-free histories, windowed features.

An event table has an account id, a timestamp, any numeric and categorical columns, an
optional 0/1 label and an optional second entity (terminal, merchant) to attend over. Rows
are kept in time order (file order breaks ties), so "earlier" always means "an earlier row".
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import polars as pl

from attnsight.data.readers import TABLE_FORMATS, check_path, first_bad, parse_numbers, parse_time, read_table
from attnsight.errors import ConfigError, DataError

DAY = 86_400
UNLABELLED = -1  # a label not known (yet): scored events, history rows whose outcome is still open
# the times a datetime (and so the hour and weekday features) can hold, as epoch seconds
EARLIEST = datetime(1, 1, 1, tzinfo=timezone.utc).timestamp()
LATEST = datetime(9999, 12, 31, 23, 59, 59, tzinfo=timezone.utc).timestamp()
EVENT_FORMATS = ("auto", *TABLE_FORMATS)
_TRUE, _FALSE = {"1", "true", "yes", "1.0"}, {"0", "false", "no", "0.0"}


@dataclass(frozen=True)
class EventSchema:
    """Which column plays which role; numeric and categorical features keep their own names."""

    account: str = "account"
    time: str = "timestamp"
    numeric: tuple[str, ...] = ()
    categorical: tuple[str, ...] = ()
    label: str | None = None
    entity: str | None = None
    id: str | None = None

    def __post_init__(self) -> None:
        seen: dict[str, str] = {}
        for flag, column in self.roles():  # a label fed as input leaks it; an account as entity repeats it
            if column in seen:
                raise ConfigError(f"{seen[column]} and {flag} name the same column {column!r}: each role needs its "
                                  f"own")
            seen[column] = flag

    def roles(self) -> list[tuple[str, str]]:
        """(option, column) of each column used, named by the `risk train` option that sets it."""
        single = [("--account-col", self.account), ("--time-col", self.time), ("--label-col", self.label),
                  ("--entity-col", self.entity), ("--id-col", self.id)]
        return [(flag, c) for flag, c in single if c] + [("--numeric", c) for c in self.numeric] + \
            [("--categorical", c) for c in self.categorical]

    def columns(self) -> list[str]:
        return [c for _, c in self.roles()]


@dataclass
class Events:
    """Events in time order, as arrays. `account` and `entity` are codes into `accounts`/`entities`
    (-1: no entity); `time` is int64 seconds; `label` 0/1 or None; `lines` the file line of each row."""

    schema: EventSchema
    account: np.ndarray
    accounts: np.ndarray
    time: np.ndarray
    numeric: np.ndarray  # (N, F) float64, NaN where missing
    categorical: np.ndarray  # (N, C) str
    label: np.ndarray | None = None
    entity: np.ndarray | None = None
    entities: np.ndarray | None = None
    ids: np.ndarray | None = None
    lines: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    source: str = "<memory>"

    def __len__(self) -> int:
        return len(self.time)

    @property
    def has_labels(self) -> bool:
        return self.label is not None

    @property
    def days(self) -> np.ndarray:
        """Day index of each event, counted from the midnight (UTC) before the first one."""
        origin = int(self.time.min()) // DAY * DAY if len(self) else 0
        return (self.time - origin) // DAY

    def event_ids(self, rows: np.ndarray) -> list[str]:
        """The id column's values, or the file line when there is none (a history file's lines,
        after `concat`, with the file's name)."""
        if self.ids is not None:
            return [str(v) for v in self.ids[rows]]
        return [f"line {int(v)}" for v in self.lines[rows]]

    def date(self, day: int) -> str:
        origin = int(self.time.min()) // DAY * DAY
        return datetime.fromtimestamp(origin + day * DAY, tz=timezone.utc).strftime("%Y-%m-%d")

    def since(self, date: str | None) -> np.ndarray:
        """Rows at or after a date (YYYY-MM-DD, UTC); every row when None."""
        if date is None:
            return np.arange(len(self))
        try:
            start = int(datetime.fromisoformat(date).replace(tzinfo=timezone.utc).timestamp())
        except ValueError:
            raise DataError(self.source, f"not a date: {date!r} (use YYYY-MM-DD)") from None
        return np.flatnonzero(self.time >= start)

    def take(self, rows: np.ndarray) -> Events:
        """These rows (in the order given), with the same id tables."""
        def pick(column: np.ndarray | None) -> np.ndarray | None:
            return None if column is None else column[rows]

        return Events(self.schema, self.account[rows], self.accounts, self.time[rows], self.numeric[rows],
                      self.categorical[rows], pick(self.label), pick(self.entity), self.entities, pick(self.ids),
                      self.lines[rows], self.source)

    def concat(self, later: Events) -> tuple[Events, np.ndarray]:
        """These events and `later` ones (same schema) in time order (these first on ties), and the
        rows that came from `later`: e.g. known history, then new events to score."""
        if later.schema != self.schema:
            raise DataError(later.source, "the history and the new events have different columns")
        accounts, account = _merge_codes(self.accounts, self.account, later.accounts, later.account)
        entities = entity = None
        if self.entity is not None and later.entity is not None:
            entities, entity = _merge_codes(self.entities, self.entity, later.entities, later.entity)
        both = [x is not None and y is not None for x, y in ((self.label, later.label), (self.ids, later.ids))]
        if both[1]:  # an event in its own history would attend to itself
            repeated = np.isin(later.ids, self.ids)
            if repeated.any():
                first = int(np.argmax(repeated))
                raise DataError(later.source, f"event id {later.ids[first]!r} is in the history too "
                                f"({int(repeated.sum()):,} are): the history holds earlier events only",
                                int(later.lines[first]), self.schema.id)
        if both[1]:
            ids = np.concatenate([self.ids, later.ids])
        else:  # no id column: an event is named by its line, so a history's carry its file's name too
            ids = np.array([*(f"{Path(self.source).name} line {int(v)}" for v in self.lines),
                            *(f"line {int(v)}" for v in later.lines)], dtype=object)
        merged = Events(
            self.schema, account, accounts, np.concatenate([self.time, later.time]),
            np.concatenate([self.numeric, later.numeric]), np.concatenate([self.categorical, later.categorical]),
            np.concatenate([self.label, later.label]) if both[0] else None, entity, entities, ids,
            np.concatenate([self.lines, later.lines]), later.source,
        )
        order = np.argsort(merged.time, kind="stable")
        position = np.empty_like(order)
        position[order] = np.arange(len(order))
        return merged.take(order), np.sort(position[len(self):])


def _merge_codes(
    names_a: np.ndarray, codes_a: np.ndarray, names_b: np.ndarray, codes_b: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """One id table for two coded columns; code -1 (no id) stays -1."""
    names, inverse = np.unique(np.concatenate([names_a, names_b]), return_inverse=True)

    def remap(table: np.ndarray, codes: np.ndarray) -> np.ndarray:
        return np.where(codes >= 0, table[np.maximum(codes, 0)], -1) if len(table) else np.full(len(codes), -1)

    return names, np.concatenate([remap(inverse[: len(names_a)], codes_a), remap(inverse[len(names_a):], codes_b)])


def read_events(
    path: str | Path,
    schema: EventSchema,
    format: str = "auto",
    encoding: str = "utf-8",
    require_labels: bool = False,
) -> Events:
    """Read an event table (csv/tsv/jsonl/parquet, .gz too) and sort it by time.

    Numbers may be empty (missing); timestamps are integers (epoch seconds) or ISO dates; labels
    are 0/1 (or true/false), and may be empty or absent (UNLABELLED) unless `require_labels`.
    Errors name the file, line and column.
    """
    path = Path(path)
    fmt = check_path(path, format, EVENT_FORMATS)
    frame, first_line = read_table(path, fmt, encoding, schema.columns())
    return _events_from_frame(frame, schema, path, first_line, require_labels)


def events_from_records(records: Sequence[dict[str, object]], schema: EventSchema, source: str = "request") -> Events:
    """Events from in-memory rows keyed by column name (a service's JSON), checked as a file is;
    errors carry the row's index as their `line`."""
    columns = schema.columns()
    frame = pl.DataFrame(
        {c: [None if r.get(c) is None else str(r[c]) for r in records] for c in columns},
        schema={c: pl.String for c in columns},
    )
    return _events_from_frame(frame, schema, Path(source), 0, require_labels=False)


def _events_from_frame(
    frame: pl.DataFrame, schema: EventSchema, path: Path, first_line: int | list[int], require_labels: bool
) -> Events:
    optional = {schema.label} if schema.label and not require_labels else set()  # scoring: labels not known yet
    missing = [(flag, c) for flag, c in schema.roles() if c not in frame.columns and c not in optional]
    if missing:
        flag, column = missing[0]
        # training names its columns by option; scoring reads the ones its model was trained on
        features = flag in ("--numeric", "--categorical")
        hint = (f"name it with {'--numeric / --categorical' if features else flag}" if require_labels
                else f"the model was trained with {flag} {column}")
        raise DataError(path, f"no column {column!r} (columns: {', '.join(frame.columns)}); {hint}")
    if require_labels and not schema.label:
        raise DataError(path, "no label column; training needs one (--label-col)")
    if frame.height == 0:
        raise DataError(path, "no rows")
    lines = (np.asarray(first_line, dtype=np.int64) if isinstance(first_line, list)
             else np.arange(first_line, first_line + frame.height, dtype=np.int64))

    account = frame[schema.account].str.strip_chars()
    first_bad(path, account.is_null() | (account == ""), first_line, schema.account, "empty account id")
    seconds = parse_time(path, frame[schema.time], first_line, schema.time)
    first_bad(path, (seconds < EARLIEST) | (seconds > LATEST), first_line, schema.time,
              "not a time of the years 1 to 9999", frame[schema.time])
    time = seconds.to_numpy()
    numeric = np.zeros((frame.height, len(schema.numeric)))
    for j, name in enumerate(schema.numeric):
        values = parse_numbers(path, frame[name], first_line, name)
        numeric[:, j] = values.fill_null(float("nan")).to_numpy()
    categorical = np.empty((frame.height, len(schema.categorical)), dtype=object)
    for j, name in enumerate(schema.categorical):
        categorical[:, j] = frame[name].str.strip_chars().fill_null("").to_numpy()
    label = None
    if schema.label and schema.label not in frame.columns:
        label = np.full(frame.height, UNLABELLED, dtype=np.int8)
    elif schema.label:
        raw = frame[schema.label].str.strip_chars().str.to_lowercase()
        absent = raw.is_null() | (raw == "")
        if require_labels:
            first_bad(path, absent, first_line, schema.label, "missing label")
        bad = ~absent & ~raw.is_in(sorted(_TRUE | _FALSE))
        first_bad(path, bad, first_line, schema.label, "label is not 0/1", frame[schema.label])
        label = np.where(absent.to_numpy(), UNLABELLED, raw.is_in(sorted(_TRUE)).to_numpy()).astype(np.int8)

    order = np.argsort(time, kind="stable")
    accounts, account_codes = np.unique(account.to_numpy().astype(str), return_inverse=True)
    entity = entities = None
    if schema.entity:
        raw_entity = frame[schema.entity].str.strip_chars().fill_null("").to_numpy().astype(str)
        entities, entity = np.unique(raw_entity, return_inverse=True)
        if entities[0] == "":  # rows without an entity attend over their account only
            entities, entity = entities[1:], entity - 1
        entity = entity[order]
    ids = None
    if schema.id:  # an id names one event in scores and explanations
        raw_id = frame[schema.id].cast(pl.String).str.strip_chars()
        first_bad(path, raw_id.is_null() | (raw_id == ""), first_line, schema.id, "empty event id")
        first_bad(path, ~raw_id.is_first_distinct(), first_line, schema.id, "event id given to an earlier row too",
                  raw_id)
        ids = raw_id.to_numpy()[order]
    return Events(
        schema, account_codes[order], accounts, time[order], numeric[order], categorical[order],
        label[order] if label is not None else None, entity, entities, ids, lines[order], str(path),
    )


# ----------------------------------------------------------------------------- splits


@dataclass
class TimeSplit:
    """Row indices of each period, and the protocol that made them (dates, days, rows)."""

    train: np.ndarray
    valid: np.ndarray
    test: np.ndarray
    protocol: dict[str, object]


def time_split(
    events: Events,
    train_days: int | None = None,
    valid_days: int = 7,
    gap_days: int = 7,
    test_days: int = 7,
    test_start: str | None = None,
    delay_days: int = 7,
    exclude_known: bool = True,
) -> TimeSplit:
    """[train][valid][gap][test], by whole days, never random rows.

    The test period starts at `test_start` (a date) or is the last `test_days` days. Before it, a
    gap of `gap_days` (labels not yet known when the test starts), then `valid_days` of validation
    (model selection) and `train_days` of training (all earlier days when None). As in the Fraud
    Detection Handbook, a test day leaves out the accounts already known to be compromised: a
    positive label, since the training period began, that was known by then (older than the label
    delay). Validation days leave them out the same way, so that model selection sees the task the
    test poses. Events before the training period still serve as history.
    """
    days = events.days
    last = int(days.max())
    if test_start is not None:
        first_test = _day_of(events, test_start)
        if not 0 <= first_test <= last:
            raise DataError(events.source, f"test start {test_start} is outside the data's days "
                            f"({events.date(0)} … {events.date(last)})")
    else:
        first_test = last - test_days + 1
    valid_start = first_test - gap_days - valid_days
    train_start = 0 if train_days is None else valid_start - train_days
    if (train_days is not None and train_days < 1) or test_days < 1 or valid_days < 0 or gap_days < 0:
        raise DataError(events.source, "train and test need at least one day; valid and gap cannot be negative")
    if train_start < 0 or valid_start <= train_start or first_test + test_days - 1 > last:
        raise DataError(events.source, f"the data has {last + 1} days: too few for {train_days or 'some'} train + "
                        f"{valid_days} valid + {gap_days} gap + {test_days} test days from day {first_test}")

    def in_range(lo: int, hi: int) -> np.ndarray:
        return np.flatnonzero((days >= lo) & (days < hi))

    def unknown(rows: np.ndarray) -> tuple[np.ndarray, int]:
        return without_known(events, rows, train_start, delay_days) if exclude_known else (rows, 0)

    train = in_range(train_start, valid_start)
    valid, valid_excluded = unknown(in_range(valid_start, first_test - gap_days))
    test, excluded = unknown(in_range(first_test, first_test + test_days))
    for name, rows in (("train", train), ("test", test)):
        if len(rows) == 0:
            raise DataError(events.source, f"no {name} events in the chosen days")
    protocol = {
        "split": "time",
        "train": [events.date(train_start), events.date(valid_start - 1)],
        "valid": [events.date(valid_start), events.date(first_test - gap_days - 1)] if valid_days else None,
        "gap_days": gap_days,
        "test": [events.date(first_test), events.date(first_test + test_days - 1)],
        "label_delay_days": delay_days,
        "valid_excluded_known_accounts": valid_excluded,
        "test_excluded_known_accounts": excluded,
        "rows": {"train": len(train), "valid": len(valid), "test": len(test)},
    }
    return TimeSplit(train, valid, test, protocol)


def without_known(events: Events, rows: np.ndarray, first_day: int, delay_days: int) -> tuple[np.ndarray, int]:
    """`rows` without those of accounts already known to be compromised on their day (a positive
    label from `first_day` on, older than the label delay: the Handbook's protocol), and how many
    were left out."""
    if events.label is None:
        return rows, 0
    days = events.days
    positive = events.label == 1
    keep = np.ones(len(rows), dtype=bool)
    for day in np.unique(days[rows]):
        known = np.unique(events.account[positive & (days >= first_day) & (days < day - delay_days)])
        keep &= ~((days[rows] == day) & np.isin(events.account[rows], known))
    return rows[keep], int((~keep).sum())


def _day_of(events: Events, date: str) -> int:
    try:
        moment = datetime.fromisoformat(date).replace(tzinfo=timezone.utc)
    except ValueError:
        raise DataError(events.source, f"not a date: {date!r} (use YYYY-MM-DD)") from None
    origin = int(events.time.min()) // DAY * DAY
    return (int(moment.timestamp()) - origin) // DAY


# ----------------------------------------------------------------------------- histories


def history_index(keys: np.ndarray, times: np.ndarray, rows: np.ndarray, length: int) -> np.ndarray:
    """(len(rows), length) indices of each row's `length` previous events with the same key, oldest
    first and right-aligned (the last column is the latest), -1 where there are fewer. Keys < 0 have
    no history. Events are in time order, and only events at strictly earlier times are history: those
    sharing a row's time are neither its past nor its future, whatever their order in the file."""
    order = np.argsort(keys, kind="stable")  # groups, in time order within each
    position = np.empty_like(order)
    position[order] = np.arange(len(order))
    sorted_keys, sorted_times = keys[order], times[order]
    group_start = np.searchsorted(sorted_keys, sorted_keys, side="left")
    # the first position of each run of one key at one time: a row's history ends before it
    starts = np.ones(len(order), dtype=bool)
    starts[1:] = (sorted_keys[1:] != sorted_keys[:-1]) | (sorted_times[1:] != sorted_times[:-1])
    tie_start = np.maximum.accumulate(np.where(starts, np.arange(len(order)), 0))
    p = position[rows]
    offsets = tie_start[p][:, None] - np.arange(length, 0, -1)[None, :]
    valid = (offsets >= group_start[p][:, None]) & (keys[rows] >= 0)[:, None]
    return np.where(valid, order[np.clip(offsets, 0, None)], -1)


# ----------------------------------------------------------------------------- windowed features


def window_features(
    events: Events, rows: np.ndarray, windows: Sequence[int] = (1, 7, 30), delay_days: int = 7
) -> tuple[np.ndarray, list[str]]:
    """The Fraud Detection Handbook's engineered features, for any event table.

    The event's own numbers, its hour, weekday, weekend and night flags and categorical codes;
    per window of w days, the account's event count and mean of each number over (t - w, t]
    (the event included); with an entity and labels, the entity's event count and share of
    positives over (t - delay - w, t - delay], whose labels are known at t.
    """
    seconds = events.time[rows] % DAY
    weekday = ((events.time[rows] // DAY) + 3) % 7  # 1970-01-01 was a Thursday; Monday = 0
    columns = [events.numeric[rows], (seconds // 3600)[:, None], weekday[:, None], (weekday >= 5)[:, None],
               (seconds < 6 * 3600)[:, None]]
    names = [*events.schema.numeric, "hour", "weekday", "weekend", "night"]
    for j, name in enumerate(events.schema.categorical):
        columns.append(np.unique(events.categorical[:, j], return_inverse=True)[1][rows, None])
        names.append(name)
    account = _Windows(events.account, events.time)
    values, present = np.nan_to_num(events.numeric), ~np.isnan(events.numeric)
    for w in windows:
        count = account.sum(rows, np.ones(len(events)), w * DAY, 0)
        columns.append(count[:, None])
        names.append(f"account_count_{w}d")
        for j, name in enumerate(events.schema.numeric):  # the mean of the values present
            total = account.sum(rows, values[:, j], w * DAY, 0)
            columns.append((total / np.maximum(account.sum(rows, present[:, j].astype(np.float64), w * DAY, 0), 1))[:, None])
            names.append(f"account_mean_{name}_{w}d")
    if events.entity is not None and events.label is not None:
        entity = _Windows(events.entity, events.time)
        for w in windows:
            span, end = (delay_days + w) * DAY, delay_days * DAY
            count = entity.sum(rows, np.ones(len(events)), span, end)
            risk = entity.sum(rows, events.label.astype(np.float64), span, end) / np.maximum(count, 1)
            columns += [count[:, None], risk[:, None]]
            names += [f"entity_count_{w}d", f"entity_risk_{w}d"]
    return np.hstack([np.asarray(c, dtype=np.float64) for c in columns]), names


class _Windows:
    """Sums of a per-event value over time windows of the same key, by binary search on
    (key, time) sorted together: O(N log N) for all rows and windows, no per-group Python loop."""

    def __init__(self, keys: np.ndarray, time: np.ndarray) -> None:
        self.order = np.lexsort((time, keys))
        span = int(time.max() - time.min()) + 1 + 400 * DAY  # wider than any window: groups never overlap
        self.composite = keys[self.order].astype(np.int64) * span + (time[self.order] - time.min())
        self.position = np.empty_like(self.order)
        self.position[self.order] = np.arange(len(self.order))
        self.group_start = np.searchsorted(keys[self.order], keys[self.order], side="left")
        self.valid = keys >= 0

    def sum(self, rows: np.ndarray, values: np.ndarray, start: int, end: int) -> np.ndarray:
        """Per row at time t: the sum of `values` over same-key events in (t - start, t - end];
        end = 0 means up to and including the row itself."""
        cumulative = np.concatenate([[0.0], np.cumsum(values[self.order])])
        p = self.position[rows]
        c = self.composite[p]
        lo = np.maximum(np.searchsorted(self.composite, c - start, side="right"), self.group_start[p])
        hi = p + 1 if end == 0 else np.maximum(np.searchsorted(self.composite, c - end, side="right"),
                                               self.group_start[p])
        return np.where(self.valid[rows], cumulative[hi] - cumulative[np.minimum(lo, hi)], 0.0)
