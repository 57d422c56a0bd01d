"""Helpers shared by the store modules: ids, clocks, dialect-aware inserts, errors."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Table, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError

from scimd.scim.errors import ScimError, uniqueness
from scimd.scim.values import DATETIME_FORMAT
from scimd.store.records import Page
from scimd.store.tables import resource_counts

_ID_ALPHABET = "0123456789ABCDEFGHJKLMNPQRSTUVWXYZ"


def new_id(prefix: str, length: int = 10) -> str:
    """A Slack-style id: a type letter and random upper-case characters (about 51 bits)."""
    return prefix + "".join(secrets.choice(_ID_ALPHABET) for _ in range(length))


def now() -> str:
    """The current time in the stored form."""
    return datetime.now(UTC).strftime(DATETIME_FORMAT)


def insert_ignore(conn: Connection, table: Table):
    """``INSERT … ON CONFLICT DO NOTHING`` for the connection's database."""
    module = postgresql if conn.dialect.name == "postgresql" else sqlite
    return module.insert(table).on_conflict_do_nothing()


def conflict(exc: IntegrityError) -> ScimError:
    """Turn a unique-constraint violation into the 409 it stands for (RFC 7644 §3.3)."""
    text = str(exc.orig).lower()
    if "user_name_lower" in text:
        return uniqueness("userName is already taken.", "username_taken")
    if "unique_value" in text:
        return uniqueness("That email address is already taken.", "email_taken")
    if "external_id" in text:
        return uniqueness("externalId is already taken.", "external_id_taken")
    if "display_name" in text:
        return uniqueness("displayName is already taken.", "group_name_taken")
    return ScimError(409, "conflict", "The change conflicts with another resource.", "uniqueness")


def find_page(conn: Connection, table: Table, columns: Sequence[Any],
              record: Callable[[Any], Any], tenant_pk: int, where: Any,
              order_by: Sequence[Any], offset: int, limit: int) -> Page:
    """A page of a tenant's matching rows and the number of all matches (RFC 7644
    §3.4.2.4).

    The page's keys are found first, alone: unfiltered in the default order that is a
    walk of the ``(tenant_pk, pk)`` index, so a page deep in the collection skips index
    entries, not rows. Without a filter the total is the tenant's count that triggers
    keep (migration 0006); with one, a short page tells the total by itself, and only
    full or empty pages pay for a count.
    """
    conds = [table.c.tenant_pk == tenant_pk]
    total = None
    if where is not None:
        conds.append(where)
    else:
        total = tenant_total(conn, table, tenant_pk)
    items: list[Any] = []
    if limit > 0 and (total is None or offset < total):
        keys = (select(table.c.pk).where(*conds).order_by(*order_by, table.c.pk)
                .offset(offset).limit(limit).correlate(None))
        stmt = select(*columns).where(table.c.pk.in_(keys)).order_by(*order_by, table.c.pk)
        items = [record(r) for r in conn.execute(stmt)]
    if total is not None:
        return Page(total, items)
    if len(items) < limit and (items or offset == 0):
        return Page(offset + len(items), items)
    total = conn.execute(select(func.count()).select_from(table).where(*conds)).scalar_one()
    return Page(total, items)


COUNTED = {"users": "user", "groups": "group"}


def tenant_total(conn: Connection, table: Table, tenant_pk: int) -> int:
    """How many rows of ``table`` (users or groups) the tenant has: one key look-up."""
    c = resource_counts.c
    found = conn.execute(select(c.total).where(
        c.tenant_pk == tenant_pk, c.resource == COUNTED[table.name])).scalar()
    return found or 0
