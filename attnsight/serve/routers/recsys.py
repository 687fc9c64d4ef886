"""Recommendations (with live events applied), audiences and similar items from a recsys bundle."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query, Response
from pydantic import BaseModel, Field, model_validator

from attnsight.explain.segments import Attended
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
    attention: bool = Field(False, description="Also return the history the model read, with the attention each "
                                               "item got")

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


class SharedFeature(BaseModel):
    feature: str = Field(description="The side-feature column, e.g. genres")
    value: str = Field(description="e.g. Sci-Fi")
    weight: float = Field(description="The attention the recommended item's fusion gives this feature")
    shared: int = Field(description="How many of the `because` items have it too")


class RecommendedItem(BaseModel):
    item: str
    score: float
    because: list[Because]
    features: list[SharedFeature] = Field(
        default_factory=list, description="The item's side features its `because` items share (\"they are all "
                                          "Sci-Fi\"), most shared first; empty for a model without item features")


class RecommendResult(BaseModel):
    user: str | None
    items: list[RecommendedItem]
    history_length: int = Field(description="History items the model read")
    unknown_items: int = Field(description="History items not in the catalogue, skipped")
    attention: list[Because] | None = Field(
        None, description="With attention: the history items read, oldest first, each with its share of the "
                          "prediction's attention (rollout; they sum to 1)")


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
        [RecQuery(q.user, q.history, q.k, q.exclude_seen, q.explain, f"requests[{n}]")
         for n, q in enumerate(body.requests)])
    return json_response(RecommendResponse(model=served.name, version=served.version, results=[
        RecommendResult(
            user=q.user,
            items=[RecommendedItem.model_validate(i, from_attributes=True) for i in r.items],
            history_length=len(r.history), unknown_items=r.unknown_items,
            attention=[Because(item=i, attention=a) for i, a in zip(r.history, r.attention)] if q.attention else None,
        )
        for q, r in zip(body.requests, results)
    ]))


@router.post("/audience", response_model=RankedResponse)
def audience(body: AudienceRequest, registry: Registry = Depends(get_registry)) -> RankedResponse:
    """The users most likely to engage with each item next: the bundle's users on their bundle histories."""
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


class UserInfo(BaseModel):
    user: str
    history_length: int = Field(description="Items in the bundle's stored history (live events not counted)")


class UsersResponse(BaseModel):
    model: str
    version: int
    total: int = Field(description="Users matching the prefix")
    users: list[UserInfo]


class ItemInfo(BaseModel):
    item: str
    title: str | None
    category: str | None
    popularity: int = Field(description="Occurrences in the training histories")


class ItemsResponse(BaseModel):
    model: str
    version: int
    total: int = Field(description="Items matching the prefix")
    items: list[ItemInfo] = Field(description="Most popular first")


class SegmentAttended(BaseModel):
    name: str
    attention: float = Field(description="Share of the segment's attention")
    lift: float = Field(description="That share over the whole audience's share (2.0: twice the average)")


class SegmentInfo(BaseModel):
    segment: int
    users: int
    share: float = Field(description="Of the audience")
    items: list[SegmentAttended] = Field(description="Most attended first")
    categories: list[SegmentAttended] = Field(description="Most attended first; empty without item categories")
    distinctive: list[SegmentAttended] = Field(description="Items with the highest lift")
    examples: list[str] = Field(description="Member users, the closest to the centre first")


class SegmentsResponse(BaseModel):
    model: str
    version: int
    k: int
    silhouette: float
    segments: list[SegmentInfo]
    members: dict[str, int] = Field(description="Each user asked for → their segment number")


def _attended(rows: list[Attended]) -> list[SegmentAttended]:
    return [SegmentAttended(name=a.name, attention=a.attention, lift=a.lift) for a in rows]


def _matching(ids: list[str], prefix: str | None) -> list[int]:
    """The positions of the ids that start with prefix (all without one)."""
    return [n for n, i in enumerate(ids) if i.startswith(prefix)] if prefix else list(range(len(ids)))


@router.get("/users", response_model=UsersResponse)
def users(model: str | None = None, prefix: str | None = None, limit: int = Query(100, ge=1, le=10_000),
          registry: Registry = Depends(get_registry)) -> UsersResponse:
    """The users the bundle holds a history for, in their training order (for pickers)."""
    served = registry.get(model, "recsys")
    sequences = served.predictor.sequences_
    rows = _matching(sequences.users, prefix)
    lengths = sequences.lengths[rows[:limit]].tolist()
    return UsersResponse(model=served.name, version=served.version, total=len(rows), users=[
        UserInfo(user=sequences.users[row], history_length=n) for row, n in zip(rows[:limit], lengths)])


@router.get("/items", response_model=ItemsResponse)
def items(model: str | None = None, prefix: str | None = None, limit: int = Query(100, ge=1, le=10_000),
          registry: Registry = Depends(get_registry)) -> ItemsResponse:
    """The catalogue, most popular first, with the bundle's display fields (title, category)."""
    served = registry.get(model, "recsys")
    rec = served.predictor
    found = [rec.item_vocab_.ids[n] for n in _matching(rec.item_vocab_.ids, prefix)]
    counts = rec.item_popularity(rec.item_vocab_.encode(found)).tolist()
    ranked = sorted(zip(found, counts), key=lambda pair: -pair[1])[:limit]
    shown = {i: rec.item_info_.get(i, {}) for i, _ in ranked}
    return ItemsResponse(model=served.name, version=served.version, total=len(found), items=[
        ItemInfo(item=i, title=shown[i].get("title"), category=shown[i].get("category"), popularity=n)
        for i, n in ranked
    ])


@router.get("/segments", response_model=SegmentsResponse)
def segments(model: str | None = None,
             user: list[str] = Query(default_factory=list, max_length=1000,
                                     description="Users whose segment to return in members"),
             registry: Registry = Depends(get_registry)) -> SegmentsResponse:
    """Audience segments: known users clustered by the representation that scores their next item,
    each described by what its members' predictions attend to. Computed on the first call per loaded
    version (seconds), then kept."""
    served = registry.get(model, "recsys")
    found = served.segments()
    for u in user:
        if u not in found.of_user:
            raise NotFound(f"unknown user {u!r}: segments hold the users the bundle was trained on")
    return SegmentsResponse(
        model=served.name, version=served.version, k=found.segmentation.k, silhouette=found.segmentation.silhouette,
        segments=[SegmentInfo(segment=s.segment, users=s.users, share=s.share, items=_attended(s.items),
                              categories=_attended(s.categories), distinctive=_attended(s.distinctive),
                              examples=s.examples) for s in found.segmentation.segments],
        members={u: found.of_user[u] for u in user},
    )
