"""Users: the protocol-neutral operations both wire adapters call.

Every write runs in one transaction: the row is locked, the change is
validated against the schema and the dialect's rules, and either everything is
written or nothing is (RFC 7644 §3.5.2: "all or nothing").
"""

from __future__ import annotations

from sqlalchemy import Connection

from scimd.directory.etag import check_if_match
from scimd.directory.passwords import hash_password
from scimd.directory.policy import Policy, UserWrite, policy_for
from scimd.directory.query import ListQuery
from scimd.scim.errors import ScimError, not_found
from scimd.scim.patch import PatchEngine
from scimd.scim.validate import check_immutable, check_required
from scimd.store import audit, grid
from scimd.store import users as store
from scimd.store.common import new_id
from scimd.store.db import Database
from scimd.store.filter_sql import FilterCompiler
from scimd.store.records import Page, Tenant, UserRecord


def _missing(user_id: str) -> ScimError:
    return not_found(f"User {user_id} not found.", "no_such_user")


class Users:
    def __init__(self, db: Database) -> None:
        self.db = db

    def get(self, tenant: Tenant, user_id: str, *, with_groups: bool = True) -> UserRecord:
        with self.db.read() as conn:
            rec = store.get(conn, tenant.pk, user_id)
            if rec is None:
                raise _missing(user_id)
            if with_groups:
                store.load_groups(conn, [rec])
            return rec

    def list(self, tenant: Tenant, query: ListQuery) -> Page:
        policy = policy_for(tenant)
        compiler = FilterCompiler(self.db.engine.dialect.name, policy.user_type,
                                  unknown_as_absent=query.unknown_as_absent)
        where = None
        if query.filter is not None:
            where = compiler.compile(policy.rewrite_filter(query.filter))
        order = []
        if query.sort_by is not None:
            order = compiler.order_by(query.sort_by, query.descending)
        with self.db.read() as conn:
            page = store.find_page(conn, tenant.pk, where, order,
                                   max(query.start_index - 1, 0), query.count)
            if query.with_relations:
                store.load_groups(conn, page.items)
            return page

    def create(self, tenant: Tenant, attrs: dict, *, password: str | None = None,
               role: str = "member", is_bot: bool = False) -> UserRecord:
        policy = policy_for(tenant)
        hashed = hash_password(password) if password else None
        write = UserWrite("create")
        with self.db.write() as conn:
            attrs = policy.prepare_user(conn, tenant, attrs, None, write)
            check_required(attrs, policy.user_type)  # after the rules: their codes are finer
            rec = store.insert_user(conn, tenant.pk, new_id(tenant.user_prefix), attrs,
                                    password_hash=hashed, unique_emails=policy.unique_emails,
                                    role=write.role or role, is_bot=is_bot)
            rec.groups = []
            return rec

    def replace(self, tenant: Tenant, user_id: str, attrs: dict, *,
                password: str | None = None, if_match: str | None = None,
                actor_role: str = "owner") -> UserRecord:
        """PUT (RFC 7644 §3.5.1): the given attributes replace the stored ones.

        ``active`` keeps its value when omitted, so a PUT that forgot it never
        deactivates anyone (spec §16.7); the password keeps its value unless given.
        """
        policy = policy_for(tenant)
        with self.db.write() as conn:
            old = self._locked(conn, tenant, user_id, if_match, actor_role)
            if "active" not in attrs and "active" in old.attrs:
                attrs["active"] = old.attrs["active"]
            check_immutable(attrs, old.attrs, policy.user_type)
            return self._store(conn, tenant, policy, old, attrs, password, UserWrite("replace"))

    def patch(self, tenant: Tenant, user_id: str, operations: list, *,
              if_match: str | None = None, actor_role: str = "owner") -> UserRecord:
        """PATCH (RFC 7644 §3.5.2): all operations apply, or none."""
        policy = policy_for(tenant)
        operations = policy.rewrite_operations(operations)
        with self.db.write() as conn:
            old = self._locked(conn, tenant, user_id, if_match, actor_role)
            result = PatchEngine(policy.user_type, old.attrs, resource_id=old.id).run(operations)
            attrs = result.attrs
            check_immutable(attrs, old.attrs, policy.user_type)
            return self._store(conn, tenant, policy, old, attrs, result.password,
                               UserWrite("patch"))

    def delete(self, tenant: Tenant, user_id: str, *, if_match: str | None = None,
               actor_role: str = "owner") -> None:
        """DELETE: removes the user (RFC 7644 §3.6), or deactivates it where the dialect
        says so (Slack, spec §2.1: idempotent, the user stays readable)."""
        policy = policy_for(tenant)
        with self.db.write() as conn:
            old = self._locked(conn, tenant, user_id, if_match, actor_role)
            if not policy.delete_deactivates:
                store.delete_user(conn, old.pk)
                return
            if not old.active:
                return
            attrs = dict(old.attrs)
            attrs["active"] = False
            self._store(conn, tenant, policy, old, attrs, None, UserWrite("patch"))

    def _store(self, conn: Connection, tenant: Tenant, policy: Policy, old: UserRecord,
               attrs: dict, password: str | None, write: UserWrite) -> UserRecord:
        if password:
            policy.check_password_change(old)
        attrs = policy.prepare_user(conn, tenant, attrs, old, write)
        # After the dialect's rules, which name the error better.
        check_required(attrs, policy.user_type, patching=write.kind == "patch")
        hashed = hash_password(password) if password else None
        rec = store.update_user(conn, tenant.pk, old, attrs, password_hash=hashed,
                                unique_emails=policy.unique_emails, role=write.role)
        if policy.delete_deactivates and old.active and not rec.active:
            # Deactivation leaves every group; the audit keeps what it left (spec §16.26).
            left = store.remove_memberships(conn, rec.pk)
            workspaces = grid.leave_all(conn, rec.pk)  # and every Grid workspace (spec §11)
            audit.record(conn, tenant.pk, "user_deactivated", "User", rec.id,
                         {"removed_groups": left, "removed_workspaces": workspaces})
        elif not old.active and rec.active:
            audit.record(conn, tenant.pk, "user_reactivated", "User", rec.id)
        store.load_groups(conn, [rec])
        return rec

    def _locked(self, conn, tenant: Tenant, user_id: str, if_match: str | None,
                actor_role: str) -> UserRecord:
        """The user, locked for the write; an admin's token cannot touch owners (spec §1.2)."""
        rec = store.get(conn, tenant.pk, user_id, for_update=True)
        if rec is None:
            raise _missing(user_id)
        if actor_role == "admin" and rec.role in ("owner", "primary_owner"):
            raise ScimError(403, "cannot_modify_owner",
                            "An admin's token cannot change an owner.")
        check_if_match(if_match, rec.version)
        return rec
