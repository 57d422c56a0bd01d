"""Stored attributes never hold what the server writes itself (``store/stored_form.py``):
``schemas``, ``id``, ``meta`` (RFC 7643 §3, §3.1) or the relation kept as rows, and no key
an attribute cannot have (RFC 7643 §2.1; a URN only at the top, §3.3). Every writer is
held to it: the API, the CLI, ``scimd import``, and migration 0008 for rows written
before."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import StatementError
from starlette.testclient import TestClient
from typer.testing import CliRunner

from conftest import make_tenant
from scimd import transfer
from scimd.cli import app as cli
from scimd.store import migrate
from scimd.store import tables as t
from scimd.store import users as user_store
from scimd.store.common import new_id
from scimd.store.db import connect
from scimd.store.stored_form import stored_form

USER_URN = "urn:ietf:params:scim:schemas:core:2.0:User"
ENT = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"


def test_the_server_keys_and_the_relation_are_dropped():
    attrs = {"schemas": [], "id": "x", "meta": {}, "groups": [], "members": [{"value": "U1"}],
             "userName": "u", ENT: {"department": "D"}}
    assert stored_form(attrs, "groups") == {"members": [{"value": "U1"}], "userName": "u",
                                            ENT: {"department": "D"}}
    assert stored_form(attrs, "members") == {"groups": [], "userName": "u",
                                             ENT: {"department": "D"}}
    clean = {"userName": "u", "name": {"givenName": "G"}}
    assert stored_form(clean, "groups") is clean  # nothing to drop: no copy


@pytest.mark.parametrize("attrs", [
    {'user"Name': "u"},
    {"name": {ENT: {"department": "D"}}},
    {"emails": [{"value": "a@b.c", 'ty"pe': "work"}]},
    {ENT: {"manager": {"x:y": 1}}},
])
def test_a_key_no_attribute_can_have_is_refused(attrs):
    with pytest.raises(ValueError, match="not an attribute name"):
        stored_form(attrs, "groups")


def test_every_write_through_the_store_is_held_to_it(db):
    """The column type applies the rule to writers that skip ``canonical_body``."""
    access = make_tenant(db)
    with db.write() as conn:
        rec = user_store.insert_user(conn, access.tenant.pk, new_id("U"),
                                     {"schemas": [], "id": "forged", "userName": "direct"},
                                     password_hash=None, unique_emails=False)
    with db.read() as conn:
        stored = conn.execute(select(t.users.c.attrs).where(t.users.c.pk == rec.pk)).scalar()
    assert stored == {"userName": "direct"}
    with pytest.raises(StatementError, match="not an attribute name"), db.write() as conn:
        user_store.insert_user(conn, access.tenant.pk, new_id("U"),
                               {"userName": "bad", "name": {"a:b": 1}},
                               password_hash=None, unique_emails=False)


def test_bodies_cannot_smuggle_such_keys_in(rfc):
    """RFC 7644 §3.3, §3.5.1, §3.5.2: whatever a client sends, the stored form holds."""
    body = {"schemas": [USER_URN], "id": "forged", "meta": {"version": "x"}, "groups": [],
            "userName": "smuggler", "name": {"givenName": "S", ENT: {"department": "D"},
                                             "a:b": 1}}
    made = rfc.post("/Users", body)
    assert made.status_code == 201, made.text
    doc = made.json()
    assert doc["id"] != "forged" and doc["schemas"] == [USER_URN]
    assert doc["name"] == {"givenName": "S"}
    uid = doc["id"]
    replaced = rfc.put(f"/Users/{uid}", {**body, "id": uid})
    assert replaced.status_code == 200 and replaced.json()["name"] == {"givenName": "S"}
    patched = rfc.patch(f"/Users/{uid}", {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [
            {"op": "add", "value": {"name": {"familyName": "F", "c:d": 2}, "schemas": []}}]})
    assert patched.status_code in (200, 400), patched.text
    got = rfc.get(f"/Users/{uid}").json()
    assert got["schemas"] == [USER_URN] and "c:d" not in got["name"]


def test_the_primary_owner_of_a_new_tenant_has_its_schemas(database_url, app, monkeypatch):
    """``scimd tenant create`` stored ``"schemas": []`` with the owner, which answered
    an empty ``schemas`` (RFC 7643 §3) and, in a list, the key twice."""
    monkeypatch.setenv("SCIMD_DATABASE_URL", database_url)
    made = json.loads(CliRunner().invoke(cli, ["tenant", "create", "--name", "Owned",
                                               "--dialect", "rfc", "--json"]).stdout)
    with TestClient(app) as http:
        http.headers["Authorization"] = f"Bearer {made['token']}"
        owner = http.get(f"/scim/v2/Users/{made['owner_user_id']}")
        listed = http.get("/scim/v2/Users")

    def unique(pairs: list) -> dict:
        keys = [k for k, _ in pairs]
        assert len(keys) == len(set(keys)), keys
        return dict(pairs)

    assert owner.json()["schemas"] == [USER_URN]
    assert json.loads(listed.content, object_pairs_hook=unique)["Resources"] == [owner.json()]


def test_an_import_is_stored_in_the_stored_form(db, tmp_path):
    """A dump's server keys are dropped; a key no attribute can have refuses it whole."""
    access = make_tenant(db)
    dump = transfer.export(db, access.tenant)
    dump["tenant"]["id"] = "T" + access.tenant.id[1:][::-1]
    dump["users"] = [{"id": new_id("U"), "attrs": {"schemas": [], "userName": "imported"},
                      "active": True, "role": "member", "is_bot": False, "erased": False,
                      "password_hash": None, "created_at": "2026-11-27T00:00:00Z",
                      "modified_at": "2026-11-27T00:00:00Z", "version": 1}]
    bad = json.loads(json.dumps(dump))
    bad["users"][0]["attrs"]["name"] = {ENT: {}}
    bad["tenant"]["id"] = dump["tenant"]["id"] + "X"
    with pytest.raises(ValueError, match="not an attribute name"):
        transfer.import_dump(db, bad)
    tenant = transfer.import_dump(db, dump)
    with db.read() as conn:
        stored = conn.execute(select(t.users.c.attrs).where(
            t.users.c.tenant_pk == tenant.pk)).scalar_one()
        assert conn.execute(select(t.tenants.c.pk).where(
            t.tenants.c.id == bad["tenant"]["id"])).first() is None
    assert stored == {"userName": "imported"}


