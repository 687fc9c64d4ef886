"""Live transactions: request rows checked against a risk model's schema, stored, and read back
as the history the next score attends over."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import numpy as np

from attnsight.data.events import Events
from attnsight.errors import AttnsightError, DataError
from attnsight.scorer import RiskScorer
from attnsight.serve.store import EventStore, Transaction


def parse_transactions(scorer: RiskScorer, rows: Sequence[dict[str, Any]], field: str = "transactions") -> Events:
    """The rows as events in the model's schema; a bad value is named as field[row].column."""
    schema = scorer.schema_
    keys = [c for c in (schema.account, schema.entity, schema.id, *schema.categorical) if c]
    needed = [c for c in schema.columns() if c != schema.label]
    for i, row in enumerate(rows):
        missing = [c for c in needed if c not in row]  # a misspelt column would be read as a missing value
        if missing:
            raise AttnsightError(f"{field}[{i}]: no column {missing[0]!r}; a row has the model's columns "
                                 f"{', '.join(needed)} (null where a value is missing; the label may be left out)")
        for column in keys:  # a JSON object or list would be stored and matched as its Python repr
            value = row.get(column)
            if isinstance(value, bool) or not isinstance(value, (str, int, float, type(None))):
                raise AttnsightError(f"{field}[{i}].{column}: must be a string or a number, not "
                                     f"{json.dumps(value)}")
    try:
        return scorer.from_records(rows)[0]
    except DataError as exc:
        where = f"{field}[{exc.line}]" + (f".{exc.column}" if exc.column else "")
        raise AttnsightError(f"{where}: {exc.message}") from None


def to_store_rows(scorer: RiskScorer, rows: Sequence[dict[str, Any]]) -> list[Transaction]:
    events = parse_transactions(scorer, rows)
    schema = scorer.schema_
    ts = np.empty(len(rows), dtype=np.int64)
    ts[events.lines] = events.time  # events are in time order; lines are the request's row numbers
    out = []
    for row, t in zip(rows, ts.tolist()):
        entity = row.get(schema.entity) if schema.entity else None
        event_id = row.get(schema.id) if schema.id else None
        out.append(Transaction(
            account=str(row[schema.account]).strip(), ts=float(t), payload=dict(row),
            entity=str(entity).strip() or None if entity is not None else None,
            event_id=str(event_id) if event_id is not None else None,
        ))
    return out


def with_history(scorer: RiskScorer, store: EventStore, rows: Sequence[dict[str, Any]]) -> tuple[Events, np.ndarray]:
    """Stored transactions of the rows' accounts and entities (each row's last history_len before it),
    then the rows; returns the events and, per request row in request order, its row among them."""
    new = to_store_rows(scorer, rows)
    scored_ids = {t.event_id for t in new if t.event_id is not None}
    history: dict[int, dict[str, Any]] = {}  # by arrival: one stored row may be both an account's and an entity's
    asked: set[tuple[str, str, float]] = set()
    for t in new:
        for column, key in (("account", t.account), ("entity", t.entity)):
            if key is None or (column, key, t.ts) in asked:
                continue
            asked.add((column, key, t.ts))
            for stored in store.transactions_before(column, key, t.ts, scorer.history_len):
                if stored.event_id is None or stored.event_id not in scored_ids:
                    history[stored.seq] = stored.payload
    events, rows_at = scorer.from_records(rows, [history[s] for s in sorted(history)])
    order = np.empty(len(rows), dtype=np.int64)
    order[events.lines[rows_at]] = rows_at
    return events, order
