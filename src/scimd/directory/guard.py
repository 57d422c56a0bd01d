"""The mass-deprovision guard (issue: safe provisioning).

When the deactivations of a tenant within a sliding window exceed a threshold
(by default more than max(20, 10% of its active users) within 10 minutes), further
deactivations are refused with 403 ``deprovision_guard_tripped`` until an operator
runs ``scimd guard release``. A 403, not a 429: nothing should retry on its own
until a person has looked. In the ``rfc`` dialect a DELETE counts too, since it
cannot be undone. The trip is recorded in the audit log.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Connection, func, insert, select, update

from scimd.scim.errors import ScimError
from scimd.scim.values import DATETIME_FORMAT
from scimd.store import audit
from scimd.store import tables as t
from scimd.store.common import now
from scimd.store.records import Actor, Tenant


@dataclass(slots=True, frozen=True)
class GuardSettings:
    enabled: bool = True
    window: float = 600.0
    minimum: int = 20
    percent: float = 10.0


def tripped(conn: Connection, tenant_pk: int) -> bool:
    g = t.guard_trips
    return conn.execute(select(g.c.pk).where(g.c.tenant_pk == tenant_pk,
                                             g.c.released_at.is_(None)).limit(1)).first() \
        is not None


def threshold(conn: Connection, tenant_pk: int, settings: GuardSettings) -> int:
    active = conn.execute(select(func.count()).select_from(t.users).where(
        t.users.c.tenant_pk == tenant_pk, t.users.c.active.is_(True))).scalar_one()
    return max(settings.minimum, math.floor(active * settings.percent / 100))


def check(conn: Connection, tenant: Tenant, settings: GuardSettings) -> str | None:
    """Before a deactivation: ``None`` when it may go ahead, else why the guard refuses
    (already tripped, or this one would exceed the threshold)."""
    if not settings.enabled:
        return None
    if conn.dialect.name == "postgresql":  # one deactivation count at a time per tenant
        conn.execute(select(t.tenants.c.pk).where(t.tenants.c.pk == tenant.pk)
                     .with_for_update())
    if tripped(conn, tenant.pk):
        return "tripped"
    since = (datetime.now(UTC) - timedelta(seconds=settings.window)).strftime(DATETIME_FORMAT)
    g = t.guard_trips
    released = conn.execute(select(func.max(g.c.released_at)).where(
        g.c.tenant_pk == tenant.pk)).scalar_one()
    if released is not None and released > since:
        since = released  # a release starts the count afresh: the operator has looked
    done = audit.count_since(conn, tenant.pk, audit.DEACTIVATIONS, since)
    if done + 1 > threshold(conn, tenant.pk, settings):
        return "trip"
    return None


def trip(conn: Connection, tenant: Tenant, actor: Actor, user_id: str) -> None:
    """Record a trip (in its own committed transaction: the refused write rolls back)."""
    conn.execute(insert(t.guard_trips).values(tenant_pk=tenant.pk, tripped_at=now()))
    audit.record(conn, tenant.pk, "deprovision_guard_tripped", "Tenant", tenant.id,
                 {"refused_user": user_id}, actor)


def release(conn: Connection, tenant_pk: int, by: str = "cli") -> bool:
    g = t.guard_trips
    result = conn.execute(update(g).where(g.c.tenant_pk == tenant_pk, g.c.released_at.is_(None))
                          .values(released_at=now(), released_by=by))
    return result.rowcount > 0


class Tripping(Exception):
    """Raised inside the write that trips the guard; the trip is recorded after rollback."""

    def __init__(self, user_id: str) -> None:
        super().__init__(user_id)
        self.user_id = user_id


def refused() -> ScimError:
    return ScimError(403, "deprovision_guard_tripped",
                     "Too many deactivations in a short time: further deactivations are "
                     "refused until an operator runs `scimd guard release`.")
