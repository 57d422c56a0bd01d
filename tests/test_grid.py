"""Enterprise Grid (spec §11) and channels (spec §3.2, §13.9), driven through the CLI
and SCIM as an administrator and an identity provider would."""

from __future__ import annotations

import json

import pytest
from starlette.testclient import TestClient
from typer.testing import CliRunner

from scimd.cli import app as cli

USER = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
GUEST = "urn:ietf:params:scim:schemas:extension:slack:guest:2.0:User"


@pytest.fixture
def run(database_url, db, monkeypatch):
    monkeypatch.setenv("SCIMD_DATABASE_URL", database_url)
    runner = CliRunner()

    def invoke(*args: str, ok: bool = True):
        result = runner.invoke(cli, list(args))
        if ok:
            assert result.exit_code == 0, result.output
            return json.loads(result.stdout) if "--json" in args else result
        return result

    return invoke


@pytest.fixture
def org(run, app):
    """An Enterprise Grid organization with two workspaces and an SCIM client."""
    made = run("tenant", "create", "--name", "Grid Co", "--plan", "enterprise", "--json")
    ws = [run("workspace", "create", "--org", made["tenant_id"], "--name", n,
              "--json")["workspace_id"] for n in ("Sales", "Eng")]
    with TestClient(app) as http:
        http.headers["Authorization"] = f"Bearer {made['token']}"
        yield made, ws, http


def _user(http, name):
    r = http.post("/scim/v2/Users", json={"schemas": [USER], "userName": name,
                                          "emails": [{"value": f"{name}@grid.example"}]})
    assert r.status_code == 201, r.text
    return r.json()["id"]


def _members(run, workspace):
    return set(run("workspace", "members", workspace, "--json"))


def _patch_group(http, gid, *ops):
    r = http.patch(f"/scim/v2/Groups/{gid}", json={"schemas": [PATCH], "Operations": list(ops)})
    assert r.status_code == 200, r.text


def test_connected_group_provisions_workspaces(run, org):
    """Spec §11: members of a connected IdP group join the workspace, now and as they join;
    with --required, leaving the group leaves the workspace (unless another connected
    group or a manual assignment keeps them); disconnecting a required group removes the
    members only it brought; deleting a group removes nobody."""
    made, (sales, eng), http = org
    ann, bob, cy = (_user(http, n) for n in ("ann", "bob", "cy"))
    gid = http.post("/scim/v2/Groups", json={"schemas": [GROUP], "displayName": "sellers",
                                             "members": [{"value": ann}]}).json()["id"]
    other = http.post("/scim/v2/Groups", json={"schemas": [GROUP], "displayName": "all",
                                               "members": [{"value": cy}]}).json()["id"]
    run("idp-group", "connect", "--workspace", sales, "--group", gid, "--required")
    run("idp-group", "connect", "--workspace", sales, "--group", other)
    run("idp-group", "connect", "--workspace", eng, "--group", gid)
    assert _members(run, sales) == {ann, cy}
    _patch_group(http, gid, {"op": "add", "path": "members", "value": [{"value": bob},
                                                                       {"value": cy}]})
    assert _members(run, sales) == {ann, bob, cy} and _members(run, eng) == {ann, bob, cy}
    run("workspace", "assign", sales, bob)
    _patch_group(http, gid, {"op": "replace", "path": "members", "value": [{"value": ann}]})
    # required: cy stays through the other group, bob through the manual assignment
    assert _members(run, sales) == {ann, bob, cy}
    assert _members(run, eng) == {ann, bob, cy}  # not required: nobody leaves
    run("idp-group", "disconnect", "--workspace", sales, "--group", gid)
    assert _members(run, sales) == {bob, cy}
    assert http.delete(f"/scim/v2/Groups/{other}").status_code == 204
    assert _members(run, sales) == {bob, cy}
    shown = run("user", "show", bob, "--tenant", made["tenant_id"], "--json")
    assert set(shown["workspaces"]) == {sales, eng}


def test_deactivation_leaves_every_workspace(run, org):
    """Spec §11, §16.26: deactivating a user removes it from the organization's workspaces,
    and the audit keeps which ones."""
    made, (sales, eng), http = org
    uid = _user(http, "leaver")
    run("workspace", "assign", sales, uid)
    run("workspace", "assign", eng, uid)
    assert http.delete(f"/scim/v2/Users/{uid}").status_code == 204
    assert uid not in _members(run, sales) | _members(run, eng)
    shown = run("user", "show", uid, "--tenant", made["tenant_id"], "--json")
    assert shown["workspaces"] == [] and shown["active"] is False


def test_workspace_tokens_are_refused(run, org, app):
    """Spec §1.2, §11: on Grid only a token installed on the organization works."""
    made, (sales, _), _ = org
    admin = run("user", "create", "--tenant", made["tenant_id"], "--user-name", "wsadmin",
                "--email", "wsadmin@grid.example", "--role", "admin", "--json")
    from scimd.store import tenants

    db = app.state.services.db
    with db.write() as conn:
        ws = tenants.get_tenant(conn, sales)
        token = tenants.create_token(conn, ws.pk, label="workspace install")
    with TestClient(app) as http:
        r = http.get("/scim/v1/Users", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 403
    assert r.json() == {"Errors": {"description": "non_org_teams_only", "code": 403}}
    assert admin["role"] == "admin"


def test_usernames_and_channel_names_share_a_namespace(run, org):
    """Spec §3.2, §13.9: no @general if #general exists, and no #ann if @ann exists."""
    made, (sales, _), http = org
    run("channel", "create", "--tenant", sales, "--name", "general")
    r = http.post("/scim/v2/Users", json={"schemas": [USER], "userName": "General",
                                          "emails": [{"value": "general@grid.example"}]})
    assert r.status_code == 409 and r.json()["detail"] == "username_taken"
    uid = _user(http, "annie")
    r = http.patch(f"/scim/v2/Users/{uid}", json={"schemas": [PATCH], "Operations": [
        {"op": "replace", "path": "userName", "value": "general"}]})
    assert r.status_code == 409
    taken = run("channel", "create", "--tenant", made["tenant_id"], "--name", "annie", ok=False)
    assert taken.exit_code != 0 and "username" in taken.output


def test_guest_channels_are_shown(run, org):
    """Spec §3.2, §16.14: a multi-channel guest's channels appear in its guest extension,
    read-only over SCIM."""
    made, (sales, _), http = org
    r = http.post("/scim/v2/Users", json={
        "schemas": [USER, GUEST], "userName": "visitor",
        "emails": [{"value": "visitor@vendor.example"}], GUEST: {"type": "multi"}})
    assert r.status_code == 201, r.text
    uid = r.json()["id"]
    cid = run("channel", "create", "--tenant", sales, "--name", "vendor-project",
              "--json")["channel_id"]
    run("channel", "join", cid, uid, "--tenant", made["tenant_id"])
    doc = http.get(f"/scim/v2/Users/{uid}").json()
    assert doc[GUEST]["channels"] == [{"value": cid, "display": "vendor-project"}]
    r = http.patch(f"/scim/v2/Users/{uid}", json={"schemas": [PATCH], "Operations": [
        {"op": "add", "path": GUEST, "value": {"type": "multi",
                                                "channels": [{"value": "C999"}]}}]})
    assert r.status_code == 200
    assert r.json()[GUEST]["channels"] == [{"value": cid, "display": "vendor-project"}]
