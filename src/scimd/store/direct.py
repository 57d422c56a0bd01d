"""Hand-written SQL for the hot reads, run on the DBAPI connection itself.

A token look-up, a user or group by id, a user's groups, a group's members, the
equality look-ups that precede every IdP write and the pages of a whole-directory
read are most of what identity providers ask. Through SQLAlchemy Core each such
statement cost 150-250 µs of Python (building, cache key, result machinery) against
9 µs on the driver (bench/README.md, docs/decisions.md). These statements are fixed
text with positional parameters, kept in step with ``tables.py``; everything else,
writes and general filters included, stays on SQLAlchemy Core.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable, Sequence
from typing import Any

import orjson
from sqlalchemy import Connection
from sqlalchemy.util import await_

from scimd.store.positions import Positions
from scimd.store.records import GroupRecord, GroupText, Page, Tenant, UserRecord, UserText

CHUNK = 900
"""Keys per ``IN (...)`` list, under SQLite's bound-parameter limit on old builds."""


class Reader:
    """One read transaction on a DBAPI connection (sqlite3 or psycopg): runs the
    statements below with the driver's own parameter style."""

    __slots__ = ("_conn", "_postgres")

    def __init__(self, conn: Any, postgres: bool) -> None:
        self._conn = conn
        self._postgres = postgres

    def among(self, column: str, keys: Sequence[int]) -> tuple[str, Sequence[Any]]:
        """``column`` among ``keys`` (integer keys): ``= ANY(array)`` on PostgreSQL, one
        statement text for any number of keys (psycopg prepares it once), ``IN (...)`` on
        SQLite. The array goes as its text literal: a statement of 100 keys cost 123-126
        µs of CPU through psycopg's list dumper, 69-77 µs so (bench/README.md section 11)."""
        if self._postgres:
            return (f"{column} = ANY(?::bigint[])",
                    ("{" + ",".join([str(int(key)) for key in keys]) + "}",))
        return f"{column} IN ({_marks(len(keys))})", keys

    def lock(self, for_update: bool) -> str:
        """`` FOR UPDATE`` where it means something (PostgreSQL), else nothing."""
        return " FOR UPDATE" if for_update and self._postgres else ""

    @property
    def postgres(self) -> bool:
        return self._postgres

    def json_text(self, column: str) -> str:
        """``column`` (JSON) read as its stored text, in bytes on SQLite and a ``str`` of
        ``jsonb``'s own text on PostgreSQL: for answers that splice it in undecoded."""
        return f"{column}::text" if self._postgres else f"CAST({column} AS BLOB)"

    def rows(self, sql: str, params: Sequence[Any]) -> list[tuple]:
        """All rows of ``sql`` (written with ``?`` placeholders)."""
        if self._postgres:
            sql = sql.replace("?", "%s")
        cur = self._conn.cursor()
        try:
            cur.execute(sql, params)
            return cur.fetchall()
        finally:
            cur.close()

    def keys(self, sql: str, params: Sequence[Any]) -> array:
        """The first column of ``sql``'s rows as 64-bit integers, read row by row: no
        list of 100,000 row tuples for the garbage collector to walk."""
        if self._postgres:
            sql = sql.replace("?", "%s")
        driver = getattr(self._conn, "driver_connection", None)
        if driver is not None:  # awaited (store.db): the adapter would make every tuple
            return await_(_awaited_keys(driver, sql, params))
        cur = self._conn.cursor()
        try:
            cur.execute(sql, params)
            return array("q", (row[0] for row in cur))
        finally:
            cur.close()


async def _awaited_keys(conn: Any, sql: str, params: Sequence[Any]) -> array:
    """:meth:`Reader.keys` on psycopg's ``AsyncConnection``, 10,000 rows at a time."""
    keys = array("q")
    async with conn.cursor() as cur:
        await cur.execute(sql, params)
        while rows := await cur.fetchmany(10_000):
            keys.extend(row[0] for row in rows)
    return keys


def json_value(value: Any) -> Any:
    """A JSON column's value: psycopg (and SQLAlchemy) decode it already, sqlite3 gives text."""
    return orjson.loads(value) if isinstance(value, str | bytes) else value


