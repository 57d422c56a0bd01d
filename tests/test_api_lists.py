"""HTTP tests of listing, filtering, sorting, paging, projection, searching and ETags.

RFC 7644 §3.4.2 (query), §3.4.3 (POST .search), §3.9 (attributes on every answer) and
§3.14 (versioning). Every test runs against fresh ``rfc`` tenants on SQLite and PostgreSQL.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from scim_assert import assert_error, patch_op
from scimd.store import users as user_store
from scimd.store.common import new_id

ERROR_URN = "urn:ietf:params:scim:api:messages:2.0:Error"
LIST_URN = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
SEARCH_URN = "urn:ietf:params:scim:api:messages:2.0:SearchRequest"
PATCH_URN = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
USER_URN = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP_URN = "urn:ietf:params:scim:schemas:core:2.0:Group"
ENT = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"


# -- helpers ---------------------------------------------------------------------------



def assert_list(r) -> dict:
    """An RFC 7644 §3.4.2 ListResponse with consistent counters, as SCIM JSON (§8.1)."""
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/scim+json")
    body = r.json()
    assert body["schemas"] == [LIST_URN]
    assert isinstance(body["totalResults"], int)
    assert isinstance(body["Resources"], list)
    assert body["itemsPerPage"] == len(body["Resources"])
    assert isinstance(body["startIndex"], int) and body["startIndex"] >= 1
    return body


def search(body: dict | None = None, **params) -> dict:
    return {"schemas": [SEARCH_URN], **(body or {}), **params}


def user_names(client, flt: str, path: str = "/Users") -> set[str]:
    body = assert_list(client.get(path, params={"filter": flt, "count": "1000"}))
    assert body["totalResults"] == len(body["Resources"])
    return {u["userName"] for u in body["Resources"]}


def insert_users(db, client, count: int, prefix: str = "bulk") -> None:
    """Insert users straight through the store, for lists too long to POST one by one."""
    with db.write() as conn:
        for i in range(count):
            user_store.insert_user(
                conn, client.access.tenant.pk, new_id("W"),
                {"userName": f"{prefix}{i:05d}", "active": True},
                password_hash=None, unique_emails=False)


@pytest.fixture
def people(rfc):
    """Four users and three groups with varied attributes for filter and sort tests."""
    alice = rfc.create_user(
        "Alice", schemas=[USER_URN, ENT], externalId="Ext-A",
        name={"givenName": "Alice", "familyName": "Smith"}, title="Engineer",
        emails=[{"value": "alice@example.com", "type": "work", "primary": True},
                {"value": "alice@home.org", "type": "home"}],
        phoneNumbers=[{"value": "555-0100", "type": "work"}],
        **{ENT: {"department": "R&D", "employeeNumber": "100"}})
    bob = rfc.create_user(
        "bob", schemas=[USER_URN, ENT], externalId="ext-b", name={"familyName": "Jones"},
        active=False, emails=[{"value": "bob@example.com", "type": "work", "primary": True}],
        **{ENT: {"department": "Sales"}})
    carol = rfc.create_user(
        "carol", title="Manager", emails=[{"value": "carol@other.net", "type": "home"}])
    dave = rfc.create_user(
        "dave.x", schemas=[USER_URN, ENT], name={"familyName": "smith"},
        emails=[{"value": "dave@example.org", "type": "work", "primary": True}],
        **{ENT: {"department": "r&d"}})
    admins = rfc.create_group("Admins", [alice["id"], bob["id"]])
    ops = rfc.create_group("Ops", [carol["id"]])
    empty = rfc.create_group("Empty")
    return {"alice": alice, "bob": bob, "carol": carol, "dave": dave,
            "admins": admins, "ops": ops, "empty": empty}


ALL = {"Alice", "bob", "carol", "dave.x"}


# -- ListResponse shape and paging (RFC 7644 §3.4.2, §3.4.2.4) ---------------------------

def test_empty_list(rfc):
    """RFC 7644 §3.4.2: an empty result is a ListResponse with ``Resources: []``."""
    for path in ("/Users", "/Groups"):
        body = assert_list(rfc.get(path))
        assert body["totalResults"] == 0
        assert body["Resources"] == []
        assert body["startIndex"] == 1


def test_list_shape(rfc):
    """RFC 7644 §3.4.2: totalResults, itemsPerPage (the number returned), startIndex."""
    for i in range(3):
        rfc.create_user(f"shape{i}")
    body = assert_list(rfc.get("/Users", params={"count": "2"}))
    assert body["totalResults"] == 3
    assert body["itemsPerPage"] == 2
    assert body["startIndex"] == 1
    for res in body["Resources"]:
        assert res["schemas"][0] == USER_URN
        assert res["meta"]["resourceType"] == "User"
        assert res["id"]


def test_default_page_and_cap(rfc, db):
    """RFC 7644 §3.4.2.4: without count the server's page (100) applies; a count above the
    advertised maxResults (1000) is lowered to it; the rest is reachable by startIndex."""
    insert_users(db, rfc, 1005)
    body = assert_list(rfc.get("/Users"))
    assert body["totalResults"] == 1005
    assert body["itemsPerPage"] == 100
    big = assert_list(rfc.get("/Users", params={"count": "5000"}))
    assert big["totalResults"] == 1005
    assert big["itemsPerPage"] == 1000
    rest = assert_list(rfc.get("/Users", params={"count": "5000", "startIndex": "1001"}))
    assert rest["itemsPerPage"] == 5
    assert rest["startIndex"] == 1001
    ids = [u["id"] for u in big["Resources"] + rest["Resources"]]
    assert len(set(ids)) == 1005
    found = assert_list(rfc.post("/Users/.search", search(count=5000, startIndex=1)))
    assert found["itemsPerPage"] == 1000


def test_count_5000_accepted(rfc):
    """RFC 7644 §3.4.2.4: a count above the maximum is not an error."""
    rfc.create_user("one")
    body = assert_list(rfc.get("/Users", params={"count": "5000"}))
    assert body["itemsPerPage"] == 1 <= 1000


def test_count_zero(rfc):
    """RFC 7644 §3.4.2.4: count=0 returns no resources but the total."""
    for i in range(3):
        rfc.create_user(f"zero{i}")
    body = assert_list(rfc.get("/Users", params={"count": "0"}))
    assert body["totalResults"] == 3
    assert body["Resources"] == []
    assert body["itemsPerPage"] == 0


@pytest.mark.parametrize("count", ["-1", "-1000"])
def test_negative_count(rfc, count):
    """RFC 7644 §3.4.2.4: a negative count is interpreted as 0."""
    rfc.create_user("neg")
    body = assert_list(rfc.get("/Users", params={"count": count}))
    assert body["Resources"] == []
    assert body["totalResults"] == 1


@pytest.mark.parametrize("start", ["0", "-3"])
def test_start_index_below_one(rfc, start):
    """RFC 7644 §3.4.2.4: a startIndex below 1 is interpreted as 1."""
    a = rfc.create_user("first")
    rfc.create_user("second")
    body = assert_list(rfc.get("/Users", params={"startIndex": start, "count": "1"}))
    assert body["startIndex"] == 1
    assert [u["id"] for u in body["Resources"]] == [a["id"]]


def test_start_index_beyond_end(rfc):
    """RFC 7644 §3.4.2.4: past the end, Resources is empty and totalResults still right."""
    for i in range(3):
        rfc.create_user(f"end{i}")
    body = assert_list(rfc.get("/Users", params={"startIndex": "50"}))
    assert body["totalResults"] == 3
    assert body["Resources"] == []
    assert body["startIndex"] == 50
    filtered = assert_list(rfc.get("/Users", params={"startIndex": "3",
                                                     "filter": 'userName sw "end"'}))
    assert filtered["totalResults"] == 3 and filtered["itemsPerPage"] == 1


@pytest.mark.parametrize("param,value", [
    ("startIndex", "abc"), ("startIndex", "1.5"), ("startIndex", "1e3"),
    ("count", "ten"), ("count", "2.0"), ("count", "0x10"),
])
def test_non_integer_paging(rfc, param, value):
    """RFC 7644 §3.4.2.4: startIndex and count are integers; anything else is 400."""
    assert_error(rfc.get("/Users", params={param: value}), 400, "invalidValue")
    assert_error(rfc.get("/Groups", params={param: value}), 400, "invalidValue")


@pytest.mark.parametrize("param,value", [
    ("count", 2.5), ("count", [10]), ("count", {"n": 1}), ("startIndex", 1.5),
    ("startIndex", [1]),
])
def test_non_integer_paging_in_search(rfc, param, value):
    """RFC 7644 §3.4.3, §3.4.2.4: a SearchRequest's startIndex/count must be integers: 400."""
    assert_error(rfc.post("/Users/.search", search(**{param: value})), 400, "invalidValue")


