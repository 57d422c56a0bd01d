"""The SQL filter compiler agrees with the in-memory filter evaluator.

RFC 7644 §3.4.2.2 defines one meaning for every filter; scimd has two
implementations of it: ``scimd.store.filter_sql`` (what ``GET /Users?filter=``
runs on SQLite and PostgreSQL) and ``scimd.scim.evaluate`` (the reference, used
for PATCH value selections, RFC 7644 §3.5.2). These tests store random users in
a real database, run random filters through both, and require the same set of
matching ids, and the same 400 ``invalidFilter`` answers (RFC 7644 §3.12) for
filters that are not acceptable.

PostgreSQL runs when ``SCIMD_TEST_POSTGRES_URL`` is set (a throw-away database
is created for the session and dropped at the end); SQLite always runs.
"""

from __future__ import annotations

import copy
import json
import os
import secrets
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import create_engine, select, update
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from scimd.scim.core_schemas import ENTERPRISE_URN, USER_TYPE, USER_URN
from scimd.scim.errors import ScimError
from scimd.scim.evaluate import matches
from scimd.scim.paths import parse_filter
from scimd.scim.validate import canonical_body
from scimd.scim.values import DATETIME_FORMAT
from scimd.store import groups as group_store
from scimd.store import migrate
from scimd.store import tables as t
from scimd.store.common import new_id
from scimd.store.db import Database, connect, normalize_url
from scimd.store.filter_sql import FilterCompiler
from scimd.store.records import UserRecord
from scimd.store.tenants import create_tenant
from scimd.store.users import insert_user, load_groups

FILTERS_PER_EXAMPLE = 20
MAX_EXAMPLES = 150

# -- databases ---------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def sqlite_db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Database]:
    path = tmp_path_factory.mktemp("filter-properties") / "scimd.db"
    db = connect(f"sqlite:///{path}")
    migrate.upgrade(db)
    yield db
    db.dispose()


@pytest.fixture(scope="session")
def postgres_db() -> Iterator[Database]:
    """A database of its own on the server of ``SCIMD_TEST_POSTGRES_URL``, dropped at the end."""
    url = os.environ.get("SCIMD_TEST_POSTGRES_URL")
    if not url:
        pytest.skip("SCIMD_TEST_POSTGRES_URL is not set")
    admin = create_engine(normalize_url(url), isolation_level="AUTOCOMMIT")
    try:
        admin_conn = admin.connect()
    except OperationalError as exc:
        admin.dispose()
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"SCIMD_TEST_POSTGRES_URL is set but unreachable: {exc}", pytrace=False)
        pytest.skip(f"PostgreSQL at SCIMD_TEST_POSTGRES_URL is unreachable: {exc}")
    name = f"scimd_prop_{secrets.token_hex(6)}"
    admin_conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    db = None
    try:
        target = make_url(normalize_url(url)).set(database=name)
        db = connect(target.render_as_string(hide_password=False), pool_size=2)
        migrate.upgrade(db)
        yield db
    finally:
        if db is not None:
            db.dispose()
        admin_conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin_conn.close()
        admin.dispose()


@pytest.fixture(scope="session", params=["sqlite", pytest.param("postgresql",
                                                                 marks=pytest.mark.postgres)])
def db(request: pytest.FixtureRequest) -> Database:
    return request.getfixturevalue(f"{request.param}_db")


# -- random users ----------------------------------------------------------------------------------

ALPHABET = "aAbBeEx0 .-@É鞆Üü"
"""Few letters, so that values collide and filters match often; mixed case, non-ASCII."""

RARE = '"\\/'
"""Characters that need escaping in a filter literal (RFC 7159 §7 string syntax)."""


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


Directory = tuple[list[dict], list[tuple[str, list[int]]], list[str]]


@st.composite
def directories(draw: st.DrawFn, *, primary_optional: bool = False) -> Directory:
    """Users (unique userName and externalId per tenant), groups with members, and stamps."""
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
    base = datetime(2024, 2, 29, 23, 59, 59, 999999, tzinfo=UTC)
    offsets = st.sampled_from([0, 1, 2, 1_000_000, 86_400_000_000, -31_536_000_000_000])
    stamps = [
        (base + timedelta(microseconds=draw(offsets))).strftime(DATETIME_FORMAT) for _ in users
    ]
    return users, groups, stamps


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
            if prepare:  # what POST /Users adds: "active" (the rfc dialect's policy)
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
        rows = conn.execute(select(t.users).where(t.users.c.tenant_pk == tenant.pk)).all()
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
    with db.read() as conn:
        cond = FilterCompiler(conn.dialect.name, USER_TYPE).compile(node)
        rows = conn.execute(select(t.users.c.id).where(t.users.c.tenant_pk == tenant_pk, cond))
        return {r.id for r in rows}


