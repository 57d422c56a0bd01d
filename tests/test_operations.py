"""Operations (docs/operations.md): health and readiness, metrics and their protection,
access log and request ids, body and time limits, graceful shutdown, HTTPS.

The first half drives the ASGI app in process; the ``live`` half starts real
``scimd serve`` processes (slow clients, SIGTERM, TLS, several workers).
"""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import inspect
import json
import logging
import os
import signal
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import anyio
import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import create_engine, event, select
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Mount, Route
from starlette.testclient import TestClient

import live
from conftest import make_tenant
from live import LiveServer
from scimd import observability
from scimd.app import create_app, error_response
from scimd.limits import deadlines
from scimd.observability import ObservabilityMiddleware
from scimd.scim.errors import ScimError
from scimd.settings import Settings
from scimd.store import tables, tenants
from scimd.store.db import awaited_writes, connect, normalize_url

USER = "urn:ietf:params:scim:schemas:core:2.0:User"
ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"


def user_body(name: str) -> dict:
    return {"schemas": [USER], "userName": name,
            "emails": [{"value": f"{name}@ops.example", "primary": True}]}


def metric(text: str, name: str, **labels: str) -> float:
    """One sample's value in a Prometheus exposition (0 when absent)."""
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and sample.labels == labels:
                return sample.value
    return 0.0


def scrape(http: TestClient | httpx.Client, **kw) -> str:
    r = http.get("/metrics", **kw)
    assert r.status_code == 200, r.text
    return r.text


# -- health and readiness ------------------------------------------------------------


def test_healthz_and_readyz(http):
    assert http.get("/healthz").status_code == 200
    r = http.get("/readyz")
    assert r.status_code == 200 and r.text == "ready"


def test_readyz_answers_within_the_request_timeout(sqlite_url, monkeypatch):
    """A database that hangs gets 503 from ``/readyz`` within ``SCIMD_REQUEST_TIMEOUT``
    when that is shorter than the probe's own 3 s (docs/operations.md)."""
    db = connect(sqlite_url)
    hung = threading.Event()

    def connect_and_hang(*_args, **_kw):
        hung.wait(10)
        raise TimeoutError("hung")

    try:
        app = create_app(Settings(database_url=sqlite_url, request_timeout=0.5), db)
        with TestClient(app, raise_server_exceptions=False) as client:
            monkeypatch.setattr(db.engine, "connect", connect_and_hang)
            started = time.monotonic()
            r = client.get("/readyz")
            elapsed = time.monotonic() - started
        assert r.status_code == 503 and r.text == "database unavailable"
        assert elapsed < observability.READY_TIMEOUT - 1
    finally:
        hung.set()
        db.dispose()


@pytest.mark.parametrize("url", ["sqlite:////nonexistent-scimd-dir/x/scimd.db",
                                 "postgresql://scimd@127.0.0.1:1/none"])
def test_readyz_is_503_when_the_database_does_not_answer(url):
    """The process is up (healthz 200) but not ready: the database cannot be reached."""
    db = connect(url)
    try:
        with TestClient(create_app(Settings(database_url=url), db),
                        raise_server_exceptions=False) as client:
            assert client.get("/healthz").status_code == 200
            started = time.monotonic()
            r = client.get("/readyz")
            assert r.status_code == 503
            assert "unavailable" in r.text
            assert time.monotonic() - started < observability.READY_TIMEOUT + 2
            assert r.headers["x-request-id"]
    finally:
        db.dispose()


# -- request ids ---------------------------------------------------------------------


def test_every_answer_has_a_request_id(http, rfc):
    answers = [
        http.get("/healthz"),
        rfc.get("/Users"),
        rfc.get("/Users", auth=False),            # 401
        rfc.get("/Users/U-NOT-THERE"),            # 404 resource
        http.get("/scim/v2/NoSuchEndpoint"),      # 404 endpoint
        http.delete("/scim/v2/Users"),            # 405
        rfc.post("/Users", content=b"{not json"),  # 400
    ]
    assert [a.status_code for a in answers] == [200, 200, 401, 404, 404, 405, 400]
    ids = [a.headers["x-request-id"] for a in answers]
    assert all(len(i) == 32 and int(i, 16) >= 0 for i in ids)
    assert len(set(ids)) == len(ids)


def test_client_request_id_is_echoed_sanitised(http):
    assert http.get("/healthz", headers={"X-Request-Id": "req-42.a_b:c"}) \
        .headers["x-request-id"] == "req-42.a_b:c"
    assert http.get("/healthz", headers={"X-Request-Id": b'a b"<c>;d\xe9'}) \
        .headers["x-request-id"] == "abcd"
    long = http.get("/healthz", headers={"X-Request-Id": "x" * 500}).headers["x-request-id"]
    assert long == "x" * 128
    generated = http.get("/healthz", headers={"X-Request-Id": "<<>>"}).headers["x-request-id"]
    assert len(generated) == 32 and generated != "<<>>"


