"""Rate limits (spec §8) and per-resource write locks (spec §9), in memory and in Redis."""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
import time
from collections.abc import Iterator

import pytest
from limits.storage import MemoryStorage
from starlette.testclient import TestClient

from conftest import REDIS_URL, make_tenant
from scimd.app import create_app
from scimd.limits.locks import MemoryLocks, RedisLocks
from scimd.limits.rates import Bucket, RateLimits, buckets_for, parse_overrides, storage_for
from scimd.scim.errors import ScimError
from scimd.settings import Settings
from scimd.store import migrate
from scimd.store.db import Database, connect

USER = "urn:ietf:params:scim:schemas:core:2.0:User"
PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


def test_bucket_selection():
    """Spec §8: every write counts in the org-wide write bucket and the endpoint's own;
    lists and config fall under the read bucket only."""
    assert buckets_for("GET", "user", True) == ["reads", "user_get"]
    assert buckets_for("GET", "user", False) == ["reads"]
    assert buckets_for("GET", None, False) == ["reads"]
    assert buckets_for("POST", "user", False) == ["writes", "user_create"]
    assert buckets_for("PATCH", "group", True) == ["writes", "group_update"]
    assert buckets_for("DELETE", "group", True) == ["writes", "group_delete"]
    buckets = parse_overrides("writes=5/2", 10)
    assert buckets["writes"] == Bucket(5, 2, 10)
    assert buckets["group_update"] == Bucket(180, 80, 10)
    with pytest.raises(ValueError):
        parse_overrides("nope=1/1", 60)
    for nothing in ("user_delete=0", "user_create=180/0", "writes=-1/5"):
        with pytest.raises(ValueError, match="at least 1"):
            parse_overrides(nothing, 60)


class FakeTime:
    """A clock the test moves by hand, standing in for time.time in the memory storage."""

    def __init__(self) -> None:
        self.now = 1_000_000.0

    def time(self) -> float:
        return self.now


def test_burst_then_refill_with_an_injected_clock(monkeypatch):
    """Spec §8: ``limit`` per minute with a ``burst``; 429 carries an integer Retry-After,
    and after it the requests pass again (the clock is injected, no waiting)."""
    import limits.storage.memory as memory

    clock = FakeTime()
    monkeypatch.setattr(memory, "time", clock)
    rates = RateLimits({"writes": Bucket(6, 3)}, MemoryStorage(), clock=clock.time)
    for _ in range(3):
        rates.check("org", ["writes"])
    with pytest.raises(ScimError) as over:
        rates.check("org", ["writes"])
    assert over.value.status == 429 and over.value.code == "too_many_requests"
    wait = int(over.value.headers["Retry-After"])
    assert 1 <= wait <= 30
    rates.check("other-org", ["writes"])  # per organization
    clock.now += wait + 1
    for _ in range(3):
        rates.check("org", ["writes"])
    with pytest.raises(ScimError):  # the per-minute limit of 6 is spent now
        rates.check("org", ["writes"])


def test_redis_counters_are_shared(redis_prefix):
    """Principle 5: two processes sharing one Redis share one budget."""
    buckets = {"writes": Bucket(4, 4)}
    first = RateLimits(buckets, storage_for(REDIS_URL, redis_prefix))
    second = RateLimits(buckets, storage_for(REDIS_URL, redis_prefix))
    for limiter in (first, second, first, second):
        limiter.check("org", ["writes"])
    for limiter in (first, second):
        with pytest.raises(ScimError) as over:
            limiter.check("org", ["writes"])
        assert over.value.headers["Retry-After"].isdigit()


@pytest.fixture
def sqlite_db(tmp_path) -> Iterator[Database]:
    """A migrated SQLite database of this test's own (for paths only SQLite takes)."""
    db = connect(f"sqlite:///{tmp_path / 'own.db'}")
    migrate.upgrade(db)
    yield db
    db.dispose()


def _limits_on(storage: str, buckets: dict[str, Bucket], request: pytest.FixtureRequest,
               clock: FakeTime, monkeypatch: pytest.MonkeyPatch) -> RateLimits:
    """Rate limits in process memory or in Redis, on one injected clock."""
    if storage == "memory":
        import limits.storage.memory as memory

        monkeypatch.setattr(memory, "time", clock)
        return RateLimits(buckets, MemoryStorage(), clock=clock.time)
    prefix = request.getfixturevalue("redis_prefix")
    return RateLimits(buckets, storage_for(REDIS_URL, prefix), clock=clock.time)


