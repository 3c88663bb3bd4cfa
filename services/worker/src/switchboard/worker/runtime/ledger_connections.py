"""The job ledger's connections to PostgreSQL, and its single statements' way to them.

Batches each run on one connection per process (:class:`BatchConnection`), as a libpq prepared
statement; single statements share the process's few autocommit connections (:func:`execute`:
at most one per worker thread and :data:`SPARE` more, for the consumers' threads; idle ones
are reused, never one per thread), and go through SQLAlchemy on SQLite (embedded mode).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import psycopg
from sqlalchemy import text

from switchboard.common.db import planner
from switchboard.common.db.engine import POOL_TIMEOUT_S, get_engine, size_pool
from switchboard.common.db.libpq import Param, PreparedStatement, psycopg_sql
from switchboard.common.settings import get_settings

#: How the ledger's own connections show in ``pg_stat_activity``.
APPLICATION_NAME = "switchboard-ledger"
#: Single-statement connections beyond one per worker thread: the consumers' threads (one per
#: queue, each writing running marks, heartbeats and failure marks now and then) share them.
SPARE = 2
#: Worker threads assumed until the worker boots (:func:`size_for`): the worker's default.
DEFAULT_THREADS = 8


class _Pool:
    """The process's connections for single statements, shared by its threads: at most
    ``capacity`` open, each lent for one statement; the idle ones are reused, newest first.
    One lent for the other kind of statement (durable or not) switches its
    ``synchronous_commit`` first. A thread finding them all lent waits up to
    ``POOL_TIMEOUT_S``, then fails as if PostgreSQL were unavailable."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._cond = threading.Condition()
        self._idle: dict[bool, list[psycopg.Connection[Any]]] = {True: [], False: []}
        self._open = 0
        self._pid = os.getpid()

    @contextmanager
    def lend(self, durable: bool) -> Iterator[psycopg.Connection[Any]]:
        conn = self._take(durable)
        try:
            yield conn
        finally:
            self._give(conn, durable)

    def _take(self, durable: bool) -> psycopg.Connection[Any]:
        deadline = time.monotonic() + POOL_TIMEOUT_S
        conn: psycopg.Connection[Any] | None = None
        with self._cond:
            self._forget_if_forked()
            while True:
                if self._idle[durable]:
                    return self._idle[durable].pop()
                if self._idle[not durable]:
                    conn = self._idle[not durable].pop()
                    break
                if self._open < self.capacity:
                    self._open += 1
                    break
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise psycopg.OperationalError(
                        f"all {self.capacity} ledger connections of this process are in use"
                    )
                self._cond.wait(remaining)
        try:
            if conn is None:
                return connect(durable)
            conn.execute(f"SET synchronous_commit = {'on' if durable else 'off'}")
            return conn
        except BaseException:
            if conn is not None:
                conn.close()
            self._closed()
            raise

    def _give(self, conn: psycopg.Connection[Any], durable: bool) -> None:
        if conn.closed:
            self._closed()
            return
        with self._cond:
            if self._pid == os.getpid():
                self._idle[durable].append(conn)
                self._cond.notify()

    def _closed(self) -> None:
        with self._cond:
            self._open -= 1
            self._cond.notify()

    def _forget_if_forked(self) -> None:
        """A forked process opens its own: its parent's connections are left to the parent."""
        if self._pid != os.getpid():
            self._idle, self._open, self._pid = {True: [], False: []}, 0, os.getpid()

    def close_idle(self) -> None:
        with self._cond:
            self._forget_if_forked()
            idle = self._idle[True] + self._idle[False]
            self._idle = {True: [], False: []}
            self._open -= len(idle)
            self._cond.notify_all()
        for conn in idle:
            conn.close()


_pool = _Pool(DEFAULT_THREADS + SPARE)


def size_for(threads: int) -> None:
    """Bound a worker process's connections by its ``threads`` worker threads: the ledger's
    single statements share ``threads + SPARE`` connections, and SQLAlchemy's pool is sized
    to the threads too (``db/engine.size_pool``). Called as the worker boots."""
    _pool.capacity = threads + SPARE
    size_pool(threads)


