"""The audit log: one row per change, written in the transaction of the change.

Today it records deactivations with the group memberships they removed, so a
later restore can put them back (spec §16.26); the safety issue widens it to
every change.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, insert, select

from scimd.store import tables as t
from scimd.store.common import now


def record(conn: Connection, tenant_pk: int, action: str, resource_type: str,
           resource_id: str, data: dict[str, Any] | None = None,
           actor: str | None = None) -> None:
    conn.execute(insert(t.audit_events).values(
        tenant_pk=tenant_pk, at=now(), actor=actor, action=action,
        resource_type=resource_type, resource_id=resource_id, data=data))


def events(conn: Connection, tenant_pk: int, resource_id: str | None = None) -> list[dict]:
    """The tenant's events, oldest first (optionally for one resource)."""
    e = t.audit_events
    stmt = select(e.c.at, e.c.actor, e.c.action, e.c.resource_type, e.c.resource_id,
                  e.c.data).where(e.c.tenant_pk == tenant_pk).order_by(e.c.pk)
    if resource_id is not None:
        stmt = stmt.where(e.c.resource_id == resource_id)
    return [dict(row._mapping) for row in conn.execute(stmt)]
