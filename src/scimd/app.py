"""The ASGI application: routing, error answers, start-up.

``create_app`` builds the app from settings; ``prepare`` readies the database
(migrations, the bootstrap tenant and token) and is run once before serving.
"""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

from anyio import CapacityLimiter
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Mount, Route
from starlette.types import ASGIApp

from scimd import observability
from scimd.auth.tokens import authenticate
from scimd.directory.groups import Groups
from scimd.directory.policy import policy_for
from scimd.directory.users import Users
from scimd.limits.deadlines import run_in_thread
from scimd.limits.locks import locks_for
from scimd.limits.rates import RateLimits, parse_overrides, storage_for
from scimd.ops.collector import tune_for_serving
from scimd.protocol import admin
from scimd.protocol.api import ScimApi, Services, default_wire, wire_for
from scimd.protocol.http import JsonResponse
from scimd.scim.errors import ScimError
from scimd.settings import Settings
from scimd.store import migrate, tenants
from scimd.store.db import Database, connect

log = logging.getLogger("scimd")
_OTHER_VERSION = re.compile(r"^/scim/v(?![12](?:/|$))[^/]*(?:/|$)")


def prepare(settings: Settings, db: Database | None = None) -> tuple[Database, str | None]:
    """Migrate (SQLite) or check the schema (PostgreSQL), and bootstrap the default tenant.

    Returns the database and, on the very first start without
    ``SCIMD_BOOTSTRAP_TOKEN``, a new admin token to show once.
    """
    db = db or connect(settings.database_url, pool_size=settings.pool_size)
    if db.is_sqlite:
        migrate.upgrade(db)
    elif not migrate.is_current(db):
        raise SystemExit("The PostgreSQL schema is not up to date: run `scimd migrate` first.")
    new_token = None
    with db.write() as conn:
        tenant = tenants.default_tenant(conn)
        dialect = settings.bootstrap_dialect
        if tenant is None:
            tenant = tenants.create_tenant(conn, name="Default", plan=settings.bootstrap_plan,
                                           dialect=dialect, is_default=True)
            if settings.bootstrap_token is None:
                new_token = tenants.create_token(conn, tenant.pk, label="first start")
        elif settings.bootstrap_token and (tenant.dialect != dialect
                                           or tenant.plan != settings.bootstrap_plan):
            tenants.set_dialect(conn, tenant.pk, dialect, settings.bootstrap_plan)
        if settings.bootstrap_token:
            tenants.ensure_token(conn, tenant.pk, settings.bootstrap_token, "bootstrap")
    return db, new_token


def error_response(request: Request, exc: ScimError, settings: Settings) -> Response:
    """The error body for the request's protocol version and dialect (spec §7, RFC 7644 §3.12)."""
    wire = getattr(request.state, "wire", None)
    if wire is None:
        version = 1 if request.url.path.startswith("/scim/v1") else 2
        wire = default_wire(settings, version)
    headers = dict(exc.headers)
    if exc.status == 429:
        observability.rejected(exc.code)
        if "Retry-After" not in headers:
            headers["Retry-After"] = "1"
    return JsonResponse(wire.error(exc), exc.status, headers=headers,
                        media_type=wire.media_type)


def _guard_tripped(tenant) -> None:
    """Count a guard trip in the metrics."""
    observability.guard_tripped(tenant.id)


