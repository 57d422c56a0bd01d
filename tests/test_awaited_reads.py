"""PostgreSQL reads served on the event loop, each statement awaited (store/db.py,
``Database.awaited``; bench/README.md section 11).

What a user of a PostgreSQL deployment can tell: reads keep answering while every
database thread is taken by writes that wait on a lock, a read the database blocks is
still answered ``503 request_timeout`` at ``SCIMD_REQUEST_TIMEOUT`` (docs/operations.md,
"Time per request"), and no connection is lost on the way. The HTTP suites run on
PostgreSQL through the same path: their apps are served with a lifespan, which opens it.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from sqlalchemy import create_engine

from live import LiveServer, fresh_postgres_database
from scimd.store.db import Database, connect, normalize_url
from test_operations import _hold_write_lock, _release, metric, user_body

pytestmark = pytest.mark.live

ENV = {"SCIMD_REQUEST_TIMEOUT": "1", "SCIMD_POOL_SIZE": "2"}


@pytest.fixture(scope="module")
def server(request: pytest.FixtureRequest) -> Iterator[LiveServer]:
    if not request.config.postgres_ok:  # type: ignore[attr-defined]
        pytest.skip("PostgreSQL unreachable (make test fails then in CI)")
    with fresh_postgres_database() as url, LiveServer(url, dialect="rfc", env=ENV) as live:
        yield live


def _checked_out(client: httpx.Client, server: LiveServer) -> float:
    return metric(client.get(server.base_url + "/metrics").text, "scimd_db_pool_checked_out")


def test_reads_answer_while_every_database_thread_waits_on_a_write(server):
    """SCIMD_POOL_SIZE=2: two creations blocked by a table lock (one awaited, holding the
    one turn writes have on the loop, the other waiting for it); a GET by id and a list
    are answered meanwhile, since reads have turns and connections of their own."""
    users = server.scim_url + "/Users"
    with httpx.Client(headers=server.auth_headers, timeout=30) as client:
        made = client.post(users, json=user_body("reader.one"))
        assert made.status_code == 201, made.text
        lock = _hold_write_lock(server.database_url)  # SELECT still reads
        with ThreadPoolExecutor(2) as pool:
            try:
                writes = [pool.submit(httpx.post, users, json=user_body(f"blocked.{i}"),
                                      headers=server.auth_headers, timeout=30)
                          for i in range(2)]
                time.sleep(0.3)  # both writes are waiting, on the lock or for their turn
                assert not any(w.done() for w in writes)
                started = time.monotonic()
                got = client.get(f"{users}/{made.json()['id']}")
                listed = client.get(users, params={"count": 5})
                elapsed = time.monotonic() - started
                assert not any(w.done() for w in writes)  # still blocked
            finally:
                _release(lock)
            # the writes are answered 503 at the 1 s deadline, or 201 if they got through
            statuses = sorted(w.result().status_code for w in writes)
        assert got.status_code == 200 and got.json()["userName"] == "reader.one"
        assert listed.status_code == 200 and listed.json()["totalResults"] >= 1
        assert elapsed < 0.9, elapsed
        assert all(s in (201, 503) for s in statuses), statuses


def test_a_blocked_read_is_answered_503_and_its_connection_comes_back(server):
    """A read the database blocks is answered 503 ``request_timeout`` at the deadline
    (1 s); afterwards more reads than the pool holds all succeed, and the pool has
    every connection back."""
    users = server.scim_url + "/Users"
    with httpx.Client(headers=server.auth_headers, timeout=30) as client:
        made = client.post(users, json=user_body("reader.two"))
        assert made.status_code == 201, made.text
        url = f"{users}/{made.json()['id']}"
        lock = _hold_write_lock(server.database_url, "ACCESS EXCLUSIVE")  # blocks SELECT
        reads = [(url, None), (users, {"count": 10}),  # the hand-written reads
                 (users, {"filter": 'title eq "x"'})]  # SQLAlchemy Core's
        try:
            with ThreadPoolExecutor(3) as pool:
                started = time.monotonic()
                blocked = list(pool.map(lambda read: httpx.get(
                    read[0], params=read[1], headers=server.auth_headers, timeout=30),
                    reads))
                elapsed = time.monotonic() - started
        finally:
            _release(lock)
        assert [r.status_code for r in blocked] == [503] * 3, [r.text for r in blocked]
        assert all(r.headers["retry-after"] == "1" for r in blocked)
        assert 0.9 < elapsed < 5, elapsed
        with ThreadPoolExecutor(8) as pool:
            after = list(pool.map(lambda _: httpx.get(
                url, headers=server.auth_headers, timeout=30), range(40)))
        assert [r.status_code for r in after] == [200] * 40
        deadline = time.monotonic() + 5
        while _checked_out(client, server) != 0 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert _checked_out(client, server) == 0
        assert client.get(server.base_url + "/readyz").status_code == 200


def _sessions(url: str) -> int:
    """Backends ever started for the database of ``url`` (PostgreSQL counts them)."""
    engine = create_engine(normalize_url(url))
    try:
        with engine.connect() as conn:
            return conn.exec_driver_sql("SELECT sessions FROM pg_stat_database"
                                        " WHERE datname = current_database()").scalar_one()
    finally:
        engine.dispose()


def test_reads_beyond_the_pool_wait_for_a_connection_instead_of_opening_more(server):
    """SCIMD_POOL_SIZE=2: four bursts of 12 reads at once start at most the read pool's
    two backends. (An overflow of the pool closes each extra connection as it comes back,
    and opened a backend for most reads of every burst again.)"""
    users = server.scim_url + "/Users"
    with httpx.Client(headers=server.auth_headers, timeout=30) as client:
        made = client.post(users, json=user_body("reader.three"))
        assert made.status_code == 201, made.text
        url = f"{users}/{made.json()['id']}"
        before = _sessions(server.database_url)
        answers: list[httpx.Response] = []
        with ThreadPoolExecutor(12) as pool:
            for _burst in range(4):  # the pool is idle between bursts
                answers += pool.map(lambda _: httpx.get(
                    url, headers=server.auth_headers, timeout=30), range(12))
        assert [r.status_code for r in answers] == [200] * 48
        # our own look-ups are sessions too: the one before, and this one
        assert _sessions(server.database_url) - before <= 2 + 1


def test_reads_replace_connections_the_database_closed_while_they_sat_idle(server):
    """A read connection that sat idle is pinged first (``PING_AFTER_IDLE``): alive, it
    serves the read; killed while the pool held it (a database restart, an idle timeout
    on the way), it is replaced, and the read answered all the same."""
    users = server.scim_url + "/Users"
    with httpx.Client(headers=server.auth_headers, timeout=30) as client:
        made = client.post(users, json=user_body("reader.four"))
        assert made.status_code == 201, made.text
        url = f"{users}/{made.json()['id']}"
        with ThreadPoolExecutor(4) as pool:  # both read connections opened and pooled
            assert {r.status_code for r in pool.map(lambda _: client.get(url), range(8))} \
                == {200}
        time.sleep(1.2)  # idle for longer than PING_AFTER_IDLE: pinged, alive, used
        assert [client.get(url).status_code for _ in range(6)] == [200] * 6
        time.sleep(1.2)
        engine = create_engine(normalize_url(server.database_url))
        try:
            with engine.connect() as conn:
                killed = conn.exec_driver_sql(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                    " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                ).scalar_one()
        finally:
            engine.dispose()
        assert killed >= 2
        assert [client.get(url).status_code for _ in range(6)] == [200] * 6


def test_reads_that_take_a_second_connection_never_wait_on_each_other(server):
    """SCIMD_POOL_SIZE=2: reads through SQLAlchemy Core (filtered group lists, general
    user filters) hold the request's connection and take a second one. Twelve at once
    are all answered, none waits until the 1 s deadline for a connection another
    holds."""
    with httpx.Client(headers=server.auth_headers, timeout=30) as client:
        made = client.post(server.scim_url + "/Groups",
                           json={"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
                                 "displayName": "Second Connection"})
        assert made.status_code == 201, made.text
    reads = [("/Groups", {"filter": 'displayName eq "Second Connection"'}),
             ("/Users", {"filter": 'title eq "x"'}),
             ("/Groups", {"filter": 'displayName sw "Second"'})] * 4
    with ThreadPoolExecutor(12) as pool:
        answers = list(pool.map(lambda read: httpx.get(
            server.scim_url + read[0], params=read[1], headers=server.auth_headers,
            timeout=30), reads))
    assert [r.status_code for r in answers] == [200] * 12, [r.text for r in answers]
    assert all(r.json()["totalResults"] >= (0 if "title" in str(r.url) else 1)
               for r in answers)


@pytest.fixture
def hung_redis() -> Iterator[str]:
    """The URL of a Redis that never answers: a port that listens and never reads (the
    kernel completes the connections, nothing replies)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    try:
        yield f"redis://127.0.0.1:{sock.getsockname()[1]}/0"
    finally:
        sock.close()


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_a_hung_redis_stops_no_more_than_the_reads_that_wait_on_it(
        request, hung_redis, backend, tmp_path):
    """Rate limits counted in Redis (spec §8), which hangs: a read awaits its count and
    is answered 503 at the deadline (1 s), while the event loop goes on serving:
    ``/healthz`` answers at once all the while. A SQLite read awaits it between its
    token and its read, a PostgreSQL read in its greenlet."""
    if backend == "postgresql" and not request.config.postgres_ok:  # type: ignore[attr-defined]
        pytest.skip("PostgreSQL unreachable (make test fails then in CI)")
    env = ENV | {"SCIMD_RATE_LIMITS": "on", "SCIMD_REDIS_URL": hung_redis}
    with contextlib.ExitStack() as stack:
        url = (f"sqlite:///{tmp_path / 'hung.db'}" if backend == "sqlite"
               else stack.enter_context(fresh_postgres_database()))
        live = stack.enter_context(LiveServer(url, dialect="rfc", env=env))
        with ThreadPoolExecutor(1) as pool:
            started = time.monotonic()
            read = pool.submit(httpx.get, live.scim_url + "/Users",
                               headers=live.auth_headers, timeout=30)
            probes = []
            while not read.done():  # the read is waiting on Redis meanwhile
                began = time.monotonic()
                assert httpx.get(live.base_url + "/healthz", timeout=5).status_code == 200
                probes.append(time.monotonic() - began)
                time.sleep(0.1)
            answer, elapsed = read.result(), time.monotonic() - started
        assert answer.status_code == 503, answer.text
        assert 0.9 < elapsed < 5, elapsed  # cut at the deadline, not by Redis
        assert len(probes) >= 3 and max(probes) < 0.5, probes
        if backend == "postgresql":  # the abandoned wait gave the connection back
            with httpx.Client() as client:
                assert _checked_out(client, live) == 0