def on(conn: Connection) -> Reader:
    """A :class:`Reader` inside a SQLAlchemy connection's own transaction."""
    return Reader(conn.connection.dbapi_connection, conn.dialect.name != "sqlite")


def _marks(n: int) -> str:
    return ",".join("?" * n)


def _chunks(keys: Sequence[int]) -> Iterable[Sequence[int]]:
    for start in range(0, len(keys), CHUNK):
        yield keys[start:start + CHUNK]


# -- tokens (spec §1.2) ---------------------------------------------------------------

TOKEN_SQL = (
    "SELECT tenants.pk, tenants.id, tenants.name, tenants.plan, tenants.dialect,"
    " tenants.parent_pk, tenants.domain, tokens.id, tokens.scopes, tokens.allow_ips,"
    " tokens.user_pk, users.id, users.role, users.active"
    " FROM tokens JOIN tenants ON tenants.pk = tokens.tenant_pk"
    " LEFT OUTER JOIN users ON users.pk = tokens.user_pk"
    " WHERE tokens.digest = ? AND tokens.revoked_at IS NULL")


def token_row(reader: Reader, digest: str) -> tuple[Tenant, tuple] | None:
    """The tenant of a live token and the token's own columns (id, scopes, allow_ips,
    user_pk, user id, user role, user active), or ``None``."""
    found = reader.rows(TOKEN_SQL, (digest,))
    if not found:
        return None
    row = found[0]
    tenant = Tenant(pk=row[0], id=row[1], name=row[2], plan=row[3], dialect=row[4],
                    parent_pk=row[5], domain=row[6])
    rest = (row[7], row[8], json_value(row[9]), row[10], row[11], row[12],
            None if row[13] is None else bool(row[13]))
    return tenant, rest


# -- users (RFC 7643 §4.1) -----------------------------------------------------------

USER_COLUMNS = ("users.pk, users.id, users.attrs, users.active, users.created_at,"
                " users.modified_at, users.version, users.role, users.is_bot, users.erased")


USER_GROUPS = ("(SELECT json_agg(json_build_array(groups.id, groups.display_name)"
               " ORDER BY groups.pk)::text FROM memberships"
               " JOIN groups ON groups.pk = memberships.group_pk"
               " WHERE memberships.user_pk = users.pk)")
"""PostgreSQL: a user's direct groups as one more column of its row, ``[[id, name], …]``
in the order the groups were made (or NULL), so that reading them costs no round trip of
their own; :func:`groups_of` is the same read for SQLite, where a statement costs none."""


def _user_columns(reader: Reader, columns: str, groups: bool) -> str:
    """``columns``, and with ``groups`` the user's groups on PostgreSQL
    (:data:`USER_GROUPS`); elsewhere :func:`fill_groups` reads them afterwards."""
    return f"{columns}, {USER_GROUPS}" if groups and reader.postgres else columns


def inline_groups(text: str | None) -> list[dict]:
    """The groups of :data:`USER_GROUPS`, as :func:`groups_of` gives them."""
    if text is None:
        return []
    return [{"value": gid, "display": name, "type": "direct"}
            for gid, name in orjson.loads(text)]


def user_record(row: Any) -> UserRecord:
    """A :class:`UserRecord` from a row of ``USER_COLUMNS`` (a tuple or a SQLAlchemy row
    of the same columns: positions are cheaper than names), and of :data:`USER_GROUPS`
    when the row has it."""
    # Positional: a list page makes 100 of these, and keywords cost a third more.
    return UserRecord(row[0], row[1], json_value(row[2]), bool(row[3]), row[4], row[5],
                      row[6], row[7], bool(row[8]), bool(row[9]),
                      inline_groups(row[10]) if len(row) > 10 else None)


def user(reader: Reader, tenant_pk: int, user_id: str, *, for_update: bool = False,
         groups: bool = False) -> UserRecord | None:
    """One user of the tenant by id; ``for_update`` locks the row (PostgreSQL; a SQLite
    write transaction holds the whole database already); ``groups``: see
    :func:`_user_columns`."""
    columns = _user_columns(reader, USER_COLUMNS, groups and not for_update)
    found = reader.rows(f"SELECT {columns} FROM users WHERE users.id = ?"
                        f" AND users.tenant_pk = ?{reader.lock(for_update)}",
                        (user_id, tenant_pk))
    return user_record(found[0]) if found else None


