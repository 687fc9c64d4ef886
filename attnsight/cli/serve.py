"""`attnsight serve`: the REST service over one or more bundles, with a live event store."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from attnsight.errors import AttnsightError


def serve(
    model: Annotated[list[Path], typer.Option("--model", help="Bundle folder (repeat for several); served under "
                                                             "its folder name.")],
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    store: Annotated[str, typer.Option(help="Event store: sqlite:///PATH (WAL, default) or postgresql://...")] =
        "sqlite:///attnsight-events.db",
    api_key: Annotated[Optional[str], typer.Option(envvar="ATTNSIGHT_API_KEY",
                                                   help="Required on write endpoints (events, reload).")] = None,
    max_body_mb: Annotated[float, typer.Option(help="Larger request bodies are refused (413).")] = 4.0,
    max_batch: Annotated[int, typer.Option(help="Most requests micro-batched into one forward pass.")] = 64,
    batch_wait_ms: Annotated[float, typer.Option(help="Extra wait for requests to batch with (0: batch what "
                                                          "queued while the last batch ran).")] = 0.0,
    device: Annotated[str, typer.Option(help="auto | cpu | cuda")] = "auto",
    log_level: Annotated[str, typer.Option(help="uvicorn log level.")] = "info",
) -> None:
    """Serve bundles over REST: /v1/recommend, /v1/classify, /v1/risk/score, /v1/events, ... (docs at /docs)."""
    try:
        import uvicorn

        from attnsight.serve import Settings, create_app
        from attnsight.serve.registry import bundle_task
        from attnsight.serve.store import open_store
    except ImportError:
        raise AttnsightError("attnsight serve needs its extra: pip install 'attnsight[serve]'") from None

    for path in model:  # fail here, in one line, rather than in the server's startup
        bundle_task(path)
    open_store(store).close()
    settings = Settings(models=tuple(model), store=store, api_key=api_key, max_body_bytes=int(max_body_mb * 2**20),
                        max_batch=max_batch, batch_wait_ms=batch_wait_ms, device=device)
    uvicorn.run(create_app(settings), host=host, port=port, log_level=log_level, access_log=False)
