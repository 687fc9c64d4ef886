"""Live events in: stored (durably) before the response, used by the next prediction at once."""

from __future__ import annotations

import asyncio
import math
import time
from datetime import datetime, timezone

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field, field_validator, model_validator

from attnsight.data.events import EARLIEST, LATEST
from attnsight.serve.batching import MicroBatcher
from attnsight.serve.deps import get_monitor, get_registry, get_writer, require_api_key
from attnsight.serve.fields import Row, Utf8
from attnsight.serve.live import to_store_rows
from attnsight.serve.monitor import Monitor
from attnsight.serve.registry import Registry
from attnsight.serve.store import BehaviourEvent

router = APIRouter(prefix="/v1", tags=["events"], dependencies=[Depends(require_api_key)])
MAX_EVENTS = 10_000


class Behaviour(BaseModel):
    user: Utf8 = Field(min_length=1)
    item: Utf8 = Field(min_length=1)
    timestamp: float | str | None = Field(None, description="Epoch seconds or an ISO 8601 time; default: now")
    event_id: Utf8 | None = Field(None, min_length=1, description="Makes the write idempotent")

    @field_validator("timestamp", mode="before")
    @classmethod
    def not_a_boolean(cls, value: object) -> object:
        if isinstance(value, bool):  # JSON true would pass as the number 1
            raise ValueError("not a number or ISO 8601 time")
        return value

    @field_validator("timestamp")
    @classmethod
    def parse_time(cls, value: float | str | None) -> float | str | None:
        if isinstance(value, str):  # epoch seconds written as text, as files hold them, or an ISO time
            try:
                value = float(value)
            except ValueError:
                try:
                    parsed = datetime.fromisoformat(value)
                except ValueError:
                    raise ValueError("not a number or ISO 8601 time") from None
                value = (parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)).timestamp()
        if value is not None and not (math.isfinite(value) and EARLIEST <= value <= LATEST):
            raise ValueError(f"not epoch seconds of the years 1 to 9999 ({EARLIEST:.0f} to {LATEST:.0f})")
        return value


class EventsRequest(BaseModel):
    events: list[Behaviour] = Field(default_factory=list, max_length=MAX_EVENTS)
    transactions: list[Row] = Field(
        default_factory=list, max_length=MAX_EVENTS,
        description="Rows keyed by the risk model's column names, as in its training file")
    model: Utf8 | None = Field(None, description="The risk model whose columns the transactions use")

    @model_validator(mode="after")
    def not_empty(self) -> EventsRequest:
        if not self.events and not self.transactions:
            raise ValueError("send events, transactions or both")
        return self


class EventsResponse(BaseModel):
    stored: int = Field(description="New events, committed to the store")
    duplicates: int = Field(description="Events whose event_id was already stored")


@router.post("/events", response_model=EventsResponse)
async def ingest(
    body: EventsRequest,
    registry: Registry = Depends(get_registry),
    writer: MicroBatcher = Depends(get_writer),
    monitor: Monitor = Depends(get_monitor),
) -> EventsResponse:
    """Behaviour events (user, item, time) and transactions; acknowledged only once committed.
    Concurrent requests share a commit (group commit), each still answered after it."""
    transactions = []
    if body.model is not None and not body.transactions:
        registry.get(body.model, "risk")  # a model named for nothing is still a mistake to report
    if body.transactions:  # checked before anything is written, so a bad row stores nothing
        scorer = registry.get(body.model, "risk").predictor
        transactions = await asyncio.to_thread(to_store_rows, scorer, body.transactions)  # off the event loop
    now = time.time()
    behaviour = [BehaviourEvent(e.user, e.item, now if e.timestamp is None else float(e.timestamp), e.event_id)
                 for e in body.events]
    ((new_behaviour, new_transactions),) = await writer.submit_async([(behaviour, transactions)])
    for kind, rows, new in (("behaviour", behaviour, new_behaviour), ("transaction", transactions, new_transactions)):
        monitor.events.labels(kind).inc(new)
        monitor.duplicates.labels(kind).inc(len(rows) - new)
    stored = new_behaviour + new_transactions
    return EventsResponse(stored=stored, duplicates=len(behaviour) + len(transactions) - stored)