@pytest.mark.parametrize("sort", [None, "userName", "title"])
def test_paging_returns_each_resource_once(rfc, db, sort):
    """RFC 7644 §3.4.2.4: paging through a collection yields every resource exactly once,
    in a stable order, also when the sort key has ties."""
    insert_users(db, rfc, 23, prefix="page")
    rfc.create_user("Page00100", title="same")
    rfc.create_user("page00101", title="same")
    params = {"count": "5"}
    if sort:
        params["sortBy"] = sort

    def walk() -> list[str]:
        seen: list[str] = []
        start = 1
        while True:
            body = assert_list(rfc.get("/Users", params={**params, "startIndex": str(start)}))
            assert body["totalResults"] == 25
            if not body["Resources"]:
                return seen
            seen += [u["id"] for u in body["Resources"]]
            start += len(body["Resources"])

    first = walk()
    assert len(first) == len(set(first)) == 25
    assert walk() == first
    everything = assert_list(rfc.get("/Users", params={k: v for k, v in params.items()
                                                        if k != "count"}))
    assert [u["id"] for u in everything["Resources"]] == first


def test_group_list(rfc):
    """RFC 7644 §3.4.2: /Groups lists groups with their members."""
    user = rfc.create_user("gl.user")
    g = rfc.create_group("Listed", [user["id"]])
    body = assert_list(rfc.get("/Groups"))
    assert body["totalResults"] == 1
    res = body["Resources"][0]
    assert res["id"] == g["id"] and res["schemas"] == [GROUP_URN]
    assert [m["value"] for m in res["members"]] == [user["id"]]


# -- filters (RFC 7644 §3.4.2.2) ---------------------------------------------------------