# -- access log ----------------------------------------------------------------------


def access_lines(caplog: pytest.LogCaptureFixture) -> list[dict]:
    return [json.loads(r.getMessage()) for r in caplog.records if r.name == "scimd.access"]


def test_one_json_access_line_per_request(rfc, caplog):
    user = rfc.create_user("logged.user")
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="scimd.access"):
        r = rfc.get(f"/Users/{user['id']}", headers={"X-Request-Id": "trace-1"})
        rfc.get("/Users", auth=False)
    assert r.status_code == 200
    lines = access_lines(caplog)
    assert len(lines) == 2
    ok, refused = lines
    assert set(ok) == {"time", "request_id", "method", "route", "status", "duration_ms",
                       "tenant_id", "client"}
    assert ok["request_id"] == "trace-1"
    assert ok["method"] == "GET" and ok["route"] == "/scim/v2/Users/{id}"
    assert ok["status"] == 200 and ok["duration_ms"] > 0
    assert ok["client"] == "testclient"
    assert ok["time"].endswith("Z") and ok["time"][:2] == "20"
    # null until the API records the principal (request.state.principal), then the tenant
    assert ok["tenant_id"] in (None, rfc.access.tenant.id)
    assert refused["status"] == 401 and refused["tenant_id"] is None
    text = caplog.text
    assert rfc.access.token not in text and "Bearer" not in text and "uthorization" not in text


def _mini_app(settings: Settings) -> ObservabilityMiddleware:
    """A tiny app behind the real middleware: handlers the real API does not offer."""

    async def principal(request: Request) -> Response:
        request.state.principal = SimpleNamespace(tenant=SimpleNamespace(id="T0PS1"))
        return PlainTextResponse("ok")

    async def crash(_request: Request) -> Response:
        raise RuntimeError("boom")

    async def slow(_request: Request) -> Response:
        with deadlines.bounded():  # a wait, as a real handler's waits are
            await anyio.sleep(10)
        return PlainTextResponse("late")

    async def busy(request: Request) -> Response:
        time.sleep(0.5)  # work on the event loop past the deadline: nothing is armed
        await deadlines.run_in_thread(request.state.hops.append, "started")
        return PlainTextResponse("late")

    def render(request: Request, exc):
        return error_response(request, exc, settings)

    async def on_crash(request: Request, _exc: Exception) -> Response:
        from scimd.scim.errors import ScimError

        return render(request, ScimError(500, "internal_error", "failed"))

    inner = Starlette(routes=[Route("/principal", principal), Route("/crash", crash),
                              Route("/slow", slow), Route("/busy", busy)],
                      exception_handlers={Exception: on_crash})
    return ObservabilityMiddleware(inner, settings, render)


def test_access_line_names_the_tenant_the_handler_recorded(caplog):
    app = _mini_app(Settings(default_dialect="rfc"))
    with TestClient(app, raise_server_exceptions=False) as client, \
            caplog.at_level(logging.INFO, logger="scimd.access"):
        assert client.get("/principal").status_code == 200
    (line,) = access_lines(caplog)
    assert line["tenant_id"] == "T0PS1"


def test_a_crash_is_a_scim_500_with_request_id_counted_and_logged(caplog):
    app = _mini_app(Settings(default_dialect="rfc"))
    with TestClient(app, raise_server_exceptions=False) as client, \
            caplog.at_level(logging.INFO, logger="scimd.access"):
        before = metric(observability.metrics_text().decode(), "scimd_http_requests_total",
                        method="GET", route="/crash", status="500")
        r = client.get("/crash", headers={"X-Request-Id": "crash-1"})
    assert r.status_code == 500 and r.json()["schemas"] == [ERROR]
    assert r.headers["x-request-id"] == "crash-1"
    assert [(x["route"], x["status"]) for x in access_lines(caplog)] == [("/crash", 500)]
    after = metric(observability.metrics_text().decode(), "scimd_http_requests_total",
                   method="GET", route="/crash", status="500")
    assert after == before + 1


# -- metrics -------------------------------------------------------------------------


def test_metrics_count_requests_by_route_template(http, rfc):
    user = rfc.create_user("metered.user")
    labels = {"method": "GET", "route": "/scim/v2/Users/{id}"}
    before = scrape(http)
    for _ in range(2):
        assert rfc.get(f"/Users/{user['id']}").status_code == 200
    assert rfc.get("/Users/U-MISSING").status_code == 404
    assert http.get(f"/scim/v2/Nope/{user['id']}").status_code == 404
    after = scrape(http)
    assert metric(after, "scimd_http_requests_total", **labels, status="200") \
        == metric(before, "scimd_http_requests_total", **labels, status="200") + 2
    assert metric(after, "scimd_http_requests_total", **labels, status="404") \
        == metric(before, "scimd_http_requests_total", **labels, status="404") + 1
    assert metric(after, "scimd_http_request_duration_seconds_count", **labels) \
        == metric(before, "scimd_http_request_duration_seconds_count", **labels) + 3
    assert metric(after, "scimd_http_requests_total", method="GET", route="unmatched",
                  status="404") >= 1
    assert user["id"] not in after and "U-MISSING" not in after  # never raw ids
    assert after.count('le="+Inf"') >= 1


