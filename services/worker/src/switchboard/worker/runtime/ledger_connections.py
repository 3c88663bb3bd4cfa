"""The job ledger's connections to PostgreSQL, and its single statements' way to them.

Batches each run on one connection per process (:class:`BatchConnection`), as a libpq prepared
statement; single statements use per-thread autocommit connections (:func:`execute`), and go
through SQLAlchemy on SQLite (embedded mode).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from typing import Any

import psycopg
from sqlalchemy import text

from switchboard.common.db import planner
from switchboard.common.db.engine import get_engine
from switchboard.common.db.libpq import Param, PreparedStatement, psycopg_sql
from switchboard.common.settings import get_settings

#: How the ledger's own connections show in ``pg_stat_activity``.
APPLICATION_NAME = "switchboard-ledger"


class _PostgresConnections(threading.local):
    """Per-thread autocommit connections for single statements: ``fast`` commits asynchronously."""

    fast: psycopg.Connection[Any] | None = None
    safe: psycopg.Connection[Any] | None = None


_pg = _PostgresConnections()


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


def _pg_connection(durable: bool) -> psycopg.Connection[Any]:
    conn = _pg.safe if durable else _pg.fast
    if conn is None or conn.closed:
        conn = connect(durable)
        if durable:
            _pg.safe = conn
        else:
            _pg.fast = conn
    return conn


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
        pg = _pg_connection(durable)
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


def close_thread_connections() -> None:
    """Close this thread's single-statement connections; the next statement reconnects."""
    for conn in (_pg.fast, _pg.safe):
        if conn is not None:
            conn.close()
