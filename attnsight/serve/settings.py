"""What `attnsight serve` is started with; `create_app(settings)` reads nothing else."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Settings:
    models: tuple[Path, ...]  # bundle folders; each is served under its folder name
    store: str = "sqlite:///attnsight-events.db"  # sqlite:///PATH or postgresql://...
    api_key: str | None = None  # required on write endpoints (events, reload) when set
    max_body_bytes: int = 4 * 1024 * 1024  # larger request bodies get 413
    max_batch: int = 64  # most requests one forward pass serves
    batch_wait_ms: float = 0.0  # extra wait for company; 0: take what queued while the last batch ran
    cache_users: int = 10_000  # users whose merged history is kept in memory
    device: str = "auto"