def test_awaited_reads_belong_to_the_loop_that_opened_them(request):
    """An asyncio engine serves one event loop: on any other, reads keep using threads
    (``Database.awaits_reads_here``) and a close there closes nothing; on the loop that
    opened it, the last of its opens closes it. On SQLite nothing is opened."""
    if not request.config.postgres_ok:  # type: ignore[attr-defined]
        pytest.skip("PostgreSQL unreachable (make test fails then in CI)")
    with fresh_postgres_database() as url:
        db = connect(url, pool_size=2)
        first, second = asyncio.new_event_loop(), asyncio.new_event_loop()

        async def open_here() -> bool:
            await db.open_awaited_reads()
            return db.awaits_reads_here()

        async def close_here() -> bool:
            await db.close_awaited_reads()
            return db.awaited_engine is not None

        try:
            assert first.run_until_complete(open_here()) is True
            assert first.run_until_complete(open_here()) is True  # a second app
            assert len(db.engines) == 2
            assert second.run_until_complete(open_here()) is False
            assert second.run_until_complete(close_here()) is True  # not its loop
            assert first.run_until_complete(close_here()) is True  # one open left
            assert first.run_until_complete(close_here()) is False
            assert len(db.engines) == 1
        finally:
            db.dispose()
            first.close()
            second.close()


def test_a_database_disposed_with_awaited_reads_open_lets_go_of_them(request):
    if not request.config.postgres_ok:  # type: ignore[attr-defined]
        pytest.skip("PostgreSQL unreachable (make test fails then in CI)")
    with fresh_postgres_database() as url:
        db = connect(url, pool_size=2)
        loop = asyncio.new_event_loop()
        try:
            loop.run_until_complete(db.open_awaited_reads())
        finally:
            db.dispose()  # no loop to close it on: dropped, not awaited
            loop.close()
        assert db.awaited_engine is None and len(db.engines) == 1


def test_sqlite_opens_no_awaited_engine(tmp_path):
    db: Database = connect(f"sqlite:///{tmp_path / 'x.db'}")
    try:
        async def open_here() -> bool:
            await db.open_awaited_reads()
            return db.awaits_reads_here()

        assert asyncio.run(open_here()) is False
        assert db.awaited_engine is None
    finally:
        db.dispose()
