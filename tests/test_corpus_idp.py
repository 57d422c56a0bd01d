"""Replay of the IdP request corpus (``/work/shared/corpus/idp/``) against the server.

The corpus README (``/work/shared/corpus/idp/README.md``) defines the format this
module follows: each ``<idp>-NN-<short-name>.json`` file is one case with an
``operation``, the ``dialects`` that must accept it, optional ``setup`` requests
(whose ``id`` is recorded under ``save_as``), the ``request`` under test and
``expect.status`` / ``expect.checks``. ``{name}`` placeholders name saved ids and
are substituted in paths and, recursively, in every string of a body.

The replay procedure is README "Replaying a case": a fresh tenant of the case's
dialect; every setup step in order and each must answer 2xx; the request sent
with the listed headers (query strings go out verbatim: they are already
percent-encoded as the provider sends them; only the raw double quotes of
``entra-05`` are percent-encoded by the HTTP client, which the README calls an
equivalent URL); the status must be one of ``expect.status``; a 5xx is always a
failure. Every plain-language line of ``expect.checks`` is an assertion in
:data:`CHECKS`; lines prefixed ``rfc:`` or ``slack:`` apply to that dialect only,
and "the primary email" is the entry with ``primary: true``.

Each case runs for each dialect it lists, on SQLite and on PostgreSQL (the
fixtures of ``tests/conftest.py``). Dialects not yet in
:data:`IMPLEMENTED_DIALECTS` are collected but skipped.
"""

from __future__ import annotations

import inspect
import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest


def _corpus_dir() -> Path:
    """``shared/corpus/idp`` beside the checkout (as CI lays it out), or SCIMD_IDP_CORPUS."""
    if os.environ.get("SCIMD_IDP_CORPUS"):
        return Path(os.environ["SCIMD_IDP_CORPUS"])
    beside = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "idp"
    return beside if beside.is_dir() else Path("/work/shared/corpus/idp")


CORPUS_DIR = _corpus_dir()
if not any(CORPUS_DIR.glob("*.json")):  # never pass by replaying nothing
    raise RuntimeError(f"no IdP corpus at {CORPUS_DIR}: set SCIMD_IDP_CORPUS")
IMPLEMENTED_DIALECTS = ("rfc", "slack")
"""Dialects whose cases run; the others are collected and skipped."""
KNOWN_DIALECTS = ("rfc", "slack")

CORE_USER_URN = "urn:ietf:params:scim:schemas:core:2.0:User"
ENTERPRISE_URN = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
LIST_URN = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
ERROR_URN = "urn:ietf:params:scim:api:messages:2.0:Error"
PATCH_URN = "urn:ietf:params:scim:api:messages:2.0:PatchOp"

PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


def _load_cases() -> dict[str, dict]:
    if not CORPUS_DIR.is_dir():
        return {}
    return {p.stem: json.loads(p.read_text(encoding="utf-8"))
            for p in sorted(CORPUS_DIR.glob("*.json"))}


CASES = _load_cases()


def _params() -> list[Any]:
    return [pytest.param(name, dialect, id=f"{name}[{dialect}]")
            for name, case in CASES.items() for dialect in case.get("dialects", [])]


# -- replay -------------------------------------------------------------------------------


def substitute(value: Any, ids: dict[str, str]) -> Any:
    """``value`` with every ``{name}`` replaced by the saved id, walking lists and dicts."""
    if isinstance(value, str):
        def one(m: re.Match[str]) -> str:
            assert m.group(1) in ids, f"placeholder {m.group(0)} used before it was saved"
            return ids[m.group(1)]

        return PLACEHOLDER.sub(one, value)
    if isinstance(value, list):
        return [substitute(v, ids) for v in value]
    if isinstance(value, dict):
        return {substitute(k, ids): substitute(v, ids) for k, v in value.items()}
    return value


def send(client: Any, step: dict, ids: dict[str, str]) -> Any:
    """Send one corpus request (setup step or request under test) and return the response.

    The body is serialised here and sent with ``content=`` so the case's
    ``Content-Type`` (often ``application/scim+json``) is what the server sees.
    """
    path = substitute(step["path"], ids)
    headers = dict(step.get("headers") or {})
    content = None
    if "body" in step:
        content = json.dumps(substitute(step["body"], ids)).encode("utf-8")
        if not any(k.lower() == "content-type" for k in headers):
            headers["Content-Type"] = "application/scim+json"
    r = client.request(step["method"], path, headers=headers, content=content)
    # The query string must arrive as the provider sends it: already-encoded escapes
    # kept as they are, '+' kept; the client may only percent-encode raw '"' (README).
    sent = r.request.url.raw_path.decode("ascii")
    assert sent == (client.prefix + path).replace('"', "%22"), (
        f"the client re-encoded the request target: sent {sent!r} for {path!r}")
    assert r.status_code < 500, (
        f"{step['method']} {path} answered {r.status_code} (5xx is always a failure): {r.text}")
    return r


