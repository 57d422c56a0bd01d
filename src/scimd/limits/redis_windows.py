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

from collections.abc import Sequence
from dataclasses import dataclass

import redis
from limits import RateLimitItem

# KEYS: one list per window. ARGV[1]: now (seconds); then per window its limit and
# expiry. A window is full when its limit-th newest entry is younger than its expiry;
# then nothing is counted and the script answers that window's number (from 1) and
# that entry, from which its place frees up. Otherwise `now` is pushed onto every
# window and the script answers 0.
ACQUIRE = """
local now = tonumber(ARGV[1])
for i, key in ipairs(KEYS) do
    local limit, expiry = tonumber(ARGV[2 * i]), tonumber(ARGV[2 * i + 1])
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
    keeps them (``key_prefix``)."""

    def __init__(self, url: str, prefix: str) -> None:
        self.client = redis.Redis.from_url(url)  # redis-py's timeouts: 5 s
        self.prefix = prefix
        self.script = self.client.register_script(ACQUIRE)

    def acquire(self, windows: Sequence[tuple[RateLimitItem, str, str]],
                now: float) -> Refusal | None:
        """Count one request in every window of ``windows`` (the item, the scope, the
        bucket's name), or in none of them: the :class:`Refusal` of the first full one."""
        keys = [f"{self.prefix}:{item.key_for(scope, name)}" for item, scope, name in windows]
        args: list[float | int] = [now]
        for item, _, _ in windows:
            args += [item.amount, item.get_expiry()]
        answer = self.script(keys=keys, args=args)
        if not answer:
            return None
        index, entry = answer
        item = windows[index - 1][0]
        return Refusal(index - 1, float(entry) + item.get_expiry())
