"""A request's moving windows in Redis, checked and counted in one round trip.

The windows are the ones ``limits``' Redis storage keeps (the same keys, one list of
timestamps per window, newest first, trimmed to the window's limit), so processes of
either kind share one budget. ``limits`` checks one window per call: a request counts in
two to four windows (spec §8), each tested and then hit, four to eight round trips, and
another process can take the last place between a test and its hit. Here one script
tests every window of the request and counts it in all of them only if all have room,
atomically (Redis runs a script alone). docs/decisions.md says why this is ours.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import redis
import redis.asyncio
from limits import RateLimitItem
from redis.commands.core import AsyncScript

TIMEOUTS = {"socket_timeout": 5.0, "socket_connect_timeout": 5.0}
"""Seconds a call to Redis may take: redis-py 8's defaults, set here for older ones
(which wait for ever)."""

Window = tuple[RateLimitItem, str, str]
"""A moving window of one request: the item (limit and expiry), the scope (an
organization) and the bucket's name."""

# KEYS: one list per window. ARGV[1]: now (seconds); then per window its limit and
# expiry. A window is full when its limit-th newest entry is younger than its expiry
# (a limit under 1 is always full, as in ``limits``);
# then nothing is counted and the script answers that window's number (from 1) and
# that entry, from which its place frees up. Otherwise `now` is pushed onto every
# window and the script answers 0.
ACQUIRE = """
local now = tonumber(ARGV[1])
for i, key in ipairs(KEYS) do
    local limit, expiry = tonumber(ARGV[2 * i]), tonumber(ARGV[2 * i + 1])
    if limit < 1 then
        return {i, ARGV[1]}
    end
    local entry = redis.call('lindex', key, limit - 1)
    if entry and tonumber(entry) >= now - expiry then
        return {i, entry}
    end
end
for i, key in ipairs(KEYS) do
    redis.call('lpush', key, ARGV[1])
    redis.call('ltrim', key, 0, tonumber(ARGV[2 * i]) - 1)
    redis.call('expire', key, tonumber(ARGV[2 * i + 1]))
end
return 0
"""


@dataclass(frozen=True, slots=True)
class Refusal:
    """The first full window of a request: its position in the request's list, and when
    (seconds since the epoch) a place in it frees up."""

    index: int
    reset: float


class RedisWindows:
    """Moving windows kept in Redis, under ``prefix`` as ``limits.storage.RedisStorage``
    keeps them (``key_prefix``). Counted with a blocking client, or awaited on the event
    loop that :meth:`open_awaited` ran on (the server's, while its lifespan runs)."""

    def __init__(self, url: str, prefix: str) -> None:
        self.url = url
        self.client = redis.Redis.from_url(url, **TIMEOUTS)
        self.prefix = prefix
        self.script = self.client.register_script(ACQUIRE)
        self.awaited: tuple[asyncio.AbstractEventLoop, redis.asyncio.Redis, AsyncScript] \
            | None = None
        self.opens = 0

    def acquire(self, windows: Sequence[Window], now: float) -> Refusal | None:
        """Count one request in every window of ``windows`` (the item, the scope, the
        bucket's name), or in none of them: the :class:`Refusal` of the first full one."""
        return self._refusal(windows, self.script(*self._call(windows, now)))

    async def open_awaited(self) -> None:
        """A client of the running loop, for :meth:`acquire_awaited`. The first loop to
        open one keeps it (as ``Database.open_awaited_reads``): opens on other loops
        leave them to the blocking client, and each open on its own loop is counted."""
        loop = asyncio.get_running_loop()
        if self.awaited is None:
            client = redis.asyncio.Redis.from_url(self.url, **TIMEOUTS)
            self.awaited = loop, client, client.register_script(ACQUIRE)
            self.opens = 0
        if self.awaited[0] is loop:
            self.opens += 1

    async def close_awaited(self) -> None:
        """Undo one :meth:`open_awaited` of the running loop: the last closes the client."""
        if self.awaited is None or self.awaited[0] is not asyncio.get_running_loop():
            return
        self.opens -= 1
        if self.opens == 0:
            client, self.awaited = self.awaited[1], None
            await client.aclose()

    def awaits_here(self) -> bool:
        """Whether :meth:`acquire_awaited` may run on the running loop."""
        try:
            return self.awaited is not None and self.awaited[0] is asyncio.get_running_loop()
        except RuntimeError:  # no loop runs in this thread
            return False

    async def acquire_awaited(self, windows: Sequence[Window], now: float) -> Refusal | None:
        """:meth:`acquire`, awaited: a Redis that hangs holds only this request."""
        assert self.awaited is not None
        keys, args = self._call(windows, now)
        return self._refusal(windows, await self.awaited[2](keys=keys, args=args))

    def _call(self, windows: Sequence[Window], now: float) -> tuple[list[str], list]:
        keys = [f"{self.prefix}:{item.key_for(scope, name)}" for item, scope, name in windows]
        args: list[float | int] = [now]
        for item, _, _ in windows:
            args += [item.amount, item.get_expiry()]
        return keys, args

    @staticmethod
    def _refusal(windows: Sequence[Window], answer: Any) -> Refusal | None:
        if not answer:
            return None
        index, entry = answer
        return Refusal(index - 1, float(entry) + windows[index - 1][0].get_expiry())
