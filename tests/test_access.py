"""Access rules: IP allowlists (spec §1.3, §16.3), trusted proxies, and what an admin's
token may touch (spec §1.2, §12)."""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient

from scimd.app import create_app
from scimd.auth.addresses import AllowlistError, client_address, normalize_allowlist
from scimd.auth.addresses import parse_networks as nets
from scimd.directory.users import Users
from scimd.settings import Settings
from scimd.store import tenants
from scimd.store import users as user_store


def test_allowlist_rules():
    """Spec §1.3: up to 10 IPv4 entries, a bare address is a /32, IPv6 and (by default)
    private ranges refused."""
    assert normalize_allowlist(["101.101.101.7", "8.8.8.0/24"], allow_private=False) == [
        "101.101.101.7/32", "8.8.8.0/24"]
    with pytest.raises(AllowlistError, match="IPv6"):
        normalize_allowlist(["2001:db8::1"], allow_private=False)
    with pytest.raises(AllowlistError, match="private"):
        normalize_allowlist(["10.0.0.0/8"], allow_private=False)
    assert normalize_allowlist(["10.0.0.0/8"], allow_private=True) == ["10.0.0.0/8"]
    with pytest.raises(AllowlistError, match="at most 10"):
        normalize_allowlist([f"8.8.8.{i}" for i in range(11)], allow_private=False)
    with pytest.raises(AllowlistError, match="not an IPv4"):
        normalize_allowlist(["nope"], allow_private=False)


def test_client_address_trusts_only_configured_proxies():
    """DESIGN.md: X-Forwarded-For counts only when the peer is a trusted proxy, and then the
    right-most hop that is not a proxy is the client; a spoofed header is ignored."""
    proxies = nets(["10.0.0.0/8"])
    assert client_address("203.0.113.9", "1.2.3.4", proxies) == "203.0.113.9"
    assert client_address("10.0.0.2", "1.2.3.4", proxies) == "1.2.3.4"
    assert client_address("10.0.0.2", "6.6.6.6, 1.2.3.4, 10.0.0.7", proxies) == "1.2.3.4"
    assert client_address("10.0.0.2", None, proxies) == "10.0.0.2"


@pytest.fixture
def proxied(db, database_url):
    """An app that trusts 10.0.0.0/8 as proxies."""
    settings = Settings(database_url=database_url, default_dialect="slack",
                        trusted_proxies=("10.0.0.0/8",))
    return create_app(settings, db)


def _new_user(db, tenant, name, role="member"):
    return Users(db).create(tenant, {"userName": name, "emails": [
        {"value": f"{name}@acl.example", "primary": True}]}, role=role)


def _tenant(db):
    with db.write() as conn:
        return tenants.create_tenant(conn, name="acl", plan="enterprise", dialect="slack")


def test_allowlisted_token_only_from_listed_addresses(db, proxied):
    """Spec §1.3, §16.3: a request from outside the list is 401 invalid_authentication; the
    address comes from the socket, or from X-Forwarded-For set by a trusted proxy."""
    tenant = _tenant(db)
    owner = _new_user(db, tenant, "boss", role="owner")
    with db.write() as conn:
        token = tenants.create_token(conn, tenant.pk, user_pk=owner.pk,
                                     allow_ips=["203.0.113.0/24"])
    auth = {"Authorization": f"Bearer {token}"}
    with TestClient(proxied, client=("198.51.100.4", 5000)) as outside:
        r = outside.get("/scim/v2/Users", headers=auth)
        assert r.status_code == 401
        assert r.json() == {"Errors": {"description": "invalid_authentication", "code": 401}}
        spoofed = outside.get("/scim/v2/Users",
                              headers={**auth, "X-Forwarded-For": "203.0.113.5"})
        assert spoofed.status_code == 401  # the peer is no proxy: the header is ignored
    with TestClient(proxied, client=("203.0.113.77", 5000)) as inside:
        assert inside.get("/scim/v2/Users", headers=auth).status_code == 200
        assert inside.get("/scim/v1/Users", headers=auth).status_code == 200
    with TestClient(proxied, client=("10.1.2.3", 5000)) as proxy:
        ok = proxy.get("/scim/v2/Users", headers={**auth, "X-Forwarded-For": "203.0.113.5"})
        assert ok.status_code == 200
        bad = proxy.get("/scim/v2/Users", headers={**auth, "X-Forwarded-For": "198.51.100.1"})
        assert bad.status_code == 401


def test_admin_token_cannot_modify_owners(db, proxied):
    """Spec §1.2, §12: an admin's token acts on admins and members, not on owners."""
    tenant = _tenant(db)
    admin = _new_user(db, tenant, "anadmin", role="admin")
    owner = _new_user(db, tenant, "anowner", role="owner")
    member = _new_user(db, tenant, "amember")
    with db.write() as conn:
        admin_token = tenants.create_token(conn, tenant.pk, user_pk=admin.pk)
    auth = {"Authorization": f"Bearer {admin_token}"}
    patch = {"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
             "Operations": [{"op": "replace", "path": "title", "value": "Boss"}]}
    with TestClient(proxied) as http:
        r = http.patch(f"/scim/v2/Users/{owner.id}", json=patch, headers=auth)
        assert r.status_code == 403 and r.json()["detail"] == "cannot_modify_owner"
        r = http.delete(f"/scim/v1/Users/{owner.id}", headers=auth)
        assert r.json() == {"Errors": {"description": "cannot_modify_owner", "code": 403}}
        assert http.patch(f"/scim/v2/Users/{member.id}", json=patch,
                          headers=auth).status_code == 200
        assert http.get(f"/scim/v2/Users/{owner.id}", headers=auth).status_code == 200
    with db.read() as conn:
        assert user_store.get(conn, tenant.pk, owner.id).active is True


def test_cli_allowlist(database_url, db, monkeypatch):
    """``scimd token create --allow-ip`` and ``token allow-ip`` (spec §1.3)."""
    import json

    from typer.testing import CliRunner

    from scimd.cli import app as cli

    monkeypatch.setenv("SCIMD_DATABASE_URL", database_url)
    runner = CliRunner()
    made = json.loads(runner.invoke(cli, ["tenant", "create", "--name", "ips", "--json"]).stdout)
    result = runner.invoke(cli, ["token", "create", "--tenant", made["tenant_id"], "--user",
                                 made["owner_user_id"], "--allow-ip", "8.8.8.8", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["allow_ips"] == ["8.8.8.8/32"]
    bad = runner.invoke(cli, ["token", "create", "--tenant", made["tenant_id"], "--user",
                              made["owner_user_id"], "--allow-ip", "192.168.1.0/24"])
    assert bad.exit_code != 0 and "private" in bad.output
    tokens = json.loads(runner.invoke(cli, ["token", "list", "--tenant", made["tenant_id"],
                                            "--json"]).stdout)
    restricted = next(t for t in tokens if t["allow_ips"])
    cleared = runner.invoke(cli, ["token", "allow-ip", restricted["id"], "--clear", "--json"])
    assert cleared.exit_code == 0 and json.loads(cleared.stdout)["allow_ips"] == []
