"""Request field types, and the response shortcut, shared by the routers."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Response
from pydantic import AfterValidator, BaseModel


def _utf8(value: str) -> str:
    """JSON may carry lone surrogates (\\ud800) that no store, tokenizer or frame can encode."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("not valid Unicode text (a lone surrogate)") from None
    return value


def _utf8_row(row: dict[str, Any]) -> dict[str, Any]:
    for key, value in row.items():
        _utf8(key)
        if isinstance(value, str):
            _utf8(value)
    return row


Utf8 = Annotated[str, AfterValidator(_utf8)]
Row = Annotated[dict[str, Any], AfterValidator(_utf8_row)]


def json_response(model: BaseModel) -> Response:
    """The model as JSON, serialised once: FastAPI would validate a returned model against the
    route's response_model again (the schema in /openapi.json still comes from response_model)."""
    return Response(model.model_dump_json(), media_type="application/json")
