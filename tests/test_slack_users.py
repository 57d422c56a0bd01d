"""HTTP-level tests of Slack's user rules (``slack`` dialect) at ``/scim/v1`` and ``/scim/v2``.

The contract is ``/work/shared/spec/slack-scim.md``; every test quotes the section it
checks (§16 is normative where Slack's own documentation is silent). Rules that
Slack applies to both protocol versions run once per version (``v1`` bodies use the
SCIM 1.1 URNs). A failing request is followed, where it matters, by a re-read that
shows nothing changed. Every test runs on SQLite and on PostgreSQL (``conftest.py``).

Where scimd answers differently from the spec the test keeps the spec's assertion and
is marked ``xfail(strict=True, reason="server bug: ...")``.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient

from conftest import ScimClient, TenantAccess
from scimd.app import create_app
from scimd.settings import Settings
from scimd.store import tenants
from scimd.store import users as user_store

V1_CORE = "urn:scim:schemas:core:1.0"
V1_ENTERPRISE = "urn:scim:schemas:extension:enterprise:1.0"
V1_PROFILE = "urn:scim:schemas:extension:slack:profile:1.0"
V1_GUEST = "urn:scim:schemas:extension:slack:guest:1.0"
V2_CORE = "urn:ietf:params:scim:schemas:core:2.0:User"
V2_ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
V2_PROFILE = "urn:ietf:params:scim:schemas:extension:slack:profile:2.0:User"
V2_GUEST = "urn:ietf:params:scim:schemas:extension:slack:guest:2.0:User"
V2_GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
PATCH_URN = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
ERROR_URN = "urn:ietf:params:scim:api:messages:2.0:Error"
LIST_URN = "urn:ietf:params:scim:api:messages:2.0:ListResponse"

URNS = {
    1: (V1_CORE, V1_ENTERPRISE, V1_PROFILE, V1_GUEST),
    2: (V2_CORE, V2_ENTERPRISE, V2_PROFILE, V2_GUEST),
}
ADDRESS_KEYS = ("streetAddress", "locality", "region", "postalCode", "country")
ENTERPRISE_KEYS = ("employeeNumber", "costCenter", "organization", "division", "department")
CREATED = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(-08:00|-07:00)$")
GRAVATAR = re.compile(r"^https://secure\.gravatar\.com/avatar/[0-9a-f]+\.jpg\?s=192(&.*)?$")
MISSING_ID = "W0NOSUCHUSR"

_seq = itertools.count(1)


def unique_email(prefix: str = "user") -> str:
    return f"{prefix}{next(_seq)}@example.com"


# -- a client that speaks one protocol version -----------------------------------------------


class Api:
    """A :class:`ScimClient` for a slack tenant, at ``/scim/v1`` or ``/scim/v2``."""

    def __init__(self, client: ScimClient, version: int) -> None:
        self.client = client
        self.version = version
        self.core, self.ent, self.profile, self.guest = URNS[version]

    @classmethod
    def of(cls, client: ScimClient, version: int) -> Api:
        return cls(ScimClient(client.http, client.access, prefix=f"/scim/v{version}"), version)

    def sibling(self, version: int) -> Api:
        """The same tenant (the same directory) at the other protocol version."""
        return Api.of(self.client, version)

    @property
    def tenant_pk(self) -> int:
        return self.client.access.tenant.pk

    # bodies
    def body(self, user_name: str, **attrs: Any) -> dict:
        body: dict = {"schemas": [self.core], "userName": user_name,
                      "name": {"givenName": "Test", "familyName": "User"},
                      "emails": [{"value": unique_email(), "primary": True}]}
        body.update(attrs)
        return body

    # raw calls
    def post(self, body: Any) -> httpx.Response:
        return self.client.post("/Users", body)

    def get_r(self, uid: str) -> httpx.Response:
        return self.client.get(f"/Users/{uid}")

    def put(self, uid: str, body: Any) -> httpx.Response:
        return self.client.put(f"/Users/{uid}", body)

    def patch(self, uid: str, body: Any) -> httpx.Response:
        return self.client.patch(f"/Users/{uid}", body)

    def delete(self, uid: str) -> httpx.Response:
        return self.client.delete(f"/Users/{uid}")

    def ops(self, uid: str, *operations: dict) -> httpx.Response:
        """A v2 PatchOp request (spec §6.2)."""
        return self.patch(uid, {"schemas": [PATCH_URN], "Operations": list(operations)})

    def set(self, uid: str, attrs: dict) -> httpx.Response:
        """Change attributes: a SCIM 1.1 partial body on v1 (spec §6.1), ``replace``
        operations on v2 (spec §6.2)."""
        if self.version == 1:
            return self.patch(uid, {"schemas": [self.core], **attrs})
        return self.ops(uid, *({"op": "replace", "path": k, "value": v}
                               for k, v in attrs.items()))

    # checked calls
    def create(self, user_name: str, **attrs: Any) -> dict:
        r = self.post(self.body(user_name, **attrs))
        assert r.status_code == 201, r.text
        return r.json()

    def get(self, uid: str) -> dict:
        r = self.get_r(uid)
        assert r.status_code == 200, r.text
        return r.json()

    def changed(self, r: httpx.Response) -> dict:
        assert r.status_code == 200, r.text
        return r.json()

    def find(self, filter_text: str | None = None) -> list[dict]:
        params = {"count": "1000"}
        if filter_text is not None:
            params["filter"] = filter_text
        r = self.client.get("/Users", params=params)
        assert r.status_code == 200, r.text
        return r.json()["Resources"]

    def names(self, filter_text: str | None = None) -> list[str]:
        return sorted(u["userName"] for u in self.find(filter_text))

    def deactivate(self, uid: str) -> None:
        r = self.delete(uid)
        assert r.status_code == (200 if self.version == 1 else 204), r.text

    def make_group(self, name: str, members: list[str]) -> dict:
        return self.sibling(2).client.create_group(name, members)

    def group_members(self, gid: str) -> list[str]:
        r = self.sibling(2).client.get(f"/Groups/{gid}")
        assert r.status_code == 200, r.text
        return sorted(m["value"] for m in r.json().get("members") or [])


def assert_error(r: httpx.Response, status: int, code: str | tuple[str, ...] | None,
                 version: int) -> str:
    """Spec §7.1 / §16.2: v1 ``{"Errors": {"description", "code"}}`` (nothing else), v2
    ``{"schemas": [Error], "detail": <code>, "status": <int>}`` except 401s in the v1
    shape; ``Content-Type: application/json``. Returns the error code."""
    assert r.status_code == status, r.text
    assert r.headers["content-type"].split(";")[0].strip() == "application/json"
    assert r.content[:1] == b"{"
    body = r.json()
    codes = (code,) if isinstance(code, str) else code
    if version == 1 or status == 401:
        assert list(body) == ["Errors"], body
        assert set(body["Errors"]) == {"description", "code"}, body
        assert body["Errors"]["code"] == status
        description = body["Errors"]["description"]
        assert isinstance(description, str)
        found = description.split(" (", 1)[0]
        if " (" in description:
            assert description.endswith(")"), description
    else:
        assert list(body) == ["schemas", "detail", "status"], body
        assert body["schemas"] == [ERROR_URN]
        assert body["status"] == status and isinstance(body["status"], int)
        found = body["detail"]
    assert re.fullmatch(r"[a-z][A-Za-z_]*", found), found
    if codes is not None:
        assert found in codes, body
    return found


def v2_phones(mobile: str | None, primary: str | None) -> list[dict]:
    """Phone numbers as Slack answers them (spec §3.2, §6.3)."""
    return [{"value": mobile, "type": "mobile"}, {"value": primary, "primary": True}]


def empty_address() -> list[dict]:
    return [dict.fromkeys(ADDRESS_KEYS)]


# -- fixtures -----------------------------------------------------------------------------------


@pytest.fixture(params=[1, 2], ids=["v1", "v2"])
def version(request: pytest.FixtureRequest) -> int:
    return request.param


@pytest.fixture
def make_api(scim):
    """``make_api(version, plan="enterprise")`` → an :class:`Api` for a new slack tenant."""

    def make(version: int, plan: str = "enterprise") -> Api:
        return Api.of(scim("slack", plan=plan), version)

    return make


@pytest.fixture
def api(make_api, version: int) -> Api:
    return make_api(version)


@pytest.fixture
def v1(make_api) -> Api:
    return make_api(1)


@pytest.fixture
def v2(make_api) -> Api:
    return make_api(2)


@pytest.fixture
def slack_http(db, database_url: str) -> Iterator[TestClient]:
    """An app whose default dialect is ``slack`` (spec §16.24), for requests naming no
    tenant."""
    settings = Settings(database_url=database_url, default_dialect="slack", rate_limits=False)
    with TestClient(create_app(settings, db), raise_server_exceptions=False) as client:
        yield client


def set_role(db, api: Api, uid: str, role: str) -> None:
    with db.write() as conn:
        assert user_store.set_role(conn, api.tenant_pk, uid, role)


def set_flags(db, api: Api, uid: str, **flags: bool) -> None:
    with db.write() as conn:
        assert user_store.set_flags(conn, api.tenant_pk, uid, **flags)


# -- userName and nickName (spec §3.2, §3.6, §6.1, §16.9) ------------------------------------


def test_username_is_lower_cased_and_nickname_equals_it(api):
    """§3.2 userName: "Stored lowercase (POST "guestUser" came back "guestuser")"; nickName:
    "Same underlying field as userName"."""
    user = api.create("Rosa.Diaz")
    assert user["userName"] == user["nickName"] == "rosa.diaz"
    again = api.get(user["id"])
    assert again["userName"] == again["nickName"] == "rosa.diaz"
    assert api.names('userName eq "rosa.diaz"') == ["rosa.diaz"]


def test_changing_nickname_alone_changes_both(api):
    """§3.2 nickName: "updating either updates the other"."""
    user = api.create("rosa")
    changed = api.changed(api.set(user["id"], {"nickName": "Rosa_D"}))
    assert changed["userName"] == changed["nickName"] == "rosa_d"
    assert api.get(user["id"])["userName"] == "rosa_d"
    assert api.names('userName eq "rosa_d"') == ["rosa_d"]
    changed = api.changed(api.set(user["id"], {"userName": "rdiaz"}))
    assert changed["userName"] == changed["nickName"] == "rdiaz"


def test_username_wins_when_username_and_nickname_differ(api):
    """§16.9: "When userName and nickName differ in one request, userName wins and
    nickName follows it" (on create, PATCH and PUT)."""
    user = api.create("alpha", nickName="beta")
    assert user["userName"] == user["nickName"] == "alpha"
    changed = api.changed(api.set(user["id"], {"userName": "gamma", "nickName": "delta"}))
    assert changed["userName"] == changed["nickName"] == "gamma"
    body = api.body("epsilon", nickName="zeta")
    body["emails"] = user["emails"]
    replaced = api.changed(api.put(user["id"], body))
    assert replaced["userName"] == replaced["nickName"] == "epsilon"
    assert api.names() == ["epsilon"]


def test_username_of_21_characters_is_accepted(api):
    """§3.2 userName: "Max 21 chars"."""
    user = api.create("a" * 21)
    assert user["userName"] == "a" * 21


def test_username_longer_than_21_characters_is_refused_on_create(api):
    """§3.6 / §7.3: "username_too_long - (> 21)"; a validation code, so 400 (§16.1)."""
    r = api.post(api.body("b" * 22))
    assert_error(r, 400, "username_too_long", api.version)
    assert api.find() == []