def test_metrics_count_rate_limit_rejections(db, database_url):
    settings = Settings(database_url=database_url, default_dialect="rfc",
                        rate_limit_buckets="writes=1/1")
    access = make_tenant(db, "rfc")
    auth = {"Authorization": f"Bearer {access.token}"}
    with TestClient(create_app(settings, db)) as client:
        before = metric(scrape(client), "scimd_rate_limit_rejections_total",
                        code="too_many_requests")
        answers = [client.post("/scim/v2/Users", json=user_body(f"rl.{i}"), headers=auth)
                   for i in range(2)]
        assert [a.status_code for a in answers] == [201, 429]
        assert metric(scrape(client), "scimd_rate_limit_rejections_total",
                      code="too_many_requests") == before + 1


def test_metrics_count_resource_locked(db, database_url):
    settings = Settings(database_url=database_url, default_dialect="rfc", rate_limits=False,
                        lock_wait=0.1)
    app = create_app(settings, db)
    access = make_tenant(db, "rfc")
    auth = {"Authorization": f"Bearer {access.token}"}
    with TestClient(app) as client:
        user = client.post("/scim/v2/Users", json=user_body("locked.user"), headers=auth).json()
        before = metric(scrape(client), "scimd_rate_limit_rejections_total",
                        code="resource_locked")
        with app.state.services.locks.hold(f"{access.tenant.pk}:user:{user['id']}", wait=0):
            r = client.put(f"/scim/v2/Users/{user['id']}", json=user_body("locked.user"),
                           headers=auth)
        assert r.status_code == 429, r.text
        assert metric(scrape(client), "scimd_rate_limit_rejections_total",
                      code="resource_locked") == before + 1


def test_metrics_count_guard_trips(http):
    before = metric(scrape(http), "scimd_deprovision_guard_trips_total", tenant="TGUARD1")
    observability.guard_tripped("TGUARD1")
    assert metric(scrape(http), "scimd_deprovision_guard_trips_total",
                  tenant="TGUARD1") == before + 1


def test_metrics_show_the_database_pool(http, db):
    """Every pool counts: PostgreSQL has a second one while a server runs, for the reads
    and writes served on its event loop (store/db.py, ``open_awaited_reads``)."""
    text = scrape(http)
    assert len(db.engines) == (1 if db.is_sqlite else 2)
    size = db.engine.pool.size()
    on_the_loop = 2 * (size + awaited_writes(size))
    assert metric(text, "scimd_db_pool_size") == (size if db.is_sqlite else size + on_the_loop)
    # nothing else is being served: only SQLite's connection kept for the loop is out
    assert metric(text, "scimd_db_pool_checked_out") == (
        1 if db.loop_connection is not None else 0)


def test_metrics_off_is_404(db, database_url):
    settings = Settings(database_url=database_url, default_dialect="rfc", metrics="off")
    with TestClient(create_app(settings, db), raise_server_exceptions=False) as client:
        r = client.get("/metrics")
    assert r.status_code == 404 and r.json()["schemas"] == [ERROR]


