"""Discovery documents (RFC 7643 §5, §6, §7; RFC 7644 §4).

They say exactly what the server supports: PATCH, filtering (up to 1000
results a page), sorting, ETags and password changes; no bulk operations.
"""

from __future__ import annotations

from scimd.protocol.http import MAX_COUNT
from scimd.scim.attributes import ResourceType, Schema

SPC_URN = "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"
DOCS = "https://github.com/scimd/scimd/blob/main/docs/api.md"


def service_provider_config(base: str) -> dict:
    """``/ServiceProviderConfig`` (RFC 7643 §5)."""
    return {
        "schemas": [SPC_URN],
        "documentationUri": DOCS,
        "patch": {"supported": True},
        "bulk": {"supported": False, "maxOperations": 0, "maxPayloadSize": 0},
        "filter": {"supported": True, "maxResults": MAX_COUNT},
        "changePassword": {"supported": True},
        "sort": {"supported": True},
        "etag": {"supported": True},
        "authenticationSchemes": [{
            "type": "oauthbearertoken",
            "name": "OAuth Bearer Token",
            "description": "Authentication with a bearer token in the Authorization header.",
            "specUri": "https://www.rfc-editor.org/info/rfc6750",
            "primary": True,
        }],
        "meta": {
            "resourceType": "ServiceProviderConfig",
            "location": f"{base}/ServiceProviderConfig",
        },
    }


def schema_documents(types: list[ResourceType], base: str) -> list[dict]:
    """Every schema the resource types use, core first (RFC 7643 §7)."""
    seen: dict[str, Schema] = {}
    for rtype in types:
        for schema in (rtype.schema, *rtype.extensions):
            seen.setdefault(schema.id, schema)
    return [s.to_document(f"{base}/Schemas/{s.id}") for s in seen.values()]


def find_schema(types: list[ResourceType], name: str) -> Schema | None:
    """A schema by URN, or by Slack's ``Users``/``Groups`` and ``User``/``Group`` names."""
    low = name.lower()
    for rtype in types:
        if low in (rtype.name.lower(), rtype.endpoint.strip("/").lower()):
            return rtype.schema
        for schema in (rtype.schema, *rtype.extensions):
            if schema.id.lower() == low:
                return schema
    return None


def resource_type_documents(types: list[ResourceType], base: str) -> list[dict]:
    return [t.to_document(f"{base}/ResourceTypes/{t.name}") for t in types]