USER_FILTERS = [
    ('userName eq "alice"', {"Alice"}),
    ('userName eq "ALICE"', {"Alice"}),
    ('USERNAME EQ "bob"', {"bob"}),
    ('UserName Eq "BOB"', {"bob"}),
    ('userName ne "bob"', ALL - {"bob"}),
    ('userName co "A"', {"Alice", "carol", "dave.x"}),
    ('userName sw "C"', {"carol"}),
    ('userName ew ".X"', {"dave.x"}),
    ("userName pr", ALL),
    ('userName gt "bob"', {"carol", "dave.x"}),
    ('userName ge "BOB"', {"bob", "carol", "dave.x"}),
    ('userName lt "bob"', {"Alice"}),
    ('userName le "bob"', {"Alice", "bob"}),
    ('externalId eq "Ext-A"', {"Alice"}),
    ('externalId eq "ext-a"', set()),
    ('externalId sw "ext"', {"bob"}),
    ('externalId co "xt"', {"Alice", "bob"}),
    ("externalId pr", {"Alice", "bob"}),
    ("not (externalId pr)", {"carol", "dave.x"}),
    ("title pr", {"Alice", "carol"}),
    ('title eq "ENGINEER"', {"Alice"}),
    ('title ne "engineer"', ALL - {"Alice"}),
    ('name.familyName eq "SMITH"', {"Alice", "dave.x"}),
    ("name.familyName pr", {"Alice", "bob", "dave.x"}),
    ('name.givenName sw "al"', {"Alice"}),
    ("active eq false", {"bob"}),
    ("active eq true", ALL - {"bob"}),
    ("active ne true", {"bob"}),
    ('emails.value eq "ALICE@EXAMPLE.COM"', {"Alice"}),
    ('emails.type eq "home"', {"Alice", "carol"}),
    ('emails[type eq "work" and value co "@example.com"]', {"Alice", "bob"}),
    ('emails[type eq "home" and value ew ".org"]', {"Alice"}),
    ('EMAILS[TYPE EQ "home"]', {"Alice", "carol"}),
    ('Emails.Value EW ".NET"', {"carol"}),
    ('emails[type eq "work"] and not (emails.value ew ".com")', {"dave.x"}),
    ("emails.primary eq true", {"Alice", "bob", "dave.x"}),
    ('emails[primary eq true and type eq "work"]', {"Alice", "bob", "dave.x"}),
    ('phoneNumbers[type eq "work"]', {"Alice"}),
    ('phoneNumbers.value co "0100"', {"Alice"}),
    (f'{ENT}:department eq "R&D"', {"Alice", "dave.x"}),
    (f'{ENT}:employeeNumber eq "100"', {"Alice"}),
    (f"{ENT}:department pr", {"Alice", "bob", "dave.x"}),
    (f'{USER_URN}:userName eq "bob"', {"bob"}),
    ('(userName eq "bob" or userName eq "carol") and active eq true', {"carol"}),
    ('userName eq "bob" or userName eq "carol" and active eq true', {"bob", "carol"}),
    ('not (userName eq "bob" or userName eq "carol")', {"Alice", "dave.x"}),
    ('not (active eq true) or title eq "Manager"', {"bob", "carol"}),
    ('((userName eq "Alice") or ((title eq "manager")))', {"Alice", "carol"}),
    ('userName pr and not (name pr)', {"carol"}),
    ('meta.resourceType eq "User"', ALL),
]


@pytest.mark.parametrize("flt,expected", USER_FILTERS)
def test_user_filters(rfc, people, flt, expected):
    """RFC 7644 §3.4.2.2: operators, logic, precedence, case rules, value paths, URNs."""
    assert user_names(rfc, flt) == expected


@pytest.mark.parametrize("flt,expected", [
    ('emails co "@example.com"', {"Alice", "bob"}),
    ('userName pr and (emails co "example.org" or emails.value co "other.net")',
     {"dave.x", "carol"}),
    ('userName pr and not (emails co "example.com" or emails.value co "example.org")',
     {"carol"}),
])
def test_filter_multi_valued_without_sub_attribute(rfc, people, flt, expected):
    """RFC 7644 §3.4.2.2 (its own examples ``emails co "example.com"``): a multi-valued
    attribute compared without a sub-attribute compares its ``value`` (RFC 7643 §2.4)."""
    assert user_names(rfc, flt) == expected


def test_filter_membership_without_sub_attribute(rfc, people):
    """RFC 7644 §3.4.2.2, RFC 7643 §2.4: ``groups eq id`` and ``members eq id`` compare
    the value sub-attribute."""
    assert user_names(rfc, f'groups eq "{people["ops"]["id"]}"') == {"carol"}
    body = assert_list(rfc.get("/Groups", params={
        "filter": f'members eq "{people["carol"]["id"]}"'}))
    assert [g["displayName"] for g in body["Resources"]] == ["Ops"]


def test_filter_on_schemas(rfc, people):
    """RFC 7644 §3.4.2.2 lists ``schemas eq "urn:...:enterprise:2.0:User"`` among its filter
    examples: it selects the resources carrying the extension."""
    assert user_names(rfc, f'schemas eq "{ENT}"') == {"Alice", "bob", "dave.x"}


def test_filter_by_id(rfc, people):
    """RFC 7643 §3.1: ``id`` is caseExact and filterable."""
    alice = people["alice"]["id"]
    assert user_names(rfc, f'id eq "{alice}"') == {"Alice"}
    assert user_names(rfc, f'id eq "{alice.lower()}"') == set()


def test_filter_users_by_group(rfc, people):
    """RFC 7644 §3.4.2.2 over RFC 7643 §4.1.2 ``groups``: users by their groups."""
    admins, ops = people["admins"]["id"], people["ops"]["id"]
    assert user_names(rfc, f'groups.value eq "{admins}"') == {"Alice", "bob"}
    assert user_names(rfc, f'groups[value eq "{ops}"]') == {"carol"}
    assert user_names(rfc, 'groups[display eq "ops"]') == {"carol"}
    assert user_names(rfc, "groups pr") == {"Alice", "bob", "carol"}
    assert user_names(rfc, "not (groups pr)") == {"dave.x"}


def test_filter_groups(rfc, people):
    """RFC 7644 §3.4.2.2: groups by displayName (case-insensitive) and members."""
    def names(flt: str) -> set[str]:
        body = assert_list(rfc.get("/Groups", params={"filter": flt}))
        return {g["displayName"] for g in body["Resources"]}

    alice, carol = people["alice"]["id"], people["carol"]["id"]
    assert names('displayName eq "admins"') == {"Admins"}
    assert names('displayName co "P"') == {"Ops", "Empty"}
    assert names('DISPLAYNAME SW "e"') == {"Empty"}
    assert names(f'members.value eq "{alice}"') == {"Admins"}
    assert names(f'members[value eq "{carol}" and type eq "User"]') == {"Ops"}
    assert names("members pr") == {"Admins", "Ops"}
    assert names("not (members pr)") == {"Empty"}
    assert names(f'displayName ne "Ops" and members.value eq "{carol}"') == set()
    assert names(f'id eq "{people["empty"]["id"]}"') == {"Empty"}


