"""Groups in the ``slack`` dialect, at ``/scim/v1`` and ``/scim/v2``.

The contract is /work/shared/spec/slack-scim.md: §4 (the group resource, its
limits, v1 and v2 PATCH, PUT and DELETE), §2.3 (success statuses), §7 (error
shapes), §12 (``groups`` on a user reflects membership at once) and our defaults
§16.6, §16.10, §16.13, §16.16 and §16.26. Each test names the sections it covers.
Failed writes are followed by a re-read showing nothing changed. Every test runs on
SQLite and on PostgreSQL (see ``conftest.py``).
"""

from __future__ import annotations

import re

import httpx
import pytest

from conftest import ScimClient
from scimd.store import users as user_store
from scimd.store.common import new_id
from scimd.store.db import Database
from scimd.store.records import Tenant

V1_CORE = "urn:scim:schemas:core:1.0"
USER_URN = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP_URN = "urn:ietf:params:scim:schemas:core:2.0:Group"
PATCH_URN = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
ERROR_URN = "urn:ietf:params:scim:api:messages:2.0:Error"
GUEST_URN = "urn:ietf:params:scim:schemas:extension:slack:guest:2.0:User"
SLACK_JSON = "application/json; charset=utf-8"
GROUP_ID = re.compile(r"^S[0-9A-Z]+$")
SLACK_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d$")


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


def group_body(version: int, name: str | None, members: list[str] | None = None) -> dict:
    body: dict = {"schemas": [V1_CORE if version == 1 else GROUP_URN]}
    if name is not None:
        body["displayName"] = name
    if members is not None:
        body["members"] = [{"value": m} for m in members]
    return body


def v2_patch(*operations: dict) -> dict:
    return {"schemas": [PATCH_URN], "Operations": list(operations)}


def v1_patch(members: list[dict] | None = None, **attrs) -> dict:
    body: dict = {"schemas": [V1_CORE], **attrs}
    if members is not None:
        body["members"] = members
    return body


def create_group(slack: Slack, version: int, name: str, members: list[str] = ()) -> dict:  # type: ignore[assignment]
    r = slack.at(version).post("/Groups", group_body(version, name, list(members)))
    assert r.status_code == 201, r.text
    return r.json()


def get_group(client: ScimClient, group_id: str) -> dict:
    r = client.get(f"/Groups/{group_id}")
    assert r.status_code == 200, r.text
    return r.json()


def member_ids(doc: dict) -> set[str]:
    return {m["value"] for m in doc["members"]}


def user_groups(client: ScimClient, user_id: str) -> list[dict]:
    r = client.get(f"/Users/{user_id}")
    assert r.status_code == 200, r.text
    return r.json()["groups"]


def group_total(client: ScimClient) -> int:
    r = client.get("/Groups")
    assert r.status_code == 200, r.text
    return r.json()["totalResults"]


def assert_error(r: httpx.Response, version: int, status: int, code: str | None = None) -> None:
    """Spec §7.1, §16.2: v1 ``{"Errors": {description, code}}``; v2 ``{schemas, detail,
    status}`` with an integer status (401s excepted, which are not tested here)."""
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == SLACK_JSON
    body = r.json()
    if version == 1:
        assert list(body) == ["Errors"], body
        assert set(body["Errors"]) == {"description", "code"}, body
        assert body["Errors"]["code"] == status
        description = body["Errors"]["description"]
        if code is not None:
            assert description == code or description.startswith(code + " ("), body
    else:
        assert set(body) == {"schemas", "detail", "status"}, body
        assert body["schemas"] == [ERROR_URN]
        assert body["status"] == status and isinstance(body["status"], int)
        if code is not None:
            assert body["detail"] == code, body


