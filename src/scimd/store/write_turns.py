"""Whose turn it is to write to a SQLite database, across threads and processes.

SQLite lets one connection write at a time. Writers that find the lock taken meet its
busy handler, which sleeps between tries (1 ms at first, then up to 100 ms), so under
steady writes a waiter can lose one try after another: 16 concurrent writers on two
processes had write p99s of 0.7-4 s (bench/README.md). Here writers queue instead:
those of one process on a lock, one of each process on an advisory ``flock(2)`` of a
file beside the database (``<database>-writers``), where the kernel wakes the next one
as soon as the lock is released.

The file lock only orders writers; SQLite's own locking still guards the data. Where
it cannot be had (no ``fcntl``, as on Windows, or a read-only directory) writers of
different processes meet on the busy handler as before.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger("scimd")


def lock_path(database: str) -> str:
    """The file whose lock orders the writers of ``database`` (a SQLite file path)."""
    return f"{database}-writers"


class WriteTurns:
    """Hands out write turns: one at a time per process, and with ``path``, one at a time
    across every process that opens the same database. Re-entrant within a thread."""

    def __init__(self, path: str | None = None) -> None:
        self._lock = threading.RLock()
        self._path = path
        self._depth = 0
        self._fd: int | None = None
        self._pid: int | None = None

    @contextmanager
    def turn(self) -> Iterator[None]:
        """Wait for the turn to write, and hold it for the block."""
        with self._lock:
            self._depth += 1
            fd = self._file() if self._depth == 1 else None
            try:
                if fd is not None:
                    fcntl.flock(fd, fcntl.LOCK_EX)  # releases the GIL while it waits
                try:
                    yield
                finally:
                    if fd is not None:
                        fcntl.flock(fd, fcntl.LOCK_UN)
            finally:
                self._depth -= 1

    def _file(self) -> int | None:
        """This process's descriptor of the lock file: a process forked from another
        opens its own, since a shared descriptor would share the lock."""
        if self._path is None or fcntl is None:
            return None
        if self._pid != os.getpid():
            try:
                self._fd = os.open(self._path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            except OSError as exc:
                log.warning("writers of other processes will meet on SQLite's busy handler:"
                            " cannot open %s (%s)", self._path, exc)
                self._path = None
                return None
            self._pid = os.getpid()
        return self._fd

    def close(self) -> None:
        """Close the lock file (the lock is never held here: turns are over)."""
        if self._fd is not None and self._pid == os.getpid():
            os.close(self._fd)
        self._fd = self._pid = None
