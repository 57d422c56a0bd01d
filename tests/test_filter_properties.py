"""The SQL filter compiler agrees with the in-memory filter evaluator.

RFC 7644 §3.4.2.2 gives every filter one meaning; scimd implements it twice:
``scimd.store.filter_sql`` (what ``GET /Users?filter=`` runs on SQLite and
PostgreSQL) and ``scimd.scim.evaluate`` (the reference, also used for PATCH value
selections, RFC 7644 §3.5.2). These tests store random users in a real database,
run random filters through both and require the same set of matching ids, and
400 ``invalidFilter`` (RFC 7644 §3.12) for filters that cannot be evaluated.

SQLite always runs, and so does PostgreSQL through the session database of
tests/conftest.py (``SCIMD_TEST_POSTGRES_URL``; skipped locally when unreachable, a
failure with ``CI=true``).

Disagreements found so far are pinned by the ``xfail(strict=True)`` tests at the end
(and kept out of the random property so that it stays a regression guard).
"""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select, update

from scimd.scim.core_schemas import ENTERPRISE_URN, USER_TYPE, USER_URN
from scimd.scim.errors import ScimError
from scimd.scim.evaluate import matches
from scimd.scim.paths import parse_filter
from scimd.scim.validate import canonical_body
from scimd.scim.values import DATETIME_FORMAT
from scimd.store import direct, migrate
from scimd.store import groups as group_store
from scimd.store import tables as t
from scimd.store.common import new_id
from scimd.store.db import Database, connect
from scimd.store.filter_sql import FilterCompiler, indexed_equality
from scimd.store.records import UserRecord
from scimd.store.tenants import create_tenant
from scimd.store.users import insert_user, load_groups

FILTERS_PER_EXAMPLE = 20
MAX_EXAMPLES = 150
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")

# -- databases ---------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def prop_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Database]:
    db = connect(f"sqlite:///{tmp_path_factory.mktemp('filter-properties') / 'scimd.db'}")
    migrate.upgrade(db)
    yield db
    db.dispose()


@pytest.fixture(scope="session")
def prop_postgresql(postgresql_url: str) -> Iterator[Database]:
    """The session's PostgreSQL database of tests/conftest.py (created and dropped per run;
    unreachable: skipped locally, a failure with CI=true)."""
    db = connect(postgresql_url, pool_size=2)
    migrate.upgrade(db)
    yield db
    db.dispose()


@pytest.fixture(scope="session", params=["sqlite", pytest.param("postgresql",
                                                                 marks=pytest.mark.postgres)])
def prop_db(request: pytest.FixtureRequest) -> Database:
    """A migrated database: SQLite, then PostgreSQL (skipped without its URL)."""
    return request.getfixturevalue(f"prop_{request.param}")


# -- random users ------------------------------------------------------------------------------

ALPHABET = "aAbBeEx0 .-@ÉéßẞÜüǅ"
"""Few letters, so values collide and filters match often; mixed case, non-ASCII.

Letters whose lower case differs between Python and PostgreSQL (``İ``, a final ``Σ``)
are left to test_case_folding_beyond_latin.
"""

RARE = '"\\/%_\t'
"""Characters that need escaping in a filter literal (RFC 7159 §7), and LIKE wildcards."""


def words(min_size: int = 0, max_size: int = 6) -> st.SearchStrategy[str]:
    chars = st.sampled_from(ALPHABET) | st.sampled_from(RARE)
    return st.text(alphabet=chars, min_size=min_size, max_size=max_size)


TYPES = st.sampled_from(["work", "home", "other", "Work", "WORK", "", "ß"])
MISSING = object()


