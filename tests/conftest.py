"""Shared fixtures: real databases (SQLite and PostgreSQL), tenants, HTTP clients.

Every storage-touching test runs on SQLite and on PostgreSQL. PostgreSQL comes
from ``SCIMD_TEST_POSTGRES_URL`` (default ``postgresql://postgres@127.0.0.1:5432/test``);
each run creates a database of its own and drops it at the end, so leftovers of
other runs never change a result. With ``CI=true`` an unreachable PostgreSQL
fails the run; elsewhere the PostgreSQL half is skipped with a notice.
Each test gets fresh tenants, so tests never see each other's users.
"""

from __future__ import annotations

import os
import secrets
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from starlette.testclient import TestClient

from scimd.app import create_app
from scimd.settings import Settings
from scimd.store import migrate, tenants
from scimd.store.db import Database, connect, normalize_url
from scimd.store.records import Tenant

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
POSTGRES_URL = os.environ.get("SCIMD_TEST_POSTGRES_URL",
                              "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("SCIMD_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
BACKENDS = ["sqlite", "postgresql"]


def _postgres_admin_engine():
    return create_engine(normalize_url(POSTGRES_URL), isolation_level="AUTOCOMMIT")


_pg_problem: str | None = None


def _postgres_reachable() -> bool:
    global _pg_problem
    try:
        engine = _postgres_admin_engine()
        with engine.connect() as conn:
            conn.execute(text("select 1"))
        engine.dispose()
        return True
    except Exception as exc:
        _pg_problem = f"{type(exc).__name__}: {exc}"
        return False


_redis_problem: str | None = None


def _redis_reachable() -> bool:
    global _redis_problem
    try:
        import redis

        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
        return True
    except Exception as exc:
        _redis_problem = f"{type(exc).__name__}: {exc}"
        return False


def pytest_configure(config: pytest.Config) -> None:
    config.postgres_ok = _postgres_reachable()  # type: ignore[attr-defined]
    config.redis_ok = _redis_reachable()  # type: ignore[attr-defined]
    if IN_CI and not config.postgres_ok:  # type: ignore[attr-defined]
        raise pytest.UsageError(
            f"CI=true but PostgreSQL at {POSTGRES_URL} is unreachable: {_pg_problem}")
    if IN_CI and not config.redis_ok:  # type: ignore[attr-defined]
        raise pytest.UsageError(
            f"CI=true but Redis at {REDIS_URL} is unreachable: {_redis_problem}")


def pytest_report_header(config: pytest.Config) -> list[str]:
    pg = "reachable" if config.postgres_ok else f"UNREACHABLE ({_pg_problem}); skipped"  # type: ignore[attr-defined]
    rd = "reachable" if config.redis_ok else f"UNREACHABLE ({_redis_problem}); skipped"  # type: ignore[attr-defined]
    return [f"scimd: PostgreSQL {POSTGRES_URL}: {pg}", f"scimd: Redis {REDIS_URL}: {rd}"]


@pytest.fixture
def redis_prefix(request: pytest.FixtureRequest) -> Iterator[str]:
    """A Redis key prefix of this test's own; its keys are deleted afterwards."""
    if not request.config.redis_ok:  # type: ignore[attr-defined]
        pytest.skip(f"Redis unreachable at {REDIS_URL}")
    import redis

    prefix = f"scimd-test-{uuid.uuid4().hex[:12]}"
    yield prefix
    client = redis.Redis.from_url(REDIS_URL)
    for key in client.scan_iter(f"{prefix}:*"):
        client.delete(key)
    client.close()


@contextmanager
def _postgres_database(request: pytest.FixtureRequest, prefix: str) -> Iterator[str]:
    """A new, empty PostgreSQL database named ``prefix`` and a random suffix; dropped
    afterwards. Skips when PostgreSQL is unreachable (``make test`` fails then in CI)."""
    if not request.config.postgres_ok:  # type: ignore[attr-defined]
        pytest.skip(f"PostgreSQL unreachable at {POSTGRES_URL}")
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = _postgres_admin_engine()
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(normalize_url(POSTGRES_URL)).set(database=name)
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="session")
def postgresql_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh PostgreSQL database for this test session, dropped at the end."""
    with _postgres_database(request, "scimd_test") as url:
        yield url


@pytest.fixture(params=BACKENDS)
def empty_database_url(request: pytest.FixtureRequest, tmp_path) -> Iterator[str]:
    """An empty database of one test's own, on each backend: for migrations up and down,
    which the session's shared database must not see."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'empty.db'}"
        return
    with _postgres_database(request, "scimd_empty") as url:
        yield url


