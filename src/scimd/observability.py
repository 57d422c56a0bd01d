"""Operations: metrics, access log, request ids, body and time limits, health (docs/operations.md).

:class:`ObservabilityMiddleware` wraps the whole application (outside Starlette's
error middleware, so even a crash's 500 carries its ``X-Request-Id`` and is
counted). Per request it:

* takes the client's ``X-Request-Id`` (sanitised, at most 128 characters) or makes
  one, and puts it on the response and in ``request.state.request_id``;
* answers ``400 invalid_request`` to a request whose ``Host`` is not one URI
  authority (RFC 7230 §5.4: several of them, an invalid value, or none in HTTP/1.1),
  since ``meta.location`` is built from it;
* answers ``413 request_too_large`` when ``Content-Length`` is over
  ``SCIMD_MAX_BODY_BYTES``, before the application runs, and stops a body without
  a length as soon as the bytes received pass the limit;
* answers ``503 request_timeout`` when the response has not started within
  ``SCIMD_REQUEST_TIMEOUT`` seconds and the request is waiting (for its body or a
  database thread), and stops the handler there; work already handed to a database
  thread finishes there but does not commit (:mod:`scimd.limits.deadlines`), and a
  request whose write has begun to commit is answered when it is done;
* counts the request in Prometheus metrics by route *template* and status, and
  writes one JSON line to the ``scimd.access`` logger.

Other modules report events through :func:`guard_tripped` and :func:`rejected`.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import os
import re
import secrets
import time
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Mount
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from scimd.auth.addresses import client_address
from scimd.auth.tokens import bearer
from scimd.limits import deadlines
from scimd.ops.access_log import AccessLog, handler_config
from scimd.ops.multiprocess import metrics_dir
from scimd.scim.errors import ScimError
from scimd.settings import Settings
from scimd.store.db import Database

log = logging.getLogger("scimd")

MULTIPROCESS = metrics_dir() is not None
"""Whether prometheus-client writes values to ``PROMETHEUS_MULTIPROC_DIR`` (read at import,
as prometheus-client itself does)."""

UNMATCHED = "unmatched"
"""The route label of a request no route matched (raw paths are never labels)."""
METHODS = frozenset(("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"))
MAX_REQUEST_ID = 128
_REQUEST_ID_UNSAFE = re.compile(r"[^A-Za-z0-9._:/+=@-]")
READY_TIMEOUT = 3.0
"""Seconds ``/readyz`` waits for the database before answering 503 (less when
``SCIMD_REQUEST_TIMEOUT`` is shorter)."""

# -- metrics ---------------------------------------------------------------------------

REQUESTS = Counter("scimd_http_requests", "HTTP requests answered, by route template and status.",
                   ("method", "route", "status"))
LATENCY = Histogram("scimd_http_request_duration_seconds",
                    "Time from the request to the end of its answer, by route template.",
                    ("method", "route"),
                    buckets=(.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60))
IN_PROGRESS = Gauge("scimd_http_requests_in_progress", "Requests being answered.",
                    multiprocess_mode="livesum")
REJECTIONS = Counter("scimd_rate_limit_rejections",
                     "429 answers: too_many_requests (rate limits) and resource_locked (a write "
                     "to a resource being written).", ("code",))
GUARD_TRIPS = Counter("scimd_deprovision_guard_trips",
                      "Times the deprovisioning guard tripped and stopped deactivations.",
                      ("tenant",))
TIMEOUTS = Counter("scimd_request_timeouts", "Requests answered 503 after SCIMD_REQUEST_TIMEOUT.")
LATE_ANSWERS = Counter("scimd_request_late_answers",
                       "Requests let run past SCIMD_REQUEST_TIMEOUT because their write had "
                       "begun to commit (answered when done, not 503).")
TOO_LARGE = Counter("scimd_request_body_too_large",
                    "Requests answered 413 for a body over SCIMD_MAX_BODY_BYTES.")
POOL_CHECKED_OUT = Gauge("scimd_db_pool_checked_out",
                         "Database connections in use (summed over processes).",
                         multiprocess_mode="livesum")
POOL_SIZE = Gauge("scimd_db_pool_size",
                  "Database connections kept open per pool (SCIMD_POOL_SIZE; as many more may "
                  "open on overflow), summed over processes.", multiprocess_mode="livesum")
for _code in ("too_many_requests", "resource_locked"):  # show both series from the start
    REJECTIONS.labels(_code)


def guard_tripped(tenant_id: str) -> None:
    """Count one trip of the deprovisioning guard of a tenant (its public id)."""
    GUARD_TRIPS.labels(tenant_id).inc()


def rejected(code: str) -> None:
    """Count a 429 answer (``too_many_requests`` or ``resource_locked``)."""
    REJECTIONS.labels(code).inc()


def observe_pool(db: Database) -> None:
    """Set the pool gauges from the engines' pools, summed (a SQLite memory pool has no
    size; PostgreSQL has a second pool for reads while a server runs)."""
    sizes = checked_out = 0
    for engine in db.engines:
        size = getattr(engine.pool, "size", None)
        out = getattr(engine.pool, "checkedout", None)
        sizes += size() if callable(size) else 1
        checked_out += out() if callable(out) else 0
    POOL_SIZE.set(sizes)
    POOL_CHECKED_OUT.set(checked_out)


def metrics_text() -> bytes:
    """The Prometheus exposition of this process, or of every process in multiprocess mode."""
    if MULTIPROCESS:
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry)
    return generate_latest(REGISTRY)


def worker_exiting() -> None:
    """Drop this process's live gauges from the multiprocess directory (at shutdown)."""
    if MULTIPROCESS:
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(os.getpid())