def test_migration_0008_removes_such_keys_from_rows_written_before(empty_database_url):
    """Rows written before keep their other attributes; only changed rows move on a
    version (RFC 7644 §3.14)."""
    db = connect(empty_database_url, pool_size=1)
    try:
        migrate.upgrade(db, "0007")
        access = make_tenant(db)
        rows = {"owner": {"schemas": [], "userName": "owner", "id": "x"},
                "plain": {"userName": "plain", "title": '"schemas": in a value'}}
        with db.write() as conn:
            for name, attrs in rows.items():
                conn.execute(text(
                    "INSERT INTO users (id, tenant_pk, user_name, user_name_lower, attrs,"
                    " created_at, modified_at, version, active, role, is_bot, erased)"
                    " VALUES (:id, :tenant, :name, :name, :attrs, '2026-11-27T00:00:00Z',"
                    " '2026-11-27T00:00:00Z', 3, true, 'member', false, false)"),
                    {"id": new_id("U"), "tenant": access.tenant.pk, "name": name,
                     "attrs": json.dumps(attrs)})
            conn.execute(text(
                "INSERT INTO groups (id, tenant_pk, display_name, display_name_lower, attrs,"
                " created_at, modified_at, version) VALUES ('S1', :tenant, 'g', 'g', :attrs,"
                " '2026-11-27T00:00:00Z', '2026-11-27T00:00:00Z', 1)"),
                {"tenant": access.tenant.pk,
                 "attrs": json.dumps({"displayName": "g", "members": [], "meta": {}})})
        migrate.upgrade(db)
        with db.read() as conn:
            users = {r.user_name: (r.attrs, r.version) for r in conn.execute(
                select(t.users.c.user_name, t.users.c.attrs, t.users.c.version))}
            group = conn.execute(select(t.groups.c.attrs, t.groups.c.version)).one()
        assert users == {"owner": ({"userName": "owner"}, 4), "plain": (rows["plain"], 3)}
        assert tuple(group) == ({"displayName": "g"}, 2)
    finally:
        db.dispose()
