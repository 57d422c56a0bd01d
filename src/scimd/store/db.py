"""Database engines and transactions for SQLite and PostgreSQL.

SQLite runs in WAL mode with ``synchronous=FULL`` (a commit is on disk before
the answer), foreign keys on, and write transactions opened with
``BEGIN IMMEDIATE`` so that two writers queue on the busy timeout instead of
failing when a read lock is upgraded. ``lower()`` is replaced by Python's
Unicode-aware version so SQLite folds case as PostgreSQL and the filter
evaluator do.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field

import orjson
from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.pool import PoolProxiedConnection, StaticPool

from scimd.store.direct import Reader


def _dumps(value: object) -> str:
    """JSON columns are written and read with orjson (the stdlib json was 14% of a list)."""
    return orjson.dumps(value).decode()


def _lower(value: object) -> object:
    return value.lower() if isinstance(value, str) else value


ON_THE_LOOP: ContextVar[bool] = ContextVar("scimd_on_the_loop", default=False)
"""Set while a request's synchronous work runs on the event loop itself (SQLite reads)."""


@contextmanager
def on_the_loop() -> Iterator[None]:
    """Mark the enclosed synchronous work as running on the event loop's thread."""
    token = ON_THE_LOOP.set(True)
    try:
        yield
    finally:
        ON_THE_LOOP.reset(token)


@contextmanager
def reading(dbapi: object, sqlite: bool) -> Iterator[Reader]:
    """One read transaction on a DBAPI connection, rolled back at the end."""
    if sqlite:
        dbapi.execute("BEGIN")  # type: ignore[attr-defined]
    try:
        yield Reader(dbapi, not sqlite)
    finally:
        dbapi.rollback()  # type: ignore[attr-defined]  # a read: nothing to keep


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
    writers: threading.RLock = field(default_factory=threading.RLock)
    """On SQLite, this process's writers queue here, in order, for the one write lock:
    SQLite's own busy handler makes waiters sleep and retry, which under 16 concurrent
    writes gave p99 latencies over a second. Other processes still meet on
    ``busy_timeout``."""

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
        """A read transaction on a DBAPI connection, for :mod:`store.direct`'s hand-written
        hot reads (no SQLAlchemy statement machinery on the way).

        Reads that run on the event loop (:func:`on_the_loop`) use one connection kept
        for the loop: they run one at a time, and a pool checkout cost a tenth of a GET.
        """
        if ON_THE_LOOP.get():
            if self.loop_connection is None:
                self.loop_connection = self.engine.raw_connection()
            with reading(self.loop_connection.driver_connection, self.is_sqlite) as reader:
                yield reader
            return
        raw = self.engine.raw_connection()
        try:
            with reading(raw.driver_connection, self.is_sqlite) as reader:
                yield reader
        finally:
            raw.close()

    @contextmanager
    def write(self, *, dry_run: bool = False) -> Iterator[Connection]:
        """A write transaction, committed (durably) when the block exits cleanly; with
        ``dry_run`` everything is done and then rolled back."""
        with self._writer_turn(), self.engine.connect() as conn:
            conn = conn.execution_options(scimd_write=True)
            with conn.begin() as trans:
                yield conn
                if dry_run:
                    trans.rollback()

    @contextmanager
    def _writer_turn(self) -> Iterator[None]:
        if not self.is_sqlite:
            yield  # PostgreSQL writers run side by side, locking only the rows they touch
            return
        with self.writers:
            yield

    def dispose(self) -> None:
        if self.loop_connection is not None:
            self.loop_connection.close()
            self.loop_connection = None
        self.engine.dispose()


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