def test_username_longer_than_21_characters_is_refused_on_update(api):
    """§7.3: "long_username (400, username > 21 chars, seen on profile updates from Okta)",
    e.g. ``"long_username (user=W123)"`` (§7.1); nothing changes."""
    user = api.create("short")
    assert_error(api.set(user["id"], {"userName": "c" * 22}), 400, "long_username",
                 api.version)
    body = api.body("d" * 22)
    body["emails"] = user["emails"]
    assert_error(api.put(user["id"], body), 400, "long_username", api.version)
    assert_error(api.set(user["id"], {"nickName": "e" * 22}), 400,
                 ("long_username", "long_nickname"), api.version)
    assert api.get(user["id"])["userName"] == "short"


@pytest.mark.parametrize(("raw", "expected"), [
    ("ann+marie smith!", "ann_marie_smith_"),
    ("o'brien", "o_brien"),
    ("dot.under_dash-9", "dot.under_dash-9"),
    ("x/y\\z#1", "x_y_z_1"),
], ids=["plus-space-bang", "quote", "allowed", "slashes-hash"])
def test_username_special_characters_become_underscores(api, raw, expected):
    """§3.2 userName: "`.` `_` `-` allowed, any other special char converted to `_`"."""
    user = api.create(raw)
    assert user["userName"] == user["nickName"] == expected


def test_email_as_username_becomes_its_local_part(api):
    """§3.2: "An email given as userName is turned into a Slack-style username"; §12:
    "email-style userNames converted to a username"."""
    user = api.create("Jane.Doe@Example.com")
    assert user["userName"] == user["nickName"] == "jane.doe"
    changed = api.changed(api.set(user["id"], {"userName": "j.doe@corp.example.org"}))
    assert changed["userName"] == "j.doe"


@pytest.mark.parametrize("name", ["everyone", "Everyone"])
def test_reserved_username_is_not_allowed(api, name):
    """§3.2: "Reserved names → username_not_allowed" (400, §7.2), on create and update."""
    assert_error(api.post(api.body(name)), 400, "username_not_allowed", api.version)
    user = api.create("regular")
    assert_error(api.set(user["id"], {"userName": name}), 400, "username_not_allowed",
                 api.version)
    assert api.names() == ["regular"]


def test_create_without_username_is_username_required(api):
    """§3.6: a POST "Must contain userName ... (else username_empty/username_required)"."""
    body = api.body("x")
    del body["userName"]
    assert_error(api.post(body), 400, ("username_required", "username_empty"), api.version)


def test_create_with_empty_username_is_username_empty(api):
    """§7.3: "username_empty - userName empty on PUT/POST"."""
    assert_error(api.post(api.body("")), 400, ("username_empty", "username_required"),
                 api.version)


def test_create_with_blank_username_is_username_empty(api):
    """§3.2 userName: "Cannot be empty"; §7.3 "username_empty - userName empty on PUT/POST"."""
    assert_error(api.post(api.body("   ")), 400, ("username_empty", "username_required"),
                 api.version)
    assert api.find() == []


@pytest.mark.parametrize("how", [
    "v1-empty", "v1-single-space", "v1-nickname-empty", "v2-replace-empty", "v2-remove",
    "v2-nickname-empty",
])
def test_username_cannot_be_cleared_by_patch(make_api, how):
    """§6.1: "userName ⇄ nickName are linked; neither may be empty" (and "Setting a string
    attribute to `" "` (one space) clears it"); §7.3: the code for an empty userName is
    ``username_empty``, 400."""
    api = make_api(1 if how.startswith("v1") else 2)
    user = api.create("keepme")
    uid = user["id"]
    if how == "v1-empty":
        r = api.patch(uid, {"schemas": [V1_CORE], "userName": ""})
    elif how == "v1-single-space":
        r = api.patch(uid, {"schemas": [V1_CORE], "userName": " "})
    elif how == "v1-nickname-empty":
        r = api.patch(uid, {"schemas": [V1_CORE], "nickName": ""})
    elif how == "v2-replace-empty":
        r = api.ops(uid, {"op": "replace", "path": "userName", "value": ""})
    elif how == "v2-remove":
        r = api.ops(uid, {"op": "remove", "path": "userName"})
    else:
        r = api.ops(uid, {"op": "replace", "path": "nickName", "value": ""})
    assert_error(r, 400, ("username_empty", "username_required"), api.version)
    assert api.get(uid)["userName"] == "keepme"


def test_username_taken_is_409(api):
    """§3.6 / §16.1: a duplicate username is ``username_taken``, HTTP 409 (userNames are
    lower-cased, so case does not make a new name)."""
    first = api.create("taken")
    assert_error(api.post(api.body("TAKEN")), 409, "username_taken", api.version)
    other = api.create("other")
    assert_error(api.set(other["id"], {"userName": "taken"}), 409, "username_taken",
                 api.version)
    assert api.names() == ["other", "taken"]
    assert api.get(first["id"])["userName"] == "taken"


# -- displayName (spec §3.2) --------------------------------------------------------------------


@pytest.mark.parametrize(("value", "code"), [
    ("@rosa", "invalid_starts_with_at"),
    ("rosa@home", "invalid_name_specials"),
    ("Rosa \U0001F389", "invalid_emoji_not_allowed"),
    ("x" * 81, "invalid_name_maxlength"),
], ids=["leading-at", "at-inside", "emoji", "81-chars"])
def test_display_name_rules(api, value, code):
    """§3.2 displayName: "must not start with `@` (`invalid_starts_with_at`); specials like
    `@` → `invalid_name_specials`; emoji → `invalid_emoji_not_allowed`; too long →
    `invalid_name_maxlength`" (Max 80 chars); 400 on create and on update (§7.2)."""
    assert_error(api.post(api.body("dn", displayName=value)), 400, code, api.version)
    user = api.create("dn", displayName="Fine")
    assert_error(api.set(user["id"], {"displayName": value}), 400, code, api.version)
    assert api.get(user["id"])["displayName"] == "Fine"


@pytest.mark.parametrize("value", ["Kim (contractor)", "Rosa Diaz", "y" * 80])
def test_display_name_keeps_spaces_and_parentheses(api, value):
    """§3.5 example: ``"displayName": "Kim (contractor)"``; §3.2: max 80 characters."""
    user = api.create("kim", displayName=value)
    assert user["displayName"] == value
    assert api.get(user["id"])["displayName"] == value


# -- emails (spec §3.2, §3.6, §6.1, §6.2, §13, §16.23) ------------------------------------------


def test_at_most_two_emails_primary_by_flag(api):
    """§3.2 emails: "Only two stored"; "Primary chosen by primary:true"; "Responses carry only
    value + primary (no type); primary first, secondary primary:false"."""
    user = api.create("mail", emails=[
        {"value": "a@example.com", "type": "home"},
        {"value": "b@example.com", "type": "other", "primary": True},
        {"value": "c@example.com", "type": "work"},
    ])
    for doc in (user, api.get(user["id"])):
        emails = doc["emails"]
        assert len(emails) == 2
        assert emails[0] == {"value": "b@example.com", "primary": True}
        assert emails[1]["primary"] is False
        assert emails[1]["value"] in ("a@example.com", "c@example.com")
        assert all(list(e) == ["value", "primary"] for e in emails)


def test_primary_email_by_type_work_else_first(api):
    """§3.2 emails: primary "chosen by primary:true, else type:"work", else order"; §16.23:
    "Email type is accepted on write and used to pick the primary; it is never returned"."""
    work = api.create("work", emails=[{"value": "home1@example.com", "type": "home"},
                                      {"value": "work1@example.com", "type": "work"}])
    assert work["emails"] == [{"value": "work1@example.com", "primary": True},
                              {"value": "home1@example.com", "primary": False}]
    first = api.create("first", emails=[{"value": "one@example.com"},
                                        {"value": "two@example.com"}])
    assert first["emails"] == [{"value": "one@example.com", "primary": True},
                               {"value": "two@example.com", "primary": False}]


@pytest.mark.parametrize("emails", [None, []], ids=["absent", "empty-list"])
def test_create_without_email_is_email_empty(api, emails):
    """§3.6: a POST "Must contain userName and at least one email (else ... `email_empty`)"."""
    body = api.body("nomail")
    if emails is None:
        del body["emails"]
    else:
        body["emails"] = emails
    assert_error(api.post(body), 400, "email_empty", api.version)


def test_email_taken_by_another_user_is_409(api):
    """§3.2: "Email must be unique across the org including deactivated users (duplicate →
    failure, email_taken)"; §16.1: ``email_taken`` is 409 — on create and on update."""
    owner = api.create("owner1", emails=[{"value": "shared@example.com"}])
    r = api.post(api.body("copycat", emails=[{"value": "shared@example.com"}]))
    assert_error(r, 409, "email_taken", api.version)
    other = api.create("other1")
    assert_error(api.set(other["id"], {"emails": [{"value": "shared@example.com",
                                                    "primary": True}]}),
                 409, "email_taken", api.version)
    assert api.get(other["id"])["emails"] == other["emails"]
    assert api.names() == ["other1", "owner1"]
    assert owner["emails"][0]["value"] == "shared@example.com"


def test_email_of_a_deactivated_user_stays_taken(api):
    """§13.2: "Creating a user whose email matches any existing account — even a deactivated
    one — fails"; §12: "the email stays reserved by the deactivated account"."""
    gone = api.create("gone", emails=[{"value": "reserved@example.com"}])
    api.deactivate(gone["id"])
    r = api.post(api.body("newcomer", emails=[{"value": "reserved@example.com"}]))
    assert_error(r, 409, "email_taken", api.version)
    assert api.names() == ["gone"]


def test_removing_the_primary_of_two_emails_is_missing_primary_email(api):
    """§3.2: "Primary email cannot be removed without replacement (missing_primary_email)";
    §6.1: ``"operation": "delete"`` removes a value; §6.2: ``emails[value eq "x@y"]``."""
    user = api.create("two", emails=[{"value": "p@example.com", "primary": True},
                                     {"value": "s@example.com"}])
    if api.version == 1:
        r = api.patch(user["id"], {"schemas": [V1_CORE], "emails": [
            {"value": "p@example.com", "operation": "delete"}]})
    else:
        r = api.ops(user["id"], {"op": "remove", "path": 'emails[value eq "p@example.com"]'})
    assert_error(r, 400, "missing_primary_email", api.version)
    assert api.get(user["id"])["emails"] == user["emails"]


@pytest.mark.parametrize("how", ["v1-operation-delete", "v2-remove-by-value",
                                 "v2-remove-primary", "v2-replace-empty"])
def test_removing_the_only_email_is_missing_primary_email(make_api, how):
    """§3.2: "Primary email cannot be removed without replacement (`missing_primary_email`)";
    §6.2: "removing the primary without replacement → `missing_primary_email`"."""
    api = make_api(1 if how.startswith("v1") else 2)
    user = api.create("only", emails=[{"value": "only@example.com"}])
    if how == "v1-operation-delete":
        r = api.patch(user["id"], {"schemas": [V1_CORE], "emails": [
            {"value": "only@example.com", "operation": "delete"}]})
    elif how == "v2-remove-by-value":
        r = api.ops(user["id"], {"op": "remove", "path": 'emails[value eq "only@example.com"]'})
    elif how == "v2-remove-primary":
        r = api.ops(user["id"], {"op": "remove", "path": "emails[primary eq true]"})
    else:
        r = api.ops(user["id"], {"op": "replace", "path": "emails", "value": []})
    assert_error(r, 400, "missing_primary_email", api.version)
    assert api.get(user["id"])["emails"] == user["emails"]


