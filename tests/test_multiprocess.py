"""Many processes, one directory (DESIGN.md principle 5; spec §8, §9).

Two ``scimd serve`` processes on different ports share one PostgreSQL database and
one Redis: uniqueness holds across them, concurrent member changes through both are
all kept (clients retry 429s as Slack's do), and the write limit is one budget for
both, with ``Retry-After`` honoured.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
import uuid
from collections.abc import Iterator

import httpx
import pytest

import live
from conftest import REDIS_URL
from live import LiveServer

pytestmark = pytest.mark.live

USER = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


@contextlib.contextmanager
def two_servers(env: dict[str, str], dialect: str = "slack") -> Iterator[list[LiveServer]]:
    """Two servers on a fresh PostgreSQL database and one Redis key prefix."""
    token = "xoxp-" + secrets.token_urlsafe(24)
    prefix = f"scimd-test-{uuid.uuid4().hex[:12]}"
    env = {"SCIMD_REDIS_URL": REDIS_URL, "SCIMD_REDIS_PREFIX": prefix, **env}
    with live.fresh_postgres_database() as url, \
            LiveServer(url, dialect=dialect, token=token, env=env) as first, \
            LiveServer(url, dialect=dialect, token=token, env=env) as second:
        try:
            yield [first, second]
        finally:
            import redis

            client = redis.Redis.from_url(REDIS_URL)
            for key in client.scan_iter(f"{prefix}:*"):
                client.delete(key)
            client.close()


@pytest.fixture(autouse=True)
def _services(request: pytest.FixtureRequest) -> None:
    if not request.config.postgres_ok:  # type: ignore[attr-defined]
        pytest.skip("PostgreSQL unreachable")
    if not request.config.redis_ok:  # type: ignore[attr-defined]
        pytest.skip("Redis unreachable")


async def _send(client: httpx.AsyncClient, method: str, url: str, body: dict,
                *, retries: int = 60) -> httpx.Response:
    """Send, honouring 429 Retry-After as Slack's SDKs do."""
    for _ in range(retries):
        r = await client.request(method, url, json=body)
        if r.status_code != 429:
            return r
        await asyncio.sleep(min(float(r.headers.get("Retry-After", "1")), 2.0) * 0.2)
    return r


def test_uniqueness_across_processes():
    """(a) 40 concurrent creates of one userName over both processes: exactly one 201."""
    with two_servers({"SCIMD_RATE_LIMITS": "off"}) as servers:
        async def run() -> list[httpx.Response]:
            async with httpx.AsyncClient(headers=servers[0].auth_headers, timeout=30) as c:
                body = {"schemas": [USER], "userName": "only.once",
                        "emails": [{"value": "only.once@example.com", "primary": True}]}
                return await asyncio.gather(*[
                    c.post(f"{servers[i % 2].scim_url}/Users", json=body) for i in range(40)])

        answers = asyncio.run(run())
        codes = sorted(r.status_code for r in answers)
        assert codes.count(201) == 1 and codes.count(409) == 39, codes
        found = httpx.get(f"{servers[1].scim_url}/Users", headers=servers[1].auth_headers,
                          params={"filter": 'userName eq "only.once"'}).json()
        assert found["totalResults"] == 1


def test_member_adds_across_processes_keep_every_member():
    """(b) 200 concurrent PATCHes adding distinct members through both processes: the
    group ends with all 200 (locks refuse with 429 resource_locked; clients retry)."""
    with two_servers({"SCIMD_RATE_LIMITS": "off"}) as servers:
        async def run() -> tuple[str, list[str], list[httpx.Response]]:
            async with httpx.AsyncClient(headers=servers[0].auth_headers, timeout=60) as c:
                users = await asyncio.gather(*[c.post(f"{servers[i % 2].scim_url}/Users", json={
                    "schemas": [USER], "userName": f"member{i}",
                    "emails": [{"value": f"member{i}@example.com"}]}) for i in range(200)])
                ids = [u.json()["id"] for u in users]
                group = await c.post(f"{servers[0].scim_url}/Groups", json={
                    "schemas": [GROUP], "displayName": "everyone-200"})
                gid = group.json()["id"]
                answers = await asyncio.gather(*[
                    _send(c, "PATCH", f"{servers[i % 2].scim_url}/Groups/{gid}", {
                        "schemas": [PATCH_OP], "Operations": [
                            {"op": "add", "path": "members", "value": [{"value": uid}]}]})
                    for i, uid in enumerate(ids)])
                return gid, ids, answers

        gid, ids, answers = asyncio.run(run())
        assert all(r.status_code == 200 for r in answers), {r.status_code for r in answers}
        group = httpx.get(f"{servers[1].scim_url}/Groups/{gid}",
                          headers=servers[1].auth_headers).json()
        assert sorted(m["value"] for m in group["members"]) == sorted(ids)


def test_write_limit_is_one_budget_for_both_processes():
    """(c) spec §8: the write limit counts the writes of both processes together; over it,
    429 with Retry-After, and after waiting that long writes pass again."""
    env = {"SCIMD_RATE_LIMITS": "on", "SCIMD_RATE_LIMIT_WINDOW": "3",
           "SCIMD_RATE_LIMIT_BUCKETS": "writes=10/10,user_create=100/100"}
    with two_servers(env) as servers:
        answers = []
        with httpx.Client(headers=servers[0].auth_headers, timeout=30) as c:
            for i in range(14):
                answers.append(c.post(f"{servers[i % 2].scim_url}/Users", json={
                    "schemas": [USER], "userName": f"limited{i}",
                    "emails": [{"value": f"limited{i}@example.com"}]}))
            codes = [r.status_code for r in answers]
            assert codes.count(201) == 10 and codes.count(429) == 4, codes
            over = next(r for r in answers if r.status_code == 429)
            wait = int(over.headers["Retry-After"])
            assert 1 <= wait <= 3
            assert over.json()["detail"] == "too_many_requests"
            time.sleep(wait + 0.5)
            again = c.post(f"{servers[1].scim_url}/Users", json={
                "schemas": [USER], "userName": "after.wait",
                "emails": [{"value": "after.wait@example.com"}]})
            assert again.status_code == 201