# -- route templates -------------------------------------------------------------------


class RouteTemplates:
    """``/scim/v2/Users/{id}`` for a request routed to that route, computed once per route."""

    def __init__(self) -> None:
        self._cache: dict[int, tuple[object, str]] = {}

    def __call__(self, scope: Scope) -> str:
        route = scope.get("route")
        if route is None:
            return UNMATCHED
        hit = self._cache.get(id(route))
        if hit is not None:
            return hit[1]
        template = self._template(scope, route)
        self._cache[id(route)] = (route, template)  # the route is kept: its id stays unique
        return template

    @staticmethod
    def _template(scope: Scope, route: Any) -> str:
        path = getattr(route, "path", None)
        if path is None or isinstance(route, Mount):  # a mount with no matching route: 404
            return UNMATCHED
        root = scope.get("root_path", "")
        prefix = root[len(scope.get("app_root_path", "")):]
        return (prefix + path).rstrip("/") or "/"


# -- the middleware --------------------------------------------------------------------

RenderError = Callable[[Request, ScimError], Response]


def request_id_from(raw: bytes | None) -> str:
    """The client's request id made safe for headers and logs, or a new one."""
    if raw:
        value = _REQUEST_ID_UNSAFE.sub("", raw[:4 * MAX_REQUEST_ID].decode("latin-1"))
        if value:
            return value[:MAX_REQUEST_ID]
    return secrets.token_hex(16)


_HOST = re.compile(rb"(?:\[[0-9A-Fa-f:.]+\]|(?:[0-9A-Za-z._~!$&'()*+,;=-]|%[0-9A-Fa-f]{2})*)"
                   rb"(?::[0-9]*)?")
"""RFC 7230 §5.4's ``Host = uri-host [ ":" port ]``, with RFC 3986 §3.2.2's host: an IPv6
address in brackets (no zone id: RFC 6874 §4 has clients leave it out), or a registered
name (IPv4 addresses among them)."""


def bad_host(hosts: list[bytes], http_version: str) -> ScimError | None:
    """The 400 that RFC 7230 §5.4 requires for the request's ``Host`` fields, if any."""
    if len(hosts) > 1:
        return ScimError(400, "invalid_request", "The request has more than one Host header.")
    if not hosts:
        if http_version == "1.1":
            return ScimError(400, "invalid_request", "An HTTP/1.1 request needs a Host header.")
        return None
    if _HOST.fullmatch(hosts[0].strip(b" \t")) is None:
        return ScimError(400, "invalid_request", "The Host header is not a host and port.")
    return None


def too_large(limit: int) -> ScimError:
    return ScimError(413, "request_too_large",
                     f"The request body is larger than {limit} bytes.")


class _Exchange:
    """What the middleware knows of one request while it is answered."""

    __slots__ = ("deadline_task", "late", "received", "started", "status", "timed_out")

    def __init__(self) -> None:
        self.status: int | None = None
        self.started = False
        self.timed_out = False
        self.late = False
        self.received = 0
        self.deadline_task: asyncio.Task[None] | None = None