@dataclass
class Ctx:
    """What a check sees: the response under test, saved ids, dialect and the client."""

    name: str
    case: dict
    dialect: str
    client: Any
    response: Any
    ids: dict[str, str] = field(default_factory=dict)

    @property
    def status(self) -> int:
        return self.response.status_code

    @property
    def rfc(self) -> bool:
        return self.dialect == "rfc"

    @property
    def slack(self) -> bool:
        return self.dialect == "slack"

    def body(self) -> Any:
        """The JSON body of the response under test (which must have one)."""
        assert self.response.content, f"expected a JSON body, got an empty {self.status}"
        return self.response.json()

    def body_if_any(self) -> Any:
        """The JSON body, or ``None`` for a 204 / empty answer."""
        if self.status == 204 or not self.response.content:
            return None
        return self.response.json()

    def sent_body(self) -> Any:
        return substitute(self.case["request"].get("body"), self.ids)

    def get(self, path: str) -> Any:
        """A follow-up GET (placeholders substituted); never a 5xx."""
        path = substitute(path, self.ids)
        r = self.client.get(path)
        assert r.status_code < 500, f"GET {path} answered {r.status_code}: {r.text}"
        return r

    def read(self, path: str) -> dict:
        """A follow-up GET that must answer 200 with a JSON object."""
        r = self.get(path)
        assert r.status_code == 200, f"GET {substitute(path, self.ids)}: {r.status_code} {r.text}"
        doc = r.json()
        assert isinstance(doc, dict)
        return doc

    def user(self, key: str = "user_id") -> dict:
        return self.read(f"/Users/{self.ids[key]}")

    def group(self, key: str = "group_id") -> dict:
        return self.read(f"/Groups/{self.ids[key]}")

    def search(self, resource: str, filter_text: str, extra: str = "") -> dict:
        """``GET /<resource>?filter=...`` with the filter percent-encoded; a ListResponse."""
        doc = self.read(f"/{resource}?filter={quote(filter_text, safe='')}{extra}")
        assert_list_response(doc)
        return doc


def replay(name: str, case: dict, client: Any, dialect: str) -> Ctx:
    """Run a case's setup steps and request (README "Replaying a case", steps 1-4 and 6)."""
    ids: dict[str, str] = {}
    for i, step in enumerate(case.get("setup", [])):
        r = send(client, step, ids)
        assert 200 <= r.status_code < 300, (
            f"{name}: setup step {i} ({step['method']} {step['path']}) answered "
            f"{r.status_code}: {r.text}")
        if "save_as" in step:
            rid = r.json().get("id")
            assert isinstance(rid, str) and rid, f"{name}: setup step {i} returned no id"
            ids[step["save_as"]] = rid
    r = send(client, case["request"], ids)
    expected = case["expect"]["status"]
    assert r.status_code in expected, (
        f"{name} [{dialect}]: {case['request']['method']} {case['request']['path']} answered "
        f"{r.status_code}, expected one of {expected}: {r.text}")
    return Ctx(name, case, dialect, client, r, ids)


# -- assertion helpers -----------------------------------------------------------------------


def is_int(value: Any) -> bool:
    """A JSON integer (not a string, not a boolean)."""
    return isinstance(value, int) and not isinstance(value, bool)


def assert_list_response(doc: Any) -> list[dict]:
    """``doc`` is a ListResponse (RFC 7644 §3.4.2); its resources (``[]`` if absent)."""
    assert isinstance(doc, dict), doc
    assert LIST_URN in doc.get("schemas", []), f"not a ListResponse: {doc}"
    resources = doc.get("Resources", [])
    assert isinstance(resources, list), doc
    return resources


def assert_single_result(doc: Any, resource_id: str) -> dict:
    """A ListResponse with totalResults 1 whose only resource has id ``resource_id``."""
    resources = assert_list_response(doc)
    assert doc.get("totalResults") == 1, f"totalResults is {doc.get('totalResults')}: {doc}"
    assert len(resources) == 1, resources
    assert resources[0].get("id") == resource_id, resources[0]
    return resources[0]


def assert_error(doc: Any, status: int, dialect: str) -> None:
    """A SCIM Error (RFC 7644 §3.12); ``status`` a string in rfc, an integer in slack."""
    assert isinstance(doc, dict), doc
    assert ERROR_URN in doc.get("schemas", []), f"not a SCIM Error: {doc}"
    if dialect == "slack":
        assert is_int(doc.get("status")) and doc["status"] == status, doc
    else:
        assert doc.get("status") == str(status), doc


def primary_email(user: dict) -> dict:
    """The email entry with ``primary: true`` (there must be exactly one)."""
    emails = user.get("emails") or []
    primaries = [e for e in emails if e.get("primary") is True]
    assert len(primaries) == 1, f"expected exactly one primary email: {emails}"
    return primaries[0]


def email_values(user: dict) -> list[str]:
    return [e.get("value") for e in user.get("emails") or []]


