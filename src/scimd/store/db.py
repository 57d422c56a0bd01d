"""Database engines and transactions for SQLite and PostgreSQL.

PostgreSQL reads and writes are served on the event loop while a server runs
(:meth:`Database.open_awaited_reads`): the same synchronous code, with each statement
awaited through SQLAlchemy's greenlet bridge instead of blocking a worker thread.
SQLite writes of the API join a group commit (:mod:`scimd.store.group_commit`).

SQLite runs in WAL mode with ``synchronous=FULL`` (a commit is on disk before
the answer), foreign keys on, and write transactions opened with
``BEGIN IMMEDIATE`` so that two writers wait for each other instead of failing
when a read lock is upgraded; they wait in turn (:mod:`scimd.store.write_turns`).
``lower()`` is replaced by Python's Unicode-aware version so SQLite folds case as
PostgreSQL and the filter evaluator do.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, TypeVar

import orjson
from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import PoolProxiedConnection, StaticPool
from sqlalchemy.util import greenlet_spawn

from scimd.limits import deadlines
from scimd.limits.deadlines import begin_commit, check_before_writing
from scimd.store.direct import Reader
from scimd.store.group_commit import GroupCommit, RunAlone
from scimd.store.positions import Positions
from scimd.store.write_turns import WriteTurns

T = TypeVar("T")


def _dumps(value: object) -> str:
    """JSON columns are written and read with orjson (the stdlib json was 14% of a list)."""
    return orjson.dumps(value).decode()


def _lower(value: object) -> object:
    return value.lower() if isinstance(value, str) else value


HELD: ContextVar[PoolProxiedConnection | None] = ContextVar("scimd_held", default=None)
"""The DBAPI connection a request's direct reads use (see :meth:`Database.holding`)."""
AWAITED: ContextVar[Engine | None] = ContextVar("scimd_awaited", default=None)
"""The engine of the read or write being served on the event loop
(:meth:`Database.awaited`): the synchronous face of an asyncio engine, whose statements
are awaited."""
READING: ContextVar[bool] = ContextVar("scimd_reading", default=False)
"""Whether the held connection is in the request's read transaction already (loop reads)."""


@contextmanager
def reading(dbapi: Any, sqlite: bool) -> Iterator[Reader]:
    """One read on a DBAPI connection: a transaction on SQLite (one WAL snapshot for all
    its statements), rolled back at the end. A held PostgreSQL connection is in
    autocommit, where each statement reads committed data as READ COMMITTED would, and
    BEGIN and ROLLBACK would cost two more round trips."""
    if sqlite:
        dbapi.execute("BEGIN")
    try:
        yield Reader(dbapi, not sqlite)
    finally:
        # sqlite3's own ``autocommit`` (Python 3.12+) is -1, "legacy", by default: only
        # psycopg's says whether there is a transaction to end
        if sqlite or not dbapi.autocommit:
            dbapi.rollback()  # a read: nothing to keep


def normalize_url(url: str) -> str:
    """Use the psycopg 3 driver for plain ``postgresql://`` URLs."""
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


