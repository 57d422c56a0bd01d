"""The change feed: ``GET /admin/v1/events?cursor=…`` (issue: safe provisioning).

A downstream system reads the tenant's audit log in order, page by page, and keeps
the ``next_cursor`` to resume where it stopped: cursors are stable, so nothing is
missed or read twice, and nobody needs to poll every user. Authenticated by an
admin token of the tenant.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from scimd.auth.tokens import authenticate
from scimd.limits.deadlines import run_in_thread
from scimd.protocol.http import SLACK_JSON, JsonResponse, query_int
from scimd.scim.errors import invalid_value
from scimd.store import audit
from scimd.store.db import Database

MAX_PAGE = 1000


def routes(db: Database, client) -> list[Route]:
    async def events(request: Request) -> Response:
        principal = await run_in_thread(
            authenticate, db, request.headers.get("authorization"), client(request))
        cursor = request.query_params.get("cursor") or "0"
        if not cursor.isdigit():
            raise invalid_value("cursor must be a value from next_cursor.")
        limit = min(max(query_int(request.query_params.get("limit"), "limit", 100), 1),
                    MAX_PAGE)

        def read() -> list[dict]:
            with db.read() as conn:
                return audit.events(conn, principal.tenant.pk, after=int(cursor), limit=limit)

        page = await run_in_thread(read)
        next_cursor = page[-1]["id"] if page else cursor
        return JsonResponse({"events": page, "next_cursor": next_cursor,
                             "has_more": len(page) == limit}, media_type=SLACK_JSON)

    return [Route("/events", events, methods=["GET"])]
