"""The audit log: one append-only row per change, written in the transaction of the change.

Each row keeps the time, the actor (token and its user, or the CLI), the client
address, the action, the resource, and the attributes before and after (passwords
are never stored with the attributes, so they never reach the log). The rows'
keys are the change feed's cursors.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, func, insert, select

from scimd.store import tables as t
from scimd.store.common import now
from scimd.store.records import Actor

DEACTIVATIONS = ("user_deactivated", "user_deleted")


_INSERT = insert(t.audit_events)
"""Built once, values passed at execution: ``.values(...)`` per call cost more than the
row (bench/README.md, "Writes against the peer")."""


def record(conn: Connection, tenant_pk: int, action: str, resource_type: str,
           resource_id: str, data: dict[str, Any] | None, actor: Actor) -> None:
    conn.execute(_INSERT, {
        "tenant_pk": tenant_pk, "at": now(), "actor": actor.kind, "action": action,
        "resource_type": resource_type, "resource_id": resource_id, "data": data,
        "token_id": actor.token_id, "actor_user_id": actor.user_id, "client": actor.client})


def _row(row: Any) -> dict:
    return {
        "id": str(row.pk), "time": row.at, "action": row.action,
        "resource": {"type": row.resource_type, "id": row.resource_id},
        "actor": {"kind": row.actor, "token_id": row.token_id, "user_id": row.actor_user_id,
                  "client": row.client},
        "data": row.data,
    }


def events(conn: Connection, tenant_pk: int, *, after: int = 0, limit: int | None = None,
           resource_id: str | None = None, since: str | None = None,
           actions: tuple[str, ...] = ()) -> list[dict]:
    """The tenant's events in order, after the event ``after`` (a cursor)."""
    e = t.audit_events
    stmt = select(e).where(e.c.tenant_pk == tenant_pk, e.c.pk > after).order_by(e.c.pk)
    if resource_id is not None:
        stmt = stmt.where(e.c.resource_id == resource_id)
    if since is not None:
        stmt = stmt.where(e.c.at >= since)
    if actions:
        stmt = stmt.where(e.c.action.in_(actions))
    if limit is not None:
        stmt = stmt.limit(limit)
    return [_row(r) for r in conn.execute(stmt)]


def count_since(conn: Connection, tenant_pk: int, actions: tuple[str, ...], since: str) -> int:
    e = t.audit_events
    return conn.execute(select(func.count()).select_from(e).where(
        e.c.tenant_pk == tenant_pk, e.c.action.in_(actions), e.c.at >= since)).scalar_one()
