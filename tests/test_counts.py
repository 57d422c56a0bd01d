"""Unfiltered ``totalResults`` from trigger-kept counts (RFC 7644 §3.4.2; migration 0006).

A list without a filter reads the tenant's total from ``resource_counts`` instead of
counting rows, so every way a user or group comes or goes must move the count, and the
count must be right after a migration from a database that already holds rows.
"""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import func, select

from scimd.directory.users import Users
from scimd.store import migrate, tenants
from scimd.store import tables as t
from scimd.store.common import tenant_total
from scimd.store.db import Database, connect

USER = "urn:ietf:params:scim:schemas:core:2.0:User"


def _rows(db: Database, table, tenant_pk: int) -> int:
    with db.read() as conn:
        return conn.execute(select(func.count()).select_from(table)
                            .where(table.c.tenant_pk == tenant_pk)).scalar_one()


def _listed_total(client, resource: str) -> int:
    r = client.get(f"/{resource}?count=0")
    assert r.status_code == 200, r.text
    return r.json()["totalResults"]


def _agree(client, db: Database, users: int, groups: int) -> None:
    pk = client.access.tenant.pk
    assert _rows(db, t.users, pk) == users
    assert _rows(db, t.groups, pk) == groups
    assert _listed_total(client, "Users") == users
    assert _listed_total(client, "Groups") == groups


def test_totals_follow_creates_deletes_failures_and_dry_runs(rfc, db):
    """Creates and deletes move the count; a refused write (409) and a dry run do not."""
    _agree(rfc, db, 0, 0)
    ann = rfc.create_user("count.ann")
    rfc.create_user("count.bob")
    rfc.create_group("Counted", [ann["id"]])
    _agree(rfc, db, 2, 1)
    taken = rfc.post("/Users", {"schemas": [USER], "userName": "count.ann"})
    assert taken.status_code == 409
    dry = rfc.post("/Users", {"schemas": [USER], "userName": "count.dry"},
                   headers={"Scimd-Dry-Run": "1"})
    assert dry.status_code == 201
    _agree(rfc, db, 2, 1)
    assert rfc.delete(f"/Users/{ann['id']}").status_code == 204
    _agree(rfc, db, 1, 1)
    # the directory layer (as the CLI and imports use it) counts the same way
    Users(db).create(rfc.access.tenant, {"userName": "count.cli"})
    _agree(rfc, db, 2, 1)


def test_pages_of_an_unfiltered_list_add_up_to_the_total(rfc):
    """RFC 7644 §3.4.2.4: paging through the list visits exactly ``totalResults`` users."""
    made = {rfc.create_user(f"count.page{i}")["id"] for i in range(7)}
    seen: list[str] = []
    start = 1
    while True:
        body = rfc.get(f"/Users?startIndex={start}&count=3").json()
        assert body["totalResults"] == 7
        seen += [u["id"] for u in body["Resources"]]
        if not body["Resources"]:
            break
        start += len(body["Resources"])
    assert set(seen) == made and len(seen) == 7


def test_a_deleted_tenant_takes_its_counts_along(db):
    with db.write() as conn:
        tenant = tenants.create_tenant(conn, name="count-gone", plan="enterprise",
                                       dialect="rfc")
    Users(db).create(tenant, {"userName": "count.gone"})
    with db.read() as conn:
        assert tenant_total(conn, t.users, tenant.pk) == 1
    with db.write() as conn:
        conn.execute(t.tenants.delete().where(t.tenants.c.pk == tenant.pk))
    with db.read() as conn:
        assert conn.execute(select(func.count()).select_from(t.resource_counts).where(
            t.resource_counts.c.tenant_pk == tenant.pk)).scalar_one() == 0


def test_concurrent_creates_are_all_counted(rfc, db):
    """Writers side by side (PostgreSQL commits them concurrently; the counting trigger
    runs at commit) leave an exact count."""
    users = Users(db)
    tenant = rfc.access.tenant
    errors: list[BaseException] = []

    def create(worker: int) -> None:
        try:
            for i in range(5):
                users.create(tenant, {"userName": f"count.w{worker}.{i}"})
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=create, args=(w,)) for w in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    _agree(rfc, db, 30, 0)