def bulk_users(db: Database, tenant: Tenant, n: int, prefix: str = "bulk") -> list[str]:
    """Insert ``n`` active users straight into the store (fast) and answer their ids."""
    ids = []
    with db.write() as conn:
        for i in range(n):
            uid = new_id(tenant.user_prefix)
            name = f"{prefix}{i}"
            user_store.insert_user(
                conn, tenant.pk, uid,
                {"userName": name, "nickName": name,
                 "emails": [{"value": f"{name}@example.com", "primary": True}],
                 "active": True},
                password_hash=None, unique_emails=True)
            ids.append(uid)
    return ids


@pytest.fixture
def slack(scim) -> Slack:
    return Slack(scim("slack"))


@pytest.fixture(params=[1, 2], ids=["v1", "v2"])
def version(request: pytest.FixtureRequest) -> int:
    return request.param


@pytest.fixture
def people(slack: Slack) -> list[dict]:
    """Three users; the first has a display name."""
    return [slack.v2.create_user("rosa", displayName="Rosa Diaz"),
            slack.v2.create_user("ray", name={"givenName": "Ray", "familyName": "Holt"}),
            slack.v2.create_user("amy")]


# -- the resource (§4.1, §4.3, §2.3) --------------------------------------------------------------


def test_create_answers_201_with_slack_group(slack, version, people):
    """§4.1, §4.3, §2.3: POST → 201; ``S…`` id; members ``{value, display}``; the key
    order of the version; ``meta`` with ``created`` (offset) and ``location``."""
    rosa, ray, _ = people
    client = slack.at(version)
    r = client.post("/Groups", group_body(version, "nine-nine", [rosa["id"], ray["id"]]))
    assert r.status_code == 201, r.text
    assert r.headers["content-type"] == SLACK_JSON
    assert r.content.startswith(b"{")
    doc = r.json()
    assert GROUP_ID.match(doc["id"]), doc["id"]
    if version == 1:
        assert list(doc) == ["schemas", "id", "displayName", "members", "meta"]
        assert doc["schemas"] == [V1_CORE]
    else:
        assert list(doc) == ["schemas", "id", "meta", "displayName", "members"]
        assert doc["schemas"] == [GROUP_URN]
    assert doc["displayName"] == "nine-nine"
    assert all(set(m) == {"value", "display"} for m in doc["members"]), doc["members"]
    assert member_ids(doc) == {rosa["id"], ray["id"]}
    display = {m["value"]: m["display"] for m in doc["members"]}
    assert display[rosa["id"]] == "Rosa Diaz"
    assert isinstance(display[ray["id"]], str) and display[ray["id"]]
    assert doc["meta"]["location"].endswith(f"/scim/v{version}/Groups/{doc['id']}")
    assert SLACK_TIME.match(doc["meta"]["created"]), doc["meta"]
    assert get_group(client, doc["id"]) == doc


def test_member_display_is_ignored_on_write(slack, version, people):
    """§4.1: ``value`` is required on write and ``display`` ignored: the answer shows the
    user's own name."""
    rosa = people[0]
    body = group_body(version, "shown")
    body["members"] = [{"value": rosa["id"], "display": "Not Rosa"}]
    r = slack.at(version).post("/Groups", body)
    assert r.status_code == 201, r.text
    assert r.json()["members"] == [{"value": rosa["id"], "display": "Rosa Diaz"}]


def test_member_without_value_is_refused(slack, version, people):
    """§4.1: ``value`` is required on write. A member given only by ``display`` is a bad
    request (400) on create, PUT and PATCH, and nothing changes; in particular it must
    not empty the group."""
    client = slack.at(version)
    rosa = people[0]
    nameless = [{"display": "Rosa Diaz"}]
    group = create_group(slack, version, "keep", [rosa["id"]])
    failures = []
    body = {**group_body(version, "valueless"), "members": nameless}
    failures.append(client.post("/Groups", body))
    failures.append(client.put(f"/Groups/{group['id']}",
                               {**group_body(version, "keep"), "members": nameless}))
    if version == 1:
        failures.append(client.patch(f"/Groups/{group['id']}", v1_patch(nameless)))
    else:
        for op in ("add", "replace"):
            failures.append(client.patch(f"/Groups/{group['id']}", v2_patch(
                {"op": op, "path": "members", "value": nameless})))
    statuses = [r.status_code for r in failures]
    assert get_group(client, group["id"]) == group, statuses
    assert group_total(client) == 1, statuses
    for r in failures:
        assert_error(r, version, 400)


