"""Risk scores and their attended evidence, over each account's and entity's stored history."""

from __future__ import annotations

import math
from typing import Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from attnsight.serve.deps import get_monitor, get_registry, get_store
from attnsight.serve.fields import Row, Utf8
from attnsight.serve.live import with_history
from attnsight.serve.monitor import Monitor
from attnsight.serve.registry import Registry, Served
from attnsight.serve.store import EventStore

router = APIRouter(prefix="/v1/risk", tags=["risk"])


class RiskRequest(BaseModel):
    model: Utf8 | None = Field(None, description="Bundle name; optional when one risk model is loaded")
    transactions: list[Row] = Field(
        min_length=1, max_length=1024,
        description="Rows keyed by the model's column names (account, time, numbers, categories, entity, id); "
                    "the account's and entity's stored events are their history")
    top: int = Field(5, ge=1, le=100, description="explain: attended past events listed per transaction")


class SchemaResponse(BaseModel):
    model: str
    version: int
    account: str = Field(description="The account column: whose history a transaction reads")
    time: str
    numeric: list[str]
    categorical: dict[str, list[str]] = Field(description="Each categorical column → the values the model knows")
    entity: str | None = Field(description="A second entity (terminal, merchant) whose history is read too")
    id: str | None = Field(description="The event id column")
    label: str | None = Field(description="The label column: optional in requests")
    history_len: int = Field(description="Past events read per account and per entity")


class RiskScore(BaseModel):
    event: str
    account: str
    score: float


class ScoreResponse(BaseModel):
    model: str
    version: int
    results: list[RiskScore]


class Attended(BaseModel):
    source: str = Field(description="account or entity: whose history the event came from")
    event: str
    time: str
    seconds_before: int
    weight: float
    fields: dict[str, Any]
    label: int | None = Field(description="Its label, when known by the scored event's time")


class RiskExplained(RiskScore):
    attended: list[Attended]


class ExplainResponse(BaseModel):
    model: str
    version: int
    results: list[RiskExplained]


def _observe(monitor: Monitor, served: Served, body: RiskRequest, scores: list[float]) -> None:
    for name in served.predictor.schema_.numeric:
        monitor.observe(served.name, name, [_float(r.get(name)) for r in body.transactions])
    monitor.observe(served.name, "score", scores)
    for s in scores:
        monitor.scores.labels(served.name).observe(s)


def _float(value: Any) -> float | None:
    """A number for the drift monitor; None for a missing one ("nan" is one, as scoring reads it)."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(number) else number


@router.get("/schema", response_model=SchemaResponse)
def schema(model: str | None = None, registry: Registry = Depends(get_registry)) -> SchemaResponse:
    """The columns a transaction of this model is written in, as in its training file."""
    served = registry.get(model, "risk")
    scorer = served.predictor
    columns = scorer.schema_
    return SchemaResponse(
        model=served.name, version=served.version, account=columns.account, time=columns.time,
        numeric=list(columns.numeric), categorical=dict(zip(columns.categorical, scorer.vocabularies_)),
        entity=columns.entity, id=columns.id, label=columns.label, history_len=scorer.history_len)


@router.post("/score", response_model=ScoreResponse)
def score(body: RiskRequest, registry: Registry = Depends(get_registry), store: EventStore = Depends(get_store),
          monitor: Monitor = Depends(get_monitor)) -> ScoreResponse:
    """Risk probability of each transaction, from the stored history before it (nothing is stored:
    POST /v1/events for that)."""
    served = registry.get(body.model, "risk")
    scorer = served.predictor
    events, rows = with_history(scorer, store, body.transactions)
    scores = scorer.score(events, rows).tolist()
    _observe(monitor, served, body, scores)
    ids, accounts = events.event_ids(rows), events.accounts[events.account[rows]].tolist()
    return ScoreResponse(model=served.name, version=served.version, results=[
        RiskScore(event=e, account=a, score=s) for e, a, s in zip(ids, accounts, scores)])


@router.post("/explain", response_model=ExplainResponse)
def explain(body: RiskRequest, registry: Registry = Depends(get_registry), store: EventStore = Depends(get_store),
            monitor: Monitor = Depends(get_monitor)) -> ExplainResponse:
    """Each transaction's score and the past events of its account and entity it attended to most."""
    served = registry.get(body.model, "risk")
    events, rows = with_history(served.predictor, store, body.transactions)
    explained = served.predictor.explain(events, rows, body.top)
    _observe(monitor, served, body, [e.score for e in explained])
    return ExplainResponse(model=served.name, version=served.version, results=[
        RiskExplained(event=e.event, account=e.account, score=e.score, attended=[
            Attended(source=a.source, event=a.event, time=a.time, seconds_before=a.seconds_before,
                     weight=a.weight, fields=a.fields, label=a.label) for a in e.attended])
        for e in explained
    ])
