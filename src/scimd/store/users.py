"""SQL for users: rows, their email index rows, and the groups they belong to."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, bindparam, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from scimd.scim.slack_schemas import GUEST_URN
from scimd.store import common, direct
from scimd.store import tables as t
from scimd.store.common import conflict, now
from scimd.store.records import Page, UserRecord, UserText
from scimd.store.stored_form import stored_form

_COLUMNS = (t.users.c.pk, t.users.c.id, t.users.c.attrs, t.users.c.active,
            t.users.c.created_at, t.users.c.modified_at, t.users.c.version,
            t.users.c.role, t.users.c.is_bot, t.users.c.erased)
CHUNK = direct.CHUNK
_INSERT = insert(t.users).returning(t.users.c.pk)
_UPDATE = update(t.users).where(t.users.c.pk == bindparam("row_pk"))
"""Built once, values passed at execution: ``.values(...)`` per call cost more than the
row (bench/README.md, "Writes against the peer")."""


def get(conn: Connection, tenant_pk: int, user_id: str, *,
        for_update: bool = False) -> UserRecord | None:
    """One user of the tenant by id; with ``for_update`` the row is locked (PostgreSQL)."""
    return direct.user(direct.on(conn), tenant_pk, user_id, for_update=for_update)


def pks_by_ids(conn: Connection, tenant_pk: int, ids: Sequence[str]) -> dict[str, int]:
    """Map user ids of the tenant to their primary keys (unknown ids are left out)."""
    found: dict[str, int] = {}
    unique = list(dict.fromkeys(ids))
    for start in range(0, len(unique), CHUNK):
        chunk = unique[start:start + CHUNK]
        rows = conn.execute(select(t.users.c.id, t.users.c.pk).where(
            t.users.c.tenant_pk == tenant_pk, t.users.c.id.in_(chunk)))
        found.update({r.id: r.pk for r in rows})
    return found


def find_page(conn: Connection, tenant_pk: int, where: Any, order_by: list[Any],
              offset: int, limit: int) -> Page:
    """A page of matching users and the number of all matches."""
    return common.find_page(conn, t.users, _COLUMNS, direct.user_record, tenant_pk, where, order_by,
                            offset, limit)


def load_groups(conn: Connection, records: Sequence[UserRecord]) -> None:
    """Fill ``groups`` (direct memberships, RFC 7643 §4.1.2) of each record in one query."""
    direct.fill_groups(direct.on(conn), records)
    guests = [r for r in records if shows_channels(r)]
    if guests:  # a guest's channels are shown in its guest extension (spec §3.2)
        from scimd.store.grid import channels_of

        channels = channels_of(conn, [r.pk for r in guests])
        for r in guests:
            r.attrs = {**r.attrs, GUEST_URN: {**r.attrs[GUEST_URN], "channels": channels[r.pk]}}


def shows_channels(rec: UserRecord | UserText) -> bool:
    """A multi-channel guest's record lists its channels in the guest extension (spec §3.2)."""
    if rec.role != "multi_channel_guest":
        return False
    if isinstance(rec, UserText):
        return _GUEST_KEY in rec.attrs_json  # a key: see v2_render.user_json
    return GUEST_URN in rec.attrs


_GUEST_KEY = f'"{GUEST_URN}":'.encode()


def _columns(attrs: dict) -> dict[str, Any]:
    user_name = attrs["userName"]
    display = attrs.get("displayName")
    return {
        "user_name": user_name,
        "user_name_lower": user_name.lower(),
        "external_id": attrs.get("externalId"),
        "display_name": display,
        "display_name_lower": display.lower() if display is not None else None,
        "active": attrs.get("active", True),
    }


def insert_user(conn: Connection, tenant_pk: int, user_id: str, attrs: dict, *,
                password_hash: str | None, unique_emails: bool, role: str = "member",
                is_bot: bool = False) -> UserRecord:
    """Insert a user; a uniqueness violation becomes 409 and nothing is written."""
    attrs = stored_form(attrs, "groups")
    stamp = now()
    try:
        pk = conn.execute(_INSERT, {
            "id": user_id, "tenant_pk": tenant_pk, "attrs": attrs,
            "password_hash": password_hash, "created_at": stamp, "modified_at": stamp,
            "version": 1, "role": role, "is_bot": is_bot, **_columns(attrs)}).scalar_one()
        _write_emails(conn, tenant_pk, pk, attrs, unique_emails)
    except IntegrityError as exc:
        raise conflict(exc) from None
    return UserRecord(pk=pk, id=user_id, attrs=attrs, active=attrs.get("active", True),
                      created_at=stamp, modified_at=stamp, version=1, role=role, is_bot=is_bot)


def update_user(conn: Connection, tenant_pk: int, rec: UserRecord, attrs: dict, *,
                password_hash: str | None, unique_emails: bool,
                role: str | None = None) -> UserRecord:
    """Store new attributes for a user (the caller holds the row lock)."""
    attrs = stored_form(attrs, "groups")
    stamp = now()
    values: dict[str, Any] = {"attrs": attrs, "modified_at": stamp, "version": rec.version + 1,
                              **_columns(attrs)}
    if password_hash is not None:
        values["password_hash"] = password_hash
    if role is not None:
        values["role"] = role
    try:
        conn.execute(_UPDATE, {"row_pk": rec.pk, **values})
        if attrs.get("emails") != rec.attrs.get("emails"):
            conn.execute(delete(t.user_emails).where(t.user_emails.c.user_pk == rec.pk))
            _write_emails(conn, tenant_pk, rec.pk, attrs, unique_emails)
    except IntegrityError as exc:
        raise conflict(exc) from None
    return UserRecord(pk=rec.pk, id=rec.id, attrs=attrs, active=values["active"],
                      created_at=rec.created_at, modified_at=stamp, version=rec.version + 1,
                      role=role or rec.role, is_bot=rec.is_bot, erased=rec.erased)


