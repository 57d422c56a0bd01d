"""Pages deep in a directory start at a key the process keeps (``store/positions.py``,
migration 0007), and answer exactly what a walk of the index would (RFC 7644 §3.4.2.4:
``startIndex`` is 1-based and a page is the slice of the default order).

Thresholds are lowered here so that a directory of a few dozen users uses the kept keys:
at the defaults only pages past the 1,000th resource do.
"""

from __future__ import annotations

from array import array

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from conftest import make_tenant
from scimd.directory.groups import Groups
from scimd.directory.query import ListQuery
from scimd.directory.users import Users
from scimd.store import migrate
from scimd.store import tables as t
from scimd.store.db import Database, connect
from scimd.store.positions import Positions


def _ids(db: Database, table, tenant_pk: int) -> list[str]:
    """The default order, read without the kept keys."""
    with db.read() as conn:
        return list(conn.execute(select(table.c.id).where(table.c.tenant_pk == tenant_pk)
                                 .order_by(table.c.pk)).scalars())


def _page(db: Database, tenant, start: int, count: int) -> tuple[int, list[str]]:
    page = Users(db).list(tenant, ListQuery(start_index=start, count=count,
                                            with_relations=False))
    return page.total, [r.id for r in page.items]


@pytest.fixture
def eager(db: Database, monkeypatch: pytest.MonkeyPatch) -> Positions:
    """The database's kept keys, used from the first position on and rebuilt at once."""
    monkeypatch.setattr(db.positions, "shallow", 0)
    monkeypatch.setattr(db.positions, "patience", 0)
    return db.positions


# -- the kept keys themselves --------------------------------------------------------

def test_keys_are_rebuilt_only_once_walking_has_cost_as_much():
    """Ski rental: a stale index is rebuilt after the walks since it went stale add up to
    ``patience`` times the tenant's total (here 1), so a tenant that changes all the time
    pays a bounded multiple of what walking costs."""
    positions = Positions(shallow=10, patience=1)
    loads = []

    def load() -> list[int]:
        loads.append(1)
        return list(range(100, 200))

    assert positions.key_at("user", "T1", 1, 100, 5, load) is None  # shallow: walk
    assert positions.key_at("user", "T1", 1, 100, 60, load) is None  # walked 60 < 100
    assert not loads
    assert positions.key_at("user", "T1", 1, 100, 50, load) == 150  # 110 >= 100: rebuild
    assert positions.key_at("user", "T1", 1, 100, 99, load) == 199  # kept
    assert positions.key_at("user", "T1", 1, 100, 100, load) is None  # past the end
    assert len(loads) == 1
    assert positions.key_at("user", "T1", 2, 100, 50, load) is None  # the stamp moved
    assert positions.key_at("user", "T1", 1, 101, 50, load) is None  # so did the total
    assert len(loads) == 1


def test_forgotten_keys_are_not_used_again():
    positions = Positions(shallow=0, patience=0)
    assert positions.key_at("user", "T1", 5, 3, 1, lambda: [7, 8, 9]) == 8
    positions.forget("user", "T1")
    assert positions.held == 0
    assert positions.key_at("user", "T1", 5, 3, 1, lambda: [4, 5, 6]) == 5


def test_keys_are_kept_per_resource_and_tenant():
    positions = Positions(shallow=0, patience=0)
    positions.key_at("user", "T1", 7, 3, 0, lambda: [1, 2, 3])
    positions.key_at("group", "T1", 7, 3, 0, lambda: [4, 5, 6])
    positions.key_at("user", "T2", 7, 3, 0, lambda: [7, 8, 9])

    def never() -> list[int]:
        raise AssertionError("kept keys should have answered")

    assert [positions.key_at(r, t, 7, 3, 1, never) for r, t in
            (("user", "T1"), ("group", "T1"), ("user", "T2"))] == [2, 5, 8]


