"""The REST service (`attnsight serve`): FastAPI over the bundles, with a live event store."""

from attnsight.serve.app import Service, create_app, open_service
from attnsight.serve.settings import Settings

__all__ = ["Service", "Settings", "create_app", "open_service"]