def test_filter_meta_dates(rfc):
    """RFC 7644 §3.4.2.2: gt/ge/lt/le on meta.created and meta.lastModified (dateTime)."""
    first = rfc.create_user("early")
    second = rfc.create_user("late")
    t1, t2 = first["meta"]["created"], second["meta"]["created"]
    assert t1 < t2
    assert user_names(rfc, f'meta.created gt "{t1}"') == {"late"}
    assert user_names(rfc, f'meta.created ge "{t1}"') == {"early", "late"}
    assert user_names(rfc, f'meta.created lt "{t2}"') == {"early"}
    assert user_names(rfc, f'meta.created le "{t2}"') == {"early", "late"}
    assert user_names(rfc, f'meta.created eq "{t1}"') == {"early"}
    assert user_names(rfc, 'meta.created gt "2000-01-01T00:00:00Z"') == {"early", "late"}
    assert user_names(rfc, 'meta.created lt "2000-01-01T00:00:00+02:00"') == set()
    # the same instant written with an offset
    as_dt = datetime.fromisoformat(t1.replace("Z", "+00:00")).astimezone(UTC)
    assert user_names(rfc, f'meta.created gt "{as_dt.isoformat()}"') == {"late"}
    r = rfc.patch(f"/Users/{first['id']}", patch_op(
        {"op": "replace", "path": "title", "value": "Updated"}))
    assert r.status_code == 200, r.text
    modified = r.json()["meta"]["lastModified"]
    assert modified > t2
    assert user_names(rfc, f'meta.lastModified gt "{t2}"') == {"early"}
    assert user_names(rfc, f'meta.lastModified ge "{modified}"') == {"early"}
    assert user_names(rfc, f'meta.lastModified lt "{modified}"') == {"late"}


@pytest.mark.parametrize("flt", [
    "",
    "   ",
    "userName",
    'userName eq',
    'userName xx "a"',
    'userName eq "unterminated',
    'emails[type eq "work"',
    'emails[type eq "work"]]',
    "(userName pr",
    'userName eq "a" and',
    'and userName eq "a"',
    'nope eq "x"',
    'name.nope eq "x"',
    'urn:ietf:params:scim:schemas:extension:nope:2.0:User:department eq "x"',
    "userName gt true",
    "userName eq 12 and",
    "active gt false",
    'active eq "maybe"',
    'meta.created gt "yesterday"',
    "meta.created gt 5",
    'name eq "x"',
    'emails[value[type eq "x"]]',
    'userName[value eq "x"]',
    'emails[nope eq "x"]',
    'members.value eq "x"',
    "userName eq null and active lt null",
])
def test_invalid_filters(rfc, people, flt):
    """RFC 7644 §3.4.2.2, §3.12: an unparseable filter, an unknown attribute or a wrong
    comparison is 400 invalidFilter."""
    assert_error(rfc.get("/Users", params={"filter": flt}), 400, "invalidFilter")
    assert_error(rfc.post("/Users/.search", search(filter=flt)), 400, "invalidFilter")


@pytest.mark.parametrize("flt", [
    "userName eq " + '"' + "a" * 4990 + '"',
    "not (" * 300 + "userName pr" + ")" * 300,
    'emails[type eq "x"' + " and (value pr" * 200 + ")" * 200 + "]",
])
def test_huge_or_deep_filters(rfc, flt):
    """RFC 7644 §3.4.2.2, §3.12: a very long (5000 chars) or deeply nested filter is a
    400 invalidFilter, never a 500."""
    assert_error(rfc.get("/Users", params={"filter": flt}), 400, "invalidFilter")
    assert_error(rfc.post("/.search", search(filter=flt)), 400, "invalidFilter")


def test_deep_parentheses_never_500(rfc, people):
    """RFC 7644 §3.4.2.2, §3.12: redundant parentheses 1000 deep are answered correctly
    (200) or refused (400 invalidFilter), never a 500."""
    flt = "(" * 1000 + 'userName eq "bob"' + ")" * 1000
    for r in (rfc.get("/Users", params={"filter": flt}),
              rfc.post("/.search", search(filter=flt))):
        assert r.status_code in (200, 400), r.text
        if r.status_code == 400:
            assert_error(r, 400, "invalidFilter")
        else:
            assert [u["userName"] for u in assert_list(r)["Resources"]] == ["bob"]


def test_long_flat_filter_never_500(rfc):
    """RFC 7644 §3.12: a long flat ``or`` chain is answered (200 or 400), never a 500."""
    flt = " or ".join(f'userName eq "u{i}"' for i in range(180))
    r = rfc.get("/Users", params={"filter": flt})
    assert r.status_code in (200, 400), r.text
    if r.status_code == 400:
        assert_error(r, 400, "invalidFilter")


@pytest.mark.parametrize("flt", [
    'userName eq "a\u0000b"', 'userName co "\u0000"',
    'userName eq "\u00e9\u00df\u4e2d"', "userName eq 12", 'title gt 3.5',
])
def test_odd_filter_literals_never_500(rfc, people, flt):
    """RFC 7644 §3.12: odd literals (NUL, lone surrogates, numbers for strings) get an
    answer, never a 500."""
    r = rfc.get("/Users", params={"filter": flt})
    assert r.status_code in (200, 400), r.text
    if r.status_code == 400:
        assert_error(r, 400, "invalidFilter")
    else:
        assert_list(r)


@pytest.mark.parametrize("raw", [
    rb'{"filter": "externalId eq \"\ud800\""}',
    rb'{"filter": "userName eq \"a\u0000\""}',
    rb'{"filter": "title co \"\udfff\u0000\""}',
])
def test_odd_filter_literals_in_search_never_500(rfc, people, raw):
    """RFC 7644 §3.4.3, §3.12: escaped NULs and lone surrogates in a SearchRequest filter
    are answered (200 or 400), never a 500."""
    r = rfc.request("POST", "/Users/.search", content=raw,
                    headers={"Content-Type": "application/scim+json"})
    assert r.status_code in (200, 400), r.text
    if r.status_code == 400:
        assert_error(r, 400)
    else:
        assert assert_list(r)["totalResults"] == 0


def test_filter_must_be_string_in_search(rfc):
    """RFC 7644 §3.4.3: a SearchRequest filter that is not a string is 400."""
    assert_error(rfc.post("/Users/.search", search(filter=5)), 400,
                 ("invalidFilter", "invalidValue", "invalidSyntax"))


# -- sorting (RFC 7644 §3.4.2.3) -----------------------------------------------------------