@pytest.fixture(scope="session")
def sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    return f"sqlite:///{tmp_path_factory.mktemp('db') / 'scimd.db'}"


@pytest.fixture(scope="session", params=BACKENDS)
def database_url(request: pytest.FixtureRequest) -> str:
    """The URL of a migrated database, once per backend."""
    return request.getfixturevalue(f"{request.param}_url")


@pytest.fixture(scope="session")
def db(database_url: str) -> Iterator[Database]:
    database = connect(database_url, pool_size=5)
    migrate.upgrade(database)
    yield database
    database.dispose()


@dataclass
class TenantAccess:
    """A tenant and an admin token for it."""

    tenant: Tenant
    token: str


def make_tenant(db: Database, dialect: str = "rfc", plan: str = "enterprise") -> TenantAccess:
    """A new tenant with an admin token."""
    with db.write() as conn:
        tenant = tenants.create_tenant(conn, name=f"t-{secrets.token_hex(4)}", plan=plan,
                                       dialect=dialect)
        token = tenants.create_token(conn, tenant.pk, label="test")
    return TenantAccess(tenant, token)


@pytest.fixture(scope="session")
def app(db: Database, database_url: str):
    # Requests that name no tenant answer in the server's default dialect; these tests
    # drive rfc tenants, so the default is rfc here (tests of the slack default make
    # their own app).
    settings = Settings(database_url=database_url, default_dialect="rfc", rate_limits=False,
                        webhooks=False)
    return create_app(settings, db)


class ScimClient:
    """An HTTP client for one tenant: paths are relative to ``/scim/v2``."""

    def __init__(self, http: TestClient, access: TenantAccess, prefix: str = "/scim/v2"):
        self.http = http
        self.access = access
        self.prefix = prefix
        self.auth = {"Authorization": f"Bearer {access.token}"}

    def request(self, method: str, path: str, *, json: Any = None,
                headers: dict[str, str] | None = None, auth: bool = True,
                **kw: Any) -> httpx.Response:
        h = dict(self.auth) if auth else {}
        h.update(headers or {})
        return self.http.request(method, self.prefix + path, json=json, headers=h, **kw)

    def get(self, path: str, **kw: Any) -> httpx.Response:
        return self.request("GET", path, **kw)

    def post(self, path: str, json: Any = None, **kw: Any) -> httpx.Response:
        return self.request("POST", path, json=json, **kw)

    def put(self, path: str, json: Any = None, **kw: Any) -> httpx.Response:
        return self.request("PUT", path, json=json, **kw)

    def patch(self, path: str, json: Any = None, **kw: Any) -> httpx.Response:
        return self.request("PATCH", path, json=json, **kw)

    def delete(self, path: str, **kw: Any) -> httpx.Response:
        return self.request("DELETE", path, **kw)

    # conveniences
    def create_user(self, user_name: str, **attrs: Any) -> dict:
        body = {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                "userName": user_name,
                "emails": [{"value": f"{user_name}@example.com", "type": "work",
                            "primary": True}], **attrs}
        r = self.post("/Users", body)
        assert r.status_code == 201, r.text
        return r.json()

    def create_group(self, name: str, members: list[str] = (), **attrs: Any) -> dict:  # type: ignore[assignment]
        body = {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
                "displayName": name, "members": [{"value": m} for m in members], **attrs}
        r = self.post("/Groups", body)
        assert r.status_code == 201, r.text
        return r.json()


@pytest.fixture
def http(app) -> Iterator[TestClient]:
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


@pytest.fixture
def scim(http: TestClient, db: Database):
    """``scim(dialect="rfc")`` → a :class:`ScimClient` for a brand-new tenant."""

    def make(dialect: str = "rfc", plan: str = "enterprise") -> ScimClient:
        return ScimClient(http, make_tenant(db, dialect, plan))

    return make


@pytest.fixture
def rfc(scim) -> ScimClient:
    """A client for a fresh ``rfc``-dialect tenant."""
    return scim("rfc")
