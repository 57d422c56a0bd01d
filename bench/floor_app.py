"""The floor: the least work an authenticated ``GET /scim/v2/Users/{id}`` needs on SQLite,
as a bare ASGI app on the server settings of the ceiling (bench/README.md, line 1).

Per request it does what scimd cannot skip, and nothing more: find the bearer token's
digest among live tokens, read the user and its groups in one read transaction, decode
the stored JSON, render the resource with ``meta`` and ``groups`` as scimd's rfc
dialect does, answer it with its ETag, and write a JSON access line to stdout. No
routing, middleware, IP allowlist, plan or rate checks, projection, request id or
metrics. Against the same database and requests as scimd, it shows how much of the
ceiling a GET can reach at all in Python on this stack.

    .venv/bin/python bench/floor_app.py --database PATH --port 8100
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sqlite3
import sys
import time

import orjson

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from ceiling_app import lifespan, serve

TOKEN_SQL = ("SELECT tenants.pk, tenants.id FROM tokens JOIN tenants"
             " ON tenants.pk = tokens.tenant_pk"
             " WHERE tokens.digest = ? AND tokens.revoked_at IS NULL")
USER_SQL = ("SELECT pk, id, attrs, created_at, modified_at, version FROM users"
            " WHERE id = ? AND tenant_pk = ?")
GROUPS_SQL = ("SELECT groups.id, groups.display_name FROM memberships JOIN groups"
              " ON groups.pk = memberships.group_pk WHERE memberships.user_pk = ?"
              " ORDER BY groups.pk")
USER_URN = "urn:ietf:params:scim:schemas:core:2.0:User"
PREFIX = "/scim/v2/Users/"

_conn: sqlite3.Connection | None = None


def _connection() -> sqlite3.Connection:
    global _conn
    if _conn is None:
        _conn = sqlite3.connect(os.environ["FLOOR_DATABASE"], isolation_level=None)
    return _conn


async def _answer(send, status: int, body: bytes, headers: list | None = None) -> None:
    await send({"type": "http.response.start", "status": status, "headers": [
        (b"content-type", b"application/scim+json"),
        (b"content-length", str(len(body)).encode()), *(headers or [])]})
    await send({"type": "http.response.body", "body": body})


async def app(scope, receive, send) -> None:
    if scope["type"] == "lifespan":
        await lifespan(receive, send)
        return
    started = time.perf_counter()
    if scope["path"] == "/healthz":  # the harness waits for this
        await _answer(send, 200, b"{}")
        return
    headers = dict(scope["headers"])
    auth = headers.get(b"authorization", b"")
    if not scope["path"].startswith(PREFIX) or not auth.startswith(b"Bearer "):
        await _answer(send, 404 if auth else 401, b"{}")
        return
    digest = hashlib.sha256(auth[7:].strip()).hexdigest()
    cur = _connection().cursor()
    cur.execute("BEGIN")
    try:
        token = cur.execute(TOKEN_SQL, (digest,)).fetchall()
        if not token:
            await _answer(send, 401, b"{}")
            return
        tenant_pk, tenant_id = token[0]
        row = cur.execute(USER_SQL, (scope["path"][len(PREFIX):], tenant_pk)).fetchone()
        if row is None:
            await _answer(send, 404, b"{}")
            return
        groups = cur.execute(GROUPS_SQL, (row[0],)).fetchall()
    finally:
        cur.execute("ROLLBACK")
    base = f"{scope['scheme']}://{headers.get(b'host', b'').decode()}/scim/v2"
    version = f'W/"{row[5]}"'
    attrs = orjson.loads(row[2])
    doc = {"schemas": [USER_URN], "id": row[1]}
    if "externalId" in attrs:
        doc["externalId"] = attrs["externalId"]
    doc["meta"] = {"resourceType": "User", "created": row[3], "lastModified": row[4],
                   "location": f"{base}/Users/{row[1]}", "version": version}
    doc.update(attrs)
    doc["groups"] = [{"value": g, "$ref": f"{base}/Groups/{g}", "display": name,
                      "type": "direct"} for g, name in groups]
    await _answer(send, 200, orjson.dumps(doc), [(b"etag", version.encode())])
    sys.stdout.write(orjson.dumps({
        "time": time.time(), "method": "GET", "route": "/scim/v2/Users/{id}", "status": 200,
        "duration_ms": round((time.perf_counter() - started) * 1000, 3),
        "tenant_id": tenant_id, "client": scope["client"][0] if scope.get("client") else None,
    }).decode() + "\n")
    sys.stdout.flush()


def main() -> None:
    parser = argparse.ArgumentParser(description="the least work of a GET by id")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--database", required=True, help="a SQLite file scimd seeded")
    args = parser.parse_args()
    os.environ["FLOOR_DATABASE"] = args.database  # read by the worker that imports us
    serve("floor_app:app", args.host, args.port)


if __name__ == "__main__":
    main()
