"""Whole-directory list pages written from the stored JSON text (``v2_render.user_json``,
``group_json``, ``list_json``) answer exactly what the decoded path answers: the same
resources as ``GET /Users/{id}``, byte for byte where the stored text is orjson's
(SQLite). RFC 7644 §3.4.2 (ListResponse), §3.4.2.4 (paging), §3.4.3 (``.search``);
RFC 7643 §4.1, §4.2 (the resources)."""

from __future__ import annotations

import json

import orjson
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from scimd.directory.policy import policy_named
from scimd.protocol import v2_render
from scimd.protocol.api import wire_for
from scimd.scim.slack_schemas import GUEST_URN
from scimd.store import grid
from scimd.store import users as user_store
from scimd.store.common import new_id
from scimd.store.records import GroupRecord, GroupText, UserRecord, UserText
from scimd.store.stored_form import stored_form

ENT = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
USER_URN = "urn:ietf:params:scim:schemas:core:2.0:User"
SEARCH_URN = "urn:ietf:params:scim:api:messages:2.0:SearchRequest"
BASE = "https://scim.example/scim/v2"
RTYPE = policy_named("rfc").user_type
SLACK_TYPE = policy_named("slack").user_type
"""Three extensions: every subset of them opens a spliced user differently."""
TRICKY = [f'"{ENT}":{{', f'\\"{ENT}\\":', '"}', "\\", '","id":"x', "Zoë ✓ 𝄞", "\u2028"]
"""Text that looks like JSON structure, or needs escaping, inside string values."""
ODD_KEYS = ["schemas", "id", "meta", "groups", ENT, f'x"{ENT}', "a:b", 'q"']
"""Keys the stored form drops or refuses (``store/stored_form.py``)."""


# -- the renderers (property-based) ---------------------------------------------------

text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=12)
scalars = (st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1)
           | st.floats(allow_nan=False, allow_infinity=False) | text | st.sampled_from(TRICKY))
key = text | st.sampled_from(ODD_KEYS)
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3)
                      | st.dictionaries(key, inner, max_size=3), max_leaves=12)
attrs = st.builds(lambda core, ext: {**core, **({ENT: ext} if ext is not None else {})},
                  st.dictionaries(key, values, max_size=6),
                  st.none() | st.dictionaries(key, values, max_size=3))
relations = st.none() | st.lists(st.fixed_dictionaries({
    "value": text, "display": text, "type": st.sampled_from(["direct", "User", "Group"])}),
    max_size=3)
framing = st.fixed_dictionaries({
    "rid": text | st.sampled_from(["U07", '"', "\\", "\u2028"]),
    "stamp": text | st.just("2026-11-27T21:00:00Z"),
    "version": st.integers(0, 2**63 - 1),
    "base": (text | st.sampled_from(['https://h"q/scim/v2', "http://[::1]:8000/\\x"]))})
"""What the server writes around the stored text: id, timestamps, version and the base
of ``meta.location`` (which comes from the ``Host`` header)."""


def _stored(a: dict, relation: str) -> dict:
    """``a`` as a write stores it."""
    return stored_form(a, relation)


def _user(a: dict, groups: list | None, rid: str = "U07", stamp: str = "2026-11-27T21:00:00Z",
          version: int = 3, role: str = "member") -> tuple[UserRecord, UserText]:
    rec = UserRecord(7, rid, a, True, stamp, stamp + "m", version, role, groups=groups)
    raw = UserText(7, rid, orjson.dumps(a), stamp, stamp + "m", version, role, groups=groups)
    return rec, raw


PLAIN = {"rid": "U07", "stamp": "2026-11-27T21:00:00Z", "version": 3, "base": BASE}


