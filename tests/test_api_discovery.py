"""HTTP tests of discovery, routing and authentication (RFC 7644 §2, §3.12, §4; RFC 7643 §5-§7).

Every test runs against a fresh ``rfc``-dialect tenant on SQLite and PostgreSQL.
"""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient

from scim_assert import assert_error
from scimd.app import create_app
from scimd.settings import Settings

ERROR_URN = "urn:ietf:params:scim:api:messages:2.0:Error"
LIST_URN = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
SPC_URN = "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"
RT_URN = "urn:ietf:params:scim:schemas:core:2.0:ResourceType"
SCHEMA_URN = "urn:ietf:params:scim:schemas:core:2.0:Schema"
USER_URN = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP_URN = "urn:ietf:params:scim:schemas:core:2.0:Group"
ENT_URN = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"

TYPES = {"string", "boolean", "decimal", "integer", "dateTime", "binary", "reference", "complex"}
MUTABILITY = {"readOnly", "readWrite", "immutable", "writeOnly"}
RETURNED = {"always", "never", "default", "request"}
UNIQUENESS = {"none", "server", "global"}


@pytest.fixture
def strict(rfc, db, database_url):
    """The ``rfc`` tenant's client on a deployment whose default dialect is ``rfc`` too, so
    requests naming no tenant (no token, a bad token) also get RFC 7644 answers."""
    app = create_app(Settings(database_url=database_url, default_dialect="rfc"), db)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield type(rfc)(client, rfc.access)




def attribute(doc: dict, *names: str) -> dict:
    """The definition of ``names[0]`` (then its sub-attributes) in a schema document."""
    attrs = doc["attributes"]
    found: dict = {}
    for name in names:
        found = next(a for a in attrs if a["name"] == name)
        attrs = found.get("subAttributes", [])
    return found


def schema_doc(client, urn: str) -> dict:
    r = client.get(f"/Schemas/{urn}")
    assert r.status_code == 200, r.text
    return r.json()


# -- ServiceProviderConfig (RFC 7643 §5, RFC 7644 §4) -----------------------------------


@pytest.mark.parametrize("path", ["/ServiceProviderConfig", "/ServiceProviderConfigs",
                                  "/ServiceProviderConfig/"])
def test_service_provider_config(rfc, path):
    """RFC 7643 §5 / RFC 7644 §4: the configuration states the supported features."""
    r = rfc.get(path)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/scim+json")
    doc = r.json()
    assert doc["schemas"] == [SPC_URN]
    assert doc["patch"] == {"supported": True}
    assert doc["filter"]["supported"] is True
    assert doc["filter"]["maxResults"] == 1000
    assert doc["sort"] == {"supported": True}
    assert doc["etag"] == {"supported": True}
    assert doc["changePassword"] == {"supported": True}
    assert doc["bulk"]["supported"] is False
    assert isinstance(doc["bulk"]["maxOperations"], int)
    assert isinstance(doc["bulk"]["maxPayloadSize"], int)
    schemes = doc["authenticationSchemes"]
    assert [s["type"] for s in schemes] == ["oauthbearertoken"]
    for scheme in schemes:
        assert scheme["name"] and scheme["description"]
    assert doc["meta"]["resourceType"] == "ServiceProviderConfig"
    assert doc["meta"]["location"].endswith("/scim/v2/ServiceProviderConfig")


def test_service_provider_config_singular_and_plural_agree(rfc):
    """RFC 7644 §4: ``/ServiceProviderConfig`` (and the plural alias) give one document."""
    assert rfc.get("/ServiceProviderConfig").json() == rfc.get("/ServiceProviderConfigs").json()


def test_service_provider_config_max_results_matches_page_cap(rfc):
    """RFC 7643 §5 ``filter.maxResults`` is the cap RFC 7644 §3.4.2.4 applies to ``count``."""
    cap = rfc.get("/ServiceProviderConfig").json()["filter"]["maxResults"]
    rfc.create_user("cap.user")
    r = rfc.get("/Users", params={"count": str(cap * 5)})
    assert r.status_code == 200, r.text
    assert r.json()["itemsPerPage"] <= cap


