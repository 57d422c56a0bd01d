"""The synthetic directory every server of the benchmark is seeded with (stdlib only).

User ``i`` has ``userName`` ``bench.user{i:06d}``, email ``bench.user{i:06d}@example.com``
and ``externalId`` ``ext-{i:06d}``, so the load generator can build filters for any user
without asking the server. A user document answers in about 1 KB, like the ceiling's.
"""

from __future__ import annotations

import json

USER_URN = "urn:ietf:params:scim:schemas:core:2.0:User"
ENTERPRISE_URN = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
GROUP_URN = "urn:ietf:params:scim:schemas:core:2.0:Group"
PATCH_URN = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
SCIM_JSON = "application/scim+json"


def user_name(i: int) -> str:
    return f"bench.user{i:06d}"


def email(i: int) -> str:
    return f"{user_name(i)}@example.com"


def external_id(i: int) -> str:
    return f"ext-{i:06d}"


def user_doc(i: int, *, name: str | None = None) -> dict:
    """The POST body of user ``i`` (``name`` overrides the userName, for new users)."""
    handle = name or user_name(i)
    return {
        "schemas": [USER_URN, ENTERPRISE_URN],
        "userName": handle,
        "externalId": f"ext-{handle}" if name else external_id(i),
        "name": {"givenName": "Bench", "familyName": f"User{i:06d}",
                 "formatted": f"Bench User{i:06d}"},
        "displayName": f"Bench User{i:06d}",
        "nickName": f"bu{i:06d}",
        "title": "Software Engineer",
        "userType": "Employee",
        "preferredLanguage": "en-US",
        "locale": "en-US",
        "timezone": "Europe/Paris",
        "active": True,
        "emails": [{"value": f"{handle}@example.com", "type": "work", "primary": True}],
        "phoneNumbers": [{"value": f"+1 555 {i:07d}", "type": "work"}],
        ENTERPRISE_URN: {"employeeNumber": f"{i:06d}", "department": "Engineering",
                         "organization": "Example"},
    }


def stored_attrs(i: int) -> dict:
    """What scimd stores for user ``i`` in the rfc dialect: the body without ``schemas``."""
    doc = user_doc(i)
    del doc["schemas"]
    return doc


def ceiling_body() -> bytes:
    """The ceiling's fixed answer: a user as scimd renders it, padded to exactly 1 KB."""
    doc = {
        "schemas": [USER_URN, ENTERPRISE_URN],
        "id": "W0000000001",
        "externalId": external_id(1),
        "meta": {"resourceType": "User", "created": "2026-01-01T00:00:00.000000Z",
                 "lastModified": "2026-01-01T00:00:00.000000Z",
                 "location": "http://127.0.0.1:8000/scim/v2/Users/W0000000001",
                 "version": 'W/"1"'},
        **stored_attrs(1),
        "groups": [],
    }
    body = json.dumps(doc, separators=(",", ":")).encode()
    pad = 1024 - len(body) - len(',"x":""')
    assert pad >= 0, len(body)
    doc["x"] = "." * pad
    body = json.dumps(doc, separators=(",", ":")).encode()
    assert len(body) == 1024, len(body)
    return body