@settings(max_examples=400, deadline=None)
@given(attrs, relations, framing)
@example({"userName": "u", "title": f'"{ENT}":{{"x":1}}'}, None, PLAIN)  # URN in a value
@example({"userName": "u", ENT: {}}, [], PLAIN)  # an empty extension still lists its schema
@example({}, None, PLAIN)
def test_a_spliced_user_is_byte_for_byte_the_rendered_user(a, groups, frame):
    a = _stored(a, "groups")
    base = frame["base"]
    rec, raw = _user(a, groups, frame["rid"], frame["stamp"], frame["version"])
    rendered = v2_render.render_user(rec, RTYPE, base)
    assert v2_render.user_json(raw, RTYPE, base) == orjson.dumps(rendered)
    assert rendered["schemas"] == [USER_URN] + ([ENT] if ENT in a else [])
    # PostgreSQL hands over jsonb's own text: spaces, other key order, same document.
    raw.attrs_json = json.dumps(a, ensure_ascii=False).encode()
    assert orjson.loads(v2_render.user_json(raw, RTYPE, base)) == rendered


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(key, values, max_size=3),
       st.lists(st.sampled_from([e.id for e in SLACK_TYPE.extensions]), unique=True),
       st.permutations(range(3)))
def test_every_set_of_extensions_is_listed_in_the_types_order(core, present, order):
    """RFC 7643 §3: ``schemas`` names the core schema and each extension the resource
    holds, whatever order the stored object holds them in."""
    a = _stored(core, "groups")
    for i in order:  # stored in another order than the type lists them
        urn = SLACK_TYPE.extensions[i].id
        if urn in present:
            a[urn] = {"n": i}
    rec, raw = _user(a, [])
    assert v2_render.user_json(raw, SLACK_TYPE, BASE) == orjson.dumps(
        v2_render.render_user(rec, SLACK_TYPE, BASE))
    assert orjson.loads(v2_render.user_json(raw, SLACK_TYPE, BASE))["schemas"] == [
        USER_URN, *[e.id for e in SLACK_TYPE.extensions if e.id in a]]


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(key, values, max_size=4), relations, framing)
def test_a_spliced_group_is_byte_for_byte_the_rendered_group(a, members, frame):
    a = _stored(a, "members")
    gid, when, version, base = frame["rid"], frame["stamp"], frame["version"], frame["base"]
    rec = GroupRecord(9, gid, a, when, when + "m", version, members=members)
    raw = GroupText(9, gid, orjson.dumps(a), when, when + "m", version, members=members)
    rendered = v2_render.render_group(rec, base)
    assert v2_render.group_json(raw, base) == orjson.dumps(rendered)
    raw.attrs_json = json.dumps(a, ensure_ascii=False).encode()  # jsonb's text: spaces
    assert orjson.loads(v2_render.group_json(raw, base)) == rendered


@pytest.mark.parametrize("stored", [b"{}", b"{ }", b"{\n}"])
def test_an_empty_stored_object_adds_no_members(stored):
    raw = _user({}, None)[1]
    raw.attrs_json = stored
    assert orjson.loads(v2_render.user_json(raw, RTYPE, BASE)) == v2_render.render_user(
        _user({}, None)[0], RTYPE, BASE)


def test_a_long_host_is_escaped_but_not_kept():
    """``meta.location`` comes from the ``Host`` header (``Api.base``); a long one is
    written correctly and is not kept in the cache of bases."""
    base = "http://" + '"' * 100_000
    before = v2_render._cached_locations.cache_info().currsize
    raw = _user({"userName": "u"}, None)[1]
    doc = orjson.loads(v2_render.user_json(raw, RTYPE, base))
    assert doc["meta"]["location"] == f"{base}/Users/U07"
    assert v2_render._cached_locations.cache_info().currsize == before


@settings(max_examples=100, deadline=None)
@given(st.lists(attrs, max_size=4), st.integers(0, 10**6), st.integers(1, 10**6))
def test_a_spliced_list_is_byte_for_byte_the_rendered_list(many, total, start):
    many = [_stored(a, "groups") for a in many]
    docs = [v2_render.render_user(_user(a, None)[0], RTYPE, BASE) for a in many]
    parts = [v2_render.user_json(_user(a, None)[1], RTYPE, BASE) for a in many]
    assert v2_render.list_json(parts, total, start) == orjson.dumps(
        v2_render.render_list(docs, total, start))


