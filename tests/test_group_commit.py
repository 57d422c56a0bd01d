"""Group commit on SQLite (``scimd.store.group_commit``): the writes of concurrent
requests share one transaction, and each still succeeds or fails on its own.

RFC 7644 §3.5.2 and §3.3: every write is all or nothing, and a write that cannot be
made leaves nothing behind; a 2xx answer means the write is on disk. Batching must not
change any of it, whatever the other writes of the batch do.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text

from conftest import make_tenant
from scimd.app import create_app
from scimd.settings import Settings
from scimd.store import migrate
from scimd.store.db import Database, connect

USER = "urn:ietf:params:scim:schemas:core:2.0:User"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


@pytest.fixture
def notes(tmp_path: Path) -> Iterator[Database]:
    """A SQLite file with a table of unique notes and one whose rows need a parent."""
    db = connect(f"sqlite:///{tmp_path / 'notes.db'}")
    with db.write() as conn:
        conn.execute(text("CREATE TABLE notes (body TEXT PRIMARY KEY)"))
        conn.execute(text("CREATE TABLE parents (id INTEGER PRIMARY KEY)"))
        conn.execute(text("CREATE TABLE children (id INTEGER PRIMARY KEY, "
                          "parent INTEGER NOT NULL REFERENCES parents(id))"))
    yield db
    db.dispose()


@contextmanager
def turn_held(db: Database) -> Iterator[threading.Event]:
    """Hold the write turn in another thread until the event is set, so that the jobs
    submitted meanwhile all wait for the same batch."""
    taken, free = threading.Event(), threading.Event()

    def hold() -> None:
        with db.turns.turn():
            taken.set()
            free.wait(10)

    holder = threading.Thread(target=hold)
    holder.start()
    assert taken.wait(5)
    try:
        yield free
    finally:
        free.set()
        holder.join(5)


def note(db: Database, body: str, *, dry_run: bool = False) -> Callable[[], str]:
    def job() -> str:
        with db.write(dry_run=dry_run) as conn:
            conn.execute(text("INSERT INTO notes (body) VALUES (:b)"), {"b": body})
        return body
    return job


def run_together(db: Database, jobs: list[Callable[[], object]]) -> list[object]:
    """Submit ``jobs`` while the turn is held, then let them run: one batch."""
    assert db.group_commit is not None

    async def main() -> list[object]:
        with turn_held(db) as free:
            tasks = [asyncio.ensure_future(db.group_commit.run(job)) for job in jobs]
            await asyncio.sleep(0.2)  # the writer has the first job and waits for the turn
            free.set()
            return await asyncio.gather(*tasks, return_exceptions=True)

    return asyncio.run(main())


def bodies(db: Database) -> list[str]:
    with db.read() as conn:
        return sorted(r[0] for r in conn.execute(text("SELECT body FROM notes")))


def test_jobs_waiting_for_the_turn_share_one_commit(notes: Database) -> None:
    before = notes.group_commit.batches
    results = run_together(notes, [note(notes, f"n{i}") for i in range(10)])
    assert results == [f"n{i}" for i in range(10)]
    assert notes.group_commit.batches == before + 1
    assert bodies(notes) == sorted(f"n{i}" for i in range(10))


def test_a_job_sees_the_writes_before_it_and_fails_alone(notes: Database) -> None:
    """The second "a" meets the first in the same transaction, as if it had committed;
    its failure rolls back its own savepoint, not the batch."""
    results = run_together(notes, [note(notes, "a"), note(notes, "a"), note(notes, "b")])
    assert results[0] == "a" and results[2] == "b"
    assert isinstance(results[1], Exception) and "UNIQUE" in str(results[1])
    assert bodies(notes) == ["a", "b"]


def test_a_dry_run_in_a_batch_keeps_nothing(notes: Database) -> None:
    results = run_together(notes, [note(notes, "kept"), note(notes, "dry", dry_run=True),
                                   note(notes, "also kept")])
    assert results == ["kept", "dry", "also kept"]
    assert bodies(notes) == ["also kept", "kept"]


def test_a_job_that_ends_the_transaction_does_not_take_the_others_with_it(
        notes: Database) -> None:
    """A job after which SQLite has no transaction left (here it ends it itself, as
    SQLite does on a full disk or an I/O error) fails; the jobs of its batch run again
    alone and are kept once."""

    def breaks() -> None:
        with notes.write() as conn:
            conn.execute(text("INSERT INTO notes (body) VALUES ('broken')"))
            conn.connection.dbapi_connection.execute("ROLLBACK")
            raise sqlite3.OperationalError("disk I/O error")

    alone = notes.group_commit.alone
    results = run_together(notes, [note(notes, "first"), breaks, note(notes, "last")])
    assert results[0] == "first" and results[2] == "last"
    assert isinstance(results[1], sqlite3.OperationalError)
    assert notes.group_commit.alone == alone + 2
    assert bodies(notes) == ["first", "last"]


def test_a_failed_commit_runs_every_job_again_alone(notes: Database) -> None:
    """A commit that fails (a deferred foreign key here) fails only the job that caused
    it: the batch is dropped and each job runs again in a transaction of its own."""

    def orphan() -> None:
        with notes.write() as conn:
            conn.execute(text("PRAGMA defer_foreign_keys = ON"))
            conn.execute(text("INSERT INTO children (id, parent) VALUES (1, 42)"))

    alone = notes.group_commit.alone
    results = run_together(notes, [note(notes, "first"), orphan, note(notes, "last")])
    assert results[0] == "first" and results[2] == "last"
    assert isinstance(results[1], Exception) and "FOREIGN KEY" in str(results[1])
    assert notes.group_commit.alone == alone + 3
    assert bodies(notes) == ["first", "last"]
    with notes.read() as conn:
        assert conn.execute(text("SELECT count(*) FROM children")).scalar() == 0


def test_a_job_that_must_run_alone_leaves_the_batch(notes: Database) -> None:
    """``run_alone`` (before a password's hash) takes the job out of the batch and runs
    it in a worker thread, outside any batch."""
    seen: list[bool] = []

    def hashing() -> str:
        notes.run_alone()
        seen.append(notes.in_batch())
        return note(notes, "alone")()

    alone = notes.group_commit.alone
    results = run_together(notes, [note(notes, "batched"), hashing])
    assert results == ["batched", "alone"]
    assert seen == [False] and notes.group_commit.alone == alone + 1
    assert bodies(notes) == ["alone", "batched"]


def test_a_job_that_leaves_the_batch_after_writing_is_written_once(notes: Database) -> None:
    """A job that asks to run alone after one of its writes is rolled back whole in the
    batch before it runs again: nothing of it is written twice (the primary key would
    refuse the second "half")."""

    def writes_then_leaves() -> str:
        note(notes, "half")()
        notes.run_alone()
        return note(notes, "rest")()

    results = run_together(notes, [note(notes, "other"), writes_then_leaves])
    assert results == ["other", "rest"]
    assert bodies(notes) == ["half", "other", "rest"]


def test_more_jobs_than_a_batch_takes_wait_for_the_next(notes: Database) -> None:
    assert notes.group_commit is not None
    notes.group_commit.max_jobs = 4
    before = notes.group_commit.batches
    results = run_together(notes, [note(notes, f"n{i:02}") for i in range(10)])
    assert results == [f"n{i:02}" for i in range(10)]
    assert notes.group_commit.batches == before + 3  # 4, 4 and 2
    assert bodies(notes) == [f"n{i:02}" for i in range(10)]


def test_the_writer_thread_ends_when_idle_and_comes_back(notes: Database) -> None:
    assert notes.group_commit is not None
    notes.group_commit.idle = 0.05

    def writers() -> int:
        return sum(t.name == "scimd-writer" and t.is_alive() for t in threading.enumerate())

    async def one(body: str) -> object:
        return await notes.group_commit.run(note(notes, body))

    assert asyncio.run(one("first")) == "first"
    deadline = time.monotonic() + 5
    while writers() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert writers() == 0
    assert asyncio.run(one("second")) == "second"
    assert bodies(notes) == ["first", "second"]


def test_after_commit_runs_once_the_writes_are_on_disk(notes: Database) -> None:
    """What a job does after its commit (a guard trip's metric) waits for the batch's
    commit, and happens once even when the batch is dropped and the job runs again."""
    seen: list[list[str]] = []

    def outside() -> list[str]:  # what another connection sees: only committed rows
        raw = notes.engine.raw_connection()
        try:
            return sorted(r[0] for r in raw.dbapi_connection.execute("SELECT body FROM notes"))
        finally:
            raw.close()

    def with_action() -> str:
        note(notes, "acted")()
        notes.after_commit(lambda: seen.append(outside()))
        return "acted"

    def breaks() -> None:
        with notes.write() as conn:
            conn.connection.dbapi_connection.execute("ROLLBACK")

    results = run_together(notes, [with_action, note(notes, "kept")])
    assert results == ["acted", "kept"] and seen == [["acted", "kept"]]
    seen.clear()
    with notes.write() as conn:
        conn.execute(text("DELETE FROM notes"))
    results = run_together(notes, [with_action, breaks])
    assert results[0] == "acted" and len(seen) == 1 and "acted" in seen[0]


def test_what_a_job_leaves_for_after_its_commit_goes_with_it_when_it_runs_alone(
        notes: Database) -> None:
    calls: list[str] = []

    def leaves() -> str:
        notes.after_commit(lambda: calls.append("after"))
        notes.run_alone()
        return "alone"

    assert run_together(notes, [note(notes, "batched"), leaves]) == ["batched", "alone"]
    assert calls == ["after"]  # from the run alone only


# -- through the API ---------------------------------------------------------------------


@pytest.fixture
def sqlite_app(tmp_path: Path):
    def make(**settings: object):
        url = f"sqlite:///{tmp_path / 'api.db'}"
        db = connect(url)
        migrate.upgrade(db)
        access = make_tenant(db, "rfc")
        app = create_app(Settings(database_url=url, rate_limits=False, webhooks=False,
                                  **settings), db)
        made.append(db)
        return app, db, access

    made: list[Database] = []
    yield make
    for db in made:
        db.dispose()


def _client(app) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                             base_url="http://127.0.0.1:8000")


def _user(name: str, **attrs: object) -> dict:
    return {"schemas": [USER], "userName": name, **attrs}


def test_concurrent_creates_over_http_are_batched_and_unique(sqlite_app) -> None:
    """RFC 7644 §3.3: of racing creates of one userName exactly one is 201, the others
    409 ``uniqueness``, though they run in one transaction."""
    app, db, access = sqlite_app()
    auth = {"Authorization": f"Bearer {access.token}"}

    async def main() -> list[httpx.Response]:
        async with _client(app) as client:
            with turn_held(db) as free:
                posts = [asyncio.ensure_future(client.post(
                    "/scim/v2/Users", json=_user(name), headers=auth))
                    for name in ["same", "same", "other", "same", "bad"]]
                await asyncio.sleep(0.3)
                free.set()
                done = await asyncio.gather(*posts)
            listed = await client.get("/scim/v2/Users", headers=auth)
            return [*done, listed]

    before = db.group_commit.batches
    *answers, listed = asyncio.run(main())
    codes = [r.status_code for r in answers]
    assert sorted(codes[:2] + codes[3:4]) == [201, 409, 409]
    assert codes[2] == 201 and codes[4] == 201
    assert all(r.json()["scimType"] == "uniqueness" for r in answers if r.status_code == 409)
    assert db.group_commit.batches <= before + 2
    assert sorted(u["userName"] for u in listed.json()["Resources"]) == ["bad", "other", "same"]


def test_an_invalid_write_in_a_batch_leaves_nothing_and_spoils_nothing(sqlite_app) -> None:
    app, db, access = sqlite_app()
    auth = {"Authorization": f"Bearer {access.token}"}

    async def main() -> tuple[list[httpx.Response], httpx.Response]:
        async with _client(app) as client:
            with turn_held(db) as free:
                posts = [asyncio.ensure_future(client.post("/scim/v2/Users", json=body,
                                                           headers=auth))
                         for body in (_user("ok1"), _user("bad", active="maybe"),
                                      _user("ok2"))]
                await asyncio.sleep(0.3)
                free.set()
                done = await asyncio.gather(*posts)
            return done, await client.get("/scim/v2/Users", headers=auth)

    answers, listed = asyncio.run(main())
    assert [r.status_code for r in answers] == [201, 400, 201]
    assert sorted(u["userName"] for u in listed.json()["Resources"]) == ["ok1", "ok2"]


def test_a_password_write_runs_alone(sqlite_app) -> None:
    """A password is hashed outside any batch (scrypt would hold up every other write)."""
    app, db, access = sqlite_app()
    auth = {"Authorization": f"Bearer {access.token}"}

    async def main() -> list[httpx.Response]:
        async with _client(app) as client:
            return list(await asyncio.gather(
                client.post("/scim/v2/Users", json=_user("pw", password="s3cret!pass"),
                            headers=auth),
                client.post("/scim/v2/Users", json=_user("nopw"), headers=auth)))

    alone = db.group_commit.alone
    answers = asyncio.run(main())
    assert [r.status_code for r in answers] == [201, 201]
    assert "password" not in answers[0].json()
    assert db.group_commit.alone == alone + 1
    with db.read() as conn:
        hashed = conn.execute(text("SELECT password_hash FROM users WHERE user_name = 'pw'")
                              ).scalar()
    assert hashed and hashed.startswith("scrypt$")


def test_a_put_with_a_password_leaves_the_batch_and_keeps_its_lock_order(
        sqlite_app) -> None:
    """RFC 7644 §3.5.1: a PUT may set the password. Its hash is taken alone: the job,
    which holds the user's lock inside the batch, lets go of both and runs again."""
    app, db, access = sqlite_app()
    auth = {"Authorization": f"Bearer {access.token}"}

    async def main() -> list[httpx.Response]:
        async with _client(app) as client:
            made = await client.post("/scim/v2/Users", json=_user("rotating"), headers=auth)
            uid = made.json()["id"]
            return list(await asyncio.gather(
                client.put(f"/scim/v2/Users/{uid}", headers=auth,
                           json=_user("rotating", password="n3w-Secret!")),
                client.patch(f"/scim/v2/Users/{uid}", headers=auth, json={
                    "schemas": [PATCH_OP], "Operations": [
                        {"op": "replace", "path": "displayName", "value": "R"}]})))

    alone = db.group_commit.alone
    put, patch = asyncio.run(main())
    assert put.status_code == 200 and patch.status_code == 200
    assert db.group_commit.alone == alone + 1
    with db.read() as conn:
        hashed = conn.execute(text(
            "SELECT password_hash FROM users WHERE user_name = 'rotating'")).scalar()
    assert hashed and hashed.startswith("scrypt$")


def test_a_write_answered_503_while_queued_is_never_made(sqlite_app) -> None:
    """A 503 says nothing happened (docs/operations.md, "Time per request"): a write
    still waiting for its batch at its deadline never runs."""
    app, db, access = sqlite_app(request_timeout=0.3)
    auth = {"Authorization": f"Bearer {access.token}"}

    async def main() -> tuple[httpx.Response, httpx.Response]:
        async with _client(app) as client:
            with turn_held(db) as free:
                late = await client.post("/scim/v2/Users", json=_user("late"), headers=auth)
                free.set()
            await asyncio.sleep(0.2)
            return late, await client.get("/scim/v2/Users", headers=auth,
                                          params={"filter": 'userName eq "late"'})

    late, found = asyncio.run(main())
    assert late.status_code == 503 and late.headers["Retry-After"] == "1"
    assert found.json()["totalResults"] == 0


def test_group_commit_off_gives_each_write_its_own_transaction(sqlite_app) -> None:
    app, db, access = sqlite_app(group_commit=False)
    auth = {"Authorization": f"Bearer {access.token}"}

    async def main() -> list[httpx.Response]:
        async with _client(app) as client:
            return list(await asyncio.gather(*(
                client.post("/scim/v2/Users", json=_user(f"u{i}"), headers=auth)
                for i in range(5))))

    before = db.group_commit.batches
    assert [r.status_code for r in asyncio.run(main())] == [201] * 5
    assert db.group_commit.batches == before


def test_the_setting_reads_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SCIMD_GROUP_COMMIT", "off")
    assert Settings.from_env().group_commit is False
    monkeypatch.setenv("SCIMD_GROUP_COMMIT", "on")
    assert Settings.from_env().group_commit is True


FORKER = """
import asyncio, os, sys
from sqlalchemy import text
from scimd.store.db import connect
db = connect(sys.argv[1])
with db.write() as conn:
    conn.execute(text("CREATE TABLE notes (body TEXT PRIMARY KEY)"))

def note(body):
    def job():
        with db.write() as conn:
            conn.execute(text("INSERT INTO notes VALUES (:b)"), {"b": body})
        return body
    return job

async def write(body):
    return await asyncio.wait_for(db.group_commit.run(note(body)), 10)

asyncio.run(write("parent"))  # the parent's writer thread now waits for more work
pid = os.fork()
if pid == 0:  # the child: its first write must start a writer of its own
    try:
        ok = asyncio.run(write("child")) == "child"
    except BaseException:
        ok = False
    os._exit(0 if ok else 1)
_, status = os.waitpid(pid, 0)
print(os.waitstatus_to_exitcode(status))
"""


def test_a_forked_child_starts_a_writer_of_its_own(tmp_path: Path) -> None:
    """A child forked while the parent's writer thread waits for work inherits no thread:
    its first write starts its own (store/forks.py) instead of waiting for ever."""
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", FORKER, f"sqlite:///{tmp_path / 'f.db'}"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "0"
