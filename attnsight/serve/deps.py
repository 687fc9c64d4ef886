"""What routers get injected: the app state built in the lifespan, and the API-key check.

All async: they only read attributes, and FastAPI runs a plain-def dependency in its thread pool,
a thread hop per dependency per request (a tenth of a busy service's time)."""

from __future__ import annotations

import hmac

from fastapi import Depends, Header, HTTPException, Request

from attnsight.serve.batching import MicroBatcher
from attnsight.serve.monitor import Monitor
from attnsight.serve.registry import Registry
from attnsight.serve.settings import Settings
from attnsight.serve.store import EventStore


async def get_settings(request: Request) -> Settings:
    return request.app.state.settings


async def get_registry(request: Request) -> Registry:
    return request.app.state.registry


async def get_store(request: Request) -> EventStore:
    return request.app.state.store


async def get_writer(request: Request) -> MicroBatcher:
    """The event store's group-commit writer."""
    return request.app.state.writer


async def get_monitor(request: Request) -> Monitor:
    return request.app.state.monitor


async def require_api_key(
    settings: Settings = Depends(get_settings),
    x_api_key: str | None = Header(default=None, description="The service's API key (or Authorization: Bearer)"),
    authorization: str | None = Header(default=None),
) -> None:
    """Write endpoints: the key must match when the service was started with one."""
    if settings.api_key is None:
        return
    given = x_api_key or (authorization[7:] if authorization and authorization.startswith("Bearer ") else None)
    if given is None or not hmac.compare_digest(given.encode(), settings.api_key.encode()):
        raise HTTPException(401, "this endpoint needs the API key: send it in the X-API-Key header")
