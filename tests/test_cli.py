"""The ``scimd`` command line (docs/cli.md) against real databases.

Tenants, tokens and roles are managed from the CLI (spec §1.2, §12); a token it
prints works over HTTP at once, and roles it sets are the ones SCIM enforces.
"""

from __future__ import annotations

import json

import pytest
from starlette.testclient import TestClient
from typer.testing import CliRunner

from scimd.cli import app as cli

runner = CliRunner()


@pytest.fixture
def run(database_url, db, monkeypatch):
    """Run a ``scimd`` command against the test database; JSON output is parsed."""
    monkeypatch.setenv("SCIMD_DATABASE_URL", database_url)

    def invoke(*args: str, ok: bool = True):
        result = runner.invoke(cli, list(args))
        if ok:
            assert result.exit_code == 0, result.output
        if "--json" in args and result.exit_code == 0:
            return json.loads(result.stdout)
        return result

    return invoke


def test_tenant_create_prints_a_working_token(run, app):
    """``tenant create`` makes the tenant and its primary owner and prints a token once."""
    made = run("tenant", "create", "--name", "Acme Corp", "--plan", "business_plus", "--json")
    assert made["tenant_id"].startswith("T") and made["owner_user_id"].startswith("U")
    assert made["token"].startswith("xoxp-")
    with TestClient(app) as http:
        r = http.get(f"/scim/v2/Users/{made['owner_user_id']}",
                     headers={"Authorization": f"Bearer {made['token']}"})
    assert r.status_code == 200
    assert r.json()["userName"] == "primary.owner"
    shown = run("tenant", "show", made["tenant_id"], "--json")
    assert shown["plan"] == "business_plus" and shown["dialect"] == "slack"
    assert "token" not in json.dumps(shown["tokens"]).replace('"tokens"', "")
    listed = run("tenant", "list", "--json")
    assert made["tenant_id"] in {t["tenant_id"] for t in listed}


def test_enterprise_tenant_ids(run):
    """Spec §0: Grid organizations are ``E…`` with ``W…`` users."""
    made = run("tenant", "create", "--name", "Grid Org", "--plan", "enterprise", "--json")
    assert made["tenant_id"].startswith("E") and made["owner_user_id"].startswith("W")


def test_bad_options_fail_clearly(run):
    result = run("tenant", "create", "--name", "X", "--plan", "platinum", ok=False)
    assert result.exit_code != 0 and "--plan must be one of" in result.output
    result = run("user", "set-role", "W000", "admin", "--tenant", "nope", ok=False)
    assert result.exit_code != 0 and "no tenant nope" in result.output


def test_roles_bots_and_erasure_are_enforced_over_scim(run, app):
    """Spec §12, §13.14: the primary owner and bots cannot be deactivated; erased users are
    immutable; a token stops working when its user is no longer an admin or owner."""
    made = run("tenant", "create", "--name", "Roles Inc", "--plan", "enterprise", "--json")
    tenant, token = made["tenant_id"], made["token"]
    auth = {"Authorization": f"Bearer {token}"}
    bot = run("user", "create", "--tenant", tenant, "--user-name", "deploybot",
              "--email", "bot@roles.example", "--bot", "--json")
    person = run("user", "create", "--tenant", tenant, "--user-name", "pat",
                 "--email", "pat@roles.example", "--role", "admin", "--json")
    with TestClient(app) as http:
        r = http.delete(f"/scim/v2/Users/{made['owner_user_id']}", headers=auth)
        assert r.status_code == 403 and r.json()["detail"] == "cannot_disable_primary_owner"
        r = http.delete(f"/scim/v2/Users/{bot['user_id']}", headers=auth)
        assert r.status_code == 403
        assert r.json()["detail"] == "cannot_disable_bot_user_with_scim"

        admin_token = run("token", "create", "--tenant", tenant, "--user", person["user_id"],
                          "--json")["token"]
        admin_auth = {"Authorization": f"Bearer {admin_token}"}
        assert http.get("/scim/v2/Users", headers=admin_auth).status_code == 200
        run("user", "set-role", person["user_id"], "member", "--tenant", tenant)
        r = http.get("/scim/v2/Users", headers=admin_auth)
        assert r.status_code == 401  # spec §16.4: no longer an admin

        run("user", "erase", person["user_id"], "--tenant", tenant)
        r = http.patch(f"/scim/v2/Users/{person['user_id']}", headers=auth, json={
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "replace", "path": "title", "value": "x"}]})
        assert r.status_code == 403 and r.json()["detail"] == "cannot_modify_gdpr"
        shown = run("user", "show", person["user_id"], "--tenant", tenant, "--json")
        assert shown["erased"] is True
        assert "pat@roles.example" not in json.dumps(shown)