def _outcome(rates: RateLimits, names: list[str]) -> str:
    try:
        rates.check("org", names)
    except ScimError as over:
        return f"429 {over.headers['Retry-After']} {over.detail}"
    return "ok"


def test_redis_counts_as_process_memory_does(request, monkeypatch):
    """Spec §8: the same requests at the same moments get the same answers, Retry-After
    included, from counters in Redis (one script a request) as from ``limits`` in memory."""
    buckets = {"writes": Bucket(8, 4, 60), "user_create": Bucket(5, 3, 60),
               "user_update": Bucket(6, 6, 60)}
    steps = ([(0.0, ["writes", "user_create"])] * 4
             + [(1.5, ["writes", "user_update"])] * 3
             + [(20.0, ["writes", "user_create"])] * 3
             + [(47.5, ["writes", "user_update"])] * 2
             + [(61.0, ["writes", "user_create"])] * 4)
    answers = {}
    for storage in ("memory", "redis"):
        clock = FakeTime()
        rates = _limits_on(storage, buckets, request, clock, monkeypatch)
        answers[storage] = []
        for at, names in steps:
            clock.now = 1_000_000.0 + at
            answers[storage].append(_outcome(rates, names))
    assert answers["redis"] == answers["memory"]
    create, writes = "429 {} Rate limited (user_create); retry in {} s.", \
        "429 {} Rate limited (writes); retry in {} s."
    # writes: 8 a minute, 4 per 30 s; user_create: 5 a minute, 3 per 36 s
    assert answers["redis"] == (["ok"] * 3 + [create.format(36, 36)]
                                + ["ok"] + [writes.format(29, 29)] * 2
                                + [writes.format(10, 10)] * 3
                                + ["ok"] * 2
                                + ["ok"] * 2 + [writes.format(17, 17)] * 2)


@pytest.mark.parametrize("storage", ["memory", "redis"])
def test_a_refused_request_counts_in_no_bucket(storage, request, monkeypatch):
    """Spec §8: a create refused by its endpoint's bucket does not spend the org-wide
    write budget: the updates after it still have all of what is left."""
    rates = _limits_on(storage, {"writes": Bucket(5, 5), "user_create": Bucket(2, 2),
                                 "user_update": Bucket(10, 10)},
                       request, FakeTime(), monkeypatch)
    creates = [_outcome(rates, ["writes", "user_create"]) for _ in range(6)]
    updates = [_outcome(rates, ["writes", "user_update"]) for _ in range(4)]
    assert creates[:2] == ["ok", "ok"] and all("(user_create)" in c for c in creates[2:])
    assert updates[:3] == ["ok"] * 3 and "(writes)" in updates[3]


@pytest.mark.parametrize("storage", ["memory", "redis"])
def test_a_bucket_of_nothing_refuses_everything(storage, request, monkeypatch):
    """A window with no room at all (a limit under 1, which the settings refuse) lets no
    request through, in Redis as in ``limits``' memory, and counts none elsewhere."""
    rates = _limits_on(storage, {"writes": Bucket(3, 3), "user_delete": Bucket(0, 0)},
                       request, FakeTime(), monkeypatch)
    assert all("(user_delete)" in _outcome(rates, ["writes", "user_delete"])
               for _ in range(3))
    assert [_outcome(rates, ["writes"]) for _ in range(3)] == ["ok"] * 3


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_an_unreachable_redis_is_a_503_not_a_500(db, database_url):
    """Rate limits counted in a Redis that refuses connections (spec §8): reads and
    writes are answered 503 with Retry-After, in the request's dialect, instead of
    crashing; the server itself (``/healthz``) is fine."""
    settings = Settings(database_url=database_url, rate_limits=True,
                        redis_url=f"redis://127.0.0.1:{_closed_port()}/0")
    access = make_tenant(db, "slack")
    auth = {"Authorization": f"Bearer {access.token}"}
    with TestClient(create_app(settings, db)) as http:
        for answer in (http.get("/scim/v2/Users", headers=auth),
                       http.get("/scim/v1/Users/U0NOPE", headers=auth),
                       http.post("/scim/v2/Users", headers=auth, json={
                           "schemas": [USER], "userName": "unlimited"})):
            assert answer.status_code == 503, answer.text
            assert answer.headers["Retry-After"] == "1"
        assert http.get("/healthz").status_code == 200
        assert answer.json()["detail"] == "rate_limits_unavailable"


