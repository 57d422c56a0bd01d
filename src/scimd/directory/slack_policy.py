"""The ``slack`` dialect: Slack's provisioning rules over the shared directory.

Spec sections: §3 (users), §4 (groups), §5.3 (filters), §6 (updates), §11
(Enterprise Grid), §12-§13 (behaviour and limitations), §16 (our defaults).
"""

from __future__ import annotations

from typing import Any

from scim2_models.path import (
    AttrPath,
    CompareOperator,
    Comparison,
    FilterNode,
    Not,
    Present,
    ValuePath,
)
from sqlalchemy import Connection, select

from scimd.directory import slack_rules as rules
from scimd.directory.policy import Policy, UserWrite, register
from scimd.scim.core_schemas import ENTERPRISE_URN
from scimd.scim.errors import ScimError, invalid_syntax
from scimd.scim.paths import parse_path, transform
from scimd.scim.slack_schemas import (
    GUEST_URN,
    PROFILE_URN,
    SLACK_GROUP_TYPE,
    SLACK_USER_TYPE,
)
from scimd.scim.values import coerce_boolean
from scimd.store import grid
from scimd.store import tables as t
from scimd.store.records import Tenant, UserRecord

GUEST_ROLE = "multi_channel_guest"
PRIVILEGED = frozenset({"primary_owner", "owner", "admin"})
USER_GROUP_MAX = 5_000
"""Hard cap of a Business+ user group (spec §4.2, ``group_member_max_exceeded``)."""


