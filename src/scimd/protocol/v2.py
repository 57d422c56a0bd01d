"""The SCIM 2.0 wire adapter at ``/scim/v2`` (RFC 7644).

Parses requests, calls the directory, renders answers. It owns no data and no
rules: those are in ``scimd.directory`` and the tenant's dialect policy.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from scim2_models.path import AttrPath
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from scimd.auth.tokens import Principal, authenticate
from scimd.directory.etag import etag, matches_none
from scimd.directory.groups import Groups
from scimd.directory.policy import Policy, policy_for
from scimd.directory.query import ListQuery
from scimd.directory.users import Users
from scimd.protocol.http import JsonResponse, json_body, paging
from scimd.protocol.v2_render import SEARCH_URN, render_group, render_list, render_user
from scimd.scim import discovery
from scimd.scim.attributes import ResourceType
from scimd.scim.errors import ScimError, invalid_syntax, invalid_value, not_found
from scimd.scim.patch import parse_operations
from scimd.scim.paths import parse_filter, parse_path, path_error, resolve
from scimd.scim.projection import Projection, parse_projection
from scimd.scim.validate import canonical_body
from scimd.settings import Settings
from scimd.store.db import Database

PREFIX = "/scim/v2"
DEFAULT_PAGE = 100


@dataclass(slots=True)
class Services:
    """What the handlers need: configuration, the database and the directory."""

    settings: Settings
    db: Database
    users: Users
    groups: Groups


def base_url(request: Request, settings: Settings, prefix: str = PREFIX) -> str:
    """The absolute base for ``meta.location`` (``SCIMD_BASE_URL`` or the request's host)."""
    if settings.base_url:
        return settings.base_url + prefix
    host = request.headers.get("host") or f"{request.url.hostname}:{request.url.port}"
    return f"{request.url.scheme}://{host}{prefix}"


class V2:
    """Handlers for every ``/scim/v2`` endpoint."""

    def __init__(self, services: Services) -> None:
        self.s = services

    # -- helpers ---------------------------------------------------------------

    async def _principal(self, request: Request) -> Principal:
        principal = await run_in_threadpool(
            authenticate, self.s.db, request.headers.get("authorization"))
        request.state.tenant = principal.tenant
        return principal

    def _respond(self, doc: Any, status: int = 200, *, version: int | None = None,
                 location: str | None = None) -> Response:
        headers = {}
        if version is not None:
            headers["ETag"] = etag(version)
        if location:
            headers["Location"] = location
        return JsonResponse(doc, status, headers=headers)

    # -- discovery (RFC 7644 §4) -----------------------------------------------

    async def service_provider_config(self, request: Request) -> Response:
        return JsonResponse(discovery.service_provider_config(base_url(request, self.s.settings)))

    async def resource_types(self, request: Request) -> Response:
        types = self._types(request)
        docs = discovery.resource_type_documents(types, base_url(request, self.s.settings))
        name = request.path_params.get("name")
        if name is not None:
            doc = next((d for d in docs if d["id"].lower() == name.lower()), None)
            if doc is None:
                raise not_found(f"No resource type {name}.", "bad_endpoint")
            return JsonResponse(doc)
        return JsonResponse(render_list(docs, len(docs), 1))

    async def schemas(self, request: Request) -> Response:
        types = self._types(request)
        base = base_url(request, self.s.settings)
        name = request.path_params.get("name")
        if name is not None:
            schema = discovery.find_schema(types, name)
            if schema is None:
                raise not_found(f"No schema {name}.", "bad_endpoint")
            return JsonResponse(schema.to_document(f"{base}/Schemas/{schema.id}"))
        docs = discovery.schema_documents(types, base)
        return JsonResponse(render_list(docs, len(docs), 1))

    def _types(self, request: Request) -> list[ResourceType]:
        policy = policy_for(request.state.tenant) if getattr(
            request.state, "tenant", None) else _default_policy(self.s.settings)
        return [policy.user_type, policy.group_type]

    # -- users (RFC 7644 §3.2-§3.6) --------------------------------------------

    async def list_users(self, request: Request) -> Response:
        p = await self._principal(request)
        return await self._list(request, p, "User", dict(request.query_params))

    async def search_users(self, request: Request) -> Response:
        p = await self._principal(request)
        return await self._list(request, p, "User", _search_body(await json_body(request)))

    async def get_user(self, request: Request) -> Response:
        p = await self._principal(request)
        policy = policy_for(p.tenant)
        proj = _projection(request.query_params, policy.user_type)
        rec = await run_in_threadpool(self.s.users.get, p.tenant, request.path_params["id"],
                                      with_groups=proj.wants("groups"))
        if matches_none(request.headers.get("if-none-match"), rec.version):
            return Response(status_code=304, headers={"ETag": etag(rec.version)})
        doc = render_user(rec, policy.user_type, base_url(request, self.s.settings))
        return self._respond(proj.apply(doc, policy.user_type), version=rec.version)

    async def create_user(self, request: Request) -> Response:
        p = await self._principal(request)
        policy = policy_for(p.tenant)
        attrs, password = _user_body(await json_body(request), policy)
        rec = await run_in_threadpool(self.s.users.create, p.tenant, attrs, password=password)
        return self._user_answer(request, policy, rec, 201)

    async def replace_user(self, request: Request) -> Response:
        p = await self._principal(request)
        policy = policy_for(p.tenant)
        body = await json_body(request)
        _check_id(body, request.path_params["id"])
        attrs, password = _user_body(body, policy)
        rec = await run_in_threadpool(
            self.s.users.replace, p.tenant, request.path_params["id"], attrs,
            password=password, if_match=request.headers.get("if-match"))
        return self._user_answer(request, policy, rec, 200)

    async def patch_user(self, request: Request) -> Response:
        p = await self._principal(request)
        policy = policy_for(p.tenant)
        ops = parse_operations(await json_body(request))
        rec = await run_in_threadpool(
            self.s.users.patch, p.tenant, request.path_params["id"], ops,
            if_match=request.headers.get("if-match"))
        return self._user_answer(request, policy, rec, 200)

    async def delete_user(self, request: Request) -> Response:
        p = await self._principal(request)
        await run_in_threadpool(self.s.users.delete, p.tenant, request.path_params["id"],
                                if_match=request.headers.get("if-match"))
        return Response(status_code=204)

    def _user_answer(self, request: Request, policy: Policy, rec, status: int) -> Response:
        base = base_url(request, self.s.settings)
        doc = render_user(rec, policy.user_type, base)
        proj = _projection(request.query_params, policy.user_type)
        location = doc["meta"]["location"] if status == 201 else None
        return self._respond(proj.apply(doc, policy.user_type), status, version=rec.version,
                             location=location)

    # -- groups ----------------------------------------------------------------

    async def list_groups(self, request: Request) -> Response:
        p = await self._principal(request)
        return await self._list(request, p, "Group", dict(request.query_params))

    async def search_groups(self, request: Request) -> Response:
        p = await self._principal(request)
        return await self._list(request, p, "Group", _search_body(await json_body(request)))

    async def get_group(self, request: Request) -> Response:
        p = await self._principal(request)
        policy = policy_for(p.tenant)
        proj = _projection(request.query_params, policy.group_type)
        rec = await run_in_threadpool(self.s.groups.get, p.tenant, request.path_params["id"],
                                      with_members=proj.wants("members"))
        if matches_none(request.headers.get("if-none-match"), rec.version):
            return Response(status_code=304, headers={"ETag": etag(rec.version)})
        doc = render_group(rec, base_url(request, self.s.settings))
        return self._respond(proj.apply(doc, policy.group_type), version=rec.version)

    async def create_group(self, request: Request) -> Response:
        p = await self._principal(request)
        policy = policy_for(p.tenant)
        attrs = _group_body(await json_body(request), policy)
        proj = _projection(request.query_params, policy.group_type)
        rec = await run_in_threadpool(self.s.groups.create, p.tenant, attrs,
                                      with_members=proj.wants("members"))
        return self._group_answer(request, policy, rec, 201, proj)

    async def replace_group(self, request: Request) -> Response:
        p = await self._principal(request)
        policy = policy_for(p.tenant)
        body = await json_body(request)
        _check_id(body, request.path_params["id"])
        attrs = _group_body(body, policy)
        proj = _projection(request.query_params, policy.group_type)
        rec = await run_in_threadpool(
            self.s.groups.replace, p.tenant, request.path_params["id"], attrs,
            if_match=request.headers.get("if-match"), with_members=proj.wants("members"))
        return self._group_answer(request, policy, rec, 200, proj)

    async def patch_group(self, request: Request) -> Response:
        p = await self._principal(request)
        policy = policy_for(p.tenant)
        ops = parse_operations(await json_body(request))
        proj = _projection(request.query_params, policy.group_type)
        rec = await run_in_threadpool(
            self.s.groups.patch, p.tenant, request.path_params["id"], ops,
            if_match=request.headers.get("if-match"), with_members=proj.wants("members"))
        return self._group_answer(request, policy, rec, 200, proj)

    async def delete_group(self, request: Request) -> Response:
        p = await self._principal(request)
        await run_in_threadpool(self.s.groups.delete, p.tenant, request.path_params["id"],
                                if_match=request.headers.get("if-match"))
        return Response(status_code=204)

    def _group_answer(self, request: Request, policy: Policy, rec, status: int,
                      proj: Projection) -> Response:
        doc = render_group(rec, base_url(request, self.s.settings))
        location = doc["meta"]["location"] if status == 201 else None
        return self._respond(proj.apply(doc, policy.group_type), status, version=rec.version,
                             location=location)

    # -- lists and searches (RFC 7644 §3.4.2, §3.4.3) ------------------------------

    async def search_root(self, request: Request) -> Response:
        """``POST /.search`` over every resource type (RFC 7644 §3.4.3)."""
        p = await self._principal(request)
        params = _search_body(await json_body(request))
        policy = policy_for(p.tenant)
        start, count = paging(params.get("startIndex"), params.get("count"), DEFAULT_PAGE)
        base = base_url(request, self.s.settings)
        resources: list[dict] = []
        total = 0
        errors: list[ScimError] = []
        for rtype, service, render in (
            (policy.user_type, self.s.users, lambda r: render_user(r, policy.user_type, base)),
            (policy.group_type, self.s.groups, lambda r: render_group(r, base)),
        ):
            try:
                query, proj = _list_query(params, rtype, DEFAULT_PAGE)
            except ScimError as exc:
                if exc.scim_type != "invalidFilter":
                    raise
                errors.append(exc)
                continue
            offset = max(start - 1 - total, 0)
            query.start_index = offset + 1
            query.count = max(count - len(resources), 0)
            try:
                page = await run_in_threadpool(service.list, p.tenant, query)
            except ScimError as exc:
                if exc.scim_type != "invalidFilter":
                    raise
                errors.append(exc)
                continue
            total += page.total
            resources += [proj.apply(render(r), rtype) for r in page.items]
        if len(errors) == 2:
            raise errors[0]
        return JsonResponse(render_list(resources, total, start))

    async def _list(self, request: Request, p: Principal, kind: str,
                    params: dict[str, Any]) -> Response:
        policy = policy_for(p.tenant)
        rtype = policy.user_type if kind == "User" else policy.group_type
        query, proj = _list_query(params, rtype, DEFAULT_PAGE)
        base = base_url(request, self.s.settings)
        if kind == "User":
            page = await run_in_threadpool(self.s.users.list, p.tenant, query)
            docs = [proj.apply(render_user(r, rtype, base), rtype) for r in page.items]
        else:
            page = await run_in_threadpool(self.s.groups.list, p.tenant, query)
            docs = [proj.apply(render_group(r, base), rtype) for r in page.items]
        return JsonResponse(render_list(docs, page.total, query.start_index))

    # -- routes ------------------------------------------------------------------------

    def routes(self) -> list[Route]:
        def r(path: str, endpoint: Callable[[Request], Awaitable[Response]],
              methods: list[str]) -> list[Route]:
            return [Route(path, endpoint, methods=methods),
                    Route(path + "/", endpoint, methods=methods)]

        return [
            *r("/ServiceProviderConfig", self.service_provider_config, ["GET"]),
            *r("/ServiceProviderConfigs", self.service_provider_config, ["GET"]),
            *r("/ResourceTypes", self.resource_types, ["GET"]),
            *r("/ResourceTypes/{name}", self.resource_types, ["GET"]),
            *r("/Schemas", self.schemas, ["GET"]),
            *r("/Schemas/{name}", self.schemas, ["GET"]),
            *r("/Users", self.list_users, ["GET"]),
            *r("/Users", self.create_user, ["POST"]),
            *r("/Users/.search", self.search_users, ["POST"]),
            *r("/Users/{id}", self.get_user, ["GET"]),
            *r("/Users/{id}", self.replace_user, ["PUT"]),
            *r("/Users/{id}", self.patch_user, ["PATCH"]),
            *r("/Users/{id}", self.delete_user, ["DELETE"]),
            *r("/Groups", self.list_groups, ["GET"]),
            *r("/Groups", self.create_group, ["POST"]),
            *r("/Groups/.search", self.search_groups, ["POST"]),
            *r("/Groups/{id}", self.get_group, ["GET"]),
            *r("/Groups/{id}", self.replace_group, ["PUT"]),
            *r("/Groups/{id}", self.patch_group, ["PATCH"]),
            *r("/Groups/{id}", self.delete_group, ["DELETE"]),
            *r("/.search", self.search_root, ["POST"]),
        ]


def _default_policy(settings: Settings) -> Policy:
    from scimd.directory.policy import POLICIES, RFC

    return POLICIES.get(settings.default_dialect, RFC)


def _projection(params: Any, rtype: ResourceType) -> Projection:
    return parse_projection(params.get("attributes"), params.get("excludedAttributes"), rtype)


def _list_query(params: dict[str, Any], rtype: ResourceType,
                default_count: int) -> tuple[ListQuery, Projection]:
    """Read ``filter``, ``sortBy``, ``sortOrder``, paging and projection parameters."""
    start, count = paging(params.get("startIndex"), params.get("count"), default_count)
    text = params.get("filter")
    if text is not None and not isinstance(text, str):
        raise invalid_value("filter must be a string.")
    node = parse_filter(text) if text is not None else None
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


def _check_schemas(body: Any) -> None:
    if not isinstance(body, dict):
        raise invalid_syntax("The request body must be a JSON object.")
    schemas = body.get("schemas")
    if schemas is not None and (not isinstance(schemas, list)
                                or not all(isinstance(s, str) for s in schemas)):
        raise invalid_syntax("schemas must be a list of URNs.")


def _check_id(body: Any, resource_id: str) -> None:
    """An ``id`` in a PUT body is tolerated when it names the resource (RFC 7644 §3.5.1)."""
    if isinstance(body, dict) and "id" in body and body["id"] not in (None, resource_id):
        raise ScimError(400, "invalid_request_payload", "id cannot be changed.", "mutability")


def _user_body(body: Any, policy: Policy) -> tuple[dict, str | None]:
    _check_schemas(body)
    attrs = canonical_body(body, policy.user_type)
    password = attrs.pop("password", None)
    return attrs, password


def _group_body(body: Any, policy: Policy) -> dict:
    _check_schemas(body)
    return canonical_body(body, policy.group_type)
