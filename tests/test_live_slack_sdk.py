"""Slack's own python SDK (``slack_sdk.scim.SCIMClient``) against a real server.

Acceptance test for the ``slack`` dialect's SCIM 1.1 API at ``/scim/v1``: the
official client drives the whole lifecycle of users and groups, on SQLite and on
PostgreSQL, and reads every answer through its own models (``User``, ``Group``)
and response classes (``SCIMResponse.errors`` and friends). The contract is
``/work/shared/spec/slack-scim.md``; each test names the sections it checks.

Things about slack_sdk (3.48) that shape these tests:

* The client never raises on an HTTP error: every call returns a response object
  whose ``status_code`` and ``errors`` (an ``Errors(description, code)`` built
  with ``Errors(**body["Errors"])``) carry the failure (spec §7.1). There is no
  ``SCIMApiError`` class.
* It has no method for ``/ServiceProviderConfigs`` or ``/Schemas``; the generic
  ``api_call`` reaches them (spec §2.1).
* ``search_users``/``search_groups`` require ``count`` and ``start_index``; only
  ``api_call`` can omit ``count`` (spec §5.1).
* Its snake-casing of response bodies turns a list of strings into a list of
  copies of the whole list: ``schemas: [a, b]`` is read as ``[[a, b], [a, b]]``,
  so a ``User``/``Group`` read from a response and sent back (what the SDK's own
  live tests do against Slack, which answers 200) carries nested ``schemas``.
* Extension objects land in ``unknown_fields`` under their URN, their keys
  snake-cased (``employee_number``, ``manager.manager_id``); ``to_dict`` turns them
  back into camelCase.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from typing import Any

import pytest
from slack_sdk.scim import SCIMClient, SCIMResponse, SearchUsersResponse
from slack_sdk.scim.v1.group import Group, GroupMember
from slack_sdk.scim.v1.user import User, UserEmail, UserName

import live
from live import LiveServer

pytestmark = pytest.mark.live

# one database per backend (tests/live.py); the server is the slack dialect's
live_database_url = live.live_database_url

CORE = "urn:scim:schemas:core:1.0"
ENTERPRISE = "urn:scim:schemas:extension:enterprise:1.0"
CREATED = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d([+-]\d\d:\d\d)$")


@pytest.fixture(scope="module")
def slack_server(live_database_url: str) -> Iterator[LiveServer]:
    """A ``scimd serve`` whose default tenant speaks Slack (enterprise plan, no rate limits:
    LiveServer passes on no ``SCIMD_*`` variable of the test process)."""
    with LiveServer(live_database_url, dialect="slack") as server:
        yield server


@pytest.fixture(scope="module")
def client(slack_server: LiveServer) -> SCIMClient:
    return SCIMClient(token=slack_server.token, base_url=slack_server.base_url + "/scim/v1/")


@pytest.fixture(scope="module")
def bad_client(slack_server: LiveServer) -> SCIMClient:
    return SCIMClient(token="xoxp-not-a-token", base_url=slack_server.base_url + "/scim/v1/")


# -- helpers ---------------------------------------------------------------------------

def _tag() -> str:
    return secrets.token_hex(3)


def _show(resp: SCIMResponse) -> str:
    return f"HTTP {resp.status_code}: {resp.raw_body!r}"[:1500]


def _new_user(client: SCIMClient, handle: str, *, given: str = "Test",
              family: str = "User", **attrs: Any) -> dict:
    """Create ``handle`` (≤ 21 chars) with a name and a primary email; the response body."""
    fields: dict[str, Any] = {
        "name": UserName(given_name=given, family_name=family),
        "emails": [UserEmail(value=f"{handle}@example.com", primary=True)],
        "schemas": [CORE], **attrs}
    user = User(user_name=handle, **fields)
    resp = client.create_user(user)
    assert resp.status_code == 201, _show(resp)
    return resp.body


def _new_group(client: SCIMClient, name: str, members: list[str]) -> dict:
    resp = client.create_group(Group(display_name=name, schemas=[CORE],
                                     members=[GroupMember(value=m) for m in members]))
    assert resp.status_code == 201, _show(resp)
    return resp.body


def _member_ids(group: Group) -> set[str]:
    return {m.value for m in group.members}


def _emails(user: User) -> list[tuple[str, bool]]:
    return [(e.value, e.primary) for e in user.emails]


def _assert_error(resp: SCIMResponse, status: int, code: str) -> None:
    """Spec §7.1: ``{"Errors": {"description": "<code>[ (<ctx>)]", "code": <status>}}``,
    exactly those two keys (``Errors(**errors)`` raises on any other)."""
    assert resp.status_code == status, _show(resp)
    assert resp.body is not None and set(resp.body) == {"Errors"}, _show(resp)
    assert set(resp.body["Errors"]) == {"description", "code"}, _show(resp)
    errors = resp.errors
    assert errors is not None
    assert errors.code == status
    assert errors.description == code or errors.description.startswith(code + " "), \
        errors.description
    # error responses keep the headers as a plain dict, with the server's (lower-case) keys
    content_type = {k.lower(): v for k, v in resp.headers.items()}.get("content-type", "")
    assert content_type.startswith("application/json"), content_type


def _flat_schemas(user_or_group: User | Group) -> None:
    """Undo slack_sdk's nesting of ``schemas`` (see the module docstring)."""
    flat: list[str] = []
    for item in user_or_group.schemas:
        for urn in item if isinstance(item, list) else [item]:
            if urn not in flat:
                flat.append(urn)
    user_or_group.schemas = flat


