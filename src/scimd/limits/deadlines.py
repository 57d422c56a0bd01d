"""A request's deadline, as its answer, its waits and its writes all see it.

``SCIMD_REQUEST_TIMEOUT`` answers ``503 request_timeout`` to a request that has not
answered in time (docs/operations.md, "Time per request"). The deadline is carried in
the request's context (:data:`CURRENT`, as Go's ``context`` or gRPC carry theirs) and
enforced where a request waits: receiving its body and handing work to a database
thread (:func:`bounded`, :func:`run_in_thread`), or for a PostgreSQL statement or a
rate count in Redis awaited on the event loop. Work that runs on the loop without
waiting (a SQLite read) cannot be interrupted anyway, so it pays for no timer.

A 503 tells the client that nothing happened, so a write must not commit after it;
and once a write has begun to commit, the client must get its real answer, however
late. :class:`Deadline` makes the two exclusive: whichever of :meth:`Deadline.expire`
(on the event loop) and :meth:`Deadline.begin_commit` (where the write runs) comes first
wins, under one lock.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, TypeVar

import anyio
from anyio import to_thread

from scimd.scim.errors import ScimError

T = TypeVar("T")

_RUNNING, _EXPIRED, _COMMITTING = range(3)


class DeadlinePassed(ScimError):
    """The request was answered 503 already: its write is rolled back, and what it was
    waiting for is abandoned."""

    def __init__(self) -> None:
        super().__init__(503, "request_timeout",
                         "The request was answered 503 before it could complete.",
                         headers={"Retry-After": "1"})


class Deadline:
    """One request's deadline: when it falls (``at``, on the event loop's clock), what to
    do then (``on_expiry``: answer 503, unless the answer has started; ``False`` when it
    did nothing), and the race between it and the request's first commit."""

    __slots__ = ("_lock", "_scopes", "_state", "at", "on_expiry")

    def __init__(self, at: float = 0.0,
                 on_expiry: Callable[[Deadline], bool] | None = None) -> None:
        self._lock = threading.Lock()
        self._state = _RUNNING
        self._scopes: list[anyio.CancelScope] = []
        self.at = at
        self.on_expiry = on_expiry

    @property
    def expired(self) -> bool:
        return self._state == _EXPIRED

    def expire(self) -> bool:
        """At the deadline: ``True`` if the request may be answered 503, because nothing of
        it has begun to commit (and now nothing will); ``False`` if it must be let finish."""
        with self._lock:
            if self._state == _RUNNING:
                self._state = _EXPIRED
            return self._state == _EXPIRED

    def begin_commit(self) -> None:
        """Before a commit: raise :class:`DeadlinePassed` if the request was answered 503,
        else make sure it never will be."""
        with self._lock:
            if self._state == _EXPIRED:
                raise DeadlinePassed()
            self._state = _COMMITTING

    @contextmanager
    def armed(self) -> Iterator[None]:
        """Let the deadline cut the wait inside the block short: at ``at``, ``on_expiry``
        runs and, if it answered, the wait is cancelled and :class:`DeadlinePassed`
        raised, so that the handler stops there. A deadline that fell before the block
        (while the request ran without waiting) is decided before the block starts."""
        if self.expired:  # answered 503: nobody waits for what this would bring
            raise DeadlinePassed()
        loop = asyncio.get_running_loop()
        if loop.time() >= self.at:  # fell while nothing was armed: decide before starting
            self._fall()
            if self.expired:
                raise DeadlinePassed()
            yield  # let finish: its answer has started, or its write is committing
            return
        handle = loop.call_at(self.at, self._fall)
        try:
            with anyio.CancelScope() as scope:
                self._scopes.append(scope)
                try:
                    yield
                finally:
                    self._scopes.remove(scope)
        finally:
            handle.cancel()
        if self.expired:  # answered 503 (the wait was cancelled, or ended as it fell)
            raise DeadlinePassed()

    def _fall(self) -> None:
        if self.on_expiry is not None and self.on_expiry(self):
            for scope in self._scopes:
                scope.cancel()


CURRENT: ContextVar[Deadline | None] = ContextVar("scimd_deadline", default=None)
"""The deadline of the request being served; worker threads see it too (anyio copies the
context into them)."""


@contextmanager
def bounded() -> Iterator[None]:
    """A wait of the current request (if it has a deadline) that its deadline may cut
    short: see :meth:`Deadline.armed`."""
    deadline = CURRENT.get()
    if deadline is None or deadline.on_expiry is None:
        yield
        return
    with deadline.armed():
        yield


async def run_in_thread(fn: Callable[..., T], *args: Any,
                        limiter: anyio.CapacityLimiter | None = None,
                        abandon: bool = False) -> T:
    """``fn(*args)`` in a worker thread (under ``limiter``, else anyio's default), as a
    wait the request's deadline bounds. Every thread hop of a request goes through here.

    The deadline cancels a wait for a free thread; a call already running in its thread
    is not interrupted (Python cannot), it finishes under the cap on threads, and its
    write, if any, does not commit. The request waits for it, holding what it holds,
    unless ``abandon``: then the deadline ends the wait at once, and the call finishes
    alone (for work whose result nobody needs after a 503, such as a rate check)."""
    with bounded():
        return await to_thread.run_sync(fn, *args, limiter=limiter,
                                        abandon_on_cancel=abandon)


def check_before_writing() -> None:
    """Refuse to start a write for a request already answered 503 (work nobody will see)."""
    deadline = CURRENT.get()
    if deadline is not None and deadline.expired:
        raise DeadlinePassed()


def begin_commit() -> None:
    """Claim the commit for the current request, if it has a deadline (see :class:`Deadline`)."""
    deadline = CURRENT.get()
    if deadline is not None:
        deadline.begin_commit()
