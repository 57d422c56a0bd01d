"""Stored attributes never hold what the server writes itself (``store/stored_form.py``):
``schemas``, ``id``, ``meta`` (RFC 7643 §3, §3.1) or the relation kept as rows, and no key
an attribute cannot have (RFC 7643 §2.1; a URN only at the top, §3.3). Every writer is
held to it: the API, the CLI, ``scimd import``, and migration 0008 for rows written
before."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select, text
from starlette.testclient import TestClient
from typer.testing import CliRunner

from conftest import make_tenant
from scimd import transfer
from scimd.cli import app as cli
from scimd.directory.users import Users
from scimd.store import audit, migrate
from scimd.store import groups as group_store
from scimd.store import tables as t
from scimd.store import users as user_store
from scimd.store.common import new_id
from scimd.store.db import connect
from scimd.store.stored_form import StoredAttributes, stored_form

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


@pytest.mark.parametrize(("attrs", "kept"), [
    ({'user"Name': "u", "userName": "v"}, {"userName": "v"}),
    ({"name": {ENT: {"department": "D"}, "givenName": "G"}}, {"name": {"givenName": "G"}}),
    ({"emails": [{"value": "a@b.c", 'ty"pe': "work"}]}, {"emails": [{"value": "a@b.c"}]}),
    ({ENT: {"manager": {"x:y": 1, "value": "U1"}}}, {ENT: {"manager": {"value": "U1"}}}),
    ({"userName": "u", "name": {"a:b": 1}, "emails": [{'q"': 1}], ENT: {"m": {"c:d": 2}},
      "nickName": {}}, {"userName": "u", "nickName": {}}),  # emptied by cleaning: gone
])
def test_a_key_no_attribute_can_have_is_dropped_or_refused(attrs, kept):
    """Writers drop such keys, as ``canonical_body`` drops unknown ones, and an object
    left empty with them (RFC 7643 §2.5: empty is unassigned); an import is refused
    instead, so that the operator learns of them (docs/cli.md)."""
    assert stored_form(attrs, "groups") == kept
    with pytest.raises(ValueError, match="not an attribute name"):
        stored_form(attrs, "groups", strict=True)


def test_the_server_keys_are_dropped_in_any_case_even_when_strict():
    attrs = {"Schemas": [], "ID": "x", "Meta": {}, "Groups": [], "a:b": 1}
    assert stored_form(attrs, "groups") == {"a:b": 1}  # a colon is fine at the top
    assert stored_form(attrs, "groups", strict=True) == {"a:b": 1}


def test_comparisons_with_the_column_are_plain_json():
    """A value compared with ``attrs`` is no resource's attributes: nothing is dropped."""
    compared = t.users.c.attrs == {"id": 1, "schemas": []}
    assert not isinstance(compared.right.type, StoredAttributes)
    assert compared.compile().params == {"attrs_1": {"id": 1, "schemas": []}}


def test_the_audit_log_records_what_was_stored(db):
    access = make_tenant(db)
    made = Users(db).create(access.tenant, {"userName": "audited", "schemas": [], "ID": "x"})
    assert "schemas" not in made.attrs and "ID" not in made.attrs
    with db.read() as conn:
        (event,) = audit.events(conn, access.tenant.pk, resource_id=made.id)
    assert event["data"]["after"] == made.attrs


def test_every_write_through_the_store_is_held_to_it(db):
    """Writers that skip ``canonical_body`` are held to it by the store, and the records
    they return hold what was stored."""
    access = make_tenant(db)
    pk = access.tenant.pk
    with db.write() as conn:
        made = user_store.insert_user(conn, pk, new_id("U"), {
            "schemas": [], "id": "forged", "userName": "direct", "name": {"a:b": 1}},
            password_hash=None, unique_emails=False)
        changed = user_store.update_user(conn, pk, made, {
            "userName": "direct", "meta": {}, "groups": [{"value": "S1"}], "title": "T"},
            password_hash=None, unique_emails=False)
        group = group_store.insert_group(conn, pk, new_id("S"), {
            "displayName": "g", "members": [{"value": made.id}], "schemas": []})
        renamed = group_store.update_group(conn, group, {"displayName": "h", "Id": "x"})
    assert made.attrs == {"userName": "direct"}
    assert changed.attrs == {"userName": "direct", "title": "T"}
    assert group.attrs == {"displayName": "g"} and renamed.attrs == {"displayName": "h"}
    with db.read() as conn:
        assert conn.execute(select(t.users.c.attrs).where(
            t.users.c.pk == made.pk)).scalar() == changed.attrs
        assert conn.execute(select(t.groups.c.attrs).where(
            t.groups.c.pk == group.pk)).scalar() == renamed.attrs
    with db.write() as conn:  # past the store's writers, the column type holds it
        conn.execute(t.users.update().where(t.users.c.pk == made.pk).values(
            attrs={"userName": "direct", "schemas": [], 'q"': 1}))
    with db.read() as conn:
        assert conn.execute(select(t.users.c.attrs).where(
            t.users.c.pk == made.pk)).scalar() == {"userName": "direct"}


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
    assert patched.status_code == 200, patched.text
    got = rfc.get(f"/Users/{uid}").json()
    assert got == patched.json()
    assert got["schemas"] == [USER_URN] and got["name"] == {"givenName": "S", "familyName": "F"}


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