def test_v2_remove_emails_removes_only_the_secondary(v2):
    """§6.2: "`remove` on plain `emails` removes only the secondary"."""
    user = v2.create("rm", emails=[{"value": "p@example.com", "primary": True},
                                   {"value": "s@example.com"}])
    done = v2.changed(v2.ops(user["id"], {"op": "remove", "path": "emails"}))
    assert done["emails"] == [{"value": "p@example.com", "primary": True}]
    alone = v2.changed(v2.ops(user["id"], {"op": "remove", "path": "emails"}))
    assert alone["emails"] == [{"value": "p@example.com", "primary": True}]


def test_v2_email_type_paths_select_primary_and_secondary(v2):
    """§16.23: "In filters and PATCH paths, `emails[type eq "work"]` selects the primary email
    and `type eq "home"` / `"other"` the secondary one"."""
    user = v2.create("typed", emails=[{"value": "p@example.com", "primary": True},
                                      {"value": "s@example.com"}])
    uid = user["id"]
    done = v2.changed(v2.ops(uid, {"op": "replace", "path": 'emails[type eq "work"].value',
                                   "value": "p2@example.com"}))
    assert done["emails"] == [{"value": "p2@example.com", "primary": True},
                              {"value": "s@example.com", "primary": False}]
    done = v2.changed(v2.ops(uid, {"op": "replace", "path": 'emails[type eq "home"].value',
                                   "value": "s2@example.com"}))
    assert done["emails"] == [{"value": "p2@example.com", "primary": True},
                              {"value": "s2@example.com", "primary": False}]
    done = v2.changed(v2.ops(uid, {"op": "replace", "path": 'emails[type eq "other"].value',
                                   "value": "s3@example.com"}))
    assert done["emails"][1] == {"value": "s3@example.com", "primary": False}
    assert_error(v2.ops(uid, {"op": "remove", "path": 'emails[type eq "work"]'}), 400,
                 "missing_primary_email", 2)
    done = v2.changed(v2.ops(uid, {"op": "remove", "path": 'emails[type eq "home"]'}))
    assert done["emails"] == [{"value": "p2@example.com", "primary": True}]


def test_email_type_filters_select_primary_and_secondary(api):
    """§16.23: "In filters ..., `emails[type eq "work"]` selects the primary email and
    `type eq "home"` / `"other"` the secondary one"; §5.3: ``email`` is filterable."""
    api.create("alice", emails=[{"value": "alice@example.com", "primary": True},
                                {"value": "alice.home@example.com"}])
    api.create("bob", emails=[{"value": "bob@example.com", "primary": True}])
    assert api.names('emails[type eq "work" and value eq "alice@example.com"]') == ["alice"]
    assert api.names('emails[type eq "home" and value eq "alice@example.com"]') == []
    assert api.names('emails[type eq "home" and value eq "alice.home@example.com"]') == [
        "alice"]
    assert api.names('emails[type eq "other" and value eq "alice.home@example.com"]') == [
        "alice"]
    assert api.names('emails[type eq "work" and value eq "alice.home@example.com"]') == []
    assert api.names('emails[type eq "home"]') == ["alice"]
    assert api.names('email eq "alice.home@example.com"') == ["alice"]
    assert api.names('email Eq "bob@example.com"') == ["bob"]


# -- phoneNumbers (spec §3.2, §6.3, §16.17) --------------------------------------------------


def test_phone_numbers_worked_example(api):
    """§6.3 doc example: request ``[{"value":"555-555-5555","type":"work"},{"value":
    "555-555-4444","type":"mobile"}]`` → response ``[{"value":"555-555-5555","type":"mobile"},
    {"value":"555-555-4444","primary":true}]``."""
    user = api.create("phones", phoneNumbers=[{"value": "555-555-5555", "type": "work"},
                                              {"value": "555-555-4444", "type": "mobile"}])
    expected = [{"value": "555-555-5555", "type": "mobile"},
                {"value": "555-555-4444", "primary": True}]
    assert user["phoneNumbers"] == expected
    assert api.get(user["id"])["phoneNumbers"] == expected


@pytest.mark.parametrize(("phones", "mobile", "primary"), [
    ([{"value": "111", "primary": True}], None, "111"),
    ([{"value": "111", "primary": False}], "111", None),
    ([{"value": "111", "type": "mobile"}], None, "111"),
    ([{"value": "111", "type": "work"}], "111", None),
    ([{"value": "111"}], None, "111"),
    ([{"value": "111", "type": "work", "primary": True}], None, "111"),
    ([{"value": "111", "primary": True}, {"value": "222", "primary": False}], "222", "111"),
], ids=["primary-true", "primary-false", "type-mobile", "type-work", "bare", "flag-wins",
        "both-flags"])
def test_phone_number_mapping(api, phones, mobile, primary):
    """§6.3: "`"primary": true` → primaryPhone; `"primary": false` → mobilePhone; `"type":
    "mobile"` → **primaryPhone** (sic); `"type": "work"` → mobilePhone; a lone number with
    neither flag → primaryPhone"; responses "`{"value": …, "type": "mobile"}`" then
    "`{"value": …, "primary": true}`", with nulls when empty (§3.2)."""
    user = api.create("phone", phoneNumbers=phones)
    assert user["phoneNumbers"] == v2_phones(mobile, primary)
    other = api.create("phone2")
    done = api.changed(api.set(other["id"], {"phoneNumbers": phones}))
    assert done["phoneNumbers"] == v2_phones(mobile, primary)


@pytest.mark.parametrize("kind", ["home", "fax", "pager", "other"])
def test_phone_type_without_a_place_is_phone_numbers_invalid(api, kind):
    """§16.17: "Phone numbers follow the rules of §6.3 as written; anything those rules do
    not place is 400 `phoneNumbers_invalid`"."""
    r = api.post(api.body("badphone", phoneNumbers=[{"value": "999", "type": kind}]))
    assert_error(r, 400, "phoneNumbers_invalid", api.version)
    user = api.create("goodphone", phoneNumbers=[{"value": "123", "primary": True}])
    assert_error(api.set(user["id"], {"phoneNumbers": [{"value": "999", "type": kind}]}),
                 400, "phoneNumbers_invalid", api.version)
    assert api.get(user["id"])["phoneNumbers"] == v2_phones(None, "123")


# -- addresses, photos, roles and the plain profile strings (spec §3.2, §3.3, §12) -------------


def test_one_address_with_five_keys(api):
    """§3.2 addresses: "Only one stored. Chosen by primary:true, else first. ... type not
    stored ... Response objects contain the five sub-attrs (nulls when empty)"."""
    user = api.create("addr", addresses=[
        {"locality": "Queens", "type": "work"},
        {"locality": "Brooklyn", "region": "NY", "postalCode": "11201", "country": "US",
         "type": "home", "primary": True},
    ])
    expected = [{"streetAddress": None, "locality": "Brooklyn", "region": "NY",
                 "postalCode": "11201", "country": "US"}]
    assert user["addresses"] == expected
    assert list(user["addresses"][0]) == list(ADDRESS_KEYS)
    assert api.get(user["id"])["addresses"] == expected
    first = api.create("addr2", addresses=[{"streetAddress": "1 Main St", "type": "home"},
                                           {"streetAddress": "2 Side St", "type": "work"}])
    assert first["addresses"] == [{"streetAddress": "1 Main St", "locality": None,
                                   "region": None, "postalCode": None, "country": None}]
    assert api.create("addr3")["addresses"] == empty_address()


def test_one_photo_and_the_default_gravatar(api):
    """§3.2 photos: "Only one stored (profile photo). Chosen by primary:true, else first";
    "Responses: [{"value": "<url>", "type": "photo"}]; default avatar is a gravatar URL
    https://secure.gravatar.com/avatar/<hash>.jpg?s=192&d=..."; §12 "with s=192"."""
    plain = api.create("nophoto")
    assert len(plain["photos"]) == 1
    assert plain["photos"][0]["type"] == "photo"
    assert GRAVATAR.match(plain["photos"][0]["value"]), plain["photos"]
    user = api.create("photo", photos=[
        {"value": "https://img.example.com/a.png"},
        {"value": "https://img.example.com/b.png", "primary": True}])
    assert user["photos"] == [{"value": "https://img.example.com/b.png", "type": "photo"}]
    first = api.create("photo2", photos=[{"value": "https://img.example.com/c.png"},
                                         {"value": "https://img.example.com/d.png"}])
    assert first["photos"] == [{"value": "https://img.example.com/c.png", "type": "photo"}]


@pytest.mark.parametrize("roles", [
    [{"value": "Tech Lead"}],
    [{"value": "Tech Lead", "primary": True}],
    ["Tech Lead"],
], ids=["object", "primary-object", "bare-string"])
def test_one_role_from_objects_or_bare_strings(api, roles):
    """§3.2 roles: "Only one stored. Accepts objects {value, primary} or bare strings
    ["Tech Lead"]. Response [{"value": <role-or-null>, "primary": true}]"."""
    user = api.create("role", roles=roles)
    assert user["roles"] == [{"value": "Tech Lead", "primary": True}]
    plain = api.create("norole")
    assert plain["roles"] == [{"value": None, "primary": True}]
    done = api.changed(api.set(plain["id"], {"roles": roles}))
    assert done["roles"] == [{"value": "Tech Lead", "primary": True}]
    several = api.create("roles3", roles=[{"value": "A"}, {"value": "B"}])
    assert len(several["roles"]) == 1 and several["roles"][0]["primary"] is True


def test_profile_strings_round_trip(api):
    """§3.2: ``userType``, ``title``, ``preferredLanguage`` (e.g. en_US), ``locale`` (e.g.
    en-US), ``timezone`` (IANA name) are kept and returned."""
    attrs = {"userType": "Employee", "title": "Detective", "preferredLanguage": "en_US",
             "locale": "en-US", "timezone": "America/Chicago"}
    user = api.create("strings", **attrs)
    for doc in (user, api.get(user["id"])):
        assert {k: doc[k] for k in attrs} == attrs
    new = {"userType": "Contractor", "title": "Sergeant", "preferredLanguage": "fr_FR",
           "locale": "fr-FR", "timezone": "Europe/Paris"}
    done = api.changed(api.set(user["id"], new))
    assert {k: done[k] for k in new} == new


def test_timezone_defaults_to_los_angeles(api):
    """§3.2 timezone: "Default observed America/Los_Angeles"; §12 "Default timezone
    America/Los_Angeles"."""
    user = api.create("tz")
    assert user["timezone"] == "America/Los_Angeles"
    assert api.get(user["id"])["timezone"] == "America/Los_Angeles"


# -- password, externalId, profileUrl (spec §3.2, §6.1, §13.13, §16.21) ------------------------


def test_password_is_write_only(api):
    """§3.2 password: "write-only ... Never returned; only usable to set an initial
    password"."""
    user = api.create("pw", password="Initial-Secret-1")
    assert "password" not in user
    assert "password" not in api.get(user["id"])
    assert all("password" not in u for u in api.find())
    assert "Initial-Secret-1" not in api.get_r(user["id"]).text


def test_password_change_is_not_allowed(api):
    """§3.2: "Updates rejected (`password_change_not_allowed`)"; §13.13 "passwords only on
    creation"; 403 (§7.2) on PUT and PATCH of an existing user."""
    user = api.create("pw2", password="Initial-Secret-1")
    body = api.body("pw2", password="New-Secret-2")
    body["emails"] = user["emails"]
    assert_error(api.put(user["id"], body), 403, "password_change_not_allowed", api.version)
    assert_error(api.set(user["id"], {"password": "New-Secret-2"}), 403,
                 "password_change_not_allowed", api.version)
    assert api.get(user["id"])["userName"] == "pw2"


