"""Slack's rate limits (spec §8), enforced with the ``limits`` library.

Each bucket is a limit per window and a burst: Slack answers like a token bucket
holding ``burst`` requests and refilling at ``limit`` per window. We model it with
two moving windows from ``limits``: ``limit`` per ``window`` seconds, and
``burst`` per ``burst * window / limit`` seconds (the time the bucket takes to
refill). Counters live in process memory, or in Redis so that every process of
one deployment shares them (:mod:`scimd.limits.redis_windows`: the same windows, all of
a request's in one round trip). Limits are per organization (spec §11): a Grid
workspace counts against its organization.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import redis
from limits import RateLimitItemPerSecond
from limits.storage import MemoryStorage, Storage
from limits.strategies import MovingWindowRateLimiter

from scimd.limits.redis_windows import RedisWindows, Refusal, Window
from scimd.scim.errors import ScimError

log = logging.getLogger("scimd")


@dataclass(frozen=True, slots=True)
class Bucket:
    """``limit`` requests per ``window`` seconds, at most ``burst`` at once."""

    limit: int
    burst: int
    window: float = 60.0

    def items(self) -> list[RateLimitItemPerSecond]:
        out = [RateLimitItemPerSecond(self.limit, max(1, math.ceil(self.window)))]
        if self.burst < self.limit:
            refill = max(1, math.ceil(self.burst * self.window / self.limit))
            out.append(RateLimitItemPerSecond(self.burst, refill))
        return out


# Spec §8: org-wide writes and reads, and the per-endpoint limits on top.
SLACK_BUCKETS: dict[str, Bucket] = {
    "writes": Bucket(600, 180),
    "reads": Bucket(1000, 1000),
    "user_get": Bucket(300, 300),
    "user_create": Bucket(180, 20),
    "user_update": Bucket(180, 20),
    "user_delete": Bucket(180, 20),
    "group_get": Bucket(300, 300),
    "group_create": Bucket(180, 20),
    "group_update": Bucket(180, 80),
    "group_delete": Bucket(180, 20),
}


def buckets_for(method: str, resource: str | None, has_id: bool,
                search: bool = False) -> list[str]:
    """The buckets a request counts against (spec §8): the org-wide read or write bucket,
    and for single-resource endpoints the endpoint's own. A ``POST .search`` is a read."""
    if method in ("GET", "HEAD") or search:
        names = ["reads"]
        if resource and has_id:
            names.append(f"{resource}_get")
        return names
    names = ["writes"]
    if resource:
        if method == "POST" and not has_id:
            names.append(f"{resource}_create")
        elif method in ("PUT", "PATCH") and has_id:
            names.append(f"{resource}_update")
        elif method == "DELETE" and has_id:
            names.append(f"{resource}_delete")
    return names


def parse_overrides(text: str | None, window: float) -> dict[str, Bucket]:
    """``SCIMD_RATE_LIMIT_BUCKETS``: ``writes=600/180,user_create=180/20`` (limit/burst)."""
    buckets = {name: Bucket(b.limit, b.burst, window) for name, b in SLACK_BUCKETS.items()}
    for part in (text or "").split(","):
        if not part.strip():
            continue
        name, _, spec = part.partition("=")
        name = name.strip()
        if name not in buckets:
            raise ValueError(f"unknown rate-limit bucket {name!r}")
        limit, _, burst = spec.partition("/")
        try:
            bucket = Bucket(int(limit), int(burst or limit), window)
        except ValueError:
            raise ValueError(f"rate limit {part!r} is not limit/burst") from None
        if bucket.limit < 1 or bucket.burst < 1:
            raise ValueError(f"rate limit {part!r}: limit and burst must be at least 1")
        buckets[name] = bucket
    return buckets


