"""Concurrent writes against a real server, on SQLite and PostgreSQL.

RFC 7644 §3.3: a POST whose ``userName`` is taken MUST answer 409 with
``scimType: uniqueness``, so racing creations of one userName yield one user.
RFC 7644 §3.5.2: each PATCH applies all its operations atomically; concurrent
PATCHes of different attributes or different members must not lose each other's
changes. A 429 is honoured the way real clients do: wait for ``Retry-After``.
"""

from __future__ import annotations

import asyncio
import email.utils
import secrets
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

import live
from live import LiveServer

pytestmark = pytest.mark.live

# the module-scoped server fixtures of tests/live.py, one server per backend
live_database_url = live.live_database_url
live_server = live.live_server

N = 20
USER = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
MAX_RETRIES = 20
MAX_WAIT = 5.0


def _retry_after(response: httpx.Response) -> float:
    value = response.headers.get("Retry-After", "1").strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            seconds = email.utils.parsedate_to_datetime(value).timestamp() - time.time()
        except (TypeError, ValueError):
            seconds = 1.0
    return min(max(seconds, 0.05), MAX_WAIT)


def _unique(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(4)}"


def _summary(responses: list[httpx.Response]) -> str:
    return "\n".join(f"  {r.request.method} {r.request.url.path} -> {r.status_code} "
                     f"{r.text[:300]}" for r in responses)


def run_parallel(server: LiveServer, count: int,
                 make_request: Callable[[int], tuple[str, str, Any]],
                 *, retry_429: bool = False) -> list[httpx.Response]:
    """Send ``count`` requests at once (``make_request(i)`` → method, path, JSON body)."""

    async def main() -> list[httpx.Response]:
        limits = httpx.Limits(max_connections=count, max_keepalive_connections=count)
        async with httpx.AsyncClient(base_url=server.scim_url, headers=server.auth_headers,
                                     limits=limits, timeout=30) as client:
            start = asyncio.Event()

            async def one(i: int) -> httpx.Response:
                method, path, body = make_request(i)
                await start.wait()
                for _ in range(MAX_RETRIES):
                    r = await client.request(method, path, json=body)
                    if not (retry_429 and r.status_code == 429):
                        return r
                    await asyncio.sleep(_retry_after(r))
                return r

            tasks = [asyncio.create_task(one(i)) for i in range(count)]
            await asyncio.sleep(0)
            start.set()
            return list(await asyncio.gather(*tasks))

    return asyncio.run(main())


@pytest.fixture
def http(live_server: LiveServer):
    with httpx.Client(base_url=live_server.scim_url, headers=live_server.auth_headers,
                      timeout=30) as client:
        yield client


def _create_user(http: httpx.Client, user_name: str) -> dict:
    r = http.post("/Users", json={"schemas": [USER], "userName": user_name})
    assert r.status_code == 201, r.text
    return r.json()


def test_parallel_creates_of_one_username_make_one_user(live_server: LiveServer,
                                                       http: httpx.Client) -> None:
    """RFC 7644 §3.3: exactly one 201, every other answer 409 ``uniqueness``, no 5xx."""
    user_name = _unique("race")
    responses = run_parallel(live_server, N, lambda i: (
        "POST", "/Users", {"schemas": [USER], "userName": user_name,
                           "externalId": f"ext-{i}"}))

    codes = sorted(r.status_code for r in responses)
    created = [r for r in responses if r.status_code == 201]
    conflicts = [r for r in responses if r.status_code == 409]
    assert len(created) == 1 and len(conflicts) == N - 1, (
        f"expected one 201 and {N - 1} 409, got {codes}:\n{_summary(responses)}")
    bad_conflicts = [r for r in conflicts if r.json().get("scimType") != "uniqueness"]
    assert not bad_conflicts, f"409 without scimType uniqueness:\n{_summary(bad_conflicts)}"

    r = http.get("/Users", params={"filter": f'userName eq "{user_name}"'})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["totalResults"] == 1, body
    assert [u["id"] for u in body.get("Resources", [])] == [created[0].json()["id"]]