class ObservabilityMiddleware:
    """See the module docstring."""

    def __init__(self, app: ASGIApp, settings: Settings, render_error: RenderError) -> None:
        self.app = app
        self.render_error = render_error
        self.max_body = settings.max_body_bytes
        self.timeout = settings.request_timeout
        self.trusted = settings.trusted_networks
        self.log_access = settings.access_log
        self.access = AccessLog()
        self.routes = RouteTemplates()
        self._counters: dict[tuple[str, str, int], Any] = {}
        self._histograms: dict[tuple[str, str], Any] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started_at = time.perf_counter()
        raw_id = length = forwarded = None
        hosts: list[bytes] = []
        for name, value in scope["headers"]:
            if name == b"host":
                hosts.append(value)
            elif name == b"x-request-id":
                raw_id = value
            elif name == b"content-length":
                length = value
            elif name == b"x-forwarded-for":
                forwarded = value
        request_id = request_id_from(raw_id)
        id_header = (b"x-request-id", request_id.encode("latin-1"))
        scope.setdefault("state", {})["request_id"] = request_id
        ex = _Exchange()
        limit = self.max_body
        guard = self._deadline(scope, receive, send, ex, id_header) if self.timeout > 0 else None

        async def limited_receive() -> Message:
            with deadlines.bounded():  # a slow upload is cut off at the deadline too
                message = await receive()
            if message["type"] == "http.request":
                ex.received += len(message.get("body", b""))
                if ex.received > limit:
                    TOO_LARGE.inc()
                    raise too_large(limit)
            return message

        async def observed_send(message: Message) -> None:
            if ex.timed_out:
                return  # the deadline answered already
            if message["type"] == "http.response.start":
                ex.started = True
                ex.status = message["status"]
                message = {**message, "headers": [*message.get("headers", ()), id_header]}
            await send(message)

        IN_PROGRESS.inc()
        token = deadlines.CURRENT.set(guard)
        try:
            refused = bad_host(hosts, scope.get("http_version", "1.1"))
            if refused is not None:
                await self._answer(scope, receive, send, ex, id_header, refused)
            elif length is not None and _over(length, limit):
                TOO_LARGE.inc()
                await self._answer(scope, receive, send, ex, id_header, too_large(limit))
            else:
                await self.app(scope, limited_receive, observed_send)
        except deadlines.DeadlinePassed:
            if not ex.timed_out:
                raise
            # answered 503 already; an app without a handler for it let it through
        finally:
            deadlines.CURRENT.reset(token)
            try:
                if ex.deadline_task is not None:
                    await ex.deadline_task
            finally:
                IN_PROGRESS.dec()
                self._record(scope, ex, time.perf_counter() - started_at, request_id,
                             forwarded)

    def _deadline(self, scope: Scope, receive: Receive, send: Send, ex: _Exchange,
                  id_header: tuple[bytes, bytes]) -> deadlines.Deadline:
        """The request's deadline: it falls only on a request waiting (for its body, or
        for a database thread: :mod:`scimd.limits.deadlines`), and answers 503 unless
        the answer has started or a write has begun to commit."""
        loop = asyncio.get_running_loop()

        def on_expiry(guard: deadlines.Deadline) -> bool:
            if ex.started or ex.timed_out or ex.late:
                return False  # the answer is on its way, or this was decided already
            if not guard.expire():
                ex.late = True
                LATE_ANSWERS.inc()  # a write is committing: its answer will be the truth
                return False
            ex.timed_out = True
            TIMEOUTS.inc()
            err = ScimError(503, "request_timeout",
                            f"The request did not complete within {self.timeout:g} s.",
                            headers={"Retry-After": "1"})
            ex.deadline_task = loop.create_task(
                self._answer(scope, receive, send, ex, id_header, err))
            return True

        return deadlines.Deadline(loop.time() + self.timeout, on_expiry)

    async def _answer(self, scope: Scope, receive: Receive, send: Send, ex: _Exchange,
                      id_header: tuple[bytes, bytes], err: ScimError) -> None:
        """Send an error answer of the middleware's own (400 for the Host, 413, 503)."""
        response = self.render_error(Request(scope), err)
        response.raw_headers.append(id_header)
        ex.started = True
        ex.status = response.status_code
        await response(scope, receive, send)

    def _record(self, scope: Scope, ex: _Exchange, duration: float, request_id: str,
                forwarded: bytes | None) -> None:
        method = scope["method"]
        if method not in METHODS:
            method = "OTHER"
        route = self.routes(scope)
        status = ex.status or 500
        key = (method, route, status)
        counter = self._counters.get(key)
        if counter is None:
            counter = self._counters[key] = REQUESTS.labels(method, route, str(status))
        counter.inc()
        histogram = self._histograms.get(key[:2])
        if histogram is None:
            histogram = self._histograms[key[:2]] = LATENCY.labels(method, route)
        histogram.observe(duration)
        if self.log_access and self.access.enabled():
            peer = scope.get("client")
            client = peer[0] if peer else None
            if forwarded is not None and self.trusted:
                client = client_address(client, forwarded.decode("latin-1"), self.trusted)
            self.access.write(self.access.line(
                request_id=request_id, method=method, route=route, status=status,
                duration=duration, tenant_id=_tenant_id(scope.get("state")), client=client))