def test_members_present_and_empty_when_none(slack, version):
    """§4.1: ``members`` is present even when empty (``[]``), on create, read and list."""
    client = slack.at(version)
    r = client.post("/Groups", group_body(version, "lonely"))
    assert r.status_code == 201, r.text
    doc = r.json()
    assert doc["members"] == []
    assert get_group(client, doc["id"])["members"] == []
    listed = client.get("/Groups").json()["Resources"]
    assert [g["members"] for g in listed] == [[]]


def test_group_ids_differ_and_read_in_both_versions(slack, version, people):
    """§2, §4.1: a group made in one version reads the same in the other (ids ``S…``)."""
    one = create_group(slack, version, "one", [people[0]["id"]])
    two = create_group(slack, version, "two")
    assert one["id"] != two["id"]
    other = slack.at(3 - version)
    doc = get_group(other, one["id"])
    assert doc["id"] == one["id"] and doc["displayName"] == "one"
    assert doc["members"] == one["members"]


@pytest.mark.parametrize("body_extra", [{}, {"displayName": None}, {"members": []}],
                         ids=["absent", "null", "members-only"])
def test_display_name_is_required(slack, version, body_extra):
    """§4.1: ``displayName`` is required on create; nothing is created without it."""
    client = slack.at(version)
    body = {**group_body(version, None), **body_extra}
    assert_error(client.post("/Groups", body), version, 400)
    assert group_total(client) == 0


def test_unknown_group_is_404_no_such_group(slack, version):
    """§4.2, §7.2: an unknown group id → 404 ``no_such_group`` for every method."""
    client = slack.at(version)
    patch = v1_patch(displayName="x") if version == 1 else v2_patch(
        {"op": "replace", "path": "displayName", "value": "x"})
    for r in (client.get("/Groups/S0NOSUCH00"),
              client.put("/Groups/S0NOSUCH00", group_body(version, "x")),
              client.patch("/Groups/S0NOSUCH00", patch),
              client.delete("/Groups/S0NOSUCH00")):
        assert_error(r, version, 404, "no_such_group")


def test_unknown_member_is_refused(slack, version, people):
    """§4.2: adding an id that is no user (``no_such_group_members``) fails as a whole."""
    client = slack.at(version)
    body = group_body(version, "ghosts", [people[0]["id"], "W0NOSUCHUSR"])
    assert_error(client.post("/Groups", body), version, 400, "no_such_group_members")
    assert group_total(client) == 0


# -- v1 PATCH (§4.4) -------------------------------------------------------------------------------


def test_v1_patch_adds_and_deletes_members_answers_204(slack, people):
    """§4.4, §2.3: members without ``operation`` are added, ``"operation": "delete"``
    removes; the answer is 204 with no body."""
    rosa, ray, amy = people
    group = create_group(slack, 1, "squad", [rosa["id"], ray["id"]])
    r = slack.v1.patch(f"/Groups/{group['id']}",
                       v1_patch([{"value": amy["id"]},
                                 {"value": rosa["id"], "operation": "delete"}]))
    assert r.status_code == 204, r.text
    assert r.content == b""
    doc = get_group(slack.v1, group["id"])
    assert member_ids(doc) == {ray["id"], amy["id"]}
    assert doc["displayName"] == "squad"