# -- ResourceTypes (RFC 7643 §6, RFC 7644 §4) -----------------------------------------


def test_resource_types_list(rfc):
    """RFC 7644 §4: ``/ResourceTypes`` is a ListResponse of User (with enterprise) and Group."""
    r = rfc.get("/ResourceTypes")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["schemas"] == [LIST_URN]
    assert body["totalResults"] == 2 == body["itemsPerPage"] == len(body["Resources"])
    assert body["startIndex"] == 1
    by_name = {d["name"]: d for d in body["Resources"]}
    assert set(by_name) == {"User", "Group"}
    user, group = by_name["User"], by_name["Group"]
    for doc in (user, group):
        assert doc["schemas"] == [RT_URN]
        assert doc["meta"]["resourceType"] == "ResourceType"
        assert doc["meta"]["location"].endswith(f"/ResourceTypes/{doc['id']}")
    assert user["endpoint"] == "/Users"
    assert user["schema"] == USER_URN
    assert user["schemaExtensions"] == [{"schema": ENT_URN, "required": False}]
    assert group["endpoint"] == "/Groups"
    assert group["schema"] == GROUP_URN
    assert group.get("schemaExtensions", []) == []


@pytest.mark.parametrize("name,schema", [("User", USER_URN), ("Group", GROUP_URN)])
def test_resource_type_by_name(rfc, name, schema):
    """RFC 7644 §4: ``/ResourceTypes/{name}`` returns one ResourceType resource."""
    r = rfc.get(f"/ResourceTypes/{name}")
    assert r.status_code == 200, r.text
    doc = r.json()
    assert doc["schemas"] == [RT_URN]
    assert doc["id"] == doc["name"] == name
    assert doc["schema"] == schema
    assert rfc.get(f"/ResourceTypes/{name}/").json() == doc


def test_resource_type_unknown(rfc):
    """RFC 7644 §3.12: an unknown resource type is 404 with a SCIM error body."""
    assert_error(rfc.get("/ResourceTypes/Printer"), 404)


# -- Schemas (RFC 7643 §7, RFC 7644 §4) ----------------------------------------------


def test_schemas_list(rfc):
    """RFC 7644 §4: ``/Schemas`` is a ListResponse of User, EnterpriseUser and Group."""
    r = rfc.get("/Schemas")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["schemas"] == [LIST_URN]
    ids = [d["id"] for d in body["Resources"]]
    assert sorted(ids) == sorted([USER_URN, ENT_URN, GROUP_URN])
    assert body["totalResults"] == body["itemsPerPage"] == 3
    assert body["startIndex"] == 1
    for doc in body["Resources"]:
        assert doc["schemas"] == [SCHEMA_URN]
        assert doc["name"]
        assert doc["meta"]["resourceType"] == "Schema"
        assert doc["meta"]["location"].endswith(f"/Schemas/{doc['id']}")
        assert doc == schema_doc(rfc, doc["id"])


@pytest.mark.parametrize("name,urn", [
    (USER_URN, USER_URN), (ENT_URN, ENT_URN), (GROUP_URN, GROUP_URN),
    ("Users", USER_URN), ("Groups", GROUP_URN), ("User", USER_URN), ("Group", GROUP_URN),
])
def test_schema_by_name(rfc, name, urn):
    """RFC 7644 §4: ``/Schemas/{urn}`` (and the ``Users``/``User`` aliases) give one schema."""
    r = rfc.get(f"/Schemas/{name}")
    assert r.status_code == 200, r.text
    assert r.json()["id"] == urn
    assert rfc.get(f"/Schemas/{name}/").json()["id"] == urn


@pytest.mark.parametrize("name", ["urn:ietf:params:scim:schemas:core:2.0:Printer", "Printers",
                                  "urn:nope"])
def test_schema_unknown(rfc, name):
    """RFC 7644 §3.12: an unknown schema is 404 with a SCIM error body."""
    assert_error(rfc.get(f"/Schemas/{name}"), 404)


