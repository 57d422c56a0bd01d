"""HTTP-level tests of ``/scim/v2/Users`` in the strict ``rfc`` dialect.

Every test names the section of RFC 7643 (schema) or RFC 7644 (protocol) it
covers. Bad input must get the documented 4xx with the right ``scimType`` (RFC
7644 §3.12), never a 500, and never a partial write: each failing request is
followed by a re-read that shows the resource (or the collection) unchanged.
Every test runs on SQLite and on PostgreSQL (see ``conftest.py``).
"""

from __future__ import annotations

import asyncio
import json
from datetime import datetime

import pytest
from sqlalchemy import select

from scim_assert import assert_error, patch_op
from scimd.directory.passwords import verify_password
from scimd.store import tables as t

USER_URN = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP_URN = "urn:ietf:params:scim:schemas:core:2.0:Group"
ENTERPRISE_URN = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
PATCH_URN = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
ERROR_URN = "urn:ietf:params:scim:api:messages:2.0:Error"


# -- helpers -------------------------------------------------------------------------------------






def get_user(client, user_id: str) -> dict:
    r = client.get(f"/Users/{user_id}")
    assert r.status_code == 200, r.text
    return r.json()


def user_count(client) -> int:
    r = client.get("/Users")
    assert r.status_code == 200, r.text
    return r.json()["totalResults"]


def password_hash(db, user_id: str) -> str | None:
    """The stored hash of the write-only password (it cannot be read over SCIM)."""
    with db.read() as conn:
        return conn.execute(
            select(t.users.c.password_hash).where(t.users.c.id == user_id)).scalar_one()


def parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def full_user(manager_id: str) -> dict:
    """Every writable attribute of the core User schema and the enterprise extension."""
    return {
        "schemas": [USER_URN, ENTERPRISE_URN],
        "externalId": "ext-701984",
        "userName": "bjensen@example.com",
        "name": {
            "formatted": "Ms. Barbara J Jensen, III",
            "familyName": "Jensen",
            "givenName": "Barbara",
            "middleName": "Jane",
            "honorificPrefix": "Ms.",
            "honorificSuffix": "III",
        },
        "displayName": "Babs Jensen",
        "nickName": "Babs",
        "profileUrl": "https://login.example.com/bjensen",
        "title": "Tour Guide",
        "userType": "Employee",
        "preferredLanguage": "en-US",
        "locale": "en-US",
        "timezone": "America/Los_Angeles",
        "active": True,
        "emails": [
            {"value": "bjensen@example.com", "type": "work", "primary": True,
             "display": "Work mail"},
            {"value": "babs@jensen.org", "type": "home"},
        ],
        "phoneNumbers": [
            {"value": "tel:+1-555-555-5555", "type": "work", "primary": True},
            {"value": "tel:+1-555-555-4444", "type": "mobile"},
        ],
        "ims": [{"value": "someaimhandle", "type": "aim"}],
        "photos": [
            {"value": "https://photos.example.com/profilephoto/72930000000Ccne/F",
             "type": "photo"},
        ],
        "addresses": [
            {"type": "work", "streetAddress": "100 Universal City Plaza",
             "locality": "Hollywood", "region": "CA", "postalCode": "91608",
             "country": "US", "formatted": "100 Universal City Plaza\nHollywood, CA 91608 US",
             "primary": True},
            {"type": "home", "streetAddress": "456 Hollywood Blvd", "locality": "Hollywood",
             "region": "CA", "postalCode": "91608", "country": "US"},
        ],
        "entitlements": [{"value": "Premium", "type": "license", "primary": True}],
        "roles": [{"value": "Tour Guide", "display": "Guide", "primary": False}],
        "x509Certificates": [{"value": "MIIDQzCCAqygAwIBAgICEAAwDQYJKoZIhvcNAQEFBQAw"}],
        ENTERPRISE_URN: {
            "employeeNumber": "701984",
            "costCenter": "4130",
            "organization": "Universal Studios",
            "division": "Theme Park",
            "department": "Tour Operations",
            "manager": {"value": manager_id},
        },
    }


# -- create (RFC 7644 §3.3) ------------------------------------------------------------------------


def test_post_user_answers_201_with_location_etag_and_meta(rfc):
    """RFC 7644 §3.3: 201 Created, Location of the new resource; RFC 7644 §3.14: ETag;
    RFC 7643 §3.1: meta.resourceType, created, lastModified, location, version."""
    r = rfc.post("/Users", {"schemas": [USER_URN], "userName": "alice"})
    assert r.status_code == 201, r.text
    assert r.headers["content-type"].startswith("application/scim+json")
    doc = r.json()
    assert doc["schemas"] == [USER_URN]
    assert doc["userName"] == "alice"
    assert isinstance(doc["id"], str) and doc["id"]
    meta = doc["meta"]
    assert meta["resourceType"] == "User"
    assert meta["location"].endswith(f"/scim/v2/Users/{doc['id']}")
    assert r.headers["Location"] == meta["location"]
    assert meta["version"] == 'W/"1"'
    assert r.headers["ETag"] == meta["version"]
    assert parse_time(meta["created"]) == parse_time(meta["lastModified"])
    # read back (RFC 7644 §3.4.1) gives the same resource and ETag
    again = rfc.get(f"/Users/{doc['id']}")
    assert again.status_code == 200
    assert again.headers["ETag"] == 'W/"1"'
    assert again.json() == doc


async def _get_without_host(app, path: str, token: str, scheme: str,
                            server: tuple[str, int]) -> dict:
    """An HTTP/1.0 request, which may come without a ``Host`` header (RFC 9112 §3.2)."""
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.0",
             "method": "GET", "scheme": scheme, "path": path, "raw_path": path.encode(),
             "query_string": b"", "root_path": "", "client": ("127.0.0.1", 50000),
             "server": server, "headers": [(b"authorization", f"Bearer {token}".encode())]}
    body = bytearray()

    async def receive() -> dict:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict) -> None:
        if message["type"] == "http.response.start":
            assert message["status"] == 200, message
        elif message["type"] == "http.response.body":
            body.extend(message.get("body", b""))

    await app(scope, receive, send)
    return json.loads(body)


@pytest.mark.parametrize(("scheme", "server", "base"), [
    ("http", ("10.1.2.3", 8000), "http://10.1.2.3:8000"),
    ("https", ("10.1.2.3", 443), "https://10.1.2.3"),  # the default port is left out
    ("http", ("::1", 8000), "http://[::1]:8000"),
])
def test_location_without_a_host_header_names_the_address_reached(rfc, scheme, server, base):
    """RFC 7643 §3.1 ``meta.location`` is absolute: with no ``Host`` header (and no
    ``SCIMD_BASE_URL``) it is built from the address the request reached."""
    user = rfc.create_user("no.host")
    doc = asyncio.run(_get_without_host(rfc.http.app, f"/scim/v2/Users/{user['id']}",
                                        rfc.access.token, scheme, server))
    assert doc["meta"]["location"] == f"{base}/scim/v2/Users/{user['id']}"


