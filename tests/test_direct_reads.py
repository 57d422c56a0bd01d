"""The filters identity providers send before every write, served by one index look-up
(``store/direct.py``), answer exactly as the general filter path does (RFC 7644
§3.4.2.2: userName and emails.value are caseExact false, id and externalId caseExact
true, RFC 7643 §2.1, §3.1, §4.1)."""

from __future__ import annotations

from urllib.parse import quote

import pytest

from scimd.scim.core_schemas import USER_TYPE
from scimd.scim.paths import parse_filter
from scimd.store.db import reading
from scimd.store.filter_sql import indexed_equality


def _ids(client, text: str, query: str = "") -> tuple[int, list[str]]:
    r = client.get(f"/Users?filter={quote(text)}{query}")
    assert r.status_code == 200, r.text
    body = r.json()
    return body["totalResults"], [u["id"] for u in body["Resources"]]


@pytest.fixture
def two(rfc):
    ann = rfc.create_user("Direct.Ann", externalId="Ext-Ann",
                          emails=[{"value": "Shared@Example.com", "type": "work"}])
    bob = rfc.create_user("direct.bob", externalId="ext-bob",
                          emails=[{"value": "shared@example.com", "type": "home"},
                                  {"value": "bob@example.com", "type": "work"}])
    return rfc, ann, bob


def test_user_name_eq_ignores_case(two):
    rfc, ann, _ = two
    assert _ids(rfc, 'userName eq "direct.ANN"') == (1, [ann["id"]])
    assert _ids(rfc, 'USERNAME Eq "Direct.Ann"') == (1, [ann["id"]])


def test_external_id_and_id_eq_are_case_exact(two):
    rfc, ann, bob = two
    assert _ids(rfc, 'externalId eq "Ext-Ann"') == (1, [ann["id"]])
    assert _ids(rfc, 'externalId eq "ext-ann"') == (0, [])
    assert _ids(rfc, f'id eq "{bob["id"]}"') == (1, [bob["id"]])
    assert _ids(rfc, f'id eq "{bob["id"].lower()}"') == (0, [])


def test_email_eq_matches_every_user_with_the_address_and_pages(two):
    """RFC 7644 §3.4.2.4: ``totalResults`` counts every match; the page is a slice."""
    rfc, ann, bob = two
    for text in ('emails.value eq "SHARED@example.com"', 'emails eq "shared@EXAMPLE.com"'):
        assert _ids(rfc, text) == (2, [ann["id"], bob["id"]])
    assert _ids(rfc, 'emails.value eq "shared@example.com"', "&startIndex=2&count=1") == (
        2, [bob["id"]])
    assert _ids(rfc, 'emails.value eq "shared@example.com"', "&count=0") == (2, [])
    assert _ids(rfc, 'emails.value eq "bob@example.com"') == (1, [bob["id"]])


def test_a_look_up_carries_groups_unless_excluded(two):
    rfc, ann, _ = two
    group = rfc.create_group("Direct", [ann["id"]])
    by_name = "/Users?filter=" + quote('userName eq "direct.ann"')
    body = rfc.get(by_name).json()
    assert body["Resources"][0]["groups"][0]["value"] == group["id"]
    body = rfc.get(by_name + "&excludedAttributes=groups").json()
    assert "groups" not in body["Resources"][0]