def _walk(attrs: list[dict], prefix: str = ""):
    for a in attrs:
        yield prefix + a["name"], a
        yield from _walk(a.get("subAttributes", []), prefix + a["name"] + ".")


@pytest.mark.parametrize("urn", [USER_URN, ENT_URN, GROUP_URN])
def test_schema_attribute_characteristics(rfc, urn):
    """RFC 7643 §7: every attribute states its characteristics with valid keywords."""
    doc = schema_doc(rfc, urn)
    assert doc["attributes"]
    for path, a in _walk(doc["attributes"]):
        assert a["type"] in TYPES, path
        assert isinstance(a["multiValued"], bool), path
        assert isinstance(a["required"], bool), path
        assert a["mutability"] in MUTABILITY, path
        assert a["returned"] in RETURNED, path
        if a["type"] in ("string", "reference", "binary"):
            assert isinstance(a["caseExact"], bool), path
        if a["type"] == "string":
            assert a["uniqueness"] in UNIQUENESS, path
        if a["type"] == "complex":
            assert a["subAttributes"], path
            for sub in a["subAttributes"]:
                assert sub["type"] != "complex", f"{path}.{sub['name']}"  # RFC 7643 §2.3.8
        else:
            assert "subAttributes" not in a, path
        if a["type"] == "reference":
            assert a["referenceTypes"], path
    names = [a["name"].lower() for a in doc["attributes"]]
    assert len(names) == len(set(names)), "duplicate attribute names"


def test_user_schema_core_attributes(rfc):
    """RFC 7643 §4.1 and §8.7.1: key User attributes are described as the RFC defines them."""
    doc = schema_doc(rfc, USER_URN)
    assert doc["name"] == "User"
    user_name = attribute(doc, "userName")
    assert user_name["type"] == "string"
    assert user_name["required"] is True
    assert user_name["caseExact"] is False
    assert user_name["uniqueness"] == "server"
    assert user_name["mutability"] == "readWrite"
    assert user_name["multiValued"] is False

    password = attribute(doc, "password")
    assert password["mutability"] == "writeOnly"
    assert password["returned"] == "never"

    groups = attribute(doc, "groups")
    assert groups["type"] == "complex"
    assert groups["multiValued"] is True
    assert groups["mutability"] == "readOnly"
    for sub in groups["subAttributes"]:
        assert sub["mutability"] == "readOnly", sub["name"]
    assert {s["name"] for s in groups["subAttributes"]} >= {"value", "$ref", "display", "type"}

    emails = attribute(doc, "emails")
    assert emails["multiValued"] is True and emails["type"] == "complex"
    assert attribute(doc, "emails", "type")["canonicalValues"] == ["work", "home", "other"]
    assert attribute(doc, "emails", "primary")["type"] == "boolean"
    assert attribute(doc, "active")["type"] == "boolean"
    assert attribute(doc, "name")["multiValued"] is False
    assert attribute(doc, "name", "familyName")["type"] == "string"
    assert attribute(doc, "x509Certificates", "value")["type"] == "binary"
    assert attribute(doc, "profileUrl")["type"] == "reference"


def test_common_attributes_in_schemas(rfc):
    """RFC 7643 §3.1: ``id`` is readOnly, returned always; if a schema lists it, it says so."""
    for urn in (USER_URN, GROUP_URN):
        doc = schema_doc(rfc, urn)
        ids = [a for a in doc["attributes"] if a["name"] == "id"]
        for a in ids:
            assert a["mutability"] == "readOnly"
            assert a["returned"] == "always"
            assert a["caseExact"] is True
    # Behaviour matches: a client-chosen id is ignored, and id survives excludedAttributes.
    r = rfc.post("/Users", {"schemas": [USER_URN], "userName": "id.probe", "id": "client-id"})
    assert r.status_code == 201, r.text
    assert r.json()["id"] != "client-id"
    got = rfc.get(f"/Users/{r.json()['id']}", params={"excludedAttributes": "id"}).json()
    assert got["id"] == r.json()["id"]