class SlackPolicy(Policy):
    name = "slack"
    user_type = SLACK_USER_TYPE
    group_type = SLACK_GROUP_TYPE
    default_page = 10
    unique_emails = True
    delete_deactivates = True
    groups_may_nest = False

    # -- request bodies ------------------------------------------------------

    def check_body(self, body: dict, *, creating: bool) -> None:
        """``schemas`` is required (``missing_schema_element``, spec §7.3); the profile and
        guest extensions must be named in it (spec §3.2, §16.18); a ``manager`` needs a
        ``managerId`` (``improper_enterprise_schema_format``)."""
        schemas = body.get("schemas")
        if not isinstance(schemas, list) or not schemas:
            raise invalid_syntax("schemas is missing from the body.",
                                 code="missing_schema_element")
        named = {s.lower() for s in schemas if isinstance(s, str)}
        for urn in (PROFILE_URN, GUEST_URN):
            present = any(isinstance(k, str) and k.lower() == urn.lower()
                          and v is not None for k, v in body.items())
            if present and urn.lower() not in named:
                raise ScimError(400, "invalid_request_payload",
                                f"{urn} must be listed in schemas.", "invalidValue")
        ext = _key(body, ENTERPRISE_URN)
        if isinstance(ext, dict):
            _check_manager(_key(ext, "manager"))
        _check_guest(_key(body, GUEST_URN))

    # -- users ------------------------------------------------------------------

    def prepare_user(self, conn: Connection, tenant: Tenant, attrs: dict,
                     old: UserRecord | None, write: UserWrite) -> dict:
        uid = old.id if old else None
        if old is not None and old.erased:
            raise ScimError(403, "cannot_modify_gdpr", "This user's data was erased.")
        attrs.pop("externalId", None)  # Slack keeps no externalId (spec §3.2)
        self._username(attrs, old)
        if (old is None or attrs["userName"] != old.attrs.get("userName")) and \
                grid.channel_name_taken(conn, tenant.parent_pk or tenant.pk, attrs["userName"]):
            raise ScimError(409, "username_taken",  # one namespace with channels (spec §13.9)
                            f"#{attrs['userName']} is a channel name.", "uniqueness")
        if "displayName" in attrs:
            attrs["displayName"] = rules.display_name(attrs["displayName"], uid)
        self._name(attrs, old, write)
        self._emails(attrs, old, write)
        if "phoneNumbers" in attrs:
            attrs["phoneNumbers"] = rules.phones(attrs["phoneNumbers"])
        for key, drop in (("addresses", ("type", "primary")), ("photos", ("primary",)),
                          ("roles", ())):
            if key in attrs:
                attrs[key] = rules.one(attrs[key], drop)
        if attrs.get("roles"):
            attrs["roles"] = [{"value": attrs["roles"][0].get("value"), "primary": True}]
        attrs.setdefault("timezone", rules.DEFAULT_TIMEZONE)
        self._manager(attrs)
        self._guest(tenant, attrs, old, write)
        if "active" not in attrs:  # never unassigned: a removed active keeps its value
            attrs["active"] = old.active if old is not None else True
        if attrs.get("active") is False and (old is None or old.active):
            self._check_deactivation(old)
        rules.check_lengths(attrs)
        return attrs

    def check_password_change(self, old: UserRecord) -> None:
        raise ScimError(403, "password_change_not_allowed",
                        "Passwords can only be set when a user is created.")

    def _username(self, attrs: dict, old: UserRecord | None) -> None:
        """``userName`` and ``nickName`` are one field (spec §3.2, §16.9)."""
        raw = attrs.get("userName")
        nick = attrs.get("nickName")
        from_nick = False
        if old is not None and nick is not None and (
                raw is None or raw.lower() == old.attrs.get("userName")) \
                and nick.lower() != old.attrs.get("userName"):
            raw, from_nick = nick, True  # only nickName changed: the username follows it
        elif raw is None and nick is not None and (
                old is None or nick != old.attrs.get("nickName")):
            raw, from_nick = nick, True  # only nickName given: it names the user
        try:
            name = rules.username(raw, creating=old is None, user_id=old.id if old else None)
        except ScimError as exc:
            if from_nick and exc.code in ("long_username", "username_too_long"):
                exc.code = "long_nickname"  # spec §3.2: the error names the field sent
            raise
        attrs["userName"] = attrs["nickName"] = name

    def _name(self, attrs: dict, old: UserRecord | None, write: UserWrite) -> None:
        name = attrs.get("name")
        if name is not None:
            given, family = name.get("givenName"), name.get("familyName")
            changed = old is None or name != old.attrs.get("name")
            if changed and given is not None and family is not None and not given.strip() \
                    and not family.strip():
                raise rules.bad_request("invalid_name_required",
                                        "givenName and familyName cannot both be blank.")
            return
        if write.kind == "replace" and old is not None and "name" in old.attrs:
            attrs["name"] = old.attrs["name"]  # spec §6.4: a PUT keeps the name
        elif old is None:  # spec §3.2: Slack fills givenName from the display name
            attrs["name"] = {"givenName": attrs.get("displayName") or attrs["userName"],
                             "familyName": ""}

    def _emails(self, attrs: dict, old: UserRecord | None, write: UserWrite) -> None:
        kept = rules.emails(attrs.get("emails") or [])
        if not kept:
            if write.kind == "patch":
                raise rules.bad_request("missing_primary_email",
                                        "The primary email cannot be removed.")
            raise rules.bad_request("email_empty", "At least one email is required.")
        if write.kind == "patch" and old is not None:
            before = old.attrs.get("emails") or []
            old_primary = next((e["value"] for e in before if e.get("primary")), None)
            old_values = {e["value"].lower() for e in before}
            new_values = {e["value"].lower() for e in kept}
            if old_primary and old_primary.lower() not in new_values \
                    and new_values <= old_values:
                raise rules.bad_request("missing_primary_email",
                                        "The primary email cannot be removed without a "
                                        "replacement.")
        attrs["emails"] = kept

    def _manager(self, attrs: dict) -> None:
        ext = attrs.get(ENTERPRISE_URN)
        manager = ext.get("manager") if ext else None
        if manager is None:
            return
        value = manager.get("managerId", manager.get("value"))
        if value is None:
            raise ScimError(400, "improper_enterprise_schema_format",
                            "manager needs a managerId.", "invalidValue")
        ext["manager"] = {"managerId": value}

    def _guest(self, tenant: Tenant, attrs: dict, old: UserRecord | None,
               write: UserWrite) -> None:
        """Multi-channel guests (spec §3.2, §3.6, §6.1): Enterprise only, ``type`` multi."""
        ext = attrs.get(GUEST_URN)
        was_guest = old is not None and old.role == GUEST_ROLE
        if old is not None and ext is not None and ext == old.attrs.get(GUEST_URN):
            return  # unchanged: no conversion, whatever kind of guest
        if ext is not None:
            if ext.get("type") != "multi":
                raise ScimError(400, "invalid_request_payload",
                                "The guest type must be \"multi\".", "invalidValue")
            if tenant.plan != "enterprise":
                raise ScimError(403, "permission_denied",
                                "Guests can be provisioned on Enterprise plans only.")
            if old is not None and old.role in PRIVILEGED:
                raise ScimError(403, "cannot_make_user_guest",
                                "Admins and owners cannot become guests.")
            if not was_guest:
                write.role = GUEST_ROLE
                if old is not None:
                    attrs["active"] = True  # conversion reactivates (spec §6.1)
        elif was_guest:
            if write.kind == "replace":
                kept = {k: v for k, v in (old.attrs.get(GUEST_URN) or {}).items()
                        if k != "channels"}
                attrs[GUEST_URN] = kept or {"type": "multi"}
            else:
                write.role = "member"
                attrs["active"] = True

    def _check_deactivation(self, old: UserRecord | None) -> None:
        if old is None:
            return
        if old.role == "primary_owner":
            raise ScimError(403, "cannot_disable_primary_owner",
                            "The primary owner cannot be deactivated.")
        if old.is_bot:
            raise ScimError(403, "cannot_disable_bot_user_with_scim",
                            "Bot users cannot be deactivated with SCIM.")

    # -- filters and PATCH paths (spec §5.3, §6.2, §16.23) ---------------------

    def rewrite_filter(self, node: FilterNode) -> FilterNode:
        return transform(node, _slack_leaf)

    def rewrite_operations(self, ops: list[tuple[str, str | None, Any]],
                           ) -> list[tuple[str, str | None, Any]]:
        out = []
        for op, path, value in ops:
            if op != "remove":
                _check_patch_value(path, value)
            if path is not None:
                path = _rewrite_path(op, path, value)
            out.append((op, path, value))
        return out

    # -- groups (spec §4) ---------------------------------------------------------

    def max_group_members(self, tenant: Tenant) -> int | None:
        return USER_GROUP_MAX if tenant.plan == "business_plus" else None

    def check_members(self, conn: Connection, tenant: Tenant, user_pks: list[int]) -> None:
        """Deactivated users cannot join groups (spec §16.13); guests can."""
        for start in range(0, len(user_pks), 900):
            chunk = user_pks[start:start + 900]
            row = conn.execute(select(t.users.c.id).where(
                t.users.c.pk.in_(chunk), t.users.c.active.is_(False)).limit(1)).first()
            if row is not None:
                raise ScimError(400, "unable_to_add_deleted_or_guest_to_group",
                                f"User {row.id} is deactivated and cannot join a group.",
                                "invalidValue")


