"""SQL for groups and their membership relation.

Member changes touch only the membership rows they name: adding 100 members to
a group of 15,000 is 100 inserts, never a rewrite of the group.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from scimd.store import common, direct
from scimd.store import tables as t
from scimd.store.common import conflict, insert_ignore, now
from scimd.store.records import GroupRecord, Page
from scimd.store.stored_form import stored_form
from scimd.store.users import CHUNK

_COLUMNS = (t.groups.c.pk, t.groups.c.id, t.groups.c.attrs, t.groups.c.created_at,
            t.groups.c.modified_at, t.groups.c.version)



def get(conn: Connection, tenant_pk: int, group_id: str, *,
        for_update: bool = False) -> GroupRecord | None:
    """One group of the tenant by id; with ``for_update`` the row is locked (PostgreSQL)."""
    return direct.group(direct.on(conn), tenant_pk, group_id, for_update=for_update)


def pks_by_ids(conn: Connection, tenant_pk: int, ids: Sequence[str]) -> dict[str, int]:
    found: dict[str, int] = {}
    unique = list(dict.fromkeys(ids))
    for start in range(0, len(unique), CHUNK):
        rows = conn.execute(select(t.groups.c.id, t.groups.c.pk).where(
            t.groups.c.tenant_pk == tenant_pk, t.groups.c.id.in_(unique[start:start + CHUNK])))
        found.update({r.id: r.pk for r in rows})
    return found


def find_page(conn: Connection, tenant_pk: int, where: Any, order_by: list[Any],
              offset: int, limit: int) -> Page:
    """A page of matching groups and the number of all matches."""
    return common.find_page(conn, t.groups, _COLUMNS, direct.group_record, tenant_pk, where,
                            order_by, offset, limit)


def load_members(conn: Connection, records: Sequence[GroupRecord]) -> None:
    """Fill ``members`` of each record: users and groups, in the order they were added."""
    direct.fill_members(direct.on(conn), records)


def _columns(attrs: dict) -> dict[str, Any]:
    name = attrs["displayName"]
    return {"display_name": name, "display_name_lower": name.lower(),
            "external_id": attrs.get("externalId")}


def insert_group(conn: Connection, tenant_pk: int, group_id: str, attrs: dict) -> GroupRecord:
    attrs = stored_form(attrs, "members")
    stamp = now()
    try:
        pk = conn.execute(insert(t.groups).values(
            id=group_id, tenant_pk=tenant_pk, attrs=attrs, created_at=stamp, modified_at=stamp,
            version=1, **_columns(attrs)).returning(t.groups.c.pk)).scalar_one()
    except IntegrityError as exc:
        raise conflict(exc) from None
    return GroupRecord(pk=pk, id=group_id, attrs=attrs, created_at=stamp, modified_at=stamp,
                       version=1)


def update_group(conn: Connection, rec: GroupRecord, attrs: dict) -> GroupRecord:
    attrs = stored_form(attrs, "members")
    stamp = now()
    try:
        conn.execute(update(t.groups).where(t.groups.c.pk == rec.pk).values(
            attrs=attrs, modified_at=stamp, version=rec.version + 1, **_columns(attrs)))
    except IntegrityError as exc:
        raise conflict(exc) from None
    return GroupRecord(pk=rec.pk, id=rec.id, attrs=attrs, created_at=rec.created_at,
                       modified_at=stamp, version=rec.version + 1)


def delete_group(conn: Connection, pk: int) -> None:
    """Remove a group; groups it was a member of get a new version (RFC 7644 §3.14)."""
    m, g = t.memberships, t.groups
    conn.execute(update(g).where(g.c.pk.in_(select(m.c.group_pk).where(m.c.child_pk == pk)))
                 .values(version=g.c.version + 1, modified_at=now()))
    conn.execute(delete(m).where(m.c.group_pk == pk))
    conn.execute(delete(m).where(m.c.child_pk == pk))
    conn.execute(delete(t.groups).where(t.groups.c.pk == pk))


def add_members(conn: Connection, group_pk: int, user_pks: Sequence[int],
                child_pks: Sequence[int] = ()) -> tuple[list[int], list[int]]:
    """Add members; ones already present are left as they are. Answers the user and group
    keys really added: ``INSERT … ON CONFLICT DO NOTHING RETURNING`` names them, so no
    look-up of the group's members comes first (on PostgreSQL its plan could walk the
    whole group: 20 ms at 15,000 members, bench/README.md)."""
    m = t.memberships
    user_order = {pk: i for i, pk in enumerate(dict.fromkeys(user_pks))}
    child_order = {pk: i for i, pk in enumerate(dict.fromkeys(child_pks))}
    rows = [{"group_pk": group_pk, "user_pk": pk, "child_pk": None} for pk in user_order]
    rows += [{"group_pk": group_pk, "user_pk": None, "child_pk": pk} for pk in child_order]
    added_users: list[int] = []
    added_children: list[int] = []
    for start in range(0, len(rows), CHUNK // 3):
        stmt = insert_ignore(conn, m).values(rows[start:start + CHUNK // 3]) \
            .returning(m.c.user_pk, m.c.child_pk)
        for user_pk, child_pk in conn.execute(stmt):
            if user_pk is not None:
                added_users.append(user_pk)
            else:
                added_children.append(child_pk)
    added_users.sort(key=user_order.__getitem__)  # RETURNING promises no order
    added_children.sort(key=child_order.__getitem__)
    return added_users, added_children


def remove_members(conn: Connection, group_pk: int, user_pks: Sequence[int],
                   child_pks: Sequence[int] = ()) -> tuple[list[int], list[int]]:
    """Remove members; answers the user and group keys really removed (``DELETE …
    RETURNING``, in the order given)."""
    m = t.memberships
    removed: list[list[int]] = []
    for column, pks in ((m.c.user_pk, user_pks), (m.c.child_pk, child_pks)):
        wanted = list(dict.fromkeys(pks))
        gone: set[int] = set()
        for start in range(0, len(wanted), CHUNK):
            gone.update(r[0] for r in conn.execute(delete(m).where(
                m.c.group_pk == group_pk, column.in_(wanted[start:start + CHUNK]))
                .returning(column)))
        removed.append([pk for pk in wanted if pk in gone])
    return removed[0], removed[1]


def remove_all_members(conn: Connection, group_pk: int) -> tuple[list[int], list[int]]:
    m = t.memberships
    rows = conn.execute(select(m.c.user_pk, m.c.child_pk).where(m.c.group_pk == group_pk)).all()
    conn.execute(delete(m).where(m.c.group_pk == group_pk))
    return ([r.user_pk for r in rows if r.user_pk is not None],
            [r.child_pk for r in rows if r.child_pk is not None])


def remove_members_where(conn: Connection, group_pk: int, condition: Any, u: Any,
                         child: Any) -> tuple[list[int], list[int]]:
    """Remove the members matching a compiled ``members[...]`` filter."""
    m = t.memberships
    rows = conn.execute(select(m.c.pk, m.c.user_pk, m.c.child_pk).select_from(
        m.outerjoin(u, u.c.pk == m.c.user_pk).outerjoin(child, child.c.pk == m.c.child_pk)
    ).where(m.c.group_pk == group_pk, condition)).all()
    pks = [r.pk for r in rows]
    for start in range(0, len(pks), CHUNK):
        conn.execute(delete(m).where(m.c.pk.in_(pks[start:start + CHUNK])))
    return ([r.user_pk for r in rows if r.user_pk is not None],
            [r.child_pk for r in rows if r.child_pk is not None])


def ids_of(conn: Connection, table: Any, pks: Sequence[int]) -> list[str]:
    """The public ids of rows of ``table`` (users or groups), in the order of ``pks``."""
    found: dict[int, str] = {}
    keys = list(pks)
    for start in range(0, len(keys), CHUNK):
        found.update({r.pk: r.id for r in conn.execute(
            select(table.c.pk, table.c.id).where(table.c.pk.in_(keys[start:start + CHUNK])))})
    return [found[k] for k in keys if k in found]


def touch(conn: Connection, rec: GroupRecord) -> GroupRecord:
    """Bump version and lastModified after a membership change."""
    stamp = now()
    conn.execute(update(t.groups).where(t.groups.c.pk == rec.pk).values(
        modified_at=stamp, version=rec.version + 1))
    return GroupRecord(pk=rec.pk, id=rec.id, attrs=rec.attrs, created_at=rec.created_at,
                       modified_at=stamp, version=rec.version + 1)


def count_members(conn: Connection, group_pk: int) -> int:
    return conn.execute(select(func.count()).select_from(t.memberships)
                        .where(t.memberships.c.group_pk == group_pk)).scalar_one()



def child_pks(conn: Connection, group_pk: int) -> list[int]:
    """Groups that are members of a group."""
    m = t.memberships
    return [r.child_pk for r in conn.execute(
        select(m.c.child_pk).where(m.c.group_pk == group_pk, m.c.child_pk.is_not(None)))]