def capacity() -> int:
    """How many single-statement connections this process may have open."""
    return _pool.capacity


def _dsn() -> str:
    return get_settings().effective_database_url.replace("postgresql+psycopg://", "postgresql://")


# The ledger's sessions, set in the connection's startup packet (no round trip of their own):
# one generic plan per statement (see ``_BY_IDS`` in ``ledger_statements.py``), and
# primary-key lookups only, since a generic plan cached while the table was small (a seq scan
# and a hash join were cheaper then) would otherwise read the whole table ever after
# (``db/planner.py``).
_SESSION = planner.session_options()


#: No ledger statement waits longer (a row lock held elsewhere, a stalled disk): the RabbitMQ
#: consumer's thread writes success marks, and its connection's heartbeats wait meanwhile.
#: A statement cut off is an error like any other; its marks are tried again.
STATEMENT_TIMEOUT_MS = 10_000


def connect(durable: bool) -> psycopg.Connection[Any]:
    """A new ledger connection; ``durable`` ones commit synchronously."""
    options = f"{_SESSION} -c statement_timeout={STATEMENT_TIMEOUT_MS}"
    if not durable:
        options += " -c synchronous_commit=off"
    return psycopg.connect(
        _dsn(),
        autocommit=True,
        prepare_threshold=1,
        application_name=APPLICATION_NAME,
        options=options,
    )


class BatchConnection:
    """The one connection a kind of batch runs on, one batch at a time.

    One per kind and process, not per thread, so every batch meets the same warm server
    backend with its statement already prepared.
    """

    def __init__(self, statement: PreparedStatement, *, durable: bool) -> None:
        self._statement, self._durable = statement, durable
        self._conn: psycopg.Connection[Any] | None = None
        self._pid = 0
        # Group commit leaders take turns; consumers' threads (one per queue) may not.
        self._lock = threading.Lock()

    def run(self, values: dict[str, Param]) -> list[list[str | None]]:
        with self._lock:
            return self._run(values)

    def _run(self, values: dict[str, Param]) -> list[list[str | None]]:
        if self._conn is None or self._conn.closed or self._pid != os.getpid():
            conn = connect(self._durable)  # a forked process gets its own
            try:
                self._statement.prepare(conn)
            except BaseException:
                conn.close()  # never keep a connection without its statement
                raise
            self._conn, self._pid = conn, os.getpid()
        try:
            return self._statement.run(self._conn, values)
        except psycopg.OperationalError:
            self._conn.close()  # the next batch reconnects
            raise

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()


def execute(sql: str, params: dict[str, Any], *, durable: bool = True) -> Sequence[Any] | None:
    """Run one statement; return the first row if it returns any."""
    rows = execute_all(sql, params, durable=durable, first=True)
    return rows[0] if rows else None


def execute_all(
    sql: str, params: dict[str, Any], *, durable: bool = True, first: bool = False
) -> list[Sequence[Any]]:
    """Run one statement; return its rows (``first``: only the first, if any)."""
    if get_engine().dialect.name != "postgresql":
        with get_engine().begin() as conn:
            result = conn.execute(text(sql), params)
            if not result.returns_rows:
                return []
            return [row for row in [result.first()] if row is not None] if first else list(result)
    for attempt in range(2):
        with _pool.lend(durable) as pg:
            try:
                cursor = pg.execute(psycopg_sql(sql), params)
                if not cursor.description:
                    return []
                if first:
                    row = cursor.fetchone()
                    return [row] if row is not None else []
                return list(cursor.fetchall())
            except psycopg.OperationalError:
                pg.close()  # the server restarted or the socket died: reconnect once
                if attempt:
                    raise
    return []


def close_idle_connections() -> None:
    """Close the single-statement connections not in use; the next statements reconnect."""
    _pool.close_idle()