def manager_of(user: dict, dialect: str) -> Any:
    """The manager id: enterprise ``manager.value`` (rfc) or ``manager.managerId`` (slack)."""
    ext = user.get(ENTERPRISE_URN)
    assert isinstance(ext, dict), f"no enterprise extension in {user}"
    manager = ext.get("manager")
    assert isinstance(manager, dict), f"manager is not a complex value: {manager!r}"
    return manager.get("managerId" if dialect == "slack" else "value")


def member_ids(group: dict) -> list[str]:
    return [m.get("value") for m in group.get("members") or []]


def is_unassigned(value: Any) -> bool:
    """Null, empty, or only nulls (RFC 7643 §2.5 treats these as the same state)."""
    if value is None or value == [] or value == {} or value == "":
        return True
    if isinstance(value, list):
        return all(is_unassigned(v) for v in value)
    if isinstance(value, dict):
        return all(is_unassigned(v) for k, v in value.items() if k not in ("type", "primary"))
    return False


def all_keys(value: Any) -> set[str]:
    """Every dict key anywhere inside ``value``."""
    keys: set[str] = set()
    if isinstance(value, dict):
        for k, v in value.items():
            keys.add(k)
            keys |= all_keys(v)
    elif isinstance(value, list):
        for v in value:
            keys |= all_keys(v)
    return keys


def assert_server_timestamp(value: Any) -> None:
    assert isinstance(value, str) and value, f"not a timestamp: {value!r}"
    datetime.fromisoformat(value.replace("Z", "+00:00"))


# -- checks, one function per case ---------------------------------------------------------


def check_entra_01(ctx: Ctx) -> None:
    """Test Connection: looks up a user by a random GUID on the matching attribute and expects
    an empty list."""
    doc = ctx.body()
    resources = assert_list_response(doc)  # body is a ListResponse
    assert doc.get("totalResults") == 0, doc  # totalResults is 0
    assert resources == [], resources  # Resources is empty or absent
    assert ctx.status == 200  # no 404 is returned for an empty result


def check_entra_02(ctx: Ctx) -> None:
    """provisions a newly assigned user with core + enterprise schemas, externalId,
    meta.resourceType and an empty roles list"""
    user = ctx.body()
    assert isinstance(user.get("id"), str) and user["id"], user
    assert user.get("userName") == "wren.okafor", user
    assert user.get("active") is True, user
    assert primary_email(user).get("value") == "wren.okafor@lumenfield.example"
    assert user.get("name", {}).get("givenName") == "Wren", user
    assert user["name"].get("familyName") == "Okafor", user
    # the client-sent meta object is ignored: resourceType User, created set by the server
    meta = user.get("meta") or {}
    assert meta.get("resourceType") == "User", meta
    assert_server_timestamp(meta.get("created"))
    # an empty roles list is accepted without error (201 above) and no role is invented
    assert ctx.status == 201
    assert is_unassigned(user.get("roles")), user.get("roles")
    if ctx.rfc:
        assert user.get("externalId") == "c3b1f6d2-7a4e-4f0b-9d1e-2a6c5b8e0f11", user


def check_entra_03(ctx: Ctx) -> None:
    """reads a user id that does not exist and expects a SCIM 404 error"""
    assert ctx.status == 404
    assert_error(ctx.body(), 404, ctx.dialect)


def check_entra_04(ctx: Ctx) -> None:
    """matches an existing user by userName before deciding to create or update"""
    doc = ctx.body()
    found = assert_single_result(doc, ctx.ids["user_id"])
    assert found.get("userName") == "ines.varga", found
    assert doc.get("startIndex") == 1 and is_int(doc["startIndex"]), doc


def check_entra_05(ctx: Ctx) -> None:
    """validator-style lookup: the query string uses '+' for spaces and raw (unencoded) double
    quotes"""
    # '+' went out as '+' (send() checks the target verbatim) and was decoded as a space:
    # had it not been, the filter would not parse and the server would answer 400.
    assert "filter=userName+eq+" in ctx.response.request.url.raw_path.decode("ascii")
    found = assert_single_result(ctx.body(), ctx.ids["user_id"])
    assert found.get("userName") == "tomas.reyes", found


def check_entra_06(ctx: Ctx) -> None:
    """matches a user by externalId (Entra's default matching attribute maps mailNickname to
    externalId)"""
    found = assert_single_result(ctx.body(), ctx.ids["user_id"])
    assert found.get("externalId") == "pkowalczyk", found


def check_entra_07(ctx: Ctx) -> None:
    """externalId lookup written with an unquoted comparison value, as in Entra's
    sample-endpoint walkthrough"""
    assert ctx.status < 500
    doc = ctx.body()
    if ctx.status == 200:
        assert_single_result(doc, ctx.ids["user_id"])
    else:
        assert ctx.status == 400
        assert ERROR_URN in doc.get("schemas", []), doc
        assert doc.get("scimType") == "invalidFilter", doc


def check_entra_08(ctx: Ctx) -> None:
    """matches a user on the work email using a value-filtered multi-valued attribute path"""
    assert_single_result(ctx.body(), ctx.ids["user_id"])


