"""The loaded bundles, their drift, and hot reload."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from attnsight.serve.deps import get_monitor, get_registry, require_api_key
from attnsight.serve.fields import Utf8
from attnsight.serve.monitor import Monitor
from attnsight.serve.registry import Registry, Served

router = APIRouter(prefix="/v1", tags=["models"])


class ModelInfo(BaseModel):
    name: str
    task: str
    path: str
    version: int = Field(description="1 at start, +1 per reload")
    loaded_at: str
    attnsight_version: str | None
    dataset: str | None
    test: dict[str, Any] | None = Field(description="The bundle's test metrics (metrics.json)")
    baselines: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="Baseline name → its test metrics on the same split (metrics.json)")
    drift_features: list[str] = Field(description="Inputs and scores monitored against the training profile")


class ModelsResponse(BaseModel):
    models: list[ModelInfo]


class ReloadRequest(BaseModel):
    name: Utf8 = Field(description="The served model to replace")
    path: Utf8 | None = Field(None, description="A new bundle folder; default: reload the model's own folder")


class DriftResponse(BaseModel):
    models: dict[str, dict[str, dict[str, Any]]] = Field(
        description="model → feature → {psi, live_count, status}; status: stable < 0.1 ≤ moderate < 0.25 ≤ major")


def _numbers(metrics: Any) -> dict[str, Any] | None:
    """The numeric entries of a metrics dict, null for an undefined one (per-class tables and the like left out)."""
    if not isinstance(metrics, dict):
        return None
    return {k: v for k, v in metrics.items() if v is None or isinstance(v, (int, float))}


def _info(served: Served, monitor: Monitor) -> ModelInfo:
    metrics = getattr(served.predictor, "metrics_", None) or {}
    baselines = metrics.get("baselines") if isinstance(metrics.get("baselines"), dict) else {}
    return ModelInfo(
        name=served.name, task=served.task, path=str(served.path), version=served.version,
        loaded_at=served.loaded_at, attnsight_version=metrics.get("versions", {}).get("attnsight"),
        dataset=metrics.get("dataset"), test=_numbers(metrics.get("test")),
        baselines={name: test for name, b in baselines.items()
                   if isinstance(b, dict) and (test := _numbers(b.get("test"))) is not None},
        drift_features=sorted(monitor.drift().get(served.name, {})),
    )


@router.get("/models", response_model=ModelsResponse)
def models(registry: Registry = Depends(get_registry), monitor: Monitor = Depends(get_monitor)) -> ModelsResponse:
    return ModelsResponse(models=[_info(s, monitor) for s in registry.all()])


@router.post("/models/reload", response_model=ModelInfo, dependencies=[Depends(require_api_key)])
def reload(body: ReloadRequest, registry: Registry = Depends(get_registry),
           monitor: Monitor = Depends(get_monitor)) -> ModelInfo:
    """Load a new version and swap it in; requests in flight finish on the old one."""
    return _info(registry.reload(body.name, Path(body.path) if body.path else None), monitor)


@router.get("/drift", response_model=DriftResponse)
def drift(monitor: Monitor = Depends(get_monitor)) -> DriftResponse:
    """Population stability index of live inputs and scores against each bundle's training profile."""
    return DriftResponse(models=monitor.drift())