def sorted_names(client, **params) -> list[str]:
    body = assert_list(client.get("/Users", params=params))
    return [u["userName"] for u in body["Resources"]]


def test_sort_by_user_name(rfc, people):
    """RFC 7644 §3.4.2.3: userName (caseExact false) sorts case-insensitively, ascending by
    default; descending reverses."""
    order = ["Alice", "bob", "carol", "dave.x"]
    assert sorted_names(rfc, sortBy="userName") == order
    assert sorted_names(rfc, sortBy="userName", sortOrder="ascending") == order
    assert sorted_names(rfc, sortBy="USERNAME") == order
    assert sorted_names(rfc, sortBy="userName", sortOrder="descending") == order[::-1]
    assert sorted_names(rfc, sortBy=f"{USER_URN}:userName", sortOrder="descending") == \
        order[::-1]


def test_sort_by_sub_attribute(rfc, people):
    """RFC 7644 §3.4.2.3: sortBy=name.familyName; resources without a value sort last when
    ascending."""
    names = sorted_names(rfc, sortBy="name.familyName")
    assert names[0] == "bob"
    assert set(names[1:3]) == {"Alice", "dave.x"}
    assert names[3] == "carol"


def test_sort_missing_values_first_when_descending(rfc, people):
    """RFC 7644 §3.4.2.3: with no data for sortBy, resources are ordered last if ascending
    and FIRST if descending."""
    desc = sorted_names(rfc, sortBy="name.familyName", sortOrder="descending")
    assert desc[0] == "carol"
    assert set(desc[1:3]) == {"Alice", "dave.x"}
    assert desc[3] == "bob"


def test_sort_by_extension_and_meta(rfc, people):
    """RFC 7644 §3.4.2.3: URN-qualified extension attributes and meta.created sort."""
    by_dept = sorted_names(rfc, sortBy=f"{ENT}:department")
    assert set(by_dept[:2]) == {"Alice", "dave.x"}  # "R&D" and "r&d" tie before "Sales"
    assert by_dept[2:] == ["bob", "carol"]
    created = sorted_names(rfc, sortBy="meta.created")
    assert created == ["Alice", "bob", "carol", "dave.x"]
    assert sorted_names(rfc, sortBy="meta.created", sortOrder="descending") == created[::-1]
    assert sorted_names(rfc, sortBy="meta.lastModified") == created


def test_sort_by_emails_uses_primary(rfc):
    """RFC 7644 §3.4.2.3: a multi-valued sortBy sorts by the primary value, else the first."""
    rfc.create_user("zed", emails=[{"value": "a-first@x.com", "type": "home"},
                                   {"value": "z-primary@x.com", "type": "work",
                                    "primary": True}])
    rfc.create_user("yan", emails=[{"value": "m-only@x.com", "type": "work"}])
    rfc.create_user("xia", emails=[{"value": "B-first@x.com"}, {"value": "y@x.com"}])
    assert sorted_names(rfc, sortBy="emails") == ["xia", "yan", "zed"]
    assert sorted_names(rfc, sortBy="emails.value") == ["xia", "yan", "zed"]
    assert sorted_names(rfc, sortBy="emails", sortOrder="descending") == ["zed", "yan", "xia"]


def test_sort_by_phone_numbers_uses_primary(rfc):
    """RFC 7644 §3.4.2.3: sortBy=phoneNumbers sorts by the primary value, if any."""
    rfc.create_user("zed", phoneNumbers=[{"value": "1-first"},
                                         {"value": "9-primary", "primary": True}])
    rfc.create_user("yan", phoneNumbers=[{"value": "5-only"}])
    assert sorted_names(rfc, sortBy="phoneNumbers") == ["yan", "zed"]


def test_sort_case_exact_attribute(rfc):
    """RFC 7644 §3.4.2.3: a caseExact attribute (externalId) sorts case-sensitively."""
    rfc.create_user("lower", externalId="a1")
    rfc.create_user("upper", externalId="B2")
    assert sorted_names(rfc, sortBy="externalId") == ["upper", "lower"]


def test_sort_groups(rfc):
    """RFC 7644 §3.4.2.3: groups sort by displayName."""
    for name in ("beta", "Alpha", "gamma"):
        rfc.create_group(name)
    body = assert_list(rfc.get("/Groups", params={"sortBy": "displayName",
                                                  "sortOrder": "descending"}))
    assert [g["displayName"] for g in body["Resources"]] == ["gamma", "beta", "Alpha"]


@pytest.mark.parametrize("sort_by", ["nope", "name.nope", "urn:nope:thing",
                                     f"{ENT}:nope", 'emails[type eq "work"]',
                                     'userName eq "x"', "userName,title"])
def test_unknown_sort_by(rfc, people, sort_by):
    """RFC 7644 §3.4.2.3, §3.12: sortBy naming no attribute is 400."""
    assert_error(rfc.get("/Users", params={"sortBy": sort_by}), 400)
    assert_error(rfc.post("/Users/.search", search(sortBy=sort_by)), 400)


@pytest.mark.parametrize("sort_by", ["name", "meta", "groups", f"{ENT}:manager", "password",
                                     "x509Certificates"])
def test_odd_sort_by_never_500(rfc, people, sort_by):
    """RFC 7644 §3.4.2.3, §3.12: complex or write-only sort keys answer 200 or 400."""
    r = rfc.get("/Users", params={"sortBy": sort_by})
    assert r.status_code in (200, 400), r.text
    if r.status_code == 400:
        assert_error(r, 400)


@pytest.mark.parametrize("order", ["sideways", "asc", "up", "1"])
def test_bad_sort_order(rfc, people, order):
    """RFC 7644 §3.4.2.3: sortOrder is "ascending" or "descending"; anything else is 400."""
    assert_error(rfc.get("/Users", params={"sortBy": "userName", "sortOrder": order}), 400)
    assert_error(rfc.post("/Users/.search", search(sortBy="userName", sortOrder=order)), 400)


# -- attributes / excludedAttributes (RFC 7644 §3.4.2.5, §3.9) --------------------------------