def test_parallel_member_adds_are_all_kept(live_server: LiveServer,
                                           http: httpx.Client) -> None:
    """RFC 7644 §3.5.2.1: 20 concurrent ``add members`` PATCHes → 20 members."""
    users = [_create_user(http, _unique(f"member{i}")) for i in range(N)]
    r = http.post("/Groups", json={"schemas": [GROUP], "displayName": _unique("race-group")})
    assert r.status_code == 201, r.text
    group_id = r.json()["id"]

    responses = run_parallel(live_server, N, lambda i: (
        "PATCH", f"/Groups/{group_id}",
        {"schemas": [PATCH_OP],
         "Operations": [{"op": "add", "path": "members",
                         "value": [{"value": users[i]["id"]}]}]}), retry_429=True)
    failed = [r for r in responses if not 200 <= r.status_code < 300]
    assert not failed, f"{len(failed)} of {N} PATCHes failed:\n{_summary(failed)}"

    r = http.get(f"/Groups/{group_id}")
    assert r.status_code == 200, r.text
    members = sorted(m["value"] for m in r.json().get("members", []))
    expected = sorted(u["id"] for u in users)
    missing = sorted(set(expected) - set(members))
    assert members == expected, (f"group has {len(members)} members, expected {N}; "
                                 f"lost: {missing}")


def _attribute_changes(tag: str) -> list[tuple[dict, Callable[[dict], Any], Any]]:
    """``N`` PATCH operations on distinct attributes, each with how to read it back."""

    def top(name: str) -> Callable[[dict], Any]:
        return lambda user: user.get(name)

    def sub(parent: str, name: str) -> Callable[[dict], Any]:
        return lambda user: (user.get(parent) or {}).get(name)

    changes: list[tuple[dict, Callable[[dict], Any], Any]] = []
    for name, value in [("title", f"title-{tag}"), ("nickName", f"nick-{tag}"),
                        ("displayName", f"Display {tag}"), ("userType", f"type-{tag}"),
                        ("profileUrl", f"https://example.com/{tag}"),
                        ("preferredLanguage", "en"), ("locale", "en-US"),
                        ("timezone", "Europe/Paris")]:
        changes.append(({"op": "replace", "path": name, "value": value}, top(name), value))
    for name in ("givenName", "familyName"):
        value = f"{name}-{tag}"
        changes.append(({"op": "replace", "path": f"name.{name}", "value": value},
                        sub("name", name), value))
    for name in ("employeeNumber", "costCenter", "organization", "division", "department"):
        value = f"{name}-{tag}"
        changes.append(({"op": "add", "path": f"{ENTERPRISE}:{name}", "value": value},
                        sub(ENTERPRISE, name), value))
    for i in range(N - len(changes)):
        address = f"extra{i}.{tag}@example.com"
        changes.append(({"op": "add", "path": "emails",
                         "value": [{"value": address, "type": "other"}]},
                        lambda user, a=address: a if any(
                            e.get("value") == a for e in user.get("emails", [])) else None,
                        address))
    assert len(changes) == N
    return changes


def test_parallel_patches_of_distinct_attributes_lose_nothing(
        live_server: LiveServer, http: httpx.Client) -> None:
    """RFC 7644 §3.5.2: 20 concurrent PATCHes of different attributes → all applied."""
    user = _create_user(http, _unique("patched"))
    tag = secrets.token_hex(3)
    changes = _attribute_changes(tag)

    responses = run_parallel(live_server, N, lambda i: (
        "PATCH", f"/Users/{user['id']}",
        {"schemas": [PATCH_OP], "Operations": [changes[i][0]]}), retry_429=True)
    failed = [r for r in responses if not 200 <= r.status_code < 300]
    assert not failed, f"{len(failed)} of {N} PATCHes failed:\n{_summary(failed)}"

    r = http.get(f"/Users/{user['id']}")
    assert r.status_code == 200, r.text
    final = r.json()
    lost = [op for op, read, expected in changes if read(final) != expected]
    assert not lost, (f"{len(lost)} of {N} concurrent changes were lost: {lost}\n"
                      f"final user: {final}")
