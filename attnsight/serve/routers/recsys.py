"""Recommendations, audiences and similar items from a recsys bundle, with live events applied."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Response
from pydantic import BaseModel, Field, model_validator

from attnsight.serve.deps import get_registry
from attnsight.serve.fields import Utf8, json_response
from attnsight.serve.registry import NotFound, RecQuery, Registry, Served

router = APIRouter(prefix="/v1", tags=["recommendations"])
MAX_QUERIES = 256


class RecommendQuery(BaseModel):
    user: Utf8 | None = Field(None, description="A user id; their stored events (training + live) are the history")
    history: list[Utf8] | None = Field(None, max_length=10_000, description="Or a raw history of item ids, oldest first")
    k: int = Field(10, ge=1, le=1000)
    exclude_seen: bool = True
    explain: int = Field(3, ge=0, le=50, description="History items to list as the reason for each recommendation")

    @model_validator(mode="after")
    def one_source(self) -> RecommendQuery:
        if (self.user is None) == (self.history is None):
            raise ValueError("give either user or history")
        return self


class RecommendRequest(BaseModel):
    model: Utf8 | None = Field(None, description="Bundle name; optional when one recsys model is loaded")
    requests: list[RecommendQuery] = Field(min_length=1, max_length=MAX_QUERIES)


class Because(BaseModel):
    item: str
    attention: float


class RecommendedItem(BaseModel):
    item: str
    score: float
    because: list[Because]


class RecommendResult(BaseModel):
    user: str | None
    items: list[RecommendedItem]
    history_length: int = Field(description="History items the model read")
    unknown_items: int = Field(description="History items not in the catalogue, skipped")


class RecommendResponse(BaseModel):
    model: str
    version: int
    results: list[RecommendResult]


class ItemQuery(BaseModel):
    item: Utf8
    k: int = Field(10, ge=1, le=10_000)


class AudienceQuery(ItemQuery):
    exclude_seen: bool = True


class AudienceRequest(BaseModel):
    model: Utf8 | None = None
    requests: list[AudienceQuery] = Field(min_length=1, max_length=MAX_QUERIES)


class SimilarRequest(BaseModel):
    model: Utf8 | None = None
    requests: list[ItemQuery] = Field(min_length=1, max_length=MAX_QUERIES)


class Scored(BaseModel):
    id: str
    score: float


class RankedResult(BaseModel):
    item: str
    results: list[Scored]


class RankedResponse(BaseModel):
    model: str
    version: int
    results: list[RankedResult]


def _check_items(served: Served, queries: list[ItemQuery]) -> None:
    for n, q in enumerate(queries):
        if q.item not in served.predictor.item_vocab_:
            raise NotFound(f"requests[{n}].item: unknown item {q.item!r}")


@router.post("/recommend", response_model=RecommendResponse)
async def recommend(body: RecommendRequest, registry: Registry = Depends(get_registry)) -> Response:
    """Top-k next items per user (or raw history), each with the history items that drove it."""
    served = registry.get(body.model, "recsys")
    results = await served.batchers["recommend"].submit_async(
        [RecQuery(q.user, q.history, q.k, q.exclude_seen, q.explain) for q in body.requests])
    return json_response(RecommendResponse(model=served.name, version=served.version, results=[
        RecommendResult(
            user=q.user,
            items=[RecommendedItem(item=i.item, score=i.score,
                                   because=[Because(item=b.item, attention=b.attention) for b in i.because])
                   for i in r.items],
            history_length=len(r.history), unknown_items=r.unknown_items,
        )
        for q, r in zip(body.requests, results)
    ]))


@router.post("/audience", response_model=RankedResponse)
def audience(body: AudienceRequest, registry: Registry = Depends(get_registry)) -> RankedResponse:
    """The users most likely to engage with each item next (users known to the bundle)."""
    served = registry.get(body.model, "recsys")
    _check_items(served, body.requests)
    return RankedResponse(model=served.name, version=served.version, results=[
        RankedResult(item=q.item, results=[Scored(id=u, score=s) for u, s in
                                           served.predictor.audience(q.item, q.k, q.exclude_seen)])
        for q in body.requests
    ])


@router.post("/similar-items", response_model=RankedResponse)
def similar_items(body: SimilarRequest, registry: Registry = Depends(get_registry)) -> RankedResponse:
    """The items whose learned embeddings are closest to each item's."""
    served = registry.get(body.model, "recsys")
    _check_items(served, body.requests)
    return RankedResponse(model=served.name, version=served.version, results=[
        RankedResult(item=q.item, results=[Scored(id=i, score=s) for i, s in served.predictor.similar_items(q.item, q.k)])
        for q in body.requests
    ])
