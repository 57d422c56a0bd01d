"""A request's deadline, as its answer and its writes both see it.

``SCIMD_REQUEST_TIMEOUT`` answers ``503 request_timeout`` to a request that has not
answered in time (docs/operations.md). A 503 tells the client that nothing happened, so
a write must not commit after it; and once a write has begun to commit, the client must
get its real answer, however late. :class:`Deadline` makes the two exclusive: whichever
of :meth:`Deadline.expire` (the middleware, on the event loop) and
:meth:`Deadline.begin_commit` (a database thread) comes first wins, under one lock.
"""

from __future__ import annotations

import threading
from contextvars import ContextVar

from scimd.scim.errors import ScimError

_RUNNING, _EXPIRED, _COMMITTING = range(3)


class DeadlinePassed(ScimError):
    """A write reached its commit after its request was answered 503: it is rolled back."""

    def __init__(self) -> None:
        super().__init__(503, "request_timeout",
                         "The request was answered 503 before it could commit.",
                         headers={"Retry-After": "1"})


class Deadline:
    """One request's race between its deadline and its first commit."""

    __slots__ = ("_lock", "_state")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._state = _RUNNING

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


CURRENT: ContextVar[Deadline | None] = ContextVar("scimd_deadline", default=None)
"""The deadline of the request being served; worker threads see it too (anyio copies the
context into them)."""


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
