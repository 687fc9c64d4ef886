"""Classification and attention explanations from a text bundle, micro-batched."""

from __future__ import annotations

import numpy as np
from fastapi import APIRouter, Depends, Response
from pydantic import BaseModel, Field

from attnsight.serve.deps import get_monitor, get_registry
from attnsight.serve.fields import Utf8, json_response
from attnsight.serve.monitor import Monitor
from attnsight.serve.registry import Registry, Served

router = APIRouter(prefix="/v1", tags=["text"])


class TextRequest(BaseModel):
    model: Utf8 | None = Field(None, description="Bundle name; optional when one text model is loaded")
    texts: list[Utf8] = Field(min_length=1, max_length=256)


class Classified(BaseModel):
    label: str
    probabilities: dict[str, float]


class ClassifyResponse(BaseModel):
    model: str
    version: int
    results: list[Classified]


class Word(BaseModel):
    word: str
    start: int
    end: int
    weight: float = Field(description="Share of the pooled representation's attention (rollout), over the words")


class Explained(Classified):
    text: str = Field(description="The cleaned text the model read")
    words: list[Word]
    truncated: bool


class ExplainResponse(BaseModel):
    model: str
    version: int
    results: list[Explained]


def _observe(monitor: Monitor, served: Served, texts: list[str], labels: list[str], top: list[float]) -> None:
    monitor.observe(served.name, "text_length", [len(t) for t in texts])
    monitor.observe(served.name, "score", top)
    monitor.observe(served.name, "predicted_class", labels)
    for label, p in zip(labels, top):
        monitor.classes.labels(served.name, label).inc()
        monitor.scores.labels(served.name).observe(p)


@router.post("/classify", response_model=ClassifyResponse)
async def classify(body: TextRequest, registry: Registry = Depends(get_registry),
                   monitor: Monitor = Depends(get_monitor)) -> Response:
    """Label and class probabilities for each text."""
    served = registry.get(body.model, "text")
    labels_set = served.predictor.labels_
    probabilities = await served.batchers["classify"].submit_async(body.texts)
    labels = [labels_set[int(np.argmax(p))] for p in probabilities]
    _observe(monitor, served, body.texts, labels, [float(np.max(p)) for p in probabilities])
    return json_response(ClassifyResponse(model=served.name, version=served.version, results=[
        Classified(label=label, probabilities={c: float(v) for c, v in zip(labels_set, p)})
        for label, p in zip(labels, probabilities)
    ]))


@router.post("/explain-text", response_model=ExplainResponse)
async def explain_text(body: TextRequest, registry: Registry = Depends(get_registry),
                       monitor: Monitor = Depends(get_monitor)) -> Response:
    """Label, probabilities and each word's share of the attention the prediction was read from."""
    served = registry.get(body.model, "text")
    explanations = await served.batchers["explain"].submit_async(body.texts)
    _observe(monitor, served, body.texts, [e.label for e in explanations],
             [max(e.probabilities.values()) for e in explanations])
    return json_response(ExplainResponse(model=served.name, version=served.version, results=[
        Explained(label=e.label, probabilities=e.probabilities, text=e.text, truncated=e.truncated,
                  words=[Word(word=w.word, start=w.start, end=w.end, weight=w.weight) for w in e.words])
        for e in explanations
    ]))