def test_full_user_and_enterprise_extension_round_trip(rfc):
    """RFC 7643 §4.1 (every User attribute) and §4.3 (enterprise extension) are stored
    and returned as written, by POST and by GET (RFC 7644 §3.3, §3.4.1)."""
    manager = rfc.create_user("manager")
    body = full_user(manager["id"])
    r = rfc.post("/Users", body)
    assert r.status_code == 201, r.text
    created = r.json()
    fetched = get_user(rfc, created["id"])
    for doc in (created, fetched):
        assert set(doc["schemas"]) == {USER_URN, ENTERPRISE_URN}
        for key, value in body.items():
            if key != "schemas":
                assert doc[key] == value, key
        assert doc["groups"] == []
    assert fetched == created


def test_post_ignores_read_only_attributes(rfc):
    """RFC 7643 §7 mutability readOnly and RFC 7644 §3.3: id, meta and groups sent by the
    client are ignored; id is always issued by the service provider (RFC 7643 §3.1)."""
    group = rfc.create_group("Existing")
    r = rfc.post("/Users", {
        "schemas": [USER_URN], "userName": "ro", "id": "forged-id",
        "meta": {"resourceType": "Group", "created": "2001-01-01T00:00:00Z",
                 "version": 'W/"99"', "location": "https://evil.example.com/x"},
        "groups": [{"value": group["id"], "display": "Existing"}],
    })
    assert r.status_code == 201, r.text
    doc = r.json()
    assert doc["id"] != "forged-id"
    assert doc["meta"]["resourceType"] == "User"
    assert doc["meta"]["version"] == 'W/"1"'
    assert not doc["meta"]["created"].startswith("2001")
    assert "evil" not in doc["meta"]["location"]
    assert doc["groups"] == []
    assert rfc.get("/Users/forged-id").status_code == 404
    members = rfc.get(f"/Groups/{group['id']}").json().get("members", [])
    assert members == []


def test_password_is_write_only(rfc, db):
    """RFC 7643 §4.1.1 password (mutability writeOnly, returned never, §7): it is
    stored but never returned, not even when asked for with attributes= (RFC 7644 §3.9)."""
    r = rfc.post("/Users", {"schemas": [USER_URN], "userName": "pw", "password": "t1meMa$heen"})
    assert r.status_code == 201, r.text
    uid = r.json()["id"]
    assert "password" not in r.json()
    assert verify_password("t1meMa$heen", password_hash(db, uid))
    for query in ("", "?attributes=password", "?attributes=userName,password",
                  "?excludedAttributes=userName"):
        doc = rfc.get(f"/Users/{uid}{query}").json()
        assert "password" not in doc, query
        assert "t1meMa$heen" not in json.dumps(doc)
    listed = rfc.get("/Users?attributes=password").json()
    assert "t1meMa$heen" not in json.dumps(listed)
    r = rfc.patch(f"/Users/{uid}?attributes=password",
                  patch_op({"op": "replace", "path": "password", "value": "n3w-Secret"}))
    assert r.status_code == 200, r.text
    assert "password" not in r.json()
    assert verify_password("n3w-Secret", password_hash(db, uid))


def test_attribute_names_are_case_insensitive(rfc):
    """RFC 7643 §2.1: attribute names are case insensitive; the answer uses the
    canonical spelling."""
    r = rfc.post("/Users", {
        "SCHEMAS": [USER_URN], "USERNAME": "shouty", "DisplayName": "Shouty",
        "NAME": {"GIVENNAME": "Sh", "familyname": "Outy"},
        "EMAILS": [{"VALUE": "s@example.com", "Type": "work", "PRIMARY": True}],
        ENTERPRISE_URN.upper(): {"EMPLOYEENUMBER": "42"},
    })
    assert r.status_code == 201, r.text
    doc = r.json()
    assert doc["userName"] == "shouty"
    assert doc["displayName"] == "Shouty"
    assert doc["name"] == {"givenName": "Sh", "familyName": "Outy"}
    assert doc["emails"] == [{"value": "s@example.com", "type": "work", "primary": True}]
    assert doc[ENTERPRISE_URN] == {"employeeNumber": "42"}
    assert "USERNAME" not in doc and "DisplayName" not in doc


def test_null_values_are_treated_as_absent(rfc):
    """RFC 7643 §2.5: null is equivalent to unassigned; RFC 7644 §3.3."""
    r = rfc.post("/Users", {
        "schemas": [USER_URN], "userName": "nully", "displayName": None, "nickName": None,
        "name": None, "emails": None, "phoneNumbers": [None], "active": None,
        "addresses": [{"type": None, "locality": "Paris"}],
        ENTERPRISE_URN: None,
    })
    assert r.status_code == 201, r.text
    doc = r.json()
    for key in ("displayName", "nickName", "name", "emails", "phoneNumbers", ENTERPRISE_URN):
        assert key not in doc, key
    assert doc["addresses"] == [{"locality": "Paris"}]
    assert doc["active"] is True


def test_read_only_sub_attribute_in_body_is_ignored(rfc):
    """RFC 7643 §4.3: manager.displayName is READ-ONLY; RFC 7643 §7 readOnly "SHALL NOT be
    modified" (RFC 7644 §3.5.1: "Any values provided SHALL be ignored")."""
    r = rfc.post("/Users", {"schemas": [USER_URN, ENTERPRISE_URN], "userName": "managed",
                            ENTERPRISE_URN: {"manager": {"value": "MGR-1",
                                                         "displayName": "Forged Name"}}})
    assert r.status_code == 201, r.text
    manager = r.json()[ENTERPRISE_URN]["manager"]
    assert manager["value"] == "MGR-1"
    assert manager.get("displayName") != "Forged Name"


def test_unknown_attributes_and_schema_urns_are_ignored(rfc):
    """RFC 7644 §3.3 / RFC 7643 §3: attributes the service provider does not define, and
    extensions it does not support, are ignored rather than rejected."""
    custom = "urn:example:params:scim:schemas:extension:custom:2.0:User"
    r = rfc.post("/Users", {
        "schemas": [USER_URN, custom], "userName": "unknowns", "favouriteColour": "blue",
        custom: {"badge": 7}, "urn:ietf:params:scim:schemas:extension:enterprise:2.0:Nope": {},
        "department": "Top-level department (Entra)",
    })
    assert r.status_code == 201, r.text
    doc = r.json()
    assert doc["schemas"] == [USER_URN]
    assert "favouriteColour" not in doc and custom not in doc and "department" not in doc
    assert get_user(rfc, doc["id"]) == doc


@pytest.mark.parametrize("body", [
    {"schemas": [USER_URN]},
    {"schemas": [USER_URN], "userName": None},
    {"schemas": [USER_URN], "userName": ""},
    {"schemas": [USER_URN], "displayName": "No user name", "emails": [{"value": "a@b.c"}]},
], ids=["missing", "null", "empty", "other-attributes-only"])
def test_user_name_is_required(rfc, body):
    """RFC 7643 §4.1.1 userName is REQUIRED; RFC 7644 §3.12 400 invalidValue."""
    assert_error(rfc.post("/Users", body), 400, "invalidValue")
    assert user_count(rfc) == 0