def test_an_outage_of_redis_is_logged_when_it_starts_and_ends(redis_prefix, caplog):
    """While Redis is unreachable every count is a 503, but the log has one warning when
    that starts and one when Redis counts again (here a 429), with how many requests it
    turned away, not a line per request."""
    rates = RateLimits({"reads": Bucket(100, 100)},
                       storage_for(f"redis://127.0.0.1:{_closed_port()}/0", redis_prefix))
    with caplog.at_level(logging.WARNING, logger="scimd"):
        for _ in range(3):
            with pytest.raises(ScimError) as down:
                rates.check("org", ["reads"])
            assert down.value.status == 503
        rates.storage = storage_for(REDIS_URL, redis_prefix)  # Redis is back
        rates.items["reads"] = Bucket(0, 0).items()  # and the org is over its limit
        with pytest.raises(ScimError) as over:
            rates.check("org", ["reads"])
        assert over.value.status == 429  # a count all the same: Redis is back
    said = [r.getMessage() for r in caplog.records if "rate limits" in r.getMessage()]
    assert len(said) == 2, said
    assert "Redis unavailable (ConnectionError" in said[0]
    assert said[1] == "rate limits: Redis is back, after 3 requests answered 503"


def test_a_redis_fault_that_a_retry_cannot_cure_is_not_a_503(redis_prefix):
    """Only an unreachable or slow Redis is 503 ``rate_limits_unavailable``: a command
    Redis refuses (here a window key of the wrong type) raises, for the 500 handler to
    answer and log with its stack trace."""
    import redis

    rates = RateLimits({"reads": Bucket(5, 5)}, storage_for(REDIS_URL, redis_prefix))
    [item] = rates.items["reads"]
    redis.Redis.from_url(REDIS_URL).set(
        f"{redis_prefix}:limits:{item.key_for('org', 'reads')}", "not a list")
    with pytest.raises(redis.ResponseError):
        rates.check("org", ["reads"])


def test_the_awaited_redis_client_belongs_to_the_loop_that_opened_it(redis_prefix):
    """The asyncio client of Redis counters serves the loop that opened it first; other
    loops keep the blocking client, a close there closes nothing, and on the owning loop
    the last of its opens closes it (as for the database's awaited reads)."""
    rates = RateLimits({"reads": Bucket(100, 100)}, storage_for(REDIS_URL, redis_prefix))
    first, second = asyncio.new_event_loop(), asyncio.new_event_loop()

    async def here(step) -> bool:
        await step()
        return rates.awaits_here()

    try:
        assert first.run_until_complete(here(rates.open_awaited))
        assert first.run_until_complete(here(rates.open_awaited))
        assert not second.run_until_complete(here(rates.open_awaited))
        assert not second.run_until_complete(here(rates.close_awaited))
        first.run_until_complete(rates.check_awaited("org", ["reads"]))
        assert first.run_until_complete(here(rates.close_awaited))  # one open is left
        assert not first.run_until_complete(here(rates.close_awaited))
        rates.check("org", ["reads"])  # the blocking client still counts
    finally:
        first.close()
        second.close()


def test_a_start_that_fails_closes_what_it_opened(sqlite_db, redis_prefix, monkeypatch):
    """The app's lifespan closes what it opened, in reverse, when a later step of its
    start fails (here the webhook dispatcher): the awaited Redis client does not stay
    bound to a loop that is gone."""
    import scimd.webhooks

    def broken(*_args, **_kw) -> None:
        raise RuntimeError("the dispatcher could not start")

    monkeypatch.setattr(scimd.webhooks.Dispatcher, "start", broken)
    app = create_app(Settings(database_url=str(sqlite_db.engine.url), rate_limits=True,
                              redis_url=REDIS_URL, redis_prefix=redis_prefix), sqlite_db)
    windows = app.state.services.rates.storage
    with pytest.raises(RuntimeError, match="could not start"), TestClient(app):
        pass
    assert windows.awaited is None and windows.opens == 0


