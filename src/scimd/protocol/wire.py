"""Wire formats: how one protocol version of one dialect reads and writes bodies.

``RfcWire`` is SCIM 2.0 as RFC 7643/7644 write it. ``SlackWire`` is Slack's SCIM
1.1 (``version=1``) or 2.0 (``version=2``) with the shapes of the spec. The
handlers in :mod:`scimd.protocol.api` are the same for all three.
"""

from __future__ import annotations

import json
from types import ModuleType
from typing import Any

from scimd.directory.policy import Policy
from scimd.protocol import slack_render, v2_render
from scimd.protocol.http import SCIM_JSON, SLACK_JSON
from scimd.scim import discovery
from scimd.scim.attributes import ResourceType
from scimd.scim.core_schemas import ENTERPRISE_URN, USER_URN
from scimd.scim.errors import ScimError, invalid_syntax
from scimd.scim.patch import parse_operations
from scimd.scim.slack_filter import check_spacing, normalize_literals
from scimd.scim.slack_schemas import GUEST_URN, PROFILE_URN, V1_CORE, V1_TO_V2
from scimd.scim.validate import canonical_body
from scimd.store.records import GroupRecord, Tenant, UserRecord

Ops = list[tuple[str, str | None, Any]]


class RfcWire:
    """SCIM 2.0 per RFC 7643/7644."""

    version = 2
    media_type = SCIM_JSON
    delete_user_status = 204
    patch_group_status = 204
    """A group PATCH answers 204 (RFC 7644 §3.5.2 allows it when no attributes were asked
    for): identity providers ignore the body, and a large group's would cost more than
    the change (bench/README.md). ``attributes`` or ``excludedAttributes`` on the request
    gets 200 and the group."""
    patch_group_body_on_request = True
    send_meta_version = True
    splicer: ModuleType | None = v2_render
    """What writes whole-directory list pages from the stored JSON text, undecoded
    (``user_json``, ``group_json``, ``list_json``; docs/decisions.md); ``None`` where the
    wire's shapes need the decoded attributes."""

    def user(self, rec: UserRecord, tenant: Tenant, rtype: ResourceType, base: str) -> dict:
        return v2_render.render_user(rec, rtype, base)

    def group(self, rec: GroupRecord, base: str) -> dict:
        return v2_render.render_group(rec, base)

    def list(self, docs: list[dict], total: int, start: int) -> dict:
        return v2_render.render_list(docs, total, start)

    def error(self, exc: ScimError) -> dict:
        return v2_render.render_error(exc)

    def filter_text(self, text: str) -> str:
        return text

    def check_body(self, body: Any, policy: Policy, *, creating: bool) -> dict:
        if not isinstance(body, dict):
            raise invalid_syntax("The request body must be a JSON object.")
        schemas = body.get("schemas")
        if schemas is not None and (not isinstance(schemas, list)
                                    or not all(isinstance(s, str) for s in schemas)):
            raise invalid_syntax("schemas must be a list of URNs.")
        policy.check_body(body, creating=creating)
        return body

    def user_attrs(self, body: Any, policy: Policy, *,
                   creating: bool) -> tuple[dict, str | None]:
        body = self.check_body(body, policy, creating=creating)
        attrs = canonical_body(body, policy.user_type)
        return attrs, attrs.pop("password", None)

    def group_attrs(self, body: Any, policy: Policy) -> dict:
        body = self.check_body(body, policy, creating=True)
        return canonical_body(body, policy.group_type)

    def patch_ops(self, body: Any, policy: Policy, kind: str) -> Ops:
        return parse_operations(body)

    def service_provider_config(self, base: str) -> dict:
        return discovery.service_provider_config(base)

    def resource_types(self, types: list[ResourceType], base: str) -> dict:
        docs = discovery.resource_type_documents(types, base)
        return v2_render.render_list(docs, len(docs), 1)