@pytest.mark.parametrize("second", ["alice", "ALICE", "Alice"])
def test_duplicate_user_name_is_409_case_insensitively(rfc, second):
    """RFC 7643 §4.1.1 userName uniqueness server, caseExact false; RFC 7644 §3.3 and §3.12:
    409 Conflict with scimType uniqueness."""
    first = rfc.create_user("alice")
    assert_error(rfc.post("/Users", {"schemas": [USER_URN], "userName": second}), 409,
                 "uniqueness")
    assert user_count(rfc) == 1
    assert get_user(rfc, first["id"]) == first | {"groups": []}


def test_duplicate_external_id_is_409(rfc):
    """RFC 7643 §3.1 externalId identifies the resource for the client; RFC 7644 §3.3: a
    second resource with the same externalId is a 409 uniqueness conflict."""
    rfc.create_user("first", externalId="ext-1")
    r = rfc.post("/Users", {"schemas": [USER_URN], "userName": "second", "externalId": "ext-1"})
    assert_error(r, 409, "uniqueness")
    assert user_count(rfc) == 1


@pytest.mark.parametrize("content", [
    b"userName=alice", b"{not json", b'{"userName": "alice"', b"", b"   ",
], ids=["form", "broken", "truncated", "empty", "blank"])
def test_body_that_is_not_json_is_invalid_syntax(rfc, content):
    """RFC 7644 §3.12 invalidSyntax: the request body is not parsable JSON."""
    r = rfc.post("/Users", content=content,
                 headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert_error(r, 400, "invalidSyntax")
    assert user_count(rfc) == 0


@pytest.mark.parametrize("body", [[], "alice", 42, None],
                         ids=["array", "string", "number", "null"])
def test_body_that_is_not_an_object_is_invalid_syntax(rfc, body):
    """RFC 7644 §3.3 and §3.12: a resource is a JSON object; anything else is invalidSyntax."""
    r = rfc.post("/Users", content=json.dumps(body).encode(),
                 headers={"Content-Type": "application/scim+json"})
    assert_error(r, 400, "invalidSyntax")
    assert user_count(rfc) == 0


@pytest.mark.parametrize("content_type", [
    "application/scim+json", "application/json", "application/json; charset=utf-8",
    "application/x-www-form-urlencoded", "text/plain", None,
])
def test_any_content_type_with_a_json_body_is_accepted(rfc, content_type):
    """RFC 7644 §3.1 / §8.1: the body is JSON; clients label it variously (some send
    application/x-www-form-urlencoded), and the server reads it regardless."""
    headers = {"Content-Type": content_type} if content_type else {}
    body = json.dumps({"schemas": [USER_URN], "userName": "typed"}).encode()
    r = rfc.post("/Users", content=body, headers=headers)
    assert r.status_code == 201, r.text
    assert r.json()["userName"] == "typed"


@pytest.mark.parametrize("extra", [
    {"active": "maybe"},
    {"active": 1},
    {"userName": True},
    {"userName": {"value": "alice"}},
    {"userName": ["a", "b"]},
    {"emails": [{"value": "a@example.com", "primary": "maybe"}]},
    {"emails": [["a@example.com"]]},
    {"name": "Barbara Jensen"},
    {"name": {"givenName": {"first": "Barbara"}}},
    {"displayName": ["a", "b"]},
    {"addresses": [{"primary": "sometimes"}]},
    {ENTERPRISE_URN: "not an object"},
    {ENTERPRISE_URN: {"manager": "too", "department": ["a", "b"]}},
], ids=lambda e: json.dumps(e)[:40])
def test_wrong_types_are_invalid_value(rfc, extra):
    """RFC 7643 §2.3 data types and §2.4 multi-valued attributes; RFC 7644 §3.12: a value
    not compatible with the attribute type is 400 invalidValue."""
    body = {"schemas": [USER_URN], "userName": "typed"} | extra
    assert_error(rfc.post("/Users", body), 400, "invalidValue")
    assert user_count(rfc) == 0


def test_number_for_string_attribute_is_invalid_value(rfc):
    """RFC 7643 §2.3.1: a String is a JSON string; RFC 7644 §3.12: a value not compatible
    with the attribute type is 400 invalidValue."""
    r = rfc.post("/Users", {"schemas": [USER_URN], "userName": 5})
    assert_error(r, 400, "invalidValue")
    assert user_count(rfc) == 0


def test_string_for_multi_valued_complex_attribute_is_invalid_value(rfc):
    """RFC 7643 §2.4 / §4.1.2: emails is a multi-valued complex attribute (a JSON array of
    objects); RFC 7644 §3.12: an incompatible value is 400 invalidValue."""
    r = rfc.post("/Users", {"schemas": [USER_URN], "userName": "typed", "emails": "x"})
    assert_error(r, 400, "invalidValue")
    assert user_count(rfc) == 0


def test_two_primary_emails_are_rejected(rfc):
    """RFC 7643 §2.4: the primary attribute value "true" MUST appear no more than once."""
    r = rfc.post("/Users", {
        "schemas": [USER_URN], "userName": "two.primaries",
        "emails": [{"value": "a@example.com", "primary": True},
                   {"value": "b@example.com", "primary": True}],
    })
    assert_error(r, 400, "invalidValue")
    assert user_count(rfc) == 0


# -- read (RFC 7644 §3.4.1) ------------------------------------------------------------------------


@pytest.mark.parametrize("user_id", ["W0000000000", "does-not-exist", "%20"])
def test_get_unknown_user_is_404(rfc, user_id):
    """RFC 7644 §3.4.1 and §3.12: an unknown resource is 404 Not Found."""
    assert_error(rfc.get(f"/Users/{user_id}"), 404)


# -- replace (RFC 7644 §3.5.1) ---------------------------------------------------------------------


def test_put_replaces_all_attributes(rfc, db):
    """RFC 7644 §3.5.1: PUT replaces the resource; attributes left out are cleared. scimd
    keeps ``active`` when it is omitted and the write-only password unless one is given
    (RFC 7644 §3.5.1 leaves both to the service provider)."""
    manager = rfc.create_user("manager")
    body = full_user(manager["id"]) | {"password": "old-Secret-1", "active": False}
    created = rfc.post("/Users", body).json()
    uid = created["id"]
    r = rfc.put(f"/Users/{uid}", {"schemas": [USER_URN], "userName": "bjensen@example.com",
                                  "displayName": "Barbara"})
    assert r.status_code == 200, r.text
    doc = r.json()
    assert doc["displayName"] == "Barbara"
    assert doc["active"] is False
    for key in body:
        if key not in ("schemas", "userName", "displayName", "active", "password"):
            assert key not in doc, key
    assert doc["schemas"] == [USER_URN]
    assert doc["id"] == uid
    assert doc["meta"]["created"] == created["meta"]["created"]
    assert doc["meta"]["version"] == 'W/"2"'
    assert r.headers["ETag"] == 'W/"2"'
    assert "Location" not in r.headers or r.headers["Location"] == doc["meta"]["location"]
    assert parse_time(doc["meta"]["lastModified"]) >= parse_time(created["meta"]["lastModified"])
    assert get_user(rfc, uid) == doc
    assert verify_password("old-Secret-1", password_hash(db, uid))
    # a PUT with a password sets it; a PUT with active changes it
    r = rfc.put(f"/Users/{uid}", {"userName": "bjensen@example.com", "password": "new-Secret-2",
                                  "active": True})
    assert r.status_code == 200, r.text
    assert r.json()["active"] is True
    assert verify_password("new-Secret-2", password_hash(db, uid))


def test_put_accepts_its_own_id_and_ignores_meta(rfc):
    """RFC 7644 §3.5.1: id and meta are readOnly; the same id and any meta are accepted,
    and id and meta.created are kept."""
    user = rfc.create_user("same.id")
    r = rfc.put(f"/Users/{user['id']}", {
        "schemas": [USER_URN], "id": user["id"], "userName": "same.id", "nickName": "Same",
        "meta": {"created": "2001-01-01T00:00:00Z", "version": 'W/"77"'},
    })
    assert r.status_code == 200, r.text
    doc = r.json()
    assert doc["id"] == user["id"]
    assert doc["meta"]["created"] == user["meta"]["created"]
    assert doc["meta"]["version"] == 'W/"2"'
    assert doc["nickName"] == "Same"


def test_put_with_another_id_is_400_and_changes_nothing(rfc):
    """RFC 7643 §3.1: id is issued by the service provider and never changed by the client;
    RFC 7644 §3.5.1 / §3.12: a PUT naming a different id is 400 mutability."""
    user = rfc.create_user("fixed.id")
    before = get_user(rfc, user["id"])
    r = rfc.put(f"/Users/{user['id']}", {"schemas": [USER_URN], "id": "W0THERUSER0",
                                         "userName": "renamed"})
    assert_error(r, 400, "mutability")
    assert get_user(rfc, user["id"]) == before


@pytest.mark.parametrize("body", [
    {"schemas": [USER_URN], "displayName": "no userName"},
    {"schemas": [USER_URN], "userName": "x", "active": "maybe"},
    {"schemas": [USER_URN], "userName": "x", "emails": [{"value": "a@b.c", "primary": True},
                                                        {"value": "d@e.f", "primary": True}]},
], ids=["missing-userName", "bad-active", "two-primaries"])
def test_bad_put_is_400_and_changes_nothing(rfc, body):
    """RFC 7644 §3.5.1 (required attributes MUST be given) and §3.12 invalidValue."""
    user = rfc.create_user("keep.me", displayName="Keep")
    before = get_user(rfc, user["id"])
    assert_error(rfc.put(f"/Users/{user['id']}", body), 400, "invalidValue")
    assert get_user(rfc, user["id"]) == before


def test_put_to_a_taken_user_name_is_409_and_changes_nothing(rfc):
    """RFC 7644 §3.5.1 and §3.12: 409 uniqueness when the new userName is another user's."""
    rfc.create_user("taken")
    user = rfc.create_user("mine")
    before = get_user(rfc, user["id"])
    r = rfc.put(f"/Users/{user['id']}", {"schemas": [USER_URN], "userName": "TAKEN"})
    assert_error(r, 409, "uniqueness")
    assert get_user(rfc, user["id"]) == before


def test_put_not_json_is_invalid_syntax(rfc):
    """RFC 7644 §3.12 invalidSyntax, for PUT as for POST."""
    user = rfc.create_user("syntax")
    before = get_user(rfc, user["id"])
    r = rfc.put(f"/Users/{user['id']}", content=b"userName=x",
                headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert_error(r, 400, "invalidSyntax")
    assert get_user(rfc, user["id"]) == before


def test_put_unknown_user_is_404(rfc):
    """RFC 7644 §3.5.1 / §3.12: replacing an unknown resource is 404; nothing is created."""
    r = rfc.put("/Users/W0000000000", {"schemas": [USER_URN], "userName": "ghost"})
    assert_error(r, 404)
    assert user_count(rfc) == 0


# -- delete (RFC 7644 §3.6) ------------------------------------------------------------------------


def test_delete_user(rfc):
    """RFC 7644 §3.6: DELETE answers 204; afterwards every request on the resource is 404
    and the user is no longer a member of its groups (RFC 7643 §4.2)."""
    user = rfc.create_user("leaving")
    stay = rfc.create_user("staying")
    group = rfc.create_group("Team", members=[user["id"], stay["id"]])
    r = rfc.delete(f"/Users/{user['id']}")
    assert r.status_code == 204
    assert r.content == b""
    uid = user["id"]
    assert_error(rfc.get(f"/Users/{uid}"), 404)
    assert_error(rfc.put(f"/Users/{uid}", {"schemas": [USER_URN], "userName": "leaving"}), 404)
    assert_error(rfc.patch(f"/Users/{uid}", patch_op(
        {"op": "replace", "path": "displayName", "value": "x"})), 404)
    assert_error(rfc.delete(f"/Users/{uid}"), 404)
    members = rfc.get(f"/Groups/{group['id']}").json()["members"]
    assert [m["value"] for m in members] == [stay["id"]]
    assert user_count(rfc) == 1
    # the userName is free again
    assert rfc.post("/Users", {"schemas": [USER_URN], "userName": "leaving"}).status_code == 201


# -- ETags (RFC 7644 §3.14) ------------------------------------------------------------------------


WRITES: dict[str, dict | None] = {
    "PUT": {"schemas": [USER_URN], "userName": "etag", "displayName": "Changed"},
    "PATCH": patch_op({"op": "replace", "path": "displayName", "value": "Changed"}),
    "DELETE": None,
}


@pytest.mark.parametrize("method", ["PUT", "PATCH", "DELETE"])
def test_if_match_with_stale_version_is_412_and_changes_nothing(rfc, method):
    """RFC 7644 §3.14 (and RFC 7232 §3.1): If-Match with a version that is not the current
    one fails with 412 Precondition Failed, and nothing is changed."""
    user = rfc.create_user("etag", displayName="Original")
    uid = user["id"]
    rfc.patch(f"/Users/{uid}", patch_op({"op": "replace", "path": "nickName", "value": "v2"}))
    before = get_user(rfc, uid)
    assert before["meta"]["version"] == 'W/"2"'
    body = WRITES[method]
    r = rfc.request(method, f"/Users/{uid}", json=body, headers={"If-Match": 'W/"1"'})
    assert_error(r, 412)
    assert get_user(rfc, uid) == before


@pytest.mark.parametrize("method", ["PUT", "PATCH", "DELETE"])
@pytest.mark.parametrize("tag", ['W/"2"', "*", 'W/"1", W/"2"'])
def test_if_match_with_current_version_or_star_succeeds(rfc, method, tag):
    """RFC 7644 §3.14 / RFC 7232 §3.1: If-Match with the current ETag, or ``*``, lets the
    write proceed."""
    user = rfc.create_user("etag", displayName="Original")
    uid = user["id"]
    rfc.patch(f"/Users/{uid}", patch_op({"op": "replace", "path": "nickName", "value": "v2"}))
    body = WRITES[method]
    r = rfc.request(method, f"/Users/{uid}", json=body, headers={"If-Match": tag})
    if method == "DELETE":
        assert r.status_code == 204, r.text
        assert rfc.get(f"/Users/{uid}").status_code == 404
    else:
        assert r.status_code == 200, r.text
        assert r.json()["displayName"] == "Changed"
        assert r.headers["ETag"] == 'W/"3"'


def test_if_none_match_on_get(rfc):
    """RFC 7644 §3.14 / RFC 7232 §3.2: GET with If-None-Match naming the current ETag answers
    304 Not Modified without a body; an older ETag gets the resource."""
    user = rfc.create_user("cached")
    uid = user["id"]
    r = rfc.get(f"/Users/{uid}", headers={"If-None-Match": 'W/"1"'})
    assert r.status_code == 304
    assert r.content == b""
    assert r.headers["ETag"] == 'W/"1"'
    rfc.patch(f"/Users/{uid}", patch_op({"op": "replace", "path": "nickName", "value": "v2"}))
    r = rfc.get(f"/Users/{uid}", headers={"If-None-Match": 'W/"1"'})
    assert r.status_code == 200
    assert r.json()["nickName"] == "v2"
    assert r.headers["ETag"] == 'W/"2"'
    assert rfc.get(f"/Users/{uid}", headers={"If-None-Match": 'W/"2"'}).status_code == 304


# -- PATCH (RFC 7644 §3.5.2) -----------------------------------------------------------------------


@pytest.fixture
def bjensen(rfc) -> dict:
    """A user with work and home emails, a name, and the enterprise extension."""
    manager = rfc.create_user("boss")
    body = {
        "schemas": [USER_URN, ENTERPRISE_URN],
        "userName": "bjensen",
        "displayName": "Babs",
        "nickName": "B",
        "name": {"givenName": "Barbara", "familyName": "Jensen", "middleName": "J"},
        "emails": [{"value": "work@example.com", "type": "work", "primary": True},
                   {"value": "home@example.com", "type": "home"}],
        "active": True,
        ENTERPRISE_URN: {"employeeNumber": "1", "department": "Tours",
                         "manager": {"value": manager["id"]}},
    }
    r = rfc.post("/Users", body)
    assert r.status_code == 201, r.text
    return r.json()


def patch_ok(client, user_id: str, *operations: dict, query: str = "") -> dict:
    r = client.patch(f"/Users/{user_id}{query}", patch_op(*operations))
    assert r.status_code == 200, r.text
    doc = r.json()
    if not query:
        assert doc == get_user(client, user_id)
    return doc


def patch_fails(client, user_id: str, status: int, scim_type: str | None,
                *operations: dict) -> dict:
    before = get_user(client, user_id)
    r = client.patch(f"/Users/{user_id}", patch_op(*operations))
    body = assert_error(r, status, scim_type)
    assert get_user(client, user_id) == before, "a failed PATCH changed the resource"
    return body


def test_patch_answers_200_with_the_resource(rfc, bjensen):
    """RFC 7644 §3.5.2: a successful PATCH answers 200 with the entire resource (or 204);
    the version and ETag move on (§3.14)."""
    r = rfc.patch(f"/Users/{bjensen['id']}",
                  patch_op({"op": "replace", "path": "displayName", "value": "Barbara"}))
    assert r.status_code == 200, r.text
    doc = r.json()
    assert doc["displayName"] == "Barbara"
    assert doc["userName"] == "bjensen"
    assert doc["meta"]["version"] == r.headers["ETag"] == 'W/"2"'
    assert doc["meta"]["created"] == bjensen["meta"]["created"]
    assert doc == get_user(rfc, bjensen["id"])


def test_patch_honours_attributes_parameter(rfc, bjensen):
    """RFC 7644 §3.5.2 and §3.9: ``attributes`` selects what the PATCH answer shows (plus
    attributes returned always: id, schemas)."""
    r = rfc.patch(f"/Users/{bjensen['id']}?attributes=userName",
                  patch_op({"op": "replace", "path": "displayName", "value": "Barbara"}))
    assert r.status_code == 200, r.text
    doc = r.json()
    assert doc["userName"] == "bjensen"
    assert doc["id"] == bjensen["id"]
    assert set(doc) <= {"schemas", "id", "userName"}
    assert get_user(rfc, bjensen["id"])["displayName"] == "Barbara"


def test_patch_add_with_path(rfc, bjensen):
    """RFC 7644 §3.5.2.1: add with a path sets a single-valued attribute and appends to a
    multi-valued one."""
    uid = bjensen["id"]
    doc = patch_ok(rfc, uid,
                   {"op": "add", "path": "title", "value": "Guide"},
                   {"op": "add", "path": "emails",
                    "value": [{"value": "other@example.com", "type": "other"}]},
                   {"op": "add", "path": "name", "value": {"honorificPrefix": "Ms."}})
    assert doc["title"] == "Guide"
    assert [e["value"] for e in doc["emails"]] == [
        "work@example.com", "home@example.com", "other@example.com"]
    assert doc["name"] == {"givenName": "Barbara", "familyName": "Jensen", "middleName": "J",
                           "honorificPrefix": "Ms."}


def test_patch_add_without_path(rfc, bjensen):
    """RFC 7644 §3.5.2.1: add without a path merges the value object into the resource."""
    doc = patch_ok(rfc, bjensen["id"], {"op": "add", "value": {
        "nickName": "Babsy", "emails": [{"value": "new@example.com", "type": "other"}],
        "name": {"honorificSuffix": "III"}}})
    assert doc["nickName"] == "Babsy"
    assert len(doc["emails"]) == 3
    assert doc["name"]["honorificSuffix"] == "III"
    assert doc["name"]["givenName"] == "Barbara"


def test_patch_add_existing_value_is_not_duplicated(rfc, bjensen):
    """RFC 7644 §3.5.2.1: "If the value already exists, no change is made"."""
    doc = patch_ok(rfc, bjensen["id"], {"op": "add", "path": "emails",
                                        "value": [{"value": "home@example.com", "type": "home"}]})
    assert doc["emails"] == bjensen["emails"]


def test_patch_replace_with_path(rfc, bjensen):
    """RFC 7644 §3.5.2.3: replace with a path; a multi-valued attribute is replaced whole."""
    doc = patch_ok(rfc, bjensen["id"],
                   {"op": "replace", "path": "displayName", "value": "Barbara"},
                   {"op": "replace", "path": "emails",
                    "value": [{"value": "only@example.com", "type": "work", "primary": True}]})
    assert doc["displayName"] == "Barbara"
    assert doc["emails"] == [{"value": "only@example.com", "type": "work", "primary": True}]


def test_patch_replace_without_path(rfc, bjensen):
    """RFC 7644 §3.5.2.3: replace without a path replaces the attributes of the value
    object; others are kept."""
    doc = patch_ok(rfc, bjensen["id"], {"op": "replace", "value": {
        "displayName": "Barbara", "emails": [{"value": "only@example.com", "type": "work"}]}})
    assert doc["displayName"] == "Barbara"
    assert doc["emails"] == [{"value": "only@example.com", "type": "work"}]
    assert doc["nickName"] == "B"


def test_patch_replace_with_null_unassigns(rfc, bjensen):
    """RFC 7643 §2.5 (null is unassigned) with RFC 7644 §3.5.2.3 replace."""
    doc = patch_ok(rfc, bjensen["id"], {"op": "replace", "path": "nickName", "value": None})
    assert "nickName" not in doc


def test_patch_remove_with_path(rfc, bjensen):
    """RFC 7644 §3.5.2.2: remove a single-valued attribute, and a whole multi-valued one."""
    doc = patch_ok(rfc, bjensen["id"], {"op": "remove", "path": "nickName"},
                   {"op": "remove", "path": "emails"})
    assert "nickName" not in doc
    assert "emails" not in doc
    assert doc["displayName"] == "Babs"


@pytest.mark.parametrize("name", ["Replace", "REPLACE", "rEpLaCe"])
def test_patch_op_names_in_any_case(rfc, bjensen, name):
    """RFC 7644 §3.5.2: op is add, remove or replace; clients (Entra) send "Replace", "Add",
    and the service provider matches them case-insensitively."""
    doc = patch_ok(rfc, bjensen["id"],
                   {"op": name, "path": "displayName", "value": "Cased"},
                   {"op": "ADD", "path": "title", "value": "T"},
                   {"op": "Remove", "path": "nickName"})
    assert doc["displayName"] == "Cased"
    assert doc["title"] == "T"
    assert "nickName" not in doc


def test_patch_value_path_filter(rfc, bjensen):
    """RFC 7644 §3.5.2 valuePath: emails[type eq "work"].value selects the work email's value;
    remove emails[value eq "..."] removes only that email (§3.5.2.2)."""
    uid = bjensen["id"]
    doc = patch_ok(rfc, uid, {"op": "replace", "path": 'emails[type eq "work"].value',
                              "value": "new-work@example.com"})
    assert doc["emails"] == [
        {"value": "new-work@example.com", "type": "work", "primary": True},
        {"value": "home@example.com", "type": "home"}]
    doc = patch_ok(rfc, uid, {"op": "remove", "path": 'emails[value eq "home@example.com"]'})
    assert doc["emails"] == [{"value": "new-work@example.com", "type": "work", "primary": True}]
    # §3.5.2.3: "all matching record values SHALL be replaced" by the value given.
    doc = patch_ok(rfc, uid, {"op": "replace", "path": 'emails[type eq "work"]',
                              "value": {"value": "new-work@example.com", "type": "work",
                                        "primary": True, "display": "Work"}})
    assert doc["emails"] == [{"value": "new-work@example.com", "type": "work", "primary": True,
                              "display": "Work"}]
    doc = patch_ok(rfc, uid, {"op": "remove", "path": 'emails[type eq "work"].display'})
    assert doc["emails"] == [{"value": "new-work@example.com", "type": "work", "primary": True}]


def test_patch_add_on_unmatched_value_path_creates_the_entry(rfc, bjensen):
    """RFC 7644 §3.5.2.1: add creates the target if it does not exist; for a value
    selection with eq terms (as Entra sends) the new entry carries them."""
    doc = patch_ok(rfc, bjensen["id"],
                   {"op": "add", "path": 'phoneNumbers[type eq "mobile"].value',
                    "value": "+1-555-0100"},
                   {"op": "add", "path": 'addresses[type eq "work"].locality',
                    "value": "Hollywood"})
    assert doc["phoneNumbers"] == [{"type": "mobile", "value": "+1-555-0100"}]
    assert doc["addresses"] == [{"type": "work", "locality": "Hollywood"}]


def test_patch_replace_on_unmatched_value_path_is_no_target(rfc, bjensen):
    """RFC 7644 §3.5.2.3: replace on a valuePath that matches no value is 400 noTarget."""
    patch_fails(rfc, bjensen["id"], 400, "noTarget",
                {"op": "replace", "path": 'emails[type eq "other"].value',
                 "value": "x@example.com"})


def test_patch_sub_attribute_paths(rfc, bjensen):
    """RFC 7644 §3.5.2 / §3.10: a path may name a sub-attribute of a complex attribute."""
    doc = patch_ok(rfc, bjensen["id"],
                   {"op": "replace", "path": "name.familyName", "value": "Jensen-Smith"},
                   {"op": "add", "path": "name.honorificPrefix", "value": "Dr."},
                   {"op": "remove", "path": "name.middleName"})
    assert doc["name"] == {"givenName": "Barbara", "familyName": "Jensen-Smith",
                           "honorificPrefix": "Dr."}


def test_patch_paths_are_case_insensitive(rfc, bjensen):
    """RFC 7643 §2.1: attribute names (and, for caseExact false, values compared in a value
    filter, RFC 7644 §3.4.2.2) are case-insensitive in PATCH paths (RFC 7644 §3.5.2)."""
    doc = patch_ok(rfc, bjensen["id"],
                   {"op": "replace", "path": "DISPLAYNAME", "value": "Loud"},
                   {"op": "replace", "path": "Name.FamilyName", "value": "JENSEN"},
                   {"op": "replace", "path": 'EMAILS[TYPE eq "WORK"].VALUE',
                    "value": "loud@example.com"})
    assert doc["displayName"] == "Loud"
    assert doc["name"]["familyName"] == "JENSEN"
    assert doc["emails"][0] == {"value": "loud@example.com", "type": "work", "primary": True}


@pytest.mark.parametrize("path", [
    f"{ENTERPRISE_URN}:employeeNumber",
    f"{ENTERPRISE_URN.lower()}:EMPLOYEENUMBER",
    "employeeNumber",
])
def test_patch_enterprise_attribute_paths(rfc, bjensen, path):
    """RFC 7644 §3.10: an extension attribute is addressed by its URN-qualified name
    (unqualified names resolve too, as Entra sends them); names and URNs are
    case-insensitive (RFC 7643 §2.1)."""
    doc = patch_ok(rfc, bjensen["id"], {"op": "replace", "path": path, "value": "999"})
    assert doc[ENTERPRISE_URN]["employeeNumber"] == "999"
    assert doc[ENTERPRISE_URN]["department"] == "Tours"


@pytest.mark.parametrize("path,value", [
    (f"{ENTERPRISE_URN}:manager", {"value": "MGR-2"}),
    (f"{ENTERPRISE_URN}:manager.value", "MGR-2"),
    (f"{ENTERPRISE_URN}.manager.value", "MGR-2"),
    ("manager", {"value": "MGR-2"}),
])
def test_patch_enterprise_manager(rfc, bjensen, path, value):
    """RFC 7643 §4.3 manager (complex, sub-attribute value) and RFC 7644 §3.10 URN-qualified
    paths with a sub-attribute."""
    doc = patch_ok(rfc, bjensen["id"], {"op": "replace", "path": path, "value": value})
    assert doc[ENTERPRISE_URN]["manager"] == {"value": "MGR-2"}


def test_patch_remove_enterprise_attributes(rfc, bjensen):
    """RFC 7644 §3.5.2.2: remove an extension attribute and a sub-attribute of one."""
    doc = patch_ok(rfc, bjensen["id"], {"op": "remove", "path": f"{ENTERPRISE_URN}:department"},
                   {"op": "remove", "path": f"{ENTERPRISE_URN}:manager.value"})
    assert doc[ENTERPRISE_URN] == {"employeeNumber": "1"}


def test_patch_whole_extension(rfc, bjensen):
    """RFC 7644 §3.5.2.1/§3.5.2.3 with a path that is the extension URN: add and replace
    set the given sub-attributes and keep the others (a complex target); remove
    drops the extension, which then leaves ``schemas`` (RFC 7643 §3)."""
    uid = bjensen["id"]
    doc = patch_ok(rfc, uid, {"op": "add", "path": ENTERPRISE_URN,
                              "value": {"costCenter": "4130"}})
    assert doc[ENTERPRISE_URN]["costCenter"] == "4130"
    assert doc[ENTERPRISE_URN]["employeeNumber"] == "1"
    doc = patch_ok(rfc, uid, {"op": "replace", "path": ENTERPRISE_URN,
                              "value": {"department": "Rides", "division": "Park"}})
    assert doc[ENTERPRISE_URN]["department"] == "Rides"
    assert doc[ENTERPRISE_URN]["division"] == "Park"
    assert doc[ENTERPRISE_URN]["costCenter"] == "4130"
    doc = patch_ok(rfc, uid, {"op": "remove", "path": ENTERPRISE_URN})
    assert ENTERPRISE_URN not in doc
    assert doc["schemas"] == [USER_URN]
    doc = patch_ok(rfc, uid, {"op": "add", "path": ENTERPRISE_URN,
                              "value": {"organization": "Universal"}})
    assert doc[ENTERPRISE_URN] == {"organization": "Universal"}
    assert set(doc["schemas"]) == {USER_URN, ENTERPRISE_URN}


def test_patch_pathless_replace_with_dotted_and_urn_keys(rfc, bjensen):
    """RFC 7644 §3.5.2.3 without path; keys written as attribute paths (Entra:
    "name.givenName", URN-qualified extension names) and the extension object itself."""
    doc = patch_ok(rfc, bjensen["id"], {"op": "replace", "value": {
        "name.givenName": "Babs",
        f"{ENTERPRISE_URN}:department": "Rides",
        f"{ENTERPRISE_URN}:manager.value": "MGR-3",
        ENTERPRISE_URN: {"costCenter": "77"},
        "displayName": "B. Jensen",
    }})
    assert doc["name"] == {"givenName": "Babs", "familyName": "Jensen", "middleName": "J"}
    assert doc[ENTERPRISE_URN] == {"employeeNumber": "1", "department": "Rides",
                                   "manager": {"value": "MGR-3"}, "costCenter": "77"}
    assert doc["displayName"] == "B. Jensen"


def test_patch_pathless_ignores_unknown_keys(rfc, bjensen):
    """RFC 7644 §3.5.2 path-less value: as in POST (§3.3), attributes the server does not
    define are ignored."""
    doc = patch_ok(rfc, bjensen["id"], {"op": "replace", "value": {
        "nickName": "Known", "favouriteColour": "blue"}})
    assert doc["nickName"] == "Known"
    assert "favouriteColour" not in doc


@pytest.mark.parametrize("value,expected", [
    ("False", False), ("false", False), ("True", True), (False, False), (True, True),
])
def test_patch_active_as_entra_sends_it(rfc, bjensen, value, expected):
    """RFC 7643 §4.1.1 active (boolean); Entra sends {"op":"Replace","path":"active",
    "value":"False"} and the string is read as the boolean (RFC 7644 §3.5.2.3)."""
    doc = patch_ok(rfc, bjensen["id"], {"op": "Replace", "path": "active", "value": value})
    assert doc["active"] is expected


def test_patch_pathless_active_as_okta_sends_it(rfc, bjensen):
    """RFC 7644 §3.5.2.3 without path: Okta deactivates with {"active": false}."""
    doc = patch_ok(rfc, bjensen["id"], {"op": "replace", "value": {"active": False}})
    assert doc["active"] is False
    doc = patch_ok(rfc, bjensen["id"], {"op": "replace", "value": {"active": "True"}})
    assert doc["active"] is True


def test_patch_active_with_non_boolean_is_invalid_value(rfc, bjensen):
    """RFC 7643 §2.3.2 boolean; RFC 7644 §3.12 invalidValue."""
    patch_fails(rfc, bjensen["id"], 400, "invalidValue",
                {"op": "replace", "path": "active", "value": "maybe"})


def test_patch_remove_without_path_is_no_target(rfc, bjensen):
    """RFC 7644 §3.5.2.2: "If 'path' is unspecified, the operation fails with HTTP status
    code 400 and a 'scimType' error code of 'noTarget'"."""
    patch_fails(rfc, bjensen["id"], 400, "noTarget", {"op": "remove"})
    patch_fails(rfc, bjensen["id"], 400, "noTarget",
                {"op": "remove", "value": {"nickName": "B"}})


@pytest.mark.parametrize("path", [
    "notAnAttribute",
    "name.notASubAttribute",
    'emails[type eq "work"',
    'emails[type eq "work"].notASub',
    "emails[type eq]",
    "urn:example:unknown:2.0:User:thing",
    f"{ENTERPRISE_URN}:notAnAttribute",
    'emails[type eq "work"] and name',
    "",
], ids=lambda p: p or "empty-for-add")
def test_patch_invalid_path_is_invalid_path(rfc, bjensen, path):
    """RFC 7644 §3.5.2 and §3.12: a path that does not parse or names no attribute is
    400 invalidPath. (An empty path on add is a path-less add of a non-object: invalid.)"""
    if path == "":
        body = patch_fails(rfc, bjensen["id"], 400, None,
                           {"op": "add", "path": path, "value": "x"})
        assert body["scimType"] in ("invalidPath", "invalidValue")
    else:
        patch_fails(rfc, bjensen["id"], 400, "invalidPath",
                    {"op": "replace", "path": path, "value": "x"})


@pytest.mark.parametrize("operation", [
    {"op": "move", "path": "nickName", "value": "x"},
    {"op": "copy", "path": "nickName", "value": "x"},
    {"op": "", "path": "nickName", "value": "x"},
    {"op": None, "path": "nickName", "value": "x"},
    {"path": "nickName", "value": "x"},
    {"op": 1, "path": "nickName", "value": "x"},
], ids=["move", "copy", "empty", "null", "missing", "number"])
def test_patch_unknown_op_is_400(rfc, bjensen, operation):
    """RFC 7644 §3.5.2: op MUST be one of add, remove, replace; anything else is a malformed
    PatchOp (400 invalidSyntax, §3.12)."""
    patch_fails(rfc, bjensen["id"], 400, "invalidSyntax", operation)


@pytest.mark.parametrize("body", [
    {"schemas": [PATCH_URN]},
    {"schemas": [PATCH_URN], "Operations": []},
    {"schemas": [PATCH_URN], "Operations": {"op": "add"}},
    {"schemas": [PATCH_URN], "Operations": ["add"]},
    [{"op": "add", "path": "nickName", "value": "x"}],
], ids=["no-operations", "empty", "object", "strings", "array-body"])
def test_patch_malformed_body_is_invalid_syntax(rfc, bjensen, body):
    """RFC 7644 §3.5.2: the body is a PatchOp with a non-empty Operations array; anything
    else is 400 invalidSyntax (§3.12)."""
    before = get_user(rfc, bjensen["id"])
    assert_error(rfc.patch(f"/Users/{bjensen['id']}", body), 400, "invalidSyntax")
    assert get_user(rfc, bjensen["id"]) == before


def test_patch_not_json_is_invalid_syntax(rfc, bjensen):
    """RFC 7644 §3.12 invalidSyntax."""
    before = get_user(rfc, bjensen["id"])
    r = rfc.patch(f"/Users/{bjensen['id']}", content=b"op=replace",
                  headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert_error(r, 400, "invalidSyntax")
    assert get_user(rfc, bjensen["id"]) == before


@pytest.mark.parametrize("operation", [
    {"op": "replace", "path": "id", "value": "W0THER00000"},
    {"op": "remove", "path": "id"},
    {"op": "replace", "path": "meta.created", "value": "2001-01-01T00:00:00Z"},
    {"op": "replace", "path": "meta", "value": {"version": 'W/"9"'}},
    {"op": "add", "path": "groups", "value": [{"value": "S0000000000"}]},
    {"op": "remove", "path": "groups"},
    {"op": "replace", "path": f"{ENTERPRISE_URN}:manager.displayName", "value": "Boss"},
], ids=["replace-id", "remove-id", "meta.created", "meta", "add-groups", "remove-groups",
        "manager.displayName"])
def test_patch_read_only_target_is_mutability(rfc, bjensen, operation):
    """RFC 7644 §3.5.2: "a client MUST NOT modify an attribute that has mutability
    'readOnly'"; RFC 7644 §3.12: 400 mutability."""
    patch_fails(rfc, bjensen["id"], 400, "mutability", operation)


def test_patch_replacing_id_with_same_value_is_accepted(rfc, bjensen):
    """RFC 7644 §3.5.2: setting the readOnly id to the value it already has changes nothing
    and is accepted (clients echo the id back)."""
    doc = patch_ok(rfc, bjensen["id"],
                   {"op": "replace", "path": "id", "value": bjensen["id"]},
                   {"op": "replace", "value": {"id": bjensen["id"], "nickName": "Echo"}})
    assert doc["id"] == bjensen["id"]
    assert doc["nickName"] == "Echo"


@pytest.mark.parametrize("third", [
    {"op": "replace", "path": 'emails[type eq "nope"].value', "value": "x@example.com"},
    {"op": "replace", "path": "noSuchAttribute", "value": "x"},
    {"op": "replace", "path": "id", "value": "W0THER00000"},
    {"op": "replace", "path": "active", "value": "maybe"},
    {"op": "remove", "path": "userName"},
    {"op": "frobnicate", "path": "nickName", "value": "x"},
], ids=["noTarget", "invalidPath", "mutability", "invalidValue", "required", "unknown-op"])
def test_patch_is_atomic(rfc, bjensen, third):
    """RFC 7644 §3.5.2: "Each PATCH operation represents a single action to be applied to the
    same SCIM resource ... the operations are applied ... all or nothing": when the third
    operation fails, the first two are not applied either."""
    patch_fails(rfc, bjensen["id"], 400, None,
                {"op": "replace", "path": "displayName", "value": "Changed"},
                {"op": "add", "path": "emails",
                 "value": [{"value": "new@example.com", "type": "other", "primary": True}]},
                third)


def test_patch_new_primary_demotes_the_old_one(rfc, bjensen):
    """RFC 7643 §2.4: at most one value is primary; RFC 7644 §3.5.2.1: adding a value with
    primary true makes the previous primary value non-primary."""
    doc = patch_ok(rfc, bjensen["id"], {"op": "add", "path": "emails", "value": [
        {"value": "new@example.com", "type": "other", "primary": True}]})
    primaries = [e["value"] for e in doc["emails"] if e.get("primary") is True]
    assert primaries == ["new@example.com"]
    assert {e["value"] for e in doc["emails"]} == {
        "work@example.com", "home@example.com", "new@example.com"}
    doc = patch_ok(rfc, bjensen["id"], {"op": "replace",
                                        "path": 'emails[type eq "home"].primary', "value": True})
    primaries = [e["value"] for e in doc["emails"] if e.get("primary") is True]
    assert primaries == ["home@example.com"]


def test_patch_two_primaries_in_one_value_is_invalid_value(rfc, bjensen):
    """RFC 7643 §2.4: the primary value "true" MUST appear no more than once."""
    patch_fails(rfc, bjensen["id"], 400, "invalidValue", {
        "op": "add", "path": "emails",
        "value": [{"value": "a@example.com", "primary": True},
                  {"value": "b@example.com", "primary": True}]})


@pytest.mark.parametrize("operation", [
    {"op": "remove", "path": "userName"},
    {"op": "replace", "path": "userName", "value": None},
    {"op": "replace", "path": "userName", "value": ""},
    {"op": "replace", "value": {"userName": None}},
], ids=["remove", "replace-null", "replace-empty", "pathless-null"])
def test_patch_unassigning_user_name_is_400(rfc, bjensen, operation):
    """RFC 7643 §4.1.1: userName is required; RFC 7644 §3.5.2: unassigning a required
    attribute fails with 400 and changes nothing."""
    patch_fails(rfc, bjensen["id"], 400, None, operation)


def test_patch_removing_user_name_is_mutability(rfc, bjensen):
    """RFC 7644 §3.5.2: "If an attribute is removed or becomes unassigned and is defined as a
    required attribute or a read-only attribute, the server SHALL return ... a 'scimType'
    error code of 'mutability'"."""
    patch_fails(rfc, bjensen["id"], 400, "mutability", {"op": "remove", "path": "userName"})


def test_patch_user_name_to_a_taken_one_is_409(rfc, bjensen):
    """RFC 7644 §3.5.2 with RFC 7643 §4.1.1 uniqueness: 409 uniqueness (§3.12)."""
    rfc.create_user("Taken.Name")
    patch_fails(rfc, bjensen["id"], 409, "uniqueness",
                {"op": "replace", "path": "userName", "value": "taken.name"})


def test_patch_unknown_user_is_404(rfc):
    """RFC 7644 §3.5.2 / §3.12: PATCH of an unknown resource is 404."""
    r = rfc.patch("/Users/W0000000000",
                  patch_op({"op": "replace", "path": "displayName", "value": "x"}))
    assert_error(r, 404)