def test_v1_patch_renames_by_display_name(slack, people):
    """§4.4: ``{"displayName": "new"}`` renames (204); members stay; the members'
    ``groups`` show the new name (§12)."""
    rosa = people[0]
    group = create_group(slack, 1, "old-name", [rosa["id"]])
    r = slack.v1.patch(f"/Groups/{group['id']}", v1_patch(displayName="new-name"))
    assert r.status_code == 204, r.text
    assert r.content == b""
    doc = get_group(slack.v2, group["id"])
    assert doc["displayName"] == "new-name"
    assert member_ids(doc) == {rosa["id"]}
    assert user_groups(slack.v1, rosa["id"]) == [{"value": group["id"], "display": "new-name"}]


def test_v1_patch_without_schemas_is_missing_schema_element(slack, people):
    """§7.3: ``schemas`` is required in request bodies (``missing_schema_element``)."""
    group = create_group(slack, 1, "strict", [people[0]["id"]])
    r = slack.v1.patch(f"/Groups/{group['id']}", {"members": [{"value": people[1]["id"]}]})
    assert_error(r, 1, 400, "missing_schema_element")
    assert get_group(slack.v1, group["id"]) == group


# -- v2 PATCH (§4.5, §16.16) ----------------------------------------------------------------------


def _v2_patch_ok(slack: Slack, group_id: str, *ops: dict) -> dict:
    r = slack.v2.patch(f"/Groups/{group_id}", v2_patch(*ops))
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == SLACK_JSON
    doc = r.json()
    assert list(doc) == ["schemas", "id", "meta", "displayName", "members"]
    assert doc == get_group(slack.v2, group_id)
    return doc


def test_v2_patch_replace_members_sets_exactly(slack, people):
    """§4.5: replace ``members`` → membership becomes exactly the list; 200 + group."""
    rosa, ray, amy = people
    group = create_group(slack, 2, "replace-me", [rosa["id"], ray["id"]])
    doc = _v2_patch_ok(slack, group["id"], {"op": "replace", "path": "members",
                                            "value": [{"value": ray["id"]},
                                                      {"value": amy["id"]}]})
    assert member_ids(doc) == {ray["id"], amy["id"]}


def test_v2_patch_remove_members_removes_all(slack, people):
    """§4.5: remove with path ``members`` and no value removes every member."""
    group = create_group(slack, 2, "empty-me", [p["id"] for p in people])
    doc = _v2_patch_ok(slack, group["id"], {"op": "remove", "path": "members"})
    assert doc["members"] == []


@pytest.mark.parametrize("quoted", [False, True], ids=["unquoted", "quoted"])
def test_v2_patch_remove_one_member_by_filter(slack, people, quoted):
    """§4.5: ``members[value eq U123]`` removes that member; unquoted (as in Slack's doc)
    and quoted values are both accepted."""
    rosa, ray, amy = people
    group = create_group(slack, 2, "filter-me", [rosa["id"], ray["id"], amy["id"]])
    value = f'"{ray["id"]}"' if quoted else ray["id"]
    doc = _v2_patch_ok(slack, group["id"],
                       {"op": "remove", "path": f"members[value eq {value}]"})
    assert member_ids(doc) == {rosa["id"], amy["id"]}


def test_v2_patch_remove_with_value_list_removes_only_those(slack, people):
    """§4.5, §16.16: remove on ``members`` with a ``value`` list removes only the listed
    members (the Java SDK's form)."""
    rosa, ray, amy = people
    group = create_group(slack, 2, "list-me", [rosa["id"], ray["id"], amy["id"]])
    doc = _v2_patch_ok(slack, group["id"], {"op": "remove", "path": "members",
                                            "value": [{"value": rosa["id"]},
                                                      {"value": amy["id"]}]})
    assert member_ids(doc) == {ray["id"]}


def test_v2_patch_add_members_keeps_existing(slack, people):
    """§4.5: add on ``members`` adds; members already there stay, once."""
    rosa, ray, amy = people
    group = create_group(slack, 2, "add-me", [rosa["id"]])
    doc = _v2_patch_ok(slack, group["id"], {"op": "add", "path": "members",
                                            "value": [{"value": ray["id"]},
                                                      {"value": rosa["id"]}]})
    assert sorted(m["value"] for m in doc["members"]) == sorted([rosa["id"], ray["id"]])
    doc = _v2_patch_ok(slack, group["id"], {"op": "add", "path": "members",
                                            "value": [{"value": amy["id"]}]})
    assert member_ids(doc) == {rosa["id"], ray["id"], amy["id"]}