def test_least_recently_read_tenants_make_room_and_huge_ones_walk():
    positions = Positions(shallow=0, max_keys=10, patience=0)
    positions.key_at("user", "A", 1, 6, 0, lambda: list(range(6)))
    positions.key_at("user", "B", 1, 4, 0, lambda: list(range(4)))
    assert positions.held == 10
    positions.key_at("user", "C", 1, 5, 0, lambda: list(range(5)))  # A goes
    assert positions.held == 9
    assert positions.key_at("user", "A", 1, 6, 0, lambda: array("q", range(6))) == 0
    assert positions.held == 6  # B and C went, oldest first, to make room again
    calls = []
    assert positions.key_at("user", "D", 1, 11, 0, lambda: calls.append(1) or []) is None
    assert positions.key_at("user", "D", 1, 11, 10, lambda: calls.append(1) or []) is None
    assert not calls  # more keys than the whole budget: walk, never load
    assert positions.held == 6


# -- pages through the directory -----------------------------------------------------

def test_pages_from_kept_keys_follow_creates_and_deletes(db, eager):
    """§3.4.2.4: every page of a changing directory is the slice of its current order."""
    access = make_tenant(db)
    tenant, users = access.tenant, Users(db)
    made = [users.create(tenant, {"userName": f"pos.{i}"}).id for i in range(12)]
    assert _page(db, tenant, 5, 3) == (12, made[4:7])
    assert eager.held >= 12  # the page above read its start from the kept keys
    users.delete(tenant, made[5])
    del made[5]
    assert _page(db, tenant, 5, 3) == (11, made[4:7])
    made.append(users.create(tenant, {"userName": "pos.late"}).id)
    assert _page(db, tenant, 10, 5) == (12, made[9:])
    assert _page(db, tenant, 13, 5) == (12, [])
    assert _ids(db, t.users, tenant.pk) == made


def test_a_change_made_by_another_process_is_seen_at_once(db, eager, database_url):
    """A second server process, the CLI or an import writes through its own connection;
    the counter the triggers raise tells this process its keys are stale."""
    access = make_tenant(db)
    tenant = access.tenant
    made = [Users(db).create(tenant, {"userName": f"other.{i}"}).id for i in range(6)]
    assert _page(db, tenant, 3, 2) == (6, made[2:4])
    other = connect(database_url, pool_size=1)
    try:
        Users(other).delete(tenant, made[2])
        added = Users(other).create(tenant, {"userName": "other.new"}).id
    finally:
        other.dispose()
    del made[2]
    made.append(added)
    assert _page(db, tenant, 3, 2) == (6, made[2:4])
    assert _page(db, tenant, 5, 9) == (6, made[4:])


def test_keys_that_do_not_match_the_rows_are_dropped_and_the_page_walks(db, eager):
    """Belt and braces: should kept keys ever disagree with the rows under a matching
    stamp (say, a copy of the database that was not taken in one transaction, put back
    under a running server), the page sees that its first row is not the key it
    started from, forgets the keys and walks."""
    tenant = make_tenant(db).tenant
    made = [Users(db).create(tenant, {"userName": f"wrong.{i}"}).id for i in range(4)]
    c = t.resource_counts.c
    with db.read() as conn:
        stamp = conn.execute(select(c.stamp).where(c.tenant_pk == tenant.pk,
                                                   c.resource == "user")).scalar_one()
    eager.key_at("user", tenant.id, stamp, 4, 0, lambda: [-4, -3, -2, -1])  # no such rows
    before = eager.held
    assert _page(db, tenant, 2, 2) == (4, made[1:3])
    assert eager.held < before  # the wrong keys are gone (a rebuild may follow)
    assert _page(db, tenant, 2, 2) == (4, made[1:3])


def test_group_pages_use_the_same_keys(db, eager):
    access = make_tenant(db)
    groups = Groups(db)
    made = [groups.create(access.tenant, {"displayName": f"Pos {i}"}).id for i in range(6)]

    def page(start: int, count: int) -> tuple[int, list[str]]:
        found = groups.list(access.tenant, ListQuery(start_index=start, count=count,
                                                     with_relations=False))
        return found.total, [g.id for g in found.items]

    assert page(3, 2) == (6, made[2:4])
    groups.delete(access.tenant, made.pop(0))  # before the page: everything shifts
    assert page(3, 2) == (5, made[2:4])


