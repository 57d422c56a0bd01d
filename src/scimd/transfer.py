"""Export and import of a tenant (``scimd export`` / ``scimd import``).

A dump is one JSON document: the tenant, its users (attributes, role, flags, password
hash, timestamps), its groups and their members. Importing it into another database
recreates the tenant with the same ids, so identity providers keep working after a
move; importing into a database that already holds the tenant's ids is refused.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from sqlalchemy import Connection, insert, select

from scimd.store import tables as t
from scimd.store.db import Database
from scimd.store.records import Tenant
from scimd.store.stored_form import stored_form

FORMAT = "scimd-dump/1"
BATCH = 500
Progress = Callable[[int], None]


def export(db: Database, tenant: Tenant) -> dict[str, Any]:
    """The whole tenant as one JSON-ready document."""
    with db.read() as conn:
        u, g, m = t.users, t.groups, t.memberships
        users = [dict(r._mapping) for r in conn.execute(
            select(u.c.id, u.c.attrs, u.c.active, u.c.role, u.c.is_bot, u.c.erased,
                   u.c.password_hash, u.c.created_at, u.c.modified_at, u.c.version)
            .where(u.c.tenant_pk == tenant.pk).order_by(u.c.pk))]
        groups = {r.pk: {**dict(r._mapping), "members": []} for r in conn.execute(
            select(g.c.pk, g.c.id, g.c.attrs, g.c.created_at, g.c.modified_at, g.c.version)
            .where(g.c.tenant_pk == tenant.pk).order_by(g.c.pk))}
        child = g.alias("child")
        for r in conn.execute(
                select(m.c.group_pk, u.c.id.label("uid"), child.c.id.label("gid"))
                .select_from(m.outerjoin(u, u.c.pk == m.c.user_pk)
                             .outerjoin(child, child.c.pk == m.c.child_pk))
                .where(m.c.group_pk.in_(select(g.c.pk).where(g.c.tenant_pk == tenant.pk)))
                .order_by(m.c.pk)):
            groups[r.group_pk]["members"].append(
                {"value": r.uid, "type": "User"} if r.uid else {"value": r.gid, "type": "Group"})
    for group in groups.values():
        del group["pk"]
    return {"format": FORMAT,
            "tenant": {"id": tenant.id, "name": tenant.name, "plan": tenant.plan,
                       "dialect": tenant.dialect, "domain": tenant.domain},
            "users": users, "groups": list(groups.values())}


def import_dump(db: Database, dump: dict[str, Any], progress: Progress | None = None) -> Tenant:
    """Recreate a dumped tenant, all in one transaction (nothing is kept if it fails).

    Attributes are stored in their stored form (``store/stored_form.py``): the keys the
    server writes itself are dropped, and a key no attribute can have refuses the dump
    with ``ValueError``."""
    if dump.get("format") != FORMAT:
        raise ValueError(f"not a {FORMAT} document")
    for kind, relation in (("users", "groups"), ("groups", "members")):
        for resource in dump[kind]:
            if not isinstance(resource.get("attrs"), dict):
                raise ValueError(f"{kind[:-1]} {resource.get('id')}: attrs is not an object")
            try:
                resource["attrs"] = stored_form(resource["attrs"], relation, strict=True)
            except ValueError as exc:
                raise ValueError(f"{kind[:-1]} {resource.get('id')}: {exc}") from None
    info = dump["tenant"]
    with db.write() as conn:
        if conn.execute(select(t.tenants.c.pk).where(t.tenants.c.id == info["id"])).first():
            raise ValueError(f"tenant {info['id']} already exists in this database")
        from scimd.store.common import now

        tenant_pk = conn.execute(insert(t.tenants).values(
            id=info["id"], name=info["name"], plan=info["plan"], dialect=info["dialect"],
            domain=info.get("domain"), created_at=now()).returning(t.tenants.c.pk)).scalar_one()
        user_pks = _users(conn, tenant_pk, info["dialect"] == "slack", dump["users"], progress)
        group_pks: dict[str, int] = {}
        for group in dump["groups"]:
            group_pks[group["id"]] = conn.execute(insert(t.groups).values(
                id=group["id"], tenant_pk=tenant_pk, attrs=group["attrs"],
                display_name=group["attrs"]["displayName"],
                display_name_lower=group["attrs"]["displayName"].lower(),
                external_id=group["attrs"].get("externalId"), created_at=group["created_at"],
                modified_at=group["modified_at"], version=group["version"],
            ).returning(t.groups.c.pk)).scalar_one()
        rows = [{"group_pk": group_pks[g["id"]],
                 "user_pk": user_pks.get(m["value"]) if m["type"] == "User" else None,
                 "child_pk": group_pks.get(m["value"]) if m["type"] == "Group" else None}
                for g in dump["groups"] for m in g["members"]]
        for batch in _chunks(rows):
            conn.execute(insert(t.memberships), batch)
            if progress:
                progress(len(batch))
    return Tenant(pk=tenant_pk, id=info["id"], name=info["name"], plan=info["plan"],
                  dialect=info["dialect"], domain=info.get("domain"))


def _users(conn: Connection, tenant_pk: int, unique_emails: bool, users: list[dict],
           progress: Progress | None) -> dict[str, int]:
    pks: dict[str, int] = {}
    for batch in _chunks(users):
        for user in batch:
            attrs = user["attrs"]
            display = attrs.get("displayName")
            pk = conn.execute(insert(t.users).values(
                id=user["id"], tenant_pk=tenant_pk, user_name=attrs["userName"],
                user_name_lower=attrs["userName"].lower(), external_id=attrs.get("externalId"),
                display_name=display, display_name_lower=display.lower() if display else None,
                active=user["active"], role=user["role"], is_bot=user["is_bot"],
                erased=user["erased"], password_hash=user["password_hash"], attrs=attrs,
                created_at=user["created_at"], modified_at=user["modified_at"],
                version=user["version"]).returning(t.users.c.pk)).scalar_one()
            pks[user["id"]] = pk
            emails = [{"tenant_pk": tenant_pk, "user_pk": pk, "value": e["value"],
                       "value_lower": e["value"].lower(), "type": e.get("type"),
                       "primary": e.get("primary") is True, "display": e.get("display"),
                       "unique_value": e["value"].lower() if unique_emails else None}
                      for e in attrs.get("emails") or [] if isinstance(e.get("value"), str)]
            if emails:
                conn.execute(insert(t.user_emails), emails)
        if progress:
            progress(len(batch))
    return pks


def _chunks(rows: list) -> Iterator[list]:
    for start in range(0, len(rows), BATCH):
        yield rows[start:start + BATCH]


def size(dump: dict[str, Any]) -> int:
    """How many steps an import takes (for a progress bar)."""
    return len(dump["users"]) + sum(len(g["members"]) for g in dump["groups"])