@pytest.mark.parametrize("stored", [b"", b"[]", b'"x"', b"null", b"{"])
def test_stored_text_that_is_plainly_no_object_is_refused(stored):
    """Text that is no JSON object fails as decoding it would (the text is otherwise
    trusted as orjson or ``jsonb`` wrote it)."""
    raw = _user({"userName": "u"}, None)[1]
    raw.attrs_json = stored
    with pytest.raises(ValueError):
        v2_render.user_json(raw, RTYPE, BASE)


# -- over HTTP, SQLite and PostgreSQL ------------------------------------------------------

@pytest.fixture
def directory(rfc):
    """Users and groups whose stored text holds what splicing must copy faithfully."""
    ann = rfc.create_user("ann", externalId="ext-ann", title=f'"{ENT}":{{"department":1}}',
                          name={"givenName": "Zoë \\ \"Q\"", "familyName": "Ünlü ✓ 𝄞"})
    bob = rfc.create_user("bob", **{"schemas": [USER_URN, ENT],
                                    ENT: {"department": "R&D", "manager": {"value": ann["id"]}}})
    carl = rfc.create_user("carl", name={"givenName": "C", ENT: {"department": "nested"}},
                           displayName="line\u2028break")
    team = rfc.create_group("team", [ann["id"], bob["id"]], externalId="g-1")
    rfc.create_group("empty")
    return rfc, [ann, bob, carl], team


@pytest.fixture
def spliced(monkeypatch) -> list[str]:
    """The ids of the resources written from their stored text, as they are written."""
    ids: list[str] = []
    for name in ("user_json", "group_json"):
        real = getattr(v2_render, name)

        def spy(rec, *args, _real=real):
            ids.append(rec.id)
            return _real(rec, *args)

        monkeypatch.setattr(v2_render, name, spy)
    return ids


def _listed(client, path: str, query: str = "") -> tuple[bytes, dict]:
    r = client.get(f"{path}{query}")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/scim+json"
    return r.content, r.json()


@pytest.mark.parametrize("path", ["/Users", "/Groups"])
def test_each_listed_resource_is_the_resource_as_got(directory, db, path, spliced):
    """Each resource of a whole-directory page is what ``GET {path}/{id}`` answers; on
    SQLite, where the stored text is orjson's, the very same bytes."""
    client, _, _ = directory
    raw, body = _listed(client, path, "?startIndex=1&count=100")
    assert spliced == [r["id"] for r in body["Resources"]]  # all of them, from the text
    assert body["itemsPerPage"] == len(body["Resources"]) == body["totalResults"] >= 2
    assert list(body) == ["schemas", "totalResults", "itemsPerPage", "startIndex", "Resources"]
    for listed in body["Resources"]:
        got = client.get(f"{path}/{listed['id']}")
        assert got.status_code == 200
        assert listed == got.json()
        if db.engine.dialect.name == "sqlite":
            assert got.content in raw
        assert list(listed)[:2] == ["schemas", "id"] and list(listed)[-1] == "meta"


def test_extension_schemas_follow_the_stored_keys_only(directory):
    """RFC 7643 §3: ``schemas`` lists the enterprise extension where the user has it, not
    where its URN is only text in a value, nor a key nested where no schema allows one
    (the write dropped it, RFC 7644 §3.3)."""
    client, (ann, _, _), _ = directory
    _, body = _listed(client, "/Users")
    schemas = {u["userName"]: u["schemas"] for u in body["Resources"]}
    assert schemas == {"ann": [USER_URN], "bob": [USER_URN, ENT], "carl": [USER_URN]}
    listed = {u["userName"]: u for u in body["Resources"]}
    assert listed["ann"]["title"] == f'"{ENT}":{{"department":1}}'
    assert listed["ann"]["name"]["givenName"] == 'Zoë \\ "Q"'
    assert listed["carl"]["name"] == {"givenName": "C"}
    assert listed["bob"][ENT]["manager"]["value"] == ann["id"]


