"""Live transactions: request rows checked against a risk model's schema, stored, and read back
as the history the next score attends over."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from attnsight.data.events import Events
from attnsight.errors import AttnsightError, DataError
from attnsight.scorer import RiskScorer
from attnsight.serve.store import EventStore, Transaction


def parse_transactions(scorer: RiskScorer, rows: Sequence[dict[str, Any]], field: str = "transactions") -> Events:
    """The rows as events in the model's schema; a bad value is named as field[row].column."""
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
    """Stored transactions of the rows' accounts and entities (up to the latest row's time), then the
    rows; returns the events and, per request row in request order, its row among them."""
    new = to_store_rows(scorer, rows)
    n = scorer.history_len
    latest: dict[tuple[str, str], float] = {}
    for t in new:
        for key in (("account", t.account), ("entity", t.entity)):
            if key[1] is not None:
                latest[key] = max(latest.get(key, t.ts), t.ts)
    scored_ids = {t.event_id for t in new if t.event_id is not None}
    history: dict[int, dict[str, Any]] = {}
    for (column, key), ts in latest.items():
        # the account's last n before each of its rows lie within its last n + (rows of it here)
        extra = sum(1 for t in new if (t.account if column == "account" else t.entity) == key)
        for stored in store.transactions_before(column, key, ts, n + extra):
            if stored.event_id is None or stored.event_id not in scored_ids:
                history[stored.seq] = stored.payload
    events, rows_at = scorer.from_records(rows, [history[s] for s in sorted(history)])
    order = np.empty(len(rows), dtype=np.int64)
    order[events.lines[rows_at]] = rows_at
    return events, order