def test_external_id_is_always_empty_and_writes_are_ignored(api):
    """§3.2 externalId: "Always returned as `""` ... updates via PUT/PATCH unsupported ...
    ignore on write, always emit `""`"; §12: "`externalId` always `""`".
    """
    user = api.create("ext", externalId="idp-123")
    assert user["externalId"] == ""
    done = api.changed(api.set(user["id"], {"externalId": "idp-456"}))
    assert done["externalId"] == ""
    body = api.body("ext", externalId="idp-789")
    body["emails"] = user["emails"]
    assert api.changed(api.put(user["id"], body))["externalId"] == ""
    assert api.get(user["id"])["externalId"] == ""


def test_profile_url_is_tenant_url_team_username(api):
    """§16.21: "profileUrl is <tenant URL>/team/<username>"; it follows the username."""
    user = api.create("Rosa")
    match = re.fullmatch(r"(https://[a-z0-9.-]+)/team/rosa", user["profileUrl"])
    assert match, user["profileUrl"]
    other = api.create("jake")
    assert other["profileUrl"] == f"{match.group(1)}/team/jake"
    done = api.changed(api.set(user["id"], {"userName": "rosa.diaz"}))
    assert done["profileUrl"] == f"{match.group(1)}/team/rosa.diaz"


def test_profile_url_uses_the_tenant_domain(db, http, version):
    """§3.2 profileUrl: "https://<org-or-workspace-domain>.enterprise.slack.com/team/
    <username> (Grid)"; §16.21 "the tenant URL is configurable (default derived from the
    tenant's domain name)"."""
    with db.write() as conn:
        tenant = tenants.create_tenant(conn, name="Acme Corp", plan="enterprise",
                                       dialect="slack", domain="acme")
        token = tenants.create_token(conn, tenant.pk, label="test")
    api = Api.of(ScimClient(http, TenantAccess(tenant, token)), version)
    user = api.create("rosa.diaz")
    assert user["profileUrl"] == "https://acme.enterprise.slack.com/team/rosa.diaz"


# -- meta, groups, the full attribute set, key order (spec §3.3, §12, §16.8) -------------------


def test_meta_created_location_and_etag(api):
    """§12: "meta.created: ISO 8601 with a numeric offset in Slack's local (US Pacific)
    time, e.g. 2019-07-24T00:55:02-07:00"; "meta.location: absolute URL .../scim/v1|v2/
    Users/<id>"; "No lastModified, version"; the ETag header is still sent."""
    r = api.post(api.body("meta"))
    assert r.status_code == 201
    assert r.headers.get("etag")
    user = r.json()
    for doc in (user, api.get(user["id"])):
        meta = doc["meta"]
        assert CREATED.match(meta["created"]), meta
        assert meta["location"] == f"http://testserver/scim/v{api.version}/Users/{user['id']}"
        assert "version" not in meta and "lastModified" not in meta
        if api.version == 1:
            assert list(meta) == ["created", "location"]
    assert api.get_r(user["id"]).headers.get("etag")
    assert api.set(user["id"], {"title": "x"}).headers.get("etag")


def test_v2_meta_is_created_location_and_resource_type(v2):
    """§12: Slack's v2 meta is ``{created, location}``; scimd adds ``resourceType``, which
    identity providers check on creates (shared/corpus/idp entra-02) and Slack's clients
    ignore (§12: added keys are safe). No lastModified or version (§9, §12)."""
    user = v2.create("meta2")
    assert list(user["meta"]) == ["created", "location", "resourceType"]
    assert user["meta"]["resourceType"] == "User"


def test_groups_always_present_and_reflect_membership(api):
    """§3.2 groups: "readOnly ... [{"value": "S…", "display": "<group name>"}] ... Always
    present (often [])"; §12: "groups on a user reflects group membership immediately after a
    group create with members"."""
    user = api.create("member")
    assert user["groups"] == []
    group = api.make_group("nine-nine", [user["id"]])
    assert api.get(user["id"])["groups"] == [{"value": group["id"], "display": "nine-nine"}]
    listed = api.find('userName eq "member"')
    assert listed[0]["groups"] == [{"value": group["id"], "display": "nine-nine"}]


def expected_keys(version: int, *, guest: bool = False) -> list[str]:
    _core, ent, profile, guest_urn = URNS[version]
    keys = ["schemas", "id", "externalId", "meta", "userName", "nickName", "name",
            "displayName", "profileUrl", "title", "timezone", "active", "emails", "photos",
            "addresses", "phoneNumbers", "userType", "roles", "preferredLanguage", "locale",
            ent]
    if version == 2:
        keys.append(profile)
    keys.append("groups")
    if guest:
        keys.append(guest_urn)
    return keys


def test_full_attribute_set_with_nulls_in_key_order(api):
    """§16.8: "User responses always carry the full attribute set of §3.5 (nulls where
    empty)"; §3.3 key order "schemas, id, externalId, meta, userName, nickName, name,
    displayName, profileUrl, title, timezone, active, emails, photos, addresses,
    phoneNumbers, userType, roles, preferredLanguage, locale, <enterprise ext>, groups"; "v2
    is the same but the profile extension follows the enterprise one"."""
    body = {"schemas": [api.core], "userName": "minimal", "name": {"givenName": "Min"},
            "emails": [{"value": "minimal@example.com"}]}
    r = api.post(body)
    assert r.status_code == 201, r.text
    for doc in (r.json(), api.get(r.json()["id"]), api.find()[0]):
        assert list(doc) == expected_keys(api.version)
        assert list(doc["name"]) == ["givenName", "familyName", "honorificPrefix"]
        assert doc["name"]["honorificPrefix"] is None
        assert doc["addresses"] == empty_address()
        assert doc["phoneNumbers"] == v2_phones(None, None)
        assert doc["roles"] == [{"value": None, "primary": True}]
        assert doc["userType"] is doc["preferredLanguage"] is doc["locale"] is None
        assert doc["active"] is True
        assert doc[api.ent] == {**dict.fromkeys(ENTERPRISE_KEYS), "manager": {"managerId": None}}
        assert list(doc[api.ent]) == [*ENTERPRISE_KEYS, "manager"]
        if api.version == 2:
            assert doc[V2_PROFILE] == {"startDate": None}
        assert doc["schemas"][0] == api.core
        assert all(s in (api.core, api.ent, api.profile) for s in doc["schemas"])


def test_guest_key_order(api):
    """§3.3: "v2 is the same but the profile extension follows the enterprise one, then
    `groups`, then the guest extension" (v1: the guest extension after ``groups`` too)."""
    body = api.body("guestorder", schemas=[api.core, api.guest])
    body[api.guest] = {"type": "multi"}
    r = api.post(body)
    assert r.status_code == 201, r.text
    assert list(r.json()) == expected_keys(api.version, guest=True)


# -- enterprise extension (spec §3.2, §16.18, §16.22) ------------------------------------------


def test_enterprise_extension_round_trip(api):
    """§3.2 enterprise ext.: "employeeNumber, costCenter, organization, division,
    department, manager{managerId}"; §3.4 example; §16.18 "the enterprise extension is
    accepted either way" (with or without its URN in ``schemas``)."""
    boss = api.create("boss")
    ent = {"employeeNumber": "99", "costCenter": "CC1", "organization": "ACME",
           "division": "East", "department": "Detectives",
           "manager": {"managerId": boss["id"]}}
    for schemas in ([api.core, api.ent], [api.core]):
        body = api.body(f"emp{len(schemas)}", schemas=schemas)
        body[api.ent] = ent
        r = api.post(body)
        assert r.status_code == 201, r.text
        for doc in (r.json(), api.get(r.json()["id"])):
            assert doc[api.ent] == ent
            assert api.ent in doc["schemas"]
    user = api.find('userName eq "emp2"')[0]
    done = api.changed(api.set(user["id"], {api.ent: {"department": "Vice"}}))
    assert done[api.ent] == {**ent, "department": "Vice"}


@pytest.mark.parametrize("form", ["id", "email", "userName"])
def test_manager_id_accepts_id_email_or_username(api, form):
    """§3.2: "`managerId` may be the manager's Slack id, primary email, or userName; the
    response echoes what was stored"."""
    boss = api.create("theboss", emails=[{"value": "boss@example.com"}])
    value = {"id": boss["id"], "email": "boss@example.com", "userName": "theboss"}[form]
    body = api.body("report")
    body[api.ent] = {"manager": {"managerId": value}}
    user = api.post(body).json()
    assert user[api.ent]["manager"] == {"managerId": value}
    assert api.get(user["id"])[api.ent]["manager"] == {"managerId": value}


@pytest.mark.parametrize("manager", ["bare", {"value": "X"},
                                     {"value": "X", "$ref": "https://example.com/Users/X"}],
                         ids=["bare-string", "value", "value-and-ref"])
def test_manager_as_string_or_value_counts_as_manager_id(api, manager):
    """§16.22: "`manager` sent as a bare string, or as an object with `value` (and perhaps
    `$ref`), counts as `managerId` (Entra sends both shapes)"."""
    boss = api.create("mgr")
    given = boss["id"] if manager == "bare" else {**manager, "value": boss["id"]}
    body = api.body("entra")
    body[api.ent] = {"department": "Ops", "manager": given}
    r = api.post(body)
    assert r.status_code == 201, r.text
    assert r.json()[api.ent]["manager"] == {"managerId": boss["id"]}
    other = api.create("entra2")
    body = api.body("entra2", emails=other["emails"])
    body[api.ent] = {"manager": given}
    done = api.changed(api.put(other["id"], body))
    assert done[api.ent]["manager"] == {"managerId": boss["id"]}


@pytest.mark.parametrize("manager", [{}, {"displayName": "The Boss"}],
                         ids=["empty", "display-only"])
def test_manager_without_manager_id_is_improper_enterprise_schema_format(api, manager):
    """§3.2: "if `manager` is sent, `managerId` is mandatory (else
    `improper_enterprise_schema_format`)" — 400, on create and on update."""
    body = api.body("nomgr")
    body[api.ent] = {"department": "Ops", "manager": manager}
    assert_error(api.post(body), 400, "improper_enterprise_schema_format", api.version)
    user = api.create("nomgr2")
    body = api.body("nomgr2", emails=user["emails"])
    body[api.ent] = {"manager": manager}
    assert_error(api.put(user["id"], body), 400, "improper_enterprise_schema_format",
                 api.version)
    if api.version == 1:
        assert_error(api.patch(user["id"], {"schemas": [V1_CORE],
                                            V1_ENTERPRISE: {"manager": manager}}),
                     400, "improper_enterprise_schema_format", 1)
    assert api.names() == ["nomgr2"]


@pytest.mark.parametrize("op", [
    {"op": "replace", "path": V2_ENTERPRISE, "value": {"manager": {}}},
    {"op": "replace", "path": V2_ENTERPRISE, "value": {"manager": {"displayName": "B"}}},
    {"op": "add", "path": f"{V2_ENTERPRISE}:manager", "value": {"displayName": "B"}},
    {"op": "replace", "value": {V2_ENTERPRISE: {"manager": {"displayName": "B"}}}},
], ids=["urn-empty", "urn-display-only", "sub-path", "no-path"])
def test_v2_patch_manager_without_manager_id_is_improper_enterprise_schema_format(v2, op):
    """§3.2: "if `manager` is sent, `managerId` is mandatory (else
    `improper_enterprise_schema_format`)" — also when it is sent in a v2 PATCH (§6.2)."""
    user = v2.create("nomgr3")
    assert_error(v2.ops(user["id"], op), 400, "improper_enterprise_schema_format", 2)


