"""Writes that share their thread with other requests, on both databases: a SQLite
write in a group commit's batch, a PostgreSQL write awaited on the event loop
(store/group_commit.py; ``ScimApi._write_awaited``). Neither may hash a password nor
wait for a lock there, so such a write runs again alone in a worker thread, and the
requests beside it do not wait for it.
"""

from __future__ import annotations

import asyncio
import threading

import httpx
import pytest
from sqlalchemy import text

from conftest import make_tenant
from scimd.app import create_app
from scimd.directory import users as users_module
from scimd.settings import Settings
from scimd.store.db import Database

USER = "urn:ietf:params:scim:schemas:core:2.0:User"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


def _user(name: str, **attrs: object) -> dict:
    return {"schemas": [USER], "userName": name, **attrs}


async def _serving(app, work):
    """``work(client)`` against ``app`` with its lifespan running, as a server runs it
    (PostgreSQL serves reads and writes on the loop only then)."""
    async with app.router.lifespan_context(app), httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1:8000") as client:
        return await work(client)


def test_a_password_is_hashed_where_nothing_else_waits(app, db: Database,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """RFC 7643 §4.1.1 (password, write-only): creating with one and replacing it are
    answered as ever, and the scrypt hash runs in a write of its own thread."""
    shared: list[bool] = []
    real = users_module.hash_password

    def spy(password: str) -> str:
        try:
            asyncio.get_running_loop()
            on_a_loop = True
        except RuntimeError:
            on_a_loop = False
        shared.append(on_a_loop or db.in_batch())
        return real(password)

    monkeypatch.setattr(users_module, "hash_password", spy)
    access = make_tenant(db, "rfc")
    auth = {"Authorization": f"Bearer {access.token}"}

    async def work(client: httpx.AsyncClient) -> list[httpx.Response]:
        made = await client.post("/scim/v2/Users", headers=auth,
                                 json=_user("hashed", password="Fir5t-secret"))
        uid = made.json()["id"]
        replaced, other = await asyncio.gather(
            client.put(f"/scim/v2/Users/{uid}", headers=auth,
                       json=_user("hashed", password="Sec0nd-secret")),
            client.post("/scim/v2/Users", headers=auth, json=_user("beside")))
        return [made, replaced, other]

    made, replaced, other = asyncio.run(_serving(app, work))
    assert [made.status_code, replaced.status_code, other.status_code] == [201, 200, 201]
    assert "password" not in made.json() and "password" not in replaced.json()
    assert shared == [False, False]
    with db.read() as conn:
        hashed = conn.execute(text("SELECT password_hash FROM users WHERE tenant_pk = :t "
                                   "AND user_name = 'hashed'"), {"t": access.tenant.pk}
                              ).scalar()
    assert hashed.startswith("scrypt$")


def test_an_rfc_write_waiting_for_a_lock_holds_up_no_other(app, db: Database) -> None:
    """spec §9: in the rfc dialect a write waits for the resource's lock. It waits in a
    thread of its own: a write to another user is answered meanwhile, and the waiting
    one goes through once the lock is free."""
    access = make_tenant(db, "rfc")
    auth = {"Authorization": f"Bearer {access.token}"}
    locks = app.state.services.locks

    async def work(client: httpx.AsyncClient) -> tuple[httpx.Response, httpx.Response, bool]:
        made = await client.post("/scim/v2/Users", headers=auth, json=_user("waiter"))
        uid = made.json()["id"]
        taken, free = threading.Event(), threading.Event()

        def hold() -> None:
            with locks.hold(f"{access.tenant.pk}:user:{uid}", wait=0):
                taken.set()
                free.wait(10)

        holder = threading.Thread(target=hold)
        holder.start()
        assert taken.wait(5)
        waiting = asyncio.ensure_future(client.patch(
            f"/scim/v2/Users/{uid}", headers=auth, json={
                "schemas": [PATCH_OP],
                "Operations": [{"op": "replace", "path": "displayName", "value": "W"}]}))
        await asyncio.sleep(0.2)  # the PATCH is waiting for the lock
        other = await client.post("/scim/v2/Users", headers=auth, json=_user("passer"))
        still_waiting = not waiting.done()  # the POST did not wait for the PATCH
        free.set()
        patched = await waiting
        holder.join(5)
        return patched, other, still_waiting

    alone = db.group_commit.alone if db.group_commit else 0
    patched, other, still_waiting = asyncio.run(_serving(app, work))
    assert other.status_code == 201 and still_waiting
    assert patched.status_code == 200 and patched.json()["displayName"] == "W"
    if db.group_commit is not None:
        assert db.group_commit.alone == alone + 1  # it left the batch


def test_a_slack_write_to_a_locked_user_is_429_at_once(app, db: Database) -> None:
    """spec §9, §7.3: the slack dialect never waits: 429 ``resource_locked``."""
    access = make_tenant(db, "slack")
    auth = {"Authorization": f"Bearer {access.token}"}
    locks = app.state.services.locks

    async def work(client: httpx.AsyncClient) -> httpx.Response:
        made = await client.post("/scim/v2/Users", headers=auth, json={
            "schemas": [USER], "userName": "slacker",
            "emails": [{"value": "slacker@example.com", "primary": True}]})
        assert made.status_code == 201, made.text
        uid = made.json()["id"]
        with locks.hold(f"{access.tenant.pk}:user:{uid}", wait=0):
            return await client.patch(f"/scim/v2/Users/{uid}", headers=auth, json={
                "schemas": [PATCH_OP],
                "Operations": [{"op": "replace", "path": "title", "value": "T"}]})

    answer = asyncio.run(_serving(app, work))
    assert answer.status_code == 429 and answer.headers["Retry-After"]


def test_a_write_run_again_alone_is_counted_once(db: Database) -> None:
    """spec §8: a write counts once in its buckets, also when it leaves the batch or the
    loop to hash a password: with room for three writes, three pass and the fourth is
    429."""
    app = create_app(Settings(database_url=str(db.engine.url), rate_limits=True,
                              rate_limit_buckets="writes=3/3", webhooks=False), db)
    access = make_tenant(db, "rfc")
    auth = {"Authorization": f"Bearer {access.token}"}

    async def work(client: httpx.AsyncClient) -> list[int]:
        made = await client.post("/scim/v2/Users", headers=auth, json=_user("counted"))
        uid = made.json()["id"]
        put = await client.put(f"/scim/v2/Users/{uid}", headers=auth,
                               json=_user("counted", password="Thr3e-secret"))
        patch = await client.patch(f"/scim/v2/Users/{uid}", headers=auth, json={
            "schemas": [PATCH_OP],
            "Operations": [{"op": "replace", "path": "displayName", "value": "C"}]})
        over = await client.post("/scim/v2/Users", headers=auth, json=_user("over"))
        return [made.status_code, put.status_code, patch.status_code, over.status_code]

    assert asyncio.run(_serving(app, work)) == [201, 200, 200, 429]
    with db.read() as conn:
        actions = [r[0] for r in conn.execute(text(
            "SELECT action FROM audit_events WHERE tenant_pk = :t ORDER BY pk"),
            {"t": access.tenant.pk})]
    assert actions == ["user_created", "user_updated", "user_updated"]  # each write once


def test_postgresql_writes_run_on_the_event_loop(app, db: Database,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """A PostgreSQL write is awaited on the loop (bench/README.md, section 13), where the
    server bounds every lock wait by the request timeout, so that a backend whose client
    the deadline cut off does not wait on holding its row locks. A SQLite write goes to
    the group commit instead."""
    writes: list[bool] = []
    real = Database.awaited

    async def spy(self, fn, *args, writing=False):
        writes.append(writing)
        return await real(self, fn, *args, writing=writing)

    monkeypatch.setattr(Database, "awaited", spy)
    access = make_tenant(db, "rfc")
    auth = {"Authorization": f"Bearer {access.token}"}

    async def work(client: httpx.AsyncClient) -> tuple[int, str | None]:
        made = await client.post("/scim/v2/Users", headers=auth, json=_user("looped"))
        if db.is_sqlite:
            return made.status_code, None
        return made.status_code, await db.awaited(_show_lock_timeout, db)

    batches = db.group_commit.batches if db.group_commit else 0
    status, timeout = asyncio.run(_serving(app, work))
    assert status == 201
    if db.is_sqlite:
        assert writes == [] and db.group_commit.batches == batches + 1
    else:
        assert writes[0] is True  # (the SHOW below is a read)
        assert timeout == "30s"  # SCIMD_REQUEST_TIMEOUT's default


def _show_lock_timeout(db: Database) -> str:
    with db.read() as conn:
        return conn.execute(text("SHOW lock_timeout")).scalar()