@pytest.mark.parametrize("op", [
    {"op": "replace", "path": "displayName", "value": "renamed"},
    {"op": "replace", "value": {"displayName": "renamed"}},
], ids=["path", "no-path"])
def test_v2_patch_renames(slack, people, op):
    """§4.5: ``replace`` of ``displayName`` (with a path or as a path-less object) renames
    the group and leaves its members alone."""
    group = create_group(slack, 2, "before", [people[0]["id"]])
    doc = _v2_patch_ok(slack, group["id"], op)
    assert doc["displayName"] == "renamed"
    assert member_ids(doc) == {people[0]["id"]}


def test_v2_patch_answers_the_group_in_v2_and_204_in_v1_for_same_group(slack, people):
    """§2.3: PATCH /Groups answers 204 without body at v1 and 200 with the group at v2."""
    group = create_group(slack, 2, "both", [people[0]["id"]])
    r1 = slack.v1.patch(f"/Groups/{group['id']}", v1_patch([{"value": people[1]["id"]}]))
    assert (r1.status_code, r1.content) == (204, b"")
    r2 = slack.v2.patch(f"/Groups/{group['id']}",
                        v2_patch({"op": "add", "path": "members",
                                  "value": [{"value": people[2]["id"]}]}))
    assert r2.status_code == 200, r2.text
    assert member_ids(r2.json()) == {p["id"] for p in people}


# -- PUT and DELETE (§4.6, §2.3) ------------------------------------------------------------------


def test_put_replaces_members_and_name(slack, version, people):
    """§4.6, §2.3: PUT → 200 + group; name and member list are replaced."""
    rosa, ray, amy = people
    client = slack.at(version)
    group = create_group(slack, version, "put-me", [rosa["id"], ray["id"]])
    r = client.put(f"/Groups/{group['id']}", group_body(version, "put-done", [amy["id"]]))
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == SLACK_JSON
    doc = r.json()
    assert doc["id"] == group["id"]
    assert doc["displayName"] == "put-done"
    assert member_ids(doc) == {amy["id"]}
    assert doc == get_group(client, group["id"])


def test_put_without_members_empties_the_group(slack, version, people):
    """§4.6: omitting ``members`` in a PUT empties the group (``"members": []``)."""
    client = slack.at(version)
    group = create_group(slack, version, "drain", [p["id"] for p in people])
    r = client.put(f"/Groups/{group['id']}", group_body(version, "drain"))
    assert r.status_code == 200, r.text
    assert r.json()["members"] == []
    assert get_group(client, group["id"])["members"] == []
    for p in people:
        assert user_groups(client, p["id"]) == []


def test_delete_group_204_then_404_and_members_untouched(slack, version, people):
    """§4.6, §2.3, §16.6: DELETE → 204 without body; afterwards 404 ``no_such_group``;
    the members keep their (active) accounts and lose the group from ``groups``."""
    client = slack.at(version)
    group = create_group(slack, version, "doomed", [p["id"] for p in people])
    keep = create_group(slack, version, "kept", [people[0]["id"]])
    r = client.delete(f"/Groups/{group['id']}")
    assert r.status_code == 204, r.text
    assert r.content == b""
    assert_error(client.get(f"/Groups/{group['id']}"), version, 404, "no_such_group")
    assert_error(client.delete(f"/Groups/{group['id']}"), version, 404, "no_such_group")
    for p in people:
        r = client.get(f"/Users/{p['id']}")
        assert r.status_code == 200, r.text
        assert r.json()["active"] is True
    assert user_groups(client, people[0]["id"]) == [{"value": keep["id"], "display": "kept"}]
    assert user_groups(client, people[1]["id"]) == []
    assert get_group(client, keep["id"]) == keep