# -- discovery -------------------------------------------------------------------------

def test_service_provider_configs(client: SCIMClient, bad_client: SCIMClient) -> None:
    """Spec §2.1 (v1 path ``/ServiceProviderConfigs``), §10.1 (Slack's keys; §16.25 the
    flags say what scimd supports) and §1.4 (served without a valid token)."""
    for c in (client, bad_client):
        resp = c.api_call(http_verb="GET", path="ServiceProviderConfigs")
        assert resp.status_code == 200, _show(resp)
        body = resp.body
        assert set(body) >= {"authenticationSchemes", "patch", "bulk", "filter",
                             "changePassword", "sort", "etag", "xmlDataFormat"}
        scheme = body["authenticationSchemes"][0]
        assert scheme["type"] == "oauthbearertoken"
        assert scheme["primary"] is True
        assert body["patch"] == {"supported": True}
        assert body["bulk"]["supported"] is False
        assert body["changePassword"] == {"supported": False}
        assert body["xmlDataFormat"] == {"supported": False}
        for key in ("filter", "sort", "etag"):
            assert isinstance(body[key]["supported"], bool)
        assert "schemas" not in body and "documentationUri" not in body


def test_schemas(client: SCIMClient) -> None:
    """Spec §2.1 and §10.3: ``/Schemas/Users`` and ``/Schemas/Groups`` (v1 shapes)."""
    resp = client.api_call(http_verb="GET", path="Schemas/Users")
    assert resp.status_code == 200, _show(resp)
    users = resp.body
    assert users["id"] == "urn:scim:schemas:core:1.0:User"
    assert users["name"] == "User"
    assert users["endpoint"] == "/Users"
    assert isinstance(users["schema"], list) and CORE in users["schema"]
    attrs = {a["name"]: a for a in users["attributes"]}
    assert attrs["id"]["readOnly"] is True
    assert attrs["userName"]["required"] is True
    assert attrs["emails"]["required"] is True and attrs["emails"]["multiValued"] is True
    assert attrs["groups"]["readOnly"] is True
    assert ENTERPRISE in attrs

    resp = client.api_call(http_verb="GET", path="Schemas/Groups")
    assert resp.status_code == 200, _show(resp)
    groups = resp.body
    assert groups["name"] == "Group"
    assert groups["endpoint"] == "/Groups"
    assert groups["schema"] == CORE
    gattrs = {a["name"]: a for a in groups["attributes"]}
    assert {"id", "displayName", "members"} <= set(gattrs)
    assert gattrs["members"]["multiValued"] is True