def test_attributes_on_get(rfc, people):
    """RFC 7644 §3.9: attributes=userName returns id, schemas and userName only."""
    uid = people["alice"]["id"]
    got = rfc.get(f"/Users/{uid}", params={"attributes": "userName"}).json()
    assert set(got) == {"id", "schemas", "userName"}
    assert got["id"] == uid and got["userName"] == "Alice"
    assert set(rfc.get(f"/Users/{uid}", params={"attributes": "USERNAME"}).json()) == {
        "id", "schemas", "userName"}
    assert set(rfc.get(f"/Users/{uid}", params={"attributes": "id"}).json()) == {
        "id", "schemas"}


def test_attributes_sub_attribute(rfc, people):
    """RFC 7644 §3.9, §3.10: attributes=name.familyName returns only that sub-attribute."""
    uid = people["alice"]["id"]
    got = rfc.get(f"/Users/{uid}", params={"attributes": "name.familyName"}).json()
    assert set(got) == {"id", "schemas", "name"}
    assert got["name"] == {"familyName": "Smith"}
    got = rfc.get(f"/Users/{uid}", params={"attributes": "emails.value,userName"}).json()
    assert got["emails"] == [{"value": "alice@example.com"}, {"value": "alice@home.org"}]
    assert set(got) == {"id", "schemas", "emails", "userName"}


def test_attributes_extension(rfc, people):
    """RFC 7644 §3.10: a URN-qualified extension attribute is selectable on its own."""
    uid = people["alice"]["id"]
    got = rfc.get(f"/Users/{uid}", params={"attributes": f"{ENT}:department"}).json()
    assert set(got) == {"id", "schemas", ENT}
    assert got[ENT] == {"department": "R&D"}
    whole = rfc.get(f"/Users/{uid}", params={"attributes": ENT}).json()
    assert whole[ENT] == {"department": "R&D", "employeeNumber": "100"}
    assert "userName" not in whole


def test_excluded_attributes(rfc, people):
    """RFC 7644 §3.9: excludedAttributes=emails,groups drops those and keeps the rest."""
    uid = people["alice"]["id"]
    got = rfc.get(f"/Users/{uid}", params={"excludedAttributes": "emails,groups"}).json()
    assert "emails" not in got and "groups" not in got
    assert got["userName"] == "Alice" and got["name"]["familyName"] == "Smith"
    assert got["meta"]["resourceType"] == "User"
    got = rfc.get(f"/Users/{uid}", params={"excludedAttributes": "name.givenName"}).json()
    assert got["name"] == {"familyName": "Smith"}
    got = rfc.get(f"/Users/{uid}", params={"excludedAttributes": f"{ENT}:department"}).json()
    assert got[ENT] == {"employeeNumber": "100"}


def test_excluded_id_has_no_effect(rfc, people):
    """RFC 7643 §7, RFC 7644 §3.9: id (returned "always") cannot be excluded."""
    uid = people["alice"]["id"]
    got = rfc.get(f"/Users/{uid}", params={"excludedAttributes": "id,schemas"}).json()
    assert got["id"] == uid
    assert got["schemas"]
    body = assert_list(rfc.get("/Users", params={"excludedAttributes": "id"}))
    assert all("id" in u for u in body["Resources"])


def test_default_answer_includes_groups_never_password(rfc, people):
    """RFC 7643 §4.1: groups returned by default, password never."""
    got = rfc.get(f"/Users/{people['alice']['id']}").json()
    assert [g["value"] for g in got["groups"]] == [people["admins"]["id"]]
    assert "password" not in got
    got = rfc.get(f"/Users/{people['alice']['id']}", params={"attributes": "password"}).json()
    assert "password" not in got


def test_attributes_on_lists(rfc, people):
    """RFC 7644 §3.4.2.5: attributes and excludedAttributes apply to every listed resource."""
    body = assert_list(rfc.get("/Users", params={"attributes": "userName"}))
    assert len(body["Resources"]) == 4
    for res in body["Resources"]:
        assert set(res) == {"id", "schemas", "userName"}
    body = assert_list(rfc.get("/Users", params={"excludedAttributes": "emails,groups,meta"}))
    for res in body["Resources"]:
        assert not {"emails", "groups", "meta"} & set(res)
        assert "userName" in res
    body = assert_list(rfc.get("/Groups", params={"attributes": "displayName"}))
    for res in body["Resources"]:
        assert set(res) == {"id", "schemas", "displayName"}
    body = assert_list(rfc.get("/Groups", params={"excludedAttributes": "members"}))
    assert all("members" not in g for g in body["Resources"])
    assert {g["displayName"] for g in body["Resources"]} == {"Admins", "Ops", "Empty"}


def test_attributes_on_write_answers(rfc):
    """RFC 7644 §3.9: attributes/excludedAttributes shape POST, PUT and PATCH answers."""
    r = rfc.post("/Users", {"schemas": [USER_URN], "userName": "writer", "title": "T"},
                 params={"attributes": "userName"})
    assert r.status_code == 201, r.text
    assert set(r.json()) == {"id", "schemas", "userName"}
    uid = r.json()["id"]
    r = rfc.put(f"/Users/{uid}", {"schemas": [USER_URN], "userName": "writer2", "title": "T2",
                                  "emails": [{"value": "w@example.com"}]},
                params={"excludedAttributes": "emails,meta"})
    assert r.status_code == 200, r.text
    assert "emails" not in r.json() and "meta" not in r.json()
    assert r.json()["title"] == "T2" and r.json()["id"] == uid
    r = rfc.patch(f"/Users/{uid}", patch_op({"op": "replace", "path": "title", "value": "T3"}),
                  params={"attributes": "title"})
    assert r.status_code == 200, r.text
    assert r.json() == {"schemas": [USER_URN], "id": uid, "title": "T3"}
    r = rfc.post("/Groups", {"schemas": [GROUP_URN], "displayName": "G",
                             "members": [{"value": uid}]},
                 params={"excludedAttributes": "members"})
    assert r.status_code == 201, r.text
    assert "members" not in r.json() and r.json()["displayName"] == "G"
    gid = r.json()["id"]
    r = rfc.patch(f"/Groups/{gid}", patch_op({"op": "replace", "path": "displayName",
                                              "value": "G2"}),
                  params={"attributes": "displayName"})
    assert r.status_code == 200, r.text
    assert set(r.json()) == {"id", "schemas", "displayName"}
    r = rfc.put(f"/Groups/{gid}", {"schemas": [GROUP_URN], "displayName": "G3",
                                   "members": [{"value": uid}]},
                params={"attributes": "members.value"})
    assert r.status_code == 200, r.text
    assert r.json()["members"] == [{"value": uid}]
    assert set(r.json()) == {"id", "schemas", "members"}


