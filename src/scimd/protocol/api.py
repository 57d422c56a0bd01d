"""The SCIM wire adapters at ``/scim/v1`` and ``/scim/v2`` (RFC 7644; spec §2).

One set of handlers serves both versions and both dialects; a :mod:`wire`
object decides the shapes. They parse requests, call the directory and render
answers: they own no data and no rules.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import orjson
from anyio import CapacityLimiter
from scim2_models.path import AttrPath
from sqlalchemy.util.concurrency import await_, in_greenlet
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from scimd.auth.addresses import client_address
from scimd.auth.tokens import Principal, authenticate
from scimd.directory.etag import etag, matches_none
from scimd.directory.groups import Groups
from scimd.directory.policy import Policy, policy_for, policy_named
from scimd.directory.query import ListQuery
from scimd.directory.users import Users
from scimd.limits.deadlines import bounded, run_in_thread
from scimd.limits.locks import MemoryLocks, WriteLocks
from scimd.limits.rates import RateLimits, buckets_for
from scimd.protocol.http import JsonResponse, paging, parse_json
from scimd.protocol.slack_render import v1_schema
from scimd.protocol.v2_render import SEARCH_URN
from scimd.protocol.wire import RfcWire, SlackWire
from scimd.scim import discovery
from scimd.scim.attributes import ResourceType
from scimd.scim.errors import ScimError, invalid_syntax, invalid_value, not_found
from scimd.scim.paths import parse_filter, parse_path, path_error, resolve
from scimd.scim.projection import Projection, parse_projection
from scimd.settings import Settings
from scimd.store.db import Database
from scimd.store.group_commit import GroupCommit, RunAlone
from scimd.store.records import Actor, GroupText, Tenant, UserText

DRY_RUN = "scimd-dry-run"
"""The request header that makes a write a dry run: validated and answered, nothing kept."""
RFC_WIRE = RfcWire()
SLACK_V1 = SlackWire(1)
SLACK_V2 = SlackWire(2)
Wire = RfcWire


@dataclass(slots=True)
class Services:
    """What the handlers need: configuration, the database, the directory, and the
    shared rate limits and write locks."""

    settings: Settings
    db: Database
    users: Users
    groups: Groups
    rates: RateLimits | None
    locks: WriteLocks
    limiter: CapacityLimiter
    """Requests doing database work at once (``SCIMD_POOL_SIZE``): more threads than
    pooled connections only wait, and pass the GIL around while they do."""
    inline_reads: bool = False
    """Serve reads on the event loop (SQLite), not in a worker thread."""


def wire_for(policy: Policy, version: int) -> Wire:
    """The wire format of a dialect at a protocol version."""
    if version == 1:
        return SLACK_V1
    return SLACK_V2 if policy.name == "slack" else RFC_WIRE


def default_wire(settings: Settings, version: int) -> Wire:
    """The wire of requests that name no tenant (spec §16.24)."""
    return wire_for(policy_named(settings.default_dialect), version)


@dataclass(slots=True)
class Call:
    """One authenticated request: who, under which rules, in which wire format."""

    principal: Principal
    policy: Policy
    wire: Wire
    actor: Actor

    @property
    def tenant(self) -> Tenant:
        return self.principal.tenant


class ScimApi:
    """Handlers for every endpoint of one protocol version."""

    def __init__(self, services: Services, version: int) -> None:
        self.s = services
        self.version = version
        self.prefix = f"/scim/v{version}"
        self.trusted = services.settings.trusted_networks

    # -- helpers -----------------------------------------------------------------

    def base(self, request: Request) -> str:
        """The absolute base for ``meta.location`` (``SCIMD_BASE_URL`` or the request's host)."""
        if self.s.settings.base_url:
            return self.s.settings.base_url + self.prefix
        host = request.headers.get("host")
        if not host:  # HTTP/1.0: the address the server was reached on, as Starlette says it
            return f"{request.url.scheme}://{request.url.netloc}{self.prefix}"
        return f"{request.scope.get('scheme', 'http')}://{host}{self.prefix}"

    def client(self, request: Request) -> str | None:
        """The client's address: the peer, or what a trusted proxy forwarded (spec §1.3)."""
        return client_address(request.client.host if request.client else None,
                              request.headers.get("x-forwarded-for"), self.trusted)

    async def _serve(self, request: Request, work: Callable[[Call], Response], *,
                     read: bool = False) -> Response:
        """Authenticate and run ``work``: every database statement of a request, its rate
        check and its lock, in one go.

        Writes run in one worker-thread hop, under the server's cap on concurrent database
        work (``Services.limiter``): they may wait on a lock, on ``fsync`` or on a password
        hash. With write locks in memory, SQLite writes join the database's group commit
        instead (:meth:`_write_in_batch`) and PostgreSQL writes are awaited on the loop as
        its reads are (:meth:`_write_awaited`); locks in Redis cost a blocking round trip
        each, which neither a batch holding every process's write turn nor the loop may
        wait on.
        Reads run on the event loop itself. On SQLite they are a few indexed
        statements that never wait on a writer (WAL), and a thread hop cost more than the
        read (bench/README.md, docs/decisions.md). On PostgreSQL each statement is awaited
        (:meth:`Database.awaited`), on the loop of a running server. A rate check that
        goes to Redis is awaited on the loop as well (:meth:`_check_rates`).
        """
        if read and self.s.inline_reads:
            if self.s.rates is not None and self.s.rates.awaits_here():
                return await self._authorize_count_read(request, work)
            return self._authorized(request, work, on_the_loop=True)
        if read and self.s.db.awaits_reads_here():
            with bounded():  # the deadline cuts a wait on PostgreSQL short, as in a thread
                return await self.s.db.awaited(self._authorized, request, work)
        if not read and isinstance(self.s.locks, MemoryLocks):
            batches = self.s.db.group_commit
            if batches is not None and self.s.settings.group_commit:
                return await self._write_in_batch(batches, request, work)
            if self.s.db.awaits_reads_here():
                return await self._write_awaited(request, work)
        return await run_in_thread(self._authorized, request, work, limiter=self.s.limiter)

    async def _write_awaited(self, request: Request,
                             work: Callable[[Call], Response]) -> Response:
        """A PostgreSQL write on the event loop, each statement awaited as a read's are
        (:meth:`Database.awaited`); a write that would wait on a lock or hash a password
        there runs again in a worker thread (:class:`RunAlone`), authorized and counted
        once."""
        calls: list[Call] = []

        def job() -> Response:
            with self.s.db.holding():
                if not calls:
                    calls.append(self._authorize(request))
                return work(calls[0])

        try:
            with bounded():
                return await self.s.db.awaited(job, writing=True)
        except RunAlone:
            return await run_in_thread(job, limiter=self.s.limiter)

    async def _write_in_batch(self, batches: GroupCommit, request: Request,
                              work: Callable[[Call], Response]) -> Response:
        """A SQLite write: authorized and counted on the loop, as a read is (a write over
        the limit costs no more than its token), then run as a job of the next group
        commit (:mod:`scimd.store.group_commit`). As with reads counted in Redis, the
        token and the write are two snapshots."""
        later: list[tuple[str, list[str]]] = []
        with self.s.db.holding(on_the_loop=True):
            call = self._authorize(request, count_later=later)
        if later:
            await self._count(*later[0])

        def job() -> Response:
            with self.s.db.holding():
                return work(call)

        return await batches.run(job, limiter=self.s.limiter)

    async def _authorize_count_read(self, request: Request,
                                    work: Callable[[Call], Response]) -> Response:
        """A read on the event loop (SQLite) whose rate check goes to Redis (spec §8):
        authorized, then counted while the loop serves other requests (a Redis that hangs
        holds only this one, to its deadline: 503), then read. The token and the read
        are two snapshots here, not one: a read over the limit costs no more than
        its token."""
        later: list[tuple[str, list[str]]] = []
        with self.s.db.holding(on_the_loop=True):
            call = self._authorize(request, count_later=later)
        if later:
            await self._count(*later[0])
        with self.s.db.holding(on_the_loop=True):
            return work(call)

    def _authorized(self, request: Request, work: Callable[[Call], Response], *,
                    on_the_loop: bool = False) -> Response:
        with self.s.db.holding(on_the_loop=on_the_loop):
            return work(self._authorize(request))

    def _authorize(self, request: Request,
                   count_later: list[tuple[str, list[str]]] | None = None) -> Call:
        """The request's :class:`Call`: token, allowlist, plan and rate limits (spec §1, §8);
        with ``count_later`` the rate check is left to the caller, who gets its
        arguments there."""
        client = self.client(request)
        try:
            principal = authenticate(self.s.db, request.headers.get("authorization"), client)
        except ScimError as exc:
            if exc.dialect:
                request.state.wire = wire_for(policy_named(exc.dialect), self.version)
            raise
        request.state.principal = principal  # for the access log
        policy = policy_for(principal.tenant)
        wire = wire_for(policy, self.version)
        request.state.wire = wire
        refused = self._refusal(principal.tenant, policy)
        if refused is not None:
            raise refused
        if self.s.rates is not None:
            parts = request.url.path[len(self.prefix):].strip("/").split("/")
            resource = {"users": "user", "groups": "group"}.get(parts[0].lower())
            search = parts[-1] == ".search"
            has_id = len(parts) > 1 and not search
            names = buckets_for(request.method, resource, has_id, search)
            scope = str(principal.tenant.parent_pk or principal.tenant.pk)
            if count_later is None:
                self._check_rates(scope, names)
            else:
                count_later.append((scope, names))
        dry_run = request.headers.get(DRY_RUN, "").strip() in ("1", "true")
        request.state.dry_run = dry_run
        actor = Actor("scim", principal.token_id, principal.user_id, principal.role,
                      client, dry_run)
        return Call(principal, policy, wire, actor)

    def _refusal(self, tenant: Tenant, policy: Policy) -> ScimError | None:
        """Why a valid token of ``tenant`` may not use SCIM here, if it may not: SCIM 1.1
        for another dialect than Slack's, a Grid workspace (spec §1.2, §11), a plan
        without SCIM."""
        if self.version == 1 and policy.name != "slack":
            return not_found("SCIM 1.1 is served to slack-dialect tenants only.",
                             "unsupported_version")
        if tenant.parent_pk is not None:
            return ScimError(403, "non_org_teams_only",
                             "On Enterprise Grid, SCIM takes a token of the organization.")
        if tenant.plan in ("free", "pro"):
            return ScimError(403, "plus_teams_only", "SCIM needs a Business+ or Enterprise plan.")
        return None

    def _check_rates(self, scope: str, names: list[str]) -> None:
        """Count the request in its buckets (spec §8). In a PostgreSQL read on the event
        loop (:meth:`Database.awaited`), a check that goes to Redis is awaited there too
        (or, on a loop the server did not open, waits in a thread); either way the
        deadline cuts it short and the read gives back its connection at the 503.
        SQLite reads on the loop await it between their token and their read
        (:meth:`_authorize_count_read`)."""
        rates = self.s.rates
        assert rates is not None
        if rates.remote and in_greenlet():
            await_(self._count(scope, names))
        else:
            rates.check(scope, names)

    def _locked(self, call: Call, kind: str, resource_id: str, fn, *args, **kw):
        """Run a directory write holding the resource's lock (spec §9): a second write
        gets 429 ``resource_locked`` at once in the slack dialect, waits in rfc."""
        wait = 0.0 if call.policy.name == "slack" else self.s.settings.lock_wait
        alone = wait > 0 and self.s.db.cannot_wait()
        held = False
        try:
            # an rfc write does not wait for a lock in a group commit's batch, which holds
            # the write turn the lock's holder may be waiting for, nor on the event loop:
            # it runs alone
            with self.s.locks.hold(f"{call.tenant.pk}:{kind}:{resource_id}",
                                   wait=0.0 if alone else wait):
                held = True
                return fn(*args, **kw)
        except ScimError as exc:
            if alone and not held:
                raise RunAlone() from exc
            raise

    def _respond(self, call: Call, doc: Any, status: int = 200, *, version: int | None = None,
                 location: str | None = None) -> Response:
        headers = {"Scimd-Dry-Run": "1"} if call.actor.dry_run else {}
        if version is not None:
            headers["ETag"] = etag(version)
        if location:
            headers["Location"] = location
        return JsonResponse(doc, status, media_type=call.wire.media_type, headers=headers)

    def _read_answer(self, request: Request, call: Call, rec: Any, rtype: ResourceType,
                     proj: Projection, render: Callable[[], dict]) -> Response:
        """A GET of one resource: 304 when ``If-None-Match`` names its version (RFC 7232
        §3.2, RFC 7644 §3.14), else the resource as projected."""
        if matches_none(request.headers.get("if-none-match"), rec.version):
            return Response(status_code=304, headers={"ETag": etag(rec.version)})
        return self._respond(call, proj.apply(render(), rtype), version=rec.version)

    def _empty(self, status: int, call: Call | None = None) -> Response:
        dry = call is not None and call.actor.dry_run
        return Response(status_code=status, headers={"Scimd-Dry-Run": "1"} if dry else None)

    # -- discovery (RFC 7644 §4; spec §10) ---------------------------------------

    async def _discovery(self, request: Request) -> tuple[Wire, list[ResourceType]]:
        """Discovery needs no token (spec §1.4); with a valid one it describes the tenant's
        dialect in v2, without one the server's default dialect (spec §16.24), and counts
        in the organization's read bucket (spec §8) if the token may use SCIM at all
        (:meth:`_refusal`). Without such a token there is no organization to count
        against."""
        policy = policy_named(self.s.settings.default_dialect if self.version == 2
                              else "slack")
        principal = None
        if request.headers.get("authorization"):
            with contextlib.suppress(ScimError):
                principal = await run_in_thread(
                    authenticate, self.s.db, request.headers.get("authorization"),
                    self.client(request))
        counted = False
        if principal is not None:
            request.state.principal = principal  # for the access log
            own = policy_for(principal.tenant)
            if self.version == 2:
                policy = own
            counted = self.s.rates is not None and self._refusal(principal.tenant, own) is None
        wire = wire_for(policy, self.version)
        request.state.wire = wire
        if counted:  # an organization's own token (a workspace's is refused above)
            assert principal is not None
            await self._count(str(principal.tenant.pk), ["reads"])
        return wire, [policy.user_type, policy.group_type]

    async def _count(self, scope: str, names: list[str]) -> None:
        """Count the request in its buckets (spec §8): awaited on the event loop where
        the counters in Redis allow it, else in a thread, or in memory at once; a wait
        the deadline bounds either way."""
        rates = self.s.rates
        assert rates is not None
        if rates.awaits_here():
            with bounded():
                await rates.check_awaited(scope, names)
        elif rates.remote:
            await run_in_thread(rates.check, scope, names, abandon=True)
        else:
            rates.check(scope, names)

    async def service_provider_config(self, request: Request) -> Response:
        wire, _ = await self._discovery(request)
        return JsonResponse(wire.service_provider_config(self.base(request)),
                            media_type=wire.media_type)

    async def resource_types(self, request: Request) -> Response:
        wire, types = await self._discovery(request)
        body = wire.resource_types(types, self.base(request))
        name = request.path_params.get("name")
        if name is not None:
            doc = next((d for d in body["Resources"] if d["id"].lower() == name.lower()), None)
            if doc is None:
                raise not_found(f"No resource type {name}.", "bad_endpoint")
            return JsonResponse(doc, media_type=wire.media_type)
        return JsonResponse(body, media_type=wire.media_type)

    async def schemas(self, request: Request) -> Response:
        wire, types = await self._discovery(request)
        base = self.base(request)
        name = request.path_params.get("name")
        if self.version == 1:
            if name is None or name.lower() not in ("users", "groups"):
                raise not_found("SCIM 1.1 serves /Schemas/Users and /Schemas/Groups.",
                                "bad_endpoint")
            rtype = types[0] if name.lower() == "users" else types[1]
            return JsonResponse(v1_schema(rtype), media_type=wire.media_type)
        if name is not None:
            schema = discovery.find_schema(types, name)
            if schema is None:
                raise not_found(f"No schema {name}.", "bad_endpoint")
            return JsonResponse(schema.to_document(f"{base}/Schemas/{schema.id}"),
                                media_type=wire.media_type)
        docs = discovery.schema_documents(types, base)
        return JsonResponse(wire.list(docs, len(docs), 1), media_type=wire.media_type)

    # -- users (RFC 7644 §3.2-§3.6; spec §2, §3, §6) --------------------------------

    async def list_users(self, request: Request) -> Response:
        params = dict(request.query_params)
        return await self._serve(
            request, lambda call: self._list(request, call, "User", params), read=True)

    async def search_users(self, request: Request) -> Response:
        raw = await request.body()
        return await self._serve(request, lambda call: self._list(
            request, call, "User", _search_body(parse_json(raw))), read=True)

    async def get_user(self, request: Request) -> Response:
        def work(call: Call) -> Response:
            rtype = call.policy.user_type
            proj = _projection(request.query_params, rtype)
            rec = self.s.users.get(call.tenant, request.path_params["id"],
                                   with_groups=proj.wants("groups"))
            return self._read_answer(request, call, rec, rtype, proj, lambda: call.wire.user(
                rec, call.tenant, rtype, self.base(request)))

        return await self._serve(request, work, read=True)

    async def create_user(self, request: Request) -> Response:
        raw = await request.body()

        def work(call: Call) -> Response:
            body = parse_json(raw)
            attrs, password = call.wire.user_attrs(body, call.policy, creating=True)
            rec = self.s.users.create(call.tenant, attrs, password=password, actor=call.actor)
            return self._user_answer(request, call, rec, 201)

        return await self._serve(request, work)

    async def replace_user(self, request: Request) -> Response:
        raw = await request.body()
        user_id = request.path_params["id"]

        def work(call: Call) -> Response:
            body = parse_json(raw)
            _check_id(body, user_id)
            attrs, password = call.wire.user_attrs(body, call.policy, creating=False)
            if password:  # hashed alone: leave before taking the lock, not while holding it
                self.s.db.run_alone()
            rec = self._locked(call, "user", user_id, self.s.users.replace, call.tenant,
                               user_id, attrs, password=password,
                               if_match=request.headers.get("if-match"), actor=call.actor)
            return self._user_answer(request, call, rec, 200)

        return await self._serve(request, work)

    async def patch_user(self, request: Request) -> Response:
        raw = await request.body()
        user_id = request.path_params["id"]

        def work(call: Call) -> Response:
            body = parse_json(raw)
            ops = call.wire.patch_ops(body, call.policy, "user")
            rec = self._locked(call, "user", user_id, self.s.users.patch, call.tenant,
                               user_id, ops, if_match=request.headers.get("if-match"),
                               actor=call.actor)
            return self._user_answer(request, call, rec, 200)

        return await self._serve(request, work)

    async def delete_user(self, request: Request) -> Response:
        user_id = request.path_params["id"]

        def work(call: Call) -> Response:
            self._locked(call, "user", user_id, self.s.users.delete, call.tenant, user_id,
                         if_match=request.headers.get("if-match"), actor=call.actor)
            return self._empty(call.wire.delete_user_status, call)

        return await self._serve(request, work)

    def _user_answer(self, request: Request, call: Call, rec, status: int) -> Response:
        rtype = call.policy.user_type
        doc = call.wire.user(rec, call.tenant, rtype, self.base(request))
        proj = _projection(request.query_params, rtype)
        location = doc["meta"]["location"] if status == 201 else None
        return self._respond(call, proj.apply(doc, rtype), status, version=rec.version,
                             location=location)

    # -- groups (spec §4) ----------------------------------------------------------

    async def list_groups(self, request: Request) -> Response:
        params = dict(request.query_params)
        return await self._serve(
            request, lambda call: self._list(request, call, "Group", params), read=True)

    async def search_groups(self, request: Request) -> Response:
        raw = await request.body()
        return await self._serve(request, lambda call: self._list(
            request, call, "Group", _search_body(parse_json(raw))), read=True)

    async def get_group(self, request: Request) -> Response:
        def work(call: Call) -> Response:
            rtype = call.policy.group_type
            proj = _projection(request.query_params, rtype)
            rec = self.s.groups.get(call.tenant, request.path_params["id"],
                                    with_members=proj.wants("members"))
            return self._read_answer(request, call, rec, rtype, proj,
                                     lambda: call.wire.group(rec, self.base(request)))

        return await self._serve(request, work, read=True)

    async def create_group(self, request: Request) -> Response:
        raw = await request.body()

        def work(call: Call) -> Response:
            body = parse_json(raw)
            attrs = call.wire.group_attrs(body, call.policy)
            proj = _projection(request.query_params, call.policy.group_type)
            rec = self.s.groups.create(call.tenant, attrs, with_members=proj.wants("members"),
                                       actor=call.actor)
            return self._group_answer(request, call, rec, 201, proj)

        return await self._serve(request, work)

    async def replace_group(self, request: Request) -> Response:
        raw = await request.body()
        group_id = request.path_params["id"]

        def work(call: Call) -> Response:
            body = parse_json(raw)
            _check_id(body, group_id)
            attrs = call.wire.group_attrs(body, call.policy)
            proj = _projection(request.query_params, call.policy.group_type)
            rec = self._locked(call, "group", group_id, self.s.groups.replace, call.tenant,
                               group_id, attrs, if_match=request.headers.get("if-match"),
                               with_members=proj.wants("members"), actor=call.actor)
            return self._group_answer(request, call, rec, 200, proj)

        return await self._serve(request, work)

    async def patch_group(self, request: Request) -> Response:
        raw = await request.body()
        group_id = request.path_params["id"]

        def work(call: Call) -> Response:
            body = parse_json(raw)
            ops = call.wire.patch_ops(body, call.policy, "group")
            proj = _projection(request.query_params, call.policy.group_type)
            asked = ("attributes" in request.query_params
                     or "excludedAttributes" in request.query_params)
            answer = call.wire.patch_group_status == 200 or (
                asked and call.wire.patch_group_body_on_request)
            rec = self._locked(call, "group", group_id, self.s.groups.patch, call.tenant,
                               group_id, ops, if_match=request.headers.get("if-match"),
                               with_members=answer and proj.wants("members"),
                               actor=call.actor)
            if not answer:
                return self._empty(204, call)
            return self._group_answer(request, call, rec, 200, proj)

        return await self._serve(request, work)

    async def delete_group(self, request: Request) -> Response:
        group_id = request.path_params["id"]

        def work(call: Call) -> Response:
            self._locked(call, "group", group_id, self.s.groups.delete, call.tenant, group_id,
                         if_match=request.headers.get("if-match"), actor=call.actor)
            return self._empty(204, call)

        return await self._serve(request, work)

    def _group_answer(self, request: Request, call: Call, rec, status: int,
                      proj: Projection) -> Response:
        doc = call.wire.group(rec, self.base(request))
        location = doc["meta"]["location"] if status == 201 else None
        return self._respond(call, proj.apply(doc, call.policy.group_type), status,
                             version=rec.version, location=location)

    # -- lists and searches (RFC 7644 §3.4.2, §3.4.3; spec §5) ------------------------

    async def search_root(self, request: Request) -> Response:
        """``POST /.search`` over every resource type (RFC 7644 §3.4.3)."""
        raw = await request.body()
        return await self._serve(request, lambda call: self._search_all(
            request, call, _search_body(parse_json(raw))), read=True)

    def _search_all(self, request: Request, call: Call, params: dict[str, Any]) -> Response:
        start, count = paging(params.get("startIndex"), params.get("count"),
                              call.policy.default_page)
        base = self.base(request)
        resources: list[dict] = []
        total = 0
        kinds = (
            (call.policy.user_type, self.s.users,
             lambda r: call.wire.user(r, call.tenant, call.policy.user_type, base)),
            (call.policy.group_type, self.s.groups, lambda r: call.wire.group(r, base)),
        )
        for rtype, service, render in kinds:
            query, proj = self._query(call, params, rtype)
            query.unknown_as_absent = True  # RFC 7644 §3.4.2.1: no value, not an error
            query.start_index = max(start - total, 1)
            query.count = max(count - len(resources), 0)
            page = service.list(call.tenant, query)
            total += page.total
            resources += [proj.apply(render(r), rtype) for r in page.items]
        return JsonResponse(call.wire.list(resources, total, start),
                            media_type=call.wire.media_type)

    def _list(self, request: Request, call: Call, kind: str,
              params: dict[str, Any]) -> Response:
        user = kind == "User"
        rtype = call.policy.user_type if user else call.policy.group_type
        query, proj = self._query(call, params, rtype)
        base = self.base(request)
        if call.wire.splicer is not None and proj.everything:
            return self._list_spliced(call, user, rtype, query, base)
        if user:
            page = self.s.users.list(call.tenant, query)
            render_user, tenant = call.wire.user, call.tenant
            docs = [render_user(r, tenant, rtype, base) for r in page.items]
        else:
            page = self.s.groups.list(call.tenant, query)
            render_group = call.wire.group
            docs = [render_group(r, base) for r in page.items]
        if not proj.everything:
            docs = [proj.apply(doc, rtype) for doc in docs]
        return JsonResponse(call.wire.list(docs, page.total, query.start_index),
                            media_type=call.wire.media_type)

    def _list_spliced(self, call: Call, user: bool, rtype: ResourceType, query: ListQuery,
                      base: str) -> Response:
        """A list answer written from the stored JSON text of each resource, undecoded
        (``v2_render.user_json``): what an identity provider's full read of a directory
        asks for, page after page. Records the store decoded (filtered or sorted pages, a
        guest's) are serialised as single resources are."""
        wire, tenant, splicer = call.wire, call.tenant, call.wire.splicer
        query.attrs_as_text = True
        if user:
            page = self.s.users.list(tenant, query)
            parts = [splicer.user_json(r, rtype, base) if isinstance(r, UserText)
                     else orjson.dumps(wire.user(r, tenant, rtype, base)) for r in page.items]
        else:
            page = self.s.groups.list(tenant, query)
            parts = [splicer.group_json(r, base) if isinstance(r, GroupText)
                     else orjson.dumps(wire.group(r, base)) for r in page.items]
        return Response(splicer.list_json(parts, page.total, query.start_index),
                        media_type=wire.media_type)

    def _query(self, call: Call, params: dict[str, Any],
               rtype: ResourceType) -> tuple[ListQuery, Projection]:
        """Read ``filter``, ``sortBy``, ``sortOrder``, paging and projection parameters."""
        start, count = paging(params.get("startIndex"), params.get("count"),
                              call.policy.default_page)
        text = params.get("filter")
        if text is not None and not isinstance(text, str):
            raise invalid_value("filter must be a string.")
        node = _parse_filter(call.wire.filter_text(text)) if text is not None else None
        sort_by = None
        raw_sort = params.get("sortBy")
        if raw_sort:
            if not isinstance(raw_sort, str):
                raise invalid_value("sortBy must be an attribute name.")
            urn, path = parse_path(raw_sort, rtype)
            if not isinstance(path, AttrPath):
                raise invalid_value(f"sortBy {raw_sort!r} is not an attribute path.")
            try:
                sort_by = resolve(rtype, path, urn=urn, error=path_error)
            except ScimError:
                raise invalid_value(f"sortBy names an unknown attribute: {raw_sort}.") from None
        order = params.get("sortOrder")
        if order is not None and (not isinstance(order, str)
                                  or order.lower() not in ("ascending", "descending")):
            raise ScimError(400, "invalid_sort_order",
                            "sortOrder must be ascending or descending.", "invalidValue")
        proj = _projection(params, rtype)
        relation = "groups" if rtype.name == "User" else "members"
        query = ListQuery(filter=node, sort_by=sort_by,
                          descending=isinstance(order, str) and order.lower() == "descending",
                          start_index=start, count=count, with_relations=proj.wants(relation))
        return query, proj

    # -- routes ---------------------------------------------------------------------

    def routes(self) -> list[Route]:
        """One route per path (with and without a trailing slash), dispatching on the
        method, so a 405 lists every method the path allows (RFC 9110 §15.5.6)."""
        # Starlette tries routes in order: the paths identity providers call most come
        # first, each ``.search`` before the ``{id}`` it would also match, so that a 405
        # there lists POST.
        table: dict[str, dict[str, Callable[[Request], Awaitable[Response]]]] = {
            "/Users/.search": {"POST": self.search_users},
            "/Users/{id}": {"GET": self.get_user, "PUT": self.replace_user,
                            "PATCH": self.patch_user, "DELETE": self.delete_user},
            "/Users": {"GET": self.list_users, "POST": self.create_user},
            "/Groups/.search": {"POST": self.search_groups},
            "/Groups/{id}": {"GET": self.get_group, "PUT": self.replace_group,
                             "PATCH": self.patch_group, "DELETE": self.delete_group},
            "/Groups": {"GET": self.list_groups, "POST": self.create_group},
            "/ServiceProviderConfigs": {"GET": self.service_provider_config},
            "/Schemas/{name}": {"GET": self.schemas},
        }
        if self.version == 2:
            table |= {
                "/ServiceProviderConfig": {"GET": self.service_provider_config},
                "/ResourceTypes": {"GET": self.resource_types},
                "/ResourceTypes/{name}": {"GET": self.resource_types},
                "/Schemas": {"GET": self.schemas},
                "/.search": {"POST": self.search_root},
            }
        endpoints = {path: _dispatch(handlers) for path, handlers in table.items()}
        routes = [Route(path, endpoints[path], methods=list(handlers))
                  for path, handlers in table.items()]
        return routes + [Route(path + "/", endpoints[path], methods=list(handlers))
                         for path, handlers in table.items()]  # rarely asked for


def _dispatch(handlers: dict[str, Callable[[Request], Awaitable[Response]]]):
    async def endpoint(request: Request) -> Response:
        method = "GET" if request.method == "HEAD" else request.method
        return await handlers[method](request)

    return endpoint


def _parse_filter(text: str):
    try:
        return parse_filter(text)
    except ScimError as exc:
        if exc.code == "invalid_query" and not any(
                op in f" {text.lower()} " for op in (" eq ", " ne ", " co ", " sw ", " ew ",
                                                    " gt ", " ge ", " lt ", " le ", " pr")):
            exc.code, exc.context = "no_filters", "is_aggregate_call=1"
        raise


def _projection(params: Any, rtype: ResourceType) -> Projection:
    return parse_projection(params.get("attributes"), params.get("excludedAttributes"), rtype)


def _search_body(body: Any) -> dict[str, Any]:
    """The parameters of a SearchRequest (RFC 7644 §3.4.3)."""
    if not isinstance(body, dict):
        raise invalid_syntax("A search request must be a JSON object.")
    schemas = body.get("schemas")
    if schemas is not None and (not isinstance(schemas, list) or SEARCH_URN not in schemas):
        raise invalid_syntax(f"schemas must contain {SEARCH_URN}.")
    params = {k: v for k, v in body.items() if k != "schemas"}
    for key in ("attributes", "excludedAttributes"):
        if isinstance(params.get(key), list):
            params[key] = ",".join(str(v) for v in params[key])
    return params


def _check_id(body: Any, resource_id: str) -> None:
    """An ``id`` in a PUT body is tolerated when it names the resource (RFC 7644 §3.5.1)."""
    if isinstance(body, dict) and "id" in body and body["id"] not in (None, resource_id):
        raise ScimError(400, "invalid_request_payload", "id cannot be changed.", "mutability")
