"""HTTP plumbing shared by the wire adapters: JSON bodies, query parameters, responses."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import Response

from scimd.scim.errors import invalid_syntax, invalid_value

SCIM_JSON = "application/scim+json"
SLACK_JSON = "application/json; charset=utf-8"
MAX_COUNT = 1000
"""Largest page; a larger ``count`` is lowered to it (spec §5.2, RFC 7644 §3.4.2.4)."""


class JsonResponse(Response):
    """A response whose body is serialised with orjson."""

    def __init__(self, content: Any, status_code: int = 200, *, media_type: str = SCIM_JSON,
                 headers: dict[str, str] | None = None) -> None:
        body = b"" if content is None else orjson.dumps(content)
        super().__init__(body, status_code=status_code, headers=headers, media_type=media_type)


def parse_json(raw: bytes) -> Any:
    """A request body as JSON; 400 ``invalidSyntax`` if it is not JSON.

    The ``Content-Type`` is not checked: clients send ``application/json``,
    ``application/scim+json`` and even form types (spec §12).
    """
    if not raw.strip():
        raise invalid_syntax("The request body is empty.", code="invalid_request_payload")
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:  # also text that is not UTF-8 or holds lone surrogates
        raise invalid_syntax("The request body is not valid JSON.",
                             code="invalid_request_payload") from None


def query_int(value: Any, name: str, default: int) -> int:
    """An integer parameter (query text or SearchRequest number); 400 ``invalidValue`` else."""
    if value is None or (isinstance(value, str) and value.strip() == ""):
        return default
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            pass
    raise invalid_value(f"{name} must be an integer.")


def paging(start: Any, count: Any, default_count: int) -> tuple[int, int]:
    """``startIndex`` below 1 counts as 1, negative ``count`` as 0, ``count`` over 1000 as 1000."""
    start_index = query_int(start, "startIndex", 1)
    size = query_int(count, "count", default_count)
    return max(start_index, 1), min(max(size, 0), MAX_COUNT)

