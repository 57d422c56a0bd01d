"""Rendering resources and messages for SCIM 2.0 (RFC 7643 §3, RFC 7644 §3.4.2, §3.12)."""

from __future__ import annotations

from scimd.directory.etag import etag
from scimd.scim.attributes import ResourceType
from scimd.scim.core_schemas import GROUP_URN, USER_URN
from scimd.scim.errors import ScimError
from scimd.store.records import GroupRecord, UserRecord

LIST_URN = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
ERROR_URN = "urn:ietf:params:scim:api:messages:2.0:Error"
SEARCH_URN = "urn:ietf:params:scim:api:messages:2.0:SearchRequest"


def _meta(resource_type: str, rec, location: str) -> dict:
    return {
        "resourceType": resource_type,
        "created": rec.created_at,
        "lastModified": rec.modified_at,
        "location": location,
        "version": etag(rec.version),
    }


def render_user(rec: UserRecord, rtype: ResourceType, base: str) -> dict:
    """A User resource (RFC 7643 §4.1) with its extensions and ``groups``."""
    attrs = rec.attrs
    schemas = [USER_URN] + [e.id for e in rtype.extensions if e.id in attrs]
    doc: dict = {"schemas": schemas, "id": rec.id}
    if "externalId" in attrs:
        doc["externalId"] = attrs["externalId"]
    doc["meta"] = _meta("User", rec, f"{base}/Users/{rec.id}")
    doc.update(attrs)  # externalId keeps its place after id; the rest follow in order
    if rec.groups is not None:
        doc["groups"] = [
            {"value": g["value"], "$ref": f"{base}/Groups/{g['value']}",
             "display": g["display"], "type": g["type"]}
            for g in rec.groups
        ]
    return doc


def render_group(rec: GroupRecord, base: str) -> dict:
    """A Group resource (RFC 7643 §4.2) with ``members`` when they were loaded.

    Members carry ``value``, ``$ref`` and ``type``: the sub-attributes of the
    normative Group schema (RFC 7643 §8.7.1), which has no ``display``.
    """
    attrs = rec.attrs
    doc: dict = {"schemas": [GROUP_URN], "id": rec.id}
    if "externalId" in attrs:
        doc["externalId"] = attrs["externalId"]
    doc["meta"] = _meta("Group", rec, f"{base}/Groups/{rec.id}")
    doc.update(attrs)  # as for users
    if rec.members is not None:
        doc["members"] = [
            {"value": m["value"],
             "$ref": f"{base}/{'Users' if m['type'] == 'User' else 'Groups'}/{m['value']}",
             "type": m["type"]}
            for m in rec.members
        ]
    return doc


def render_list(resources: list[dict], total: int, start_index: int) -> dict:
    """A ListResponse (RFC 7644 §3.4.2); ``Resources`` is always present."""
    return {
        "schemas": [LIST_URN],
        "totalResults": total,
        "itemsPerPage": len(resources),
        "startIndex": start_index,
        "Resources": resources,
    }


def render_error(exc: ScimError) -> dict:
    """An Error response (RFC 7644 §3.12): ``status`` as a string, ``scimType`` when known."""
    doc: dict = {"schemas": [ERROR_URN], "status": str(exc.status)}
    if exc.scim_type:
        doc["scimType"] = exc.scim_type
    doc["detail"] = exc.detail
    return doc