def test_unknown_attribute_names_do_not_fail(rfc, people):
    """RFC 7644 §3.4.2.5: unknown names in attributes are not an error (and select nothing)."""
    got = rfc.get(f"/Users/{people['bob']['id']}", params={"attributes": "nope,userName"})
    assert got.status_code == 200
    assert set(got.json()) == {"id", "schemas", "userName"}


# -- POST .search (RFC 7644 §3.4.3) ---------------------------------------------------------

def test_search_users(rfc, people):
    """RFC 7644 §3.4.3: POST /Users/.search with filter, attributes, sortBy, paging."""
    body = assert_list(rfc.post("/Users/.search", search(
        filter='emails.type eq "work"', attributes=["userName", "name.familyName"],
        sortBy="userName", sortOrder="descending", startIndex=1, count=2)))
    assert body["totalResults"] == 3
    assert [u["userName"] for u in body["Resources"]] == ["dave.x", "bob"]
    assert body["Resources"][0] == {"schemas": [USER_URN, ENT], "id": people["dave"]["id"],
                                    "userName": "dave.x", "name": {"familyName": "smith"}}
    second = assert_list(rfc.post("/Users/.search", search(
        filter='emails.type eq "work"', sortBy="userName", sortOrder="descending",
        startIndex=3, count=2)))
    assert [u["userName"] for u in second["Resources"]] == ["Alice"]
    assert second["startIndex"] == 3
    excl = assert_list(rfc.post("/Users/.search", search(excludedAttributes=["emails"])))
    assert excl["totalResults"] == 4
    assert all("emails" not in u for u in excl["Resources"])


def test_search_groups(rfc, people):
    """RFC 7644 §3.4.3: POST /Groups/.search."""
    body = assert_list(rfc.post("/Groups/.search", search(
        filter=f'members.value eq "{people["bob"]["id"]}"', attributes=["displayName"])))
    assert body["totalResults"] == 1
    assert body["Resources"][0] == {"schemas": [GROUP_URN], "id": people["admins"]["id"],
                                    "displayName": "Admins"}


def test_search_root(rfc, people):
    """RFC 7644 §3.4.3: POST /.search covers users and groups, with the combined total."""
    body = assert_list(rfc.post("/.search", search()))
    assert body["totalResults"] == 7
    kinds = [r["meta"]["resourceType"] for r in body["Resources"]]
    assert sorted(kinds) == ["Group"] * 3 + ["User"] * 4
    ids = {r["id"] for r in body["Resources"]}
    assert ids == {p["id"] for p in people.values()}
    # A page that straddles the users/groups boundary.
    page = assert_list(rfc.post("/.search", search(startIndex=4, count=2)))
    assert page["totalResults"] == 7 and page["itemsPerPage"] == 2
    assert page["startIndex"] == 4
    whole = [r["id"] for r in body["Resources"]]
    assert [r["id"] for r in page["Resources"]] == whole[3:5]
    tail = assert_list(rfc.post("/.search", search(startIndex=6, count=100)))
    assert [r["id"] for r in tail["Resources"]] == whole[5:]
    assert assert_list(rfc.post("/.search", search(count=0)))["totalResults"] == 7
    past = assert_list(rfc.post("/.search", search(startIndex=20)))
    assert past["Resources"] == [] and past["totalResults"] == 7


def test_search_root_filters(rfc, people):
    """RFC 7644 §3.4.3: a filter valid for only one resource type searches that type only;
    one valid for both searches both."""
    only_users = assert_list(rfc.post("/.search", search(filter='userName sw "a"')))
    assert only_users["totalResults"] == 1
    assert only_users["Resources"][0]["userName"] == "Alice"
    only_groups = assert_list(rfc.post("/.search", search(filter="members pr")))
    assert {r["displayName"] for r in only_groups["Resources"]} == {"Admins", "Ops"}
    assert only_groups["totalResults"] == 2
    shared = assert_list(rfc.post("/.search", search(filter='id pr', attributes=["id"])))
    assert shared["totalResults"] == 7
    assert all(set(r) == {"id", "schemas"} for r in shared["Resources"])
    assert_error(rfc.post("/.search", search(filter="userName eq")), 400, "invalidFilter")


def test_search_root_attribute_of_one_type_has_no_value_in_other(rfc, people):
    """RFC 7644 §3.4.2.1: at the root, an attribute a resource type lacks is treated as
    having no value, so ``not (userName eq "bob")`` matches every group and
    ``displayName pr or userName eq "bob"`` matches every group and bob."""
    negated = assert_list(rfc.post("/.search", search(filter='not (userName eq "bob")')))
    assert negated["totalResults"] == 6
    assert {r["meta"]["resourceType"] for r in negated["Resources"]} == {"User", "Group"}
    mixed = assert_list(rfc.post("/.search", search(filter='displayName pr or userName eq "bob"')))
    assert {r.get("userName") or r["displayName"] for r in mixed["Resources"]} == {
        "bob", "Admins", "Ops", "Empty"}


@pytest.mark.parametrize("path", ["/Users/.search", "/Groups/.search", "/.search"])
@pytest.mark.parametrize("schemas", [["urn:ietf:params:scim:api:messages:2.0:ListResponse"],
                                     [], "urn:ietf:params:scim:api:messages:2.0:SearchRequest",
                                     [USER_URN]])
def test_search_wrong_schemas(rfc, path, schemas):
    """RFC 7644 §3.4.3: a search body whose schemas is not the SearchRequest URN is 400."""
    assert_error(rfc.post(path, {"schemas": schemas, "filter": "userName pr"}), 400,
                 "invalidSyntax")