# -- limits (§4.2) ------------------------------------------------------------------------------


def test_more_than_15000_members_in_one_request_is_too_many_users(slack, db):
    """§4.2: up to 15,000 members per create/update call; more → 400 ``too_many_users``,
    on POST, PUT and PATCH, in both versions, and nothing changes. (Enterprise tenant:
    the 5,000 cap of Business+ user groups does not apply.)"""
    ids = bulk_users(db, slack.tenant, 15_001)
    big = create_group(slack, 2, "big", ids[:15_000])
    assert len(big["members"]) == 15_000
    small = create_group(slack, 2, "small")
    too_many = ids
    for version in (1, 2):
        client = slack.at(version)
        assert_error(client.post("/Groups", group_body(version, "huge", too_many)),
                     version, 400, "too_many_users")
        assert_error(client.put(f"/Groups/{small['id']}",
                                group_body(version, "small", too_many)),
                     version, 400, "too_many_users")
    members = [{"value": i} for i in too_many]
    assert_error(slack.v1.patch(f"/Groups/{small['id']}", v1_patch(members)),
                 1, 400, "too_many_users")
    for op in ("add", "replace"):
        assert_error(slack.v2.patch(f"/Groups/{small['id']}",
                                    v2_patch({"op": op, "path": "members", "value": members})),
                     2, 400, "too_many_users")
    assert group_total(slack.v2) == 2
    assert get_group(slack.v2, small["id"]) == small


def test_business_plus_user_groups_capped_at_5000(scim, db):
    """§4.2, §11: on Business+ a user group has at most 5,000 members; more →
    ``group_member_max_exceeded``, whether by create, PUT or PATCH (v1 and v2)."""
    slack = Slack(scim("slack", plan="business_plus"))
    ids = bulk_users(db, slack.tenant, 5_001)
    assert_error(slack.v2.post("/Groups", group_body(2, "over", ids)),
                 2, 400, "group_member_max_exceeded")
    assert_error(slack.v1.post("/Groups", group_body(1, "over", ids)),
                 1, 400, "group_member_max_exceeded")
    assert group_total(slack.v2) == 0
    full = create_group(slack, 2, "full", ids[:5_000])
    assert len(full["members"]) == 5_000
    extra = [{"value": ids[5_000]}]
    assert_error(slack.v2.patch(f"/Groups/{full['id']}",
                                v2_patch({"op": "add", "path": "members", "value": extra})),
                 2, 400, "group_member_max_exceeded")
    assert_error(slack.v1.patch(f"/Groups/{full['id']}", v1_patch(extra)),
                 1, 400, "group_member_max_exceeded")
    assert_error(slack.v2.put(f"/Groups/{full['id']}", group_body(2, "full", ids)),
                 2, 400, "group_member_max_exceeded")
    assert get_group(slack.v2, full["id"]) == full
    # swapping one member keeps the group at the cap: allowed
    r = slack.v1.patch(f"/Groups/{full['id']}",
                       v1_patch([{"value": ids[0], "operation": "delete"}, *extra]))
    assert r.status_code == 204, r.text
    assert ids[5_000] in member_ids(get_group(slack.v2, full["id"]))


# -- who may be a member (§4.1, §16.13, §11) ------------------------------------------------------


def _deactivate(slack: Slack, user_id: str) -> None:
    r = slack.v2.delete(f"/Users/{user_id}")
    assert r.status_code == 204, r.text