def test_migration_counts_rows_that_were_already_there(tmp_path):
    """Upgrading a database of revision 0005 that holds users and groups fills the
    counts from the rows, and the triggers count from there on."""
    db = connect(f"sqlite:///{tmp_path / 'old.db'}")
    try:
        migrate.upgrade(db, "0005")
        with db.write() as conn:
            pk = conn.execute(t.tenants.insert().values(
                id="T0COUNTED", name="old", plan="enterprise", dialect="rfc",
                created_at="2026-01-01T00:00:00.000000Z").returning(t.tenants.c.pk)).scalar_one()
            for i in range(3):
                conn.execute(t.users.insert().values(
                    id=f"U0OLD{i}", tenant_pk=pk, user_name=f"old{i}", user_name_lower=f"old{i}",
                    attrs={"userName": f"old{i}"}, created_at="2026-01-01T00:00:00.000000Z",
                    modified_at="2026-01-01T00:00:00.000000Z"))
            conn.execute(t.groups.insert().values(
                id="S0OLD", tenant_pk=pk, display_name="Old", display_name_lower="old",
                attrs={"displayName": "Old"}, created_at="2026-01-01T00:00:00.000000Z",
                modified_at="2026-01-01T00:00:00.000000Z"))
        migrate.upgrade(db)
        with db.read() as conn:
            assert tenant_total(conn, t.users, pk) == 3
            assert tenant_total(conn, t.groups, pk) == 1
        with db.write() as conn:
            conn.execute(t.users.delete().where(t.users.c.id == "U0OLD0"))
        with db.read() as conn:
            assert tenant_total(conn, t.users, pk) == 2
    finally:
        db.dispose()


@pytest.mark.parametrize("start", [1, 2, 5])
def test_count_zero_and_pages_past_the_end_still_tell_the_total(rfc, start):
    """RFC 7644 §3.4.2.4: ``count=0`` answers only the total; a page past the end is
    empty with the total."""
    for i in range(3):
        rfc.create_user(f"count.end{start}.{i}")
    body = rfc.get(f"/Users?startIndex={start}&count=0").json()
    assert body["totalResults"] == 3 and body["Resources"] == []
    body = rfc.get("/Users?startIndex=10&count=5").json()
    assert body["totalResults"] == 3 and body["Resources"] == []


def test_member_adds_and_removes_answer_only_what_changed_in_the_order_given(db):
    """The audit log and webhooks report a membership delta (RFC 7644 §3.5.2 member
    changes): members already present are not added again, absent ones not removed,
    and the answer keeps the order of the request (not the database's)."""
    from scimd.directory.groups import Groups
    from scimd.store import groups as group_store

    with db.write() as conn:
        tenant = tenants.create_tenant(conn, name="count-members", plan="enterprise",
                                       dialect="rfc")
    users = [Users(db).create(tenant, {"userName": f"delta.{i}"}) for i in range(5)]
    group = Groups(db).create(tenant, {"displayName": "Delta"}, with_members=False)
    child = Groups(db).create(tenant, {"displayName": "Child"}, with_members=False)
    a, b, c, d, e = (u.pk for u in users)
    with db.write() as conn:
        assert group_store.add_members(conn, group.pk, [c, a], [child.pk]) == ([c, a],
                                                                              [child.pk])
        assert group_store.add_members(conn, group.pk, [e, a, b, e, c], [child.pk]) == (
            [e, b], [])
        assert group_store.remove_members(conn, group.pk, [d, b, c, b], []) == ([b, c], [])
        assert group_store.remove_members(conn, group.pk, [], [child.pk, child.pk]) == (
            [], [child.pk])
    assert [m["value"] for m in Groups(db).get(tenant, group.id).members] == [
        users[0].id, users[4].id]
