"""One SQLAlchemy engine per process, tuned for PostgreSQL or the embedded SQLite file."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import psycopg
from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.pool import ConnectionPoolEntry

from switchboard.common.db.libpq import psycopg_sql
from switchboard.common.settings import get_settings

_engine: Engine | None = None
_engine_pid = 0
#: The process-wide engine's pool: connections kept, and opened beyond them at busy moments
#: (closed as they come back). By default the API's: its threadpool's 40 threads. A worker
#: process sizes it to its threads (:func:`size_pool`).
_pool = (40, 10)
#: Connections a worker process's pool opens beyond one per thread: its consumers' threads'
#: sweeps (the outbox relay) and a job's nested session.
POOL_SPARE = 2
#: How long opening a PostgreSQL connection may take, and how long a request waits for one
#: from a full pool, before it gives up: a database out of reach is an error in seconds (the
#: API answers 503), never a request left hanging.
CONNECT_TIMEOUT_S = 5
POOL_TIMEOUT_S = 5.0
#: A pooled connection idle longer than this is pinged before it is handed out; one back in
#: the pool sooner is handed out as it is (see :func:`_ping_idle_connections`).
PING_AFTER_IDLE_S = 1.0


def make_engine(url: str, *, pool_size: int = 40, max_overflow: int = 10) -> Engine:
    """Create an engine for ``url``; SQLite gets WAL mode and a busy timeout for many threads.

    ``hide_parameters``: a statement's error names the statement but not its values (message
    bodies, names, numbers, keys), so no traceback or stored error repeats them.
    """
    if url.startswith("sqlite"):
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": 30},
            hide_parameters=True,
        )

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        return engine
    # pool_size covers the threads that use it (the API's threadpool, 40; a worker's threads,
    # ``size_pool``): connections beyond the pool are opened and closed per checkout, and a
    # PostgreSQL backend per request is expensive.
    engine = create_engine(
        url,
        hide_parameters=True,
        pool_size=pool_size,
        max_overflow=max_overflow,
        pool_recycle=1800,
        pool_timeout=POOL_TIMEOUT_S,
        connect_args={"connect_timeout": CONNECT_TIMEOUT_S},
    )
    _ping_idle_connections(engine)
    return engine


def _ping_idle_connections(engine: Engine) -> None:
    """A connection PostgreSQL dropped (a restart) is replaced, not handed out — pinged when it
    has been idle in the pool for :data:`PING_AFTER_IDLE_S`.

    ``pool_pre_ping`` pings on every checkout: a worker checks a connection out ~6 times per
    answered WhatsApp message, each ping a round trip and a statement for PostgreSQL. One
    checked in less than a second ago was working then; if PostgreSQL went away since, the
    statement fails as a disconnect, SQLAlchemy invalidates the whole pool, the request gets
    its 503 or the job its retry, and the next checkouts ping (or reconnect).
    """

    @event.listens_for(engine, "checkin")
    def _checked_in(_dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checked_out(dbapi_connection: Any, record: ConnectionPoolEntry, _proxy: Any) -> None:
        idle_since = record.info.pop("idle_since", None)
        if idle_since is None or time.monotonic() - idle_since < PING_AFTER_IDLE_S:
            return  # new, or back in the pool a moment ago
        try:
            engine.dialect.do_ping(dbapi_connection)
        except Exception as exc:  # the pool discards it and checks out another
            raise DisconnectionError("a pooled connection failed its ping") from exc


def get_engine() -> Engine:
    """The process-wide engine for the configured database (created on first use)."""
    global _engine, _engine_pid
    if _engine is None:
        settings = get_settings()
        if settings.embedded or settings.database_url.startswith("sqlite"):
            settings.var_dir.mkdir(parents=True, exist_ok=True)
        size, overflow = _pool
        _engine = make_engine(
            settings.effective_database_url, pool_size=size, max_overflow=overflow
        )
        _engine_pid = os.getpid()
    return _engine


def size_pool(threads: int) -> None:
    """Size the process-wide engine's pool for a process whose ``threads`` threads run
    statements (a worker process: ``--threads``), instead of the API's threadpool: ``threads``
    connections kept, :data:`POOL_SPARE` more at busy moments. An engine made before is
    replaced: the connections it opened in this process are closed, those a forked process
    inherited are left to its parent."""
    global _engine, _pool
    if _pool == (threads, POOL_SPARE):
        return
    _pool = (threads, POOL_SPARE)
    if _engine is not None:
        _engine.dispose(close=_engine_pid == os.getpid())
        _engine = None


@contextmanager
def migration_engine() -> Iterator[Engine]:
    """An engine of the tables' owner, for schema work (migrations, ``ANALYZE``):
    ``MIGRATION_DATABASE_URL``'s when it differs from the services' URL (one connection,
    disposed of afterwards), else the process-wide engine."""
    settings = get_settings()
    url = settings.effective_migration_database_url
    if url == settings.effective_database_url:
        yield get_engine()
        return
    engine = make_engine(url, pool_size=1)
    try:
        yield engine
    finally:
        engine.dispose()


def reset_engine() -> None:
    """Dispose of the process-wide engine (tests and forked workers call this)."""
    global _engine
    if _engine is not None:
        _engine.dispose()
    _engine = None


@contextmanager
def autocommit_connection() -> Iterator[Connection]:
    """A pooled connection on which each statement is its own transaction.

    For a call of one of the migrations' PostgreSQL functions, which set the role and the
    tenant themselves: no ``BEGIN``, tenant setting or ``COMMIT`` round trip around it.
    """
    with get_engine().connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        yield conn


def call_function(sql: str, params: Mapping[str, Any]) -> Sequence[Any]:
    """Run one statement that returns one row (a call of one of the migrations' functions) as
    its own transaction on a pooled connection; its row.

    On PostgreSQL the statement goes to the pooled psycopg connection itself: SQLAlchemy's
    ``Connection`` and ``Result`` around it cost ~135 µs of CPU per call here (165 µs against
    300 µs in a loop, the pool's checkout included), and a WhatsApp reply makes three. A
    connection the server dropped fails the call and is discarded as it goes back (the pool's
    reset fails on it). Placeholders are SQLAlchemy's (``:name``).
    """
    engine = get_engine()
    row: Sequence[Any] | None
    if engine.dialect.name != "postgresql":
        with autocommit_connection() as conn:
            row = conn.execute(text(sql), dict(params)).first()
    else:
        row = _call_pooled(engine, psycopg_sql(sql), params)
    if row is None:
        raise LookupError("the statement returned no row")
    return row


def _call_pooled(engine: Engine, sql: str, params: Mapping[str, Any]) -> Sequence[Any] | None:
    pooled = engine.raw_connection()
    try:
        driver: psycopg.Connection[Any] = pooled.driver_connection  # type: ignore[assignment]
        driver.autocommit = True
        try:
            return driver.execute(sql, params).fetchone()
        finally:
            if not (driver.broken or driver.closed):
                driver.autocommit = False  # the pool's other users run transactions
    finally:
        pooled.close()
