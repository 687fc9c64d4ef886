"""Liveness, readiness and the Prometheus exposition."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST

from attnsight.serve.deps import get_monitor, get_registry, get_store
from attnsight.serve.monitor import Monitor
from attnsight.serve.registry import Registry
from attnsight.serve.store import EventStore

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


@router.get("/readyz")
def readyz(registry: Registry = Depends(get_registry), store: EventStore = Depends(get_store)) -> JSONResponse:
    """Models loaded and the event store answering: 200, else 503."""
    checks = {"models": bool(registry.all()), "store": store.ping()}
    return JSONResponse({"ready": all(checks.values()), **checks}, status_code=200 if all(checks.values()) else 503)


@router.get("/metrics", response_class=Response)
def metrics(monitor: Monitor = Depends(get_monitor)) -> Response:
    """Prometheus metrics, drift gauges refreshed."""
    return Response(monitor.exposition(), media_type=CONTENT_TYPE_LATEST)