@pytest.mark.parametrize("path", ["/Users/.search", "/Groups/.search", "/.search"])
@pytest.mark.parametrize("raw", [b"", b"not json", b"[1, 2]", b'"text"', b"{"])
def test_search_bad_body(rfc, path, raw):
    """RFC 7644 §3.4.3, §3.12: a search body that is not a JSON object is 400 invalidSyntax."""
    r = rfc.request("POST", path, content=raw,
                    headers={"Content-Type": "application/scim+json"})
    assert_error(r, 400, "invalidSyntax")


# -- ETags (RFC 7644 §3.14) ------------------------------------------------------------------

def test_etag_on_get_equals_meta_version(rfc):
    """RFC 7644 §3.14, RFC 7643 §3.1: the ETag header equals meta.version."""
    user = rfc.create_user("etag.user")
    r = rfc.get(f"/Users/{user['id']}")
    assert r.headers["etag"] == r.json()["meta"]["version"]
    group = rfc.create_group("etag.group", [user["id"]])
    r = rfc.get(f"/Groups/{group['id']}")
    assert r.headers["etag"] == r.json()["meta"]["version"]
    listed = assert_list(rfc.get("/Users"))["Resources"][0]
    assert listed["meta"]["version"] == rfc.get(f"/Users/{user['id']}").headers["etag"]


def test_etag_on_write_answers(rfc):
    """RFC 7644 §3.14: POST, PUT and PATCH answers carry the new version as ETag."""
    r = rfc.post("/Users", {"schemas": [USER_URN], "userName": "v1"})
    assert r.status_code == 201
    assert r.headers["etag"] == r.json()["meta"]["version"]
    uid = r.json()["id"]
    versions = [r.headers["etag"]]
    r = rfc.put(f"/Users/{uid}", {"schemas": [USER_URN], "userName": "v2"})
    assert r.status_code == 200 and r.headers["etag"] == r.json()["meta"]["version"]
    versions.append(r.headers["etag"])
    r = rfc.patch(f"/Users/{uid}", patch_op({"op": "replace", "path": "title", "value": "x"}))
    assert r.status_code == 200 and r.headers["etag"] == r.json()["meta"]["version"]
    versions.append(r.headers["etag"])
    assert len(set(versions)) == 3
    assert rfc.get(f"/Users/{uid}").headers["etag"] == versions[-1]


def test_etag_changes_on_group_member_change(rfc):
    """RFC 7644 §3.14: a group's version changes when its members change."""
    a = rfc.create_user("mem.a")
    b = rfc.create_user("mem.b")
    group = rfc.create_group("Versioned", [a["id"]])
    gid = group["id"]
    seen = [rfc.get(f"/Groups/{gid}").headers["etag"]]
    r = rfc.patch(f"/Groups/{gid}", patch_op({"op": "add", "path": "members",
                                              "value": [{"value": b["id"]}]}))
    assert r.status_code == 204, r.text
    seen.append(rfc.get(f"/Groups/{gid}").headers["etag"])
    r = rfc.patch(f"/Groups/{gid}", patch_op({"op": "remove",
                                              "path": f'members[value eq "{a["id"]}"]'}))
    assert r.status_code in (200, 204), r.text
    seen.append(rfc.get(f"/Groups/{gid}").headers["etag"])
    r = rfc.put(f"/Groups/{gid}", {"schemas": [GROUP_URN], "displayName": "Versioned",
                                   "members": [{"value": a["id"]}]})
    assert r.status_code == 200, r.text
    seen.append(rfc.get(f"/Groups/{gid}").headers["etag"])
    assert len(set(seen)) == 4


def test_if_none_match(rfc):
    """RFC 7644 §3.14: If-None-Match with the current version is 304; with an old one 200."""
    user = rfc.create_user("inm.user")
    uid = user["id"]
    old = rfc.get(f"/Users/{uid}").headers["etag"]
    r = rfc.get(f"/Users/{uid}", headers={"If-None-Match": old})
    assert r.status_code == 304
    assert r.content == b""
    assert r.headers["etag"] == old
    rfc.patch(f"/Users/{uid}", patch_op({"op": "replace", "path": "title", "value": "new"}))
    r = rfc.get(f"/Users/{uid}", headers={"If-None-Match": old})
    assert r.status_code == 200
    new = r.headers["etag"]
    assert new != old and r.json()["title"] == "new"
    assert rfc.get(f"/Users/{uid}", headers={"If-None-Match": new}).status_code == 304
    assert rfc.get(f"/Users/{uid}", headers={"If-None-Match": f'{old}, {new}'}
                   ).status_code == 304
    group = rfc.create_group("inm.group")
    tag = rfc.get(f"/Groups/{group['id']}").headers["etag"]
    assert rfc.get(f"/Groups/{group['id']}", headers={"If-None-Match": tag}).status_code == 304
    rfc.patch(f"/Groups/{group['id']}", patch_op({"op": "add", "path": "members",
                                                  "value": [{"value": uid}]}))
    r = rfc.get(f"/Groups/{group['id']}", headers={"If-None-Match": tag})
    assert r.status_code == 200 and [m["value"] for m in r.json()["members"]] == [uid]


def test_if_match(rfc):
    """RFC 7644 §3.14: If-Match with the current version lets a write through; an old one is
    412 Precondition Failed and changes nothing."""
    user = rfc.create_user("if.match")
    uid, tag = user["id"], rfc.get(f"/Users/{user['id']}").headers["etag"]
    body = patch_op({"op": "replace", "path": "title", "value": "first"})
    r = rfc.patch(f"/Users/{uid}", body, headers={"If-Match": tag})
    assert r.status_code == 200, r.text
    assert r.headers["etag"] != tag
    r = rfc.patch(f"/Users/{uid}", patch_op({"op": "replace", "path": "title", "value": "lost"}),
                  headers={"If-Match": tag})
    assert_error(r, 412)
    assert rfc.get(f"/Users/{uid}").json()["title"] == "first"
