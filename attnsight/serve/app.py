"""`create_app(settings)`: composes the routers; bundles and the event store open in the lifespan,
or before it (`open_service`: the CLI reports a bad bundle or store in one line, not from uvicorn)."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, MutableMapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles

from attnsight import __version__
from attnsight.errors import AttnsightError
from attnsight.serve.batching import MicroBatcher
from attnsight.serve.monitor import Monitor
from attnsight.serve.registry import NotFound, Registry, bundle_task
from attnsight.serve.routers import events, health, models, recsys, risk, text, ui
from attnsight.serve.settings import Settings
from attnsight.serve.store import EventStore, open_store

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


@dataclass(frozen=True)
class Service:
    """What the routers serve: the event store, its group-commit writer and the loaded bundles."""

    monitor: Monitor
    store: EventStore
    registry: Registry
    writer: MicroBatcher

    def close(self) -> None:
        self.writer.close()
        self.registry.close()
        self.store.close()


def open_service(settings: Settings, monitor: Monitor | None = None) -> Service:
    """Open the store and load every bundle; on any error, what was opened is closed again."""
    monitor = monitor or Monitor()
    for path in settings.models:  # a folder that holds no bundle fails before the store file is created
        bundle_task(path)
    store = open_store(settings.store)
    registry = Registry(settings, monitor, store)
    try:
        registry.load_all()
    except BaseException:
        registry.close()
        store.discard()
        raise
    writer = MicroBatcher(store.add_groups, max_batch=256, max_wait=0.0, name="event-writer")  # group commit
    return Service(monitor, store, registry, writer)


def create_app(settings: Settings, service: Service | None = None) -> FastAPI:
    """`service`: already opened (and closed with the app); default: opened in the lifespan."""
    monitor = service.monitor if service else Monitor()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        opened = service or open_service(settings, monitor)
        try:
            app.state.settings, app.state.monitor, app.state.store, app.state.registry = (
                settings, monitor, opened.store, opened.registry)
            app.state.writer = opened.writer
            yield
        finally:
            opened.close()

    app = FastAPI(
        title="attnsight",
        version=__version__,
        summary="Recommendations, audiences, text analytics and risk scores, each with the evidence attended to.",
        lifespan=lifespan,
    )
    for router in (recsys.router, text.router, risk.router, events.router, models.router, health.router, ui.router):
        app.include_router(router)
    app.mount("/static", StaticFiles(directory=ui.STATIC), name="static")
    app.add_exception_handler(RequestValidationError, _invalid_request)
    app.add_exception_handler(AttnsightError, _domain_error)
    app.add_middleware(ServiceMiddleware, monitor=monitor, max_body_bytes=settings.max_body_bytes)
    return app


async def _invalid_request(request: Request, exc: Exception) -> JSONResponse:
    """422 whose message names the field: body.requests[0].k: Input should be ..."""
    errors = exc.errors() if isinstance(exc, RequestValidationError) else []
    messages = [_message(e) for e in errors]
    return JSONResponse({"detail": "; ".join(messages[:5]) or "invalid request",
                         "errors": [{"loc": list(e.get("loc", ())), "msg": e.get("msg"), "type": e.get("type")}
                                    for e in errors]}, status_code=422)


async def _domain_error(request: Request, exc: Exception) -> JSONResponse:
    return JSONResponse({"detail": str(exc)}, status_code=404 if isinstance(exc, NotFound) else 422)


def _message(error: Mapping[str, Any]) -> str:
    if error.get("type") == "json_invalid":  # its loc is ("body", character offset), no field
        offset = error.get("loc", ("body", "?"))[-1]
        return f"body: not valid JSON at character {offset}: {error.get('ctx', {}).get('error', 'decode error')}"
    return f"{_location(error.get('loc', ()))}: {error.get('msg', 'invalid')}"


def _location(loc: tuple[Any, ...] | list[Any]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


class _BodyTooLarge(Exception):
    pass


class ServiceMiddleware:
    """Refuses bodies over the limit (413) and counts every request by route and status."""

    def __init__(self, app: Callable[..., Awaitable[None]], monitor: Monitor, max_body_bytes: int) -> None:
        self.app, self.monitor, self.max_body_bytes = app, monitor, max_body_bytes

    def _too_large(self) -> str:
        return f"request body over {self.max_body_bytes:,} bytes"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = [500]
        declared = dict(scope.get("headers") or []).get(b"content-length")
        try:
            if declared is not None and declared.isdigit() and int(declared) > self.max_body_bytes:
                raise _BodyTooLarge
            received = [0]

            async def limited() -> Message:
                message = await receive()
                received[0] += len(message.get("body", b""))
                if received[0] > self.max_body_bytes:  # a body without Content-Length, read so far
                    raise HTTPException(413, self._too_large())  # FastAPI passes HTTPException through
                return message

            async def sending(message: Message) -> None:
                if message["type"] == "http.response.start":
                    status[0] = message["status"]
                await send(message)

            await self.app(scope, limited, sending)
        except _BodyTooLarge:
            status[0] = 413
            body = json.dumps({"detail": self._too_large()}).encode()
            await send({"type": "http.response.start", "status": 413,
                        "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
            await send({"type": "http.response.body", "body": body})
        finally:
            route = scope.get("route")
            endpoint = getattr(route, "path", "unmatched")
            self.monitor.requests.labels(endpoint, str(status[0])).inc()
            self.monitor.latency.labels(endpoint).observe(time.perf_counter() - start)