def _over(length: bytes, limit: int) -> bool:
    try:
        return int(length) > limit
    except ValueError:
        return False  # the server refuses a malformed Content-Length itself


def _tenant_id(state: dict[str, Any] | None) -> str | None:
    """The request's tenant, when the handler recorded its principal (or the tenant id)."""
    if not state:
        return None
    tenant_id = state.get("tenant_id")
    if tenant_id is not None:
        return str(tenant_id)
    principal = state.get("principal")
    tenant = getattr(principal, "tenant", None)
    return getattr(tenant, "id", None)


# -- endpoints -------------------------------------------------------------------------

Endpoint = Callable[[Request], Awaitable[Response]]


def readiness(db: Database, within: float = READY_TIMEOUT) -> Endpoint:
    """``GET /readyz``: 200 when the database answers ``SELECT 1`` within ``within``
    seconds, else 503."""
    limiter: list[anyio.CapacityLimiter] = []

    def ping() -> str | None:
        try:
            with db.engine.connect() as conn:
                conn.exec_driver_sql("SELECT 1")
            return None
        except Exception as exc:
            return f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"

    async def readyz(_request: Request) -> Response:
        if not limiter:  # own threads: a hung database must not take the request threads
            limiter.append(anyio.CapacityLimiter(2))
        problem: str | None = "no answer within the time limit"
        with anyio.move_on_after(within):
            problem = await anyio.to_thread.run_sync(ping, abandon_on_cancel=True,
                                                     limiter=limiter[0])
        if problem is None:
            return PlainTextResponse("ready")
        log.warning("not ready: the database does not answer (%s)", problem)
        return PlainTextResponse("database unavailable", status_code=503)

    return readyz


def metrics_endpoint(mode: str, db: Database, render_error: RenderError) -> Endpoint:
    """``GET /metrics``; ``mode`` is ``on`` or ``token:<secret>`` (``off`` has no route)."""
    secret = mode.removeprefix("token:").encode() if mode.startswith("token:") else None

    async def metrics(request: Request) -> Response:
        if secret is not None:
            supplied = bearer(request.headers.get("authorization"))
            if supplied is None or not hmac.compare_digest(supplied.encode(), secret):
                return render_error(request, ScimError(
                    401, "invalid_authentication", "/metrics needs its bearer token.",
                    headers={"WWW-Authenticate": 'Bearer realm="scimd-metrics"'}))
        observe_pool(db)
        return Response(metrics_text(), media_type=CONTENT_TYPE_LATEST)

    return metrics


# -- logging configuration for `scimd serve` --------------------------------------------


def log_config(settings: Settings) -> dict[str, Any]:
    """uvicorn's logging configuration plus ``scimd`` (stderr) and ``scimd.access`` (JSON
    lines on stdout); uvicorn applies it in every worker process."""
    import copy

    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config["formatters"]["scimd_access"] = {"format": "%(message)s"}
    config["handlers"]["scimd_access"] = handler_config("ext://sys.stdout")
    config["loggers"]["scimd"] = {"handlers": ["default"], "propagate": False,
                                  "level": settings.log_level.upper()}
    config["loggers"]["scimd.access"] = {
        "handlers": ["scimd_access"] if settings.access_log else [], "propagate": False,
        "level": "INFO" if settings.access_log else "CRITICAL"}
    return config
