"""Rendering resources and messages for SCIM 2.0 (RFC 7643 §3, RFC 7644 §3.4.2, §3.12)."""

from __future__ import annotations

from functools import cache

import orjson

from scimd.directory.etag import etag
from scimd.scim.attributes import ResourceType
from scimd.scim.core_schemas import GROUP_URN, USER_URN
from scimd.scim.errors import ScimError
from scimd.store.records import GroupRecord, GroupText, UserRecord, UserText

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
    """A User resource (RFC 7643 §4.1) with its extensions and ``groups``.

    Keys come in the order :func:`user_json` writes them: ``schemas``, ``id``, the stored
    attributes in their stored order, ``groups``, ``meta``."""
    attrs = rec.attrs
    doc: dict = {"schemas": [USER_URN] + [e.id for e in rtype.extensions if e.id in attrs],
                 "id": rec.id}
    doc.update(attrs)
    doc.update(_user_tail(rec, base))
    return doc


def _user_tail(rec: UserRecord | UserText, base: str) -> dict:
    tail: dict = {}
    if rec.groups is not None:
        tail["groups"] = [
            {"value": g["value"], "$ref": f"{base}/Groups/{g['value']}",
             "display": g["display"], "type": g["type"]}
            for g in rec.groups
        ]
    tail["meta"] = _meta("User", rec, f"{base}/Users/{rec.id}")
    return tail


def render_group(rec: GroupRecord, base: str) -> dict:
    """A Group resource (RFC 7643 §4.2) with ``members`` when they were loaded.

    Members carry ``value``, ``$ref`` and ``type``: the sub-attributes of the
    normative Group schema (RFC 7643 §8.7.1), which has no ``display``. Keys come in the
    order :func:`group_json` writes them.
    """
    doc: dict = {"schemas": [GROUP_URN], "id": rec.id}
    doc.update(rec.attrs)
    doc.update(_group_tail(rec, base))
    return doc


def _group_tail(rec: GroupRecord | GroupText, base: str) -> dict:
    tail: dict = {}
    if rec.members is not None:
        tail["members"] = [
            {"value": m["value"],
             "$ref": f"{base}/{'Users' if m['type'] == 'User' else 'Groups'}/{m['value']}",
             "type": m["type"]}
            for m in rec.members
        ]
    tail["meta"] = _meta("Group", rec, f"{base}/Groups/{rec.id}")
    return tail


def user_json(rec: UserText, rtype: ResourceType, base: str) -> bytes:
    """:func:`render_user` serialised, with the stored attributes copied in as the text
    they are stored as: a list page of 100 users skips decoding and re-encoding them
    (docs/decisions.md). The bytes equal ``orjson.dumps(render_user(...))`` of the same
    user whenever the stored text is orjson's (SQLite); PostgreSQL's ``jsonb`` text has
    the same keys and values with spaces between them.

    An extension's schema is listed when its URN is a key of the stored object: the
    stored text holds ``"URN":`` only there, since a quote inside a string is escaped,
    and no stored key holds a quote nor, below the top, a colon (``store/stored_form.py``,
    which also keeps ``schemas``, ``id``, ``groups`` and ``meta`` out of it)."""
    stored = rec.attrs_json
    schemas = [USER_URN] + [e.id for e in rtype.extensions if _key(e.id) in stored]
    return _splice({"schemas": schemas, "id": rec.id}, stored, _user_tail(rec, base))


def group_json(rec: GroupText, base: str) -> bytes:
    """:func:`render_group` serialised, as :func:`user_json` does."""
    return _splice({"schemas": [GROUP_URN], "id": rec.id}, rec.attrs_json,
                   _group_tail(rec, base))


def list_json(resources: list[bytes], total: int, start_index: int) -> bytes:
    """:func:`render_list` serialised, of resources already serialised."""
    doc = render_list([], total, start_index)
    doc["itemsPerPage"] = len(resources)
    return orjson.dumps(doc)[:-2] + b",".join(resources) + b"]}"  # "Resources" is last


@cache
def _key(urn: str) -> bytes:
    return orjson.dumps(urn) + b":"


def _splice(head: dict, stored: bytes, tail: dict) -> bytes:
    """One JSON object: ``head``'s members, the stored object's, then ``tail``'s. The
    stored text is a JSON object, written by orjson (SQLite) or ``jsonb`` (PostgreSQL)
    without surrounding space; its members are copied between the braces. The text is
    trusted as its writer left it: only text that is plainly no object is refused."""
    if stored[:1] != b"{" or stored[-1:] != b"}":
        raise ValueError("stored attributes are not a JSON object")
    inner = stored[1:-1].strip()
    middle = b"," + inner if inner else b""
    return orjson.dumps(head)[:-1] + middle + b"," + orjson.dumps(tail)[1:]


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
