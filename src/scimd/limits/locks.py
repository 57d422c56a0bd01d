"""One write at a time per user or group (spec §9).

In the ``slack`` dialect a second write to a resource that is being written
gets 429 ``resource_locked`` with ``Retry-After`` at once, as Slack answers; in
the ``rfc`` dialect it waits for the lock, a few seconds at most. Locks live in
process memory, or in Redis (redis-py's ``Lock``, which releases with a token
check and expires on its own if a process dies holding it).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import Protocol

from scimd.scim.errors import ScimError

LOCK_TTL = 30.0
"""Seconds after which a lock left by a dead process expires (Redis)."""


def locked(resource: str, retry_after: int = 1) -> ScimError:
    return ScimError(429, "resource_locked",
                     f"{resource} is being updated by another request; retry shortly.",
                     headers={"Retry-After": str(retry_after)})


class WriteLocks(Protocol):
    def hold(self, key: str, *, wait: float) -> Iterator[None]: ...


class MemoryLocks:
    """Locks shared by the threads of one process."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._locks: dict[str, tuple[threading.Lock, int]] = {}

    @contextmanager
    def hold(self, key: str, *, wait: float) -> Iterator[None]:
        with self._guard:
            lock, users = self._locks.get(key, (threading.Lock(), 0))
            self._locks[key] = (lock, users + 1)
        try:
            acquired = lock.acquire(timeout=wait) if wait > 0 else lock.acquire(blocking=False)
            if not acquired:
                raise locked(key.rsplit(":", 1)[-1])
            try:
                yield
            finally:
                lock.release()
        finally:
            with self._guard:
                lock, users = self._locks[key]
                if users <= 1:
                    del self._locks[key]
                else:
                    self._locks[key] = (lock, users - 1)


class RedisLocks:
    """Locks shared by every process using one Redis."""

    def __init__(self, url: str, prefix: str) -> None:
        import redis

        from scimd.limits.redis_windows import TIMEOUTS

        self.client = redis.Redis.from_url(url, **TIMEOUTS)
        self.errors = redis.exceptions.LockError
        self.prefix = f"{prefix}:lock:"

    @contextmanager
    def hold(self, key: str, *, wait: float) -> Iterator[None]:
        lock = self.client.lock(self.prefix + key, timeout=LOCK_TTL, sleep=0.01,
                                blocking=wait > 0, blocking_timeout=wait or None)
        if not lock.acquire():
            raise locked(key.rsplit(":", 1)[-1])
        try:
            yield
        finally:
            with suppress(self.errors):  # expired under us: nothing is left to release
                lock.release()


def locks_for(redis_url: str | None, prefix: str) -> WriteLocks:
    return RedisLocks(redis_url, prefix) if redis_url else MemoryLocks()
