"""Whose turn it is to write to a SQLite database, across threads and processes.

SQLite lets one connection write at a time. Writers that find the lock taken meet its
busy handler, which sleeps between tries (1 ms at first, then up to 100 ms), so under
steady writes a waiter can lose one try after another: 16 concurrent writers on two
processes had write p99s of 0.6-2.2 s (bench/README.md, section 6b). Here writers
queue instead: those of one process on a lock, one of each process on an advisory
``flock(2)`` of a file beside the database (``<database>-writers``), where the kernel
wakes the next one as soon as the lock is released.

The file lock only orders writers; SQLite's own locking still guards the data. Where
it cannot be had (no ``fcntl``, as on Windows; a file that cannot be opened; a file
system without ``flock``) writers of different processes meet on the busy handler as
before, and a warning says so once.
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

from scimd.store.forks import reset_in_child

log = logging.getLogger("scimd")


def lock_path(database: str) -> str:
    """The file whose lock orders the writers of ``database`` (a SQLite file path)."""
    return f"{database}-writers"


class WriteTurns:
    """Hands out write turns: one at a time per process, and with ``database`` (a SQLite
    file), one at a time across every process that opens it. Re-entrant within a thread."""

    def __init__(self, database: str | None = None) -> None:
        self._database = database
        self._path = lock_path(database) if database and fcntl is not None else None
        self._fd: int | None = None
        self._reset()
        reset_in_child(self, "_after_fork")

    def _reset(self) -> None:
        self._lock = threading.RLock()
        self._depth = 0

    @contextmanager
    def turn(self) -> Iterator[None]:
        """Wait for the turn to write, and hold it for the block."""
        with self._lock:
            self._depth += 1
            locked = False
            try:
                locked = self._depth == 1 and self._lock_file()
                yield
            finally:
                self._depth -= 1
                if locked:
                    self._unlock_file()

    def _lock_file(self) -> bool:
        """Take the file lock, waiting for it (the GIL is released meanwhile)."""
        fd = self._file()
        if fd is None:
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
        except OSError as exc:  # e.g. ENOLCK on NFS without a lock daemon
            self._give_up(f"cannot lock {self._path} ({exc})")
            return False
        return True

    def _unlock_file(self) -> None:
        try:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
        except OSError as exc:  # closing the file releases the lock in any case
            self._give_up(f"cannot unlock {self._path} ({exc})")

    def _file(self) -> int | None:
        """The descriptor of the lock file, opened on first use. It takes the database's
        permissions, so that whoever may write the database may take turns; where only
        reading is allowed, a read-only descriptor locks as well."""
        if self._fd is None and self._path is not None:
            try:
                mode = os.stat(self._database).st_mode & 0o666
            except OSError:
                mode = 0o600
            try:
                try:
                    self._fd = os.open(self._path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, mode)
                except PermissionError:
                    self._fd = os.open(self._path, os.O_RDONLY | os.O_CLOEXEC)
            except OSError as exc:
                self._give_up(f"cannot open {self._path} ({exc})")
        return self._fd

    def _give_up(self, why: str) -> None:
        log.warning("SQLite writers of other processes will meet on SQLite's busy handler:"
                    " %s", why)
        self.close()
        self._path = None

    def close(self) -> None:
        """Close the lock file (which releases the lock, if this process holds it)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def _after_fork(self) -> None:
        """In a forked child: its own lock, no turn held, and a descriptor of its own
        (the inherited one shares the parent's lock, so it is closed, which leaves the
        parent's lock alone: a flock ends when the last descriptor of it is closed)."""
        self._reset()
        self.close()