def test_metrics_behind_a_token(db, database_url):
    settings = Settings(database_url=database_url, default_dialect="rfc",
                        metrics="token:s3cret-metrics")
    with TestClient(create_app(settings, db), raise_server_exceptions=False) as client:
        assert client.get("/metrics").status_code == 401
        wrong = client.get("/metrics", headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401 and wrong.json()["schemas"] == [ERROR]
        assert "Bearer" in wrong.headers["www-authenticate"]
        ok = client.get("/metrics", headers={"Authorization": "Bearer s3cret-metrics"})
        assert ok.status_code == 200
        assert ok.headers["content-type"].startswith("text/plain")
        assert "scimd_http_requests_total" in ok.text


def test_metrics_setting_is_checked():
    for bad in ("maybe", "token:", "token:  "):
        with pytest.raises(ValueError, match="SCIMD_METRICS"):
            Settings(metrics=bad).validate()
    Settings(metrics="token:x").validate()


# -- limits --------------------------------------------------------------------------


@pytest.fixture
def small_body_app(db, database_url):
    return create_app(Settings(database_url=database_url, default_dialect="rfc",
                               rate_limits=False, max_body_bytes=2048), db)


def test_body_over_the_limit_is_413_by_content_length(small_body_app, db):
    access = make_tenant(db, "rfc")
    auth = {"Authorization": f"Bearer {access.token}"}
    with TestClient(small_body_app) as client:
        big = user_body("big.user") | {"displayName": "x" * 4000}
        r = client.post("/scim/v2/Users", json=big, headers=auth)
        assert r.status_code == 413
        assert r.json()["schemas"] == [ERROR] and r.json()["status"] == "413"
        assert r.headers["x-request-id"]
        assert client.post("/scim/v2/Users", json=user_body("small.user"),
                           headers=auth).status_code == 201
        # the same limit without a token: still 413 before anything else
        assert client.post("/scim/v2/Users", json=big).status_code == 413


def test_streamed_body_over_the_limit_is_413(small_body_app, db):
    access = make_tenant(db, "rfc")
    auth = {"Authorization": f"Bearer {access.token}", "Content-Type": "application/json"}

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it arrives
        yield b'{"schemas": ["' + USER.encode() + b'"], "userName": "streamed", "x": "'
        for _ in range(10):
            yield b"y" * 1000
        yield b'"}'

    with TestClient(small_body_app) as client:
        r = client.post("/scim/v2/Users", content=chunks(), headers=auth)
    assert r.status_code == 413 and r.json()["status"] == "413"


def test_slow_handler_is_answered_503_at_the_deadline(caplog):
    app = _mini_app(Settings(default_dialect="rfc", request_timeout=0.3))
    before = metric(observability.metrics_text().decode(), "scimd_request_timeouts_total")
    with TestClient(app) as client, caplog.at_level(logging.INFO, logger="scimd.access"):
        started = time.monotonic()
        r = client.get("/slow", headers={"X-Request-Id": "slow-1"})
        elapsed = time.monotonic() - started
    assert r.status_code == 503 and elapsed < 3
    assert r.json()["schemas"] == [ERROR] and r.json()["status"] == "503"
    assert r.headers["x-request-id"] == "slow-1"
    assert [x["status"] for x in access_lines(caplog)] == [503]
    assert metric(observability.metrics_text().decode(),
                  "scimd_request_timeouts_total") == before + 1


def test_a_request_past_its_deadline_is_answered_503_at_its_next_wait(caplog):
    """The deadline fell while the handler ran on the event loop, where nothing can cut
    it short; its next wait answers 503 before handing anything to a thread."""
    app = _mini_app(Settings(default_dialect="rfc", request_timeout=0.3))
    hops: list[str] = []

    async def with_hops(scope, receive, send) -> None:
        scope.setdefault("state", {})["hops"] = hops
        await app(scope, receive, send)

    with TestClient(with_hops) as client, caplog.at_level(logging.INFO, logger="scimd.access"):
        r = client.get("/busy")
    assert r.status_code == 503 and r.json()["status"] == "503"
    assert hops == []
    assert [x["status"] for x in access_lines(caplog)] == [503]


def _writing_app(db, settings: Settings, *, hold: float) -> ObservabilityMiddleware:
    """``POST /tenants/{name}`` creates a tenant in a database thread and holds its
    transaction open for ``hold`` seconds, as a write waiting on a lock or a disk would."""

    async def write(request: Request) -> Response:
        def work() -> None:
            with db.write() as conn:
                tenants.create_tenant(conn, name=request.path_params["name"],
                                      plan="enterprise", dialect="rfc")
                time.sleep(hold)

        await deadlines.run_in_thread(work)  # as the real handlers hop to a thread
        return PlainTextResponse("created", status_code=201)

    def render(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ScimError)
        return error_response(request, exc, settings)

    inner = Starlette(routes=[Route("/tenants/{name}", write, methods=["POST"])],
                      exception_handlers={ScimError: render})  # as the real app has
    return ObservabilityMiddleware(inner, settings, render)


def _tenant_named(db, name: str) -> bool:
    with db.read() as conn:
        return any(row.name == name for row in conn.execute(select(tables.tenants.c.name)))


def test_a_write_answered_503_is_not_committed(db):
    """A 503 says nothing happened: the write that finishes in its thread after the
    deadline is rolled back (docs/operations.md, "Time per request")."""
    name = f"late-{time.monotonic_ns()}"
    app = _writing_app(db, Settings(default_dialect="rfc", request_timeout=0.3), hold=1.0)
    with TestClient(app) as client:
        r = client.post(f"/tenants/{name}")
        assert r.status_code == 503 and r.json()["status"] == "503"
    time.sleep(1.2)  # the thread has reached its commit and given it up by now
    assert not _tenant_named(db, name)


def test_a_write_committing_at_the_deadline_gets_its_real_answer(db):
    """Once a commit has begun the deadline lets the request finish: its answer is the
    truth about the write, however late, and the late answer is counted."""
    name = f"slow-commit-{time.monotonic_ns()}"
    app = _writing_app(db, Settings(default_dialect="rfc", request_timeout=1.0), hold=0.0)
    before = metric(observability.metrics_text().decode(), "scimd_request_late_answers_total")

    def slow_commit(_conn) -> None:
        time.sleep(2.0)  # the commit outlasts the deadline

    event.listen(db.engine, "commit", slow_commit)
    try:
        with TestClient(app) as client:
            started = time.monotonic()
            r = client.post(f"/tenants/{name}")
            elapsed = time.monotonic() - started
    finally:
        event.remove(db.engine, "commit", slow_commit)
    assert r.status_code == 201 and r.text == "created" and elapsed >= 2.0
    assert _tenant_named(db, name)
    assert metric(observability.metrics_text().decode(),
                  "scimd_request_late_answers_total") == before + 1


def test_deadline_expiry_and_first_commit_exclude_each_other():
    guard = deadlines.Deadline()
    guard.begin_commit()
    assert not guard.expire() and not guard.expired  # committing: let it finish
    guard = deadlines.Deadline()
    assert guard.expire() and guard.expire() and guard.expired
    with pytest.raises(deadlines.DeadlinePassed) as caught:
        guard.begin_commit()
    assert caught.value.status == 503 and caught.value.code == "request_timeout"


def test_a_wait_after_the_deadline_answered_does_not_start():
    """Once a request is answered 503, a further wait of it stops at once."""
    guard = deadlines.Deadline(0.0, lambda _guard: True)
    assert guard.expire()

    async def wait() -> None:
        with guard.armed():
            await anyio.sleep(10)

    started = time.monotonic()
    with pytest.raises(deadlines.DeadlinePassed):
        anyio.run(wait)
    assert time.monotonic() - started < 1


def test_a_wait_armed_after_the_deadline_fell_does_not_start(db):
    """A request whose deadline passed while it ran on the event loop (nothing was armed
    then) is answered 503 at its next wait, and the work it would have handed to a
    thread, a write here, never starts."""
    started: list[bool] = []

    def work() -> None:
        started.append(True)
        with db.write() as conn:
            tenants.create_tenant(conn, name="never", plan="enterprise", dialect="rfc")

    async def request() -> None:
        guard = deadlines.Deadline(asyncio.get_running_loop().time() - 1,
                                   lambda guard: guard.expire())
        token = deadlines.CURRENT.set(guard)
        try:
            await deadlines.run_in_thread(work)
        finally:
            deadlines.CURRENT.reset(token)

    with pytest.raises(deadlines.DeadlinePassed):
        anyio.run(request)
    assert started == [] and not _tenant_named(db, "never")


def test_every_thread_hop_of_a_request_is_bounded_by_its_deadline():
    """The deadline falls where a request waits (docs/operations.md, "Time per
    request"), so request code hops to threads only through ``deadlines.run_in_thread``
    (``/readyz`` has a time limit of its own), and no endpoint or exception handler is
    a plain function, which Starlette would run in a thread of its own."""
    src = Path(observability.__file__).parent
    hops = [f"{path.relative_to(src)}:{n}" for path in sorted(src.rglob("*.py"))
            for n, line in enumerate(path.read_text().splitlines(), 1)
            if any(word in line for word in ("to_thread", "run_in_threadpool",
                                              "run_in_executor"))
            and not line.lstrip().startswith(("#", "from", "import"))]
    assert {h.split(":")[0] for h in hops} == {"limits/deadlines.py", "observability.py"}, hops
    app = create_app(Settings(database_url="sqlite://", metrics="on"))

    def endpoints(routes) -> Iterator:
        for route in routes:
            if isinstance(route, Mount):
                yield from endpoints(route.routes)
            else:
                yield route.endpoint

    found = list(endpoints(app.routes))
    app.state.services.db.dispose()
    assert len(found) > 40
    assert all(inspect.iscoroutinefunction(e) for e in found), found
    assert all(inspect.iscoroutinefunction(h) for h in app.exception_handlers.values())


# -- `scimd serve` options -----------------------------------------------------------


def test_serve_wants_both_tls_files(tmp_path):
    cert = tmp_path / "cert.pem"
    cert.write_text("x")
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCIMD_")}
    env["SCIMD_DATABASE_URL"] = f"sqlite:///{tmp_path / 'x.db'}"
    for args in (["--ssl-certfile", str(cert)],
                 ["--ssl-certfile", str(cert), "--ssl-keyfile", str(tmp_path / "none.pem")]):
        done = subprocess.run([*live.scimd_command(), "serve", *args], env=env,
                              capture_output=True, text=True, timeout=60, check=False)
        assert done.returncode == 1, done.stderr
        assert "ssl" in done.stderr.lower() or "no such file" in done.stderr


# -- live servers --------------------------------------------------------------------

OPS_ENV = {"SCIMD_REQUEST_TIMEOUT": "1", "SCIMD_MAX_BODY_BYTES": "65536",
           "SCIMD_SHUTDOWN_GRACE": "15"}


@pytest.fixture(scope="module")
def ops_server(live_database_url: str) -> Iterator[LiveServer]:
    with LiveServer(live_database_url, dialect="rfc", env=OPS_ENV) as server:
        yield server


live_database_url = live.live_database_url


def open_request(server: LiveServer, method: str, path: str, headers: dict[str, str],
                 body: bytes = b"") -> socket.socket:
    """Send a request's head (and ``body``) on a raw connection and leave it open."""
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=30)
    head = f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n" + "".join(
        f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
    sock.sendall(head.encode() + body)
    return sock