def test_token_revoke(run, app):
    made = run("tenant", "create", "--name", "Revokers", "--json")
    tokens = run("token", "list", "--tenant", made["tenant_id"], "--json")
    assert len(tokens) == 1 and tokens[0]["user_id"] == made["owner_user_id"]
    run("token", "revoke", tokens[0]["id"])
    with TestClient(app) as http:
        r = http.get("/scim/v2/Users", headers={"Authorization": f"Bearer {made['token']}"})
    assert r.status_code == 401
    assert run("token", "revoke", tokens[0]["id"], ok=False).exit_code != 0


def test_change_email_frees_an_address(run, app):
    """Spec §13.2: an email held by a deactivated user is freed by an admin changing it."""
    made = run("tenant", "create", "--name", "Freers", "--json")
    auth = {"Authorization": f"Bearer {made['token']}"}
    body = {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "leaver",
            "emails": [{"value": "seat@freers.example", "primary": True}]}
    with TestClient(app) as http:
        leaver = http.post("/scim/v2/Users", json=body, headers=auth).json()
        assert http.delete(f"/scim/v2/Users/{leaver['id']}", headers=auth).status_code == 204
        again = {**body, "userName": "joiner"}
        r = http.post("/scim/v2/Users", json=again, headers=auth)
        assert r.status_code == 409 and r.json()["detail"] == "email_taken"
        run("user", "change-email", leaver["id"], "old-seat@freers.example",
            "--tenant", made["tenant_id"])
        assert http.post("/scim/v2/Users", json=again, headers=auth).status_code == 201


def test_cli_changes_are_audited(run):
    """Issue "Safe provisioning": every change made through the CLI is in the audit log."""
    made = run("tenant", "create", "--name", "Audited CLI", "--json")
    tenant = made["tenant_id"]
    person = run("user", "create", "--tenant", tenant, "--user-name", "pat2",
                 "--email", "pat2@cli.example", "--json")
    run("user", "set-role", person["user_id"], "admin", "--tenant", tenant)
    token = run("token", "create", "--tenant", tenant, "--user", person["user_id"], "--json")
    listed = run("token", "list", "--tenant", tenant, "--json")
    run("token", "revoke", next(t["id"] for t in listed if t["user_id"] == person["user_id"]))
    run("user", "erase", person["user_id"], "--tenant", tenant)
    result = runner.invoke(cli, ["audit", "--tenant", tenant, "--json"])
    actions = [json.loads(line)["action"] for line in result.stdout.splitlines()]
    assert actions == ["user_created", "tenant_created", "user_created", "user_role_changed",
                       "token_created", "token_revoked", "user_erased"]
    assert token["token"] not in result.stdout


def test_audit_follow_prints_new_events_as_they_happen(run, database_url):
    """``scimd audit --follow`` (docs/cli.md) prints what is there, then each new event as
    it is committed, until it is stopped: here a change made by another process."""
    import os
    import queue
    import subprocess
    import threading

    from live import scimd_command

    made = run("tenant", "create", "--name", "Followed", "--json")
    tenant = made["tenant_id"]
    env = {**os.environ, "SCIMD_DATABASE_URL": database_url}
    follower = subprocess.Popen([*scimd_command(), "audit", "--tenant", tenant, "--follow",
                                 "--json"], env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
    lines: queue.Queue[str] = queue.Queue()
    reader = threading.Thread(target=lambda: [lines.put(x) for x in follower.stdout],
                              daemon=True)
    reader.start()

    def next_action() -> str:
        try:
            return json.loads(lines.get(timeout=30))["action"]
        except queue.Empty:
            follower.kill()
            raise AssertionError(f"no event within 30 s: {follower.stderr.read()}") from None

    try:
        assert [next_action(), next_action()] == ["user_created", "tenant_created"]
        person = run("user", "create", "--tenant", tenant, "--user-name", "followed.pat",
                     "--email", "pat@followed.example", "--json")
        assert next_action() == "user_created"
        run("user", "set-role", person["user_id"], "admin", "--tenant", tenant)
        assert next_action() == "user_role_changed"
        assert follower.poll() is None  # still following
    finally:
        follower.terminate()
        follower.wait(timeout=30)
    assert lines.empty()  # nothing printed twice