def optional(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(st.just(MISSING), strategy)


def _put(target: dict, key: str, value: Any) -> None:
    if value is not MISSING:
        target[key] = value


def one_primary(items: list[dict]) -> list[dict]:
    """RFC 7643 §2.4: the primary value "true" MUST appear no more than once."""
    seen = False
    for item in items:
        if item.get("primary") is True:
            if seen:
                item["primary"] = False
            seen = True
    return items


@st.composite
def emails(draw: st.DrawFn, *, primary_optional: bool = False) -> list[dict]:
    items = []
    for _ in range(draw(st.integers(0, 3))):
        item: dict = {"value": draw(words(1, 8))}
        _put(item, "type", draw(optional(TYPES)))
        if primary_optional:
            _put(item, "primary", draw(optional(st.booleans())))
        else:  # see test_email_without_primary
            item["primary"] = draw(st.booleans())
        _put(item, "display", draw(optional(words())))
        items.append(item)
    return one_primary(items)


@st.composite
def phone_numbers(draw: st.DrawFn) -> list[dict]:
    items = []
    for _ in range(draw(st.integers(0, 2))):
        item: dict = {"value": draw(st.text("0123+ -", min_size=1, max_size=6))}
        _put(item, "type", draw(optional(st.sampled_from(["work", "mobile", "Mobile"]))))
        _put(item, "primary", draw(optional(st.booleans())))
        items.append(item)
    return one_primary(items)


@st.composite
def user_bodies(draw: st.DrawFn, *, primary_optional: bool = False) -> dict:
    """A User as a client POSTs it (RFC 7643 §4.1, §4.3), some attributes left out.

    The result is normalised by ``canonical_body`` into the stored form, exactly as
    POST /Users does (empty values dropped, RFC 7643 §2.5).
    """
    body: dict = {"userName": draw(words(1, 8))}
    _put(body, "displayName", draw(optional(words())))
    _put(body, "active", draw(optional(st.booleans())))
    _put(body, "externalId", draw(optional(words(1, 6))))
    _put(body, "title", draw(optional(words())))
    _put(body, "nickName", draw(optional(words())))
    name: dict = {}
    _put(name, "givenName", draw(optional(words())))
    _put(name, "familyName", draw(optional(words())))
    _put(body, "name", draw(optional(st.just(name))))
    _put(body, "emails", draw(optional(emails(primary_optional=primary_optional))))
    _put(body, "phoneNumbers", draw(optional(phone_numbers())))
    enterprise: dict = {}
    _put(enterprise, "employeeNumber", draw(optional(words(1, 5))))
    _put(enterprise, "department", draw(optional(words())))
    manager: dict = {}
    _put(manager, "value", draw(optional(words(1, 5))))
    _put(enterprise, "manager", draw(optional(st.just(manager))))
    _put(body, ENTERPRISE_URN, draw(optional(st.just(enterprise))))
    return canonical_body(body, USER_TYPE)


Directory = tuple[list[dict], list[tuple[str, list[int]]], list[str], list[str]]


@st.composite
def directories(draw: st.DrawFn, *, primary_optional: bool = False) -> Directory:
    """Users (unique userName and externalId per tenant), groups with members (as index
    lists), and each user's meta.created and meta.lastModified (RFC 7643 §3.1)."""
    users = draw(st.lists(user_bodies(primary_optional=primary_optional), min_size=1,
                          max_size=8, unique_by=lambda a: a["userName"].lower()))
    seen: set[str] = set()
    for attrs in users:
        if "externalId" in attrs:
            if attrs["externalId"] in seen:
                del attrs["externalId"]
            else:
                seen.add(attrs["externalId"])
    groups = draw(st.lists(st.tuples(words(1, 6), st.lists(
        st.integers(0, len(users) - 1), unique=True, max_size=len(users))), max_size=3))
    base = datetime(2024, 2, 29, 23, 59, 59, 999999, tzinfo=UTC)  # a leap day, a year's end
    offsets = st.sampled_from([0, 1, 2, 1_000_000, 86_400_000_000, -31_536_000_000_000])
    created = [base + timedelta(microseconds=draw(offsets)) for _ in users]
    modified = [c + timedelta(microseconds=draw(offsets.filter(lambda o: o >= 0)))
                for c in created]
    return (users, groups, [c.strftime(DATETIME_FORMAT) for c in created],
            [m.strftime(DATETIME_FORMAT) for m in modified])


# -- the stored directory and the reference bodies ---------------------------------------------


def populate(db: Database, users: list[dict], groups: list[tuple[str, list[int]]],
             stamps: list[str], modified: list[str] | None = None, *,
             prepare: bool = True) -> tuple[int, dict[str, dict]]:
    """Store users and groups in a new tenant; return its pk and every user's body.

    With ``prepare``, ``active`` is set when missing, as POST /Users does; without,
    ``attrs`` are stored as given (as a PATCH may leave them).
    """
    modified = modified or stamps
    with db.write() as conn:
        tenant = create_tenant(conn, name="properties", plan="enterprise", dialect="rfc")
        pks = []
        for attrs, created, changed in zip(users, stamps, modified, strict=True):
            attrs = copy.deepcopy(attrs)
            if prepare:  # POST /Users stores "active" (the rfc policy's prepare_user)
                attrs.setdefault("active", True)
            rec = insert_user(conn, tenant.pk, new_id("U"), attrs, password_hash=None,
                              unique_emails=False)
            conn.execute(update(t.users).where(t.users.c.pk == rec.pk)
                         .values(created_at=created, modified_at=changed))
            pks.append(rec.pk)
        for display, members in groups:
            grp = group_store.insert_group(conn, tenant.pk, new_id("S"),
                                           {"displayName": display})
            group_store.add_members(conn, grp.pk, [pks[i] for i in members])
    with db.read() as conn:
        rows = conn.execute(select(t.users).where(t.users.c.tenant_pk == tenant.pk)
                            .order_by(t.users.c.pk)).all()
        records = [UserRecord(pk=r.pk, id=r.id, attrs=r.attrs, active=r.active,
                              created_at=r.created_at, modified_at=r.modified_at,
                              version=r.version) for r in rows]
        load_groups(conn, records)
    return tenant.pk, {rec.id: body_of(rec) for rec in records}


def body_of(rec: UserRecord) -> dict:
    """The stored SCIM 2.0 form the evaluator reads (RFC 7643 §3.1 common attributes added)."""
    body = copy.deepcopy(rec.attrs)
    body["id"] = rec.id
    body["meta"] = {"resourceType": "User", "created": rec.created_at,
                    "lastModified": rec.modified_at}
    body["groups"] = list(rec.groups or [])
    return body


def select_sql(db: Database, tenant_pk: int, node: Any) -> set[str]:
    """The ids the compiled filter selects in the tenant; where the filter is an indexed
    equality, the direct look-up that serves it must select the same ids."""
    with db.read() as conn:
        cond = FilterCompiler(conn.dialect.name, USER_TYPE, tenant_pk=tenant_pk).compile(node)
        rows = conn.execute(select(t.users.c.id).where(t.users.c.tenant_pk == tenant_pk, cond))
        found = {r.id for r in rows}
    lookup = indexed_equality(USER_TYPE, node)
    if lookup is not None:
        with db.snapshot() as reader:
            direct_ids = {u.id for u in direct.users_equal(reader, tenant_pk, *lookup)}
        assert direct_ids == found, f"direct look-up {lookup} disagrees with the compiled filter"
    return found


def select_memory(bodies: dict[str, dict], node: Any) -> set[str]:
    """The ids whose body the evaluator matches."""
    return {uid for uid, body in bodies.items() if matches(node, body, USER_TYPE)}


# -- random filters ------------------------------------------------------------------------------


def value_pool(bodies: dict[str, dict]) -> dict[str, list]:
    """Every value stored per attribute path, to draw filter literals that match."""
    pool: dict[str, list] = {}

    def add(key: str, value: Any) -> None:
        if isinstance(value, str):
            pool.setdefault(key, []).append(value)
            pool.setdefault("*", []).append(value)

    for body in bodies.values():
        for key in ("userName", "displayName", "title", "nickName", "externalId", "id"):
            add(key, body.get(key))
        for key in ("givenName", "familyName"):
            add(f"name.{key}", (body.get("name") or {}).get(key))
        for multi in ("emails", "phoneNumbers", "groups"):
            for item in body.get(multi) or []:
                for sub in ("value", "type", "display"):
                    add(f"{multi}.{sub}", item.get(sub))
        ent = body.get(ENTERPRISE_URN) or {}
        for key in ("employeeNumber", "department"):
            add(f"ent.{key}", ent.get(key))
        for key in ("value", "displayName"):
            add(f"ent.manager.{key}", (ent.get("manager") or {}).get(key))
        for key in ("created", "lastModified"):
            pool.setdefault("dateTime", []).append(body["meta"][key])
    return pool


ENT_Q = ENTERPRISE_URN + ":"
CORE_Q = USER_URN + ":"

# (spellings of the path, kind, pool key). Kinds: text, bool, dateTime, complex.
SCALARS: list[tuple[list[str], str, str]] = [
    (["userName", CORE_Q + "userName"], "text", "userName"),
    (["displayName"], "text", "displayName"),
    (["title"], "text", "title"),
    (["nickName"], "text", "nickName"),
    (["externalId"], "text", "externalId"),
    (["id"], "text", "id"),
    (["name.givenName", CORE_Q + "name.givenName"], "text", "name.givenName"),
    (["name.familyName"], "text", "name.familyName"),
    (["name.formatted"], "text", "*"),
    (["emails", "emails.value"], "text", "emails.value"),
    (["emails.type"], "text", "emails.type"),
    (["emails.display"], "text", "emails.display"),
    (["phoneNumbers", "phoneNumbers.value"], "text", "phoneNumbers.value"),
    (["phoneNumbers.type"], "text", "phoneNumbers.type"),
    (["groups", "groups.value"], "text", "groups.value"),
    (["groups.display"], "text", "groups.display"),
    (["groups.type"], "text", "groups.type"),
    ([ENT_Q + "employeeNumber", "employeeNumber"], "text", "ent.employeeNumber"),
    ([ENT_Q + "department", "department"], "text", "ent.department"),
    ([ENT_Q + "manager.value", "manager.value"], "text", "ent.manager.value"),
    ([ENT_Q + "manager.displayName"], "text", "ent.manager.displayName"),
    (["meta.resourceType"], "text", "*"),
    (["active"], "bool", ""),
    (["emails.primary"], "bool", ""),
    (["phoneNumbers.primary"], "bool", ""),
    (["meta.created"], "dateTime", "dateTime"),
    (["meta.lastModified"], "dateTime", "dateTime"),
    (["name", "emails", "phoneNumbers", "groups", "meta", "manager", ENT_Q + "manager",
      "addresses", "ims"], "complex", ""),
]

# (spellings of the multi-valued or complex attribute, [(sub-attribute, kind, pool key)])
VALUE_PATHS: list[tuple[list[str], list[tuple[str, str, str]]]] = [
    (["emails"], [("value", "text", "emails.value"), ("type", "text", "emails.type"),
                  ("display", "text", "emails.display"), ("primary", "bool", "")]),
    (["phoneNumbers"], [("value", "text", "phoneNumbers.value"),
                        ("type", "text", "phoneNumbers.type"), ("primary", "bool", "")]),
    (["groups"], [("value", "text", "groups.value"), ("display", "text", "groups.display"),
                  ("type", "text", "groups.type")]),
    (["name", CORE_Q + "name"], [("givenName", "text", "name.givenName"),
                                 ("familyName", "text", "name.familyName")]),
    (["manager", ENT_Q + "manager"], [("value", "text", "ent.manager.value"),
                                      ("displayName", "text", "ent.manager.displayName")]),
]

TEXT_OPS = ["eq", "ne", "co", "sw", "ew", "gt", "ge", "lt", "le"]
ORDER_OPS = ["eq", "ne", "gt", "ge", "lt", "le"]


def _case(draw: st.DrawFn, word: str) -> str:
    """Attribute names and operators are case-insensitive (RFC 7644 §3.4.2.2)."""
    how = draw(st.sampled_from(["same", "same", "same", "upper", "lower"]))
    return word.upper() if how == "upper" else word.lower() if how == "lower" else word


def _path(draw: st.DrawFn, spellings: list[str]) -> str:
    path = draw(st.sampled_from(spellings))
    if path.startswith("urn:"):
        urn, _, attr = path.rpartition(":")
        return (urn.upper() if draw(st.booleans()) else urn) + ":" + _case(draw, attr)
    return _case(draw, path)


def _literal(draw: st.DrawFn, text: str) -> str:
    return json.dumps(text, ensure_ascii=draw(st.booleans()))


@st.composite
def text_value(draw: st.DrawFn, pool: dict[str, list], key: str) -> str:
    candidates = pool.get(key) or pool.get("*") or ["x"]
    value = draw(st.one_of(st.sampled_from(candidates), st.sampled_from(candidates),
                           st.sampled_from(pool.get("*") or ["x"]), words(0, 4),
                           st.just("User")))
    part = draw(st.sampled_from(["whole", "whole", "prefix", "suffix", "middle"]))
    if part != "whole" and len(value) > 1:
        start = 0 if part == "prefix" else draw(st.integers(1, len(value) - 1))
        end = len(value) if part == "suffix" else draw(st.integers(start + 1, len(value)))
        value = value[start:end]
    how = draw(st.sampled_from(["same", "upper", "lower", "swap"]))
    if how == "upper":
        value = value.upper()
    elif how == "lower":
        value = value.lower()
    elif how == "swap":
        value = value.swapcase()
    return value


@st.composite
def datetime_value(draw: st.DrawFn, pool: dict[str, list]) -> str:
    """An xsd:dateTime literal (RFC 7643 §2.3.5) near the stored stamps, in various forms."""
    stamp = datetime.strptime(draw(st.sampled_from(pool["dateTime"])), DATETIME_FORMAT) \
        .replace(tzinfo=UTC)
    stamp += timedelta(microseconds=draw(st.sampled_from([0, 0, 1, -1, 1_000_000, -999_999])))
    form = draw(st.sampled_from(["stored", "seconds", "offset", "naive", "millis"]))
    if form == "stored":
        return stamp.strftime(DATETIME_FORMAT)
    if form == "seconds":
        return stamp.strftime("%Y-%m-%dT%H:%M:%SZ")
    if form == "offset":
        return stamp.astimezone(timezone(timedelta(hours=2))).isoformat()
    if form == "naive":
        return stamp.replace(tzinfo=None).isoformat()
    return stamp.strftime("%Y-%m-%dT%H:%M:%S.") + f"{stamp.microsecond // 1000:03d}Z"


@st.composite
def comparison(draw: st.DrawFn, pool: dict[str, list], path: str, kind: str,
               key: str, *, multi: bool = False) -> str:
    """``attrPath SP compareOp SP compValue`` or ``attrPath SP "pr"`` (RFC 7644 §3.4.2.2).

    ``multi``: the path is a sub-attribute of a multi-valued attribute outside a value
    path, where ``ne null`` is not generated (see test_multi_valued_ne_null).
    """
    if draw(st.integers(0, 9)) == 0:
        return f"{path} {_case(draw, 'pr')}"
    if draw(st.integers(0, 19)) == 0:  # null, and a few literals of the wrong type
        op = draw(st.sampled_from(["eq", "ne", "eq", "ne", "gt", "co"]))
        value = draw(st.sampled_from(["null", "true", "False", "42", "-1.5", '"yesterday"']))
        if multi and value == "null" and op == "ne":
            op = "eq"
        return f"{path} {_case(draw, op)} {value}"
    if kind == "text":
        op = draw(st.sampled_from(TEXT_OPS))
        value = _literal(draw, draw(text_value(pool, key)))
    elif kind == "bool":
        op = draw(st.sampled_from(["eq", "eq", "ne"]))
        value = draw(st.sampled_from(["true", "false", "True", "FALSE", '"True"', '"false"']))
    elif kind == "dateTime":
        op = draw(st.sampled_from(ORDER_OPS))
        value = _literal(draw, draw(datetime_value(pool)))
    else:  # complex: only "pr" is meaningful; a comparison is 400 invalidFilter
        op = draw(st.sampled_from(["eq", "ne"]))
        value = _literal(draw, draw(text_value(pool, "*")))
    return f"{path} {_case(draw, op)} {value}"


@st.composite
def attribute_expression(draw: st.DrawFn, pool: dict[str, list]) -> str:
    if draw(st.integers(0, 4)) == 0:
        return draw(value_path(pool))
    spellings, kind, key = draw(st.sampled_from(SCALARS))
    path = _path(draw, spellings)
    if kind == "complex":
        return f"{path} {_case(draw, 'pr')}" if draw(st.integers(0, 3)) else \
            draw(comparison(pool, path, kind, key))
    multi = spellings[0].split(".")[0] in ("emails", "phoneNumbers", "groups")
    return draw(comparison(pool, path, kind, key, multi=multi))


@st.composite
def value_filter(draw: st.DrawFn, pool: dict[str, list], subs: list[tuple[str, str, str]],
                 depth: int) -> str:
    """The ``valFilter`` of a value path: sub-attribute comparisons, and/or/not."""
    choice = draw(st.integers(0, 5 if depth < 2 else 0))
    if choice <= 2:
        name, kind, key = draw(st.sampled_from(subs))
        return draw(comparison(pool, _case(draw, name), kind, key))
    if choice == 3:
        return f"{_case(draw, 'not')} ({draw(value_filter(pool, subs, depth + 1))})"
    op = _case(draw, draw(st.sampled_from(["and", "or"])))
    left = draw(value_filter(pool, subs, depth + 1))
    right = draw(value_filter(pool, subs, depth + 1))
    if draw(st.booleans()):
        left, right = f"({left})", f"({right})"
    return f"{left} {op} {right}"


@st.composite
def value_path(draw: st.DrawFn, pool: dict[str, list]) -> str:
    """``attrPath "[" valFilter "]"`` (RFC 7644 §3.4.2.2, Figure 1)."""
    spellings, subs = draw(st.sampled_from(VALUE_PATHS))
    return f"{_path(draw, spellings)}[{draw(value_filter(pool, subs, 0))}]"


@st.composite
def filters(draw: st.DrawFn, pool: dict[str, list], depth: int = 0) -> str:
    """A filter of RFC 7644 §3.4.2.2: comparisons, value paths, and/or/not, grouping."""
    choice = draw(st.integers(0, 10 if depth < 3 else 0))
    if choice <= 5:
        return draw(attribute_expression(pool))
    if choice == 6:
        return f"{_case(draw, 'not')} ({draw(filters(pool, depth + 1))})"
    if choice == 7:
        return f"({draw(filters(pool, depth + 1))})"
    op = _case(draw, draw(st.sampled_from(["and", "or"])))
    terms = [draw(filters(pool, depth + 1)) for _ in range(draw(st.integers(2, 3)))]
    terms = [f"({term})" if draw(st.booleans()) else term for term in terms]
    return f" {op} ".join(terms)


# -- the property ------------------------------------------------------------------------------


def outcome(db: Database, tenant_pk: int, bodies: dict[str, dict], text: str) -> None:
    """One filter: the same ids from SQL and memory, or 400 invalidFilter (RFC 7644 §3.12)."""
    try:
        node = parse_filter(text)
    except ScimError as exc:
        assert (exc.status, exc.scim_type) == (400, "invalidFilter"), (text, exc.detail)
        return
    sql_error = memory_error = None
    sql_ids: set[str] = set()
    memory_ids: set[str] = set()
    try:
        sql_ids = select_sql(db, tenant_pk, node)
    except ScimError as exc:
        sql_error = exc
    try:
        memory_ids = select_memory(bodies, node)
    except ScimError as exc:
        memory_error = exc
    for exc in (sql_error, memory_error):
        if exc is not None:
            assert (exc.status, exc.scim_type) == (400, "invalidFilter"), (text, exc.detail)
    if memory_error is not None:
        # The compiler checks every leaf; the evaluator only those it reaches, so any
        # error the evaluator finds, the compiler must find too. (The reverse need not
        # hold: ``x or <bad>`` never reaches <bad> when x matches.)
        assert sql_error is not None, \
            f"filter {text!r}: memory says 400 ({memory_error.detail}), SQL accepts it"
    if sql_error is not None:
        return
    if sql_ids != memory_ids:
        differing = {uid: bodies[uid] for uid in sorted(sql_ids ^ memory_ids)}
        raise AssertionError(
            f"filter {text!r}: SQL only {sorted(sql_ids - memory_ids)}, memory only "
            f"{sorted(memory_ids - sql_ids)}\n"
            + json.dumps(differing, indent=1, ensure_ascii=False))


@settings(max_examples=MAX_EXAMPLES, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(directory=directories(), data=st.data())
def test_sql_filters_match_memory_filters(prop_db: Database, directory: Directory,
                                          data: st.DataObject) -> None:
    """RFC 7644 §3.4.2.2: every filter selects the same users in SQL as in memory.

    Random users (RFC 7643 §4.1 and the §4.3 enterprise extension, stored as POST
    /Users stores them) and, per example, 20 random filters made of eq ne co sw ew gt
    ge lt le pr, and/or/not, grouping, sub-attributes, value paths, URN-qualified names
    (RFC 7644 §3.10), booleans, ``meta.created``/``meta.lastModified`` dateTimes (RFC
    7643 §2.3.5), ``null``, case-insensitive names and operators, and caseExact
    attributes (``id``, ``externalId``: RFC 7643 §2.1, §3.1).
    """
    users, groups, created, modified = directory
    tenant_pk, bodies = populate(prop_db, users, groups, created, modified)
    pool = value_pool(bodies)
    texts = data.draw(st.lists(filters(pool), min_size=FILTERS_PER_EXAMPLE,
                               max_size=FILTERS_PER_EXAMPLE), label="filters")
    for text in texts:
        outcome(prop_db, tenant_pk, bodies, text)


# -- disagreements found, pinned -----------------------------------------------------------------
#
# Each of these fails today; ``strict=True`` turns a fix into an XPASS failure, so the
# marker goes away with the bug. The random property avoids these shapes; widen it with
# each fix: ``directories(primary_optional=True)`` (emails without primary), the
# ``multi`` exception in ``comparison`` (``ne null``), ``populate(prepare=False)`` with
# users lacking ``active``, emails without ``value``, and ``İ``/``Σ`` in ``ALPHABET``.

STAMP = "2024-02-29T23:59:59.999999Z"


def agree(db: Database, users: list[dict], text: str, *, prepare: bool = True) -> None:
    """Store ``users`` as given and require SQL and memory to select the same ids."""
    tenant_pk, bodies = populate(db, users, [], [STAMP] * len(users), prepare=prepare)
    node = parse_filter(text)
    by_name = {uid: body["userName"] for uid, body in bodies.items()}
    sql = sorted(by_name[i] for i in select_sql(db, tenant_pk, node))
    memory = sorted(by_name[i] for i in select_memory(bodies, node))
    assert sql == memory, f"filter {text!r}: SQL selects {sql}, memory selects {memory}"


@pytest.mark.parametrize("text", ["emails.type ne null", "emails.value ne null",
                                  "phoneNumbers.value ne null", "groups.value ne null"])
def test_multi_valued_ne_null(prop_db: Database, text: str) -> None:
    """RFC 7643 §2.5: no value, null and [] are the same state, so ``ne null`` is false.

    Minimal case: ``{"userName": "nobody", "active": true}`` (no emails) and
    ``emails.type ne null``: SQL selects the user, memory does not (memory is right).
    """
    agree(prop_db, [{"userName": "nobody", "active": True},
                    {"userName": "somebody", "active": True,
                     "emails": [{"value": "s@example.com", "type": "work", "primary": True}],
                     "phoneNumbers": [{"value": "+1 555", "type": "work"}]}], text)


@pytest.mark.parametrize("text", ["emails[primary eq false]", "emails.primary eq false",
                                  "emails[primary pr]", "not (emails[primary ne false])"])
def test_email_without_primary(prop_db: Database, text: str) -> None:
    """RFC 7643 §2.4: "If not specified, the value of primary SHALL be assumed to be false".

    Reachable with a plain POST: ``emails: [{"value": "a@example.com", "type": "work"}]``.
    ``emails[primary eq false]`` selects the user in SQL (right by RFC 7643 §2.4), not
    in memory; ``phoneNumbers[primary eq false]``, read from JSON, agrees with memory,
    so the two multi-valued attributes disagree with each other in SQL as well.
    """
    agree(prop_db, [canonical_body({"userName": "a", "emails": [
        {"value": "a@example.com", "type": "work"}]}, USER_TYPE)], text)


@pytest.mark.parametrize("text", ["active eq true", "active pr", "not (active ne true)",
                                  "active eq false"])
def test_user_without_active(prop_db: Database, text: str) -> None:
    """RFC 7644 §3.5.2.2: a PATCH ``remove`` of ``active`` leaves a user without it, and
    the filters read the stored attributes, so SQL and memory agree on it."""
    agree(prop_db, [{"userName": "u"}, {"userName": "v", "active": True}], text,
          prepare=False)


def test_removing_an_email_value_removes_the_email() -> None:
    """RFC 7643 §2.4: an entry is its ``value``; removing it removes the entry, so no email
    without a value is ever stored (SQL indexes emails by value)."""
    from scimd.scim.patch import PatchEngine

    attrs = {"userName": "u", "emails": [{"value": "u@example.com", "type": "work"}]}
    result = PatchEngine(USER_TYPE, attrs, resource_id="U1").run([
        ("remove", 'emails[type eq "work"].value', None)])
    assert "emails" not in result.attrs


@pytest.mark.parametrize(("value", "text"), [
    ("\u0130", 'title eq "\u0130"'),  # İ: Python folds to "i" U+0307, PostgreSQL to "i"
    ("\u039f\u0394\u039f\u03a3", 'name.familyName eq "\u03bf\u03b4\u03bf\u03c2"'),
    ("\u039f\u0394\u039f\u03a3", 'name.familyName sw "\u039f\u0394\u039f\u03a3"'),
], ids=["dotted-I", "final-sigma-eq", "final-sigma-sw"])  # final sigma: U+03C2 vs U+03C3
def test_case_folding_beyond_latin(prop_db: Database, request: pytest.FixtureRequest,
                                   value: str, text: str) -> None:
    """RFC 7643 §2.1: caseExact false means case-insensitive, the same on every path.

    Attributes read from the JSON document are lower-cased by the database's
    ``lower()``; filter literals by Python's ``str.lower``. SQLite's ``lower`` is
    Python's (store.db), so it agrees; PostgreSQL's differs for U+0130 and a
    word-final capital sigma, so ``title eq "İ"`` does not select a user whose title is
    "İ" on PostgreSQL. Memory (and the Python-folded userName/emails columns) match.
    """
    if prop_db.engine.dialect.name == "postgresql":
        request.applymarker(pytest.mark.xfail(strict=True, raises=AssertionError, reason=(
            "PostgreSQL lower() folds U+0130 and final sigma unlike Python's str.lower")))
    agree(prop_db, [{"userName": "u", "active": True, "title": value,
                     "name": {"familyName": value}}], text)


# -- the examples of RFC 7644 §3.4.2.2 ---------------------------------------------------------

RFC_USERS = [
    {"userName": "bjensen", "name": {"familyName": "O'Malley"}, "title": "Tour Guide",
     "userType": "Employee", "active": True,
     "emails": [{"value": "bjensen@example.com", "type": "work", "primary": True}],
     "ims": [{"value": "bjensen@foo.com", "type": "xmpp"}]},
    {"userName": "Jsmith", "title": "Intern", "userType": "Intern", "active": True,
     "emails": [{"value": "jsmith@example.org", "type": "home", "primary": True}]},
    {"userName": "kim", "userType": "Employee", "active": True,
     "emails": [{"value": "kim@example.net", "type": "work", "primary": False}],
     ENTERPRISE_URN: {"department": "Sales"}},
    {"userName": "ann", "userType": "Contractor", "active": False,
     "emails": [{"value": "ann@example.net", "type": "home", "primary": True}]},
]
ALL = ["Jsmith", "ann", "bjensen", "kim"]


def _rejected(reason: str) -> Any:
    return pytest.mark.xfail(strict=True, raises=AssertionError, reason=reason)


RFC_EXAMPLES = [
    ('userName eq "bjensen"', ["bjensen"]),
    ('name.familyName co "O\'Malley"', ["bjensen"]),
    ('userName sw "J"', ["Jsmith"]),
    (f'{USER_URN}:userName sw "J"', ["Jsmith"]),
    ("title pr", ["Jsmith", "bjensen"]),
    ('meta.lastModified gt "2011-05-13T04:42:34Z"', ALL),
    ('meta.lastModified ge "2011-05-13T04:42:34Z"', ALL),
    ('meta.lastModified lt "2011-05-13T04:42:34Z"', []),
    ('meta.lastModified le "2011-05-13T04:42:34Z"', []),
    ('title pr and userType eq "Employee"', ["bjensen"]),
    ('title pr or userType eq "Intern"', ["Jsmith", "bjensen"]),
    (f'schemas eq "{ENTERPRISE_URN}"', ["kim"]),
    ('userType eq "Employee" and (emails co "example.com" or emails.value co "example.org")',
     ["bjensen"]),
    ('userType ne "Employee" and not (emails co "example.com" or '
     'emails.value co "example.org")', ["ann"]),
    ('userType eq "Employee" and (emails.type eq "work")', ["bjensen", "kim"]),
    ('userType eq "Employee" and emails[type eq "work" and value co "@example.com"]',
     ["bjensen"]),
    ('emails[type eq "work" and value co "@example.com"] or '
     'ims[type eq "xmpp" and value co "@foo.com"]', ["bjensen"]),
]


@pytest.mark.parametrize(("text", "expected"), RFC_EXAMPLES)
def test_rfc_example_filters(prop_db: Database, text: str, expected: list[str]) -> None:
    """Every example filter of RFC 7644 §3.4.2.2 selects what it says, in SQL and memory."""
    tenant_pk, bodies = populate(
        prop_db, [canonical_body(u, USER_TYPE) for u in RFC_USERS], [],
        [STAMP] * len(RFC_USERS))
    by_name = {uid: body["userName"] for uid, body in bodies.items()}
    try:
        node = parse_filter(text)
        sql = sorted(by_name[i] for i in select_sql(prop_db, tenant_pk, node))
        memory = sorted(by_name[i] for i in select_memory(bodies, node))
    except ScimError as exc:
        raise AssertionError(f"{text!r} is refused: {exc.status} {exc.detail}") from None
    assert (sql, memory) == (expected, expected), text


# -- hostile and invalid filters -----------------------------------------------------------------

SAMPLE = {"userName": "u", "active": True, "title": "t", "name": {"givenName": "g"},
          "emails": [{"value": "u@example.com", "type": "work", "primary": True}],
          "id": "U1", "meta": {"resourceType": "User", "created": STAMP,
                               "lastModified": STAMP}, "groups": []}


def assert_invalid_filter(text: str) -> None:
    """400 invalidFilter (RFC 7644 §3.4.2.2, §3.12) from parsing, or else from both
    compiling (either database) and evaluating; never any other exception."""
    try:
        node = parse_filter(text)
    except ScimError as exc:
        assert (exc.status, exc.scim_type) == (400, "invalidFilter"), exc.detail
        return
    for dialect in ("sqlite", "postgresql"):
        with pytest.raises(ScimError) as compiled:
            FilterCompiler(dialect, USER_TYPE).compile(node)
        assert (compiled.value.status, compiled.value.scim_type) == (400, "invalidFilter")
    with pytest.raises(ScimError) as evaluated:
        matches(node, SAMPLE, USER_TYPE)
    assert (evaluated.value.status, evaluated.value.scim_type) == (400, "invalidFilter")


@pytest.mark.parametrize("text", [
    "(" * 10_000 + 'userName eq "x"' + ")" * 10_000,
    "(" * 10_000 + 'userName eq "x"',
    "not (" * 10_000 + 'userName eq "x"' + ")" * 10_000,
    "not (" * 33 + 'userName eq "x"' + ")" * 33,
    "emails[" * 2_000 + 'value eq "x"' + "]" * 2_000,
    'emails[emails[value eq "x"]]',
    "(" * 40 + 'userName eq "x"',
    'userName eq "' + "a" * 100_000 + '"',
    " or ".join(f'userName eq "u{i}"' for i in range(6_000)),
    " " * 100_000 + 'userName eq "x"',
], ids=["parens-10000", "unbalanced-10000", "not-10000", "not-33", "brackets-2000",
        "brackets-2", "unbalanced-40", "literal-100KB", "or-chain-100KB", "spaces-100KB"])
def test_hostile_filters_are_invalid_filter(text: str) -> None:
    """Deep or huge filters are 400 invalidFilter, never RecursionError or 500.

    RFC 7644 §3.4.2.2 sets no limits; §3.12 lets the server refuse with
    ``invalidFilter``. scimd refuses filters over 4096 characters and deeper than 32.
    """
    assert_invalid_filter(text)


@pytest.mark.parametrize("text", [
    'nosuch eq "x"', "nosuch pr", 'name.nosuch eq "x"', 'emails[nosuch eq "x"]',
    'emails.nosuch co "x"', 'urn:example:params:scim:schemas:unknown:2.0:User:foo eq "x"',
    f'{ENTERPRISE_URN}:nosuch eq "x"', 'manager.nosuch eq "x"',
])
def test_unknown_attribute_is_invalid_filter(text: str) -> None:
    """RFC 7644 §3.4.2.2: an unknown attribute name is 400 ``invalidFilter`` (§3.12)."""
    assert_invalid_filter(text)


@pytest.mark.parametrize("text", [
    "userName gt true", "userName eq true", "active gt true", 'active eq "yes"',
    "active eq 1", 'meta.created gt "yesterday"', 'meta.created co "2024"',
    "meta.created gt 5", "title gt null", 'emails.primary sw "t"', 'name eq "x"',
    'emails[primary co "t"]', "userName",
])
def test_wrong_comparison_is_invalid_filter(text: str) -> None:
    """RFC 7644 §3.4.2.2: ``gt`` etc. with a boolean, a string against a boolean or a
    dateTime, ``co``/``sw`` on non-strings, ``null`` with an ordering: 400 invalidFilter."""
    assert_invalid_filter(text)


def test_deep_and_wide_legal_filters_run(prop_db: Database) -> None:
    """Filters at the limits (32 levels, ~3.9 KB of ``or``) run and agree (RFC 7644 §3.4.2.2)."""
    tenant_pk, bodies = populate(prop_db, [{"userName": f"u{i}"} for i in range(5)], [],
                                 [STAMP] * 5)
    deep = "not (" * 31 + 'userName eq "u1"' + ")" * 31
    wide = " or ".join(f'userName eq "u{i}"' for i in range(180))
    parens = "(" * 1_000 + 'userName eq "u2"' + ")" * 1_000
    for text in (deep, wide, parens):
        outcome(prop_db, tenant_pk, bodies, text)
    assert len(select_sql(prop_db, tenant_pk, parse_filter(deep))) == 4
    assert len(select_sql(prop_db, tenant_pk, parse_filter(wide))) == 5


NAME = st.from_regex(r"[A-Za-z][A-Za-z0-9_-]{0,12}", fullmatch=True) | st.sampled_from(
    ["eq", "ne", "and", "or", "not", "pr", "userName", "emails", "value", "true", "null"])


@settings(max_examples=MAX_EXAMPLES * 5, deadline=None)
@given(attr=NAME, sub=st.none() | NAME, op=st.sampled_from(["eq", "EQ", "Eq", "ne", "co"]),
       value=st.text(max_size=30), spacing=st.sampled_from([" ", "  ", " \t"]))
def test_the_equality_shortcut_parses_as_the_grammar_does(attr: str, sub: str | None, op: str,
                                                           value: str, spacing: str) -> None:
    """RFC 7644 §3.4.2.2: ``attr eq "value"`` taken by the shortcut in ``parse_filter``
    gives the tree scim2-models' grammar gives, and what the grammar refuses the
    shortcut does not accept."""
    from scim2_models.path import ScimFilter

    from scimd.scim.paths import _simple_equality

    path = attr + (f".{sub}" if sub else "")
    text = f'{path}{spacing}{op}{spacing}"{value}"'
    quick = _simple_equality(text)
    try:
        grammar = ScimFilter(text).ast
    except Exception:  # the grammar refuses it: so must the shortcut
        assert quick is None, text
        return
    if quick is not None:
        assert quick == grammar, text