def read_answer(sock: socket.socket, timeout: float) -> tuple[int, dict[str, str], bytes]:
    sock.settimeout(timeout)
    answer = http.client.HTTPResponse(sock)
    answer.begin()
    body = answer.read()
    return answer.status, {k.lower(): v for k, v in answer.getheaders()}, body


@pytest.mark.live
def test_live_body_limit_reads_no_more_than_the_limit(ops_server):
    auth = ops_server.auth_headers | {"Content-Type": "application/json"}
    # a gigabyte announced, nothing sent: answered at once from the Content-Length
    sock = open_request(ops_server, "POST", "/scim/v2/Users",
                        auth | {"Content-Length": str(10**9)})
    with contextlib.closing(sock):
        status, headers, body = read_answer(sock, 10)
    # refused before routing: the shape of SCIMD_DEFAULT_DIALECT (slack here)
    assert status == 413 and str(json.loads(body)["status"]) == "413", body
    assert headers["x-request-id"]
    # chunked, no length: answered once the limit is passed, the rest never sent
    sock = open_request(ops_server, "POST", "/scim/v2/Users",
                        auth | {"Transfer-Encoding": "chunked"})
    with contextlib.closing(sock):
        for _ in range(5):
            sock.sendall(b"4000\r\n" + b"a" * 0x4000 + b"\r\n")  # 5 x 16 KiB > 64 KiB
        status, _headers, body = read_answer(sock, 10)
    assert status == 413 and str(json.loads(body)["status"]) == "413", body
    assert httpx.get(ops_server.base_url + "/healthz").status_code == 200