def test_migration_0008_cleans_the_rows_written_before(empty_database_url):
    """Rows written before lose the server's keys and keys no attribute has, and keep the
    rest, a ``schemas`` inside an extension included; only changed rows move on a version
    and ``lastModified`` (RFC 7644 §3.14)."""
    db = connect(empty_database_url, pool_size=1)
    postgres = db.engine.dialect.name == "postgresql"
    attrs_param = "CAST(:attrs AS jsonb)" if postgres else ":attrs"
    old = "2026-01-01T00:00:00.000000Z"
    users = {
        "owner": {"schemas": [], "userName": "owner", "id": "x"},
        "member": {"userName": "member", "Groups": [{"value": "S1"}]},
        "imported": {"userName": "imported", "name": {"givenName": "I", ENT: {"a": 1}},
                     'q"': 1, ENT: {"department": "D"}, "emails": [{"x:y": 1}]},
        "plain": {"userName": "plain", "title": '"schemas": in a value',
                  ENT: {"schemas": ["kept: not the server's"]}},
    }
    try:
        migrate.upgrade(db, "0007")
        access = make_tenant(db)
        insert = text(
            "INSERT INTO users (id, tenant_pk, user_name, user_name_lower, attrs,"
            f" created_at, modified_at, version, active, role, is_bot, erased)"
            f" VALUES (:id, :tenant, :name, :name, {attrs_param}, :old, :old, 3, true,"
            " 'member', false, false)")
        with db.write() as conn:  # more rows than one batch of the migration, first
            conn.execute(insert, [
                {"id": new_id("U"), "tenant": access.tenant.pk, "name": f"filler{i}",
                 "attrs": json.dumps({"userName": f"filler{i}"}), "old": old}
                for i in range(1100)])
            for name, attrs in users.items():
                conn.execute(insert, {"id": new_id("U"), "tenant": access.tenant.pk,
                                      "name": name, "attrs": json.dumps(attrs), "old": old})
            conn.execute(text(
                "INSERT INTO groups (id, tenant_pk, display_name, display_name_lower, attrs,"
                f" created_at, modified_at, version) VALUES ('S1', :tenant, 'g', 'g',"
                f" {attrs_param}, :old, :old, 1)"),
                {"tenant": access.tenant.pk, "old": old,
                 "attrs": json.dumps({"displayName": "g", "members": [], "meta": {}})})
        migrate.upgrade(db)
        with db.read() as conn:
            found = {r.user_name: (r.attrs, r.version, r.modified_at > old) for r in conn.execute(
                select(t.users.c.user_name, t.users.c.attrs, t.users.c.version,
                       t.users.c.modified_at))}
            group = conn.execute(select(t.groups.c.attrs, t.groups.c.version,
                                        t.groups.c.modified_at > old)).one()
        fillers = [found.pop(f"filler{i}") for i in range(1100)]
        assert all(f == ({"userName": f"filler{i}"}, 3, False) for i, f in enumerate(fillers))
        assert found == {
            "owner": ({"userName": "owner"}, 4, True),
            "member": ({"userName": "member"}, 4, True),
            "imported": ({"userName": "imported", "name": {"givenName": "I"},
                          ENT: {"department": "D"}}, 4, True),
            "plain": (users["plain"], 3, False),
        }
        assert tuple(group) == ({"displayName": "g"}, 2, True)
    finally:
        db.dispose()
