"""Safe provisioning: audit log, change feed, mass-deprovision guard, dry runs, restore.

(Issue "Safe provisioning and operations"; spec §16.26 for what deactivation keeps.)
"""

from __future__ import annotations

import json

import pytest
from starlette.testclient import TestClient
from typer.testing import CliRunner

from conftest import make_tenant
from scimd.app import create_app
from scimd.cli import app as cli
from scimd.settings import Settings
from scimd.store import audit

USER = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


def _events(db, tenant_pk, **kw):
    with db.read() as conn:
        return audit.events(conn, tenant_pk, **kw)


def _new_user(http, auth, name):
    r = http.post("/scim/v2/Users", headers=auth, json={
        "schemas": [USER], "userName": name, "emails": [{"value": f"{name}@example.com"}],
        "password": "s3cret-pw"})
    assert r.status_code == 201, r.text
    return r.json()["id"]


@pytest.mark.parametrize("dialect", ["slack", "rfc"])
def test_every_change_is_audited_in_its_transaction(db, app, dialect):
    """Each change writes one audit row with actor, client and attributes before/after;
    a refused write leaves no row; passwords never reach the log."""
    access = make_tenant(db, dialect)
    auth = {"Authorization": f"Bearer {access.token}"}
    with TestClient(app) as http:
        uid = _new_user(http, auth, "audited")
        other = _new_user(http, auth, "second")
        http.patch(f"/scim/v2/Users/{uid}", headers=auth, json={"schemas": [PATCH], "Operations": [
            {"op": "replace", "path": "title", "value": "Boss"}]})
        gid = http.post("/scim/v2/Groups", headers=auth, json={
            "schemas": [GROUP], "displayName": "crew", "members": [{"value": uid}]}).json()["id"]
        http.patch(f"/scim/v2/Groups/{gid}", headers=auth, json={"schemas": [PATCH], "Operations": [
            {"op": "add", "path": "members", "value": [{"value": other}]},
            {"op": "remove", "path": f'members[value eq "{uid}"]'}]})
        refused = http.post("/scim/v2/Users", headers=auth, json={
            "schemas": [USER], "userName": "audited", "emails": [{"value": "x@example.com"}]})
        assert refused.status_code == 409
        http.delete(f"/scim/v2/Users/{other}", headers=auth)
        http.delete(f"/scim/v2/Groups/{gid}", headers=auth)
    events = _events(db, access.tenant.pk)
    actions = [e["action"] for e in events]
    gone = "user_deactivated" if dialect == "slack" else "user_deleted"
    assert actions == ["user_created", "user_created", "user_updated", "group_created",
                       "group_members_added", "group_members_removed", gone, "group_deleted"]
    updated = events[2]
    assert updated["data"]["before"].get("title") is None
    assert updated["data"]["after"]["title"] == "Boss"
    assert updated["actor"]["kind"] == "scim" and updated["actor"]["token_id"]
    assert updated["actor"]["client"] == "testclient"
    assert events[4]["data"] == {"members": [other]}
    assert events[5]["data"] == {"members": [uid]}
    assert "s3cret-pw" not in json.dumps(events)


def test_change_feed_pages_with_stable_cursors(db, app):
    """GET /admin/v1/events: events in order after a cursor; resuming from next_cursor
    misses nothing and repeats nothing; only the tenant's own events."""
    access, other = make_tenant(db, "slack"), make_tenant(db, "slack")
    auth = {"Authorization": f"Bearer {access.token}"}
    with TestClient(app) as http:
        ids = [_new_user(http, auth, f"feed{i}") for i in range(5)]
        _new_user(http, {"Authorization": f"Bearer {other.token}"}, "elsewhere")
        seen, cursor = [], "0"
        while True:
            page = http.get("/admin/v1/events", headers=auth,
                            params={"cursor": cursor, "limit": 2}).json()
            seen += [e["resource"]["id"] for e in page["events"]]
            cursor = page["next_cursor"]
            if not page["has_more"]:
                break
        assert seen == ids
        again = http.get("/admin/v1/events", headers=auth, params={"cursor": cursor}).json()
        assert again["events"] == [] and again["next_cursor"] == cursor
        assert http.get("/admin/v1/events").status_code == 401
        assert http.get("/admin/v1/events", headers=auth,
                        params={"cursor": "x"}).status_code == 400


@pytest.fixture
def guarded(db, database_url):
    settings = Settings(database_url=database_url, rate_limits=False, guard_minimum=3,
                        guard_percent=10)
    return create_app(settings, db)


