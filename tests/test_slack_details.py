"""Slack details found in the compatibility review (docs/compatibility.md)."""

from __future__ import annotations

import pytest

USER = "urn:ietf:params:scim:schemas:core:2.0:User"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"


@pytest.fixture
def slack(scim):
    return scim("slack")


def test_unbalanced_parentheses_are_invalid_filter_group(slack):
    """Spec §5.3, §7.3: a malformed parenthesised group is ``invalid_filter_group``."""
    for text in ['(userName eq "a"', 'userName eq "a")', '((userName eq "a") or (x eq "b"']:
        r = slack.get("/Users", params={"filter": text})
        assert r.status_code == 400 and r.json()["detail"] == "invalid_filter_group", text
    assert slack.get("/Users", params={"filter": 'userName eq "(a"'}).status_code == 200


@pytest.mark.parametrize(("attribute", "value", "code"), [
    ("emails", "not-a-list", "emails_invalid"),
    ("phoneNumbers", 5, "phoneNumbers_invalid"),
    ("photos", True, "photos_invalid"),
    ("roles", 7, "roles_invalid"),
])
def test_malformed_values_get_slacks_codes(slack, attribute, value, code):
    """Spec §7.3: ``emails_invalid``, ``phoneNumbers_invalid``, ``photos_invalid``,
    ``roles_invalid`` for a malformed attribute."""
    body = {"schemas": [USER], "userName": "shape",
            "emails": [{"value": "shape@example.com"}], attribute: value}
    r = slack.post("/Users", body)
    assert r.status_code == 400 and r.json()["detail"] == code
    assert slack.get("/Users", params={"filter": 'userName eq "shape"'}).json()[
        "totalResults"] == 0


def test_bad_custom_profile_value_drops_the_profile_on_create(slack):
    """Spec §3.2, §13.3: on create, an invalid custom-profile value drops every custom
    profile field, and the user is still created."""
    r = slack.post("/Users", {
        "schemas": [USER, ENTERPRISE], "userName": "profiled",
        "emails": [{"value": "profiled@example.com"}], "title": "Kept",
        ENTERPRISE: {"department": ["not", "a", "string"], "costCenter": "CC"},
        "addresses": [{"locality": "Brooklyn"}]})
    assert r.status_code == 201, r.text
    doc = r.json()
    assert doc["title"] == "Kept"
    assert doc[ENTERPRISE]["costCenter"] is None and doc[ENTERPRISE]["department"] is None
    assert doc["addresses"][0]["locality"] is None
    bad_update = slack.patch(f"/Users/{doc['id']}", {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [
            {"op": "replace", "path": f"{ENTERPRISE}:department", "value": {"x": 1}}]})
    assert bad_update.status_code == 400  # only creation drops; an update is refused


def test_unknown_scim_version(slack):
    """Spec §1.1, §7.3: an unknown SCIM version is ``unsupported_version``."""
    r = slack.http.get("/scim/v3/Users", headers=slack.auth)
    assert r.status_code == 404 and r.json()["detail"] == "unsupported_version"


def test_long_nickname(slack):
    """Spec §3.2, §7.3: a nickName over 21 characters is ``long_nickname``."""
    uid = slack.create_user("shortnick")["id"]
    r = slack.patch(f"/Users/{uid}", {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [
            {"op": "replace", "path": "nickName", "value": "x" * 30}]})
    assert r.status_code == 400 and r.json()["detail"] == "long_nickname"