# -- profile extension (spec §3.2, §6.1, §6.2, §16.18) -----------------------------------------


def test_profile_start_date(api):
    """§3.2 profile ext.: "`startDate` (ISO 8601, e.g. `2024-04-10T00:00:00+0000`) ... The
    profile extension URN must be listed in `schemas`"; §6.1 example body
    ``{"schemas":[profile URN], profile URN: {"startDate": ...}}`` (§6.2: also on v2)."""
    body = api.body("starter", schemas=[api.core, api.profile])
    body[api.profile] = {"startDate": "2024-04-10T00:00:00+0000"}
    r = api.post(body)
    assert r.status_code == 201, r.text
    user = r.json()
    assert user[api.profile] == {"startDate": "2024-04-10T00:00:00+0000"}
    assert api.profile in user["schemas"]
    later = {"schemas": [api.profile], api.profile: {"startDate": "2025-01-02T00:00:00+0000"}}
    done = api.changed(api.patch(user["id"], later))
    assert done[api.profile] == {"startDate": "2025-01-02T00:00:00+0000"}
    assert api.get(user["id"])[api.profile] == {"startDate": "2025-01-02T00:00:00+0000"}


def test_profile_extension_without_its_urn_is_invalid_request_payload(api):
    """§16.18: "A guest or profile extension object whose URN is missing from `schemas` is
    400 `invalid_request_payload`"."""
    body = api.body("nourn")
    body[api.profile] = {"startDate": "2024-04-10T00:00:00+0000"}
    assert_error(api.post(body), 400, "invalid_request_payload", api.version)
    user = api.create("nourn2")
    r = api.patch(user["id"], {"schemas": [api.core],
                               api.profile: {"startDate": "2024-04-10T00:00:00+0000"}})
    assert_error(r, 400, "invalid_request_payload", api.version)
    assert api.names() == ["nourn2"]


# -- guest extension (spec §3.2, §3.5, §3.6, §5.3, §6.1, §6.2, §12) ----------------------------


def guest_body(api: Api, user_name: str, **guest: Any) -> dict:
    body = api.body(user_name, schemas=[api.core, api.guest])
    body[api.guest] = {"type": "multi", **guest}
    return body


def to_guest(api: Api, uid: str, **guest: Any) -> httpx.Response:
    """Member → multi-channel guest: the guest object with its URN in ``schemas`` (§6.1),
    or ``add`` of the guest URN (§6.2)."""
    ext = {"type": "multi", **guest}
    if api.version == 1:
        return api.patch(uid, {"schemas": [V1_CORE, V1_GUEST], V1_GUEST: ext})
    return api.ops(uid, {"op": "add", "path": V2_GUEST, "value": ext})


def to_member(api: Api, uid: str) -> httpx.Response:
    """Guest → full member: ``meta.attributes`` with the guest URN (§6.1) or ``remove`` of
    the guest URN (§6.2)."""
    if api.version == 1:
        return api.patch(uid, {"schemas": [V1_CORE], "meta": {"attributes": [V1_GUEST]}})
    return api.ops(uid, {"op": "remove", "path": V2_GUEST})


def test_create_multi_channel_guest(api):
    """§3.6: "include the guest URN in `schemas` and `"<guest-urn>": {"type": "multi"[,
    "expiration": "<ISO8601>"]}`"; §3.3: "Guest extension object appears only for guests;
    `type` echoed, `expiration` if set"; channels read-only (§16.14)."""
    r = api.post(guest_body(api, "guesty", expiration="2030-11-30T23:59:59Z"))
    assert r.status_code == 201, r.text
    for doc in (r.json(), api.get(r.json()["id"])):
        assert api.guest in doc["schemas"]
        assert doc[api.guest] == {"type": "multi", "expiration": "2030-11-30T23:59:59Z",
                                  "channels": []}
    member = api.create("member")
    assert api.guest not in member and api.guest not in member["schemas"]


@pytest.mark.parametrize("guest", [{"type": "single"}, {"type": "Ultra"}, {}],
                         ids=["single", "other", "no-type"])
def test_guest_type_must_be_multi(api, guest):
    """§3.2 guest ext.: "`type` (mandatory; only valid value `"multi"`)"; §3.6
    "Single-channel guests cannot be created via SCIM" — 400."""
    body = api.body("badguest", schemas=[api.core, api.guest])
    body[api.guest] = {**guest, "expiration": "2030-11-30T23:59:59Z"}
    assert_error(api.post(body), 400, None, api.version)
    user = api.create("member")
    ext = {**guest, "expiration": "2030-11-30T23:59:59Z"}
    r = api.patch(user["id"], {"schemas": [api.core, api.guest], api.guest: ext}) \
        if api.version == 1 else api.ops(user["id"], {"op": "add", "path": V2_GUEST,
                                                      "value": ext})
    assert_error(r, 400, None, api.version)
    assert api.guest not in api.get(user["id"])
    assert api.names() == ["member"]


def test_guest_object_without_type_is_refused(api):
    """§3.2 guest ext.: "`type` (mandatory; only valid value `"multi"`)" — an empty guest
    object, URN listed in ``schemas``, is a 400, on create and on conversion."""
    body = api.body("emptyguest", schemas=[api.core, api.guest])
    body[api.guest] = {}
    assert_error(api.post(body), 400, None, api.version)
    user = api.create("member")
    r = api.patch(user["id"], {"schemas": [api.core, api.guest], api.guest: {}}) \
        if api.version == 1 else api.ops(user["id"], {"op": "add", "path": V2_GUEST,
                                                      "value": {}})
    assert_error(r, 400, None, api.version)


def test_guest_extension_without_its_urn_is_invalid_request_payload(api):
    """§16.18: "A guest or profile extension object whose URN is missing from `schemas` is
    400 `invalid_request_payload`"."""
    body = api.body("nourn")
    body[api.guest] = {"type": "multi"}
    assert_error(api.post(body), 400, "invalid_request_payload", api.version)
    assert api.find() == []


def test_guests_need_an_enterprise_plan(make_api, version):
    """§3.2 / §13.11: "Multi-channel guests via SCIM: Enterprise plans only"; a permission
    error, so 403 (§7.2)."""
    api = make_api(version, plan="business_plus")
    assert_error(api.post(guest_body(api, "bpguest")), 403, None, api.version)
    user = api.create("bpmember")
    assert_error(to_guest(api, user["id"]), 403, None, api.version)
    assert api.guest not in api.get(user["id"])
    assert api.names() == ["bpmember"]


@pytest.mark.parametrize("role", ["admin", "owner", "primary_owner"])
def test_admins_and_owners_cannot_become_guests(api, db, role):
    """§3.6: "Admins/Owners/Primary Owners cannot be made guests (`cannot_make_user_guest`)";
    403 (§7.2)."""
    user = api.create("chief")
    set_role(db, api, user["id"], role)
    assert_error(to_guest(api, user["id"]), 403, "cannot_make_user_guest", api.version)
    assert api.guest not in api.get(user["id"])


def test_guest_conversion_both_ways_reactivates(api):
    """§6.1: "conversion either way also reactivates a deactivated user"; §12 "guest↔member
    conversion also reactivates"; v1 ``meta.attributes`` with the guest URN "converts the
    guest back to a full member"; v2 ``remove`` of the guest URN likewise (§6.2)."""
    user = api.create("flip")
    api.deactivate(user["id"])
    guest = api.changed(to_guest(api, user["id"], expiration="2030-01-01T00:00:00Z"))
    assert guest["active"] is True
    assert guest[api.guest]["type"] == "multi"
    assert api.guest in guest["schemas"]
    api.deactivate(user["id"])
    assert api.get(user["id"])["active"] is False
    member = api.changed(to_member(api, user["id"]))
    assert member["active"] is True
    assert api.guest not in member and api.guest not in member["schemas"]
    assert api.get(user["id"])["active"] is True


def test_guest_expiration_can_be_dropped(api):
    """§6.1: "`urn:scim:schemas:extension:slack:guest:1.0.expiration` → drops the expiry";
    §6.2: "`remove` of `….User.expiration` clears expiry"."""
    r = api.post(guest_body(api, "temp", expiration="2030-11-30T23:59:59Z"))
    uid = r.json()["id"]
    if api.version == 1:
        r = api.patch(uid, {"schemas": [V1_CORE],
                            "meta": {"attributes": [f"{V1_GUEST}.expiration"]}})
    else:
        r = api.ops(uid, {"op": "remove", "path": f"{V2_GUEST}.expiration"})
    done = api.changed(r)
    assert done[api.guest]["type"] == "multi"
    assert done[api.guest].get("expiration") is None


@pytest.mark.parametrize("text", ["restricted eq 1", "restricted eq '1'",
                                  'restricted eq "1"'])
def test_restricted_filter_finds_guests(api, text):
    """§5.3: "`restricted eq '1'` (doc, single quotes), `restricted eq 1` (unquoted, real
    capture returned 2 guests). Accept double quotes, single quotes and bare tokens"."""
    api.create("member")
    for name in ("guest1", "guest2"):
        assert api.post(guest_body(api, name)).status_code == 201
    assert api.names(text) == ["guest1", "guest2"]


# -- v1 PATCH partial bodies (spec §6.1) -------------------------------------------------------


def rich_user(api: Api, user_name: str = "rich") -> dict:
    body = api.body(
        user_name, displayName="Rich", title="Detective", userType="Employee",
        name={"givenName": "Rosa", "familyName": "Diaz", "honorificPrefix": "Det."},
        emails=[{"value": f"{user_name}@example.com", "primary": True},
                {"value": f"{user_name}.home@example.com"}],
        phoneNumbers=[{"value": "555-0100", "primary": True},
                      {"value": "555-0199", "primary": False}],
        addresses=[{"streetAddress": "1 Main St", "locality": "Brooklyn", "region": "NY",
                    "postalCode": "11201", "country": "US"}],
        roles=[{"value": "Tech Lead"}],
        photos=[{"value": "https://img.example.com/rich.png"}],
    )
    body["schemas"] = [api.core, api.ent]
    body[api.ent] = {"employeeNumber": "99", "costCenter": "CC1", "organization": "ACME",
                     "division": "East", "department": "Detectives",
                     "manager": {"managerId": "W0MANAGER1"}}
    r = api.post(body)
    assert r.status_code == 201, r.text
    return r.json()


def test_v1_single_space_clears_a_string(v1):
    """§6.1: "Setting a string attribute to `" "` (one space) clears it from the profile"."""
    user = rich_user(v1)
    done = v1.changed(v1.patch(user["id"], {
        "schemas": [V1_CORE], "title": " ", "displayName": " ", "userType": " ",
        "name": {"familyName": " "}}))
    assert done["title"] in ("", None)
    assert done["displayName"] in ("", None)
    assert done["userType"] in ("", None)
    assert done["name"]["familyName"] in ("", None)
    assert done["name"]["givenName"] == "Rosa"
    assert v1.get(user["id"])["title"] in ("", None)


def test_v1_operation_delete_secondary_email(v1):
    """§6.1: "an element with `"operation": "delete"` removes that value — works for the
    secondary email"."""
    user = rich_user(v1)
    done = v1.changed(v1.patch(user["id"], {"schemas": [V1_CORE], "emails": [
        {"value": "rich.home@example.com", "operation": "delete"}]}))
    assert done["emails"] == [{"value": "rich@example.com", "primary": True}]


