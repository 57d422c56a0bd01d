"""``scimd export`` and ``scimd import``: a tenant moves between databases intact."""

from __future__ import annotations

import json

from starlette.testclient import TestClient
from typer.testing import CliRunner

from conftest import make_tenant
from scimd.cli import app as cli

USER = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"


def test_export_import_round_trip(db, app, database_url, tmp_path, monkeypatch):
    """Every user, group, membership and role comes back with the same ids and shapes,
    into another database; importing twice is refused and leaves nothing behind."""
    access = make_tenant(db, "slack")
    auth = {"Authorization": f"Bearer {access.token}"}
    with TestClient(app) as http:
        ids = [http.post("/scim/v2/Users", headers=auth, json={
            "schemas": [USER], "userName": f"mover{i}", "title": f"T{i}",
            "emails": [{"value": f"mover{i}@example.com"}], "password": "pw-123456"}
        ).json()["id"] for i in range(4)]
        inner = http.post("/scim/v2/Groups", headers=auth, json={
            "schemas": [GROUP], "displayName": "inner",
            "members": [{"value": ids[0]}, {"value": ids[1]}]}).json()["id"]
        http.delete(f"/scim/v2/Users/{ids[3]}", headers=auth)
        before_users = http.get("/scim/v2/Users", headers=auth).json()
        before_group = http.get(f"/scim/v2/Groups/{inner}", headers=auth).json()
    monkeypatch.setenv("SCIMD_DATABASE_URL", database_url)
    runner = CliRunner()
    runner.invoke(cli, ["user", "set-role", ids[2], "admin", "--tenant", access.tenant.id])
    exported = runner.invoke(cli, ["export", "--tenant", access.tenant.id])
    assert exported.exit_code == 0, exported.output
    dump = json.loads(exported.stdout)
    assert "pw-123456" not in exported.stdout
    path = tmp_path / "dump.json"
    path.write_text(exported.stdout)

    target = f"sqlite:///{tmp_path / 'target.db'}"
    monkeypatch.setenv("SCIMD_DATABASE_URL", target)
    done = runner.invoke(cli, ["import", str(path), "--json"])
    assert done.exit_code == 0, done.output
    assert json.loads(done.stdout) == {"tenant_id": access.tenant.id, "users": 4, "groups": 1}
    again = runner.invoke(cli, ["import", str(path)])
    assert again.exit_code != 0 and "already exists" in again.output
    admin = json.loads(runner.invoke(cli, ["user", "show", ids[2], "--tenant",
                                           access.tenant.id, "--json"]).stdout)
    assert admin["role"] == "admin"

    from scimd.app import create_app
    from scimd.settings import Settings
    from scimd.store import tenants
    from scimd.store.db import connect

    moved = connect(target)
    with moved.write() as conn:
        tenant = tenants.get_tenant(conn, access.tenant.id)
        token = tenants.create_token(conn, tenant.pk)
    try:
        moved_app = create_app(Settings(database_url=target, rate_limits=False,
                                        webhooks=False), moved)
        with TestClient(moved_app) as http:
            auth = {"Authorization": f"Bearer {token}"}
            after_users = http.get("/scim/v2/Users", headers=auth).json()
            after_group = http.get(f"/scim/v2/Groups/{inner}", headers=auth).json()
            duplicate = http.post("/scim/v2/Users", headers=auth, json={
                "schemas": [USER], "userName": "other", "emails": [
                    {"value": "mover3@example.com"}]})
    finally:
        moved.dispose()
    strip = [{k: v for k, v in u.items() if k != "meta"} for u in before_users["Resources"]]
    assert [{k: v for k, v in u.items() if k != "meta"} for u in after_users["Resources"]] == \
        strip
    assert after_group["members"] == before_group["members"]
    assert duplicate.status_code == 409  # emails stay unique, deactivated users included
    assert len(dump["users"]) == 4
