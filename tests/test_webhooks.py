"""Webhooks: audit events delivered as signed JSON, retried with backoff, in order per
resource, with their delivery state visible (issue "Safe provisioning")."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from starlette.testclient import TestClient
from typer.testing import CliRunner

from conftest import make_tenant
from scimd import webhooks
from scimd.cli import app as cli

USER = "urn:ietf:params:scim:schemas:core:2.0:User"
PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


class Receiver:
    """An HTTP receiver on 127.0.0.1 that fails its first ``failures`` requests."""

    def __init__(self, failures: int = 0) -> None:
        self.failures = failures
        self.received: list[tuple[dict, str, bytes]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if outer.failures > 0:
                    outer.failures -= 1
                    self.send_response(503)
                else:
                    outer.received.append((json.loads(body), self.headers["Scimd-Signature"],
                                           body))
                    self.send_response(204)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    made = Receiver(failures=2)
    yield made
    made.close()


def _run_until(dispatcher: webhooks.Dispatcher, db, hook_id: str, want: int, receiver) -> None:
    """Deliver, skipping the backoff waits (the schedule itself is checked below)."""
    from sqlalchemy import update

    from scimd.store import tables as t

    for _ in range(20):
        dispatcher.run_once()
        if len(receiver.received) >= want:
            return
        with db.write() as conn:  # make the next retry due now
            conn.execute(update(t.webhooks).where(t.webhooks.c.id == hook_id)
                         .values(next_attempt_at=None))
    raise AssertionError(f"only {len(receiver.received)} of {want} delivered")


def test_delivery_signed_retried_in_order(db, app, database_url, monkeypatch, receiver):
    access = make_tenant(db, "slack")
    auth = {"Authorization": f"Bearer {access.token}"}
    monkeypatch.setenv("SCIMD_DATABASE_URL", database_url)
    runner = CliRunner()
    added = runner.invoke(cli, ["webhook", "add", "--tenant", access.tenant.id, "--url",
                                receiver.url, "--json"])
    assert added.exit_code == 0, added.output
    hook = json.loads(added.stdout)
    with TestClient(app) as http:
        uid = http.post("/scim/v2/Users", headers=auth, json={
            "schemas": [USER], "userName": "hooked",
            "emails": [{"value": "hooked@example.com"}]}).json()["id"]
        for title in ("one", "two"):
            http.patch(f"/scim/v2/Users/{uid}", headers=auth, json={
                "schemas": [PATCH], "Operations": [{"op": "replace", "path": "title",
                                                    "value": title}]})
    dispatcher = webhooks.Dispatcher(db)
    try:
        dispatcher.run_once()  # the first attempt fails (503): nothing else goes out
        state = json.loads(runner.invoke(cli, ["webhook", "status", "--tenant",
                                               access.tenant.id, "--json"]).stdout)[0]
        assert state["attempts"] == 1 and state["last_status"] == 503
        assert state["pending"] == 3 and state["next_attempt_at"]
        _run_until(dispatcher, db, hook["webhook_id"], 3, receiver)
    finally:
        dispatcher.stop()
    actions = [event["action"] for event, _, _ in receiver.received]
    assert actions == ["user_created", "user_updated", "user_updated"]
    titles = [event["data"]["after"].get("title") for event, _, _ in receiver.received[1:]]
    assert titles == ["one", "two"]
    for _, signature, body in receiver.received:
        assert webhooks.verify(hook["secret"], signature, body)
        assert not webhooks.verify("whsec_wrong", signature, body)
    state = json.loads(runner.invoke(cli, ["webhook", "status", "--tenant", access.tenant.id,
                                           "--json"]).stdout)[0]
    assert state["pending"] == 0 and state["delivered"] == 3 and state["attempts"] == 0


def test_backoff_grows_and_bad_urls_are_refused(db, receiver):
    access = make_tenant(db, "slack")
    receiver.failures = 100
    with db.write() as conn:
        hook_id, _ = webhooks.add(conn, access.tenant.pk, receiver.url)
        with pytest.raises(ValueError):
            webhooks.add(conn, access.tenant.pk, "ftp://example.com")
    from scimd.directory.users import Users

    Users(db).create(access.tenant, {"userName": "waiting",
                                     "emails": [{"value": "w@example.com"}]})
    dispatcher = webhooks.Dispatcher(db)
    waits = []
    try:
        from datetime import UTC, datetime

        from sqlalchemy import select, update

        from scimd.scim.values import DATETIME_FORMAT
        from scimd.store import tables as t

        for _ in range(4):
            dispatcher.run_once()
            with db.write() as conn:
                row = conn.execute(select(t.webhooks.c.next_attempt_at)
                                   .where(t.webhooks.c.id == hook_id)).scalar_one()
                waits.append((datetime.strptime(row, DATETIME_FORMAT).replace(tzinfo=UTC)
                              - datetime.now(UTC))
                             .total_seconds())
                conn.execute(update(t.webhooks).where(t.webhooks.c.id == hook_id)
                             .values(next_attempt_at=None))
    finally:
        dispatcher.stop()
    assert waits == sorted(waits) and waits[-1] > waits[0] * 4


def test_server_delivers_in_the_background(db, database_url, receiver):
    """The server process runs the dispatcher: an event reaches the receiver on its own."""
    import time

    from scimd.app import create_app
    from scimd.settings import Settings

    receiver.failures = 0
    access = make_tenant(db, "slack")
    with db.write() as conn:
        webhooks.add(conn, access.tenant.pk, receiver.url)
    app = create_app(Settings(database_url=database_url, rate_limits=False), db)
    with TestClient(app) as http:
        http.post("/scim/v2/Users", headers={"Authorization": f"Bearer {access.token}"},
                  json={"schemas": [USER], "userName": "background",
                        "emails": [{"value": "bg@example.com"}]})
        deadline = time.monotonic() + 10
        while not receiver.received and time.monotonic() < deadline:
            time.sleep(0.1)
    assert [e["action"] for e, _, _ in receiver.received] == ["user_created"]