def test_enterprise_schema(rfc):
    """RFC 7643 §4.3: the enterprise extension's attributes and the manager complex."""
    doc = schema_doc(rfc, ENT_URN)
    names = {a["name"] for a in doc["attributes"]}
    assert names == {"employeeNumber", "costCenter", "organization", "division", "department",
                     "manager"}
    manager = attribute(doc, "manager")
    assert manager["type"] == "complex" and manager["multiValued"] is False
    assert {s["name"] for s in manager["subAttributes"]} == {"value", "$ref", "displayName"}
    assert attribute(doc, "manager", "displayName")["mutability"] == "readOnly"


def test_group_schema(rfc):
    """RFC 7643 §4.2: Group has a required displayName and multi-valued members."""
    doc = schema_doc(rfc, GROUP_URN)
    assert doc["name"] == "Group"
    assert attribute(doc, "displayName")["required"] is True
    members = attribute(doc, "members")
    assert members["multiValued"] is True and members["type"] == "complex"
    assert attribute(doc, "members", "value")["mutability"] == "immutable"
    assert set(attribute(doc, "members", "type")["canonicalValues"]) == {"User", "Group"}


# -- the schemas document what is stored (RFC 7643 §7 / RFC 7644 §3.3) ----------------------

def _sample(attr: dict):
    """A value of the documented type for ``attr``."""
    kind = attr["type"]
    if kind == "complex":
        out = {}
        for sub in attr["subAttributes"]:
            if sub["mutability"] not in ("readOnly",):
                out[sub["name"]] = _sample(sub)
        return [out] if attr["multiValued"] else out
    if attr.get("canonicalValues"):
        value = attr["canonicalValues"][0]
    elif kind == "boolean":
        value = True
    elif kind == "reference":
        value = f"https://example.com/{attr['name'].strip('$')}"
    elif kind == "binary":
        value = "TUlJRHFEQ0NBcENnQXdJQkFnSUpBT0wzVlBx"
    elif kind == "integer":
        value = 7
    elif kind == "decimal":
        value = 1.5
    elif kind == "dateTime":
        value = "2020-01-02T03:04:05Z"
    else:
        value = f"v-{attr['name']}"
    return [value] if attr["multiValued"] else value


def _writable(attrs: list[dict]) -> dict:
    return {a["name"]: _sample(a) for a in attrs
            if a["mutability"] in ("readWrite", "immutable") and a["name"] != "id"}


def test_every_documented_user_attribute_round_trips(rfc):
    """RFC 7643 §7: each writable attribute of /Schemas is stored and returned as sent;
    writeOnly and readOnly ones are not returned from client input."""
    core = schema_doc(rfc, USER_URN)
    ext = schema_doc(rfc, ENT_URN)
    body = {"schemas": [USER_URN, ENT_URN], **_writable(core["attributes"]),
            ENT_URN: _writable(ext["attributes"])}
    body["userName"] = "round.trip"
    body["password"] = "Secret-passw0rd!"
    body["groups"] = [{"value": "G123"}]
    r = rfc.post("/Users", body)
    assert r.status_code == 201, r.text
    got = rfc.get(f"/Users/{r.json()['id']}").json()
    for a in core["attributes"]:
        name = a["name"]
        if a["mutability"] in ("readWrite", "immutable"):
            assert got.get(name) == body[name], name
        elif a["returned"] == "never":
            assert name not in got, name
    assert got["groups"] == []  # readOnly: the client's value is ignored
    assert got[ENT_URN] == body[ENT_URN]
    assert ENT_URN in got["schemas"]
    documented = {a["name"] for a in core["attributes"]}
    assert set(got) - documented <= {"schemas", "id", "externalId", "meta", ENT_URN}