def test_deactivated_user_cannot_be_added(slack, version, people):
    """§16.13, §7.3: a deactivated user cannot join a group
    (``unable_to_add_deleted_or_guest_to_group``) by create, PATCH or PUT; nothing changes."""
    rosa, ray, _ = people
    _deactivate(slack, ray["id"])
    client = slack.at(version)
    assert_error(client.post("/Groups", group_body(version, "nope", [rosa["id"], ray["id"]])),
                 version, 400, "unable_to_add_deleted_or_guest_to_group")
    assert group_total(client) == 0
    group = create_group(slack, version, "yes", [rosa["id"]])
    patch = v1_patch([{"value": ray["id"]}]) if version == 1 else v2_patch(
        {"op": "add", "path": "members", "value": [{"value": ray["id"]}]})
    assert_error(client.patch(f"/Groups/{group['id']}", patch),
                 version, 400, "unable_to_add_deleted_or_guest_to_group")
    assert_error(client.put(f"/Groups/{group['id']}", group_body(version, "yes", [ray["id"]])),
                 version, 400, "unable_to_add_deleted_or_guest_to_group")
    assert get_group(client, group["id"]) == group
    assert user_groups(client, ray["id"]) == []


def test_multi_channel_guest_can_be_added(slack, version, people):
    """§4.1, §16.13: multi-channel guests may join groups."""
    r = slack.v2.post("/Users", {
        "schemas": [USER_URN, GUEST_URN], "userName": "kim",
        "emails": [{"value": "kim@vendor.example"}], GUEST_URN: {"type": "multi"}})
    assert r.status_code == 201, r.text
    guest = r.json()
    client = slack.at(version)
    group = create_group(slack, version, "with-guest", [guest["id"]])
    assert member_ids(group) == {guest["id"]}
    other = create_group(slack, version, "later", [people[0]["id"]])
    patch = v1_patch([{"value": guest["id"]}]) if version == 1 else v2_patch(
        {"op": "add", "path": "members", "value": [{"value": guest["id"]}]})
    r = client.patch(f"/Groups/{other['id']}", patch)
    assert r.status_code == (204 if version == 1 else 200), r.text
    assert member_ids(get_group(client, other["id"])) == {people[0]["id"], guest["id"]}
    assert {g["value"] for g in user_groups(client, guest["id"])} == {group["id"], other["id"]}


def test_group_cannot_be_a_member(slack, version, people):
    """§4.1: members are users (``value`` is a user id); nested groups are refused in the
    slack dialect (400), by create, PATCH and PUT, and nothing changes."""
    client = slack.at(version)
    inner = create_group(slack, version, "inner", [people[0]["id"]])
    assert_error(client.post("/Groups", group_body(version, "outer", [inner["id"]])),
                 version, 400)
    outer = create_group(slack, version, "outer", [people[1]["id"]])
    patch = v1_patch([{"value": inner["id"]}]) if version == 1 else v2_patch(
        {"op": "add", "path": "members", "value": [{"value": inner["id"]}]})
    assert_error(client.patch(f"/Groups/{outer['id']}", patch), version, 400)
    assert_error(client.put(f"/Groups/{outer['id']}", group_body(version, "outer",
                                                                 [inner["id"]])),
                 version, 400)
    assert get_group(client, outer["id"]) == outer
    assert group_total(client) == 2


# -- membership as users see it (§12, §16.26) ------------------------------------------------------

_DEACTIVATIONS = {
    "v1-delete": lambda s, uid: s.v1.delete(f"/Users/{uid}"),
    "v2-delete": lambda s, uid: s.v2.delete(f"/Users/{uid}"),
    "v1-patch": lambda s, uid: s.v1.patch(f"/Users/{uid}",
                                          {"schemas": [V1_CORE], "active": False}),
    "v2-patch": lambda s, uid: s.v2.patch(f"/Users/{uid}", v2_patch(
        {"op": "replace", "path": "active", "value": False})),
}


