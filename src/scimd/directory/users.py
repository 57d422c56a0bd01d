"""Users: the protocol-neutral operations both wire adapters call.

Every write runs in one transaction: the row is locked, the change is
validated against the schema and the dialect's rules, and either everything is
written or nothing is (RFC 7644 §3.5.2: "all or nothing").
"""

from __future__ import annotations

from scimd.directory.etag import check_if_match
from scimd.directory.passwords import hash_password
from scimd.directory.policy import policy_for
from scimd.directory.query import ListQuery
from scimd.scim.errors import ScimError, not_found
from scimd.scim.patch import PatchEngine
from scimd.scim.validate import check_immutable, check_required
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
        compiler = FilterCompiler(self.db.engine.dialect.name, policy.user_type)
        where = compiler.compile(query.filter) if query.filter is not None else None
        order = []
        if query.sort_by is not None:
            key = compiler.sort_key(query.sort_by)
            order = [key.is_(None), key.desc() if query.descending else key.asc()]
        with self.db.read() as conn:
            page = store.find_page(conn, tenant.pk, where, order,
                                   max(query.start_index - 1, 0), query.count)
            if query.with_relations:
                store.load_groups(conn, page.items)
            return page

    def create(self, tenant: Tenant, attrs: dict, *, password: str | None = None,
               role: str = "member", is_bot: bool = False) -> UserRecord:
        policy = policy_for(tenant)
        check_required(attrs, policy.user_type)
        hashed = hash_password(password) if password else None
        with self.db.write() as conn:
            attrs = policy.prepare_user(conn, tenant, attrs, None)
            rec = store.insert_user(conn, tenant.pk, new_id(tenant.user_prefix), attrs,
                                    password_hash=hashed, unique_emails=policy.unique_emails,
                                    role=role, is_bot=is_bot)
            rec.groups = []
            return rec

    def replace(self, tenant: Tenant, user_id: str, attrs: dict, *,
                password: str | None = None, if_match: str | None = None) -> UserRecord:
        """PUT (RFC 7644 §3.5.1): the given attributes replace the stored ones.

        ``active`` keeps its value when omitted, so a PUT that forgot it never
        deactivates anyone (spec §16.7); the password keeps its value unless given.
        """
        policy = policy_for(tenant)
        check_required(attrs, policy.user_type)
        hashed = hash_password(password) if password else None
        with self.db.write() as conn:
            old = self._locked(conn, tenant, user_id, if_match)
            if "active" not in attrs and "active" in old.attrs:
                attrs["active"] = old.attrs["active"]
            check_immutable(attrs, old.attrs, policy.user_type)
            attrs = policy.prepare_user(conn, tenant, attrs, old)
            rec = store.update_user(conn, tenant.pk, old, attrs, password_hash=hashed,
                                    unique_emails=policy.unique_emails)
            store.load_groups(conn, [rec])
            return rec

    def patch(self, tenant: Tenant, user_id: str, operations: list, *,
              if_match: str | None = None) -> UserRecord:
        """PATCH (RFC 7644 §3.5.2): all operations apply, or none."""
        policy = policy_for(tenant)
        with self.db.write() as conn:
            old = self._locked(conn, tenant, user_id, if_match)
            result = PatchEngine(policy.user_type, old.attrs, resource_id=old.id).run(operations)
            attrs = result.attrs
            check_required(attrs, policy.user_type)
            check_immutable(attrs, old.attrs, policy.user_type)
            attrs = policy.prepare_user(conn, tenant, attrs, old)
            hashed = hash_password(result.password) if result.password else None
            rec = store.update_user(conn, tenant.pk, old, attrs, password_hash=hashed,
                                    unique_emails=policy.unique_emails)
            store.load_groups(conn, [rec])
            return rec

    def delete(self, tenant: Tenant, user_id: str, *, if_match: str | None = None) -> None:
        """DELETE (RFC 7644 §3.6): the user and its memberships are removed."""
        with self.db.write() as conn:
            old = self._locked(conn, tenant, user_id, if_match)
            store.delete_user(conn, old.pk)

    def _locked(self, conn, tenant: Tenant, user_id: str, if_match: str | None) -> UserRecord:
        rec = store.get(conn, tenant.pk, user_id, for_update=True)
        if rec is None:
            raise _missing(user_id)
        check_if_match(if_match, rec.version)
        return rec