@pytest.mark.parametrize(("hosts", "version", "refused"), [
    ([b"scim.example.com"], "1.1", False),
    ([b"SCIM.Example.COM."], "1.1", False),
    ([b"localhost:8000"], "1.1", False),
    ([b"testserver"], "1.1", False),
    ([b"10.0.0.7:443"], "1.1", False),
    ([b"[::1]:8000"], "1.1", False),
    ([b"[2001:db8::7]"], "1.1", False),
    ([b"example.com:"], "1.1", False),
    ([b"xn--bcher-kva.example"], "1.1", False),
    ([b"caf%C3%A9.example"], "1.1", False),
    ([b" example.com "], "1.1", False),
    ([b""], "1.1", False),
    ([], "1.0", False),
    ([], "1.1", True),
    ([b"a", b"b"], "1.1", True),
    ([b"evil.example/x?"], "1.1", True),
    ([b"user@example.com"], "1.1", True),
    ([b"a b"], "1.1", True),
    ([b"::1"], "1.1", True),
    ([b"example.com:8000:1"], "1.1", True),
    ([b"[zzz]"], "1.1", True),
    ([b"[fe80::1%25eth0]"], "1.1", True),
    ([b"100%"], "1.1", True),
    ([b'"quoted"'], "1.1", True),
])
def test_host_is_one_authority(hosts, version, refused):
    """RFC 7230 §5.4 and RFC 3986 §3.2.2: which ``Host`` fields a request may carry."""
    from scimd.observability import bad_host

    err = bad_host(hosts, version)
    assert (err is not None) == refused
    assert err is None or (err.status, err.code) == (400, "invalid_request")