def create_app(settings: Settings | None = None, db: Database | None = None) -> Starlette:
    settings = settings or Settings.from_env()
    owned = db is None
    database = db or connect(settings.database_url, pool_size=settings.pool_size)
    rates = None
    if settings.rate_limits:
        rates = RateLimits(parse_overrides(settings.rate_limit_buckets,
                                           settings.rate_limit_window),
                           storage_for(settings.redis_url, settings.redis_prefix))
    locks = locks_for(settings.redis_url, settings.redis_prefix)
    users = Users(database, settings.guard_settings, on_trip=_guard_tripped)
    services = Services(settings, database, users, Groups(database), rates, locks,
                        CapacityLimiter(settings.pool_size), inline_reads=database.is_sqlite)
    v1, v2 = ScimApi(services, 1), ScimApi(services, 2)

    async def healthz(_request: Request) -> Response:
        return PlainTextResponse("ok")

    async def on_scim_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ScimError)
        return error_response(request, exc, settings)

    async def on_http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        if request.headers.get("authorization") and request.url.path.startswith("/scim/"):
            try:  # answer in the dialect of the token's tenant, as a routed request would
                principal = await run_in_thread(
                    authenticate, database, request.headers.get("authorization"),
                    v2.client(request))
                version = 1 if request.url.path.startswith("/scim/v1") else 2
                request.state.wire = wire_for(policy_for(principal.tenant), version)
            except ScimError:
                pass
        if exc.status_code == 405:
            err = ScimError(405, "method_not_allowed", "Method not allowed.",
                            headers=dict(exc.headers or {}))
        elif exc.status_code == 404 and _OTHER_VERSION.match(request.url.path):
            err = ScimError(404, "unsupported_version", "SCIM versions are v1 and v2.")
        elif exc.status_code == 404:
            err = ScimError(404, "bad_endpoint", f"No endpoint at {request.url.path}.")
        else:
            err = ScimError(exc.status_code, "invalid_request", str(exc.detail))
        return error_response(request, err, settings)

    async def on_crash(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return error_response(request, ScimError(500, "internal_error",
                                                 "The server failed to answer the request."),
                              settings)

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        """What a serving process opens, closed in the reverse order however it stops
        (a failed start included)."""
        async with AsyncExitStack() as opened:
            if owned:
                opened.callback(database.dispose)
            # PostgreSQL reads and writes on this loop
            await database.open_awaited_reads(lock_timeout=settings.request_timeout)
            opened.push_async_callback(database.close_awaited_reads)
            if rates is not None:
                await rates.open_awaited()  # their counts in Redis too
                opened.push_async_callback(rates.close_awaited)
            opened.callback(observability.worker_exiting)
            if settings.webhooks:  # deliver webhooks from every process (leased rows)
                from scimd.webhooks import Dispatcher

                dispatcher = Dispatcher(database)
                opened.callback(dispatcher.stop)  # copes with a start that failed
                dispatcher.start()
            yield

    def render_error(request: Request, exc: ScimError) -> Response:
        return error_response(request, exc, settings)

    ready_within = observability.READY_TIMEOUT
    if settings.request_timeout:  # a probe is a request: it answers within their limit
        ready_within = min(ready_within, settings.request_timeout)
    operations = [Route("/healthz", healthz),
                  Route("/readyz", observability.readiness(database, ready_within))]
    if settings.metrics != "off":
        operations.append(Route("/metrics", observability.metrics_endpoint(
            settings.metrics, database, render_error)))
    app = _ObservedStarlette(
        lambda inner: observability.ObservabilityMiddleware(inner, settings, render_error),
        routes=[  # no two of these match one path: the busiest go first
            Mount("/scim/v2", routes=v2.routes()),
            Mount("/scim/v1", routes=v1.routes()),
            *operations,
            Mount("/admin/v1", routes=admin.routes(database, v2.client)),
        ],
        exception_handlers={ScimError: on_scim_error, HTTPException: on_http_error,
                            Exception: on_crash},
        lifespan=lifespan,
    )
    app.state.services = services
    return app


class _ObservedStarlette(Starlette):
    """Starlette with :class:`~scimd.observability.ObservabilityMiddleware` outermost, around
    the error middleware, so that a crash's 500 is counted, logged and carries its request id."""

    def __init__(self, outermost: Callable[[ASGIApp], ASGIApp], **kw: Any) -> None:
        self._outermost = outermost
        super().__init__(**kw)

    def build_middleware_stack(self) -> ASGIApp:
        return self._outermost(super().build_middleware_stack())


def factory() -> Starlette:
    """Entry point for ``uvicorn --factory scimd.app:factory`` (used by ``scimd serve``):
    the application, with the garbage collector set for a long-running server."""
    app = create_app()
    tune_for_serving()
    return app
