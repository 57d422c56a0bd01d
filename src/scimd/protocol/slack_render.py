"""Slack's wire shapes for SCIM 1.1 and 2.0 (spec §3.3-§3.5, §4.1, §5.2, §7.1, §10, §12).

Key order, the full attribute set with ``null`` where empty (spec §16.8),
``externalId`` as ``""``, ``meta`` as ``{created, location}`` with ``created`` in
US Pacific time with a numeric offset, emails as ``{value, primary}`` primary
first, the phone-number mapping of §6.3, and the two error shapes.
"""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from scimd.scim.core_schemas import ENTERPRISE_URN, GROUP_URN, USER_URN
from scimd.scim.errors import ScimError
from scimd.scim.slack_schemas import GUEST_URN, PROFILE_URN, V1_CORE, V2_TO_V1
from scimd.scim.values import DATETIME_FORMAT
from scimd.store.records import GroupRecord, Tenant, UserRecord

PACIFIC = ZoneInfo("America/Los_Angeles")
LIST_URN = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
ERROR_URN = "urn:ietf:params:scim:api:messages:2.0:Error"
ENTERPRISE_KEYS = ("employeeNumber", "costCenter", "organization", "division", "department")
ADDRESS_KEYS = ("streetAddress", "locality", "region", "postalCode", "country")


def slack_time(stored: str) -> str:
    """``2021-03-04T09:15:27-08:00``: Slack's local time with a numeric offset (spec §12)."""
    moment = datetime.strptime(stored, DATETIME_FORMAT).replace(tzinfo=UTC)
    return moment.astimezone(PACIFIC).isoformat(timespec="seconds")


def tenant_url(tenant: Tenant) -> str:
    """The workspace or organization URL used in ``profileUrl`` (spec §16.21)."""
    domain = tenant.domain or (re.sub(r"[^a-z0-9-]+", "-", tenant.name.lower()).strip("-")
                               or tenant.id.lower())
    if "." in domain:
        return domain if domain.startswith("http") else f"https://{domain}"
    suffix = "enterprise.slack.com" if tenant.plan == "enterprise" else "slack.com"
    return f"https://{domain}.{suffix}"


def _meta(resource_type: str, created: str, location: str, version: int) -> dict:
    """``{created, location}`` as Slack sends it (spec §12); v2 adds ``resourceType``,
    which RFC 7643 §3.1 asks for and identity providers check (an added key is safe)."""
    meta = {"created": slack_time(created), "location": location}
    if version == 2:
        meta["resourceType"] = resource_type
    return meta


def _urn(urn: str, version: int) -> str:
    if version == 1:
        return V1_CORE if urn in (USER_URN, GROUP_URN) else V2_TO_V1.get(urn, urn)
    return urn


def _photo(attrs: dict) -> list[dict]:
    photos = attrs.get("photos") or []
    if photos and photos[0].get("value"):
        return [{"value": photos[0]["value"], "type": "photo"}]
    emails = attrs.get("emails") or [{"value": attrs.get("userName", "")}]
    digest = hashlib.md5(emails[0]["value"].lower().encode(), usedforsecurity=False).hexdigest()
    return [{"value": f"https://secure.gravatar.com/avatar/{digest}.jpg?s=192&d=mm",
             "type": "photo"}]


def _phones(attrs: dict) -> list[dict]:
    primary = mobile = None
    for phone in attrs.get("phoneNumbers") or []:
        if phone.get("primary") is True:
            primary = phone.get("value")
        else:
            mobile = phone.get("value")
    return [{"value": mobile, "type": "mobile"}, {"value": primary, "primary": True}]


def render_user(rec: UserRecord, tenant: Tenant, base: str, version: int) -> dict:
    """A user as Slack answers it, v1 or v2 (spec §3.4, §3.5)."""
    a = rec.attrs
    name = a.get("name") or {}
    ent = a.get(ENTERPRISE_URN) or {}
    profile = a.get(PROFILE_URN)
    guest = a.get(GUEST_URN)
    schemas = [USER_URN, ENTERPRISE_URN]
    if version == 2 or profile:
        schemas.append(PROFILE_URN)
    if guest:
        schemas.append(GUEST_URN)
    user_name = a.get("userName", "")
    address = (a.get("addresses") or [{}])[0]
    role = (a.get("roles") or [{}])[0].get("value")
    doc: dict = {
        "schemas": [_urn(s, version) for s in schemas],
        "id": rec.id,
        "externalId": "",
        "meta": _meta("User", rec.created_at, f"{base}/Users/{rec.id}", version),
        "userName": user_name,
        "nickName": user_name,
        "name": {"givenName": name.get("givenName"), "familyName": name.get("familyName"),
                 "honorificPrefix": name.get("honorificPrefix")},
        "displayName": a.get("displayName", ""),
        "profileUrl": f"{tenant_url(tenant)}/team/{user_name}",
        "title": a.get("title", ""),
        "timezone": a.get("timezone", "America/Los_Angeles"),
        "active": rec.active,
        "emails": [{"value": e["value"], "primary": bool(e.get("primary"))}
                   for e in a.get("emails") or []],
        "photos": _photo(a),
        "addresses": [{k: address.get(k) for k in ADDRESS_KEYS}],
        "phoneNumbers": _phones(a),
        "userType": a.get("userType"),
        "roles": [{"value": role, "primary": True}],
        "preferredLanguage": a.get("preferredLanguage"),
        "locale": a.get("locale"),
        _urn(ENTERPRISE_URN, version): {
            **{k: ent.get(k) for k in ENTERPRISE_KEYS},
            "manager": {"managerId": (ent.get("manager") or {}).get("managerId")},
        },
    }
    if version == 2 or profile:
        doc[_urn(PROFILE_URN, version)] = {"startDate": (profile or {}).get("startDate")}
    doc["groups"] = [{"value": g["value"], "display": g["display"]} for g in rec.groups or []]
    if guest:
        g: dict = {"type": guest.get("type", "multi")}
        if guest.get("expiration"):
            g["expiration"] = guest["expiration"]
        g["channels"] = guest.get("channels") or []
        doc[_urn(GUEST_URN, version)] = g
    return doc