def test_processes_racing_for_the_last_places_count_exactly(redis_prefix):
    """Spec §8 across processes (principle 5): eight limiters with connections of their
    own check at once. Exactly the endpoint's limit pass, and the org-wide window holds
    exactly the requests that passed: no request is counted in one bucket and refused by
    the next."""
    import redis

    buckets = {"writes": Bucket(1000, 1000), "user_create": Bucket(20, 20)}
    limiters = [RateLimits(buckets, storage_for(REDIS_URL, redis_prefix)) for _ in range(8)]
    start = threading.Barrier(len(limiters))
    passed: list[int] = []

    def hammer(rates: RateLimits) -> None:
        start.wait()
        passed.append(sum(_outcome(rates, ["writes", "user_create"]) == "ok"
                          for _ in range(10)))

    threads = [threading.Thread(target=hammer, args=(r,)) for r in limiters]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(passed) == 20
    client = redis.Redis.from_url(REDIS_URL)
    writes = client.keys(f"{redis_prefix}:limits:*/writes/*")
    assert len(writes) == 1 and client.llen(writes[0]) == 20


def test_redis_windows_are_the_ones_limits_keeps(redis_prefix):
    """A process still counting with ``limits``' own Redis storage (during an upgrade)
    shares the budget with one counting by script: the same keys, the same windows."""
    from limits.storage import RedisStorage
    from limits.strategies import MovingWindowRateLimiter

    bucket = Bucket(4, 4)
    [item] = bucket.items()
    old = MovingWindowRateLimiter(RedisStorage(REDIS_URL, key_prefix=f"{redis_prefix}:limits"))
    new = RateLimits({"writes": bucket}, storage_for(REDIS_URL, redis_prefix))
    assert old.hit(item, "org", "writes") and old.hit(item, "org", "writes")
    new.check("org", ["writes"])
    new.check("org", ["writes"])
    assert not old.test(item, "org", "writes")
    with pytest.raises(ScimError):
        new.check("org", ["writes"])


@pytest.fixture(params=["memory", "redis"])
def limited(request, db, database_url):
    redis = {} if request.param == "memory" else {
        "redis_url": REDIS_URL, "redis_prefix": request.getfixturevalue("redis_prefix")}
    settings = Settings(database_url=database_url, rate_limits=True,
                        rate_limit_buckets="writes=3/3,reads=100/100", **redis)
    return create_app(settings, db)


@pytest.mark.parametrize(("dialect", "prefix"), [("slack", "/scim/v1"), ("slack", "/scim/v2"),
                                                  ("rfc", "/scim/v2")])
def test_write_limit_over_http(db, limited, dialect, prefix):
    """Spec §8: over the limit, 429 with Retry-After (whole seconds) and the version's
    error body with too_many_requests; reads have a budget of their own."""
    access = make_tenant(db, dialect)
    auth = {"Authorization": f"Bearer {access.token}"}
    schema = "urn:scim:schemas:core:1.0" if prefix.endswith("v1") else USER
    with TestClient(limited) as http:
        answers = [http.post(f"{prefix}/Users", headers=auth, json={
            "schemas": [schema], "userName": f"rl{i}",
            "emails": [{"value": f"rl{i}@example.com", "primary": True}]}) for i in range(4)]
        assert [a.status_code for a in answers] == [201, 201, 201, 429]
        over = answers[-1]
        assert over.headers["Retry-After"].isdigit()
        body = over.json()
        if prefix.endswith("v1"):
            assert body == {"Errors": {"description": "too_many_requests", "code": 429}}
        elif dialect == "slack":
            assert body["detail"] == "too_many_requests" and body["status"] == 429
        else:
            assert body["status"] == "429"
        assert http.get(f"{prefix}/Users", headers=auth).status_code == 200
        other = make_tenant(db, dialect)
        assert http.post(f"{prefix}/Users", headers={"Authorization": f"Bearer {other.token}"},
                         json={"schemas": [schema], "userName": "elsewhere", "emails": [
                             {"value": "elsewhere@example.com"}]}).status_code == 201