# -- users -----------------------------------------------------------------------------

def test_create_user_with_enterprise_fields(client: SCIMClient) -> None:
    """Spec §2.3 (POST 201), §3.2 (emails: primary first, ``{value, primary}`` only;
    userName lower-cased; enterprise fields, manager by id), §3.3/§3.4 (attribute set),
    §12 (``W`` ids on Grid, ``externalId`` "", ``meta``, ``groups`` [])."""
    tag = _tag()
    boss = _new_user(client, f"boss.{tag}", given="Ray", family="Holt")
    user = User(
        user_name=f"Rosa.Diaz.{tag}",
        name=UserName(given_name="Rosa", family_name="Diaz"),
        title="Detective",
        # the secondary first: the primary flag, not the order, decides (§3.2)
        emails=[UserEmail(value=f"rd.{tag}@home.example", type="home", primary=False),
                UserEmail(value=f"rosa.{tag}@acme.example", type="work", primary=True)],
        schemas=[CORE, ENTERPRISE],
        **{ENTERPRISE: {"department": "Detectives", "employeeNumber": "99",
                        "manager": {"managerId": boss["id"]}}},
    )
    resp = client.create_user(user)
    assert resp.status_code == 201, _show(resp)
    created = resp.user
    assert created.id.startswith("W"), created.id
    assert created.user_name == f"rosa.diaz.{tag}"
    assert created.nick_name == created.user_name
    assert created.external_id == ""
    assert created.active is True
    assert created.title == "Detective"
    assert (created.name.given_name, created.name.family_name) == ("Rosa", "Diaz")
    assert _emails(created) == [(f"rosa.{tag}@acme.example", True),
                                (f"rd.{tag}@home.example", False)]
    assert all(set(e) == {"value", "primary"} for e in resp.body["emails"]), resp.body["emails"]
    assert created.groups == []
    assert created.timezone == "America/Los_Angeles"
    assert created.profile_url.endswith(f"/team/{created.user_name}")
    assert created.photos and created.photos[0].type == "photo"
    assert created.meta.location.endswith(f"/scim/v1/Users/{created.id}")
    match = CREATED.match(created.meta.created)
    assert match and match.group(1) in ("-07:00", "-08:00"), created.meta.created
    assert set(resp.body["meta"]) == {"created", "location"}
    assert resp.body["schemas"] == [CORE, ENTERPRISE]
    ext = created.unknown_fields[ENTERPRISE]  # keys snake-cased by the SDK
    assert ext["department"] == "Detectives"
    assert ext["employee_number"] == "99"
    assert ext["manager"] == {"manager_id": boss["id"]}
    assert boss["id"].startswith("W") and boss["id"] != created.id


def test_read_and_search_user(client: SCIMClient) -> None:
    """Spec §2.1 (GET one, GET list), §5.1-§5.3 (``filter``/``count``/``startIndex``,
    ``userName eq`` and ``email eq``, attribute names case-insensitive, v1 list shape)."""
    tag = _tag()
    body = _new_user(client, f"amy.{tag}", given="Amy", family="Santiago",
                     emails=[UserEmail(value=f"amy.{tag}@acme.example", primary=True),
                             UserEmail(value=f"amy.{tag}@home.example", primary=False)])
    uid = body["id"]

    read = client.read_user(uid)
    assert read.status_code == 200, _show(read)
    assert read.user.id == uid
    assert read.user.user_name == f"amy.{tag}"
    assert read.body == body

    for flt in (f'userName eq "amy.{tag}"', f'username Eq "amy.{tag}"',
                f'email eq "amy.{tag}@acme.example"', f'email eq "amy.{tag}@home.example"'):
        found = client.search_users(filter=flt, count=5, start_index=1)
        assert found.status_code == 200, (flt, _show(found))
        assert [u.id for u in found.users] == [uid], flt
        b = found.body
        assert (b["totalResults"], b["itemsPerPage"], b["startIndex"]) == (1, 1, 1), flt
        assert b["schemas"] == [CORE]
        assert list(b) == ["totalResults", "itemsPerPage", "startIndex", "schemas",
                           "Resources"]


