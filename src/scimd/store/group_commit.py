"""Group commit: the SQLite writes of many requests in one transaction and one ``fsync``.

SQLite lets one connection write at a time, and with ``synchronous=FULL`` each commit
waits for the disk (0.2-0.5 ms here). Writes that each took a thread, the write turn and
a commit of their own spent more on handing the turn and the GIL from thread to thread
and on those waits than on writing (bench/README.md, section 13).

So each database file has one writer thread. A request hands its write to it as a job
(:meth:`GroupCommit.run`); the thread takes the write turn, begins one transaction,
runs every job that is waiting (at most ``max_jobs``), each write of a job in a
savepoint of its own (:meth:`Database.write`), commits once, and answers them all. A job
sees what the jobs before it wrote, exactly as if each had committed in turn; a job that
fails rolls back its savepoint and no more. Nothing is answered before the commit, so
an answered write is on disk, as before.

What must not hold the others up runs alone, in a worker thread and a transaction of
its own, as every write did before: a job that raises :class:`RunAlone`, which the
directory does before hashing a password (scrypt, tens of milliseconds) and the API
before waiting for a resource lock that another writer holds (whose holder may be
waiting for the write turn the batch holds). When the batch itself fails (SQLite rolled
the transaction back after an error, or the commit failed), every job of it but the
one that failed runs again alone, so that one request's failure never becomes
another's.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import queue
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import anyio
from sqlalchemy import Connection

from scimd.limits.deadlines import bounded, check_before_writing, run_in_thread
from scimd.store.forks import reset_in_child

if TYPE_CHECKING:
    from scimd.store.db import Database

log = logging.getLogger("scimd")

MAX_JOBS = 32
"""Jobs in one transaction at most: a bound on how long the first of them waits."""

IDLE = 1.0
"""Seconds the writer thread waits for work before it ends (the next job starts it)."""


class RunAlone(Exception):
    """Raised by a job that must not run inside a batch (see the module docstring). It is
    rolled back to where it began and run again, alone, once the batch has committed."""


@dataclass(slots=True, eq=False)
class _Job:
    fn: Callable[[], Any]
    context: contextvars.Context
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future
    ok: bool = False
    value: Any = None
    answered: bool = False
    after: list[Callable[[], None]] = field(default_factory=list)
    """What the job does once its writes are committed (:meth:`GroupCommit.after_commit`)."""

    def run(self) -> None:
        self.after.clear()
        try:
            self.value, self.ok = self.context.run(self.fn), True
        except Exception as exc:
            self.value, self.ok = exc, False


class GroupCommit:
    """The writer thread of one SQLite database and the batch it is running."""

    def __init__(self, db: Database, *, max_jobs: int = MAX_JOBS, idle: float = IDLE) -> None:
        self._db = db
        self.max_jobs = max_jobs
        self.idle = idle
        self._reset()
        self._local = threading.local()
        self.batches = 0
        """Transactions committed (for tests and ``bench/``)."""
        self.alone = 0
        """Jobs run again alone (for tests)."""
        reset_in_child(self, "_reset")

    def _reset(self) -> None:
        """No jobs and no thread: at start, and in a forked child, which has neither."""
        self._jobs: queue.SimpleQueue[_Job] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._running = False

    async def run(self, fn: Callable[[], Any], *,
                  limiter: anyio.CapacityLimiter | None = None) -> Any:
        """``fn()`` in the writer thread, in the next batch; its answer once the batch has
        committed. The request's deadline bounds the wait: a job still queued when the
        request is answered 503 never runs, and one that runs then does not commit
        (:mod:`scimd.limits.deadlines`), unless it had begun to. A job that must run alone
        (:class:`RunAlone`) runs again in a worker thread of its own, under ``limiter``."""
        check_before_writing()  # a deadline that fell already: queue nothing
        loop = asyncio.get_running_loop()
        job = _Job(fn, contextvars.copy_context(), loop, loop.create_future())
        with self._lock:
            self._jobs.put(job)
            if not self._running:
                self._running = True
                threading.Thread(target=self._work, name="scimd-writer", daemon=True).start()
        try:
            with bounded():
                return await job.future
        except RunAlone:
            self.alone += 1
            return await run_in_thread(fn, limiter=limiter)
        finally:
            job.future.cancel()  # answered: the writer skips a job it has not run yet

    # -- the batch, as the code inside a job sees it -----------------------------------

    def connection(self) -> Connection | None:
        """The batch's connection, in a job running in it; else ``None``."""
        return getattr(self._local, "conn", None)

    def after_commit(self, action: Callable[[], None]) -> None:
        """Do ``action`` once the job's writes are committed: at once outside a batch; in
        a batch, after its commit (and never, if the batch is dropped: the job's run
        alone does it again)."""
        job = getattr(self._local, "job", None)
        if job is None:
            action()
        else:
            job.after.append(action)

    @contextmanager
    def savepoint(self, *, dry_run: bool) -> Iterator[Connection]:
        """One write of a job (:meth:`Database.write`): kept in the batch when the block
        exits cleanly, rolled back when it raises or is a dry run."""
        conn = self._local.conn
        dbapi = conn.connection.dbapi_connection
        if not dbapi.in_transaction:  # SQLite ended the batch's transaction under the job
            raise RuntimeError("the group commit's transaction has ended")
        self._local.depth += 1
        name = f"scimd_write_{self._local.depth}"
        dbapi.execute(f"SAVEPOINT {name}")
        try:
            yield conn
            if not dry_run:
                dbapi.execute(f"RELEASE {name}")
                return
        except BaseException:
            self._undo(dbapi, name)
            raise
        finally:
            self._local.depth -= 1
        self._undo(dbapi, name)  # a dry run

    def _undo(self, dbapi: Any, name: str) -> None:
        """Roll savepoint ``name`` back; if that fails, the batch cannot be trusted."""
        if not dbapi.in_transaction:
            return  # the batch's transaction ended: the writer sees it
        try:
            dbapi.execute(f"ROLLBACK TO {name}")
            dbapi.execute(f"RELEASE {name}")
        except Exception:
            self._local.broken = True
            raise

    # -- the writer thread ----------------------------------------------------------------

    def _work(self) -> None:
        try:
            while True:
                try:
                    first = self._jobs.get(timeout=self.idle)
                except queue.Empty:
                    with self._lock:
                        if self._jobs.empty():
                            self._running = False
                            return
                    continue
                jobs = [first]
                try:
                    self._serve(jobs)
                except BaseException:  # never leave a request waiting for ever
                    log.exception("the SQLite writer failed")
                    left = [job for job in jobs if not job.answered]
                    for job in left:
                        job.ok, job.value = False, RuntimeError("the SQLite writer failed")
                    _answer(left)
        finally:
            with self._lock:
                self._running = False  # the next job starts another writer

    def _serve(self, jobs: list[_Job]) -> None:
        """One batch: ``jobs`` holds its first job, and gets those that join it."""
        committed = self.batches
        try:
            again = self._batch(jobs)
        except Exception as exc:
            if self.batches == committed:  # no turn, no connection, BEGIN failed: nothing kept
                for job in jobs:
                    job.ok, job.value = False, exc
            else:  # after the commit (releasing the turn): the answers stand
                log.exception("the SQLite writer failed after a commit")
        else:
            for job in again:
                job.ok, job.value = False, RunAlone()
        if self.batches != committed:
            for job in jobs:
                for action in job.after:
                    try:
                        action()
                    except Exception:
                        log.exception("an action after a group commit failed")
        _answer(jobs)

    def _batch(self, jobs: list[_Job]) -> list[_Job]:
        """Run ``jobs`` and those waiting once the turn is ours in one transaction;
        answers those to run again alone because the transaction failed under them.

        Each job runs in a savepoint of its own, released whether it succeeds or fails
        (its writes roll back their own savepoints), and rolled back when it asks to run
        alone, so that nothing of it stays behind to be written twice."""
        with self._db.turns.turn(), self._db.engine.connect() as conn:
            conn.execution_options(scimd_write=True)
            conn.begin()
            while len(jobs) < self.max_jobs:  # whatever queued while the turn was taken
                try:
                    jobs.append(self._jobs.get_nowait())
                except queue.Empty:
                    break
            dbapi = conn.connection.dbapi_connection
            self._local.conn, self._local.depth, self._local.broken = conn, 0, False
            try:
                for job in jobs:
                    if job.future.cancelled():  # answered 503 while it waited: skip it
                        continue
                    self._local.job = job
                    try:
                        dbapi.execute("SAVEPOINT scimd_job")
                    except Exception:  # the connection cannot go on: nothing is kept
                        log.exception("a group commit could not go on; its writes run "
                                      "again one by one")
                        conn.invalidate()
                        return list(jobs)
                    job.run()
                    if not self._end_job(dbapi, job):
                        # SQLite ended the transaction, or a savepoint would not roll
                        # back: drop the batch; the job keeps its error, if it has one
                        log.warning("a write broke its group commit; the other writes of "
                                    "it run again one by one")
                        conn.invalidate()
                        return [j for j in jobs if j is not job or j.ok]
                try:
                    conn.commit()
                except Exception:
                    log.exception("a group commit failed; its writes run again one by one")
                    conn.invalidate()
                    return list(jobs)
                self.batches += 1
                return []
            finally:
                self._local.conn = self._local.job = None


    def _end_job(self, dbapi: Any, job: _Job) -> bool:
        """Keep what the job wrote, or drop all of it if it asked to run alone; ``False``
        when the batch's transaction cannot go on."""
        if self._local.broken or not dbapi.in_transaction:
            return False
        try:
            if not job.ok and isinstance(job.value, RunAlone):
                dbapi.execute("ROLLBACK TO scimd_job")
                job.after.clear()  # what it meant to do after its writes goes with them
            dbapi.execute("RELEASE scimd_job")
        except Exception:
            log.exception("a job's savepoint could not be ended")
            return False
        return True




def _answer(jobs: list[_Job]) -> None:
    """Hand each job's outcome to its request, one call per event loop."""
    by_loop: dict[asyncio.AbstractEventLoop, list[_Job]] = {}
    for job in jobs:
        job.answered = True
        by_loop.setdefault(job.loop, []).append(job)
    for loop, some in by_loop.items():
        with contextlib.suppress(RuntimeError):  # a closed loop: nobody is waiting
            loop.call_soon_threadsafe(_settle, some)


def _settle(jobs: list[_Job]) -> None:
    for job in jobs:
        if job.future.done():  # cancelled: the request was answered 503
            continue
        if job.ok:
            job.future.set_result(job.value)
        else:
            job.future.set_exception(job.value)
