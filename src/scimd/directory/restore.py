"""Undoing deactivations (issue: safe provisioning): ``scimd user restore --since``.

Deactivation in the ``slack`` dialect records the groups and Grid workspaces it took
the user out of (spec §16.26). Restoring reactivates the users deactivated since a
moment and puts those memberships back, where the groups still exist. Users deleted
in the ``rfc`` dialect are gone and cannot be restored; the plan says so.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from scimd.directory.groups import Groups
from scimd.directory.users import Users
from scimd.scim.errors import ScimError
from scimd.store import audit, grid
from scimd.store import groups as group_store
from scimd.store import users as user_store
from scimd.store.db import Database
from scimd.store.records import CLI, Actor, Tenant


@dataclass(slots=True)
class Restoration:
    user_id: str
    groups: list[str] = field(default_factory=list)
    workspaces: list[str] = field(default_factory=list)
    deleted: bool = False
    note: str = ""


def plan(db: Database, tenant: Tenant, since: str) -> list[Restoration]:
    """What a restore would do: users deactivated (or deleted) since ``since``."""
    out: dict[str, Restoration] = {}
    with db.read() as conn:
        events = audit.events(conn, tenant.pk, since=since,
                              actions=("user_deactivated", "user_deleted",
                                       "user_reactivated"))
        for event in events:
            uid = event["resource"]["id"]
            if event["action"] == "user_reactivated":
                out.pop(uid, None)  # already back; its old memberships were not restored
                continue
            if event["action"] == "user_deleted":
                out[uid] = Restoration(uid, deleted=True,
                                       note="deleted (rfc dialect): cannot be restored")
                continue
            data = event["data"] or {}
            entry = out.setdefault(uid, Restoration(uid))
            entry.groups += [g for g in data.get("removed_groups", []) if g not in entry.groups]
            entry.workspaces += [w for w in data.get("removed_workspaces", [])
                                 if w not in entry.workspaces]
        for entry in out.values():
            if entry.deleted:
                continue
            rec = user_store.get(conn, tenant.pk, entry.user_id)
            if rec is None:
                entry.deleted, entry.note = True, "no longer exists"
            elif rec.active:
                entry.note = "already active"
            existing = group_store.pks_by_ids(conn, tenant.pk, entry.groups)
            gone = [g for g in entry.groups if g not in existing]
            entry.groups = [g for g in entry.groups if g in existing]
            if gone:
                entry.note = (entry.note + "; " if entry.note else "") + \
                    f"groups since deleted: {', '.join(gone)}"
    return list(out.values())


def apply(db: Database, tenant: Tenant, restorations: list[Restoration],
          actor: Actor = CLI) -> list[str]:
    """Reactivate and re-add memberships; answers the ids restored."""
    users, groups = Users(db), Groups(db)
    done = []
    for entry in restorations:
        if entry.deleted:
            continue
        try:
            users.patch(tenant, entry.user_id, [("replace", "active", True)], actor=actor)
        except ScimError:
            continue
        for gid in entry.groups:
            groups.patch(tenant, gid, [("add", "members", [{"value": entry.user_id}])],
                         with_members=False, actor=actor)
        with db.write() as conn:
            rec = user_store.get(conn, tenant.pk, entry.user_id)
            for wid in entry.workspaces:
                ws = _tenant_pk(conn, wid)
                if ws is not None and rec is not None:
                    grid.assign(conn, ws, rec.pk)
            audit.record(conn, tenant.pk, "user_restored", "User", entry.user_id,
                         {"groups": entry.groups, "workspaces": entry.workspaces}, actor)
        done.append(entry.user_id)
    return done


def _tenant_pk(conn, tenant_id: str) -> int | None:
    from scimd.store import tenants

    found = tenants.get_tenant(conn, tenant_id)
    return found.pk if found else None