def check_entra_09(ctx: Ctx) -> None:
    """updates the work email through a filtered path and the family name, with capitalised
    op 'Replace'"""
    assert [op["op"] for op in ctx.sent_body()["Operations"]] == ["Replace", "Replace"]
    assert ctx.status in (200, 204)  # 'Replace' accepted; its effect is checked below
    user = ctx.user()
    primary = primary_email(user)
    assert primary.get("value") == "odile.marchetti@lumenfield.example", user["emails"]
    if ctx.rfc:
        assert primary.get("type") == "work", primary
    values = email_values(user)
    assert "odile.brun@lumenfield.example" not in values, values
    assert values.count("odile.marchetti@lumenfield.example") == 1, values
    assert user.get("name", {}).get("familyName") == "Marchetti", user
    assert user["name"].get("givenName") == "Odile", user


def check_entra_10(ctx: Ctx) -> None:
    """renames a user by replacing the single-valued userName attribute"""
    assert ctx.user().get("userName") == "kasia.lind"
    assert_single_result(ctx.search("Users", 'userName eq "kasia.lind"'), ctx.ids["user_id"])
    old = ctx.search("Users", 'userName eq "kasia.berg"')
    assert old.get("totalResults") == 0 and assert_list_response(old) == [], old


def check_entra_11(ctx: Ctx) -> None:
    """soft-deletes (disables) a user with op 'Replace', path active and a JSON boolean
    false"""
    # Operations appearing before schemas in the body is accepted
    assert list(ctx.sent_body())[:2] == ["Operations", "schemas"]
    assert ctx.status in (200, 204)
    # a following GET returns 200 with active false (the user is not hidden)
    assert ctx.user().get("active") is False


def check_entra_12(ctx: Ctx) -> None:
    """disables a user the legacy (no aadOptscim062020 flag) way: op 'Replace' with active
    given as the string "False\""""
    assert ctx.sent_body()["Operations"][0]["value"] == "False"
    assert ctx.status in (200, 204)  # not rejected
    body = ctx.body_if_any()
    if body is not None:
        assert body.get("active") is False, body  # not treated as truthy
    assert ctx.user().get("active") is False  # a JSON boolean false, not "False"


def check_entra_13(ctx: Ctx) -> None:
    """disables a user the RFC-compliant way sent when the tenant URL carries aadOptscim062020:
    lower-case op and boolean false"""
    assert ctx.user().get("active") is False


def check_entra_14(ctx: Ctx) -> None:
    """sets a single-valued string attribute with capitalised op 'Add' (legacy behaviour)"""
    assert ctx.sent_body()["Operations"][0]["op"] == "Add"
    assert ctx.status in (200, 204)  # 'Add' accepted case-insensitively
    user = ctx.user()
    assert user.get("nickName") == "bexley", user
    if ctx.slack:
        assert user.get("userName") in ("rebecca.ames", "bexley"), user
    else:
        assert user.get("userName") == "rebecca.ames", user


def check_entra_15(ctx: Ctx) -> None:
    """legacy multi-attribute update: one capitalised 'Replace' per attribute, including a
    filtered email path and an enterprise-extension URN path"""
    user = ctx.user()
    # all six operations applied (the "all" half of all-or-nothing) ...
    assert user.get("displayName") == "Noor Aziz", user
    assert primary_email(user).get("value") == "noor.aziz@lumenfield.example"
    assert "noor.saleh@lumenfield.example" not in email_values(user)
    assert user.get("name", {}).get("givenName") == "Noor", user
    assert user["name"].get("familyName") == "Aziz", user
    assert (user.get(ENTERPRISE_URN) or {}).get("employeeNumber") == "E-40117", user
    if ctx.rfc:
        assert user.get("externalId") == "naziz", user
    # ... and the "nothing" half: the same request shape with a last operation that must
    # fail leaves every earlier operation of it unapplied.
    probe = {"schemas": [PATCH_URN], "Operations": [
        {"op": "Replace", "path": "displayName", "value": "Rollback Probe"},
        {"op": "Replace", "path": "name.familyName", "value": "Probe"},
        {"op": "Replace", "path": "active", "value": "not-a-boolean"},
    ]}
    r = ctx.client.request("PATCH", f"/Users/{ctx.ids['user_id']}", content=json.dumps(probe),
                           headers={"Content-Type": "application/scim+json"})
    assert r.status_code == 400, f"a PATCH with an invalid last op answered {r.status_code}"
    after = ctx.user()
    assert after.get("displayName") == "Noor Aziz", after
    assert after.get("name", {}).get("familyName") == "Aziz", after