def test_read_limit_over_http(db, limited):
    """Spec §8: reads have their own budget (here 100 a window): over it a GET answers
    429, whether the user exists or not, and writes still pass. Counted in Redis, a
    SQLite read awaits its count between its token and its read."""
    access = make_tenant(db, "rfc")
    auth = {"Authorization": f"Bearer {access.token}"}
    with TestClient(limited) as http:
        made = http.post("/scim/v2/Users", headers=auth, json={
            "schemas": [USER], "userName": "reader"})
        assert made.status_code == 201
        path = f"/scim/v2/Users/{made.json()['id']}"
        answers = [http.get(path, headers=auth).status_code for _ in range(100)]
        assert answers == [200] * 100
        for over in (http.get(path, headers=auth), http.get("/scim/v2/Users/nobody",
                                                            headers=auth),
                     http.get("/scim/v2/Users", headers=auth)):
            assert over.status_code == 429, over.text
            assert over.json()["status"] == "429" and over.headers["Retry-After"].isdigit()
        assert http.patch(path, headers=auth, json={"schemas": [PATCH], "Operations": [
            {"op": "replace", "path": "displayName", "value": "Still Writable"}]}
        ).status_code == 200


def test_discovery_counts_in_the_read_bucket(db, limited):
    """Spec §8: config endpoints fall under the organization's read bucket, in v1 and
    v2; spec §1.4: they need no token, and without a valid one there is no organization
    to count against, so those are never refused."""
    access = make_tenant(db, "slack")
    auth = {"Authorization": f"Bearer {access.token}"}
    with TestClient(limited) as http:
        answers = [http.get(path, headers=auth).status_code
                   for path in ["/scim/v2/ServiceProviderConfig",
                                "/scim/v1/ServiceProviderConfigs"] * 50]
        assert answers == [200] * 100
        for path in ("/scim/v2/Schemas", "/scim/v1/Schemas/Users", "/scim/v2/Users"):
            over = http.get(path, headers=auth)
            assert over.status_code == 429, (path, over.text)
            assert over.headers["Retry-After"].isdigit()
        assert http.get("/scim/v2/ServiceProviderConfig").status_code == 200
        assert http.get("/scim/v2/ResourceTypes", headers={
            "Authorization": "Bearer not-a-token"}).status_code == 200
        other = make_tenant(db, "slack")
        assert http.get("/scim/v2/ResourceTypes", headers={
            "Authorization": f"Bearer {other.token}"}).status_code == 200


def test_discovery_with_a_token_scim_refuses_spends_no_budget(db, limited):
    """Spec §1.2, §11, §8: a Grid workspace's token may not use SCIM, so its discovery
    requests (which need no token) do not count against its organization's reads."""
    from scimd.store import tenants

    org = make_tenant(db, "slack")
    with db.write() as conn:
        workspace = tenants.create_tenant(conn, name="ws", plan="enterprise",
                                          dialect="slack", parent_pk=org.tenant.pk)
        ws_token = tenants.create_token(conn, workspace.pk, label="workspace install")
    with TestClient(limited) as http:
        for _ in range(101):
            assert http.get("/scim/v2/ServiceProviderConfig", headers={
                "Authorization": f"Bearer {ws_token}"}).status_code == 200
        assert http.get("/scim/v2/Users", headers={
            "Authorization": f"Bearer {org.token}"}).status_code == 200


def test_a_sqlite_read_over_the_limit_reads_only_its_token(sqlite_db, redis_prefix):
    """Spec §8 with counters in Redis: a SQLite read awaits its count between its token
    and its read, so a read over the limit costs the server its token's statement and
    nothing more (the statements on the loop's connection, traced). PostgreSQL reads
    count themselves before reading anyway."""
    db = sqlite_db
    settings = Settings(database_url=str(db.engine.url), rate_limits=True,
                        rate_limit_buckets="reads=1/1", redis_url=REDIS_URL,
                        redis_prefix=redis_prefix)
    access = make_tenant(db, "rfc")
    auth = {"Authorization": f"Bearer {access.token}"}
    with TestClient(create_app(settings, db)) as http:
        made = http.post("/scim/v2/Users", headers=auth, json={
            "schemas": [USER], "userName": "traced"})
        path = f"/scim/v2/Users/{made.json()['id']}"
        assert http.get(path, headers=auth).status_code == 200
        statements: list[str] = []
        traced = db.loop_connection.dbapi_connection
        traced.set_trace_callback(statements.append)
        try:
            over = http.get(path, headers=auth)
        finally:
            traced.set_trace_callback(None)
    assert over.status_code == 429, over.text
    assert any("FROM tokens" in s for s in statements), statements
    assert not any("FROM users WHERE" in s for s in statements), statements