@pytest.mark.parametrize(("value", "mobile", "primary"), [
    ("555-0100", "555-0199", None), ("555-0199", None, "555-0100")],
    ids=["primary-phone", "mobile-phone"])
def test_v1_operation_delete_phone_number(v1, value, mobile, primary):
    """§6.1: "`"operation": "delete"` ... works for ... phone numbers (matched by value)"."""
    user = rich_user(v1)
    done = v1.changed(v1.patch(user["id"], {"schemas": [V1_CORE], "phoneNumbers": [
        {"value": value, "operation": "delete"}]}))
    assert done["phoneNumbers"] == v2_phones(mobile, primary)


def test_v1_operation_delete_role(v1):
    """§6.1: "`"operation": "delete"` ... works for ... roles (by value)"."""
    user = rich_user(v1)
    done = v1.changed(v1.patch(user["id"], {"schemas": [V1_CORE], "roles": [
        {"value": "Tech Lead", "operation": "delete"}]}))
    assert done["roles"] == [{"value": None, "primary": True}]


def test_v1_operation_delete_address_only_when_all_five_match(v1):
    """§6.1: "`"operation": "delete"` ... addresses (only when all five sub-attributes match
    the stored address)"."""
    user = rich_user(v1)
    stored = user["addresses"]
    wrong = {**stored[0], "postalCode": "99999", "operation": "delete"}
    r = v1.patch(user["id"], {"schemas": [V1_CORE], "addresses": [wrong]})
    if r.status_code == 200:
        assert r.json()["addresses"] == stored
    assert v1.get(user["id"])["addresses"] == stored
    done = v1.changed(v1.patch(user["id"], {"schemas": [V1_CORE], "addresses": [
        {**stored[0], "operation": "delete"}]}))
    assert done["addresses"] == empty_address()


@pytest.mark.parametrize("path", [
    "emails", "phoneNumbers", "roles", "name.familyName", "name.honorificPrefix",
    V1_ENTERPRISE, f"{V1_ENTERPRISE}.department", f"{V1_ENTERPRISE}.manager.managerId"])
def test_v1_meta_attributes_clears(v1, path):
    """§6.1: "Clearing via `meta.attributes` — an array of attribute paths to wipe: "emails"
    → removes only the secondary email; "phoneNumbers", "roles", "name",
    "name.honorificPrefix", "name.familyName"; the enterprise URN (all enterprise fields) or
    the URN + ".<sub>" e.g. `.department`, `.manager.managerId`"."""
    user = rich_user(v1)
    done = v1.changed(v1.patch(user["id"], {"schemas": [V1_CORE],
                                            "meta": {"attributes": [path]}}))
    expected = dict(user)
    ent = dict(user[V1_ENTERPRISE])
    if path == "emails":
        expected["emails"] = [{"value": "rich@example.com", "primary": True}]
    elif path == "phoneNumbers":
        expected["phoneNumbers"] = v2_phones(None, None)
    elif path == "roles":
        expected["roles"] = [{"value": None, "primary": True}]
    elif path.startswith("name."):
        expected["name"] = {**user["name"], path.split(".")[1]: None}
    elif path == V1_ENTERPRISE:
        expected[V1_ENTERPRISE] = {**dict.fromkeys(ENTERPRISE_KEYS),
                                   "manager": {"managerId": None}}
    elif path.endswith(".department"):
        expected[V1_ENTERPRISE] = {**ent, "department": None}
    else:
        expected[V1_ENTERPRISE] = {**ent, "manager": {"managerId": None}}
    for key in ("meta",):
        expected.pop(key)
        done.pop(key)
    if path.startswith("name."):
        assert done["name"][path.split(".")[1]] in ("", None)
        done["name"] = expected["name"]
    assert done == expected


def test_v1_meta_attributes_spec_example(v1):
    """§6.1 example: ``{"schemas":["urn:scim:schemas:core:1.0"],"meta":{"attributes":["roles",
    "name.familyName","urn:scim:schemas:extension:enterprise:1.0.department"]}}``."""
    user = rich_user(v1)
    done = v1.changed(v1.patch(user["id"], {
        "schemas": ["urn:scim:schemas:core:1.0"],
        "meta": {"attributes": ["roles", "name.familyName",
                                "urn:scim:schemas:extension:enterprise:1.0.department"]}}))
    assert done["roles"] == [{"value": None, "primary": True}]
    assert done["name"]["familyName"] in ("", None)
    assert done["name"]["givenName"] == "Rosa"
    assert done[V1_ENTERPRISE]["department"] is None
    assert done[V1_ENTERPRISE]["employeeNumber"] == "99"
    assert done["title"] == "Detective"


# -- PUT and other validation (spec §3.2, §6.1, §6.4, §7.3, §16.20) ---------------------------


def test_put_blanks_what_it_omits_but_keeps_the_name(api):
    """§6.4: "Replaces the whole user: anything not supplied is blanked (per type: `""`/
    `null`) ... a PUT carrying only `userName` and `emails` came back with `displayName: ""`,
    `title: ""`, nulls for addresses/phones/roles/enterprise fields/startDate, default
    timezone — but `name` kept its old value"."""
    user = rich_user(api)
    done = api.changed(api.put(user["id"], {
        "schemas": [api.core], "userName": "rich",
        "emails": [{"value": "rich@example.com", "primary": True}]}))
    for doc in (done, api.get(user["id"])):
        assert doc["displayName"] in ("", None)
        assert doc["title"] in ("", None)
        assert doc["userType"] is None
        assert doc["timezone"] == "America/Los_Angeles"
        assert doc["emails"] == [{"value": "rich@example.com", "primary": True}]
        assert doc["addresses"] == empty_address()
        assert doc["phoneNumbers"] == v2_phones(None, None)
        assert doc["roles"] == [{"value": None, "primary": True}]
        assert doc[api.ent] == {**dict.fromkeys(ENTERPRISE_KEYS),
                                "manager": {"managerId": None}}
        assert GRAVATAR.match(doc["photos"][0]["value"])
        assert doc["name"] == user["name"]
        assert doc["active"] is True
        if api.version == 2:
            assert doc[V2_PROFILE] == {"startDate": None}


def test_put_back_of_a_get_is_accepted(api):
    """§6.4: "Clients typically GET the user, modify, and PUT it back including read-only
    fields (`id`, `meta`, `groups`, `profileUrl`, `photos`) — these must be
    tolerated/ignored"."""
    user = rich_user(api)
    api.make_group("crew", [user["id"]])
    doc = api.get(user["id"])
    doc["title"] = "Captain"
    done = api.changed(api.put(user["id"], doc))
    assert done["title"] == "Captain"
    # phoneNumbers excepted: §6.3 reads a re-sent {"type": "mobile"} entry as the primary
    # phone, so the response shape does not round-trip (§16.17: "as written")
    for key in doc:
        if key not in ("title", "meta", "phoneNumbers"):
            assert done[key] == doc[key], key


def test_v1_patch_ignores_an_id_in_the_body(v1):
    """§6.1: "Real clients also send `"id"` inside PATCH bodies (old docs example, CircleHD
    clone) — ignore it"."""
    user = v1.create("withid")
    done = v1.changed(v1.patch(user["id"], {"schemas": [V1_CORE], "id": user["id"],
                                            "title": "Detective"}))
    assert done["id"] == user["id"] and done["title"] == "Detective"


def test_blank_given_and_family_names_are_invalid_name_required(api):
    """§3.2 name: "If both given and family are whitespace-only → `invalid_name_required`"
    (400, §7.2)."""
    r = api.post(api.body("blank", name={"givenName": " ", "familyName": "  "}))
    assert_error(r, 400, "invalid_name_required", api.version)
    user = api.create("named")
    # two spaces: in a v1 PATCH a single space means "clear this attribute" (§6.1)
    assert_error(api.set(user["id"], {"name": {"givenName": "  ", "familyName": "   "}}),
                 400, "invalid_name_required", api.version)
    assert api.get(user["id"])["name"] == user["name"]


def test_strings_longer_than_1000_characters_are_invalid_attribute_format(api):
    """§16.20: "String attributes without a documented limit accept up to 1,000 characters;
    longer is 400 `invalid_attribute_format`"."""
    assert api.create("longok", title="t" * 1000)["title"] == "t" * 1000
    r = api.post(api.body("toolong", title="t" * 1001))
    assert_error(r, 400, "invalid_attribute_format", api.version)
    assert api.names() == ["longok"]


def test_malformed_email_is_refused(api):
    """§7.3: "`bad_email_address` - email missing/malformed", "`email_invalid` - invalid email
    values" (400)."""
    r = api.post(api.body("bademail", emails=[{"value": "not-an-email"}]))
    assert_error(r, 400, ("bad_email_address", "email_invalid"), api.version)
    assert api.find() == []


def test_secondary_email_is_unique_too(api):
    """§3.2: "Email must be unique across the org" — a secondary address that belongs to
    another user is ``email_taken`` (409, §16.1)."""
    api.create("first", emails=[{"value": "first@example.com"}])
    r = api.post(api.body("second", emails=[{"value": "second@example.com"},
                                            {"value": "first@example.com"}]))
    assert_error(r, 409, "email_taken", api.version)
    assert api.names() == ["first"]


# -- deactivation (spec §2.1, §2.3, §6.1, §12, §13, §16.7, §16.26) -----------------------------


def test_delete_deactivates_idempotently_and_the_user_stays_visible(api):
    """§2.3: "DELETE /Users/<id> | 200, empty body | 204"; "idempotent: calling it 2-3
    times on the same user succeeds each time"; "A deactivated user is still returned by GET
    with "active": false"; §12 "Deactivated users stay listed with active:false"."""
    user = api.create("leaver")
    keeper = api.create("keeper")
    for _ in range(3):
        r = api.delete(user["id"])
        assert r.status_code == (200 if api.version == 1 else 204), r.text
        assert r.content == b""
    assert api.get(user["id"])["active"] is False
    listed = {u["userName"]: u["active"] for u in api.find()}
    assert listed == {"leaver": False, "keeper": True}
    assert [u["active"] for u in api.find('userName eq "leaver"')] == [False]
    assert api.names("active eq false") == ["leaver"]
    assert api.names("active eq true") == ["keeper"]
    assert api.get(keeper["id"])["active"] is True


@pytest.mark.parametrize("how", ["patch", "put"])
def test_active_false_deactivates_and_true_reactivates(api, how):
    """§6.1: "`active: false` deactivates, `active: true` reactivates"; §6.4 "`active:
    true` in a PUT reactivates"; §12 "reactivate with PATCH/PUT active:true"."""
    user = api.create("toggle")

    def write(active: bool) -> dict:
        if how == "patch":
            return api.changed(api.set(user["id"], {"active": active}))
        body = api.body("toggle", active=active)
        body["emails"] = user["emails"]
        return api.changed(api.put(user["id"], body))

    assert write(False)["active"] is False
    assert api.get(user["id"])["active"] is False
    assert write(True)["active"] is True
    assert api.get(user["id"])["active"] is True


def test_put_without_active_keeps_it(api):
    """§16.7: "A PUT that omits `active` leaves `active` as it was; only an explicit `active`
    changes it"."""
    user = api.create("steady")
    body = api.body("steady", title="One")
    body["emails"] = user["emails"]
    assert api.changed(api.put(user["id"], body))["active"] is True
    api.deactivate(user["id"])
    body["title"] = "Two"
    done = api.changed(api.put(user["id"], body))
    assert done["active"] is False
    assert done["title"] == "Two"
    assert api.get(user["id"])["active"] is False


