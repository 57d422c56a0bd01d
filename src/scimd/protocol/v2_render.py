"""Rendering resources and messages for SCIM 2.0 (RFC 7643 §3, RFC 7644 §3.4.2, §3.12)."""

from __future__ import annotations

from functools import lru_cache

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


def _user_tail(rec: UserRecord, base: str) -> dict:
    tail: dict = {}
    if rec.groups is not None:
        tail["groups"] = _group_refs(rec.groups, base)
    tail["meta"] = _meta("User", rec, f"{base}/Users/{rec.id}")
    return tail


def _group_refs(groups: list[dict], base: str) -> list[dict]:
    return [{"value": g["value"], "$ref": f"{base}/Groups/{g['value']}",
             "display": g["display"], "type": g["type"]} for g in groups]


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


def _group_tail(rec: GroupRecord, base: str) -> dict:
    tail: dict = {}
    if rec.members is not None:
        tail["members"] = _member_refs(rec.members, base)
    tail["meta"] = _meta("Group", rec, f"{base}/Groups/{rec.id}")
    return tail


def _member_refs(members: list[dict], base: str) -> list[dict]:
    return [{"value": m["value"],
             "$ref": f"{base}/{'Users' if m['type'] == 'User' else 'Groups'}/{m['value']}",
             "type": m["type"]} for m in members]


def user_json(rec: UserText, rtype: ResourceType, base: str) -> bytes:
    """:func:`render_user` serialised, with the stored attributes copied in as the text
    they are stored as: a list page of 100 users skips decoding and re-encoding them
    (docs/decisions.md). The bytes equal ``orjson.dumps(render_user(...))`` of the same
    user whenever the stored text is orjson's (SQLite); PostgreSQL's ``jsonb`` text has
    the same keys and values with spaces between them.

    An extension's schema is listed when its URN is a key of the stored object: the
    stored text holds ``"URN":`` only there, since a quote inside a string is escaped,
    and no stored key holds a quote nor, below the top, a colon (``store/stored_form.py``,
    which also keeps ``schemas``, ``id``, ``groups`` and ``meta`` out of it).

    A page writes it 100 times, so it fills one byte template: the opening up to
    ``"id":`` comes from a cache per set of listed extensions, ``base``'s locations from
    a cache per base, and strings are escaped by orjson (RFC 8259 §7) one by one, which
    escapes their concatenation as well."""
    stored = rec.attrs_json
    rid = orjson.dumps(rec.id)
    groups = rec.groups
    if groups is None:
        listed = b""
    elif groups:
        listed = b',"groups":' + orjson.dumps(_group_refs(groups, base))
    else:
        listed = b',"groups":[]'
    return _USER_TEMPLATE % (_user_head(rtype.extensions, stored), rid, _members(stored),
                             listed, orjson.dumps(rec.created_at),
                             orjson.dumps(rec.modified_at), _locations(base)[0], rid[1:-1],
                             rec.version)


def group_json(rec: GroupText, base: str) -> bytes:
    """:func:`render_group` serialised, as :func:`user_json` does."""
    gid = orjson.dumps(rec.id)
    members = b""
    if rec.members is not None:
        members = b',"members":' + orjson.dumps(_member_refs(rec.members, base))
    return _GROUP_TEMPLATE % (gid, _members(rec.attrs_json), members,
                              orjson.dumps(rec.created_at), orjson.dumps(rec.modified_at),
                              _locations(base)[1], gid[1:-1], rec.version)


def list_json(resources: list[bytes], total: int, start_index: int) -> bytes:
    """:func:`render_list` serialised, of resources already serialised."""
    doc = render_list([], total, start_index)
    doc["itemsPerPage"] = len(resources)
    return orjson.dumps(doc)[:-2] + b",".join(resources) + b"]}"  # "Resources" is last


_META = (b',"meta":{"resourceType":"%s","created":%%b,"lastModified":%%b,'
         b'"location":%%b%%b","version":"W/\\"%%d\\""}}')
_USER_TEMPLATE = b"%b%b%b%b" + _META % b"User"
_GROUP_TEMPLATE = (orjson.dumps({"schemas": [GROUP_URN], "id": ""})[:-3]  # up to "id":
                   + b"%b%b%b" + _META % b"Group")
_HEADS: dict[int, tuple[tuple, list[tuple[int, bytes]], dict[int, bytes]]] = {}
"""Per tuple of extensions (by identity; the entry holds the tuple, so its id stays its
own): each extension's bit and key, and the openings built so far by set of bits. The
tuples are those of the module-level resource types (``core_schemas``,
``slack_schemas``), so it holds one entry per type."""


def _user_head(extensions: tuple, stored: bytes) -> bytes:
    """``{"schemas":[...],"id":`` listing the extensions whose key ``stored`` holds."""
    entry = _HEADS.get(id(extensions))
    if entry is None:
        entry = _HEADS[id(extensions)] = (
            extensions, [(1 << i, orjson.dumps(e.id) + b":") for i, e in enumerate(extensions)],
            {})
    present = 0
    for bit, key in entry[1]:
        if key in stored:
            present |= bit
    head = entry[2].get(present)
    if head is None:
        listed = [e.id for i, e in enumerate(extensions) if present & 1 << i]
        head = entry[2][present] = orjson.dumps(
            {"schemas": [USER_URN, *listed], "id": ""})[:-3]
    return head


def _locations(base: str) -> tuple[bytes, bytes]:
    """The JSON strings of ``base``'s Users and Groups locations, still open for an id.
    Bases come from the ``Host`` header: only those of a plausible length are cached."""
    return _cached_locations(base) if len(base) <= 512 else _escaped_locations(base)


def _escaped_locations(base: str) -> tuple[bytes, bytes]:
    return orjson.dumps(f"{base}/Users/")[:-1], orjson.dumps(f"{base}/Groups/")[:-1]


_cached_locations = lru_cache(maxsize=64)(_escaped_locations)


def _members(stored: bytes) -> bytes:
    """The members of a stored JSON object with a comma before them, or nothing. The
    text is orjson's (SQLite) or ``jsonb``'s (PostgreSQL); it is trusted as its writer
    left it: only text that is plainly no object is refused."""
    if stored[:1] != b"{" or stored[-1:] != b"}":
        raise ValueError("stored attributes are not a JSON object")
    inner = stored[1:-1]
    return b"," + inner if inner and not inner.isspace() else b""


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
