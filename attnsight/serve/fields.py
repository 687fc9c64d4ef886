"""Request field types shared by the routers."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator


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
