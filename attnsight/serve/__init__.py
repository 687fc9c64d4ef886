"""The REST service (`attnsight serve`): FastAPI over the bundles, with a live event store."""

from attnsight.serve.app import create_app
from attnsight.serve.settings import Settings

__all__ = ["Settings", "create_app"]