def _key(obj: dict, name: str) -> Any:
    """``obj[name]`` with the name matched case-insensitively (RFC 7643 §2.1)."""
    return next((v for k, v in obj.items() if isinstance(k, str) and k.lower() == name.lower()),
                None)


def _check_manager(manager: Any) -> None:
    """A ``manager`` needs a ``managerId`` (spec §3.2, ``improper_enterprise_schema_format``);
    a bare id or ``{value}`` counts as one (spec §16.22)."""
    if isinstance(manager, list) and len(manager) == 1:
        manager = manager[0]
    if isinstance(manager, dict) and not any(
            isinstance(k, str) and k.lower() in ("managerid", "value") for k in manager):
        raise ScimError(400, "improper_enterprise_schema_format",
                        "manager needs a managerId.", "invalidValue")


def _check_guest(guest: Any) -> None:
    """The guest extension's ``type`` is mandatory (spec §3.2)."""
    if isinstance(guest, dict) and _key(guest, "type") is None:
        raise ScimError(400, "invalid_request_payload",
                        "The guest extension needs a type (\"multi\").", "invalidValue")


def _check_patch_value(path: str | None, value: Any) -> None:
    """The manager and guest rules of :meth:`SlackPolicy.check_body`, for PATCH values."""
    low = (path or "").strip().lower()
    ent, guest = ENTERPRISE_URN.lower(), GUEST_URN.lower()
    if not low and isinstance(value, dict):
        ext = _key(value, ENTERPRISE_URN)
        if isinstance(ext, dict):
            _check_manager(_key(ext, "manager"))
        for key, sub in value.items():
            if isinstance(key, str) and key.lower() in (f"{ent}:manager", f"{ent}.manager",
                                                         "manager"):
                _check_manager(sub)
        _check_guest(_key(value, GUEST_URN))
    elif low == ent and isinstance(value, dict):
        _check_manager(_key(value, "manager"))
    elif low in ("manager", f"{ent}:manager", f"{ent}.manager"):
        _check_manager(value)
    elif low == guest:
        _check_guest(value)