def test_pages_search_and_empty_pages_are_spliced_alike(directory):
    """Paging (RFC 7644 §3.4.2.4) and POST ``.search`` (§3.4.3) give the same resources."""
    client, users, _ = directory
    _, whole = _listed(client, "/Users")
    pieces = [_listed(client, "/Users", f"?startIndex={i}&count=1")[1] for i in (1, 2, 3)]
    assert [p["Resources"][0] for p in pieces] == whole["Resources"]
    assert all(p["itemsPerPage"] == 1 and p["totalResults"] == 3 for p in pieces)
    found = client.post("/Users/.search", {"schemas": [SEARCH_URN], "startIndex": 2})
    assert found.status_code == 200 and found.json()["Resources"] == whole["Resources"][1:]
    for query in ("?count=0", "?startIndex=4", "?startIndex=99&count=5"):
        _, empty = _listed(client, "/Users", query)
        assert empty["Resources"] == [] and empty["itemsPerPage"] == 0
        assert empty["totalResults"] == len(users)


def test_projected_and_filtered_pages_agree_with_spliced_ones(directory):
    """``attributes`` and filters take the decoded path; they select from the same
    resources (RFC 7644 §3.4.2.5, §3.9)."""
    client, _, team = directory
    _, whole = _listed(client, "/Users")
    by_name = {u["userName"]: u for u in whole["Resources"]}
    by_id = {u["id"]: u for u in whole["Resources"]}
    _, some = _listed(client, "/Users", "?attributes=title,groups")
    for u in some["Resources"]:
        assert "userName" not in u and u == {k: by_id[u["id"]][k] for k in u}
        assert ("title" in u) == ("title" in by_id[u["id"]])
    _, one = _listed(client, "/Users", '?filter=userName eq "bob"')
    assert one["Resources"] == [by_name["bob"]]
    assert by_name["ann"]["groups"][0]["value"] == team["id"]
    _, groups = _listed(client, "/Groups", "?excludedAttributes=members")
    assert all("members" not in g for g in groups["Resources"])


def test_a_guest_on_the_page_is_decoded_for_its_channels(rfc, db, spliced):
    """Spec §3.2: a multi-channel guest whose guest extension is stored (a tenant
    imported from the slack dialect) shows its channels there; its page is read decoded
    and still answers what GET does."""
    rfc.create_user("host")
    tenant = rfc.access.tenant
    with db.write() as conn:
        guest = user_store.insert_user(
            conn, tenant.pk, new_id("W"), {"userName": "visitor", GUEST_URN: {"type": "multi"}},
            password_hash=None, unique_emails=False, role="multi_channel_guest")
        channel = grid.create_channel(conn, tenant.pk, tenant.pk, "vendor-project")
        grid.join_channel(conn, channel, guest.pk)
    _, body = _listed(rfc, "/Users")
    listed = {u["userName"]: u for u in body["Resources"]}
    assert listed["visitor"][GUEST_URN]["channels"] == [
        {"value": channel, "display": "vendor-project"}]
    assert listed["visitor"] == rfc.get(f"/Users/{guest.id}").json()
    assert listed["host"] == rfc.get(f"/Users/{listed['host']['id']}").json()
    assert spliced == []


def test_a_guest_without_the_extension_stays_spliced(rfc, db, spliced):
    """An rfc tenant's user given the guest role (``scimd user set-role``) has no guest
    extension to show channels in (spec §3.2); its page is spliced like any other."""
    host = rfc.create_user("host")
    guest = rfc.create_user("visitor")
    with db.write() as conn:
        assert user_store.set_role(conn, rfc.access.tenant.pk, guest["id"],
                                   "multi_channel_guest")
    _, body = _listed(rfc, "/Users")
    assert spliced == [host["id"], guest["id"]]
    assert body["Resources"][1] == rfc.get(f"/Users/{guest['id']}").json()


def test_slack_tenants_are_rendered_from_decoded_attributes(scim, spliced):
    """Slack's shapes (spec §2, §5) are built from the decoded attributes, on SCIM 2.0 and
    1.1: Slack wires have no splicer."""
    slack = scim("slack")
    made = slack.create_user("slacker")
    for prefix in ("/scim/v2", "/scim/v1"):
        r = slack.http.get(f"{prefix}/Users", headers=slack.auth)
        assert r.status_code == 200 and made["id"] in r.text
        assert r.headers["content-type"] == "application/json; charset=utf-8"
    assert spliced == []
    assert all(wire_for(policy_named("slack"), v).splicer is None for v in (1, 2))
    assert wire_for(policy_named("rfc"), 2).splicer is v2_render