def test_every_read_path_gives_a_user_the_same_groups(two):
    """RFC 7643 §4.1.2: a user's direct groups, in the order the groups were made, alike
    by id, by an equality look-up, on a whole-directory page and through the general
    filter path; on PostgreSQL the first three read them with the user's own row
    (``direct.USER_GROUPS``)."""
    rfc, ann, bob = two
    made = [rfc.create_group(name, [ann["id"]])
            for name in ('Zeta "quoted" \\ name', "Älpha ☃", "Middle")]
    expected = [{"value": g["id"], "display": g["displayName"], "type": "direct"}
                for g in made]

    def groups(resource: dict) -> list[dict] | None:
        if "groups" not in resource:
            return None
        return [{k: g[k] for k in ("value", "display", "type")} for g in resource["groups"]]

    def by_path(query: str = "") -> dict[str, list[dict] | None]:
        users = {
            "id": [rfc.get(f"/Users/{u['id']}{query.replace('&', '?', 1)}").json()
                   for u in (ann, bob)],
            "look-up": [rfc.get("/Users?filter=" + quote(f'userName eq "{u["userName"]}"')
                                + query).json()["Resources"][0] for u in (ann, bob)],
            "page": sorted(rfc.get("/Users?count=100" + query).json()["Resources"],
                           key=lambda u: u["userName"].lower()),
            "general": sorted(rfc.get("/Users?filter=" + quote('userName sw "direct."')
                                      + query).json()["Resources"],
                              key=lambda u: u["userName"].lower()),
        }
        return {path: [groups(u) for u in found] for path, found in users.items()}

    for path, found in by_path().items():
        assert found == [expected, []], path
    for path, found in by_path("&excludedAttributes=groups").items():
        assert found == [None, None], path


@pytest.mark.parametrize("text, expected", [
    ('userName eq "a"', ("user_name_lower", "a")),
    ('emails.value eq "A@B.C"', ("email", "a@b.c")),
    ('emails eq "A@B.C"', ("email", "a@b.c")),
    ('externalId eq "X"', ("external_id", "X")),
    ('id eq "U1"', ("id", "U1")),
    ('userName ne "a"', None),
    ('userName eq null', None),
    ('emails.type eq "work"', None),
    ('emails[value eq "a"]', None),
    ('displayName eq "a"', None),
    ('userName eq "a" and active eq true', None),
    ('name.familyName eq "a"', None),
])
def test_which_filters_take_the_direct_path(text, expected):
    assert indexed_equality(USER_TYPE, parse_filter(text)) == expected


def test_a_read_on_sqlite_is_one_transaction(two, db):
    """A GET's token look-up and its reads see one snapshot, for one BEGIN
    (``Database.holding``); PostgreSQL reads run in autocommit and have none."""
    if not db.is_sqlite:
        pytest.skip("PostgreSQL reads run in autocommit")
    rfc, ann, _ = two
    assert rfc.get(f"/Users/{ann['id']}").status_code == 200  # the loop's connection exists
    statements: list[str] = []
    conn = db.loop_connection.driver_connection
    conn.set_trace_callback(statements.append)
    try:
        r = rfc.get(f"/Users/{ann['id']}")
    finally:
        conn.set_trace_callback(None)
    assert r.status_code == 200 and r.json()["id"] == ann["id"]
    verbs = [s.split()[0].upper() for s in statements]
    assert verbs.count("SELECT") >= 2, statements  # the token, the user (and groups)
    assert [v for v in verbs if v in ("BEGIN", "COMMIT", "ROLLBACK")] == ["BEGIN", "ROLLBACK"]


class _Driver:
    """A DBAPI connection as far as :func:`scimd.store.db.reading` sees one."""

    def __init__(self, autocommit: object) -> None:
        self.autocommit = autocommit
        self.calls: list[str] = []

    def execute(self, sql: str) -> None:
        self.calls.append(sql)

    def rollback(self) -> None:
        self.calls.append("ROLLBACK")


@pytest.mark.parametrize(("sqlite", "autocommit", "expected"), [
    (True, -1, ["BEGIN", "ROLLBACK"]),  # sqlite3 on Python 3.12+: LEGACY_TRANSACTION_CONTROL
    (True, False, ["BEGIN", "ROLLBACK"]),
    (False, True, []),  # a held PostgreSQL connection: autocommit, no transaction
    (False, False, ["ROLLBACK"]),  # a pooled PostgreSQL connection: psycopg began one
])
def test_a_read_always_ends_its_transaction(sqlite, autocommit, expected):
    driver = _Driver(autocommit)
    with reading(driver, sqlite):
        pass
    assert driver.calls == expected