def _raw_status(server: LiveServer, head: bytes) -> tuple[int, bytes]:
    """The status and body of one request sent exactly as ``head`` (no Host added)."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
        sock.sendall(head)
        status, _headers, body = read_answer(sock, 10)
    return status, body


@pytest.mark.live
def test_live_host_must_be_one_authority(ops_server):
    """RFC 7230 §5.4: 400 for an HTTP/1.1 request without Host, with two, or with a Host
    that is not a host and port (``meta.location`` is built from it); HTTP/1.0 may omit
    it, and IP literals and ports pass."""
    auth = f"Authorization: Bearer {ops_server.token}\r\n".encode()
    for head in (b"GET /scim/v2/Users HTTP/1.1\r\nHost: a\r\nHost: b\r\n",
                 b"GET /scim/v2/Users HTTP/1.1\r\n",
                 b"GET /scim/v2/Users HTTP/1.1\r\nHost: evil.example/x?\r\n",
                 b"GET /scim/v2/Users HTTP/1.1\r\nHost: a b\r\n",
                 b'GET /healthz HTTP/1.1\r\nHost: "quoted"\r\n'):
        status, body = _raw_status(ops_server, head + auth + b"Connection: close\r\n\r\n")
        assert status == 400 and json.loads(body)["detail"] == "invalid_request", (head, body)
    for head in (b"GET /scim/v2/Users HTTP/1.0\r\n",
                 b"GET /scim/v2/Users HTTP/1.1\r\nHost: [::1]:8000\r\n",
                 b"GET /scim/v2/Users HTTP/1.1\r\nHost: scim.example.com\r\n",
                 b"GET /scim/v2/Users HTTP/1.1\r\nHost: 127.0.0.1:8000\r\n"):
        status, body = _raw_status(ops_server, head + auth + b"Connection: close\r\n\r\n")
        assert status == 200, (head, body)


def _hold_write_lock(url: str, mode: str = "EXCLUSIVE"):
    """A transaction that blocks user creation on the server's database (on PostgreSQL,
    ``LOCK TABLE users IN <mode> MODE``: ``ACCESS EXCLUSIVE`` blocks reads too)."""
    if url.startswith("sqlite"):
        import sqlite3

        conn = sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None)
        conn.execute("BEGIN IMMEDIATE")
        return conn
    engine = create_engine(normalize_url(url))
    conn = engine.connect()
    conn.begin()
    conn.exec_driver_sql(f"LOCK TABLE users IN {mode} MODE")
    conn.info["engine"] = engine
    return conn


def _release(conn) -> None:
    engine = conn.info.get("engine") if hasattr(conn, "info") else None
    conn.rollback()
    conn.close()
    if engine is not None:
        engine.dispose()


@pytest.mark.live
def test_live_request_timeout_answers_503_while_the_database_is_blocked(ops_server):
    url = ops_server.scim_url + "/Users"
    with httpx.Client(headers=ops_server.auth_headers, timeout=30) as client:
        assert client.post(url, json=user_body("before.timeout")).status_code == 201
        lock = _hold_write_lock(ops_server.database_url)
        try:
            started = time.monotonic()
            r = client.post(url, json=user_body("during.timeout"),
                            headers={"X-Request-Id": "timeout-1"})
            elapsed = time.monotonic() - started
        finally:
            _release(lock)
        assert r.status_code == 503, r.text
        assert 0.9 < elapsed < 5
        assert r.json()["schemas"] == [ERROR] and r.headers["x-request-id"] == "timeout-1"
        # the server is fine afterwards, and the write answered 503 was not kept (it went
        # on in its thread once the lock was gone, and gave up at its commit)
        assert client.post(url, json=user_body("after.timeout")).status_code == 201
        assert client.get(ops_server.base_url + "/readyz").status_code == 200
        found = client.get(url, params={"filter": 'userName eq "during.timeout"'}).json()
        assert found["totalResults"] == 0, found


@pytest.mark.live
def test_live_slow_upload_is_answered_503_at_the_deadline(ops_server):
    """A body still arriving at SCIMD_REQUEST_TIMEOUT (1 s here) is cut off: 503
    ``request_timeout`` (docs/operations.md, "Time per request")."""
    body = json.dumps(user_body("slow.upload")).encode()
    sock = open_request(ops_server, "POST", "/scim/v2/Users",
                        ops_server.auth_headers | {"Content-Type": "application/json",
                                                   "Content-Length": str(len(body)),
                                                   "X-Request-Id": "slow-upload-1"},
                        body[:20])
    with contextlib.closing(sock):
        started = time.monotonic()
        status, headers, answer = read_answer(sock, 15)
        elapsed = time.monotonic() - started
    assert status == 503 and 0.5 < elapsed < 5, answer
    assert json.loads(answer)["schemas"] == [ERROR]
    assert headers["x-request-id"] == "slow-upload-1"


@pytest.mark.live
def test_live_access_log_is_json_on_stdout_without_tokens(ops_server):
    with httpx.Client(headers=ops_server.auth_headers, timeout=30) as client:
        r = client.get(ops_server.scim_url + "/Users", headers={"X-Request-Id": "live-log-1"})
        assert r.status_code == 200
    deadline = time.monotonic() + 5
    line = None
    while line is None and time.monotonic() < deadline:
        out = ops_server.output()
        stdout = out.split("--- server stderr ---")[0]
        line = next((json.loads(x) for x in stdout.splitlines()
                     if x.startswith("{") and '"live-log-1"' in x), None)
        time.sleep(0.1)
    assert line is not None, out
    assert line["route"] == "/scim/v2/Users" and line["status"] == 200
    assert line["client"] == "127.0.0.1"
    assert ops_server.token not in out


@pytest.mark.live
def test_live_sigterm_finishes_the_request_in_flight(live_database_url):
    """SIGTERM while a client is still uploading a request: the server stops accepting
    connections, the request completes with 201, and the process exits 0."""
    env = OPS_ENV | {"SCIMD_REQUEST_TIMEOUT": "30"}  # the slow upload is not cut at 1 s
    with LiveServer(live_database_url, dialect="rfc", env=env) as server:
        body = json.dumps(user_body("in.flight")).encode()
        sock = open_request(server, "POST", "/scim/v2/Users",
                            server.auth_headers | {"Content-Type": "application/json",
                                                   "Content-Length": str(len(body))},
                            body[:20])
        with contextlib.closing(sock):
            time.sleep(0.5)
            proc = server.process
            assert proc is not None
            proc.send_signal(signal.SIGTERM)
            time.sleep(1.0)
            assert proc.poll() is None, "the server must wait for the request in flight"
            with pytest.raises(httpx.TransportError):
                httpx.get(server.base_url + "/healthz", timeout=2)
            sock.sendall(body[20:])
            status, _headers, answer = read_answer(sock, 15)
        assert status == 201, answer
        assert proc.wait(20) == 0, server.output()


@pytest.mark.live
def test_live_shutdown_grace_is_bounded(tmp_path):
    """A request still in flight when SCIMD_SHUTDOWN_GRACE runs out is cut off."""
    env = OPS_ENV | {"SCIMD_SHUTDOWN_GRACE": "1", "SCIMD_REQUEST_TIMEOUT": "30"}
    with LiveServer(f"sqlite:///{tmp_path / 'grace.db'}", dialect="rfc", env=env) as server:
        sock = open_request(server, "POST", "/scim/v2/Users",
                            server.auth_headers | {"Content-Length": "100"}, b"{")
        with contextlib.closing(sock):
            time.sleep(0.3)
            proc = server.process
            assert proc is not None
            started = time.monotonic()
            proc.send_signal(signal.SIGTERM)
            proc.wait(15)
            assert time.monotonic() - started < 10


def _self_signed(directory: Path) -> tuple[Path, Path]:
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-keyout", str(key), "-out", str(cert), "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
                   check=True, capture_output=True, timeout=60)
    return cert, key


class TlsServer(LiveServer):
    """``scimd serve`` over HTTPS (``SCIMD_SSL_CERTFILE``/``SCIMD_SSL_KEYFILE``)."""

    def __init__(self, database_url: str, cert: Path, key: Path, **kw) -> None:
        env = {"SCIMD_SSL_CERTFILE": str(cert), "SCIMD_SSL_KEYFILE": str(key)}
        super().__init__(database_url, env=env, **kw)
        self.tls = ssl.create_default_context(cafile=str(cert))

    @property
    def base_url(self) -> str:
        return super().base_url.replace("http://", "https://")

    def _wait_healthy(self) -> None:
        assert self.process is not None
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise live.LiveServerError(f"scimd serve exited\n{self.output()}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(self.base_url + "/healthz", verify=self.tls,
                             timeout=1).status_code == 200:
                    return
            time.sleep(0.1)
        raise live.LiveServerError(f"no HTTPS answer\n{self.output()}")


@pytest.mark.live
def test_live_https_with_a_self_signed_certificate(tmp_path):
    cert, key = _self_signed(tmp_path)
    with TlsServer(f"sqlite:///{tmp_path / 'tls.db'}", cert, key, dialect="rfc") as server:
        assert server.base_url.startswith("https://127.0.0.1:")
        with httpx.Client(verify=server.tls, headers=server.auth_headers, timeout=30) as c:
            r = c.post(server.scim_url + "/Users", json=user_body("tls.user"))
            assert r.status_code == 201, r.text
            assert c.get(r.json()["meta"]["location"]).status_code == 200
            assert r.json()["meta"]["location"].startswith("https://")
        with pytest.raises(httpx.HTTPError):  # an unknown certificate is refused
            httpx.get(server.base_url + "/healthz", timeout=5)
        with pytest.raises(httpx.HTTPError):  # plain HTTP is not served on the port
            httpx.get(server.base_url.replace("https://", "http://") + "/healthz", timeout=5)


@pytest.mark.live
def test_live_metrics_add_up_over_workers(tmp_path):
    """With PROMETHEUS_MULTIPROC_DIR, /metrics counts the requests of every worker."""
    metrics_dir = tmp_path / "prom"
    (metrics_dir).mkdir()
    (metrics_dir / "counter_999999.db").write_bytes(b"stale")  # emptied at start
    env = {"PROMETHEUS_MULTIPROC_DIR": str(metrics_dir), "SCIMD_METRICS": "token:m"}
    with LiveServer(f"sqlite:///{tmp_path / 'workers.db'}", dialect="rfc", env=env,
                    workers=2) as server:
        auth = {"Authorization": "Bearer m"}
        assert not (metrics_dir / "counter_999999.db").exists()
        labels = {"method": "GET", "route": "/healthz", "status": "200"}
        before = metric(httpx.get(server.base_url + "/metrics", headers=auth).text,
                        "scimd_http_requests_total", **labels)
        for _ in range(30):  # a connection each: the kernel spreads them over the workers
            assert httpx.get(server.base_url + "/healthz").status_code == 200
        text = httpx.get(server.base_url + "/metrics", headers=auth).text
        assert metric(text, "scimd_http_requests_total", **labels) == before + 30
        assert metric(text, "scimd_db_pool_size") >= 10
        pids = {p.stem.rsplit("_", 1)[-1] for p in metrics_dir.glob("counter_*.db")}
        assert len(pids) >= 2, pids
