"""Where a scimd request's time goes, stage by stage, in one process (no network).

    .venv/bin/python bench/breakdown.py [--users 10000] [--iterations 2000]

Seeds a temporary SQLite database (bench/seed_scimd.py), builds the real application
(``scimd.app.create_app``, every middleware included, the logging set-up of
``scimd serve`` with the access log in a file) and times, per operation, in
microseconds of wall time and of process CPU time (all threads):

- the pieces of ``GET /Users/{id}``: an empty read transaction, ``authenticate``,
  ``Users.get``, rendering (wire, projection, orjson);
- a ``userName eq`` filter through ``Users.list``, and compiling its filter alone;
- the whole ASGI application called in-process (GET by id, ``userName eq``, a page of
  100 users halfway in), one request at a time, then 16 at a time (as wrk's 16
  connections do), with the SQL statements per request and the database connections
  opened (SQLAlchemy events).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import logging.config
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from dataset import email, external_id, user_name  # noqa: E402


def timed(label: str, fn: Callable[[], object], n: int, rows: list) -> None:
    fn()
    wall0, cpu0 = time.perf_counter(), time.process_time()
    for _ in range(n):
        fn()
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    rows.append((label, wall / n * 1e6, cpu / n * 1e6))


async def asgi_get(app, path: str, query: str, token: str) -> tuple[int, int]:
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
             "method": "GET", "scheme": "http", "path": path, "raw_path": path.encode(),
             "query_string": query.encode(), "root_path": "",
             "headers": [(b"host", b"127.0.0.1:8000"),
                         (b"authorization", f"Bearer {token}".encode())],
             "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 8000), "state": {}}
    sent = False
    status, size = 0, 0

    async def receive():
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await asyncio.sleep(3600)
        return {"type": "http.disconnect"}

    async def send(message):
        nonlocal status, size
        if message["type"] == "http.response.start":
            status = message["status"]
        elif message["type"] == "http.response.body":
            size += len(message.get("body", b""))

    await app(scope, receive, send)
    return status, size


def main() -> None:
    parser = argparse.ArgumentParser(description="per-stage cost of scimd requests")
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--iterations", type=int, default=2000)
    args = parser.parse_args()
    n = args.iterations

    from urllib.parse import quote

    import orjson
    from seed_scimd import seed
    from sqlalchemy import event

    from scimd.app import create_app
    from scimd.auth.tokens import authenticate
    from scimd.directory.policy import policy_for
    from scimd.directory.query import ListQuery
    from scimd.observability import log_config
    from scimd.protocol.api import wire_for
    from scimd.scim.projection import parse_projection
    from scimd.settings import Settings
    from scimd.store.db import connect
    from scimd.store.filter_sql import FilterCompiler

    tmp = Path(tempfile.mkdtemp(prefix="scimd-breakdown-"))
    url, token = f"sqlite:///{tmp / 'b.db'}", "xoxp-breakdown"
    os.environ.update({"SCIMD_DATABASE_URL": url, "SCIMD_BOOTSTRAP_TOKEN": token,
                       "SCIMD_BOOTSTRAP_DIALECT": "rfc", "SCIMD_RATE_LIMITS": "off"})
    seed(url, token, args.users, tmp / "ids.txt")
    ids = (tmp / "ids.txt").read_text().split()
    settings = Settings.from_env()
    # The logging set-up of `scimd serve`, the access log's stdout in a file of its own.
    access = open(tmp / "access.log", "w")  # noqa: SIM115 - open for the whole run
    stdout, sys.stdout = sys.stdout, access
    logging.config.dictConfig(log_config(settings))
    sys.stdout = stdout
    db = connect(settings.database_url, pool_size=settings.pool_size)
    stats = {"sql": 0, "connects": 0}
    event.listen(db.engine, "before_cursor_execute",
                 lambda *a: stats.__setitem__("sql", stats["sql"] + 1))
    event.listen(db.engine, "connect",
                 lambda *a: stats.__setitem__("connects", stats["connects"] + 1))
    app = create_app(settings, db)
    services = app.state.services
    principal = authenticate(db, f"Bearer {token}", "127.0.0.1")
    tenant = principal.tenant
    policy = policy_for(tenant)
    wire = wire_for(policy, 2)
    rtype = policy.user_type
    uid = ids[len(ids) // 2]
    rec = services.users.get(tenant, uid)
    base = "http://127.0.0.1:8000/scim/v2"

    def empty_read() -> None:
        with db.read():
            pass

    def render() -> bytes:
        proj = parse_projection(None, None, rtype)
        return orjson.dumps(proj.apply(wire.user(rec, tenant, rtype, base), rtype))


    from scimd.protocol import api as api_module

    name = user_name(len(ids) // 2)
    expr = f'userName eq "{name}"'
    parsed = api_module._parse_filter(expr)

    def list_filter() -> object:
        return services.users.list(tenant, ListQuery(filter=parsed, start_index=1, count=100))

    def compile_only() -> object:
        return FilterCompiler(db.engine.dialect.name, policy.user_type).compile(
            policy.rewrite_filter(parsed))

    rows: list = []
    timed("empty read transaction (checkout, BEGIN, COMMIT)", empty_read, n, rows)
    timed("authenticate (token lookup)", lambda: authenticate(db, f"Bearer {token}",
                                                              "127.0.0.1"), n, rows)
    timed("Users.get (user + groups)", lambda: services.users.get(tenant, uid), n, rows)
    timed("render user (wire, projection, orjson)", render, n, rows)
    timed("parse filter userName eq", lambda: api_module._parse_filter(expr), n, rows)
    timed("compile filter to SQL", compile_only, n, rows)
    timed("Users.list userName eq (count + page + groups)", list_filter, n, rows)

    loop = asyncio.new_event_loop()
    paths = [("GET /Users/{id}", f"/scim/v2/Users/{uid}", ""),
             ("GET /Users?filter=userName eq", "/scim/v2/Users",
              "filter=" + quote(expr, safe="")),
             ("GET /Users, a page of 100 halfway in", "/scim/v2/Users",
              f"startIndex={len(ids) // 2}&count=100")]
    for label, path, query in paths:
        status, size = loop.run_until_complete(asgi_get(app, path, query, token))
        assert status == 200, status
        before = dict(stats)
        timed(f"whole app, sequential: {label}",
              lambda p=path, q=query: loop.run_until_complete(asgi_get(app, p, q, token)),
              n, rows)
        sql = (stats["sql"] - before["sql"]) / (n + 1)
        rows.append((f"  ... SQL statements per request: {sql:.1f}, {size} B answer", 0, 0))

        async def burst(p: str = path, q: str = query) -> None:
            await asyncio.gather(*(asgi_get(app, p, q, token) for _ in range(16)))

        before = dict(stats)
        rounds = max(1, n // 16)
        timed(f"whole app, 16 at a time: {label} (per request)",
              lambda b=burst: loop.run_until_complete(b()), rounds, rows)
        rows[-1] = (rows[-1][0], rows[-1][1] / 16, rows[-1][2] / 16)
        opened = stats["connects"] - before["connects"]
        rows.append((f"  ... connections opened per request: {opened / (16 * (rounds + 1)):.2f}"
                     f" (pool_size {settings.pool_size})", 0, 0))

    plans = query_plans(db, services, tenant, api_module, ListQuery, len(ids))
    print(f"scimd per-operation cost, SQLite, {len(ids):,} users, {n} iterations\n")
    print("| operation | wall µs | CPU µs (all threads) |\n|---|---|---|")
    for label, wall, cpu in rows:
        if wall:
            print(f"| {label} | {wall:,.0f} | {cpu:,.0f} |")
        else:
            print(f"| {label} | | |")
    print("\nSQL of each list request and SQLite's plan (EXPLAIN QUERY PLAN):\n")
    print(plans)
    db.dispose()


def query_plans(db, services, tenant, api_module, list_query, users: int) -> str:
    """The statements a list request runs, each with SQLite's query plan."""
    from sqlalchemy import event

    seen: list[tuple[str, object]] = []

    def record(_conn, _cur, statement, params, _ctx, _many) -> None:
        seen.append((statement, params))

    mid = users // 2
    cases = [(f'userName eq "{user_name(mid)}"', 1), (f'emails.value eq "{email(mid)}"', 1),
             (f'externalId eq "{external_id(mid)}"', 1), (None, users - 100)]
    out = []
    for expr, start in cases:
        seen.clear()
        event.listen(db.engine, "before_cursor_execute", record)
        try:
            services.users.list(tenant, list_query(
                filter=api_module._parse_filter(expr) if expr else None,
                start_index=start, count=100))
        finally:
            event.remove(db.engine, "before_cursor_execute", record)
        out.append(f"- `{expr or f'startIndex={start}&count=100'}`")
        with db.engine.connect() as conn:
            for statement, params in seen:
                if not statement.lstrip().upper().startswith("SELECT"):
                    continue
                text = " ".join(statement.split())
                plan = "; ".join(r[-1] for r in conn.exec_driver_sql(
                    "EXPLAIN QUERY PLAN " + statement, params).fetchall())
                out.append(f"  - `{text[:160]}{'…' if len(text) > 160 else ''}`  \n"
                           f"    plan: {plan}")
    return "\n".join(out)


if __name__ == "__main__":
    main()
