"""HTTP-level tests of ``/scim/v2/Groups`` in the strict ``rfc`` dialect.

Every test names the section of RFC 7643 (schema) or RFC 7644 (protocol) it
covers. Bad input must get the documented 4xx with the right ``scimType`` (RFC
7644 §3.12), never a 500, and never a partial write: each failing request is
followed by a re-read that shows the group (or the collection) unchanged.
Every test runs on SQLite and on PostgreSQL (see ``conftest.py``).
"""

from __future__ import annotations

import pytest

from scim_assert import assert_error, patch_op

USER_URN = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP_URN = "urn:ietf:params:scim:schemas:core:2.0:Group"
PATCH_URN = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
ERROR_URN = "urn:ietf:params:scim:api:messages:2.0:Error"


# -- helpers -------------------------------------------------------------------------------------






def get_group(client, group_id: str) -> dict:
    r = client.get(f"/Groups/{group_id}")
    assert r.status_code == 200, r.text
    return r.json()


def member_ids(doc: dict) -> list[str]:
    return [m["value"] for m in doc.get("members") or []]


def group_count(client) -> int:
    r = client.get("/Groups")
    assert r.status_code == 200, r.text
    return r.json()["totalResults"]


def patch_ok(client, group_id: str, *operations: dict) -> dict:
    """A group PATCH that asks for no attributes answers 204 (RFC 7644 §3.5.2); the group
    as it now is comes from a GET."""
    r = client.patch(f"/Groups/{group_id}", patch_op(*operations))
    assert r.status_code == 204, r.text
    assert r.content == b""
    return get_group(client, group_id)


@pytest.mark.parametrize("query, has_members", [
    ("attributes=members", True), ("excludedAttributes=members", False),
    ("attributes=displayName", False)])
def test_patch_that_asks_for_attributes_answers_200_with_the_group(rfc, people, query,
                                                                    has_members):
    """RFC 7644 §3.5.2: with ``attributes`` or ``excludedAttributes`` the PATCH answers 200
    and the group, projected as asked."""
    group = rfc.create_group("Answered")
    r = rfc.patch(f"/Groups/{group['id']}?{query}", patch_op(
        {"op": "add", "path": "members", "value": [{"value": people[0]["id"]}]}))
    assert r.status_code == 200, r.text
    doc = r.json()
    assert doc["id"] == group["id"]
    assert ("members" in doc) is has_members
    if has_members:
        assert [m["value"] for m in doc["members"]] == [people[0]["id"]]
    assert r.headers["ETag"] == 'W/"2"'


def patch_fails(client, group_id: str, status: int, scim_type: str | None,
                *operations: dict) -> dict:
    before = get_group(client, group_id)
    body = assert_error(client.patch(f"/Groups/{group_id}", patch_op(*operations)), status,
                        scim_type)
    assert get_group(client, group_id) == before, "a failed PATCH changed the group"
    return body


@pytest.fixture
def people(rfc) -> list[dict]:
    """Four users; the first has a displayName, the others are shown by userName."""
    return [rfc.create_user("ann", displayName="Ann Example"), rfc.create_user("bob"),
            rfc.create_user("cat"), rfc.create_user("dan")]


# -- create (RFC 7644 §3.3) ------------------------------------------------------------------------


def test_post_group_without_members(rfc):
    """RFC 7644 §3.3: 201 with Location and ETag (§3.14); RFC 7643 §4.2 Group and §3.1
    meta."""
    r = rfc.post("/Groups", {"schemas": [GROUP_URN], "displayName": "Tour Guides",
                             "externalId": "ext-g1"})
    assert r.status_code == 201, r.text
    doc = r.json()
    assert doc["schemas"] == [GROUP_URN]
    assert doc["displayName"] == "Tour Guides"
    assert doc["externalId"] == "ext-g1"
    assert doc.get("members", []) == []
    meta = doc["meta"]
    assert meta["resourceType"] == "Group"
    assert meta["version"] == 'W/"1"' == r.headers["ETag"]
    assert meta["location"].endswith(f"/scim/v2/Groups/{doc['id']}")
    assert r.headers["Location"] == meta["location"]
    assert meta["created"] == meta["lastModified"]
    assert get_group(rfc, doc["id"]) == doc