@pytest.mark.parametrize("how", ["delete", "patch", "put"])
def test_deactivation_removes_the_user_from_every_group(api, how):
    """§16.26: "Deactivation removes the user from every group ... Reactivation alone does not
    re-add them"."""
    user = api.create("grouped")
    other = api.create("stays")
    g1 = api.make_group("one", [user["id"], other["id"]])
    g2 = api.make_group("two", [user["id"]])
    assert len(api.get(user["id"])["groups"]) == 2
    if how == "delete":
        api.deactivate(user["id"])
    elif how == "patch":
        assert api.set(user["id"], {"active": False}).status_code == 200
    else:
        body = api.body("grouped", active=False)
        body["emails"] = user["emails"]
        assert api.put(user["id"], body).status_code == 200
    assert api.get(user["id"])["groups"] == []
    assert api.group_members(g1["id"]) == [other["id"]]
    assert api.group_members(g2["id"]) == []
    assert api.changed(api.set(user["id"], {"active": True}))["groups"] == []
    assert api.group_members(g2["id"]) == []


def disable(api: Api, user: dict, how: str) -> httpx.Response:
    if how == "delete":
        return api.delete(user["id"])
    if how == "patch":
        return api.set(user["id"], {"active": False})
    body = api.body(user["userName"], active=False)
    body["emails"] = user["emails"]
    return api.put(user["id"], body)


@pytest.mark.parametrize("how", ["delete", "patch", "put"])
def test_primary_owner_cannot_be_deactivated(api, db, how):
    """§12: "Primary owner can't be deactivated (`cannot_disable_primary_owner` ...)";
    403 (§7.2)."""
    user = api.create("founder")
    set_role(db, api, user["id"], "primary_owner")
    assert_error(disable(api, user, how), 403, "cannot_disable_primary_owner", api.version)
    assert api.get(user["id"])["active"] is True


@pytest.mark.parametrize("how", ["delete", "patch", "put"])
def test_bots_cannot_be_deactivated(api, db, how):
    """§3.3: bots "cannot be deactivated via SCIM (`cannot_disable_bot_user_with_scim`)";
    403 (§7.2)."""
    user = api.create("botty")
    set_flags(db, api, user["id"], is_bot=True)
    assert_error(disable(api, user, how), 403, "cannot_disable_bot_user_with_scim",
                 api.version)
    assert api.get(user["id"])["active"] is True


@pytest.mark.parametrize("how", ["patch", "put", "delete", "deactivate", "guest"])
def test_gdpr_erased_users_are_immutable(api, db, how):
    """§12: "Users with GDPR-erased data are immutable (`cannot_modify_gdpr`)"; 403 (§7.2) on
    any write; the user can still be read."""
    user = api.create("forgotten", title="Before")
    set_flags(db, api, user["id"], erased=True)
    if how == "patch":
        r = api.set(user["id"], {"title": "After"})
    elif how == "put":
        body = api.body("forgotten", title="After")
        body["emails"] = user["emails"]
        r = api.put(user["id"], body)
    elif how == "delete":
        r = api.delete(user["id"])
    elif how == "deactivate":
        r = api.set(user["id"], {"active": False})
    else:
        r = to_guest(api, user["id"])
    assert_error(r, 403, "cannot_modify_gdpr", api.version)
    again = api.get(user["id"])
    assert again["title"] == "Before" and again["active"] is True


# -- errors (spec §7, §16.1, §16.2) -------------------------------------------------------------


@pytest.mark.parametrize("method", ["GET", "PATCH", "PUT", "DELETE"])
def test_unknown_user_is_404_no_such_user(api, method):
    """§7.2 / §16.1: "`no_such_user` 404", in the version's error shape (§7.1)."""
    body = None
    if method == "PATCH":
        body = {"schemas": [V1_CORE], "title": "x"} if api.version == 1 else {
            "schemas": [PATCH_URN], "Operations": [{"op": "replace", "path": "title",
                                                    "value": "x"}]}
    elif method == "PUT":
        body = api.body("ghost")
    r = api.client.request(method, f"/Users/{MISSING_ID}", json=body)
    assert_error(r, 404, "no_such_user", api.version)


def test_v1_error_body_is_exactly_errors_description_code(v1):
    """§7.1: "`{"Errors": {"description": "<error_code>", "code": <HTTP status as integer>}}`
    ... Keep exactly the two keys `description` and `code`"."""
    v1.create("dup")
    for r, code, status in ((v1.post(v1.body("dup")), "username_taken", 409),
                            (v1.get_r(MISSING_ID), "no_such_user", 404)):
        body = r.json()
        assert r.status_code == status
        assert list(body) == ["Errors"] and list(body["Errors"]) == ["description", "code"]
        assert body["Errors"]["code"] == status
        assert re.fullmatch(rf"{code}( \(.+\))?", body["Errors"]["description"]), body


def test_v2_error_body_is_schemas_detail_status(v2):
    """§7.1 / §16.2: v2 errors are ``{"schemas": ["urn:ietf:params:scim:api:messages:2.0:
    Error"], "detail": "<code>", "status": <int>}`` — no ``scimType``."""
    v2.create("dup")
    r = v2.post(v2.body("dup"))
    assert r.json() == {"schemas": [ERROR_URN], "detail": "username_taken", "status": 409}
    r = v2.get_r(MISSING_ID)
    assert r.json() == {"schemas": [ERROR_URN], "detail": "no_such_user", "status": 404}
    assert r.headers["content-type"].startswith("application/json")


@pytest.mark.parametrize("header", [None, "Bearer xoxp-not-a-real-token", "Basic abc"],
                         ids=["no-token", "unknown-token", "not-bearer"])
def test_401_uses_the_v1_shape_in_both_versions(slack_http, version, header):
    """§1.2: "`invalid_authentication` ... Observed as HTTP 401 with
    `{"Errors":{"description":"invalid_authentication","code":401}}` on both v1 and v2";
    `missing_authentication` — no token; §16.2: 401s use the v1 shape on v2 too."""
    headers = {"Authorization": header} if header else {}
    r = slack_http.get(f"/scim/v{version}/Users", headers=headers)
    code = assert_error(r, 401, ("invalid_authentication", "missing_authentication"), version)
    if header and header.startswith("Bearer"):
        assert code == "invalid_authentication"
        assert r.json() == {"Errors": {"description": "invalid_authentication", "code": 401}}


def test_401_for_a_token_without_the_admin_scope(slack_http, db, version):
    """§1.2: "`invalid_authentication` — bad token, missing `admin` scope ..."; 401 in the v1
    shape on both versions (§16.2)."""
    with db.write() as conn:
        tenant = tenants.create_tenant(conn, name="noscope", plan="enterprise",
                                       dialect="slack")
        token = tenants.create_token(conn, tenant.pk, label="test", scopes="read")
    r = slack_http.get(f"/scim/v{version}/Users", headers={"Authorization": f"Bearer {token}"})
    assert_error(r, 401, "invalid_authentication", version)


def test_success_content_type_is_application_json(api):
    """§7.1: "Response content type `application/json; charset=utf-8`"."""
    r = api.post(api.body("ct"))
    assert r.headers["content-type"].replace(" ", "").lower() == \
        "application/json;charset=utf-8"
    r = api.get_r(r.json()["id"])
    assert r.headers["content-type"].split(";")[0] == "application/json"


# -- one directory behind both versions (spec §2, §3.1) ----------------------------------------


def test_user_created_on_v1_is_served_by_v2_and_back(v1):
    """§2.2: v2 serves "Same resource endpoints as v1"; §3.1: the URNs differ per version but
    the user is the same (same id, same data)."""
    v2 = v1.sibling(2)
    body = v1.body("both", title="Detective")
    body["schemas"] = [V1_CORE, V1_ENTERPRISE]
    body[V1_ENTERPRISE] = {"department": "Nine-Nine"}
    r = v1.post(body)
    assert r.status_code == 201, r.text
    uid = r.json()["id"]
    seen = v2.get(uid)
    assert seen["id"] == uid and seen["userName"] == "both"
    assert seen["schemas"][0] == V2_CORE
    assert seen[V2_ENTERPRISE]["department"] == "Nine-Nine"
    assert V1_ENTERPRISE not in seen
    assert seen["meta"]["location"].endswith(f"/scim/v2/Users/{uid}")
    assert [u["id"] for u in v2.find('userName eq "both"')] == [uid]
    v2.changed(v2.ops(uid, {"op": "replace", "path": "title", "value": "Sergeant"}))
    back = v1.get(uid)
    assert back["title"] == "Sergeant" and back[V1_ENTERPRISE]["department"] == "Nine-Nine"
    assert back["schemas"][0] == V1_CORE
    v2.deactivate(uid)
    assert v1.get(uid)["active"] is False
    assert [u["active"] for u in v1.find('userName eq "both"')] == [False]
    v1.changed(v1.set(uid, {"active": True}))
    assert v2.get(uid)["active"] is True
    v1.deactivate(uid)
    assert v2.get(uid)["active"] is False


# -- the spec's own example payloads (spec §3.5, §6.2) ------------------------------------------


SPEC_3_5 = {
    "schemas": [V2_CORE, V2_ENTERPRISE, V2_PROFILE, V2_GUEST],
    "id": "U04XYZ789",
    "externalId": "",
    "meta": {"created": "2023-06-01T11:02:33-07:00",
             "location": "https://api.slack.com/scim/v2/Users/U04XYZ789"},
    "userName": "contractor_kim",
    "nickName": "contractor_kim",
    "name": {"givenName": "Kim", "familyName": "Park", "honorificPrefix": None},
    "displayName": "Kim (contractor)",
    "profileUrl": "https://acme.enterprise.slack.com/team/contractor_kim",
    "title": "",
    "timezone": "America/Los_Angeles",
    "active": True,
    "emails": [{"value": "kim@vendor.example", "primary": True}],
    "photos": [{"value": "https://secure.gravatar.com/avatar/9a8b7c.jpg?s=192", "type": "photo"}],
    "addresses": [{"streetAddress": None, "locality": None, "region": None,
                   "postalCode": None, "country": None}],
    "phoneNumbers": [{"value": None, "type": "mobile"}, {"value": None, "primary": True}],
    "userType": None,
    "roles": [{"value": None, "primary": True}],
    "preferredLanguage": None,
    "locale": None,
    V2_ENTERPRISE: {"employeeNumber": None, "costCenter": None, "organization": None,
                    "division": None, "department": None, "manager": {"managerId": None}},
    V2_PROFILE: {"startDate": None},
    "groups": [],
    V2_GUEST: {"type": "multi", "expiration": "2025-12-31T23:59:59Z",
               "channels": [{"value": "C07CHAN01", "display": "vendor-project"}]},
}


def test_spec_3_5_example_is_accepted_and_answered_in_the_same_shape(v2):
    """§3.5: the example v2 user (a multi-channel guest), sent back as a POST the way clients
    GET-modify-PUT (§6.4: read-only fields "must be tolerated/ignored"), comes back with the
    same keys in the same order and the same values except the server-set ``id``,
    ``meta``, ``profileUrl`` and the read-only guest ``channels`` (§16.14)."""
    r = v2.post(SPEC_3_5)
    assert r.status_code == 201, r.text
    user = r.json()
    assert list(user) == list(SPEC_3_5)
    assert user["id"] != "U04XYZ789" and re.fullmatch(r"[UW][A-Z0-9]+", user["id"])
    assert user["profileUrl"].endswith("/team/contractor_kim")
    assert CREATED.match(user["meta"]["created"])
    for key in SPEC_3_5:
        if key in ("id", "meta", "profileUrl", V2_GUEST):
            continue
        assert user[key] == SPEC_3_5[key], key
    assert user[V2_GUEST] == {"type": "multi", "expiration": "2025-12-31T23:59:59Z",
                              "channels": []}
    assert v2.get(user["id"]) == user
    again = {**SPEC_3_5, "id": user["id"], "title": "Vendor"}
    replaced = v2.changed(v2.put(user["id"], again))
    assert replaced["title"] == "Vendor" and list(replaced) == list(SPEC_3_5)