def select_memory(bodies: dict[str, dict], node: Any) -> set[str]:
    return {uid for uid, body in bodies.items() if matches(node, body, USER_TYPE)}


# -- random filters ------------------------------------------------------------------------------


def _values(bodies: dict[str, dict]) -> dict[str, list]:
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
    (["emails.value"], "text", "emails.value"),
    (["emails.type"], "text", "emails.type"),
    (["emails.display"], "text", "emails.display"),
    (["phoneNumbers.value"], "text", "phoneNumbers.value"),
    (["phoneNumbers.type"], "text", "phoneNumbers.type"),
    (["groups.value"], "text", "groups.value"),
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
    value = draw(st.one_of(st.sampled_from(candidates), st.sampled_from(pool.get("*") or ["x"]),
                           words(0, 4), st.just("User")))
    how = draw(st.sampled_from(["same", "upper", "lower", "swap", "prefix", "suffix", "mid"]))
    if how == "upper":
        value = value.upper()
    elif how == "lower":
        value = value.lower()
    elif how == "swap":
        value = value.swapcase()
    elif how in ("prefix", "suffix", "mid") and value:
        cut = draw(st.integers(0, len(value)))
        value = value[:cut] if how == "prefix" else value[cut:] if how == "suffix" else \
            value[cut:cut + draw(st.integers(0, 3))]
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
    multi = key.split(".")[0] in ("emails", "phoneNumbers", "groups")
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
    choice = draw(st.integers(0, 6 if depth < 3 else 0))
    if choice <= 2:
        return draw(attribute_expression(pool))
    if choice == 3:
        return f"{_case(draw, 'not')} ({draw(filters(pool, depth + 1))})"
    if choice == 4:
        return f"({draw(filters(pool, depth + 1))})"
    op = _case(draw, draw(st.sampled_from(["and", "or"])))
    terms = [draw(filters(pool, depth + 1)) for _ in range(draw(st.integers(2, 3)))]
    terms = [f"({term})" if draw(st.booleans()) else term for term in terms]
    return f" {op} ".join(terms)


# -- the property ---------------------------------------------------------------------------


def outcome(db: Database, tenant_pk: int, bodies: dict[str, dict], text: str) -> None:
    """Check one filter: same ids from SQL and memory, or 400 invalidFilter (RFC 7644 §3.12)."""
    try:
        node = parse_filter(text)
    except ScimError as exc:
        assert (exc.status, exc.scim_type) == (400, "invalidFilter")
        return
    sql_error = memory_error = None
    sql_ids = memory_ids = set()
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
            assert (exc.status, exc.scim_type) == (400, "invalidFilter"), exc.detail
    if memory_error is not None:
        # The compiler checks every leaf; the evaluator only the ones it reaches, so an
        # error the evaluator finds must also be one the compiler finds.
        assert sql_error is not None, f"{text!r}: memory rejects ({memory_error.detail}), " \
            "SQL accepts"
    if sql_error is not None:
        return
    if sql_ids != memory_ids:
        differing = {uid: bodies[uid] for uid in sql_ids ^ memory_ids}
        pytest.fail(
            f"filter {text!r}: SQL only {sorted(sql_ids - memory_ids)}, memory only "
            f"{sorted(memory_ids - sql_ids)}\n"
            + json.dumps(differing, indent=1, ensure_ascii=False)
        )


@settings(max_examples=MAX_EXAMPLES, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(directory=directories(), data=st.data())
def test_sql_filters_match_memory_filters(db: Database, directory, data) -> None:
    """RFC 7644 §3.4.2.2: every filter selects the same users in SQL as in memory.

    Covers eq/ne/co/sw/ew/pr/gt/ge/lt/le, and/or/not and grouping, sub-attributes,
    value paths (``emails[type eq "work" and value co "x"]``), URN-qualified names
    (RFC 7644 §3.10), booleans, ``meta.created`` dateTimes (RFC 7643 §2.3.5), ``null``,
    case-insensitive names and operators, and caseExact rules (RFC 7643 §2.1, §7).
    """
    users, groups, stamps = directory
    modified = [data.draw(st.sampled_from([s, stamps[0]])) for s in stamps]
    tenant_pk, bodies = populate(db, users, groups, stamps, modified)
    pool = _values(bodies)
    for text in data.draw(st.lists(filters(pool), min_size=FILTERS_PER_EXAMPLE,
                                   max_size=FILTERS_PER_EXAMPLE), label="filters"):
        outcome(db, tenant_pk, bodies, text)