def test_empty_search(client: SCIMClient) -> None:
    """Spec §5.2: no match → ``totalResults`` 0 and ``Resources: []``, so ``.users`` is []."""
    found = client.search_users(filter=f'userName eq "nobody.{_tag()}"', count=10,
                                start_index=1)
    assert found.status_code == 200, _show(found)
    assert found.body["totalResults"] == 0
    assert found.body["Resources"] == []
    assert found.users == []


def test_paging(client: SCIMClient) -> None:
    """Spec §5.1/§5.2: 1-based ``startIndex``, ``count``, ``itemsPerPage`` = resources
    returned, default page size 10 when ``count`` is omitted."""
    tag = _tag()
    ids = {_new_user(client, f"pg{tag}.{i:02d}")["id"] for i in range(12)}
    flt = f'userName sw "pg{tag}."'

    seen: list[str] = []
    for start, expected in ((1, 5), (6, 5), (11, 2)):
        page = client.search_users(filter=flt, count=5, start_index=start)
        assert page.status_code == 200, _show(page)
        assert page.body["totalResults"] == 12
        assert page.body["startIndex"] == start
        assert page.body["itemsPerPage"] == expected == len(page.users)
        seen += [u.id for u in page.users]
    assert len(seen) == 12 and set(seen) == ids

    # the client insists on ``count``; a raw call omits it
    page = SearchUsersResponse(client.api_call(
        http_verb="GET", path="Users", query_params={"filter": flt, "startIndex": 1}))
    assert page.status_code == 200, _show(page)
    assert page.body["totalResults"] == 12
    assert page.body["itemsPerPage"] == 10 == len(page.users)


def test_patch_user(client: SCIMClient) -> None:
    """Spec §2.3 (PATCH 200 + full user) and §6.1 (only supplied attributes change; a
    secondary email is set next to the primary, removed with ``"operation": "delete"`` or
    cleared with ``meta.attributes: ["emails"]``, which keeps the primary)."""
    tag = _tag()
    boss = _new_user(client, f"boss.{tag}")
    body = _new_user(client, f"jake.{tag}", given="Jake", family="Peralta", title="Detective",
                     schemas=[CORE, ENTERPRISE],
                     **{ENTERPRISE: {"department": "Detectives",
                                     "manager": {"managerId": boss["id"]}}})
    uid = body["id"]
    primary, secondary = f"jake.{tag}@example.com", f"jake.{tag}@home.example"

    resp = client.patch_user(uid, User(title="Sergeant"))
    assert resp.status_code == 200, _show(resp)
    assert resp.user.title == "Sergeant"
    assert resp.user.name.given_name == "Jake"
    assert _emails(resp.user) == [(primary, True)]

    resp = client.patch_user(uid, User(emails=[UserEmail(value=primary, primary=True),
                                               UserEmail(value=secondary, primary=False)]))
    assert resp.status_code == 200, _show(resp)
    patched = resp.user
    assert _emails(patched) == [(primary, True), (secondary, False)]
    assert patched.title == "Sergeant"
    assert (patched.name.given_name, patched.name.family_name) == ("Jake", "Peralta")
    assert patched.user_name == f"jake.{tag}"
    assert patched.unknown_fields[ENTERPRISE]["department"] == "Detectives"
    assert patched.unknown_fields[ENTERPRISE]["manager"] == {"manager_id": boss["id"]}
    assert client.read_user(uid).body == resp.body

    resp = client.patch_user(uid, User(emails=[UserEmail(value=secondary,
                                                         operation="delete")]))
    assert resp.status_code == 200, _show(resp)
    assert _emails(resp.user) == [(primary, True)]

    client.patch_user(uid, User(emails=[UserEmail(value=primary, primary=True),
                                        UserEmail(value=secondary, primary=False)]))
    resp = client.patch_user(uid, {"meta": {"attributes": ["emails"]}})
    assert resp.status_code == 200, _show(resp)
    assert _emails(resp.user) == [(primary, True)]
    assert resp.user.title == "Sergeant"