@dataclass(slots=True)
class Database:
    """An engine and the transaction helpers every request uses."""

    engine: Engine
    loop_connection: PoolProxiedConnection | None = None
    turns: WriteTurns = field(default_factory=WriteTurns)
    """On SQLite, writers queue here for the one write lock, those of other processes
    included (:mod:`scimd.store.write_turns`), rather than meet on SQLite's busy
    handler, which sleeps and retries."""
    positions: Positions = field(default_factory=Positions)
    """Where each position of a tenant's default order starts, for deep pages."""
    pool_size: int = 10
    """``SCIMD_POOL_SIZE``: the engine's pool, and the reads served at once on the loop
    (PostgreSQL; half as many writes)."""
    awaited_engine: AsyncEngine | None = None
    """PostgreSQL, while a server runs: the engine of reads and writes served on its event
    loop."""
    group_commit: GroupCommit | None = None
    """A SQLite file: the writer thread whose batches the API's writes join
    (:mod:`scimd.store.group_commit`)."""
    _awaited_loop: asyncio.AbstractEventLoop | None = None
    _awaited_opens: int = 0
    _awaited_turns: asyncio.Semaphore | None = None
    _awaited_write_turns: asyncio.Semaphore | None = None

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    @property
    def engines(self) -> list[Engine]:
        """Every engine with a pool of connections (for the pool gauges)."""
        if self.awaited_engine is None:
            return [self.engine]
        return [self.engine, self.awaited_engine.sync_engine]

    async def open_awaited_reads(self, *, lock_timeout: float = 0) -> None:
        """PostgreSQL: serve reads and writes on the running event loop from now on,
        through an asyncio engine (psycopg's ``AsyncConnection``) of the same URL.

        ``lock_timeout`` (seconds; the request timeout) bounds every lock wait of its
        connections on the server: a deadline closes the connection of a statement it
        cancels, and a backend waiting on a lock would otherwise wait on, holding the
        row locks it has, after its client is gone.

        A read in a worker thread spends more on handing the GIL back and forth around
        each round trip than on the read (bench/README.md): on the loop, the request's
        synchronous code runs in a greenlet and each statement is awaited. An asyncio
        engine belongs to one loop, so reads on any other loop keep using threads, and
        so does a URL naming another driver than psycopg. Opens on the same loop are
        counted, and the last :meth:`close_awaited_reads` there closes the engine."""
        if self.is_sqlite or self.engine.dialect.driver != "psycopg":
            return
        if self.awaited_engine is not None:
            if asyncio.get_running_loop() is self._awaited_loop:
                self._awaited_opens += 1
            return
        url = self.engine.url.set(drivername="postgresql+psycopg_async")
        # At most pool_size reads and half as many writes at once (:meth:`awaited`), each
        # holding a connection and at times taking a second one (SQLAlchemy Core reads:
        # filtered group lists, general filters, a guest's channels; a write's own
        # transaction): twice that many connections, so that none ever waits on another
        # for its second. No overflow, since an overflow connection is closed when handed
        # back, and 16 concurrent reads opened a new backend for 6 of them again and
        # again; LIFO, so that the connections in use stay the same few and the others
        # may idle. Writes have turns of their own: a write waiting on a row lock never
        # keeps a read waiting.
        writes = awaited_writes(self.pool_size)
        options = _postgres_options(2 * (self.pool_size + writes), bool(self.engine.echo),
                                    overflow=0)
        options.update(pool_pre_ping=False,  # only connections that sat idle (below)
                       pool_use_lifo=True)
        if lock_timeout > 0:
            options["connect_args"] = {
                "options": f"-c lock_timeout={max(1, round(lock_timeout * 1000))}"}
        self.awaited_engine = create_async_engine(url, **options)
        _ping_when_idle(self.awaited_engine.sync_engine, PING_AFTER_IDLE)
        self._awaited_loop = asyncio.get_running_loop()
        self._awaited_opens = 1
        self._awaited_turns = asyncio.Semaphore(self.pool_size)
        self._awaited_write_turns = asyncio.Semaphore(writes)

    async def close_awaited_reads(self) -> None:
        """Close what :meth:`open_awaited_reads` opened, at the last close on its loop
        (the server's shutdown); on any other loop, nothing."""
        if self.awaited_engine is None or \
                asyncio.get_running_loop() is not self._awaited_loop:
            return
        self._awaited_opens -= 1
        if self._awaited_opens > 0:
            return
        engine, self.awaited_engine, self._awaited_loop = self.awaited_engine, None, None
        self._awaited_turns = self._awaited_write_turns = None
        await engine.dispose()

    def awaits_reads_here(self) -> bool:
        """Whether reads on the running loop are served on it (:meth:`awaited`)."""
        return self._awaited_loop is not None and \
            asyncio.get_running_loop() is self._awaited_loop

    async def awaited(self, fn: Callable[..., T], *args: Any, writing: bool = False) -> T:
        """``fn(*args)`` on the event loop: synchronous code whose reads (:meth:`read`,
        :meth:`snapshot`, :meth:`holding`) take connections of :attr:`awaited_engine`
        and await each statement (SQLAlchemy's ``greenlet_spawn``), as do its writes
        (:meth:`write`). ``fn`` must not hash passwords or wait on locks, which would
        stop the loop: where it would, it raises :class:`RunAlone` (:meth:`run_alone`,
        :meth:`cannot_wait`) and the caller runs it again in a worker thread.
        At most ``pool_size`` reads run at once, and half as many ``writing`` calls; the
        others wait their turn (under the request's deadline, when the caller bounds the
        wait)."""
        turns = self._awaited_write_turns if writing else self._awaited_turns
        assert self.awaited_engine is not None and turns is not None
        token = AWAITED.set(self.awaited_engine.sync_engine)
        try:
            async with turns:
                return await greenlet_spawn(fn, *args)
        except Exception as exc:
            # a statement the deadline cancelled leaves a closed connection behind, and
            # what fails on it after that is the deadline's doing: the request was
            # answered 503 already (scimd.limits.deadlines)
            deadline = deadlines.CURRENT.get()
            if deadline is not None and deadline.expired:
                raise deadlines.DeadlinePassed() from exc
            raise
        finally:
            AWAITED.reset(token)

    def _reads(self) -> Engine:
        return AWAITED.get() or self.engine

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A read transaction (a consistent snapshot on both databases); in a job of a
        group commit, the batch's transaction, which holds what the job wrote so far."""
        batch = self._batch()
        if batch is not None:
            yield batch
            return
        with self._reads().connect() as conn, conn.begin():
            yield conn

    @contextmanager
    def snapshot(self) -> Iterator[Reader]:
        """A read on a DBAPI connection, for :mod:`store.direct`'s hand-written hot reads
        (no SQLAlchemy statement machinery on the way): the request's held connection
        (:meth:`holding`), or one from the pool."""
        batch = self._batch()
        if batch is not None:
            yield Reader(batch.connection.dbapi_connection, False)
            return
        held = HELD.get()
        if held is not None:
            if READING.get():  # inside the request's own read transaction
                yield Reader(held.dbapi_connection, not self.is_sqlite)
                return
            with reading(held.dbapi_connection, self.is_sqlite) as reader:
                yield reader
            return
        raw = self._reads().raw_connection()
        try:
            with reading(raw.dbapi_connection, self.is_sqlite) as reader:
                yield reader
        finally:
            raw.close()

    @contextmanager
    def holding(self, *, on_the_loop: bool = False) -> Iterator[None]:
        """Hold one DBAPI connection for every direct read of a request: one pool
        checkout (and one liveness ping on PostgreSQL) instead of one per read.

        Work running on the event loop (SQLite reads) shares one connection kept for the
        loop, since it runs one request at a time, and reads in one transaction: the
        token and the resources it reads are one snapshot, for one BEGIN (with rate
        limits in Redis, two holds: ``ScimApi._authorize_count_read``). A PostgreSQL
        connection is held in autocommit (see :func:`reading`) and handed back as it came.
        A job of a group commit holds the batch's connection, in the batch's transaction.
        """
        batch = self._batch()
        if batch is not None:
            token, in_read = HELD.set(batch.connection), READING.set(True)
            try:
                yield
            finally:
                READING.reset(in_read)
                HELD.reset(token)
            return
        if on_the_loop:
            if self.loop_connection is None:
                self.loop_connection = self.engine.raw_connection()
            token, in_read = HELD.set(self.loop_connection), READING.set(True)
            try:
                with reading(self.loop_connection.dbapi_connection, self.is_sqlite):
                    yield
            finally:
                READING.reset(in_read)
                HELD.reset(token)
            return
        raw = self._reads().raw_connection()
        dbapi = raw.dbapi_connection  # an awaited engine's: psycopg's, made synchronous
        token = HELD.set(raw)
        try:
            if not self.is_sqlite:
                dbapi.autocommit = True
            yield
        finally:
            HELD.reset(token)
            try:
                if not self.is_sqlite and raw.driver_connection.closed:
                    # psycopg closes a connection whose statement a deadline cancelled
                    # (on the loop) and it could not cancel on the server: drop it
                    raw.invalidate()
                elif not self.is_sqlite:
                    dbapi.autocommit = False
            finally:
                raw.close()

    @contextmanager
    def write(self, *, dry_run: bool = False) -> Iterator[Connection]:
        """A write transaction, committed (durably) when the block exits cleanly; with
        ``dry_run`` everything is done and then rolled back. A request already answered
        ``503 request_timeout`` neither starts nor commits one
        (:mod:`scimd.limits.deadlines`). In a job of a group commit, a savepoint of the
        batch's transaction, committed with the batch."""
        check_before_writing()
        batch = self._batch()
        if batch is not None:
            assert self.group_commit is not None
            with self.group_commit.savepoint(dry_run=dry_run) as conn:
                yield conn
                if not dry_run:
                    begin_commit()  # not after a 503 (scimd.limits.deadlines)
            return
        with self._writer_turn(), self._reads().connect() as conn:
            check_before_writing()  # the turn may have come after the request's deadline
            conn = conn.execution_options(scimd_write=True)
            with conn.begin() as trans:
                yield conn
                if dry_run:
                    trans.rollback()
                else:
                    begin_commit()  # not after a 503 (scimd.limits.deadlines)

    def _batch(self) -> Connection | None:
        return self.group_commit.connection() if self.group_commit is not None else None

    def in_batch(self) -> bool:
        """Whether the running code is a job inside a group commit's batch."""
        return self._batch() is not None

    def cannot_wait(self) -> bool:
        """Whether the running write shares its thread with other requests: a job of a
        group commit (SQLite) or a write awaited on the event loop (PostgreSQL). Such a
        write must not wait on a lock nor hash a password: it runs alone instead."""
        return self.in_batch() or AWAITED.get() is not None

    def after_commit(self, action: Callable[[], None]) -> None:
        """Do ``action`` once what the code running has written is committed: at once,
        or after the group commit whose job it is (never, if that batch is dropped)."""
        if self.group_commit is None:
            action()
        else:
            self.group_commit.after_commit(action)

    def run_alone(self) -> None:
        """Leave the batch or the event loop before something that would hold them up (a
        password's hash): :class:`RunAlone` where :meth:`cannot_wait`, nothing elsewhere."""
        if self.cannot_wait():
            raise RunAlone()

    @contextmanager
    def _writer_turn(self) -> Iterator[None]:
        if not self.is_sqlite:
            yield  # PostgreSQL writers run side by side, locking only the rows they touch
            return
        with self.turns.turn():
            yield

    def dispose(self) -> None:
        if self.loop_connection is not None:
            self.loop_connection.close()
            self.loop_connection = None
        if self.awaited_engine is not None:  # left open: closing it needs its loop
            self.awaited_engine.sync_engine.dispose(close=False)
            self.awaited_engine = self._awaited_loop = None
            self._awaited_turns = self._awaited_write_turns = None
        self.engine.dispose()
        self.turns.close()