class RateLimits:
    """Checks requests against their buckets; over the limit is 429 ``too_many_requests``.

    ``storage`` is ``limits``' (process memory) or :class:`RedisWindows`."""

    def __init__(self, buckets: dict[str, Bucket], storage: Storage | RedisWindows,
                 clock: Callable[[], float] = time.time) -> None:
        self.buckets = buckets
        self.storage = storage
        self.limiter = None if isinstance(storage, RedisWindows) \
            else MovingWindowRateLimiter(storage)
        self.clock = clock
        self.items = {name: b.items() for name, b in buckets.items()}
        self.unavailable = 0  # requests answered 503 since Redis last counted one

    @property
    def remote(self) -> bool:
        """Whether a check is a network round trip (Redis), not a look-up in memory."""
        return isinstance(self.storage, RedisWindows)

    def awaits_here(self) -> bool:
        """Whether :meth:`check_awaited` may run on the running loop: counters in Redis,
        whose asyncio client :meth:`open_awaited` opened on this loop."""
        return isinstance(self.storage, RedisWindows) and self.storage.awaits_here()

    async def open_awaited(self) -> None:
        """Open the asyncio client of Redis counters on the running loop (the app's
        lifespan); counters in memory need none."""
        if isinstance(self.storage, RedisWindows):
            await self.storage.open_awaited()

    async def close_awaited(self) -> None:
        if isinstance(self.storage, RedisWindows):
            await self.storage.close_awaited()

    def check(self, scope: str, names: list[str]) -> None:
        """Count one request of ``scope`` (an organization) in each named bucket. In
        Redis a request is counted in all or none of them; in memory the buckets are
        tested first, then counted, which concurrent writes may interleave."""
        windows = self._windows(scope, names)
        if isinstance(self.storage, RedisWindows):
            with self._in_redis():
                refused = self.storage.acquire(windows, self.clock())
            self._answer(windows, refused)
            return
        assert self.limiter is not None
        for step in (self.limiter.test, self.limiter.hit):  # all have room, then count
            for item, _, name in windows:
                if not step(item, scope, name):
                    raise self._over(name, self.limiter.get_window_stats(
                        item, scope, name).reset_time)

    async def check_awaited(self, scope: str, names: list[str]) -> None:
        """:meth:`check` on the event loop, where :meth:`awaits_here`."""
        assert isinstance(self.storage, RedisWindows)
        windows = self._windows(scope, names)
        with self._in_redis():
            refused = await self.storage.acquire_awaited(windows, self.clock())
        self._answer(windows, refused)

    @contextmanager
    def _in_redis(self) -> Iterator[None]:
        """A request whose count Redis could not take (unreachable, loading, or over the
        5 s timeout) is answered 503 with Retry-After, not 500: the server is fine, its
        counters are not. The log says when that starts and when it ends, with how many
        requests it turned away, not once a request. Other Redis errors (a refused
        command, a wrong type) are faults that a retry would not cure: they stay 500s
        with their stack trace."""
        try:
            yield
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            if not self.unavailable:
                log.warning("rate limits: Redis unavailable (%s: %s); requests are answered"
                            " 503 until it is back", type(exc).__name__, exc)
            self.unavailable += 1
            raise ScimError(503, "rate_limits_unavailable",
                            "Rate limits cannot be counted right now; retry shortly.",
                            headers={"Retry-After": "1"}) from None
        if self.unavailable:
            log.warning("rate limits: Redis is back, after %d requests answered 503",
                        self.unavailable)
            self.unavailable = 0

    def _windows(self, scope: str, names: list[str]) -> list[Window]:
        return [(item, scope, name) for name in names for item in self.items[name]]

    def _answer(self, windows: list[Window], refused: Refusal | None) -> None:
        if refused is not None:
            raise self._over(windows[refused.index][2], refused.reset)

    def _over(self, name: str, reset: float) -> ScimError:
        wait = max(1, math.ceil(reset - self.clock()))
        return ScimError(429, "too_many_requests", f"Rate limited ({name}); retry in {wait} s.",
                         headers={"Retry-After": str(wait)})


def storage_for(redis_url: str | None, prefix: str) -> Storage | RedisWindows:
    """Redis counters when configured (shared by every process), else process memory."""
    if redis_url:
        return RedisWindows(redis_url, f"{prefix}:limits")
    return MemoryStorage()