class SlackWire(RfcWire):
    """Slack's SCIM 1.1 or 2.0 (spec §2, §3, §5, §6, §7, §10)."""

    media_type = SLACK_JSON
    send_meta_version = False
    splicer = None  # Slack's shapes are built from decoded attributes (spec §2, §5)

    def __init__(self, version: int) -> None:
        self.version = version
        self.delete_user_status = 200 if version == 1 else 204
        self.patch_group_status = 204 if version == 1 else 200  # spec §2 table
        self.patch_group_body_on_request = False

    def user(self, rec: UserRecord, tenant: Tenant, rtype: ResourceType, base: str) -> dict:
        return slack_render.render_user(rec, tenant, base, self.version)

    def group(self, rec: GroupRecord, base: str) -> dict:
        return slack_render.render_group(rec, base, self.version)

    def list(self, docs: list[dict], total: int, start: int) -> dict:
        return slack_render.render_list(docs, total, start, self.version)

    def error(self, exc: ScimError) -> dict:
        return slack_render.render_error(exc, self.version)

    def filter_text(self, text: str) -> str:
        check_spacing(text)
        return normalize_literals(text)

    def check_body(self, body: Any, policy: Policy, *, creating: bool) -> dict:
        if isinstance(body, dict):
            body = _flatten_schemas(body)
            if self.version == 1:
                body = v1_to_v2(body)
        return super().check_body(body, policy, creating=creating)

    def user_attrs(self, body: Any, policy: Policy, *,
                   creating: bool) -> tuple[dict, str | None]:
        """Slack's codes for bad values (``emails_invalid``, ``addresses_invalid``, …, spec
        §7.3); on create, a bad custom-profile value drops every custom-profile field and
        the user is still created (spec §3.2, §13.3)."""
        body = self.check_body(body, policy, creating=creating)
        try:
            return super().user_attrs(body, policy, creating=creating)
        except ScimError as exc:
            if creating and exc.attribute in CUSTOM_PROFILE and exc.status == 400:
                trimmed = _without_custom_profile(body)
                return super().user_attrs(trimmed, policy, creating=creating)
            if exc.attribute in SLACK_INVALID_CODES and exc.code == "invalid_attribute_format":
                exc.code = SLACK_INVALID_CODES[exc.attribute]
            raise

    def patch_ops(self, body: Any, policy: Policy, kind: str) -> Ops:
        if not isinstance(body, dict):
            raise invalid_syntax("The PATCH body must be a JSON object.")
        has_ops = any(isinstance(k, str) and k.lower() == "operations" for k in body)
        if self.version == 2 and has_ops:
            if not _flatten_schemas(body).get("schemas"):  # spec §7.3
                raise invalid_syntax("schemas is missing from the body.",
                                     code="missing_schema_element")
            ops = parse_operations(body)
            return [(op, normalize_literals(path) if path else path, value)
                    for op, path, value in ops]
        # SCIM 1.1 partial bodies (spec §4.4, §6.1), also accepted on v2 (spec §6.2).
        body = self.check_body(body, policy, creating=False)
        return partial_to_ops(body, kind)

    def service_provider_config(self, base: str) -> dict:
        """Exactly Slack's keys (spec §10.1), with each flag saying what scimd supports
        (§16.25). RFC clients that need ``schemas`` use an ``rfc`` tenant."""
        return {
            "authenticationSchemes": [{
                "type": "oauthbearertoken",
                "name": "OAuth Bearer Token",
                "description": "Authentication Scheme using the OAuth Bearer Token Standard",
                "specUrl": "http://tools.ietf.org/html/draft-ietf-oauth-v2-bearer-01",
                "primary": True,
            }],
            "patch": {"supported": True},
            "bulk": {"supported": False, "maxOperations": 0, "maxPayloadSize": 0},
            "filter": {"supported": True, "maxResults": 1000},
            "changePassword": {"supported": False},
            "sort": {"supported": True},
            "etag": {"supported": True},
            "xmlDataFormat": {"supported": False},
        }

    def resource_types(self, types: list[ResourceType], base: str) -> dict:
        """Spec §10.2: a ListResponse of ``schemas`` and ``Resources`` only."""
        docs = discovery.resource_type_documents(types, base)
        for doc in docs:
            if not doc["schemaExtensions"]:
                del doc["schemaExtensions"]
        return {"schemas": [v2_render.LIST_URN], "Resources": docs}


SLACK_INVALID_CODES = {"emails": "emails_invalid", "addresses": "addresses_invalid",
                       "photos": "photos_invalid", "roles": "roles_invalid",
                       "phoneNumbers": "phoneNumbers_invalid", "groups": "groups_invalid"}
"""Slack's error code for a malformed value of each attribute (spec §7.3)."""

CUSTOM_PROFILE = {ENTERPRISE_URN, PROFILE_URN, "addresses"}
"""Attributes Slack keeps as custom profile fields (spec §3.2)."""