def test_read_only_sub_attribute_ignored_on_create(rfc):
    """RFC 7644 §3.3 and RFC 7643 §7: readOnly attributes in a request body SHALL be
    ignored; manager.displayName is readOnly (RFC 7643 §4.3)."""
    r = rfc.post("/Users", {"schemas": [USER_URN, ENT_URN], "userName": "ro.sub",
                            ENT_URN: {"manager": {"value": "W123", "displayName": "Forged"}}})
    assert r.status_code == 201, r.text
    got = rfc.get(f"/Users/{r.json()['id']}").json()
    assert got[ENT_URN]["manager"].get("displayName") != "Forged"


def test_selected_user_attributes_round_trip(rfc):
    """RFC 7643 §4.1, §4.3: a handful of typical attributes come back as they were written."""
    attrs = {
        "externalId": "Ext-42",
        "name": {"givenName": "Ada", "familyName": "Lovelace", "formatted": "Ada Lovelace"},
        "displayName": "Ada L.",
        "active": False,
        "phoneNumbers": [{"value": "+44 20 7946 0000", "type": "work", "primary": True}],
        "addresses": [{"streetAddress": "1 Main St", "locality": "London", "country": "GB",
                       "type": "work"}],
        ENT_URN: {"employeeNumber": "701984", "department": "Analytics"},
    }
    user = rfc.create_user("ada", schemas=[USER_URN, ENT_URN], **attrs)
    got = rfc.get(f"/Users/{user['id']}").json()
    for key, value in attrs.items():
        assert got[key] == value, key
    assert got["userName"] == "ada"
    assert got["emails"] == [{"value": "ada@example.com", "type": "work", "primary": True}]


def test_undocumented_attribute_is_not_stored(rfc):
    """RFC 7643 §7: the schemas list every attribute the server keeps; others are not kept."""
    user = rfc.create_user("extra.attr", favouriteColour="teal")
    assert "favouriteColour" not in rfc.get(f"/Users/{user['id']}").json()


def test_group_round_trip(rfc):
    """RFC 7643 §4.2: displayName, externalId and members are stored as written."""
    user = rfc.create_user("member.one")
    group = rfc.create_group("Readers", [user["id"]], externalId="grp-1")
    got = rfc.get(f"/Groups/{group['id']}").json()
    assert got["displayName"] == "Readers"
    assert got["externalId"] == "grp-1"
    assert [m["value"] for m in got["members"]] == [user["id"]]
    assert got["members"][0]["type"] == "User"


# -- discovery and authentication (RFC 7644 §4, §2) ------------------------------------------

DISCOVERY_PATHS = ["/ServiceProviderConfig", "/ServiceProviderConfigs", "/ResourceTypes",
                   "/ResourceTypes/User", "/Schemas", f"/Schemas/{USER_URN}"]


@pytest.mark.parametrize("path", DISCOVERY_PATHS)
def test_discovery_with_and_without_token(strict, path):
    """RFC 7644 §4: discovery endpoints answer with a token and without authentication."""
    with_token = strict.get(path)
    without = strict.get(path, auth=False)
    assert with_token.status_code == 200, with_token.text
    assert without.status_code == 200, without.text
    assert with_token.json() == without.json()


@pytest.mark.parametrize("path", DISCOVERY_PATHS)
def test_discovery_without_token_on_default_deployment(rfc, http, path):
    """RFC 7644 §4: without a token discovery still answers (in the server's default
    dialect); with the rfc tenant's token it describes the RFC dialect."""
    assert http.get(f"/scim/v2{path}").status_code == 200
    r = rfc.get(path)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/scim+json")


def test_discovery_with_raw_client(strict):
    """RFC 7644 §4: an unauthenticated client reads the configuration."""
    r = strict.http.get("/scim/v2/ServiceProviderConfig")
    assert r.status_code == 200
    assert r.json()["schemas"] == [SPC_URN]


@pytest.mark.parametrize("path", ["/Users", "/Groups", "/Users/abc", "/Groups/abc"])
def test_no_authorization_header(strict, http, path):
    """RFC 7644 §2 and RFC 6750 §3: a request without credentials is 401 with a SCIM body
    and a WWW-Authenticate challenge."""
    r = strict.get(path, auth=False)
    assert_error(r, 401)
    assert r.headers["www-authenticate"].lower().startswith("bearer")
    r = http.get(f"/scim/v2{path}")
    assert r.status_code == 401
    assert r.headers["www-authenticate"].lower().startswith("bearer")


