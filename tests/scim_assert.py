"""Assertions shared by the rfc-dialect API tests (RFC 7644 §3.12, §3.5.2)."""

from __future__ import annotations

import httpx

ERROR_URN = "urn:ietf:params:scim:api:messages:2.0:Error"
PATCH_URN = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


def assert_error(r: httpx.Response, status: int,
                 scim_type: str | tuple[str, ...] | None = None) -> dict:
    """An RFC 7644 §3.12 error body: the Error URN, ``status`` as a string, the expected
    ``scimType`` (one of several, when a tuple) and a ``detail``."""
    assert r.status_code == status, r.text
    body = r.json()
    assert body["schemas"] == [ERROR_URN]
    assert body["status"] == str(status)
    if isinstance(scim_type, str):
        assert body.get("scimType") == scim_type, body
    elif scim_type is not None:
        assert body.get("scimType") in scim_type, body
    assert isinstance(body.get("detail"), str) and body["detail"]
    return body


def patch_op(*operations: dict) -> dict:
    """A PatchOp request body (RFC 7644 §3.5.2)."""
    return {"schemas": [PATCH_URN], "Operations": list(operations)}
