"""The ``slack`` dialect's protocol surface at ``/scim/v1`` and ``/scim/v2``.

The contract is /work/shared/spec/slack-scim.md: paging (§5.1, §5.2, §16.12),
filters (§5.3, §16.10), sorting and projection (§16.11), errors and their shapes
(§1.2, §7, §16.1, §16.2, §16.24), plans and versions (§0, §1.1, §16.5) and the
discovery documents (§1.4, §2, §10, §16.14, §16.15, §16.25). Each test names the
sections it covers. Every test runs on SQLite and on PostgreSQL (see ``conftest.py``).
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from starlette.testclient import TestClient

from conftest import ScimClient
from scimd.app import create_app
from scimd.settings import Settings
from scimd.store import tenants
from scimd.store import users as user_store
from scimd.store.common import new_id
from scimd.store.db import Database
from scimd.store.records import Tenant

V1_CORE = "urn:scim:schemas:core:1.0"
V1_ENTERPRISE = "urn:scim:schemas:extension:enterprise:1.0"
USER_URN = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP_URN = "urn:ietf:params:scim:schemas:core:2.0:Group"
ENTERPRISE_URN = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
GUEST_URN = "urn:ietf:params:scim:schemas:extension:slack:guest:2.0:User"
PROFILE_URN = "urn:ietf:params:scim:schemas:extension:slack:profile:2.0:User"
DIRECTORY_URN = "urn:ietf:params:scim:schemas:extension:slack:directory:2.0:User"
PATCH_URN = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
LIST_URN = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
ERROR_URN = "urn:ietf:params:scim:api:messages:2.0:Error"
RESOURCE_TYPE_URN = "urn:ietf:params:scim:schemas:core:2.0:ResourceType"
SLACK_JSON = "application/json; charset=utf-8"
V1_LIST_KEYS = ["totalResults", "itemsPerPage", "startIndex", "schemas", "Resources"]
V2_LIST_KEYS = ["schemas", "Resources", "totalResults", "itemsPerPage", "startIndex"]
SPC_KEYS = {"authenticationSchemes", "patch", "bulk", "filter", "changePassword", "sort",
            "etag", "xmlDataFormat"}
FILTER_ERRORS = {"invalid_query", "no_filters", "incomplete_filter", "invalid_filter_group",
                 "query_building_failed"}


# -- helpers -------------------------------------------------------------------------------------


class Slack:
    """One slack-dialect tenant seen through both protocol versions."""

    def __init__(self, v2: ScimClient) -> None:
        self.v2 = v2
        self.v1 = ScimClient(v2.http, v2.access, prefix="/scim/v1")

    def at(self, version: int) -> ScimClient:
        return self.v1 if version == 1 else self.v2

    @property
    def tenant(self) -> Tenant:
        return self.v2.access.tenant


def error_code(r: httpx.Response, version: int, status: int) -> str:
    """Check the error shape of spec §7.1/§16.2 and answer the code.

    v1, and 401s at v2: exactly ``{"Errors": {"description", "code"}}`` with the
    integer status; v2 otherwise exactly ``{schemas, detail, status}`` with an
    integer status. The content type is ``application/json; charset=utf-8`` and
    the body starts with ``{`` (§7.1).
    """
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == SLACK_JSON
    assert r.content.startswith(b"{"), r.content[:20]
    body = r.json()
    if version == 1 or status == 401:
        assert list(body) == ["Errors"], body
        assert list(body["Errors"]) == ["description", "code"], body
        assert body["Errors"]["code"] == status
        return body["Errors"]["description"]
    assert list(body) == ["schemas", "detail", "status"], body
    assert body["schemas"] == [ERROR_URN]
    assert body["status"] == status and isinstance(body["status"], int)
    return body["detail"]


def assert_error(r: httpx.Response, version: int, status: int, code: str) -> None:
    description = error_code(r, version, status)
    assert description == code or description.startswith(code + " ("), (code, description)


def user_body(version: int, name: str, **attrs) -> dict:
    return {"schemas": [V1_CORE if version == 1 else USER_URN], "userName": name,
            "emails": [{"value": f"{name}@example.com", "primary": True}], **attrs}


def group_body(version: int, name: str) -> dict:
    return {"schemas": [V1_CORE if version == 1 else GROUP_URN], "displayName": name}


def bulk_users(db: Database, tenant: Tenant, n: int, prefix: str = "user") -> list[str]:
    """Insert ``n`` active users straight into the store (fast), in order; answer ids."""
    ids = []
    with db.write() as conn:
        for i in range(n):
            uid = new_id(tenant.user_prefix)
            name = f"{prefix}{i:05d}"
            user_store.insert_user(
                conn, tenant.pk, uid,
                {"userName": name, "nickName": name,
                 "emails": [{"value": f"{name}@example.com", "primary": True}],
                 "active": True},
                password_hash=None, unique_emails=True)
            ids.append(uid)
    return ids


def listing(client: ScimClient, path: str, version: int, **params) -> dict:
    r = client.get(path, params={k: str(v) for k, v in params.items()})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == SLACK_JSON
    body = r.json()
    assert list(body) == (V1_LIST_KEYS if version == 1 else V2_LIST_KEYS)
    assert body["schemas"] == ([V1_CORE] if version == 1 else [LIST_URN])
    assert body["itemsPerPage"] == len(body["Resources"])
    return body


def names(body: dict) -> list[str]:
    return [u["userName"] for u in body["Resources"]]


@pytest.fixture
def slack(scim) -> Slack:
    return Slack(scim("slack"))


@pytest.fixture(params=[1, 2], ids=["v1", "v2"])
def version(request: pytest.FixtureRequest) -> int:
    return request.param


@pytest.fixture
def slack_default(db: Database, database_url: str) -> Iterator[TestClient]:
    """An app whose requests without a tenant answer in the slack dialect (§16.24)."""
    settings = Settings(database_url=database_url, default_dialect="slack")
    if hasattr(settings, "rate_limits"):
        settings.rate_limits = False  # as conftest's app: many requests, no 429s
    app = create_app(settings, db)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


# -- paging (§5.1, §5.2, §16.12) ------------------------------------------------------------------


@pytest.fixture
def roster(slack: Slack, db: Database) -> list[str]:
    """25 users, in creation order."""
    return bulk_users(db, slack.tenant, 25)


def test_default_page_is_10_in_slack_key_order(slack, version, roster):
    """§5.2: default page size 10; ``itemsPerPage`` = resources returned; the list keys in
    the version's order; ``Resources`` always present."""
    body = listing(slack.at(version), "/Users", version)
    assert body["totalResults"] == 25
    assert body["itemsPerPage"] == 10
    assert body["startIndex"] == 1
    assert [u["id"] for u in body["Resources"]] == roster[:10]


def test_pages_walk_the_whole_roster(slack, version, roster):
    """§5.2: clients page by ``startIndex`` until they hold ``totalResults`` resources."""
    seen: list[str] = []
    start = 1
    while True:
        body = listing(slack.at(version), "/Users", version, startIndex=start, count=7)
        assert body["startIndex"] == start
        assert body["totalResults"] == 25
        seen += [u["id"] for u in body["Resources"]]
        if len(seen) >= body["totalResults"]:
            break
        start += 7
    assert seen == roster
    assert body["itemsPerPage"] == 4  # the last page holds what is left


@pytest.mark.parametrize("start", [0, -3])
def test_start_index_below_1_counts_as_1(slack, version, roster, start):
    """§5.1, §16.12: ``startIndex`` < 1 counts as 1 (the python SDK sends 0)."""
    body = listing(slack.at(version), "/Users", version, startIndex=start, count=3)
    assert body["startIndex"] == 1
    assert [u["id"] for u in body["Resources"]] == roster[:3]


@pytest.mark.parametrize("count", [0, -1, -50])
def test_count_zero_or_negative_answers_total_only(slack, version, roster, count):
    """§16.12: ``count=0`` answers ``totalResults`` with ``Resources: []``; a negative
    ``count`` counts as 0."""
    body = listing(slack.at(version), "/Users", version, count=count)
    assert body["totalResults"] == 25
    assert body["Resources"] == []
    assert body["itemsPerPage"] == 0


def test_start_index_past_the_end_is_an_empty_page(slack, version, roster):
    """§5.2: past the end there are no resources, but the list shape stays."""
    body = listing(slack.at(version), "/Users", version, startIndex=26)
    assert (body["totalResults"], body["Resources"], body["startIndex"]) == (25, [], 26)


def test_count_above_1000_is_clamped(slack, db, version):
    """§0, §5.2: ``count`` above 1000 is treated as 1000, without an error."""
    ids = bulk_users(db, slack.tenant, 1001)
    client = slack.at(version)
    body = listing(client, "/Users", version, count=5000, attributes="userName")
    assert body["totalResults"] == 1001
    assert body["itemsPerPage"] == 1000
    assert [u["id"] for u in body["Resources"]] == ids[:1000]
    body = listing(client, "/Users", version, count=1000, startIndex=1001)
    assert [u["id"] for u in body["Resources"]] == ids[1000:]


def test_group_lists_page_like_user_lists(slack, version):
    """§5.2: groups page the same way (default 10, ``count``, ``startIndex``, key order)."""
    client = slack.at(version)
    for i in range(12):
        assert client.post("/Groups", group_body(version, f"g{i:02d}")).status_code == 201
    body = listing(client, "/Groups", version)
    assert (body["totalResults"], body["itemsPerPage"]) == (12, 10)
    body = listing(client, "/Groups", version, startIndex=11, count=5)
    assert [g["displayName"] for g in body["Resources"]] == ["g10", "g11"]
    body = listing(client, "/Groups", version, count=0)
    assert (body["totalResults"], body["Resources"]) == (12, [])


def test_items_per_page_is_the_number_returned(slack, version, roster):
    """§5.2: with ``count=5`` and 2 matches, ``itemsPerPage`` is 2."""
    body = listing(slack.at(version), "/Users", version, count=5,
                   filter='userName sw "user0000" and userName le "user00001"')
    assert (body["totalResults"], body["itemsPerPage"]) == (2, 2)


# -- filters (§5.3, §16.10) -----------------------------------------------------------------------


@pytest.fixture
def crowd(slack: Slack) -> dict[str, str]:
    """carly and carlos (@acme), dave (@other) and the multi-channel guest kim."""
    made = {}
    for name, email in (("carly", "carly@acme.example"), ("carlos", "carlos@acme.example"),
                        ("dave", "dave@other.example")):
        made[name] = slack.v2.create_user(name, emails=[{"value": email, "primary": True}])["id"]
    r = slack.v2.post("/Users", {
        "schemas": [USER_URN, GUEST_URN], "userName": "kim",
        "emails": [{"value": "kim@vendor.example"}], GUEST_URN: {"type": "multi"}})
    assert r.status_code == 201, r.text
    made["kim"] = r.json()["id"]
    return made


EVERYONE = ["carly", "carlos", "dave", "kim"]


@pytest.mark.parametrize(("text", "expected"), [
    ('userName eq "carly"', ["carly"]),
    ('userName Eq "Carly"', ["carly"]),
    ('USERNAME EQ "CARLY"', ["carly"]),
    ('username eq "carly"', ["carly"]),
    ("userName eq 'carly'", ["carly"]),
    ("userName eq carly", ["carly"]),
    ('email eq "dave@other.example"', ["dave"]),
    ('email Eq "carlos@acme.example"', ["carlos"]),
    ("email eq 'carly@acme.example'", ["carly"]),
    ("restricted eq 1", ["kim"]),
    ("restricted eq '1'", ["kim"]),
    ('restricted eq "1"', ["kim"]),
    ("restricted eq 0", ["carly", "carlos", "dave"]),
    ("ultra_restricted eq 1", []),
    ("ultra_restricted eq '0'", EVERYONE),
    ('userName co "arl"', ["carly", "carlos"]),
    ('email co "acme"', ["carly", "carlos"]),
    ('userName sw "car"', ["carly", "carlos"]),
    ('email sw "dave@"', ["dave"]),
    ("userName pr", EVERYONE),
    ('userName gt "carlos"', ["carly", "dave", "kim"]),
    ('userName ge "carly"', ["carly", "dave", "kim"]),
    ('userName lt "carly"', ["carlos"]),
    ('userName le "carly"', ["carly", "carlos"]),
    ('userName eq "carly" or userName eq "dave" and email co "other"', ["carly", "dave"]),
    ('(userName eq "carly" or userName eq "dave") and email co "other"', ["dave"]),
    ('userName sw "car" and (email co "acme" or email co "other")', ["carly", "carlos"]),
    ("restricted eq 1 or userName eq 'dave'", ["dave", "kim"]),
    ('userName eq "nobody"', []),
], ids=lambda v: v if isinstance(v, str) else None)
def test_filters(slack, version, crowd, text, expected):
    """§5.3, §16.10: the ``username``/``email``/``restricted``/``ultra_restricted``
    attributes, case-insensitive names, operators and (for usernames) values; double,
    single and no quotes; ``and``/``or`` with standard precedence and parentheses;
    ``co``, ``sw``, ``pr``, ``gt``/``ge``/``lt``/``le``; one engine on v1 and v2."""
    body = listing(slack.at(version), "/Users", version, filter=text)
    assert sorted(names(body)) == sorted(expected)
    assert body["totalResults"] == len(expected)


def test_filter_with_percent_encoded_spaces(slack, version, crowd):
    """§5.1: spaces may come as ``%20`` (python SDK) or ``+`` (older client)."""
    client = slack.at(version)
    for query in ("filter=userName%20eq%20%22carly%22", "filter=userName+eq+%22carly%22"):
        r = client.http.get(f"{client.prefix}/Users?{query}&count=10&startIndex=1",
                            headers=client.auth)
        assert r.status_code == 200, r.text
        assert names(r.json()) == ["carly"]


def test_filter_foo_is_no_filters_aggregate_on_v1(slack, crowd):
    """§5.3: ``filter=foo`` → 400 with exactly
    ``{"Errors":{"description":"no_filters (is_aggregate_call=1)","code":400}}``."""
    r = slack.v1.get("/Users", params={"filter": "foo"})
    assert r.status_code == 400
    assert r.json() == {"Errors": {"description": "no_filters (is_aggregate_call=1)",
                                   "code": 400}}
    error_code(r, 1, 400)


def test_filter_foo_on_v2_is_no_filters(slack, crowd):
    """§5.3, §16.2: the same error in the v2 shape."""
    assert_error(slack.v2.get("/Users", params={"filter": "foo"}), 2, 400, "no_filters")


def test_filter_error_wins_over_negative_count(slack, version, crowd):
    """§5.1: a live test sent a negative ``count`` with an invalid filter: the filter
    error won."""
    r = slack.at(version).get("/Users", params={"filter": "foo", "count": "-1"})
    assert_error(r, version, 400, "no_filters")


@pytest.mark.parametrize("text", [
    'userName eq',
    '(userName eq "carly"',
    'userName eq "carly")',
    'userName eq "carly" and',
    'userName xx "carly"',
    'userName eq "carly" and (email co "acme"',
    'nosuchattr eq "x"',
    '',
])
def test_bad_filters_are_400(slack, version, crowd, text):
    """§5.3: malformed filters are 400 with one of Slack's filter codes (``no_filters``,
    ``invalid_query``, ``incomplete_filter``, ``invalid_filter_group``, …), in the
    version's error shape."""
    for path in ("/Users", "/Groups"):
        code = error_code(slack.at(version).get(path, params={"filter": text}), version, 400)
        assert code.split(" ")[0] in FILTER_ERRORS, (text, code)


def test_filter_tokens_must_be_single_space_separated(slack, version, crowd):
    """§5.3, §7.3: ``incomplete_filter`` — tokens not separated by single spaces."""
    r = slack.at(version).get("/Users", params={"filter": 'userName  eq "carly"'})
    assert_error(r, version, 400, "incomplete_filter")


# -- sorting and projection (§16.11) ------------------------------------------------------------


@pytest.mark.parametrize("order", ["up", "asc", "DESC-ending", "1"])
def test_bad_sort_order_is_invalid_sort_order(slack, version, crowd, order):
    """§7.3, §16.11: a ``sortOrder`` other than ``ascending``/``descending`` → 400
    ``invalid_sort_order``, for users and groups."""
    for path in ("/Users", "/Groups"):
        r = slack.at(version).get(path, params={"sortOrder": order, "sortBy": "userName"
                                                if path == "/Users" else "displayName"})
        assert_error(r, version, 400, "invalid_sort_order")


def test_sort_by_and_sort_order_are_honoured(slack, version, crowd):
    """§16.11: ``sortBy`` with ``sortOrder`` ``ascending``/``descending`` orders the list."""
    client = slack.at(version)
    up = listing(client, "/Users", version, sortBy="userName", sortOrder="ascending")
    assert names(up) == sorted(EVERYONE)
    down = listing(client, "/Users", version, sortBy="userName", sortOrder="descending")
    assert names(down) == sorted(EVERYONE, reverse=True)


def test_attributes_limits_the_answer(slack, version, crowd):
    """§16.11: ``attributes`` is honoured on lists and reads (``id`` always comes back)."""
    client = slack.at(version)
    body = listing(client, "/Users", version, attributes="userName",
                   filter='userName eq "carly"')
    (user,) = body["Resources"]
    assert user["id"] == crowd["carly"] and user["userName"] == "carly"
    assert not {"emails", "groups", "name", "active", "displayName"} & set(user)
    r = client.get(f"/Users/{crowd['dave']}", params={"attributes": "emails"})
    assert r.status_code == 200, r.text
    assert r.json()["emails"] == [{"value": "dave@other.example", "primary": True}]
    assert "userName" not in r.json()


def test_excluded_attributes_drops_them(slack, version, crowd):
    """§16.11: ``excludedAttributes`` is honoured on users and groups."""
    client = slack.at(version)
    body = listing(client, "/Users", version, excludedAttributes="emails,groups",
                   filter='userName eq "carly"')
    (user,) = body["Resources"]
    assert "emails" not in user and "groups" not in user
    assert user["userName"] == "carly" and user["active"] is True
    r = client.post("/Groups", {**group_body(version, "proj"),
                                "members": [{"value": crowd["carly"]}]})
    assert r.status_code == 201, r.text
    body = listing(client, "/Groups", version, excludedAttributes="members")
    assert [g["displayName"] for g in body["Resources"]] == ["proj"]
    assert "members" not in body["Resources"][0]
    body = listing(client, "/Groups", version, attributes="displayName")
    assert "members" not in body["Resources"][0]
    assert body["Resources"][0]["displayName"] == "proj"


# -- errors (§7, §1.2, §16.1, §16.2, §16.24) ------------------------------------------------------


@pytest.mark.parametrize("path", ["/Users", "/Groups", "/Users/W0ANYONE00"])
def test_missing_token_is_missing_authentication(slack_default, version, path):
    """§1.2, §7.1, §16.2: no token → 401 ``missing_authentication``; at v2 in the v1
    shape too (requests naming no tenant use the slack default, §16.24)."""
    r = slack_default.get(f"/scim/v{version}{path}")
    assert_error(r, version, 401, "missing_authentication")


@pytest.mark.parametrize("header", ["Bearer xoxp-not-a-real-token", "Bearer dummy",
                                    "Basic dXNlcjpwYXNz", "xoxp-no-scheme"])
def test_bad_token_is_invalid_authentication(slack_default, version, header):
    """§1.2, §7.1: a bad, malformed or non-Bearer token → 401 ``invalid_authentication``
    in the v1 shape on both versions (the Java SDK's ``*_dummy`` live tests)."""
    r = slack_default.get(f"/scim/v{version}/Users", headers={"Authorization": header})
    assert_error(r, version, 401, "invalid_authentication")
    assert r.json() == {"Errors": {"description": "invalid_authentication", "code": 401}}


def test_v1_401_in_v1_shape_even_with_rfc_default(slack):
    """§7.1: v1 always answers in the v1 shape, whatever the server's default dialect."""
    r = slack.v1.get("/Users", auth=False)
    assert_error(r, 1, 401, "missing_authentication")


def test_token_without_admin_scope_on_slack_tenant_v2(slack, db):
    """§1.2: a token lacking the ``admin`` scope → 401 ``invalid_authentication``; it names
    a slack tenant, so the answer is in that dialect's 401 shape (the v1 shape) even
    though this app's default dialect is rfc (§16.2, §16.24)."""
    with db.write() as conn:
        token = tenants.create_token(conn, slack.tenant.pk, scopes="read")
    r = slack.v2.http.get("/scim/v2/Users", headers={"Authorization": f"Bearer {token}"})
    assert_error(r, 2, 401, "invalid_authentication")


@pytest.mark.parametrize("path", ["/Nope", "/Users/W0X/extra", "/Groupz", "/Schemas/Nope"])
def test_unknown_endpoint_is_404_bad_endpoint(slack, version, path):
    """§1.1, §7.2: an unknown URL → 404 ``bad_endpoint``."""
    assert_error(slack.at(version).get(path), version, 404, "bad_endpoint")


def test_unknown_endpoint_without_token_uses_slack_default(slack_default, version):
    """§16.24: a request naming no tenant answers in the default (slack) dialect."""
    assert_error(slack_default.get(f"/scim/v{version}/Nope"), version, 404, "bad_endpoint")


@pytest.mark.parametrize(("method", "path"), [
    ("DELETE", "/Users"), ("PUT", "/Users"), ("PATCH", "/Groups"), ("POST", "/Users/W0X"),
    ("POST", "/Groups/S0X"), ("POST", "/ServiceProviderConfigs"),
])
def test_wrong_method_is_405_method_not_allowed(slack, version, method, path):
    """§7.2, §7.3: a method the path does not take → 405 ``method_not_allowed``."""
    r = slack.at(version).request(method, path, json={"schemas": [V1_CORE]})
    assert_error(r, version, 405, "method_not_allowed")


@pytest.mark.parametrize(("method", "path"), [
    ("POST", "/Users"), ("POST", "/Groups"), ("PUT", "/Users/{uid}"),
    ("PATCH", "/Users/{uid}"), ("PUT", "/Groups/{gid}"), ("PATCH", "/Groups/{gid}"),
])
@pytest.mark.parametrize("content", [b"{not json", b"<xml/>", b"\xff\xfe"],
                         ids=["broken", "xml", "binary"])
def test_body_not_json_is_400(slack, version, method, path, content):
    """§2, §7.2: a write whose body is not JSON → 400 in the version's error shape; nothing
    is written."""
    client = slack.at(version)
    user = slack.v2.create_user("target")
    group = slack.v2.create_group("target")
    before = (client.get(f"/Users/{user['id']}").json(),
              client.get(f"/Groups/{group['id']}").json())
    r = client.request(method, path.format(uid=user["id"], gid=group["id"]), content=content,
                       headers={"Content-Type": "application/json"})
    error_code(r, version, 400)
    assert (client.get(f"/Users/{user['id']}").json(),
            client.get(f"/Groups/{group['id']}").json()) == before


@pytest.mark.parametrize(("method", "path", "body"), [
    ("POST", "/Users", {"userName": "nos", "emails": [{"value": "nos@example.com"}]}),
    ("POST", "/Groups", {"displayName": "nos"}),
    ("PUT", "/Users/{uid}", {"userName": "target",
                             "emails": [{"value": "target@example.com"}]}),
    ("PUT", "/Groups/{gid}", {"displayName": "renamed"}),
    ("PATCH", "/Users/{uid}", {"title": "boss"}),
    ("PATCH", "/Groups/{gid}", {"displayName": "renamed"}),
    ("POST", "/Users", {"schemas": [], "userName": "nos",
                        "emails": [{"value": "nos@example.com"}]}),
])
def test_body_without_schemas_is_missing_schema_element(slack, version, method, path, body):
    """§7.3, §4.4, §6.1: ``schemas`` is required in request bodies → 400
    ``missing_schema_element`` (v2 documented example); nothing is written."""
    client = slack.at(version)
    user = slack.v2.create_user("target")
    group = slack.v2.create_group("target")
    r = client.request(method, path.format(uid=user["id"], gid=group["id"]), json=body)
    assert_error(r, version, 400, "missing_schema_element")
    assert client.get(f"/Users/{user['id']}").json()["title"] == ""
    assert client.get(f"/Groups/{group['id']}").json()["displayName"] == "target"
    assert client.get("/Users").json()["totalResults"] == 1


@pytest.mark.parametrize("kind", ["Users", "Groups"])
def test_v2_patch_op_without_schemas_is_missing_schema_element(slack, kind):
    """§7.3: ``schemas`` is required in every request body, a v2 PatchOp included."""
    target = (slack.v2.create_user("target") if kind == "Users"
              else slack.v2.create_group("target"))
    r = slack.v2.patch(f"/{kind}/{target['id']}", {"Operations": [
        {"op": "replace", "path": "displayName", "value": "renamed"}]})
    assert_error(r, 2, 400, "missing_schema_element")


def test_success_bodies_are_slack_json(slack, version):
    """§7.1: responses are ``application/json; charset=utf-8`` and start with ``{``."""
    client = slack.at(version)
    answers = [client.post("/Users", user_body(version, "jsonny")),
               client.get("/Users"), client.get("/Groups"),
               client.post("/Groups", group_body(version, "jsonny")),
               client.get("/ServiceProviderConfigs")]
    for r in answers:
        assert r.status_code in (200, 201), r.text
        assert r.headers["content-type"] == SLACK_JSON
        assert r.content.startswith(b"{")


def test_get_and_delete_tolerate_a_json_content_type(slack, version):
    """§12: the python SDK sends a JSON (or form) content type even on GET and DELETE."""
    client = slack.at(version)
    user = slack.v2.create_user("typed")
    for ctype in ("application/json;charset=utf-8",
                  "application/x-www-form-urlencoded;charset=utf-8"):
        r = client.get(f"/Users/{user['id']}", headers={"Content-Type": ctype})
        assert r.status_code == 200, r.text
    r = client.delete(f"/Users/{user['id']}",
                      headers={"Content-Type": "application/json;charset=utf-8"})
    assert r.status_code == (200 if version == 1 else 204), r.text


def test_trailing_slash_is_accepted(slack, version):
    """§2: paths are served with and without a trailing slash (``GET /Groups/``)."""
    client = slack.at(version)
    assert client.post("/Groups/", group_body(version, "slashed")).status_code == 201
    assert listing(client, "/Groups/", version)["totalResults"] == 1
    assert listing(client, "/Users/", version)["totalResults"] == 0


# -- plans and versions (§0, §1.1, §7.3, §16.5) --------------------------------------------------

_CALLS = [("GET", "/Users"), ("POST", "/Users"), ("GET", "/Users/W0ANYONE00"),
          ("PUT", "/Users/W0ANYONE00"), ("PATCH", "/Users/W0ANYONE00"),
          ("DELETE", "/Users/W0ANYONE00"), ("GET", "/Groups"), ("POST", "/Groups"),
          ("GET", "/Groups/S0ANYONE00"), ("PUT", "/Groups/S0ANYONE00"),
          ("PATCH", "/Groups/S0ANYONE00"), ("DELETE", "/Groups/S0ANYONE00")]


@pytest.mark.parametrize("plan", ["free", "pro"])
def test_free_and_pro_plans_are_plus_teams_only(scim, version, plan):
    """§0, §7.2, §7.3: tenants without Business+ or Enterprise → 403 ``plus_teams_only``
    on every SCIM call; nothing is written."""
    client = Slack(scim("slack", plan=plan)).at(version)
    for method, path in _CALLS:
        body = (user_body(version, "nope") if path.startswith("/Users")
                else group_body(version, "nope")) if method in ("POST", "PUT", "PATCH") else None
        r = client.request(method, path, json=body)
        assert_error(r, version, 403, "plus_teams_only")


@pytest.mark.parametrize("plan", ["business_plus", "enterprise"])
def test_business_plus_and_enterprise_may_use_scim(scim, version, plan):
    """§0, §11, §16.5: Business+ and Enterprise tenants use both versions."""
    client = Slack(scim("slack", plan=plan)).at(version)
    r = client.post("/Users", user_body(version, "allowed"))
    assert r.status_code == 201, r.text
    assert r.json()["id"][0] == ("W" if plan == "enterprise" else "U")
    assert listing(client, "/Users", version)["totalResults"] == 1


@pytest.mark.parametrize(("method", "path"), _CALLS[:3] + _CALLS[6:8])
def test_rfc_tenant_on_v1_is_unsupported_version(scim, method, path):
    """§1.1, §7.2, §7.3: SCIM 1.1 is Slack's; an rfc tenant's token at ``/scim/v1`` →
    404 ``unsupported_version`` in the v1 shape."""
    rfc = scim("rfc")
    v1 = ScimClient(rfc.http, rfc.access, prefix="/scim/v1")
    body = group_body(1, "x") if method == "POST" else None
    assert_error(v1.request(method, path, json=body), 1, 404, "unsupported_version")


# -- discovery (§1.4, §2, §10, §16.14, §16.15, §16.25) -------------------------------------------


def _check_spc(r: httpx.Response, *, exact: bool = True) -> None:
    """§10.1, §16.25: Slack's keys (exactly them, no ``schemas``, unless ``exact`` is
    false), with flags saying what scimd supports."""
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == SLACK_JSON
    doc = r.json()
    if exact:
        assert set(doc) == SPC_KEYS, doc
    else:
        assert set(doc) >= SPC_KEYS, doc
    (scheme,) = doc["authenticationSchemes"]
    assert scheme["type"] == "oauthbearertoken"
    assert scheme["primary"] is True
    assert {"name", "description", "specUrl"} <= set(scheme)
    for flag in ("patch", "filter", "sort", "etag"):
        assert doc[flag]["supported"] is True, flag
    assert doc["bulk"] == {"supported": False, "maxOperations": 0, "maxPayloadSize": 0}
    assert doc["xmlDataFormat"] == {"supported": False}
    assert doc["changePassword"] == {"supported": False}  # passwords cannot change (§3.2)
    assert doc["filter"]["maxResults"] == 1000


@pytest.mark.parametrize("auth", ["none", "dummy", "token"])
def test_v1_service_provider_configs(slack, auth):
    """§1.4, §2.1, §10.1: ``GET /scim/v1/ServiceProviderConfigs`` is served without a
    valid token (no token, or the token ``dummy`` as the Java SDK sends) and with one."""
    headers = {"Authorization": "Bearer dummy"} if auth == "dummy" else None
    _check_spc(slack.v1.get("/ServiceProviderConfigs", auth=auth == "token", headers=headers))


def _v2_spc_answers(slack: Slack, slack_default: TestClient, path: str) -> list:
    return [slack.v2.get(path), slack_default.get(f"/scim/v2{path}"),
            slack_default.get(f"/scim/v2{path}", headers={"Authorization": "Bearer dummy"})]


@pytest.mark.parametrize("path", ["/ServiceProviderConfig", "/ServiceProviderConfigs"])
def test_v2_service_provider_config_singular_and_plural(slack, slack_default, path):
    """§2.2, §10.1, §16.25: v2 serves both paths with Slack's keys and flags: for a slack
    tenant's token, and without a valid token (none, or ``dummy``) when the default
    dialect is slack (§1.4, §16.24). The exact key set is checked separately below."""
    for r in _v2_spc_answers(slack, slack_default, path):
        _check_spc(r, exact=False)


@pytest.mark.parametrize("path", ["/ServiceProviderConfig", "/ServiceProviderConfigs"])
def test_v2_service_provider_config_has_exactly_slacks_keys(slack, slack_default, path):
    """§10.1: "the v2 SDK sample has the same keys, no ``schemas``"; §16.25: discovery
    documents keep the keys and shapes of §10."""
    for r in _v2_spc_answers(slack, slack_default, path):
        _check_spc(r)


def _check_resource_types(r: httpx.Response) -> None:
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == SLACK_JSON
    body = r.json()
    assert list(body)[:2] == ["schemas", "Resources"]
    assert body["schemas"] == [LIST_URN]
    user, group = body["Resources"]
    for doc, name, endpoint, schema in ((user, "User", "/Users", USER_URN),
                                        (group, "Group", "/Groups", GROUP_URN)):
        assert doc["schemas"] == [RESOURCE_TYPE_URN]
        assert (doc["id"], doc["name"], doc["endpoint"], doc["schema"]) == (
            name, name, endpoint, schema)
        assert doc["meta"]["location"].endswith(f"/scim/v2/ResourceTypes/{name}")
    assert user["description"] == "User Account"
    extensions = {e["schema"]: e["required"] for e in user["schemaExtensions"]}
    assert extensions == {ENTERPRISE_URN: False, GUEST_URN: False, PROFILE_URN: False}
    assert DIRECTORY_URN not in extensions  # §16.14: not implemented
    assert not group.get("schemaExtensions")


def test_v2_resource_types(slack, slack_default):
    """§2.2, §10.2, §16.14: a ListResponse without ``totalResults``: User (extensions
    enterprise, guest, profile; no slack:directory) and Group."""
    _check_resource_types(slack.v2.get("/ResourceTypes"))
    _check_resource_types(slack_default.get("/scim/v2/ResourceTypes"))


def test_v2_resource_types_list_has_no_total_results(slack, slack_default):
    """§10.2: "No ``totalResults`` in this list" (Java's ``ResourceTypesGetResponse`` has
    no such field); §16.25 keeps the keys of §10."""
    for r in (slack.v2.get("/ResourceTypes"), slack_default.get("/scim/v2/ResourceTypes")):
        assert r.status_code == 200, r.text
        assert list(r.json()) == ["schemas", "Resources"]


def test_v1_has_no_resource_types(slack):
    """§2.1: ``/ResourceTypes`` is not applicable to SCIM 1.1 → 404 ``bad_endpoint``."""
    assert_error(slack.v1.get("/ResourceTypes"), 1, 404, "bad_endpoint")
    assert_error(slack.v1.get("/ResourceTypes/User"), 1, 404, "bad_endpoint")


def _by_name(attrs: list[dict]) -> dict[str, dict]:
    return {a["name"]: a for a in attrs}


def _v1_users_schema(slack: Slack) -> dict:
    r = slack.v1.get("/Schemas/Users")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == SLACK_JSON
    return r.json()


def test_v1_schemas_users(slack):
    """§10.3: ``GET /scim/v1/Schemas/Users``: id ``urn:scim:schemas:core:1.0:User``, the
    ``schema`` array with the enterprise URN, attributes carrying ``name, type,
    multiValued, description, schema, readOnly, required, caseExact``, the enterprise
    extension as a complex multi-valued attribute named by its URN."""
    doc = _v1_users_schema(slack)
    assert doc["id"] == "urn:scim:schemas:core:1.0:User"
    assert (doc["name"], doc["description"], doc["endpoint"]) == ("User", "Core User",
                                                                   "/Users")
    assert isinstance(doc["schema"], list)
    assert doc["schema"][0] == V1_CORE and V1_ENTERPRISE in doc["schema"]
    assert all(not s.startswith("urn:ietf") for s in doc["schema"])
    for attr in doc["attributes"]:
        assert {"name", "type", "multiValued", "description", "schema", "readOnly",
                "required", "caseExact"} <= set(attr), attr
        assert isinstance(attr["readOnly"], bool) and isinstance(attr["required"], bool)
    attrs = _by_name(doc["attributes"])
    assert attrs["userName"]["required"] is True
    assert attrs["emails"]["required"] is True and attrs["emails"]["multiValued"] is True
    emails = _by_name(attrs["emails"]["subAttributes"])
    assert emails["value"]["required"] is True
    assert set(emails["type"]["canonicalValues"]) == {"work", "home", "other"}
    assert attrs["groups"]["readOnly"] is True
    assert "multiValuedAttributeChildName" in attrs["emails"]
    enterprise = attrs[V1_ENTERPRISE]
    assert (enterprise["type"], enterprise["multiValued"]) == ("complex", True)
    assert {"employeeNumber", "costCenter", "organization", "division", "department",
            "manager"} <= set(_by_name(enterprise["subAttributes"]))
    assert not [name for name in attrs if name.startswith("urn:ietf")]
    assert not {"ims", "x509Certificates", "entitlements"} & set(attrs)


def test_v1_schema_id_is_read_only_and_required(slack):
    """§10.3: flags worth copying: ``id`` readOnly and required (users and groups)."""
    for name in ("Users", "Groups"):
        attrs = _by_name(slack.v1.get(f"/Schemas/{name}").json()["attributes"])
        assert (attrs["id"]["readOnly"], attrs["id"]["required"]) == (True, True), name


def test_v1_schemas_groups(slack):
    """§10.3: ``GET /scim/v1/Schemas/Groups``: ``schema`` a string, attributes ``id``,
    ``displayName`` (required) and ``members`` (complex, multi-valued, child ``member``,
    sub ``value`` required and ``display`` readOnly)."""
    r = slack.v1.get("/Schemas/Groups")
    assert r.status_code == 200, r.text
    doc = r.json()
    assert doc["id"] == "urn:scim:schemas:core:1.0:Group"
    assert (doc["name"], doc["schema"], doc["endpoint"]) == ("Group", V1_CORE, "/Groups")
    assert isinstance(doc["description"], str)
    attrs = _by_name(doc["attributes"])
    assert set(attrs) == {"id", "displayName", "members"}
    assert attrs["displayName"]["required"] is True
    members = attrs["members"]
    assert (members["type"], members["multiValued"]) == ("complex", True)
    assert members["multiValuedAttributeChildName"] == "member"
    subs = _by_name(members["subAttributes"])
    assert subs["value"]["required"] is True
    assert subs["display"]["readOnly"] is True


def test_v1_schemas_need_no_token(slack):
    """§1.4, §10.3: the v1 schema documents are discovery, served like the config."""
    r = slack.v1.get("/Schemas/Users", auth=False)
    assert r.status_code == 200, r.text
    assert r.json()["id"] == "urn:scim:schemas:core:1.0:User"


ALLOWED_USER_ATTRS = {"id", "externalId", "meta", "userName", "nickName", "name", "displayName",
                      "profileUrl", "title", "timezone", "active", "password", "emails",
                      "photos", "addresses", "phoneNumbers", "userType", "roles",
                      "preferredLanguage", "locale", "groups"}
SHOWN_USER_ATTRS = ALLOWED_USER_ATTRS - {"id", "externalId", "meta", "password"}


def _v2_schema(client, name: str) -> dict:
    r = client.get(f"/Schemas/{name}")
    assert r.status_code == 200, (name, r.text)
    assert r.headers["content-type"] == SLACK_JSON
    return r.json()


def _check_v2_user_schema(doc: dict) -> None:
    """§16.15, §3.2: exactly the attributes Slack keeps."""
    assert doc["id"] == USER_URN
    attrs = _by_name(doc["attributes"])
    assert SHOWN_USER_ATTRS <= set(attrs) <= ALLOWED_USER_ATTRS, set(attrs)
    assert set(_by_name(attrs["name"]["subAttributes"])) == {"givenName", "familyName",
                                                             "honorificPrefix"}
    assert not {"formatted"} & set(_by_name(attrs["addresses"]["subAttributes"]))
    assert {"value", "display"} == set(_by_name(attrs["groups"]["subAttributes"]))
    assert attrs["userName"]["required"] is True
    assert attrs["emails"]["required"] is True
    assert attrs["groups"]["mutability"] == "readOnly"


def test_v2_schemas_list(slack, slack_default):
    """§2.2, §16.15, §16.14: ``/Schemas`` lists the core User, the enterprise, profile and
    guest extensions and the Group; never ``slack:directory``."""
    for r in (slack.v2.get("/Schemas"), slack_default.get("/scim/v2/Schemas")):
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["schemas"] == [LIST_URN]
        ids = [d["id"] for d in body["Resources"]]
        assert set(ids) == {USER_URN, ENTERPRISE_URN, PROFILE_URN, GUEST_URN, GROUP_URN}
        docs = {d["id"]: d for d in body["Resources"]}
        _check_v2_user_schema(docs[USER_URN])


@pytest.mark.parametrize("name", ["Users", "User", USER_URN, "users"])
def test_v2_user_schema_by_every_name(slack, name):
    """§2.2, §16.15: ``/Schemas/Users``, ``/Schemas/User`` and ``/Schemas/<urn>`` describe
    exactly the Slack user attributes: no ``ims``, ``x509Certificates``,
    ``entitlements``; ``name`` without ``formatted``/``middleName``."""
    _check_v2_user_schema(_v2_schema(slack.v2, name))


@pytest.mark.parametrize("name", ["Groups", "Group", GROUP_URN])
def test_v2_group_schema_by_every_name(slack, name):
    """§2.2, §4.1, §16.15: the group schema: ``displayName`` (required) and ``members``
    ``{value, display}``."""
    doc = _v2_schema(slack.v2, name)
    assert doc["id"] == GROUP_URN
    attrs = _by_name(doc["attributes"])
    assert set(attrs) <= {"id", "externalId", "meta", "displayName", "members"}
    assert attrs["displayName"]["required"] is True
    assert set(_by_name(attrs["members"]["subAttributes"])) == {"value", "display"}


def test_v2_extension_schemas(slack):
    """§3.2, §16.14, §16.15: the enterprise extension has Slack's six fields and
    ``manager.managerId``; profile has ``startDate``; guest ``type``, ``expiration``,
    ``channels`` (read-only); ``slack:directory`` is not served."""
    enterprise = _by_name(_v2_schema(slack.v2, ENTERPRISE_URN)["attributes"])
    assert set(enterprise) == {"employeeNumber", "costCenter", "organization", "division",
                               "department", "manager"}
    manager = _by_name(enterprise["manager"]["subAttributes"])
    assert "managerId" in manager
    assert not {"displayName", "$ref"} & set(manager)
    profile = _by_name(_v2_schema(slack.v2, PROFILE_URN)["attributes"])
    assert set(profile) == {"startDate"}
    guest = _by_name(_v2_schema(slack.v2, GUEST_URN)["attributes"])
    assert set(guest) == {"type", "expiration", "channels"}
    assert guest["channels"]["mutability"] == "readOnly"
    assert_error(slack.v2.get(f"/Schemas/{DIRECTORY_URN}"), 2, 404, "bad_endpoint")
