"""The web page at `/`: plain HTML, CSS and JavaScript shipped in the package (no build step, no
CDN) that call the JSON endpoints; `create_app` mounts the folder at /static."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse

STATIC = Path(__file__).resolve().parent.parent / "static"

router = APIRouter(include_in_schema=False)


@router.get("/")
def index() -> FileResponse:
    return FileResponse(STATIC / "index.html", media_type="text/html")