def test_patch_lone_secondary_email(client: SCIMClient) -> None:
    """Spec §3.2 (primary chosen by ``primary: true``; the primary cannot be removed
    without a replacement, ``missing_primary_email``) and §6.1 (SCIM 1.1 partial update:
    only supplied values change). A PATCH naming only an email flagged ``primary: false``
    either sets it as the secondary next to the kept primary, or is refused with 400
    ``missing_primary_email``; it never drops the primary nor promotes that email."""
    tag = _tag()
    uid = _new_user(client, f"boyle.{tag}")["id"]
    primary, secondary = f"boyle.{tag}@example.com", f"boyle.{tag}@home.example"

    resp = client.patch_user(uid, User(emails=[UserEmail(value=secondary, primary=False)]))
    if resp.status_code == 400:
        _assert_error(resp, 400, "missing_primary_email")
        assert _emails(client.read_user(uid).user) == [(primary, True)]
    else:
        assert resp.status_code == 200, _show(resp)
        assert _emails(resp.user) == [(primary, True), (secondary, False)]


def test_patch_delete_primary_email(client: SCIMClient) -> None:
    """Spec §3.2 and §7.3: removing the primary email without a replacement is 400
    ``missing_primary_email``; the user keeps the email."""
    tag = _tag()
    uid = _new_user(client, f"diaz.{tag}")["id"]
    resp = client.patch_user(uid, User(emails=[UserEmail(value=f"diaz.{tag}@example.com",
                                                         operation="delete")]))
    _assert_error(resp, 400, "missing_primary_email")
    assert _emails(client.read_user(uid).user) == [(f"diaz.{tag}@example.com", True)]


def test_put_user_replaces(client: SCIMClient) -> None:
    """Spec §2.3 (PUT 200 + full user) and §6.4 (full replace: attributes not supplied
    are blanked; a PUT without ``active`` keeps it, §16.7)."""
    tag = _tag()
    body = _new_user(client, f"gina.{tag}", given="Gina", family="Linetti",
                     title="Assistant", schemas=[CORE, ENTERPRISE],
                     **{ENTERPRISE: {"department": "Admin", "employeeNumber": "7"}})
    uid = body["id"]

    resp = client.update_user(User(
        id=uid, user_name=f"gina.{tag}", schemas=[CORE],
        name=UserName(given_name="Gina", family_name="Linetti"),
        emails=[UserEmail(value=f"gina.{tag}@example.com", primary=True),
                UserEmail(value=f"gina.{tag}@home.example", primary=False)],
        title="Civilian Administrator"))
    assert resp.status_code == 200, _show(resp)
    put = resp.user
    assert put.id == uid
    assert put.title == "Civilian Administrator"
    assert put.active is True
    assert _emails(put) == [(f"gina.{tag}@example.com", True),
                            (f"gina.{tag}@home.example", False)]
    ext = put.unknown_fields.get(ENTERPRISE) or {}
    assert ext.get("department") is None and ext.get("employee_number") is None, ext
    assert client.read_user(uid).body == resp.body