SECONDARY = "rich.home@example.com"

# Each case: the operations of a §6.2 example, then what the answer must show.
SPEC_6_2_CASES: list[tuple[str, list[dict], dict]] = [
    ("simple-paths", [
        {"op": "replace", "path": "userName", "value": "kim.park"},
        {"op": "replace", "path": "displayName", "value": "Kim P"},
        {"op": "replace", "path": "title", "value": "Lead"},
        {"op": "replace", "path": "userType", "value": "Contractor"},
        {"op": "replace", "path": "preferredLanguage", "value": "en_GB"},
        {"op": "replace", "path": "locale", "value": "en-GB"},
        {"op": "replace", "path": "timezone", "value": "Europe/London"},
    ], {"userName": "kim.park", "nickName": "kim.park", "displayName": "Kim P",
        "title": "Lead", "userType": "Contractor", "preferredLanguage": "en_GB",
        "locale": "en-GB", "timezone": "Europe/London"}),
    ("nickName", [{"op": "replace", "path": "nickName", "value": "kp"}],
     {"userName": "kp", "nickName": "kp"}),
    ("capitalised-op", [{"op": "Replace", "path": "title", "value": "Chief"}],
     {"title": "Chief"}),
    ("no-path-object", [{"op": "replace", "value": {"title": "Boss", "displayName": "B"}}],
     {"title": "Boss", "displayName": "B"}),
    ("name-object", [{"op": "replace", "path": "name",
                      "value": {"givenName": "Kim", "familyName": "Park"}}],
     {"name": {"givenName": "Kim", "familyName": "Park", "honorificPrefix": "Det."}}),
    ("name-givenName", [{"op": "replace", "path": "name.givenName", "value": "Kimberly"}],
     {"name": {"givenName": "Kimberly", "familyName": "Diaz", "honorificPrefix": "Det."}}),
    ("name-honorificPrefix", [{"op": "replace", "path": "name.honorificPrefix",
                               "value": "Dr."}],
     {"name": {"givenName": "Rosa", "familyName": "Diaz", "honorificPrefix": "Dr."}}),
    ("emails-array", [{"op": "replace", "path": "emails",
                       "value": [{"value": "new@example.com", "primary": True}]}],
     {"emails": [{"value": "new@example.com", "primary": True}]}),
    ("emails-object", [{"op": "replace", "path": "emails",
                        "value": {"value": "new@example.com", "primary": True}}],
     {"emails": [{"value": "new@example.com", "primary": True}]}),
    ("emails-secondary-replace", [{"op": "replace", "path": "emails[primary eq false]",
                                   "value": {"value": "other@example.com"}}],
     {"emails": [{"value": "rich@example.com", "primary": True},
                 {"value": "other@example.com", "primary": False}]}),
    ("emails-secondary-remove", [{"op": "remove", "path": "emails[primary eq false]"}],
     {"emails": [{"value": "rich@example.com", "primary": True}]}),
    ("emails-by-value-remove", [{"op": "remove", "path": f'emails[value eq "{SECONDARY}"]'}],
     {"emails": [{"value": "rich@example.com", "primary": True}]}),
    ("phones-array", [{"op": "replace", "path": "phoneNumbers",
                       "value": [{"value": "333-333-3333", "type": "mobile"},
                                 {"value": "444-444-4444", "type": "work"}]}],
     {"phoneNumbers": v2_phones("444-444-4444", "333-333-3333")}),
    ("phones-object", [{"op": "replace", "path": "phoneNumbers",
                        "value": {"value": "333-333-3333", "primary": True}}],
     {"phoneNumbers": v2_phones(None, "333-333-3333")}),
    ("phones-by-value-remove", [{"op": "remove", "path": 'phoneNumbers[value eq "555-0199"]'}],
     {"phoneNumbers": v2_phones(None, "555-0100")}),
    ("phones-by-value-replace", [{"op": "replace", "path": 'phoneNumbers[value eq "555-0100"]'
                                  ".value", "value": "333-333-3333"}],
     {"phoneNumbers": v2_phones("555-0199", "333-333-3333")}),
    ("phones-remove", [{"op": "remove", "path": "phoneNumbers"}],
     {"phoneNumbers": v2_phones(None, None)}),
    ("photos", [{"op": "replace", "path": "photos",
                 "value": [{"value": "https://img.example.com/new.png", "primary": True}]}],
     {"photos": [{"value": "https://img.example.com/new.png", "type": "photo"}]}),
    ("addresses", [{"op": "replace", "path": "addresses",
                    "value": [{"locality": "Queens", "country": "US", "type": "work"}]}],
     {"addresses": [{"streetAddress": None, "locality": "Queens", "region": None,
                     "postalCode": None, "country": "US"}]}),
    ("addresses-remove", [{"op": "remove", "path": "addresses"}],
     {"addresses": empty_address()}),
    ("address-typo-remove", [{"op": "remove", "path": "address"}],
     {"addresses": empty_address()}),
    ("roles-strings", [{"op": "replace", "path": "roles", "value": ["Manager"]}],
     {"roles": [{"value": "Manager", "primary": True}]}),
    ("roles-objects", [{"op": "replace", "path": "roles",
                        "value": [{"value": "Manager", "primary": True}]}],
     {"roles": [{"value": "Manager", "primary": True}]}),
    ("roles-remove", [{"op": "remove", "path": "roles"}],
     {"roles": [{"value": None, "primary": True}]}),
    ("enterprise-add-partial", [{"op": "add", "path": V2_ENTERPRISE,
                                 "value": {"department": "Vice", "costCenter": "CC9"}}],
     {V2_ENTERPRISE: {"employeeNumber": "99", "costCenter": "CC9", "organization": "ACME",
                      "division": "East", "department": "Vice",
                      "manager": {"managerId": "W0MANAGER1"}}}),
    ("enterprise-replace-partial", [{"op": "replace", "path": V2_ENTERPRISE,
                                     "value": {"division": "West"}}],
     {V2_ENTERPRISE: {"employeeNumber": "99", "costCenter": "CC1", "organization": "ACME",
                      "division": "West", "department": "Detectives",
                      "manager": {"managerId": "W0MANAGER1"}}}),
    ("enterprise-remove", [{"op": "remove", "path": V2_ENTERPRISE}],
     {V2_ENTERPRISE: {**dict.fromkeys(ENTERPRISE_KEYS), "manager": {"managerId": None}}}),
    ("enterprise-colon", [
        {"op": "replace", "path": f"{V2_ENTERPRISE}:employeeNumber", "value": "100"},
        {"op": "replace", "path": f"{V2_ENTERPRISE}:costCenter", "value": "CC2"}],
     {V2_ENTERPRISE: {"employeeNumber": "100", "costCenter": "CC2", "organization": "ACME",
                      "division": "East", "department": "Detectives",
                      "manager": {"managerId": "W0MANAGER1"}}}),
    ("enterprise-dot-manager", [{"op": "replace", "path": f"{V2_ENTERPRISE}.manager.managerId",
                                 "value": "W0MANAGER2"}],
     {V2_ENTERPRISE: {"employeeNumber": "99", "costCenter": "CC1", "organization": "ACME",
                      "division": "East", "department": "Detectives",
                      "manager": {"managerId": "W0MANAGER2"}}}),
    ("profile-start-date", [{"op": "replace", "path": f"{V2_PROFILE}:startDate",
                             "value": "2024-04-10T00:00:00+0000"}],
     {V2_PROFILE: {"startDate": "2024-04-10T00:00:00+0000"}}),
    ("guest-add", [{"op": "add", "path": V2_GUEST,
                    "value": {"type": "multi", "expiration": "2030-11-30T23:59:59Z"}}],
     {V2_GUEST: {"type": "multi", "expiration": "2030-11-30T23:59:59Z", "channels": []}}),
]


@pytest.mark.parametrize(("ops", "expected"), [c[1:] for c in SPEC_6_2_CASES],
                         ids=[c[0] for c in SPEC_6_2_CASES])
def test_spec_6_2_patch_examples(v2, ops, expected):
    """§6.2: the documented v2 PATCH paths — simple attributes, ``name`` and its
    sub-attributes, ``emails`` (object or array, ``[primary eq false]``, ``[value eq
    "x@y"]``), ``phoneNumbers`` (object or array, ``[value eq ...]``, ``[value eq
    ...].value``, ``remove`` wipes both), ``photos``, ``addresses`` (``remove`` wipes;
    ``address`` typo), ``roles`` (strings or objects; ``remove`` wipes), the enterprise
    object (partial add/replace, remove) and sub-attributes with a colon and a dot, the
    guest extension; ``"op": "Replace"`` compares case-insensitively."""
    user = rich_user(v2)
    done = v2.changed(v2.ops(user["id"], *ops))
    for key, value in expected.items():
        assert done[key] == value, key
    again = v2.get(user["id"])
    for key, value in expected.items():
        assert again[key] == value, key
    untouched = {k for k in ("title", "displayName", "emails", "phoneNumbers", "addresses",
                             "roles", "photos", V2_ENTERPRISE, "name") if k not in expected}
    for key in untouched:
        assert done[key] == user[key], key


def test_spec_6_2_guest_remove_converts_back_to_member(v2):
    """§6.2: "`remove` of that path converts back to full member; `remove` of
    `….User.expiration` clears expiry"."""
    r = v2.post(guest_body(v2, "g", expiration="2030-11-30T23:59:59Z"))
    uid = r.json()["id"]
    done = v2.changed(v2.ops(uid, {"op": "remove", "path": f"{V2_GUEST}.expiration"}))
    assert done[V2_GUEST] == {"type": "multi", "channels": []}
    done = v2.changed(v2.ops(uid, {"op": "remove", "path": V2_GUEST}))
    assert V2_GUEST not in done and V2_GUEST not in done["schemas"]
    assert v2.names("restricted eq 1") == []


def test_spec_6_2_active_path(v2):
    """§6.2 simple path ``active``: ``replace`` false deactivates, true reactivates."""
    user = v2.create("act")
    assert v2.changed(v2.ops(user["id"], {"op": "replace", "path": "active",
                                          "value": False}))["active"] is False
    assert v2.changed(v2.ops(user["id"], {"op": "replace", "path": "active",
                                          "value": True}))["active"] is True


# -- users created without a name (spec §3.2) ---------------------------------------------------


@pytest.mark.parametrize("write", ["patch", "delete"])
def test_user_created_without_a_name_can_still_be_updated(api, write):
    """§3.2 name: "If `name` omitted on create, Slack filled `givenName` from `displayName`
    and `familyName: ""`"; `invalid_name_required` is for names whose given and family
    parts are "whitespace-only" when sent — a write that does not touch the name must
    work (§6.1 "only supplied attributes change"; §2.1 DELETE deactivates)."""
    r = api.post({"schemas": [api.core], "userName": "noname",
                  "emails": [{"value": "noname@example.com"}]})
    assert r.status_code == 201, r.text
    uid = r.json()["id"]
    if write == "patch":
        assert api.set(uid, {"title": "Detective"}).status_code == 200
    else:
        assert api.delete(uid).status_code == (200 if api.version == 1 else 204)