def test_post_group_with_members(rfc, people):
    """RFC 7643 §4.2 members: value is the member's id; $ref and type are set by the service
    provider, a client's display is ignored (readOnly in §8.4, absent from the normative
    schema of §8.7.1), a null $ref is absent (RFC 7643 §2.5)."""
    ann, bob = people[0], people[1]
    r = rfc.post("/Groups", {"schemas": [GROUP_URN], "displayName": "Guides", "members": [
        {"value": ann["id"], "display": "Somebody Else", "$ref": None},
        {"value": bob["id"]},
    ]})
    assert r.status_code == 201, r.text
    doc = r.json()
    assert member_ids(doc) == [ann["id"], bob["id"]]
    by_id = {m["value"]: m for m in doc["members"]}
    assert by_id[ann["id"]].get("display", "Ann Example") == "Ann Example"
    assert by_id[bob["id"]].get("display", "bob") == "bob"
    assert all(m["type"] == "User" for m in doc["members"])
    assert get_group(rfc, doc["id"]) == doc


def test_get_group_members_shape(rfc, people):
    """RFC 7643 §4.2, §8.4 and §8.7.1: each member has value, $ref (the member's URI) and
    type ("User" or "Group"); display, if the server adds it (§8.4), is the member's name."""
    ann = people[0]
    group = rfc.create_group("Shape", members=[ann["id"]])
    doc = get_group(rfc, group["id"])
    assert len(doc["members"]) == 1
    member = doc["members"][0]
    assert {"value", "$ref", "type"} <= set(member) <= {"value", "$ref", "display", "type"}
    assert member["value"] == ann["id"]
    assert member["$ref"] == ann["meta"]["location"]
    assert member["$ref"].endswith(f"/scim/v2/Users/{ann['id']}")
    assert member.get("display", "Ann Example") == "Ann Example"
    assert member["type"] == "User"


def test_excluded_attributes_members(rfc, people):
    """RFC 7644 §3.4.2.5 / §3.9: excludedAttributes=members leaves the members out (and
    ``attributes`` without members too)."""
    group = rfc.create_group("Big", members=[p["id"] for p in people])
    doc = rfc.get(f"/Groups/{group['id']}?excludedAttributes=members").json()
    assert "members" not in doc
    assert doc["displayName"] == "Big"
    assert doc["id"] == group["id"]
    doc = rfc.get(f"/Groups/{group['id']}?attributes=displayName").json()
    assert "members" not in doc
    assert doc["displayName"] == "Big"
    listed = rfc.get("/Groups?excludedAttributes=members").json()["Resources"]
    assert [("members" in d) for d in listed] == [False]


@pytest.mark.parametrize("body", [
    {"schemas": [GROUP_URN]},
    {"schemas": [GROUP_URN], "displayName": None},
    {"schemas": [GROUP_URN], "displayName": ""},
    {"schemas": [GROUP_URN], "members": []},
], ids=["missing", "null", "empty", "members-only"])
def test_display_name_is_required(rfc, body):
    """RFC 7643 §4.2 displayName is REQUIRED; RFC 7644 §3.12 400 invalidValue."""
    assert_error(rfc.post("/Groups", body), 400, "invalidValue")
    assert group_count(rfc) == 0


@pytest.mark.parametrize("extra", [
    {"displayName": True},
    {"displayName": {"text": "x"}},
    {"members": [{"type": "User"}]},
    {"members": [{"value": ""}]},
    {"members": [{"value": "W0000000000"}]},
    {"members": [{"value": "ANN", "type": "Robot"}]},
], ids=["bool-name", "object-name", "member-without-value", "empty-value", "unknown-member",
        "bad-type"])