def test_put_round_trip_of_read_user(client: SCIMClient) -> None:
    """Spec §6.4 (clients GET, modify and PUT back the whole object, read-only fields
    included) with the exact object ``read_user`` returned — what the SDK's own live
    test does against Slack (``update_user(creation.user)`` → 200)."""
    tag = _tag()
    boss = _new_user(client, f"boss.{tag}")
    uid = _new_user(client, f"terry.{tag}", given="Terry", family="Jeffords",
                    title="Sergeant", schemas=[CORE, ENTERPRISE],
                    **{ENTERPRISE: {"department": "Precinct 99",
                                    "manager": {"managerId": boss["id"]}}})["id"]
    _new_group(client, f"squad-{tag}", [uid])

    user = client.read_user(uid).user
    user.title = "Lieutenant"
    resp = client.update_user(user)
    assert resp.status_code == 200, _show(resp)
    _check_round_trip(client, resp, uid, tag, boss["id"])


def test_put_round_trip_with_read_only_fields(client: SCIMClient) -> None:
    """Spec §6.4: the object read back, ``schemas`` un-nested, with ``id``, ``meta``,
    ``groups``, ``profileUrl``, ``photos`` (read-only) sent back is accepted; nothing
    else changes."""
    tag = _tag()
    boss = _new_user(client, f"boss.{tag}")
    uid = _new_user(client, f"terry.{tag}", given="Terry", family="Jeffords",
                    title="Sergeant", schemas=[CORE, ENTERPRISE],
                    **{ENTERPRISE: {"department": "Precinct 99",
                                    "manager": {"managerId": boss["id"]}}})["id"]
    _new_group(client, f"squad-{tag}", [uid])

    user = client.read_user(uid).user
    assert user.groups and user.meta and user.profile_url and user.photos
    _flat_schemas(user)
    user.title = "Lieutenant"
    resp = client.update_user(user)
    assert resp.status_code == 200, _show(resp)
    _check_round_trip(client, resp, uid, tag, boss["id"])


def _check_round_trip(client: SCIMClient, resp: SCIMResponse, uid: str, tag: str,
                      boss_id: str) -> None:
    put = resp.user
    assert put.title == "Lieutenant"
    assert put.user_name == f"terry.{tag}"
    assert (put.name.given_name, put.name.family_name) == ("Terry", "Jeffords")
    assert _emails(put) == [(f"terry.{tag}@example.com", True)]
    assert put.unknown_fields[ENTERPRISE]["department"] == "Precinct 99"
    assert put.unknown_fields[ENTERPRISE]["manager"] == {"manager_id": boss_id}
    assert [g.display for g in put.groups] == [f"squad-{tag}"]
    assert put.active is True
    assert client.read_user(uid).body == resp.body


def test_deactivate_user(client: SCIMClient) -> None:
    """Spec §2.1/§2.3 (v1 DELETE deactivates: 200, empty body; idempotent; the user stays
    readable and listed with ``active: false``), §12, §16.26 (and leaves its groups)."""
    tag = _tag()
    uid = _new_user(client, f"hitch.{tag}")["id"]
    other = _new_user(client, f"scully.{tag}")["id"]
    gid = _new_group(client, f"Duo {tag}", [uid, other])["id"]

    resp = client.delete_user(uid)
    assert resp.status_code == 200, _show(resp)
    assert resp.raw_body == "" and resp.body is None

    read = client.read_user(uid)
    assert read.status_code == 200, _show(read)
    assert read.user.active is False
    assert read.user.user_name == f"hitch.{tag}"
    found = client.search_users(filter=f'userName eq "hitch.{tag}"', count=1, start_index=1)
    assert [(u.id, u.active) for u in found.users] == [(uid, False)]

    for _ in range(2):
        again = client.delete_user(uid)
        assert again.status_code == 200, _show(again)
        assert again.raw_body == ""
    assert client.read_user(uid).user.active is False
    # §16.26: deactivation takes the user out of every group
    assert _member_ids(client.read_group(gid).group) == {other}
    assert client.read_user(uid).user.groups == []


# -- groups ----------------------------------------------------------------------------