def render_group(rec: GroupRecord, base: str, version: int) -> dict:
    """A group as Slack answers it (spec §4.1, §4.3): members always present."""
    members = [{"value": m["value"], "display": m["display"]} for m in rec.members or []] \
        if rec.members is not None else None
    meta = _meta("Group", rec.created_at, f"{base}/Groups/{rec.id}", version)
    if version == 1:
        doc: dict = {"schemas": [V1_CORE], "id": rec.id,
                     "displayName": rec.attrs.get("displayName")}
        if members is not None:
            doc["members"] = members
        doc["meta"] = meta
        return doc
    doc = {"schemas": [GROUP_URN], "id": rec.id, "meta": meta,
           "displayName": rec.attrs.get("displayName")}
    if members is not None:
        doc["members"] = members
    return doc


def render_list(resources: list[dict], total: int, start_index: int, version: int) -> dict:
    """A list page in Slack's key order (spec §5.2)."""
    if version == 1:
        return {"totalResults": total, "itemsPerPage": len(resources),
                "startIndex": start_index, "schemas": [V1_CORE], "Resources": resources}
    return {"schemas": [LIST_URN], "Resources": resources, "totalResults": total,
            "itemsPerPage": len(resources), "startIndex": start_index}


def render_error(exc: ScimError, version: int) -> dict:
    """v1 ``{"Errors": {description, code}}``; v2 ``{schemas, detail, status}`` with an
    integer status, except 401s which keep the v1 shape (spec §7.1, §16.2)."""
    if version == 1 or exc.status == 401:
        description = exc.code + (f" ({exc.context})" if exc.context else "")
        return {"Errors": {"description": description, "code": exc.status}}
    return {"schemas": [ERROR_URN], "detail": exc.code, "status": exc.status}


def _v1_attribute(attr, schema_urn: str) -> dict:
    doc: dict = {
        "name": attr.name,
        "type": attr.type.value,
        "multiValued": attr.multi_valued,
        "description": attr.description,
        "schema": schema_urn,
        "readOnly": attr.mutability.value == "readOnly",
        "required": attr.required,
        "caseExact": attr.case_exact,
    }
    if attr.canonical_values:
        doc["canonicalValues"] = list(attr.canonical_values)
    if attr.sub_attributes:
        if attr.multi_valued:
            doc["multiValuedAttributeChildName"] = _singular(attr.name)
        doc["subAttributes"] = [_v1_attribute(s, schema_urn) for s in attr.sub_attributes
                                if s.returned.value != "never" or s.name == "type"]
    return doc


def _singular(name: str) -> str:
    if name.endswith("sses"):  # addresses
        return name[:-2]
    return name[:-1] if name.endswith("s") else name


def v1_schema(rtype) -> dict:
    """``GET /scim/v1/Schemas/Users`` or ``/Groups`` in the captured v1 shape (spec §10.3)."""
    from scimd.scim.core_schemas import ID

    attributes = [{**_v1_attribute(ID, V1_CORE), "required": True}]  # spec §10.3
    attributes += [_v1_attribute(a, V1_CORE) for a in rtype.schema.attributes]
    if rtype.name == "User":
        for ext in rtype.extensions:
            urn = V2_TO_V1.get(ext.id, ext.id)
            attributes.append({
                "name": urn, "type": "complex", "multiValued": True,
                "description": ext.description, "schema": urn, "readOnly": False,
                "required": False, "caseExact": False,
                "subAttributes": [_v1_attribute(a, urn) for a in ext.attributes],
            })
        return {"id": f"{V1_CORE}:User", "name": "User", "description": "Core User",
                "schema": [V1_CORE, *[V2_TO_V1[e.id] for e in rtype.extensions]],
                "endpoint": "/Users", "attributes": attributes}
    return {"id": f"{V1_CORE}:Group", "name": "Group", "description": "Core Group",
            "schema": V1_CORE, "endpoint": "/Groups", "attributes": attributes}
