"""Crash safety (docs/operations.md): an acknowledged write survives SIGKILL.

A client creates users as fast as it can, one request after the other on one
connection, while the server process is killed with SIGKILL. Restarted on the
same database, the server still has every user whose creation was answered 201,
and the database is consistent.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import threading
import time

import httpx
import pytest

import live
from live import LiveServer

pytestmark = pytest.mark.live

live_database_url = live.live_database_url
USER = "urn:ietf:params:scim:schemas:core:2.0:User"
MAX_CREATES = 5000
"""Bound of the client's loop (it stops at the kill long before)."""
KILL_AFTER = 40
"""Acknowledged creates before the kill (plus a little randomness from timing)."""


def _listed(client: httpx.Client, url: str) -> tuple[int, list[dict]]:
    """totalResults and every user, page by page (bounded)."""
    users: list[dict] = []
    total = None
    start = 1
    for _ in range(100):
        page = client.get(url + "/Users", params={"startIndex": start, "count": 200}).json()
        total = page["totalResults"]
        users += page.get("Resources", [])
        if len(users) >= total or not page.get("Resources"):
            break
        start += len(page["Resources"])
    assert total is not None
    return total, users


def test_acknowledged_creates_survive_sigkill(live_database_url):
    server = LiveServer(live_database_url, dialect="rfc").start()
    acknowledged: dict[str, str] = {}  # id -> userName
    attempted: list[str] = []
    stop = threading.Event()
    problem: list[BaseException] = []

    def create_forever() -> None:
        with httpx.Client(headers=server.auth_headers, timeout=10) as client:
            for i in range(MAX_CREATES):
                if stop.is_set():
                    return
                name = f"crash.{i}"
                attempted.append(name)
                try:
                    r = client.post(server.scim_url + "/Users", json={
                        "schemas": [USER], "userName": name,
                        "emails": [{"value": f"{name}@crash.example", "primary": True}]})
                except httpx.TransportError:
                    return  # the server died under us
                if r.status_code != 201:
                    problem.append(AssertionError(f"{r.status_code}: {r.text}"))
                    return
                acknowledged[r.json()["id"]] = name

    try:
        with httpx.Client(headers=server.auth_headers, timeout=10) as client:
            baseline, _ = _listed(client, server.scim_url)
        writer = threading.Thread(target=create_forever, daemon=True)
        writer.start()
        deadline = time.monotonic() + 60
        while len(acknowledged) < KILL_AFTER and time.monotonic() < deadline and not problem:
            time.sleep(0.005)
        assert not problem, problem
        assert len(acknowledged) >= KILL_AFTER, "the client did not get going"
        assert server.process is not None
        os.kill(server.process.pid, signal.SIGKILL)
        server.process.wait(10)
        stop.set()
        writer.join(15)
        assert not writer.is_alive()
        assert not problem, problem
    finally:
        stop.set()
        server.stop()

    acked = dict(acknowledged)
    with LiveServer(live_database_url, dialect="rfc", token=server.token) as again, \
            httpx.Client(headers=again.auth_headers, timeout=10) as client:
        for user_id, name in acked.items():
            r = client.get(f"{again.scim_url}/Users/{user_id}")
            assert r.status_code == 200, (user_id, r.status_code, r.text)
            assert r.json()["userName"] == name
        total, users = _listed(client, again.scim_url)
        assert total == len(users)  # the count and the rows agree
        created = [u for u in users if u["userName"].startswith("crash.")]
        assert len(users) - baseline == len(created)
        # every acknowledged user, plus at most the one in flight at the kill
        assert set(acked) <= {u["id"] for u in created}
        assert len(acked) <= len(created) <= len(acked) + 1
        assert {u["userName"] for u in created} <= set(attempted)
        assert len({u["userName"] for u in created}) == len(created)
        assert client.get(again.base_url + "/readyz").status_code == 200
    if live_database_url.startswith("sqlite"):
        conn = sqlite3.connect(live_database_url.removeprefix("sqlite:///"))
        try:
            assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
            assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
        finally:
            conn.close()
