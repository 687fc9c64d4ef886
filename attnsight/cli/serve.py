"""`attnsight serve`: the REST service over one or more bundles, with a live event store."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer

from attnsight.errors import AttnsightError


class LogLevel(str, Enum):
    """uvicorn's log levels."""

    critical = "critical"
    error = "error"
    warning = "warning"
    info = "info"
    debug = "debug"
    trace = "trace"


def serve(
    model: Annotated[list[Path], typer.Option("--model", help="Bundle folder (repeat for several); served under "
                                                             "its folder name.")],
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="Port to listen on (0: any free one).")] = 8000,
    store: Annotated[str, typer.Option(help="Event store: sqlite:///PATH (WAL, default) or postgresql://...")] =
        "sqlite:///attnsight-events.db",
    api_key: Annotated[Optional[str], typer.Option(envvar="ATTNSIGHT_API_KEY",
                                                   help="Required on write endpoints (events, reload).")] = None,
    max_body_mb: Annotated[float, typer.Option(min=0.001, help="Larger request bodies are refused (413).")] = 4.0,
    max_batch: Annotated[int, typer.Option(min=1, help="Most requests micro-batched into one forward pass.")] = 64,
    batch_wait_ms: Annotated[float, typer.Option(min=0, help="Extra wait for requests to batch with (0: batch what "
                                                          "queued while the last batch ran).")] = 0.0,
    device: Annotated[str, typer.Option(help="auto | cpu | cuda")] = "auto",
    log_level: Annotated[LogLevel, typer.Option(help="uvicorn log level.")] = LogLevel.info,
) -> None:
    """Serve bundles over REST: /v1/recommend, /v1/classify, /v1/risk/score, /v1/events, ... (docs at /docs)."""
    try:
        import uvicorn

        from attnsight.serve import Settings, create_app, open_service
    except ImportError:
        raise AttnsightError("attnsight serve needs its extra: pip install 'attnsight[serve]'") from None

    settings = Settings(models=tuple(model), store=store, api_key=api_key, max_body_bytes=int(max_body_mb * 2**20),
                        max_batch=max_batch, batch_wait_ms=batch_wait_ms, device=device)
    service = open_service(settings)  # a bad bundle, store or device fails here in one line, not in uvicorn's startup
    uvicorn.run(create_app(settings, service), host=host, port=port, log_level=log_level.value, access_log=False)