def test_group_lifecycle(client: SCIMClient) -> None:
    """Spec §2.1/§2.3 (POST 201, PATCH 204 no body, PUT 200, DELETE 204), §4.1 (members
    ``{value, display}``, ``S`` ids, meta), §4.4 (v1 PATCH: add by default,
    ``"operation": "delete"`` removes, ``displayName`` renames), §4.6 (PUT replaces the
    members), §5.3/§16.10 (``displayName eq``), §12 (``groups`` on the user)."""
    tag = _tag()
    u1, u2, u3 = (_new_user(client, f"{n}.{tag}", given=n.title(), family="Squad")["id"]
                  for n in ("charles", "rosa", "amy"))

    resp = client.create_group(Group(display_name=f"Nine-Nine {tag}", schemas=[CORE],
                                     members=[GroupMember(value=u1), GroupMember(value=u2)]))
    assert resp.status_code == 201, _show(resp)
    group = resp.group
    gid = group.id
    assert gid.startswith("S"), gid
    assert group.display_name == f"Nine-Nine {tag}"
    assert _member_ids(group) == {u1, u2}
    assert all(isinstance(m.display, str) and m.display for m in group.members)
    assert resp.body["schemas"] == [CORE]
    assert list(resp.body) == ["schemas", "id", "displayName", "members", "meta"]
    assert group.meta.location.endswith(f"/scim/v1/Groups/{gid}")
    assert CREATED.match(group.meta.created), group.meta.created

    read = client.read_group(gid)
    assert read.status_code == 200, _show(read)
    assert read.body == resp.body
    user1 = client.read_user(u1).user
    assert [(g.value, g.display) for g in user1.groups] == [(gid, f"Nine-Nine {tag}")]

    patch = client.patch_group(gid, Group(members=[GroupMember(value=u3)]))
    assert (patch.status_code, patch.raw_body) == (204, ""), _show(patch)
    assert _member_ids(client.read_group(gid).group) == {u1, u2, u3}

    patch = client.patch_group(gid, Group(members=[GroupMember(value=u1, operation="delete")]))
    assert (patch.status_code, patch.raw_body) == (204, ""), _show(patch)
    assert _member_ids(client.read_group(gid).group) == {u2, u3}
    assert client.read_user(u1).user.groups == []

    patch = client.patch_group(gid, Group(display_name=f"Ninety-Nine {tag}"))
    assert (patch.status_code, patch.raw_body) == (204, ""), _show(patch)
    renamed = client.read_group(gid).group
    assert renamed.display_name == f"Ninety-Nine {tag}"
    assert _member_ids(renamed) == {u2, u3}

    found = client.search_groups(filter=f'displayName eq "Ninety-Nine {tag}"', count=10,
                                 start_index=1)
    assert found.status_code == 200, _show(found)
    assert [g.id for g in found.groups] == [gid]
    assert found.body["totalResults"] == 1
    none = client.search_groups(filter=f'displayName eq "Nine-Nine {tag}"', count=10,
                                start_index=1)
    assert none.status_code == 200 and none.groups == [], _show(none)

    put = client.update_group(Group(id=gid, display_name=f"Nine-Nine {tag}", schemas=[CORE],
                                    members=[GroupMember(value=u1)]))
    assert put.status_code == 200, _show(put)
    assert put.group.display_name == f"Nine-Nine {tag}"
    assert _member_ids(put.group) == {u1}
    assert client.read_group(gid).body == put.body

    gone = client.delete_group(gid)
    assert (gone.status_code, gone.raw_body) == (204, ""), _show(gone)
    _assert_error(client.read_group(gid), 404, "no_such_group")
    assert client.read_user(u1).status_code == 200  # members keep their accounts (§4.6)
    assert client.read_user(u1).user.groups == []