@pytest.mark.parametrize("how", list(_DEACTIVATIONS))
def test_deactivation_removes_user_from_its_groups(slack, people, how):
    """§16.26, §2.1: deactivating a user (DELETE, or ``active: false``) removes it from
    every group; other members stay; reactivation alone does not re-add it."""
    rosa, ray, amy = people
    g1 = create_group(slack, 2, "g1", [rosa["id"], ray["id"]])
    g2 = create_group(slack, 1, "g2", [ray["id"], amy["id"]])
    r = _DEACTIVATIONS[how](slack, ray["id"])
    assert r.status_code in (200, 204), r.text
    assert slack.v2.get(f"/Users/{ray['id']}").json()["active"] is False
    assert member_ids(get_group(slack.v2, g1["id"])) == {rosa["id"]}
    assert member_ids(get_group(slack.v1, g2["id"])) == {amy["id"]}
    assert user_groups(slack.v2, ray["id"]) == []
    assert user_groups(slack.v1, ray["id"]) == []
    r = slack.v2.patch(f"/Users/{ray['id']}", v2_patch(
        {"op": "replace", "path": "active", "value": True}))
    assert r.status_code == 200, r.text
    assert r.json()["groups"] == []
    assert member_ids(get_group(slack.v2, g1["id"])) == {rosa["id"]}


def test_put_active_false_removes_user_from_groups(slack, people):
    """§16.26, §6.4: a PUT with ``active: false`` deactivates, which leaves every group."""
    ray = people[1]
    group = create_group(slack, 2, "put-deact", [ray["id"], people[0]["id"]])
    r = slack.v2.put(f"/Users/{ray['id']}", {
        "schemas": [USER_URN], "userName": "ray", "active": False,
        "emails": [{"value": "ray@example.com", "primary": True}]})
    assert r.status_code == 200, r.text
    assert r.json()["active"] is False
    assert r.json()["groups"] == []
    assert member_ids(get_group(slack.v2, group["id"])) == {people[0]["id"]}


def test_user_groups_reflect_membership_immediately(slack, version, people):
    """§12, §3.2: a user's ``groups`` (``[{value, display}]``) follows group changes at
    once: create with members, rename, remove, delete."""
    rosa, ray, _ = people
    client = slack.at(version)
    assert user_groups(client, rosa["id"]) == []
    group = create_group(slack, version, "crew", [rosa["id"], ray["id"]])
    for v in (1, 2):
        assert user_groups(slack.at(v), rosa["id"]) == [{"value": group["id"],
                                                         "display": "crew"}]
    r = client.put(f"/Groups/{group['id']}", group_body(version, "crew-2", [rosa["id"]]))
    assert r.status_code == 200, r.text
    assert user_groups(client, rosa["id"]) == [{"value": group["id"], "display": "crew-2"}]
    assert user_groups(client, ray["id"]) == []
    listed = client.get("/Users", params={"filter": 'userName eq "rosa"'}).json()
    assert listed["Resources"][0]["groups"] == [{"value": group["id"], "display": "crew-2"}]
    assert client.delete(f"/Groups/{group['id']}").status_code == 204
    assert user_groups(client, rosa["id"]) == []


# -- filtering groups (§5.3, §16.10) --------------------------------------------------------------


def test_filter_groups_by_display_name_and_id(slack, version, people):
    """§5.3, §16.10: groups filter on ``displayName eq`` (attribute names case-insensitive,
    values in double or single quotes) and on ``id``."""
    client = slack.at(version)
    a = create_group(slack, version, "alpha", [people[0]["id"]])
    b = create_group(slack, version, "beta")
    for text, expected in [
        ('displayName eq "alpha"', [a]),
        ("displayname Eq 'beta'", [b]),
        (f'id eq "{b["id"]}"', [b]),
        (f"id eq {a['id']}", [a]),
        ('displayName eq "gamma"', []),
    ]:
        r = client.get("/Groups", params={"filter": text})
        assert r.status_code == 200, (text, r.text)
        body = r.json()
        assert body["totalResults"] == len(expected), text
        assert body["itemsPerPage"] == len(expected), text
        assert body["Resources"] == expected, text
    r = client.get("/Groups/", params={"filter": 'displayName eq "alpha"'})
    assert r.status_code == 200, r.text
    assert r.json()["Resources"] == [a]