def test_a_tenant_imported_again_under_its_id_is_not_taken_for_the_old_one(db, eager):
    """``scimd import`` can bring a deleted tenant back under the same id. Its rows are
    new rows; keys kept for the old ones must not be used for them (migration 0007:
    stamps are random, not counters that start again)."""
    from scimd.store import tenants

    first = make_tenant(db).tenant
    users = Users(db)
    old = [users.create(first, {"userName": f"again.{i}"}).id for i in range(5)]
    assert _page(db, first, 3, 2) == (5, old[2:4])
    with db.write() as conn:
        tenants.delete_tenant(conn, first.pk)
        pk = conn.execute(t.tenants.insert().values(
            id=first.id, name=first.name, plan=first.plan, dialect=first.dialect,
            created_at="2026-11-27T00:00:00.000000Z").returning(t.tenants.c.pk)).scalar_one()
    again = type(first)(pk=pk, id=first.id, name=first.name, plan=first.plan,
                        dialect=first.dialect)
    new = [users.create(again, {"userName": f"again.{i}"}).id for i in range(5)]
    assert _page(db, again, 3, 2) == (5, new[2:4])


def test_pages_over_http_match_the_order(rfc, db, eager):
    """The same through the API: ``startIndex`` 1-based, ``itemsPerPage`` the page's size."""
    made = [rfc.create_user(f"http.pos.{i}")["id"] for i in range(7)]
    body = rfc.get("/Users?startIndex=4&count=3").json()
    assert body["totalResults"] == 7 and body["startIndex"] == 4
    assert body["itemsPerPage"] == 3 and [u["id"] for u in body["Resources"]] == made[3:6]


_STEPS = st.lists(st.one_of(
    st.tuples(st.just("create"), st.integers(1, 3)),
    st.tuples(st.just("delete"), st.integers(0, 40)),
    st.tuples(st.just("page"), st.integers(1, 30), st.integers(0, 12)),
), min_size=1, max_size=25)


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@example(steps=[("create", 3), ("create", 2), ("page", 1, 5), ("delete", 1),
                ("page", 3, 2)])  # keys from before a delete would answer a shifted page
@given(steps=_STEPS)
def test_any_mix_of_changes_and_pages_answers_the_slice(db, eager, steps):
    """Property: whatever the order of creates, deletes and page reads, a page is the
    slice of the current default order and the total is its length."""
    tenant = make_tenant(db).tenant
    users = Users(db)
    made: list[str] = []
    serial = 0
    for step in steps:
        if step[0] == "create":
            for _ in range(step[1]):
                serial += 1
                made.append(users.create(tenant, {"userName": f"prop.{serial}"}).id)
        elif step[0] == "delete" and made:
            users.delete(tenant, made.pop(step[1] % len(made)))
        elif step[0] == "page":
            start, count = 1 + step[1] % (len(made) + 2), step[2]  # mostly inside
            assert _page(db, tenant, start, count) == (len(made),
                                                       made[start - 1:start - 1 + count])


def test_migration_0007_stamps_changes_and_goes_back(empty_database_url):
    """The upgrade stamps existing counts; the triggers renew the stamp on every insert
    and delete but not on an update; the downgrade restores 0006's triggers, and a
    second upgrade stamps afresh (SQLite and PostgreSQL)."""
    db = connect(empty_database_url, pool_size=1)
    c = t.resource_counts.c
    try:
        migrate.upgrade(db, "0006")
        access = make_tenant(db)
        Users(db).create(access.tenant, {"userName": "before.0007"})
        migrate.upgrade(db)

        def counts() -> tuple[int, int]:
            with db.read() as conn:
                return tuple(conn.execute(select(c.total, c.stamp).where(
                    c.tenant_pk == access.tenant.pk, c.resource == "user")).one())

        total, first = counts()
        assert total == 1
        users = Users(db)
        made = users.create(access.tenant, {"userName": "after.0007"})
        total, created = counts()
        assert total == 2 and created != first
        users.replace(access.tenant, made.id, {"userName": "after.renamed"})
        assert counts() == (2, created)
        users.delete(access.tenant, made.id)
        total, deleted = counts()
        assert total == 1 and deleted not in (first, created)
        migrate.downgrade(db, "0006")
        users.create(access.tenant, {"userName": "back.at.0006"})
        with db.read() as conn:
            assert conn.execute(select(c.total).where(
                c.tenant_pk == access.tenant.pk, c.resource == "user")).scalar_one() == 2
        migrate.upgrade(db)
        total, restamped = counts()
        assert total == 2 and restamped not in (first, created, deleted)
    finally:
        db.dispose()