GUEST_TYPES = {"multi_channel_guest": "multi", "single_channel_guest": "single"}
"""The guest extension's ``type`` of each guest role (single-channel guests are made by
administrators, never over SCIM: spec §3.6)."""


def _truthy(value: Any) -> bool:
    flag = coerce_boolean(value)
    if flag is not None:
        return flag
    return str(value).strip() not in ("0", "")


def _slack_leaf(node: FilterNode, parent: AttrPath | None) -> FilterNode:
    """Slack's filter attributes (spec §5.3) and email ``type`` (spec §16.23)."""
    if not isinstance(node, (Comparison, Present)):
        return node
    path = node.attr_path
    name = path.attr.lower()
    if parent is None and path.uri is None and path.sub_attr is None:
        if name == "email":
            path = AttrPath("emails", "value")
            return Comparison(path, node.op, node.value) if isinstance(node, Comparison) \
                else Present(path)
        if name in ("restricted", "ultra_restricted") and isinstance(node, Comparison):
            wanted = _truthy(node.value)
            if node.op is CompareOperator.ne:
                wanted = not wanted
            kind = "multi" if name == "restricted" else "single"
            guest = Comparison(AttrPath("type", uri=GUEST_URN), CompareOperator.eq, kind)
            return guest if wanted else Not(guest)
    in_emails = (parent is not None and parent.attr.lower() == "emails"
                 and path.attr.lower() == "type") or (
        parent is None and name == "emails" and (path.sub_attr or "").lower() == "type")
    if in_emails and isinstance(node, Comparison) and isinstance(node.value, str):
        primary = node.value.lower() == "work"
        target = AttrPath("primary") if parent is not None else AttrPath("emails", "primary")
        op = node.op if node.op in (CompareOperator.eq, CompareOperator.ne) \
            else CompareOperator.eq
        return Comparison(target, op, primary)
    return node


def _rewrite_path(op: str, path: str, value: Any) -> str:
    """PATCH paths as Slack reads them (spec §6.2)."""
    text = path.strip()
    low = text.lower()
    if low == "address":
        return "addresses"
    if op == "remove" and value is None and low == "emails":
        return "emails[primary eq false]"  # remove on emails drops the secondary only
    if "[" not in text:
        return text
    try:
        urn, node = parse_path(text, SLACK_USER_TYPE)
    except ScimError:
        return text
    if isinstance(node, ValuePath) and urn is None:
        rewritten = transform(node, _slack_leaf)
        return str(rewritten)
    return text


register(SlackPolicy())