_EQUAL = {
    "id": "users.id = ?",
    "external_id": "users.external_id = ?",
    "user_name_lower": "users.user_name_lower = ?",
    "email": "users.pk IN (SELECT user_emails.user_pk FROM user_emails"
             " WHERE user_emails.tenant_pk = ? AND user_emails.value_lower = ?)",
}


def users_equal(reader: Reader, tenant_pk: int, column: str, operand: str, *,
                groups: bool = False) -> list[UserRecord]:
    """The tenant's users whose ``column`` (a key of ``_EQUAL``) equals ``operand``, in
    the default order: one index look-up (see ``filter_sql.indexed_equality``);
    ``groups``: see :func:`_user_columns`."""
    params: tuple = (tenant_pk, operand)
    if column == "email":
        params = (tenant_pk, tenant_pk, operand)
    return [user_record(r) for r in reader.rows(
        f"SELECT {_user_columns(reader, USER_COLUMNS, groups)} FROM users"
        " WHERE users.tenant_pk = ?"
        f" AND {_EQUAL[column]} ORDER BY users.pk", params)]


def groups_of(reader: Reader, user_pks: Sequence[int]) -> dict[int, list[dict]]:
    """Each user's direct groups (RFC 7643 §4.1.2), in the order the groups were made."""
    found: dict[int, list[dict]] = {pk: [] for pk in user_pks}
    for chunk in _chunks(list(found)):
        where, params = reader.among("memberships.user_pk", chunk)
        for user_pk, group_id, name in reader.rows(
                "SELECT memberships.user_pk, groups.id, groups.display_name FROM memberships"
                f" JOIN groups ON groups.pk = memberships.group_pk WHERE {where}"
                " ORDER BY memberships.user_pk, groups.pk", params):
            found[user_pk].append({"value": group_id, "display": name, "type": "direct"})
    return found


def fill_groups(reader: Reader, records: Sequence[UserRecord | UserText]) -> None:
    """Set each record's ``groups``."""
    found = groups_of(reader, [r.pk for r in records])
    for r in records:
        r.groups = found[r.pk]


# -- groups (RFC 7643 §4.2) ----------------------------------------------------------

GROUP_COLUMNS = ("groups.pk, groups.id, groups.attrs, groups.created_at, groups.modified_at,"
                 " groups.version")


def group_record(row: Any) -> GroupRecord:
    """A :class:`GroupRecord` from a row of ``GROUP_COLUMNS`` (tuple or SQLAlchemy row)."""
    return GroupRecord(pk=row[0], id=row[1], attrs=json_value(row[2]), created_at=row[3],
                       modified_at=row[4], version=row[5])


def group(reader: Reader, tenant_pk: int, group_id: str, *,
          for_update: bool = False) -> GroupRecord | None:
    """One group of the tenant by id; ``for_update`` as for :func:`user`."""
    found = reader.rows(f"SELECT {GROUP_COLUMNS} FROM groups WHERE groups.id = ?"
                        f" AND groups.tenant_pk = ?{reader.lock(for_update)}",
                        (group_id, tenant_pk))
    return group_record(found[0]) if found else None


def members_of(reader: Reader, group_pks: Sequence[int]) -> dict[int, list[dict]]:
    """Each group's members, users and groups, in the order they were added."""
    found: dict[int, list[dict]] = {pk: [] for pk in group_pks}
    for chunk in _chunks(list(found)):
        where, params = reader.among("memberships.group_pk", chunk)
        for group_pk, uid, user_name, display, gid, gname in reader.rows(
                "SELECT memberships.group_pk, users.id, users.user_name, users.display_name,"
                " child.id, child.display_name FROM memberships"
                " LEFT OUTER JOIN users ON users.pk = memberships.user_pk"
                " LEFT OUTER JOIN groups AS child ON child.pk = memberships.child_pk"
                f" WHERE {where} ORDER BY memberships.group_pk, memberships.pk", params):
            if uid is not None:
                member = {"value": uid, "display": display or user_name, "type": "User"}
            else:
                member = {"value": gid, "display": gname, "type": "Group"}
            found[group_pk].append(member)
    return found