def check_entra_16(ctx: Ctx) -> None:
    """flagged multi-attribute update: a filtered email replace plus one path-less 'replace'
    whose value object uses dotted and URN-qualified attribute paths as keys"""
    user = ctx.user()
    assert user.get("name", {}).get("givenName") == "Elif", user
    assert user["name"].get("familyName") == "Sahin", user
    assert user.get("displayName") == "Elif Sahin", user
    assert primary_email(user).get("value") == "elif.sahin@lumenfield.example"
    assert (user.get(ENTERPRISE_URN) or {}).get("employeeNumber") == "E-51203", user
    # the keys were treated as paths: none of them is stored as a literal attribute name
    literal = {"name.givenName", "name.familyName", f"{ENTERPRISE_URN}:employeeNumber"}
    for doc in (user, ctx.body_if_any() or {}):
        assert not literal & all_keys(doc), f"literal dotted keys stored: {doc}"


def check_entra_17(ctx: Ctx) -> None:
    """assigns a manager by sending the manager's id as a bare string at the
    enterprise-extension manager path"""
    assert isinstance(ctx.sent_body()["Operations"][0]["value"], str)
    assert ctx.status in (200, 204)  # the bare string is accepted ...
    # ... as manager.value (rfc) / manager.managerId (slack), not stored as a bare string
    assert manager_of(ctx.user(), ctx.dialect) == ctx.ids["manager_id"]


def check_entra_18(ctx: Ctx) -> None:
    """assigns a manager with op 'Add', the short path 'manager' and a one-element list of
    {$ref, value}"""
    assert ctx.status in (200, 204)
    user = ctx.user()
    # 'manager' resolved to the enterprise extension attribute, not a new core attribute
    assert "manager" not in user, user
    # the one-element list became the single complex value
    assert isinstance(user.get(ENTERPRISE_URN, {}).get("manager"), dict), user
    assert manager_of(user, ctx.dialect) == ctx.ids["manager_id"]


def check_entra_19(ctx: Ctx) -> None:
    """hard-deprovisions a user with DELETE"""
    assert ctx.response.content == b"", ctx.response.content
    r = ctx.get("/Users/{user_id}")
    if ctx.rfc:
        assert r.status_code == 404, r.text
    if ctx.slack:
        assert r.status_code == 200, r.text
        assert r.json().get("active") is False, r.text


def check_entra_20(ctx: Ctx) -> None:
    """provisions a user whose unmapped attributes arrive as explicit JSON nulls (addresses,
    phoneNumbers, title, manager...)"""
    assert ctx.status == 201  # nulls not rejected ...
    user = ctx.body()
    for attr in ("addresses", "phoneNumbers", "preferredLanguage", "title"):
        assert is_unassigned(user.get(attr)), f"{attr} = {user.get(attr)!r}"  # ... but absent
    # top-level department and manager do not cause an error, nor invent a value
    assert is_unassigned(user.get("department")) and is_unassigned(user.get("manager")), user
    ext = user.get(ENTERPRISE_URN) or {}
    assert is_unassigned(ext.get("department")) and is_unassigned(ext.get("manager")), ext
    assert isinstance(user.get("id"), str) and user["id"], user
    assert user.get("userName") == "dana.morrow", user
    assert user.get("displayName") == "Dana Morrow", user
    assert user.get("active") is True, user


def check_entra_21(ctx: Ctx) -> None:
    """provisions a user whose enterprise extension carries manager as a plain string instead
    of a complex object"""
    assert ctx.status == 201  # never a 400 or 500
    created = ctx.body()
    stored = ctx.read(f"/Users/{created['id']}")
    for user in (created, stored):
        assert manager_of(user, ctx.dialect) == ctx.ids["manager_id"]
        ext = user[ENTERPRISE_URN]
        assert ext.get("department") == "Field Ops", ext
        assert ext.get("employeeNumber") == "E-60321", ext


def check_entra_22(ctx: Ctx) -> None:
    """validator-style create: three emails (other, work, home) each with a display
    sub-attribute and no primary flag"""
    user = ctx.body()
    assert user.get("userName") == "aidan.roe", user
    assert_single_result(ctx.search("Users", 'userName eq "aidan.roe"'), user["id"])
    if ctx.rfc:
        kept = sorted((e.get("type"), e.get("value")) for e in user.get("emails") or [])
        assert kept == [("home", "aidan.roe@homemail.example"),
                        ("other", "aidan.roe.alt@lumenfield.example"),
                        ("work", "aidan.roe@lumenfield.example")], user.get("emails")
    if ctx.slack:
        assert 1 <= len(user.get("emails") or []) <= 2, user.get("emails")
        assert primary_email(user).get("value") == "aidan.roe@lumenfield.example"


def check_entra_23(ctx: Ctx) -> None:
    """validator check after a disable: the filter query must still return the user, carrying
    active false"""
    found = assert_single_result(ctx.body(), ctx.ids["user_id"])
    assert "active" in found and found["active"] is False, found