@pytest.mark.parametrize("header", ["Bearer not-a-real-token", "Bearer ", "Bearer",
                                    "Basic dXNlcjpwYXNzd29yZA==", "Token abc", "x" * 2000])
def test_bad_credentials(strict, rfc, header):
    """RFC 7644 §2 and RFC 6750 §3.1: an unknown token or another scheme is 401."""
    r = strict.get("/Users", auth=False, headers={"Authorization": header})
    assert_error(r, 401)
    assert "www-authenticate" in r.headers
    assert rfc.get("/Users", auth=False, headers={"Authorization": header}).status_code == 401


def test_basic_scheme_with_valid_token_value(strict):
    """RFC 7644 §2: only the Bearer scheme is accepted, even with the token's own value."""
    r = strict.get("/Users", auth=False,
                   headers={"Authorization": f"Basic {strict.access.token}"})
    assert_error(r, 401)


def test_bearer_scheme_is_case_insensitive(rfc):
    """RFC 7235 §2.1 (used by RFC 6750): the auth scheme name is case-insensitive."""
    r = rfc.get("/Users", auth=False, headers={"Authorization": f"bearer {rfc.access.token}"})
    assert r.status_code == 200, r.text


def test_unauthenticated_writes_are_401(strict):
    """RFC 7644 §2: creating without a token is refused and writes nothing."""
    body = {"schemas": [USER_URN], "userName": "sneaky"}
    assert_error(strict.post("/Users", body, auth=False), 401)
    assert_error(strict.post("/Users/.search", {}, auth=False), 401)
    assert_error(strict.delete("/Users/abc", auth=False), 401)
    assert strict.get("/Users", params={"filter": 'userName eq "sneaky"'}).json()[
        "totalResults"] == 0


def test_tenants_are_isolated(scim):
    """RFC 7644 §6 (multi-tenancy): a token of tenant A never reaches tenant B's resources."""
    a, b = scim("rfc"), scim("rfc")
    b_user = b.create_user("shared.name")
    b_group = b.create_group("B Team", [b_user["id"]])
    a_user = a.create_user("shared.name")  # the same userName is free in another tenant

    listed = a.get("/Users").json()
    assert [u["id"] for u in listed["Resources"]] == [a_user["id"]]
    assert listed["totalResults"] == 1
    assert a.get("/Groups").json()["totalResults"] == 0
    assert a.get("/Users", params={"filter": f'id eq "{b_user["id"]}"'}).json()[
        "totalResults"] == 0
    assert_error(a.get(f"/Users/{b_user['id']}"), 404)
    assert_error(a.get(f"/Groups/{b_group['id']}"), 404)
    assert_error(a.put(f"/Users/{b_user['id']}", {"schemas": [USER_URN],
                                                   "userName": "hijack"}), 404)
    assert_error(a.patch(f"/Users/{b_user['id']}", {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "replace", "path": "active", "value": False}]}), 404)
    assert_error(a.delete(f"/Users/{b_user['id']}"), 404)
    assert_error(a.delete(f"/Groups/{b_group['id']}"), 404)
    # A's group cannot take B's user as a member.
    r = a.post("/Groups", {"schemas": [GROUP_URN], "displayName": "A Team",
                           "members": [{"value": b_user["id"]}]})
    assert_error(r, 400)
    searched = a.post("/.search", {"schemas": ["urn:ietf:params:scim:api:messages:2.0:"
                                               "SearchRequest"]}).json()
    assert {res["id"] for res in searched["Resources"]} == {a_user["id"]}
    # B is untouched.
    got = b.get(f"/Users/{b_user['id']}").json()
    assert got["userName"] == "shared.name" and got["active"] is True
    assert [m["value"] for m in b.get(f"/Groups/{b_group['id']}").json()["members"]] == [
        b_user["id"]]


# -- routing (RFC 7644 §3.12, §3.2) ----------------------------------------------------

