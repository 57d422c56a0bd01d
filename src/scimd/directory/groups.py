"""Groups and their members: the protocol-neutral operations.

Membership changes are applied as deltas on the membership relation (DESIGN.md
principle 3): a PATCH that adds 100 members touches 100 rows whatever the size
of the group, and nothing loads the member list unless the answer shows it.
Every change is written to the audit log in its own transaction.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from scim2_models.path import FilterNode
from sqlalchemy import Connection

from scimd.directory.etag import check_if_match
from scimd.directory.policy import Policy, policy_for
from scimd.directory.query import ListQuery
from scimd.scim.errors import ScimError, invalid_value, not_found
from scimd.scim.patch import MemberOp, PatchEngine
from scimd.scim.validate import check_required
from scimd.store import audit, direct, grid
from scimd.store import groups as store
from scimd.store import tables as t
from scimd.store import users as user_store
from scimd.store.common import new_id
from scimd.store.db import Database
from scimd.store.filter_sql import FilterCompiler, member_condition
from scimd.store.records import CLI, Actor, GroupRecord, Page, Tenant

MAX_MEMBERS_PER_REQUEST = 15_000
"""Members one request may name (spec §4.2, ``too_many_users``)."""

MEMBERS_BESIDE_OTHERS = 1_000
"""Members a write may name and still run beside other requests (a group commit's batch,
the event loop): more take tens of milliseconds of CPU, and run alone in a thread."""


def _missing(group_id: str) -> ScimError:
    return not_found(f"Group {group_id} not found.", "no_such_group")


@dataclass(slots=True)
class Delta:
    """Which members a change really added and removed (user and group keys)."""

    added: list[int] = field(default_factory=list)
    removed: list[int] = field(default_factory=list)
    added_groups: list[int] = field(default_factory=list)
    removed_groups: list[int] = field(default_factory=list)

    def add(self, users: list[int], groups: list[int]) -> None:
        self.added += users
        self.added_groups += groups
        came = set(users)
        self.removed = [p for p in self.removed if p not in came]

    def remove(self, users: list[int], groups: list[int]) -> None:
        gone, added = set(users), set(self.added)
        self.removed += [p for p in users if p not in added]
        self.added = [p for p in self.added if p not in gone]
        self.removed_groups += groups


class Groups:
    def __init__(self, db: Database) -> None:
        self.db = db

    def get(self, tenant: Tenant, group_id: str, *, with_members: bool = True) -> GroupRecord:
        with self.db.snapshot() as reader:  # the hot path: a direct read
            rec = direct.group(reader, tenant.pk, group_id)
            if rec is None:
                raise _missing(group_id)
            if with_members:
                direct.fill_members(reader, [rec])
            return rec

    def list(self, tenant: Tenant, query: ListQuery) -> Page:
        policy = policy_for(tenant)
        compiler = FilterCompiler(self.db.engine.dialect.name, policy.group_type,
                                  unknown_as_absent=query.unknown_as_absent)
        where = compiler.compile(query.filter) if query.filter is not None else None
        offset = max(query.start_index - 1, 0)
        if where is None and query.sort_by is None:  # a whole-directory read: direct
            with self.db.snapshot() as reader:
                page = direct.page(reader, "groups", tenant, offset, query.count,
                                   self.db.positions, as_text=query.attrs_as_text)
                if query.with_relations:
                    direct.fill_members(reader, page.items)
                return page
        order = []
        if query.sort_by is not None:
            order = compiler.order_by(query.sort_by, query.descending)
        with self.db.read() as conn:
            page = store.find_page(conn, tenant.pk, where, order, offset, query.count)
            if query.with_relations:
                store.load_members(conn, page.items)
            return page

    def create(self, tenant: Tenant, attrs: dict, *, with_members: bool = True,
               actor: Actor = CLI) -> GroupRecord:
        policy = policy_for(tenant)
        members = attrs.pop("members", None) or []
        check_required(attrs, policy.group_type)
        self._check_count(members)
        with self.db.write(dry_run=actor.dry_run) as conn:
            attrs = policy.prepare_group(conn, tenant, attrs)
            rec = store.insert_group(conn, tenant.pk, new_id("S"), attrs)
            delta = self._apply(conn, tenant, policy, rec, [MemberOp("add", members)])
            audit.record(conn, tenant.pk, "group_created", "Group", rec.id,
                         {"after": rec.attrs, **self._ids(conn, delta)}, actor)
            if with_members:
                store.load_members(conn, [rec])
            return rec

    def replace(self, tenant: Tenant, group_id: str, attrs: dict, *,
                if_match: str | None = None, with_members: bool = True,
                actor: Actor = CLI) -> GroupRecord:
        """PUT (RFC 7644 §3.5.1): name, attributes and the whole member list are replaced."""
        policy = policy_for(tenant)
        members = attrs.pop("members", None) or []
        check_required(attrs, policy.group_type)
        self._check_count(members)
        with self.db.write(dry_run=actor.dry_run) as conn:
            old = self._locked(conn, tenant, group_id, if_match)
            attrs = policy.prepare_group(conn, tenant, attrs)
            rec = store.update_group(conn, old, attrs)
            delta = self._apply(conn, tenant, policy, rec, [MemberOp("replace", members)])
            self._audit(conn, tenant, actor, old, rec, delta)
            if with_members:
                store.load_members(conn, [rec])
            return rec

    def patch(self, tenant: Tenant, group_id: str, operations: list, *,
              if_match: str | None = None, with_members: bool = True,
              actor: Actor = CLI) -> GroupRecord:
        """PATCH (RFC 7644 §3.5.2), members changed as deltas, all or nothing."""
        policy = policy_for(tenant)
        with self.db.write(dry_run=actor.dry_run) as conn:
            old = self._locked(conn, tenant, group_id, if_match)
            result = PatchEngine(policy.group_type, old.attrs, resource_id=old.id,
                                 relation="members").run(operations)
            self._check_count([v for op in result.member_ops for v in op.values])
            check_required(result.attrs, policy.group_type, patching=True)
            rec = old
            if result.attrs != old.attrs:
                attrs = policy.prepare_group(conn, tenant, result.attrs)
                rec = store.update_group(conn, old, attrs)
            delta = Delta()
            if result.member_ops:
                delta = self._apply(conn, tenant, policy, rec, result.member_ops)
                if rec is old:
                    rec = store.touch(conn, old)
            self._audit(conn, tenant, actor, old, rec, delta)
            if with_members:
                store.load_members(conn, [rec])
            return rec

    def delete(self, tenant: Tenant, group_id: str, *, if_match: str | None = None,
               actor: Actor = CLI) -> None:
        with self.db.write(dry_run=actor.dry_run) as conn:
            old = self._locked(conn, tenant, group_id, if_match)
            store.delete_group(conn, old.pk)
            audit.record(conn, tenant.pk, "group_deleted", "Group", old.id,
                         {"before": old.attrs}, actor)

    # -- audit -----------------------------------------------------------------------

    def _audit(self, conn: Connection, tenant: Tenant, actor: Actor, old: GroupRecord,
               rec: GroupRecord, delta: Delta) -> None:
        if rec.attrs != old.attrs:
            audit.record(conn, tenant.pk, "group_updated", "Group", rec.id,
                         {"before": old.attrs, "after": rec.attrs}, actor)
        ids = self._ids(conn, delta)
        if ids.get("members_added"):
            audit.record(conn, tenant.pk, "group_members_added", "Group", rec.id,
                         {"members": ids["members_added"]}, actor)
        if ids.get("members_removed"):
            audit.record(conn, tenant.pk, "group_members_removed", "Group", rec.id,
                         {"members": ids["members_removed"]}, actor)

    @staticmethod
    def _ids(conn: Connection, delta: Delta) -> dict[str, list[str]]:
        out = {}
        added = store.ids_of(conn, t.users, delta.added) + \
            store.ids_of(conn, t.groups, delta.added_groups)
        removed = store.ids_of(conn, t.users, delta.removed) + \
            store.ids_of(conn, t.groups, delta.removed_groups)
        if added:
            out["members_added"] = added
        if removed:
            out["members_removed"] = removed
        return out

    # -- members -------------------------------------------------------------------

    def _apply(self, conn: Connection, tenant: Tenant, policy: Policy, rec: GroupRecord,
               ops: list[MemberOp]) -> Delta:
        """Apply member changes; a group connected to Grid workspaces carries them on."""
        delta = Delta()
        for op in ops:
            if op.kind == "remove_all":
                delta.remove(*store.remove_all_members(conn, rec.pk))
            elif op.kind == "remove_where":
                delta.remove(*self._remove_where(conn, policy, rec, op.filter))
            elif op.kind in ("add", "replace"):
                users, children = self._resolve(conn, tenant, policy, rec, op.values)
                policy.check_members(conn, tenant, users)
                if op.kind == "replace":
                    keep_users, keep_groups = set(users), set(children)
                    current_users = grid.group_member_pks(conn, rec.pk)
                    delta.remove(*store.remove_members(
                        conn, rec.pk, [p for p in current_users if p not in keep_users],
                        [p for p in store.child_pks(conn, rec.pk) if p not in keep_groups]))
                delta.add(*store.add_members(conn, rec.pk, users, children))
            elif op.kind == "remove":
                users, children = self._resolve(conn, tenant, policy, rec, op.values,
                                                strict=False)
                delta.remove(*store.remove_members(conn, rec.pk, users, children))
        cap = policy.max_group_members(tenant)
        if cap is not None and delta.added and store.count_members(conn, rec.pk) > cap:
            raise ScimError(400, "group_member_max_exceeded",
                            f"A group of this workspace has at most {cap} members.", "tooMany")
        if delta.added or delta.removed:
            grid.add_to_workspaces(conn, rec.pk, delta.added)
            grid.remove_from_workspaces(conn, rec.pk, delta.removed)
        return delta

    def _resolve(self, conn: Connection, tenant: Tenant, policy: Policy, rec: GroupRecord,
                 values: list[dict], *, strict: bool = True) -> tuple[list[int], list[int]]:
        """Map member values to user and group keys; unknown ids are 400 when adding."""
        ids = []
        for member in values:
            value = member.get("value") if isinstance(member, dict) else None
            if not isinstance(value, str) or not value:
                raise invalid_value("Each member needs a value (the member's id).")
            ids.append(value)
        users = user_store.pks_by_ids(conn, tenant.pk, ids)
        rest = [i for i in ids if i not in users]
        children: dict[str, int] = {}
        if rest and policy.groups_may_nest:
            children = store.pks_by_ids(conn, tenant.pk, rest)
        unknown = [i for i in rest if i not in children]
        if strict and unknown:
            raise invalid_value(f"No such member: {', '.join(unknown[:10])}.",
                                code="no_such_group_members")
        if rec.pk in children.values():
            raise invalid_value("A group cannot be a member of itself.")
        order = list(dict.fromkeys(ids))  # members keep the order the request gave
        return ([users[i] for i in order if i in users],
                [children[i] for i in order if i in children])

    def _remove_where(self, conn: Connection, policy: Policy, rec: GroupRecord,
                      node: FilterNode | None) -> tuple[list[int], list[int]]:
        assert node is not None
        u, child = t.users.alias("mu"), t.groups.alias("mg")
        cond = member_condition(conn.dialect.name, policy.group_type, node, u, child)
        return store.remove_members_where(conn, rec.pk, cond, u, child)

    def _check_count(self, members: list) -> None:
        if len(members) > MAX_MEMBERS_PER_REQUEST:
            raise ScimError(400, "too_many_users",
                            f"At most {MAX_MEMBERS_PER_REQUEST} members per request.",
                            "tooMany")
        if len(members) > MEMBERS_BESIDE_OTHERS:
            self.db.run_alone()

    def _locked(self, conn: Connection, tenant: Tenant, group_id: str,
                if_match: str | None) -> GroupRecord:
        rec = store.get(conn, tenant.pk, group_id, for_update=True)
        if rec is None:
            raise _missing(group_id)
        check_if_match(if_match, rec.version)
        return rec