def check_entra_24(ctx: Ctx) -> None:
    """validator pagination walk: second page of five users using startIndex and count"""
    doc = ctx.body()
    page = assert_list_response(doc)
    assert is_int(doc.get("startIndex")) and doc["startIndex"] == 6, doc
    assert len(page) <= 5, page
    assert is_int(doc.get("itemsPerPage")) and doc["itemsPerPage"] == len(page), doc
    assert is_int(doc.get("totalResults")) and doc["totalResults"] >= 11, doc
    # pages 1, 6 and 11 with count=5 together return every user exactly once, stably
    everyone = assert_list_response(ctx.read("/Users?startIndex=1&count=1000"))
    assert len(everyone) == doc["totalResults"] <= 15, "pages 1, 6, 11 cannot cover them all"
    pages = {s: assert_list_response(ctx.read(f"/Users?startIndex={s}&count=5"))
             for s in (1, 6, 11)}
    walked = [u["id"] for s in (1, 6, 11) for u in pages[s]]
    assert len(walked) == len(set(walked)), f"a user appears on two pages: {walked}"
    assert walked == [u["id"] for u in everyone], "pages disagree with the full list"
    assert [u["id"] for u in pages[6]] == [u["id"] for u in page], "page 6 is not stable"
    saved = {v for k, v in ctx.ids.items() if k.startswith("page_user_")}
    assert len(saved) == 11 and saved <= set(walked), saved - set(walked)


def check_entra_25(ctx: Ctx) -> None:
    """provisions a group with the Microsoft ADSCIM group schema URI alongside the core one, an
    externalId and meta.resourceType"""
    assert ctx.status == 201  # the ADSCIM schema URI did not cause a 400
    group = ctx.body()
    assert isinstance(group.get("id"), str) and group["id"], group
    assert group.get("displayName") == "Harbor Analysts", group
    assert not group.get("members"), group


def check_entra_26(ctx: Ctx) -> None:
    """reads a group by id while excluding the members attribute"""
    group = ctx.body()
    assert group.get("id") == ctx.ids["group_id"], group
    assert group.get("displayName") == "Quarry Ops", group
    assert "members" not in group, group
    assert ctx.ids["user_id"] in member_ids(ctx.group()), "the group should have a member"


def check_entra_27(ctx: Ctx) -> None:
    """matches a group by displayName with members excluded (excludedAttributes before filter
    in the query)"""
    found = assert_single_result(ctx.body(), ctx.ids["group_id"])
    assert "members" not in found, found


def check_entra_28(ctx: Ctx) -> None:
    """renames a group with a capitalised 'Replace' of displayName"""
    assert ctx.group().get("displayName") == "Orchard Planning"


def check_entra_29(ctx: Ctx) -> None:
    """adds one member with capitalised 'Add'; the member object carries "$ref": null"""
    assert ctx.sent_body()["Operations"][0]["value"][0]["$ref"] is None
    assert ctx.status in (200, 204)  # a null $ref is accepted
    assert member_ids(ctx.group()).count(ctx.ids["user_id"]) == 1


def check_entra_30(ctx: Ctx) -> None:
    """adds several members in a single PATCH (one Add operation with a two-element value
    list)"""
    assert sorted(member_ids(ctx.group())) == sorted([ctx.ids["user_id"], ctx.ids["user_id_2"]])


def check_entra_31(ctx: Ctx) -> None:
    """legacy member removal: capitalised 'Remove' on path members with the member to drop
    given in a value list"""
    members = member_ids(ctx.group())
    assert members, "the group was emptied"
    assert members == [ctx.ids["user_id_2"]], members


def check_entra_32(ctx: Ctx) -> None:
    """flagged member removal: lower-case 'remove' with a members[value eq "..."] path filter
    and no value"""
    assert member_ids(ctx.group()) == [ctx.ids["user_id_2"]]


def check_entra_33(ctx: Ctx) -> None:
    """deletes a provisioned group"""
    assert ctx.response.content == b"", ctx.response.content
    assert ctx.get("/Groups/{group_id}").status_code == 404


def check_okta_01(ctx: Ctx) -> None:
    """checks whether an assigned user already exists before creating it; nobody matches"""
    doc = ctx.body()
    assert assert_list_response(doc) == [], doc
    assert doc.get("totalResults") == 0, doc
    for key in ("startIndex", "itemsPerPage", "totalResults"):
        assert is_int(doc.get(key)), f"{key} is {doc.get(key)!r}"


def check_okta_02(ctx: Ctx) -> None:
    """creates the user with a password, locale, an empty groups list and Okta's user id as
    externalId"""
    user = ctx.body()
    assert isinstance(user.get("id"), str) and user["id"], user
    assert user.get("userName") == "dario.ferri", user
    assert user.get("active") is True, user
    assert user.get("name", {}).get("givenName") == "Dario", user
    assert user["name"].get("familyName") == "Ferri", user
    assert user.get("displayName") == "Dario Ferri", user
    assert primary_email(user).get("value") == "dario.ferri@lumenfield.example"
    password = ctx.sent_body()["password"]
    for r in (ctx.response, ctx.get(f"/Users/{user['id']}")):
        assert "password" not in {k.lower() for k in all_keys(r.json())}, r.text
        assert password not in r.text, "the password is echoed"
    assert ctx.status == 201  # the read-only groups list did not cause an error
    assert not user.get("groups"), user