def _without_custom_profile(body: dict) -> dict:
    custom = {k.lower() for k in CUSTOM_PROFILE}
    out = {k: v for k, v in body.items() if not (isinstance(k, str) and k.lower() in custom)}
    name = out.get("name")
    if isinstance(name, dict):
        out["name"] = {k: v for k, v in name.items() if k != "honorificPrefix"}
    return out


def _flatten_schemas(body: dict) -> dict:
    """slack_sdk sends back ``schemas`` as a list of lists (its models nest the list they
    read); Slack accepts that, so we flatten it."""
    schemas = body.get("schemas")
    if isinstance(schemas, list) and any(isinstance(s, list) for s in schemas):
        flat: list = []
        for entry in schemas:
            for urn in entry if isinstance(entry, list) else [entry]:
                if urn not in flat:
                    flat.append(urn)
        body = {**body, "schemas": flat}
    return body


def v1_to_v2(body: dict) -> dict:
    """Rename SCIM 1.1 URNs (keys and ``schemas``) to their 2.0 names (spec §3.1)."""
    out: dict = {}
    lowered = {k.lower(): v for k, v in V1_TO_V2.items()}
    for key, value in body.items():
        if key == "schemas" and isinstance(value, list):
            out[key] = [USER_URN if isinstance(s, str) and s.lower() == V1_CORE
                        else lowered.get(s.lower(), s) if isinstance(s, str) else s
                        for s in value]
        elif isinstance(key, str) and key.lower() in lowered:
            out[lowered[key.lower()]] = value
        else:
            out[key] = value
    return out


def _v1_path(path: str) -> str:
    low = path.lower()
    for v1, v2 in sorted(V1_TO_V2.items(), key=lambda kv: -len(kv[0])):
        if low.startswith(v1.lower()):
            return v2 + path[len(v1):]
    return path


def partial_to_ops(body: dict, kind: str) -> Ops:
    """A SCIM 1.1 partial body as PATCH operations (spec §4.4, §6.1).

    Attributes given are replaced (a single space clears a string);
    multi-valued entries marked ``"operation": "delete"`` are removed, the others
    added (addresses, photos and roles, of which Slack keeps one, are replaced);
    ``meta.attributes`` lists attributes to clear.
    """
    ops: Ops = []
    meta = body.get("meta")
    if isinstance(meta, dict) and isinstance(meta.get("attributes"), list):
        for path in meta["attributes"]:
            if isinstance(path, str) and path.strip():
                ops.append(("remove", _v1_path(path.strip()), None))
    for key, value in body.items():
        if key in ("schemas", "meta", "id") or not isinstance(key, str):
            continue
        if key.lower() == GUEST_URN.lower():
            ops.append(("add", GUEST_URN, value))
            continue
        if ":" in key and isinstance(value, dict):
            for sub, sub_value in value.items():
                op = "remove" if sub_value == " " else "replace"
                ops.append((op, f"{key}:{sub}", None if op == "remove" else sub_value))
            continue
        if isinstance(value, list):
            ops.extend(_multi_ops(kind, key, value))
        elif isinstance(value, dict):
            for sub, sub_value in value.items():
                if sub_value == " ":
                    ops.append(("remove", f"{key}.{sub}", None))
                else:
                    ops.append(("replace", f"{key}.{sub}", sub_value))
        elif value == " ":
            ops.append(("remove", key, None))
        else:
            ops.append(("replace", key, value))
    if not ops:
        raise invalid_syntax("The PATCH body changes nothing.", code="invalid_request_payload")
    return ops


def _multi_ops(kind: str, key: str, items: list) -> Ops:
    deletes = [i for i in items if isinstance(i, dict)
               and str(i.get("operation", "")).lower() == "delete"]
    adds = [{k: v for k, v in i.items() if k != "operation"} if isinstance(i, dict) else i
            for i in items if not (isinstance(i, dict) and i in deletes)]
    ops: Ops = []
    if deletes:
        if key.lower() == "addresses":
            for entry in deletes:
                terms = [f"{k} eq {json.dumps(v)}" for k, v in entry.items()
                         if k != "operation" and isinstance(v, str)]
                if terms:
                    ops.append(("remove", f"addresses[{' and '.join(terms)}]", None))
        else:
            ops.append(("remove", key, [{"value": d.get("value")} for d in deletes]))
    if adds:
        replace = kind == "user" and key.lower() in ("addresses", "photos", "roles")
        ops.append(("replace" if replace else "add", key, adds))
    return ops
