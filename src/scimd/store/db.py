"""Database engines and transactions for SQLite and PostgreSQL.

SQLite runs in WAL mode with ``synchronous=FULL`` (a commit is on disk before
the answer), foreign keys on, and write transactions opened with
``BEGIN IMMEDIATE`` so that two writers wait for each other instead of failing
when a read lock is upgraded; they wait in turn (:mod:`scimd.store.write_turns`).
``lower()`` is replaced by Python's Unicode-aware version so SQLite folds case as
PostgreSQL and the filter evaluator do.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

import orjson
from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.pool import PoolProxiedConnection, StaticPool

from scimd.limits.deadlines import begin_commit, check_before_writing
from scimd.store.direct import Reader
from scimd.store.positions import Positions
from scimd.store.write_turns import WriteTurns


def _dumps(value: object) -> str:
    """JSON columns are written and read with orjson (the stdlib json was 14% of a list)."""
    return orjson.dumps(value).decode()


def _lower(value: object) -> object:
    return value.lower() if isinstance(value, str) else value


HELD: ContextVar[PoolProxiedConnection | None] = ContextVar("scimd_held", default=None)
"""The DBAPI connection a request's direct reads use (see :meth:`Database.holding`)."""
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

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A read transaction (a consistent snapshot on both databases)."""
        with self.engine.connect() as conn, conn.begin():
            yield conn

    @contextmanager
    def snapshot(self) -> Iterator[Reader]:
        """A read on a DBAPI connection, for :mod:`store.direct`'s hand-written hot reads
        (no SQLAlchemy statement machinery on the way): the request's held connection
        (:meth:`holding`), or one from the pool."""
        held = HELD.get()
        if held is not None:
            if READING.get():  # inside the request's own read transaction
                yield Reader(held.driver_connection, not self.is_sqlite)
                return
            with reading(held.driver_connection, self.is_sqlite) as reader:
                yield reader
            return
        raw = self.engine.raw_connection()
        try:
            with reading(raw.driver_connection, self.is_sqlite) as reader:
                yield reader
        finally:
            raw.close()

    @contextmanager
    def holding(self, *, on_the_loop: bool = False) -> Iterator[None]:
        """Hold one DBAPI connection for every direct read of a request: one pool
        checkout (and one liveness ping on PostgreSQL) instead of one per read.

        Work running on the event loop (SQLite reads) shares one connection kept for the
        loop, since it runs one request at a time, and reads in one transaction: the
        token and the resources it reads are one snapshot, for one BEGIN. A PostgreSQL
        connection is held in autocommit (see :func:`reading`) and handed back as it came.
        """
        if on_the_loop:
            if self.loop_connection is None:
                self.loop_connection = self.engine.raw_connection()
            token, in_read = HELD.set(self.loop_connection), READING.set(True)
            try:
                with reading(self.loop_connection.driver_connection, self.is_sqlite):
                    yield
            finally:
                READING.reset(in_read)
                HELD.reset(token)
            return
        raw = self.engine.raw_connection()
        dbapi = raw.driver_connection
        if not self.is_sqlite:
            dbapi.autocommit = True
        token = HELD.set(raw)
        try:
            yield
        finally:
            HELD.reset(token)
            try:
                if not self.is_sqlite:
                    dbapi.autocommit = False
            finally:
                raw.close()

    @contextmanager
    def write(self, *, dry_run: bool = False) -> Iterator[Connection]:
        """A write transaction, committed (durably) when the block exits cleanly; with
        ``dry_run`` everything is done and then rolled back. A request already answered
        ``503 request_timeout`` neither starts nor commits one
        (:mod:`scimd.limits.deadlines`)."""
        check_before_writing()
        with self._writer_turn(), self.engine.connect() as conn:
            check_before_writing()  # the turn may have come after the request's deadline
            conn = conn.execution_options(scimd_write=True)
            with conn.begin() as trans:
                yield conn
                if dry_run:
                    trans.rollback()
                else:
                    begin_commit()  # not after a 503 (scimd.limits.deadlines)

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
            return Database(engine, turns=WriteTurns(parsed.database))
    else:
        engine = create_engine(
            url, echo=echo, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True,
            json_serializer=_dumps, json_deserializer=orjson.loads,
        )
    return Database(engine)


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