def check_okta_03(ctx: Ctx) -> None:
    """tries to create a user that already exists on the server; the server must refuse so Okta
    stops the job"""
    assert_error(ctx.body(), 409, ctx.dialect)
    assert_single_result(ctx.search("Users", 'userName eq "hedda.moss"'), ctx.ids["user_id"])


def check_okta_04(ctx: Ctx) -> None:
    """re-reads a specific user by id to confirm it still exists"""
    user = ctx.body()
    assert user.get("id") == ctx.ids["user_id"], user
    assert user.get("userName") == "cato.ibsen", user
    assert user.get("active") is True, user
    assert CORE_USER_URN in user.get("schemas", []), user


def check_okta_05(ctx: Ctx) -> None:
    """reads a user id that does not exist (spec test with a made-up id)"""
    doc = ctx.body()
    assert ERROR_URN in doc.get("schemas", []), doc


def check_okta_06(ctx: Ctx) -> None:
    """existence check finds the user; Okta then links instead of creating"""
    found = assert_single_result(ctx.body(), ctx.ids["user_id"])
    assert found.get("userName") == "greta.solberg", found


def check_okta_07(ctx: Ctx) -> None:
    """spec test: the same userName lookup written in capitals must still match (userName is
    case-insensitive)"""
    assert_single_result(ctx.body(), ctx.ids["user_id"])


def check_okta_08(ctx: Ctx) -> None:
    """imports users page by page with startIndex and count=100"""
    doc = ctx.body()
    resources = assert_list_response(doc)
    assert is_int(doc.get("startIndex")) and doc["startIndex"] == 1, doc
    assert len(resources) <= 100, len(resources)
    assert ctx.ids["user_id"] in [u.get("id") for u in resources], resources
    assert is_int(doc.get("totalResults")) and doc["totalResults"] >= len(resources), doc


def check_okta_09(ctx: Ctx) -> None:
    """profile update: sends the whole user back with PUT after changing an attribute
    (middleName added)"""
    for user in (ctx.body(), ctx.user()):
        assert user.get("id") == ctx.ids["user_id"], user  # client-sent id accepted
        assert user.get("userName") == "milo.haverford", user
        assert CORE_USER_URN in user.get("schemas", []), user
        if ctx.rfc:
            assert user.get("name", {}).get("middleName") == "Arden", user
        assert user.get("name", {}).get("givenName") == "Milo", user
        assert user["name"].get("familyName") == "Haverford", user
        assert user.get("active") is True, user
        meta = user.get("meta") or {}  # client-sent meta accepted, server meta kept
        assert meta.get("resourceType") == "User", meta
        assert str(meta.get("location", "")).endswith(f"/Users/{ctx.ids['user_id']}"), meta


def check_okta_10(ctx: Ctx) -> None:
    """deactivates a user with a path-less replace whose value object holds active false"""
    body = ctx.body_if_any()
    if ctx.status == 200:
        assert body is not None and body.get("id") == ctx.ids["user_id"], body
        assert body.get("active") is False, body
    assert ctx.user().get("active") is False


def check_okta_11(ctx: Ctx) -> None:
    """reactivates a previously deactivated user with the same path-less replace shape, active
    true"""
    assert ctx.user().get("active") is True


def check_okta_12(ctx: Ctx) -> None:
    """deactivation from an App Integration Wizard app: full PUT of the user with active
    false"""
    assert ctx.body().get("active") is False, ctx.body()
    user = ctx.user()
    assert user.get("id") == ctx.ids["user_id"], user
    assert user.get("active") is False, user


def check_okta_13(ctx: Ctx) -> None:
    """Group Push: creates a group with an empty members list"""
    group = ctx.body()
    assert isinstance(group.get("id"), str) and group["id"], group
    assert group.get("displayName") == "Beacon Squad", group
    assert not group.get("members"), group


def check_okta_14(ctx: Ctx) -> None:
    """renames a pushed group with a path-less replace whose value carries the group id and the
    new displayName"""
    assert ctx.sent_body()["Operations"][0]["value"]["id"] == ctx.ids["group_id"]
    assert ctx.status in (200, 204)  # the id equal to the resource id was accepted
    group = ctx.group()
    assert group.get("displayName") == "Meridian Ops", group
    assert group.get("id") == ctx.ids["group_id"], group


def check_okta_15(ctx: Ctx) -> None:
    """membership sync in one request: removes one member by path filter and adds another with
    value + display"""
    members = member_ids(ctx.group())
    assert ctx.ids["user_id"] in members, members
    assert ctx.ids["user_id_2"] not in members, members
    assert ctx.status in (200, 204)  # the client's display sub-attribute caused no error


def check_okta_16(ctx: Ctx) -> None:
    """full membership push: replace on path members with the complete member list"""
    members = member_ids(ctx.group())
    assert sorted(members) == sorted([ctx.ids["user_id"], ctx.ids["user_id_2"]]), members
    assert ctx.ids["user_id_3"] not in members, members