def remove_memberships(conn: Connection, pk: int) -> list[str]:
    """Take a user out of every group; answers the ids of the groups it left.

    The groups' versions move on, since their member lists changed (RFC 7644 §3.14).
    """
    g, m = t.groups, t.memberships
    left = [r.id for r in conn.execute(
        select(g.c.id).select_from(m.join(g, g.c.pk == m.c.group_pk))
        .where(m.c.user_pk == pk).order_by(g.c.pk))]
    if left:
        conn.execute(update(g).where(g.c.pk.in_(select(m.c.group_pk).where(m.c.user_pk == pk)))
                     .values(version=g.c.version + 1, modified_at=now()))
        conn.execute(delete(m).where(m.c.user_pk == pk))
    return left


def delete_user(conn: Connection, pk: int) -> None:
    """Remove a user, its email rows and memberships (RFC 7644 §3.6)."""
    remove_memberships(conn, pk)
    conn.execute(delete(t.user_emails).where(t.user_emails.c.user_pk == pk))
    conn.execute(delete(t.users).where(t.users.c.pk == pk))


def _write_emails(conn: Connection, tenant_pk: int, user_pk: int, attrs: dict,
                  unique: bool) -> None:
    rows = []
    for email in attrs.get("emails") or []:
        value = email.get("value")
        if not isinstance(value, str):
            continue
        rows.append({
            "tenant_pk": tenant_pk, "user_pk": user_pk, "value": value,
            "value_lower": value.lower(), "type": email.get("type"),
            "primary": email.get("primary") is True, "display": email.get("display"),
            "unique_value": value.lower() if unique else None,
        })
    if rows:
        conn.execute(insert(t.user_emails), rows)


ROLES = ("primary_owner", "owner", "admin", "member", "multi_channel_guest",
         "single_channel_guest")
"""Roles that matter to SCIM (spec §1.2, §3.6, §12)."""


def set_role(conn: Connection, tenant_pk: int, user_id: str, role: str) -> bool:
    """Give a user a role (there is one primary owner per tenant); ``False`` if unknown."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}")
    if role == "primary_owner":
        conn.execute(update(t.users).where(t.users.c.tenant_pk == tenant_pk,
                                           t.users.c.role == "primary_owner")
                     .values(role="owner"))
    rec = get(conn, tenant_pk, user_id, for_update=True)
    if rec is None:
        return False
    attrs = dict(rec.attrs)
    kind = {"multi_channel_guest": "multi", "single_channel_guest": "single"}.get(role)
    slack = conn.execute(select(t.tenants.c.dialect).where(
        t.tenants.c.pk == tenant_pk)).scalar_one() == "slack"
    if slack and kind:  # a guest shows in the guest extension (spec §3.2, §5.3 restricted)
        attrs[GUEST_URN] = {**(attrs.get(GUEST_URN) or {}), "type": kind}
    elif slack:
        attrs.pop(GUEST_URN, None)
    conn.execute(update(t.users).where(t.users.c.pk == rec.pk).values(
        role=role, attrs=attrs, modified_at=now(), version=rec.version + 1))
    return True


def set_flags(conn: Connection, tenant_pk: int, user_id: str, *, is_bot: bool | None = None,
              erased: bool | None = None) -> bool:
    """Mark a user as a bot or as GDPR-erased (spec §12); ``False`` if unknown."""
    values: dict[str, Any] = {}
    if is_bot is not None:
        values["is_bot"] = is_bot
    if erased is not None:
        values["erased"] = erased
    result = conn.execute(update(t.users).where(
        t.users.c.tenant_pk == tenant_pk, t.users.c.id == user_id).values(**values))
    return result.rowcount == 1


def erase(conn: Connection, tenant_pk: int, user_id: str) -> bool:
    """Anonymise a user and mark it GDPR-erased, immutable from then on (spec §12)."""
    rec = get(conn, tenant_pk, user_id, for_update=True)
    if rec is None:
        return False
    handle = f"erased-{user_id.lower()}"
    attrs = {"userName": handle, "nickName": handle, "active": False,
             "emails": [{"value": f"{handle}@erased.invalid", "primary": True}]}
    remove_memberships(conn, rec.pk)
    conn.execute(delete(t.user_emails).where(t.user_emails.c.user_pk == rec.pk))
    conn.execute(update(t.users).where(t.users.c.pk == rec.pk).values(
        attrs=attrs, erased=True, password_hash=None, modified_at=now(),
        version=rec.version + 1, **_columns(attrs)))
    _write_emails(conn, tenant_pk, rec.pk, attrs, unique=False)
    return True


def change_email(conn: Connection, tenant_pk: int, user_id: str, email: str) -> bool:
    """Replace a user's primary email, as a Slack admin does to free an address held by a
    deactivated account (spec §13.2)."""
    rec = get(conn, tenant_pk, user_id, for_update=True)
    if rec is None:
        return False
    emails = [dict(e) for e in rec.attrs.get("emails") or []] or [{"primary": True}]
    primary = next((e for e in emails if e.get("primary")), emails[0])
    primary["value"] = email
    attrs = {**rec.attrs, "emails": emails}
    unique = conn.execute(select(func.count()).select_from(t.user_emails).where(
        t.user_emails.c.user_pk == rec.pk, t.user_emails.c.unique_value.is_not(None))
    ).scalar_one() > 0
    update_user(conn, tenant_pk, rec, attrs, password_hash=None, unique_emails=unique)
    return True
