"""Enterprise Grid (spec §11): workspaces, IdP groups connected to them, and channels.

Users belong to the organization. A workspace's members are those added by hand
and the members of IdP groups connected to it. A connected group adds its members
to the workspace as they join it; when the connection is ``required``
(auto-provisioning) members who leave the group leave the workspace too, unless
another connected group or a manual assignment keeps them. Disconnecting a
required group removes the members only it brought; deleting a group removes no
one from any workspace.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection, delete, exists, insert, select
from sqlalchemy.exc import IntegrityError

from scimd.store import tables as t
from scimd.store.common import insert_ignore, new_id, now
from scimd.store.users import CHUNK

wm, ic, m = t.workspace_members, t.idp_connections, t.memberships


def connections(conn: Connection, group_pk: int) -> list[tuple[int, bool]]:
    """The workspaces a group is connected to, with their ``required`` flag."""
    return [(r.workspace_pk, r.required) for r in conn.execute(
        select(ic.c.workspace_pk, ic.c.required).where(ic.c.group_pk == group_pk))]


def add_to_workspaces(conn: Connection, group_pk: int, user_pks: Sequence[int]) -> None:
    """Members joining a connected group join its workspaces."""
    links = connections(conn, group_pk)
    rows = [{"workspace_pk": w, "user_pk": u, "manual": False}
            for w, _ in links for u in user_pks]
    for start in range(0, len(rows), CHUNK):
        conn.execute(insert_ignore(conn, wm), rows[start:start + CHUNK])


def remove_from_workspaces(conn: Connection, group_pk: int, user_pks: Sequence[int]) -> None:
    """Members leaving a group leave the workspaces it is *required* for, unless kept."""
    for workspace_pk, required in connections(conn, group_pk):
        if required:
            _drop_unkept(conn, workspace_pk, group_pk, list(user_pks))


def _drop_unkept(conn: Connection, workspace_pk: int, group_pk: int,
                 user_pks: list[int]) -> None:
    other_group = select(1).select_from(m.join(ic, ic.c.group_pk == m.c.group_pk)).where(
        ic.c.workspace_pk == workspace_pk, ic.c.group_pk != group_pk, m.c.user_pk == wm.c.user_pk)
    for start in range(0, len(user_pks), CHUNK):
        conn.execute(delete(wm).where(
            wm.c.workspace_pk == workspace_pk, wm.c.user_pk.in_(user_pks[start:start + CHUNK]),
            wm.c.manual.is_(False), ~exists(other_group)))


def group_member_pks(conn: Connection, group_pk: int) -> list[int]:
    return [r.user_pk for r in conn.execute(
        select(m.c.user_pk).where(m.c.group_pk == group_pk, m.c.user_pk.is_not(None)))]


def connect(conn: Connection, workspace_pk: int, group_pk: int, required: bool) -> None:
    """Connect an IdP group to a workspace: its members join it now and as they join."""
    conn.execute(insert_ignore(conn, ic), [{"workspace_pk": workspace_pk,
                                            "group_pk": group_pk, "required": required}])
    conn.execute(ic.update().where(ic.c.workspace_pk == workspace_pk,
                                   ic.c.group_pk == group_pk).values(required=required))
    add_to_workspaces(conn, group_pk, group_member_pks(conn, group_pk))


def disconnect(conn: Connection, workspace_pk: int, group_pk: int) -> bool:
    row = conn.execute(select(ic.c.required).where(ic.c.workspace_pk == workspace_pk,
                                                   ic.c.group_pk == group_pk)).first()
    if row is None:
        return False
    if row.required:
        _drop_unkept(conn, workspace_pk, group_pk, group_member_pks(conn, group_pk))
    conn.execute(delete(ic).where(ic.c.workspace_pk == workspace_pk, ic.c.group_pk == group_pk))
    return True


def assign(conn: Connection, workspace_pk: int, user_pk: int) -> None:
    """Add a user to a workspace by hand (as ``admin.users.assign`` does)."""
    conn.execute(insert_ignore(conn, wm), [{"workspace_pk": workspace_pk, "user_pk": user_pk,
                                            "manual": True}])
    conn.execute(wm.update().where(wm.c.workspace_pk == workspace_pk, wm.c.user_pk == user_pk)
                 .values(manual=True))


def leave_all(conn: Connection, user_pk: int) -> list[str]:
    """Take a user out of every workspace (deactivation, spec §11); the workspaces' ids."""
    ids = [r.id for r in conn.execute(
        select(t.tenants.c.id).select_from(wm.join(t.tenants, t.tenants.c.pk == wm.c.workspace_pk))
        .where(wm.c.user_pk == user_pk).order_by(t.tenants.c.pk))]
    if ids:
        conn.execute(delete(wm).where(wm.c.user_pk == user_pk))
    return ids


def workspaces_of(conn: Connection, user_pk: int) -> list[str]:
    return [r.id for r in conn.execute(
        select(t.tenants.c.id).select_from(wm.join(t.tenants, t.tenants.c.pk == wm.c.workspace_pk))
        .where(wm.c.user_pk == user_pk).order_by(t.tenants.c.pk))]


def workspace_user_ids(conn: Connection, workspace_pk: int) -> list[str]:
    return [r.id for r in conn.execute(
        select(t.users.c.id).select_from(wm.join(t.users, t.users.c.pk == wm.c.user_pk))
        .where(wm.c.workspace_pk == workspace_pk).order_by(t.users.c.pk))]


# -- channels (spec §3.2, §13.9: usernames and channel names share one namespace) ---------


class NameTaken(Exception):
    """The channel name is a username or another channel's name."""


def create_channel(conn: Connection, tenant_pk: int, org_pk: int, name: str) -> str:
    low = name.lower()
    if conn.execute(select(t.users.c.pk).where(t.users.c.tenant_pk == org_pk,
                                               t.users.c.user_name_lower == low)).first():
        raise NameTaken(f"{name} is a username")
    channel_id = new_id("C")
    try:
        conn.execute(insert(t.channels).values(id=channel_id, tenant_pk=tenant_pk,
                                                org_pk=org_pk, name=name, name_lower=low,
                                                created_at=now()))
    except IntegrityError:
        raise NameTaken(f"#{name} exists") from None
    return channel_id


def channel_name_taken(conn: Connection, org_pk: int, name: str) -> bool:
    return conn.execute(select(t.channels.c.pk).where(
        t.channels.c.org_pk == org_pk, t.channels.c.name_lower == name.lower())).first() is not None


def join_channel(conn: Connection, channel_id: str, user_pk: int) -> bool:
    row = conn.execute(select(t.channels.c.pk).where(t.channels.c.id == channel_id)).first()
    if row is None:
        return False
    conn.execute(insert_ignore(conn, t.channel_members), [{"channel_pk": row.pk,
                                                          "user_pk": user_pk}])
    return True


def channels_of(conn: Connection, user_pks: Sequence[int]) -> dict[int, list[dict]]:
    """Channels of each user, as the guest extension shows them (spec §3.2)."""
    out: dict[int, list[dict]] = {pk: [] for pk in user_pks}
    cm, c = t.channel_members, t.channels
    for start in range(0, len(user_pks), CHUNK):
        for r in conn.execute(select(cm.c.user_pk, c.c.id, c.c.name)
                              .select_from(cm.join(c, c.c.pk == cm.c.channel_pk))
                              .where(cm.c.user_pk.in_(list(user_pks)[start:start + CHUNK]))
                              .order_by(c.c.pk)):
            out[r.user_pk].append({"value": r.id, "display": r.name})
    return out