def check_okta_17(ctx: Ctx) -> None:
    """unlinks a pushed group with 'Delete the group in the target app'"""
    assert ctx.response.content == b"", ctx.response.content
    assert ctx.get("/Groups/{group_id}").status_code == 404
    assert ctx.user().get("id") == ctx.ids["user_id"]


CHECKS: dict[str, Callable[[Ctx], None]] = {
    "entra-01-test-connection-random-guid": check_entra_01,
    "entra-02-create-user": check_entra_02,
    "entra-03-get-user-not-found": check_entra_03,
    "entra-04-filter-username": check_entra_04,
    "entra-05-filter-username-plus-encoded": check_entra_05,
    "entra-06-filter-externalid": check_entra_06,
    "entra-07-filter-externalid-unquoted": check_entra_07,
    "entra-08-filter-emails-work": check_entra_08,
    "entra-09-patch-replace-work-email-and-family-name": check_entra_09,
    "entra-10-patch-replace-username": check_entra_10,
    "entra-11-patch-disable-boolean": check_entra_11,
    "entra-12-patch-disable-string-false": check_entra_12,
    "entra-13-patch-disable-flagged": check_entra_13,
    "entra-14-patch-add-nickname-capitalised": check_entra_14,
    "entra-15-patch-replace-many-legacy": check_entra_15,
    "entra-16-patch-replace-many-flagged": check_entra_16,
    "entra-17-patch-add-manager-plain-string": check_entra_17,
    "entra-18-patch-add-manager-ref-list": check_entra_18,
    "entra-19-delete-user": check_entra_19,
    "entra-20-create-user-with-nulls": check_entra_20,
    "entra-21-create-user-manager-string": check_entra_21,
    "entra-22-create-user-three-emails": check_entra_22,
    "entra-23-disabled-user-still-filterable": check_entra_23,
    "entra-24-paginate-users": check_entra_24,
    "entra-25-create-group": check_entra_25,
    "entra-26-get-group-excluding-members": check_entra_26,
    "entra-27-filter-group-displayname": check_entra_27,
    "entra-28-patch-group-rename": check_entra_28,
    "entra-29-patch-group-add-member": check_entra_29,
    "entra-30-patch-group-add-two-members": check_entra_30,
    "entra-31-patch-group-remove-member-value-list": check_entra_31,
    "entra-32-patch-group-remove-member-path-filter": check_entra_32,
    "entra-33-delete-group": check_entra_33,
    "okta-01-filter-username-no-match": check_okta_01,
    "okta-02-create-user": check_okta_02,
    "okta-03-create-user-duplicate": check_okta_03,
    "okta-04-get-user": check_okta_04,
    "okta-05-get-user-not-found": check_okta_05,
    "okta-06-filter-username-match": check_okta_06,
    "okta-07-filter-username-uppercase": check_okta_07,
    "okta-08-list-users-page": check_okta_08,
    "okta-09-put-user-replace": check_okta_09,
    "okta-10-patch-deactivate": check_okta_10,
    "okta-11-patch-reactivate": check_okta_11,
    "okta-12-put-deactivate": check_okta_12,
    "okta-13-create-group": check_okta_13,
    "okta-14-patch-group-rename": check_okta_14,
    "okta-15-patch-group-remove-and-add-members": check_okta_15,
    "okta-16-patch-group-replace-members": check_okta_16,
    "okta-17-delete-group": check_okta_17,
}


# -- tests -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("case_name", "dialect"), _params())
def test_idp_case(case_name: str, dialect: str, scim) -> None:
    """Replay one corpus case in one dialect and run its checks (corpus README)."""
    if dialect not in IMPLEMENTED_DIALECTS:
        if dialect == "slack":
            pytest.skip("slack dialect: issue 3")
        pytest.skip(f"{dialect} dialect not implemented")
    assert case_name in CHECKS, f"no checks written for corpus case {case_name}"
    ctx = replay(case_name, CASES[case_name], scim(dialect), dialect)
    CHECKS[case_name](ctx)


def test_every_corpus_case_has_checks() -> None:
    """A new corpus file cannot be silently ignored, nor a removed one leave stale checks."""
    assert CASES, f"no corpus cases found in {CORPUS_DIR}"
    assert sorted(CHECKS) == sorted(CASES), (
        f"cases without checks: {sorted(set(CASES) - set(CHECKS))}; "
        f"checks without a case: {sorted(set(CHECKS) - set(CASES))}")
    for name, case in CASES.items():
        assert case["expect"]["checks"], f"{name} has no expect.checks"
        assert case["expect"]["status"], f"{name} has no expect.status"
        assert case["dialects"] and set(case["dialects"]) <= set(KNOWN_DIALECTS), name
        fn = CHECKS[name]
        doc = " ".join((inspect.getdoc(fn) or "").split())
        assert case["operation"] in doc, f"{fn.__name__} does not quote {name}'s operation"
        assert "assert" in inspect.getsource(fn), f"{fn.__name__} asserts nothing"