@pytest.mark.parametrize("dialect", ["slack", "rfc"])
def test_guard_trips_blocks_and_releases(db, guarded, database_url, monkeypatch, dialect):
    """More deactivations than the threshold within the window: 403
    deprovision_guard_tripped (never 429), recorded in the audit log, until released;
    in the rfc dialect a DELETE counts the same."""
    access = make_tenant(db, dialect)
    auth = {"Authorization": f"Bearer {access.token}"}
    with TestClient(guarded) as http:
        ids = [_new_user(http, auth, f"leaver{i}") for i in range(6)]
        answers = [http.delete(f"/scim/v2/Users/{uid}", headers=auth) for uid in ids[:5]]
        assert [a.status_code for a in answers] == [204, 204, 204, 403, 403]
        body = answers[3].json()
        code = body["detail"] if dialect == "slack" else body["status"]
        assert code in ("deprovision_guard_tripped", "403")
        assert "Retry-After" not in answers[3].headers
        patch = http.patch(f"/scim/v2/Users/{ids[5]}", headers=auth, json={
            "schemas": [PATCH], "Operations": [{"op": "replace", "path": "active",
                                                "value": False}]})
        assert patch.status_code == 403
        title = http.patch(f"/scim/v2/Users/{ids[5]}", headers=auth, json={
            "schemas": [PATCH], "Operations": [{"op": "replace", "path": "title",
                                                "value": "still fine"}]})
        assert title.status_code == 200  # only deactivations are blocked
        metrics = http.get("/metrics").text
        assert f'scimd_deprovision_guard_trips_total{{tenant="{access.tenant.id}"}} 1.0' \
            in metrics
        monkeypatch.setenv("SCIMD_DATABASE_URL", database_url)
        runner = CliRunner()
        status = runner.invoke(cli, ["guard", "status", "--tenant", access.tenant.id, "--json"])
        assert json.loads(status.stdout)["tripped"] is True
        released = runner.invoke(cli, ["guard", "release", "--tenant", access.tenant.id])
        assert released.exit_code == 0, released.output
        assert http.delete(f"/scim/v2/Users/{ids[3]}", headers=auth).status_code == 204
    actions = [e["action"] for e in _events(db, access.tenant.pk)]
    assert actions.count("deprovision_guard_tripped") == 1
    assert "deprovision_guard_released" in actions


def test_dry_run_writes_nothing(db, app):
    """Scimd-Dry-Run: 1: validated and answered as usual, marked in the answer, and no row,
    no audit event, no guard count is kept; bad input still gets its error."""
    access = make_tenant(db, "slack")
    auth = {"Authorization": f"Bearer {access.token}"}
    dry = {**auth, "Scimd-Dry-Run": "1"}
    with TestClient(app) as http:
        uid = _new_user(http, auth, "real")
        before = _events(db, access.tenant.pk)
        r = http.post("/scim/v2/Users", headers=dry, json={
            "schemas": [USER], "userName": "ghost", "emails": [{"value": "g@example.com"}]})
        assert r.status_code == 201 and r.headers["Scimd-Dry-Run"] == "1"
        assert r.json()["userName"] == "ghost"
        assert http.get(f"/scim/v2/Users/{r.json()['id']}", headers=auth).status_code == 404
        r = http.delete(f"/scim/v2/Users/{uid}", headers=dry)
        assert r.status_code == 204 and r.headers["Scimd-Dry-Run"] == "1"
        assert http.get(f"/scim/v2/Users/{uid}", headers=auth).json()["active"] is True
        bad = http.post("/scim/v2/Users", headers=dry, json={"schemas": [USER],
                                                              "userName": "real"})
        assert bad.status_code == 400
    assert _events(db, access.tenant.pk) == before


def test_restore_brings_users_and_memberships_back(db, app, database_url, monkeypatch):
    """``scimd user restore --since``: reactivates the users deactivated since then and
    puts back the groups deactivation removed (spec §16.26); reactivation alone does not."""
    access = make_tenant(db, "slack")
    auth = {"Authorization": f"Bearer {access.token}"}
    monkeypatch.setenv("SCIMD_DATABASE_URL", database_url)
    runner = CliRunner()
    with TestClient(app) as http:
        ids = [_new_user(http, auth, f"member{i}") for i in range(3)]
        gid = http.post("/scim/v2/Groups", headers=auth, json={
            "schemas": [GROUP], "displayName": "team",
            "members": [{"value": u} for u in ids]}).json()["id"]
        for uid in ids[:2]:
            assert http.delete(f"/scim/v2/Users/{uid}", headers=auth).status_code == 204
        members = {m["value"] for m in http.get(f"/scim/v2/Groups/{gid}",
                                                headers=auth).json()["members"]}
        assert members == {ids[2]}
        plan = runner.invoke(cli, ["user", "restore", "--since", "1h", "--tenant",
                                   access.tenant.id], input="n\n")
        assert plan.exit_code != 0 and ids[0] in plan.output and gid in plan.output
        result = runner.invoke(cli, ["user", "restore", "--since", "1h", "--tenant",
                                     access.tenant.id, "--yes", "--json"])
        assert result.exit_code == 0, result.output
        assert sorted(json.loads(result.stdout)["restored"]) == sorted(ids[:2])
        for uid in ids[:2]:
            assert http.get(f"/scim/v2/Users/{uid}", headers=auth).json()["active"] is True
        members = {m["value"] for m in http.get(f"/scim/v2/Groups/{gid}",
                                                headers=auth).json()["members"]}
        assert members == set(ids)
    audit_out = runner.invoke(cli, ["audit", "--tenant", access.tenant.id, "--json"])
    actions = [json.loads(line)["action"] for line in audit_out.stdout.splitlines()]
    assert actions.count("user_restored") == 2


def test_restore_says_deleted_rfc_users_cannot_come_back(db, app, database_url, monkeypatch):
    access = make_tenant(db, "rfc")
    auth = {"Authorization": f"Bearer {access.token}"}
    monkeypatch.setenv("SCIMD_DATABASE_URL", database_url)
    with TestClient(app) as http:
        uid = _new_user(http, auth, "gone")
        assert http.delete(f"/scim/v2/Users/{uid}", headers=auth).status_code == 204
    result = CliRunner().invoke(cli, ["user", "restore", "--since", "1h", "--tenant",
                                      access.tenant.id, "--yes"])
    assert uid in result.output and "cannot be restored" in result.output