def connect(url: str, *, pool_size: int = 10, echo: bool = False) -> Database:
    """Create the engine for ``url`` (``sqlite:///path`` or ``postgresql://…``)."""
    url = normalize_url(url)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        memory = parsed.database in (None, "", ":memory:")
        engine = create_engine(
            url,
            echo=echo,
            json_serializer=_dumps,
            json_deserializer=orjson.loads,
            connect_args={"check_same_thread": False, "timeout": 30},
            poolclass=StaticPool if memory else None,
            **({} if memory else {"pool_size": pool_size, "max_overflow": pool_size}),
        )
        _configure_sqlite(engine, memory)
        if not memory:
            db = Database(engine, turns=WriteTurns(parsed.database), pool_size=pool_size)
            db.group_commit = GroupCommit(db)
            return db
    else:
        engine = create_engine(url, **_postgres_options(pool_size, echo))
    return Database(engine, pool_size=pool_size)


def awaited_writes(pool_size: int) -> int:
    """PostgreSQL writes served on the event loop at once: half ``SCIMD_POOL_SIZE``."""
    return max(1, pool_size // 2)


PING_AFTER_IDLE = 1.0
"""Seconds a pooled read connection may sit unused and still be handed out unchecked."""


def _ping_when_idle(engine: Engine, idle: float) -> None:
    """``pool_pre_ping`` for connections that sat in the pool ``idle`` seconds or more.

    The ping is a round trip of its own: a quarter of a GET's. A connection used within
    the last second is as alive as one just pinged, but for a database that restarted in
    that second; its statement then fails, the request is answered 500 and the closed
    connection is dropped (:meth:`Database.holding`). Raising ``DisconnectionError`` on a
    failed ping makes the pool replace the connection and check out again."""

    @event.listens_for(engine, "checkin")
    def checked_in(_dbapi: Any, record: Any) -> None:
        record.info["scimd_idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def checked_out(dbapi: Any, record: Any, _proxy: Any) -> None:
        since = record.info.get("scimd_idle_since")
        if since is None or time.monotonic() - since < idle:
            return  # just opened, or just used
        try:
            dbapi.autocommit = True  # no transaction left open behind the ping
            cursor = dbapi.cursor()
            try:
                cursor.execute("SELECT 1")
            finally:
                cursor.close()
            dbapi.autocommit = False
        except Exception as exc:
            raise DisconnectionError(f"a pooled connection is gone: {exc}") from exc


def _postgres_options(pool_size: int, echo: bool, overflow: int | None = None,
                      ) -> dict[str, Any]:
    return dict(echo=echo, pool_size=pool_size,
                max_overflow=pool_size if overflow is None else overflow,
                pool_pre_ping=True, json_serializer=_dumps, json_deserializer=orjson.loads)


def _configure_sqlite(engine: Engine, memory: bool) -> None:
    @event.listens_for(engine, "connect")
    def on_connect(dbapi_conn: sqlite3.Connection, _record: object) -> None:
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
        dbapi_conn.create_function("lower", 1, _lower, deterministic=True)
        cur = dbapi_conn.cursor()
        if not memory:
            cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=FULL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.close()

    @event.listens_for(engine, "begin")
    def on_begin(conn: Connection) -> None:
        immediate = conn.get_execution_options().get("scimd_write", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")
