"""Users: the protocol-neutral operations both wire adapters call.

Every write runs in one transaction: the row is locked, the change is validated
against the schema and the dialect's rules, written, and recorded in the audit
log; either all of it happens or none (RFC 7644 §3.5.2: "all or nothing"). A dry
run does all of it and rolls back.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from sqlalchemy import Connection

from scimd.directory import guard
from scimd.directory.etag import check_if_match
from scimd.directory.passwords import hash_password
from scimd.directory.policy import Policy, UserWrite, policy_for
from scimd.directory.query import ListQuery
from scimd.scim.errors import ScimError, not_found
from scimd.scim.patch import PatchEngine
from scimd.scim.validate import check_immutable, check_required
from scimd.store import audit, direct, grid
from scimd.store import users as store
from scimd.store.common import new_id
from scimd.store.db import Database
from scimd.store.filter_sql import FilterCompiler, indexed_equality
from scimd.store.records import CLI, Actor, Page, Tenant, UserRecord


def _missing(user_id: str) -> ScimError:
    return not_found(f"User {user_id} not found.", "no_such_user")


class Users:
    def __init__(self, db: Database, guard_settings: guard.GuardSettings | None = None,
                 on_trip: Callable[[Tenant], None] | None = None) -> None:
        self.db = db
        self.guard = guard_settings or guard.GuardSettings()
        self.on_trip = on_trip

    def get(self, tenant: Tenant, user_id: str, *, with_groups: bool = True) -> UserRecord:
        with self.db.snapshot() as reader:  # the hot path: a direct read
            rec = direct.user(reader, tenant.pk, user_id, groups=with_groups)
            if rec is None:
                raise _missing(user_id)
            if with_groups:
                self._fill_groups(reader, [rec])
        return rec

    def _fill_groups(self, reader: direct.Reader, records: list[UserRecord]) -> None:
        """Each record's groups, unless read with it (PostgreSQL); a guest's channels too
        (spec §3.2, the rare slow path)."""
        missing = [r for r in records if r.groups is None]
        if missing:
            direct.fill_groups(reader, missing)
        if any(store.shows_channels(r) for r in records):
            with self.db.read() as conn:
                store.load_groups(conn, records)

    def list(self, tenant: Tenant, query: ListQuery) -> Page:
        policy = policy_for(tenant)
        offset = max(query.start_index - 1, 0)
        node = policy.rewrite_filter(query.filter) if query.filter is not None else None
        lookup = indexed_equality(policy.user_type, node) if node is not None else None
        if query.sort_by is None and (node is None or lookup is not None):
            with self.db.snapshot() as reader:  # an IdP's look-up or full read: direct
                if lookup is not None:
                    found = direct.users_equal(reader, tenant.pk, *lookup,
                                               groups=query.with_relations)
                    page = Page(len(found), found[offset:offset + query.count])
                else:
                    page = self._page(reader, tenant, offset, query)
                if query.with_relations:
                    self._fill_groups(reader, page.items)
                return page
        compiler = FilterCompiler(self.db.engine.dialect.name, policy.user_type,
                                  unknown_as_absent=query.unknown_as_absent,
                                  tenant_pk=tenant.pk)
        where = compiler.compile(node) if node is not None else None
        order = []
        if query.sort_by is not None:
            order = compiler.order_by(query.sort_by, query.descending)
        with self.db.read() as conn:
            page = store.find_page(conn, tenant.pk, where, order, offset, query.count)
            if query.with_relations:
                store.load_groups(conn, page.items)
            return page

    def _page(self, reader: direct.Reader, tenant: Tenant, offset: int,
              query: ListQuery) -> Page:
        """An unfiltered page; its records stay text when the query allows, unless one
        shows a multi-channel guest's channels, which join its decoded attributes (spec
        §3.2)."""
        page = direct.page(reader, "users", tenant, offset, query.count, self.db.positions,
                           as_text=query.attrs_as_text, groups=query.with_relations)
        if query.attrs_as_text and any(store.shows_channels(r) for r in page.items):
            page = direct.page(reader, "users", tenant, offset, query.count,
                               self.db.positions, groups=query.with_relations)
        return page

    def create(self, tenant: Tenant, attrs: dict, *, password: str | None = None,
               role: str = "member", is_bot: bool = False, actor: Actor = CLI) -> UserRecord:
        policy = policy_for(tenant)
        hashed = self._hash(password)
        write = UserWrite("create")
        with self._writing(tenant, actor) as conn:
            attrs = policy.prepare_user(conn, tenant, attrs, None, write)
            check_required(attrs, policy.user_type)  # after the rules: their codes are finer
            rec = store.insert_user(conn, tenant.pk, new_id(tenant.user_prefix), attrs,
                                    password_hash=hashed, unique_emails=policy.unique_emails,
                                    role=write.role or role, is_bot=is_bot)
            audit.record(conn, tenant.pk, "user_created", "User", rec.id,
                         {"after": rec.attrs, "role": rec.role, "bot": is_bot}, actor)
            rec.groups = []
            return rec

    def replace(self, tenant: Tenant, user_id: str, attrs: dict, *,
                password: str | None = None, if_match: str | None = None,
                actor: Actor = CLI) -> UserRecord:
        """PUT (RFC 7644 §3.5.1): the given attributes replace the stored ones.

        ``active`` keeps its value when omitted, so a PUT that forgot it never
        deactivates anyone (spec §16.7); the password keeps its value unless given.
        """
        policy = policy_for(tenant)
        with self._writing(tenant, actor) as conn:
            old = self._locked(conn, tenant, user_id, if_match, actor)
            if "active" not in attrs and "active" in old.attrs:
                attrs["active"] = old.attrs["active"]
            check_immutable(attrs, old.attrs, policy.user_type)
            return self._store(conn, tenant, policy, old, attrs, password,
                               UserWrite("replace"), actor)

    def patch(self, tenant: Tenant, user_id: str, operations: list, *,
              if_match: str | None = None, actor: Actor = CLI) -> UserRecord:
        """PATCH (RFC 7644 §3.5.2): all operations apply, or none."""
        policy = policy_for(tenant)
        operations = policy.rewrite_operations(operations)
        with self._writing(tenant, actor) as conn:
            old = self._locked(conn, tenant, user_id, if_match, actor)
            result = PatchEngine(policy.user_type, old.attrs, resource_id=old.id).run(operations)
            check_immutable(result.attrs, old.attrs, policy.user_type)
            return self._store(conn, tenant, policy, old, result.attrs, result.password,
                               UserWrite("patch"), actor)

    def delete(self, tenant: Tenant, user_id: str, *, if_match: str | None = None,
               actor: Actor = CLI) -> None:
        """DELETE: removes the user (RFC 7644 §3.6), or deactivates it where the dialect
        says so (Slack, spec §2.1: idempotent, the user stays readable)."""
        policy = policy_for(tenant)
        with self._writing(tenant, actor) as conn:
            old = self._locked(conn, tenant, user_id, if_match, actor)
            if policy.delete_deactivates:
                if old.active:
                    attrs = {**old.attrs, "active": False}
                    self._store(conn, tenant, policy, old, attrs, None, UserWrite("patch"),
                                actor)
                return
            self._guard(conn, tenant, actor, old.id)  # a DELETE cannot be undone
            store.delete_user(conn, old.pk)
            audit.record(conn, tenant.pk, "user_deleted", "User", old.id,
                         {"before": old.attrs}, actor)

    def _store(self, conn: Connection, tenant: Tenant, policy: Policy, old: UserRecord,
               attrs: dict, password: str | None, write: UserWrite,
               actor: Actor) -> UserRecord:
        if password:
            policy.check_password_change(old)
        attrs = policy.prepare_user(conn, tenant, attrs, old, write)
        # After the dialect's rules, which name the error better.
        check_required(attrs, policy.user_type, patching=write.kind == "patch")
        deactivating = old.active and attrs.get("active", True) is False
        if deactivating:
            self._guard(conn, tenant, actor, old.id)
        hashed = self._hash(password)
        rec = store.update_user(conn, tenant.pk, old, attrs, password_hash=hashed,
                                unique_emails=policy.unique_emails, role=write.role)
        data: dict = {"before": old.attrs, "after": rec.attrs}
        if write.role and write.role != old.role:
            data["role"] = {"before": old.role, "after": write.role}
        if deactivating:
            if policy.delete_deactivates:
                # Deactivation leaves every group and Grid workspace; the audit keeps what it
                # left so a restore can put it back (spec §11, §16.26).
                data["removed_groups"] = store.remove_memberships(conn, rec.pk)
                data["removed_workspaces"] = grid.leave_all(conn, rec.pk)
            action = "user_deactivated"
        elif not old.active and rec.active:
            action = "user_reactivated"
        else:
            action = "user_updated"
        audit.record(conn, tenant.pk, action, "User", rec.id, data, actor)
        store.load_groups(conn, [rec])
        return rec

    def _hash(self, password: str | None) -> str | None:
        if not password:
            return None
        self.db.run_alone()  # scrypt takes tens of milliseconds: not in a batch of others
        return hash_password(password)

    def _guard(self, conn: Connection, tenant: Tenant, actor: Actor, user_id: str) -> None:
        """The mass-deprovision guard, before a deactivation or deletion."""
        verdict = guard.check(conn, tenant, self.guard)
        if verdict == "trip":
            raise guard.Tripping(user_id)
        if verdict is not None:
            raise guard.refused()

    @contextmanager
    def _writing(self, tenant: Tenant, actor: Actor) -> Iterator[Connection]:
        """A write transaction; a guard trip is recorded after the refused write rolled back
        (in a transaction of its own: SQLite has one writer at a time)."""
        try:
            with self.db.write(dry_run=actor.dry_run) as conn:
                yield conn
        except guard.Tripping as trip:
            if not actor.dry_run:
                with self.db.write() as conn:
                    guard.trip(conn, tenant, actor, trip.user_id)
                if self.on_trip:
                    on_trip = self.on_trip
                    self.db.after_commit(lambda: on_trip(tenant))
            raise guard.refused() from None

    def _locked(self, conn: Connection, tenant: Tenant, user_id: str, if_match: str | None,
                actor: Actor) -> UserRecord:
        """The user, locked for the write; an admin's token cannot touch owners (spec §1.2)."""
        rec = store.get(conn, tenant.pk, user_id, for_update=True)
        if rec is None:
            raise _missing(user_id)
        if actor.role == "admin" and rec.role in ("owner", "primary_owner"):
            raise ScimError(403, "cannot_modify_owner",
                            "An admin's token cannot change an owner.")
        check_if_match(if_match, rec.version)
        return rec