def test_bad_group_post_is_400_and_creates_nothing(rfc, people, extra):
    """RFC 7643 §4.2 (members need a value naming an existing resource) and RFC 7644 §3.12
    400 invalidValue; nothing is created."""
    body = {"schemas": [GROUP_URN], "displayName": "Bad",
            "members": [{"value": people[0]["id"]}]} | extra
    for member in body["members"]:
        if member.get("value") == "ANN":
            member["value"] = people[0]["id"]
    assert_error(rfc.post("/Groups", body), 400, "invalidValue")
    assert group_count(rfc) == 0
    assert rfc.get(f"/Users/{people[0]['id']}").json()["groups"] == []


@pytest.mark.parametrize("content", [b"displayName=x", b"{", b""], ids=["form", "broken", "empty"])
def test_group_body_that_is_not_json_is_invalid_syntax(rfc, content):
    """RFC 7644 §3.12 invalidSyntax."""
    r = rfc.post("/Groups", content=content,
                 headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert_error(r, 400, "invalidSyntax")
    assert group_count(rfc) == 0


def test_group_read_only_attributes_are_ignored(rfc):
    """RFC 7643 §3.1 and §7: id and meta given by the client are ignored on create."""
    r = rfc.post("/Groups", {"schemas": [GROUP_URN], "displayName": "RO", "id": "forged",
                             "meta": {"resourceType": "User", "version": 'W/"5"'}})
    assert r.status_code == 201, r.text
    assert r.json()["id"] != "forged"
    assert r.json()["meta"]["resourceType"] == "Group"
    assert r.json()["meta"]["version"] == 'W/"1"'


def test_get_unknown_group_is_404(rfc):
    """RFC 7644 §3.4.1 and §3.12: 404 for an unknown group."""
    assert_error(rfc.get("/Groups/S0000000000"), 404)


# -- replace (RFC 7644 §3.5.1) ---------------------------------------------------------------------


def test_put_replaces_the_member_list(rfc, people):
    """RFC 7644 §3.5.1: PUT replaces the group, members included; members left out of the
    body leave the group empty."""
    ann, bob, cat, _ = people
    group = rfc.create_group("Team", members=[ann["id"], bob["id"]], externalId="ext-t")
    r = rfc.put(f"/Groups/{group['id']}", {"schemas": [GROUP_URN], "displayName": "Team 2",
                                           "members": [{"value": bob["id"]},
                                                       {"value": cat["id"]}]})
    assert r.status_code == 200, r.text
    doc = r.json()
    assert doc["displayName"] == "Team 2"
    assert sorted(member_ids(doc)) == sorted([bob["id"], cat["id"]])
    assert "externalId" not in doc
    assert doc["id"] == group["id"]
    assert doc["meta"]["created"] == group["meta"]["created"]
    assert doc["meta"]["version"] == 'W/"2"' == r.headers["ETag"]
    assert get_group(rfc, group["id"]) == doc
    r = rfc.put(f"/Groups/{group['id']}", {"schemas": [GROUP_URN], "displayName": "Team 3"})
    assert r.status_code == 200, r.text
    assert r.json().get("members", []) == []
    assert get_group(rfc, group["id"]).get("members", []) == []
    assert rfc.get(f"/Users/{bob['id']}").json()["groups"] == []


@pytest.mark.parametrize("body", [
    {"schemas": [GROUP_URN], "members": []},
    {"schemas": [GROUP_URN], "displayName": "X", "members": [{"value": "W0000000000"}]},
    {"schemas": [GROUP_URN], "displayName": "X", "members": [{"type": "User"}]},
], ids=["no-displayName", "unknown-member", "member-without-value"])
def test_bad_put_is_400_and_changes_nothing(rfc, people, body):
    """RFC 7644 §3.5.1 and §3.12 invalidValue; the group keeps its name and members."""
    group = rfc.create_group("Keep", members=[people[0]["id"]])
    before = get_group(rfc, group["id"])
    assert_error(rfc.put(f"/Groups/{group['id']}", body), 400, "invalidValue")
    assert get_group(rfc, group["id"]) == before


def test_put_group_with_another_id_is_400(rfc):
    """RFC 7643 §3.1: id is the service provider's and is never changed by a client
    (RFC 7644 §3.5.1; 400 mutability, §3.12)."""
    group = rfc.create_group("Fixed")
    before = get_group(rfc, group["id"])
    r = rfc.put(f"/Groups/{group['id']}", {"schemas": [GROUP_URN], "id": "S0THERGROUP",
                                           "displayName": "Renamed"})
    assert_error(r, 400, "mutability")
    assert get_group(rfc, group["id"]) == before
    r = rfc.put(f"/Groups/{group['id']}", {"schemas": [GROUP_URN], "id": group["id"],
                                           "displayName": "Renamed"})
    assert r.status_code == 200, r.text


def test_put_unknown_group_is_404(rfc):
    """RFC 7644 §3.5.1 / §3.12: PUT to an unknown group is 404 and creates nothing."""
    assert_error(rfc.put("/Groups/S0000000000", {"displayName": "Ghost"}), 404)
    assert group_count(rfc) == 0


# -- PATCH (RFC 7644 §3.5.2) -----------------------------------------------------------------------


def test_patch_add_members_in_one_operation(rfc, people):
    """RFC 7644 §3.5.2.1: add with path members and a list of values adds them all; a
    member already present is not added twice ("If the value already exists, no change")."""
    ann, bob, cat, _ = people
    group = rfc.create_group("Adders", members=[ann["id"]])
    doc = patch_ok(rfc, group["id"], {"op": "add", "path": "members", "value": [
        {"value": ann["id"]}, {"value": bob["id"]}, {"value": cat["id"]}, {"value": bob["id"]}]})
    assert sorted(member_ids(doc)) == sorted([ann["id"], bob["id"], cat["id"]])
    assert doc["meta"]["version"] == 'W/"2"'
    doc = patch_ok(rfc, group["id"], {"op": "ADD", "path": "members",
                                      "value": [{"value": ann["id"]}]})
    assert sorted(member_ids(doc)) == sorted([ann["id"], bob["id"], cat["id"]])


def test_patch_add_members_without_path(rfc, people):
    """RFC 7644 §3.5.2.1 without path: {"members": [...]} in the value object."""
    ann, bob = people[0], people[1]
    group = rfc.create_group("Pathless", members=[ann["id"]])
    doc = patch_ok(rfc, group["id"], {"op": "add", "value": {"members": [{"value": bob["id"]}]}})
    assert sorted(member_ids(doc)) == sorted([ann["id"], bob["id"]])


def test_patch_remove_members_listed_in_value(rfc, people):
    """RFC 7644 §3.5.2.2 (as Entra and Okta send it): remove with path members and a value
    list removes exactly those members."""
    ann, bob, cat, dan = people
    group = rfc.create_group("Removers", members=[p["id"] for p in people])
    doc = patch_ok(rfc, group["id"], {"op": "remove", "path": "members", "value": [
        {"value": bob["id"]}, {"value": dan["id"]}]})
    assert sorted(member_ids(doc)) == sorted([ann["id"], cat["id"]])
    # removing someone who is not a member is no error and changes nothing else
    doc = patch_ok(rfc, group["id"], {"op": "Remove", "path": "members",
                                      "value": [{"value": bob["id"]}]})
    assert sorted(member_ids(doc)) == sorted([ann["id"], cat["id"]])


def test_patch_remove_member_by_value_filter(rfc, people):
    """RFC 7644 §3.5.2.2: remove with path members[value eq "id"] removes that member."""
    ann, bob = people[0], people[1]
    group = rfc.create_group("Filtered", members=[ann["id"], bob["id"]])
    doc = patch_ok(rfc, group["id"], {"op": "remove", "path": f'members[value eq "{ann["id"]}"]'})
    assert member_ids(doc) == [bob["id"]]
    assert rfc.get(f"/Users/{ann['id']}").json()["groups"] == []


def test_patch_remove_all_members(rfc, people):
    """RFC 7644 §3.5.2.2: remove with path members and no value removes every member."""
    group = rfc.create_group("Emptied", members=[p["id"] for p in people])
    doc = patch_ok(rfc, group["id"], {"op": "remove", "path": "members"})
    assert doc.get("members", []) == []
    assert doc["displayName"] == "Emptied"


def test_patch_replace_members(rfc, people):
    """RFC 7644 §3.5.2.3: replace with path members sets exactly the given members."""
    ann, bob, cat, dan = people
    group = rfc.create_group("Replaced", members=[ann["id"], bob["id"]])
    doc = patch_ok(rfc, group["id"], {"op": "replace", "path": "members", "value": [
        {"value": cat["id"]}, {"value": bob["id"]}, {"value": dan["id"]}]})
    assert sorted(member_ids(doc)) == sorted([bob["id"], cat["id"], dan["id"]])
    doc = patch_ok(rfc, group["id"], {"op": "replace", "value": {"members": [
        {"value": ann["id"]}]}})
    assert member_ids(doc) == [ann["id"]]


def test_patch_pathless_replace_display_name_with_own_id(rfc):
    """RFC 7644 §3.5.2.3 without path: the value may echo the readOnly id (Entra does);
    an id equal to the group's own is accepted and displayName is replaced."""
    group = rfc.create_group("Old name")
    doc = patch_ok(rfc, group["id"], {"op": "Replace", "value": {
        "id": group["id"], "displayName": "New name"}})
    assert doc["displayName"] == "New name"
    assert doc["id"] == group["id"]
    doc = patch_ok(rfc, group["id"], {"op": "replace", "path": "displayName",
                                      "value": "Newer name"})
    assert doc["displayName"] == "Newer name"


def test_patch_unknown_member_is_400_without_partial_change(rfc, people):
    """RFC 7644 §3.5.2 (all or nothing) and §3.12 invalidValue: a PATCH adding an unknown id
    fails, and the valid members and other changes of the same request are not applied."""
    ann, bob = people[0], people[1]
    group = rfc.create_group("Atomic", members=[ann["id"]])
    patch_fails(rfc, group["id"], 400, "invalidValue",
                {"op": "replace", "path": "displayName", "value": "Changed"},
                {"op": "add", "path": "members", "value": [{"value": bob["id"]}]},
                {"op": "add", "path": "members", "value": [{"value": "W0000000000"}]})
    patch_fails(rfc, group["id"], 400, "invalidValue",
                {"op": "add", "path": "members", "value": [{"value": bob["id"]},
                                                           {"value": "W0000000000"}]})
    patch_fails(rfc, group["id"], 400, "invalidValue",
                {"op": "replace", "path": "members", "value": [{"value": "W0000000000"}]})
    assert rfc.get(f"/Users/{bob['id']}").json()["groups"] == []


@pytest.mark.parametrize("operation,scim_type", [
    ({"op": "remove"}, "noTarget"),
    ({"op": "add", "path": "nope", "value": "x"}, "invalidPath"),
    ({"op": "add", "path": 'members[value eq "x"', "value": "x"}, "invalidPath"),
    ({"op": "replace", "path": "id", "value": "S0THERGROUP"}, "mutability"),
    ({"op": "replace", "path": "meta.version", "value": 'W/"9"'}, "mutability"),
    ({"op": "move", "path": "displayName", "value": "x"}, "invalidSyntax"),
    ({"op": "replace", "path": "displayName", "value": ["a", "b"]}, "invalidValue"),
    ({"op": "add", "path": "members", "value": [{"type": "User"}]}, "invalidValue"),
], ids=["remove-no-path", "unknown-attr", "broken-filter", "id", "meta",
        "unknown-op", "list-name", "member-without-value"])
def test_bad_group_patch_is_400_and_changes_nothing(rfc, people, operation, scim_type):
    """RFC 7644 §3.5.2 and §3.12: the documented scimType for each bad operation; the
    group is unchanged."""
    group = rfc.create_group("Stable", members=[people[0]["id"]])
    patch_fails(rfc, group["id"], 400, scim_type,
                {"op": "replace", "path": "displayName", "value": "Changed"}, operation)


def test_patch_member_sub_attribute_is_mutability(rfc, people):
    """RFC 7643 §4.2: "sub-attributes of members are immutable"; RFC 7644 §3.5.2: a client
    MUST NOT modify an immutable attribute, and §3.12 names the error: 400 mutability
    ("modification of an immutable attribute with an existing value"). The path is valid,
    so invalidPath ("invalid or malformed") is not the answer."""
    group = rfc.create_group("Immutable", members=[people[0]["id"]])
    patch_fails(rfc, group["id"], 400, "mutability",
                {"op": "replace", "path": "members.value", "value": people[1]["id"]})


def test_patch_removing_display_name_is_400(rfc):
    """RFC 7643 §4.2: displayName is required; RFC 7644 §3.5.2: unassigning it fails and
    changes nothing."""
    group = rfc.create_group("Named")
    patch_fails(rfc, group["id"], 400, None, {"op": "remove", "path": "displayName"})


def test_patch_removing_display_name_is_mutability(rfc):
    """RFC 7644 §3.5.2: "If an attribute is removed or becomes unassigned and is defined as a
    required attribute or a read-only attribute, the server SHALL return ... a 'scimType'
    error code of 'mutability'"."""
    group = rfc.create_group("Named")
    patch_fails(rfc, group["id"], 400, "mutability", {"op": "remove", "path": "displayName"})


def test_patch_unknown_group_is_404(rfc):
    """RFC 7644 §3.5.2 / §3.12: 404 for an unknown group."""
    r = rfc.patch("/Groups/S0000000000",
                  patch_op({"op": "replace", "path": "displayName", "value": "x"}))
    assert_error(r, 404)


def test_group_if_match(rfc, people):
    """RFC 7644 §3.14: If-Match with a stale version is 412 and changes nothing; the current
    version succeeds; If-None-Match with the current version is 304."""
    group = rfc.create_group("Versioned")
    gid = group["id"]
    patch_ok(rfc, gid, {"op": "add", "path": "members", "value": [{"value": people[0]["id"]}]})
    before = get_group(rfc, gid)
    assert before["meta"]["version"] == 'W/"2"'
    r = rfc.patch(f"/Groups/{gid}", patch_op({"op": "remove", "path": "members"}),
                  headers={"If-Match": 'W/"1"'})
    assert_error(r, 412)
    assert_error(rfc.delete(f"/Groups/{gid}", headers={"If-Match": 'W/"1"'}), 412)
    assert get_group(rfc, gid) == before
    assert rfc.get(f"/Groups/{gid}", headers={"If-None-Match": 'W/"2"'}).status_code == 304
    r = rfc.put(f"/Groups/{gid}", {"displayName": "V3"}, headers={"If-Match": 'W/"2"'})
    assert r.status_code == 200, r.text
    assert r.headers["ETag"] == 'W/"3"'


# -- memberships seen from the user (RFC 7643 §4.1.2) ----------------------------------------------


def test_user_groups_attribute_reflects_memberships(rfc, people):
    """RFC 7643 §4.1.2 groups: readOnly, one entry per group the user belongs to directly,
    with value, $ref, display and type "direct"."""
    ann, bob = people[0], people[1]
    g1 = rfc.create_group("One", members=[ann["id"]])
    g2 = rfc.create_group("Two", members=[ann["id"], bob["id"]])
    doc = rfc.get(f"/Users/{ann['id']}").json()
    by_id = {g["value"]: g for g in doc["groups"]}
    assert set(by_id) == {g1["id"], g2["id"]}
    for group in (g1, g2):
        entry = by_id[group["id"]]
        assert entry["display"] == group["displayName"]
        assert entry["type"] == "direct"
        assert entry["$ref"] == group["meta"]["location"]
    patch_ok(rfc, g1["id"], {"op": "remove", "path": "members", "value": [{"value": ann["id"]}]})
    assert [g["value"] for g in rfc.get(f"/Users/{ann['id']}").json()["groups"]] == [g2["id"]]
    patch_ok(rfc, g2["id"], {"op": "replace", "path": "displayName", "value": "Two renamed"})
    assert rfc.get(f"/Users/{bob['id']}").json()["groups"][0]["display"] == "Two renamed"


# -- nested groups (RFC 7643 §4.2) -----------------------------------------------------------------


def test_groups_as_members(rfc, people):
    """RFC 7643 §4.2: members may be Users or Groups; a Group member has type "Group" and a
    $ref to /Groups. A group that is a member is not a "direct" group of the parent's users."""
    ann = people[0]
    child = rfc.create_group("Child", members=[ann["id"]])
    parent = rfc.create_group("Parent", members=[child["id"]])
    [member] = parent["members"]
    assert member["value"] == child["id"]
    assert member["$ref"] == child["meta"]["location"]
    assert member["$ref"].endswith(f"/scim/v2/Groups/{child['id']}")
    assert member["type"] == "Group"
    assert member.get("display", "Child") == "Child"
    other = rfc.create_group("Other")
    doc = patch_ok(rfc, other["id"], {"op": "add", "path": "members",
                                      "value": [{"value": child["id"]}, {"value": ann["id"]}]})
    assert {(m["value"], m["type"]) for m in doc["members"]} == {
        (child["id"], "Group"), (ann["id"], "User")}
    assert [g["value"] for g in rfc.get(f"/Users/{ann['id']}").json()["groups"]] == [
        child["id"], other["id"]]


def test_group_cannot_contain_itself(rfc, people):
    """RFC 7643 §4.2 members: a group as its own member is refused (400 invalidValue,
    RFC 7644 §3.12) by PATCH and PUT, and nothing changes."""
    group = rfc.create_group("Selfish", members=[people[0]["id"]])
    gid = group["id"]
    patch_fails(rfc, gid, 400, "invalidValue",
                {"op": "add", "path": "members", "value": [{"value": gid}]})
    patch_fails(rfc, gid, 400, "invalidValue",
                {"op": "replace", "path": "members", "value": [{"value": gid}]})
    before = get_group(rfc, gid)
    r = rfc.put(f"/Groups/{gid}", {"displayName": "Selfish", "members": [{"value": gid}]})
    assert_error(r, 400, "invalidValue")
    assert get_group(rfc, gid) == before


# -- delete (RFC 7644 §3.6) ------------------------------------------------------------------------


def test_delete_group(rfc, people):
    """RFC 7644 §3.6: DELETE answers 204; afterwards the group is 404 for every method, its
    members still exist and no longer list it in ``groups`` (RFC 7643 §4.1.2)."""
    ann, bob = people[0], people[1]
    group = rfc.create_group("Doomed", members=[ann["id"], bob["id"]])
    parent = rfc.create_group("Parent", members=[group["id"]])
    gid = group["id"]
    r = rfc.delete(f"/Groups/{gid}")
    assert r.status_code == 204
    assert r.content == b""
    assert_error(rfc.get(f"/Groups/{gid}"), 404)
    assert_error(rfc.put(f"/Groups/{gid}", {"displayName": "Doomed"}), 404)
    assert_error(rfc.patch(f"/Groups/{gid}", patch_op(
        {"op": "replace", "path": "displayName", "value": "x"})), 404)
    assert_error(rfc.delete(f"/Groups/{gid}"), 404)
    for user in (ann, bob):
        doc = rfc.get(f"/Users/{user['id']}")
        assert doc.status_code == 200
        assert doc.json()["groups"] == []
    assert get_group(rfc, parent["id"]).get("members", []) == []
    assert group_count(rfc) == 1


def test_group_etag_changes_when_a_member_user_is_deleted(rfc, people):
    """RFC 7644 §3.14 / RFC 7232 §2.1, §3.2: the group's representation lost a member, so its
    old ETag must no longer match: If-None-Match with it gets the new representation."""
    ann, bob = people[0], people[1]
    group = rfc.create_group("Cached", members=[ann["id"], bob["id"]])
    old = rfc.get(f"/Groups/{group['id']}").headers["ETag"]
    assert rfc.delete(f"/Users/{ann['id']}").status_code == 204
    r = rfc.get(f"/Groups/{group['id']}", headers={"If-None-Match": old})
    assert r.status_code == 200
    assert member_ids(r.json()) == [bob["id"]]
    assert r.headers["ETag"] != old