@pytest.mark.parametrize("path", ["/Nope", "/Users/abc/extra", "/", "/Bulk", "/Me/x",
                                  "/ServiceProviderConfig/x"])
def test_unknown_endpoint_is_404(strict, path):
    """RFC 7644 §3.12: an unknown endpoint is 404 with a SCIM error body."""
    assert_error(strict.get(path), 404)
    assert_error(strict.get(path, auth=False), 404)


@pytest.mark.parametrize("method,path,status", [("GET", "/Nope", 404),
                                                ("DELETE", "/Users", 405)])
def test_routing_errors_in_tenant_dialect(rfc, method, path, status):
    """RFC 7644 §3.12: an rfc tenant's request to a missing endpoint or with a wrong method
    gets an RFC error body (``status`` a string) even where the default dialect differs."""
    assert_error(rfc.request(method, path), status)


def test_unknown_resource_is_404(rfc):
    """RFC 7644 §3.4.1, §3.12: an unknown id is 404 with a SCIM error body."""
    assert_error(rfc.get("/Users/W0000000000"), 404)
    assert_error(rfc.get("/Groups/S0000000000"), 404)


@pytest.mark.parametrize("method,path", [
    ("DELETE", "/Users"), ("PUT", "/Users"), ("PATCH", "/Groups"), ("DELETE", "/Groups"),
    ("POST", "/Users/abc"), ("PUT", "/ServiceProviderConfig"), ("POST", "/Schemas"),
    ("DELETE", "/ResourceTypes/User"),
])
def test_wrong_method_is_405(strict, rfc, method, path):
    """RFC 7644 §3.12 (and RFC 7231 §6.5.5): a method an endpoint lacks is 405, SCIM body."""
    assert_error(strict.request(method, path), 405)
    assert rfc.request(method, path).status_code == 405


@pytest.mark.parametrize("method,path,allowed", [
    ("PUT", "/ServiceProviderConfig", {"GET"}),
    ("DELETE", "/Schemas", {"GET"}),
    ("DELETE", "/Users", {"GET", "POST"}),
    ("POST", "/Users/abc", {"GET", "PUT", "PATCH", "DELETE"}),
    ("PUT", "/Groups", {"GET", "POST"}),
    ("OPTIONS", "/Users/.search", {"POST"}),  # not the methods of /Users/{id}
    ("OPTIONS", "/Groups/.search/", {"POST"}),
])
def test_405_lists_allowed_methods(strict, method, path, allowed):
    """RFC 7231 §6.5.5: a 405 response MUST carry an Allow header listing the methods."""
    r = strict.request(method, path)
    assert r.status_code == 405
    listed = {m.strip().upper() for m in r.headers.get("allow", "").split(",") if m.strip()}
    assert allowed <= listed


def test_trailing_slashes_accepted(rfc):
    """RFC 7644 §3.2: endpoints answer with a trailing slash as without one."""
    user = rfc.create_user("slash.user")
    group = rfc.create_group("Slashers", [user["id"]])
    for path in ("/Users/", f"/Users/{user['id']}/", "/Groups/", f"/Groups/{group['id']}/",
                 "/Schemas/", "/ResourceTypes/", "/ServiceProviderConfigs/"):
        r = rfc.get(path)
        assert r.status_code == 200, (path, r.text)
    r = rfc.post("/Users/", {"schemas": [USER_URN], "userName": "slash.two"})
    assert r.status_code == 201, r.text
    r = rfc.post("/Users/.search/", {"schemas": [
        "urn:ietf:params:scim:api:messages:2.0:SearchRequest"]})
    assert r.status_code == 200, r.text
    assert r.json()["totalResults"] == 2
    r = rfc.delete(f"/Users/{r.json()['Resources'][1]['id']}/")
    assert r.status_code == 204, r.text


def test_error_content_type(rfc):
    """RFC 7644 §3.1, §3.12: errors are SCIM JSON."""
    r = rfc.get("/Users/nobody")
    assert r.headers["content-type"].startswith("application/scim+json")
    assert r.json()["detail"]