def test_group_put_round_trip_of_created_group(client: SCIMClient) -> None:
    """Spec §2.3/§4.6: the SDK's own live test renames ``creation.group`` and PUTs it back
    (Slack answers 200) — members with ``display``, ``meta`` and ``id`` included."""
    tag = _tag()
    uid = _new_user(client, f"scully.{tag}")["id"]
    group = client.create_group(Group(display_name=f"Vultures {tag}",
                                      members=[GroupMember(value=uid)])).group
    group.display_name = f"Vultures {tag} 2"
    resp = client.update_group(group)
    assert resp.status_code == 200, _show(resp)
    assert resp.group.display_name == f"Vultures {tag} 2"
    assert _member_ids(resp.group) == {uid}


def test_group_put_round_trip_with_read_only_fields(client: SCIMClient) -> None:
    """Spec §4.6/§6.4: the group read back, ``schemas`` un-nested, with ``id``, ``meta`` and
    members' ``display`` sent back is accepted; PUT keeps exactly the members sent."""
    tag = _tag()
    uid = _new_user(client, f"scully.{tag}")["id"]
    gid = _new_group(client, f"Vultures {tag}", [uid])["id"]
    group = client.read_group(gid).group
    _flat_schemas(group)
    group.display_name = f"Vultures {tag} 2"
    resp = client.update_group(group)
    assert resp.status_code == 200, _show(resp)
    assert resp.group.display_name == f"Vultures {tag} 2"
    assert _member_ids(resp.group) == {uid}
    assert client.read_group(gid).body == resp.body


# -- errors ----------------------------------------------------------------------------

def test_duplicate_username_and_email(client: SCIMClient) -> None:
    """Spec §3.6, §7.1, §7.2/§16.1: ``username_taken`` and ``email_taken`` are 409 in the
    v1 error shape, readable through ``response.errors``."""
    tag = _tag()
    _new_user(client, f"kevin.{tag}")

    dup = client.create_user(User(user_name=f"KEVIN.{tag}", schemas=[CORE],
                                  name=UserName(given_name="K", family_name="C"),
                                  emails=[UserEmail(value=f"other.{tag}@example.com")]))
    _assert_error(dup, 409, "username_taken")
    assert dup.errors.to_dict()["code"] == 409

    dup = client.create_user(User(user_name=f"cheddar.{tag}", schemas=[CORE],
                                  name=UserName(given_name="K", family_name="C"),
                                  emails=[UserEmail(value=f"kevin.{tag}@example.com")]))
    _assert_error(dup, 409, "email_taken")


def test_bad_token(bad_client: SCIMClient, client: SCIMClient) -> None:
    """Spec §1.2: a bad token is 401 ``invalid_authentication`` on every resource call."""
    uid = _new_user(client, f"holt.{_tag()}")["id"]
    _assert_error(bad_client.read_user(uid), 401, "invalid_authentication")
    _assert_error(bad_client.search_users(count=1, start_index=1), 401,
                  "invalid_authentication")
    _assert_error(bad_client.search_groups(count=1, start_index=1), 401,
                  "invalid_authentication")
    _assert_error(bad_client.create_user(User(
        user_name=f"intruder.{_tag()}", emails=[UserEmail(value="x@example.com")])),
        401, "invalid_authentication")
    _assert_error(bad_client.delete_user(uid), 401, "invalid_authentication")
    assert client.read_user(uid).user.active is True


def test_unknown_ids(client: SCIMClient) -> None:
    """Spec §7.2/§16.1: an unknown user is 404 ``no_such_user``, an unknown group 404
    ``no_such_group``, whatever the method."""
    missing = "W0NOSUCHUSR"
    _assert_error(client.read_user(missing), 404, "no_such_user")
    _assert_error(client.patch_user(missing, User(title="x")), 404, "no_such_user")
    _assert_error(client.update_user(User(
        id=missing, user_name=f"ghost.{_tag()}", schemas=[CORE],
        emails=[UserEmail(value="ghost@example.com", primary=True)])), 404, "no_such_user")
    _assert_error(client.delete_user(missing), 404, "no_such_user")
    _assert_error(client.read_group("S0NOSUCHGRP"), 404, "no_such_group")
    _assert_error(client.delete_group("S0NOSUCHGRP"), 404, "no_such_group")