@pytest.mark.parametrize("kind", ["memory", "redis"])
def test_locks_refuse_or_wait(kind, request):
    """Spec §9: one write at a time per resource; a refused one is 429 resource_locked with
    Retry-After; a waiting one proceeds once the lock is released; errors release it."""
    if kind == "memory":
        locks = MemoryLocks()
    else:
        locks = RedisLocks(REDIS_URL, request.getfixturevalue("redis_prefix"))
    with locks.hold("t:user:U1", wait=0):
        with pytest.raises(ScimError) as busy, locks.hold("t:user:U1", wait=0):
            pass
        assert busy.value.status == 429 and busy.value.code == "resource_locked"
        assert busy.value.headers["Retry-After"] == "1"
        with locks.hold("t:user:U2", wait=0):  # other resources are free
            pass
    with pytest.raises(RuntimeError), locks.hold("t:user:U1", wait=0):
        raise RuntimeError("the write failed")
    with locks.hold("t:user:U1", wait=0):  # released by the failure
        pass
    release = threading.Event()

    def holder() -> None:
        with locks.hold("t:user:U3", wait=0):
            release.wait(5)

    thread = threading.Thread(target=holder)
    thread.start()
    time.sleep(0.1)
    threading.Timer(0.3, release.set).start()
    started = time.monotonic()
    with locks.hold("t:user:U3", wait=5):
        assert time.monotonic() - started >= 0.2
    thread.join()


def test_locked_resource_over_http(db, app):
    """Spec §9: in the slack dialect a write to a resource being written is 429
    resource_locked at once; in rfc it waits for the lock."""
    locks = app.state.services.locks
    patch = {"schemas": [PATCH], "Operations": [{"op": "replace", "path": "title",
                                                 "value": "Locked"}]}
    with TestClient(app) as http:
        for dialect in ("slack", "rfc"):
            access = make_tenant(db, dialect)
            auth = {"Authorization": f"Bearer {access.token}"}
            uid = http.post("/scim/v2/Users", headers=auth, json={
                "schemas": [USER], "userName": f"lock{dialect}",
                "emails": [{"value": f"lock-{dialect}@example.com"}]}).json()["id"]
            key = f"{access.tenant.pk}:user:{uid}"
            if dialect == "slack":
                with locks.hold(key, wait=0):
                    r = http.patch(f"/scim/v2/Users/{uid}", headers=auth, json=patch)
                assert r.status_code == 429 and r.headers["Retry-After"] == "1"
                assert r.json()["detail"] == "resource_locked"
            else:
                release = threading.Event()

                def holder(k: str = key, done: threading.Event = release) -> None:
                    with locks.hold(k, wait=0):
                        done.wait(5)

                thread = threading.Thread(target=holder)
                thread.start()
                time.sleep(0.05)
                threading.Timer(0.3, release.set).start()
                r = http.patch(f"/scim/v2/Users/{uid}", headers=auth, json=patch)
                thread.join()
                assert r.status_code == 200 and r.json()["title"] == "Locked"
            assert http.patch(f"/scim/v2/Users/{uid}", headers=auth,
                              json=patch).status_code == 200


def test_workers_need_redis(monkeypatch, tmp_path):
    """Issue: memory counters in several workers would multiply the limits."""
    from typer.testing import CliRunner

    from scimd.cli import app as cli

    monkeypatch.setenv("SCIMD_DATABASE_URL", f"sqlite:///{tmp_path / 'w.db'}")
    monkeypatch.delenv("SCIMD_REDIS_URL", raising=False)
    monkeypatch.delenv("SCIMD_RATE_LIMITS", raising=False)
    result = CliRunner().invoke(cli, ["serve", "--workers", "2"])
    assert result.exit_code != 0 and "SCIMD_REDIS_URL" in result.output