def fill_members(reader: Reader, records: Sequence[GroupRecord]) -> None:
    """Set each record's ``members``."""
    found = members_of(reader, [r.pk for r in records])
    for r in records:
        r.members = found[r.pk]


# -- unfiltered pages (RFC 7644 §3.4.2.4) ---------------------------------------------

def page(reader: Reader, table: str, tenant: Tenant, offset: int, limit: int,
         positions: Positions, *, as_text: bool = False, groups: bool = False) -> Page:
    """A page of all the tenant's users or groups in the default order: the total from
    the trigger-kept ``resource_counts`` (migrations 0006-0007), then the page's rows.
    This is how identity providers read a whole directory, page after page.

    A page deep in the collection starts at the key ``positions`` knows for its
    position (a keyset read); otherwise the page's keys come from a walk of the
    ``(tenant_pk, pk)`` index, which skips index entries, not rows.

    With ``as_text`` the records are :class:`UserText` or :class:`GroupText`: their
    attributes stay the stored JSON text, for an answer that splices it in. ``groups``
    (users): see :func:`_user_columns`."""
    kind, columns, record = _PAGED[table]
    if as_text:
        columns, record = _TEXT_PAGED[table]
        columns = columns.format(attrs=reader.json_text(f"{table}.attrs"))
    if table == "users":
        columns = _user_columns(reader, columns, groups)
    found = reader.rows("SELECT total, stamp FROM resource_counts WHERE tenant_pk = ?"
                        " AND resource = ?", (tenant.pk, kind))
    total, stamp = found[0] if found else (0, 0)
    if limit <= 0 or offset >= total:
        return Page(total, [])
    start = positions.key_at(kind, tenant.id, stamp, total, offset, lambda: reader.keys(
        f"SELECT pk FROM {table} WHERE tenant_pk = ? ORDER BY pk", (tenant.pk,)))
    rows: list[tuple] = []
    # The page size is written into the statement: with LIMIT a parameter, PostgreSQL
    # planned the prepared statement anew at every bind (custom plans, 0.25 ms a page).
    # A text per `count` (0-1000); a client pages with one, so one is prepared.
    count = int(limit)
    if start is not None:
        rows = reader.rows(f"SELECT {columns} FROM {table} WHERE {table}.tenant_pk = ?"
                           f" AND {table}.pk >= ? ORDER BY {table}.pk LIMIT {count}",
                           (tenant.pk, start))
        if not rows or rows[0][0] != start:  # not the rows the keys were read from
            positions.forget(kind, tenant.id)
            start = None
    if start is None:
        rows = reader.rows(f"SELECT {columns} FROM {table} WHERE {table}.pk IN (SELECT pk"
                           f" FROM {table} WHERE tenant_pk = ? ORDER BY pk LIMIT {count} OFFSET ?)"
                           f" ORDER BY {table}.pk", (tenant.pk, offset))
    return Page(total, [record(r) for r in rows])


def _text(value: str | bytes) -> bytes:
    return value.encode() if isinstance(value, str) else value


def user_text(row: Any) -> UserText:
    """A :class:`UserText` from a row of ``USER_TEXT_COLUMNS`` (and :data:`USER_GROUPS`
    when the row has it)."""
    return UserText(row[0], row[1], _text(row[2]), row[3], row[4], row[5], row[6],
                    inline_groups(row[7]) if len(row) > 7 else None)


def group_text(row: Any) -> GroupText:
    """A :class:`GroupText` from a row of ``GROUP_TEXT_COLUMNS``."""
    return GroupText(row[0], row[1], _text(row[2]), row[3], row[4], row[5])


USER_TEXT_COLUMNS = ("users.pk, users.id, {attrs}, users.created_at, users.modified_at,"
                     " users.version, users.role")
GROUP_TEXT_COLUMNS = ("groups.pk, groups.id, {attrs}, groups.created_at,"
                      " groups.modified_at, groups.version")

_PAGED = {"users": ("user", USER_COLUMNS, user_record),
          "groups": ("group", GROUP_COLUMNS, group_record)}
_TEXT_PAGED = {"users": (USER_TEXT_COLUMNS, user_text),
               "groups": (GROUP_TEXT_COLUMNS, group_text)}
