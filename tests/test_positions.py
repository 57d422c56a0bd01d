"""Pages deep in a directory start at a key the process keeps (``store/positions.py``,
migration 0007), and answer exactly what a walk of the index would (RFC 7644 §3.4.2.4:
``startIndex`` is 1-based and a page is the slice of the default order).

Thresholds are lowered here so that a directory of a few dozen users uses the kept keys:
at the defaults only pages past the 1,000th resource do.
"""

from __future__ import annotations

from array import array

import pytest
from hypothesis import HealthCheck, given, settings
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
    the tenant's total, so a tenant that changes all the time pays at most twice."""
    positions = Positions(shallow=10)
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
    assert len(loads) == 1


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


def test_group_pages_use_the_same_keys(db, eager):
    access = make_tenant(db)
    groups = Groups(db)
    made = [groups.create(access.tenant, {"displayName": f"Pos {i}"}).id for i in range(5)]
    page = groups.list(access.tenant, ListQuery(start_index=3, count=2, with_relations=False))
    assert (page.total, [g.id for g in page.items]) == (5, made[2:4])
    groups.delete(access.tenant, made[2])
    page = groups.list(access.tenant, ListQuery(start_index=3, count=2, with_relations=False))
    assert (page.total, [g.id for g in page.items]) == (4, made[3:5])


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
            _, start, count = step
            assert _page(db, tenant, start, count) == (len(made),
                                                       made[start - 1:start - 1 + count])


def test_migration_0007_counts_changes_and_goes_back(tmp_path):
    """The upgrade adds the counter under existing counts; the triggers raise it on every
    insert and delete but not on an update; the downgrade restores 0006's triggers."""
    db = connect(f"sqlite:///{tmp_path / 'm.db'}")
    try:
        migrate.upgrade(db, "0006")
        access = make_tenant(db)
        Users(db).create(access.tenant, {"userName": "before.0007"})
        migrate.upgrade(db)

        def counts() -> tuple[int, int]:
            c = t.resource_counts.c
            with db.read() as conn:
                return tuple(conn.execute(select(c.total, c.changes).where(
                    c.tenant_pk == access.tenant.pk, c.resource == "user")).one())

        assert counts() == (1, 0)
        users = Users(db)
        made = users.create(access.tenant, {"userName": "after.0007"})
        assert counts() == (2, 1)
        users.replace(access.tenant, made.id, {"userName": "after.renamed"})
        assert counts() == (2, 1)
        users.delete(access.tenant, made.id)
        assert counts() == (1, 2)
        migrate.downgrade(db, "0006")
        users.create(access.tenant, {"userName": "back.at.0006"})
        c = t.resource_counts.c
        with db.read() as conn:
            assert conn.execute(select(c.total).where(
                c.tenant_pk == access.tenant.pk, c.resource == "user")).scalar_one() == 2
        migrate.upgrade(db)
        assert counts() == (2, 0)
    finally:
        db.dispose()
