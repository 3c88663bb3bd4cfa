"""The job ledger's state transitions, each one statement and one round trip.

The worker's middleware calls these on every message, so on PostgreSQL they skip the ORM and
the pool. Concurrent threads' delivery marks are coalesced into one statement per batch (see
``coalesce.py``); success marks are written in batches by the RabbitMQ consumer's own thread,
before it acknowledges their messages (``consumer.py``; coalesced like deliveries elsewhere).
Each kind of batch runs on one connection per process, as a libpq prepared statement
(``db/libpq.py``); the rarer single statements use per-thread connections.
Delivery marks commit asynchronously (``synchronous_commit=off``: a PostgreSQL crash may
forget the last few hundred milliseconds of them, which only weakens poison detection for
those messages); outcomes commit synchronously before the message is acknowledged. SQLite
(embedded mode) goes through SQLAlchemy. Tenant-facing reads and cancellation: ``service.py``.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import psycopg
from sqlalchemy import text

from switchboard.common.db.base import utcnow
from switchboard.common.db.engine import get_engine
from switchboard.common.db.libpq import Param, PreparedStatement, psycopg_sql
from switchboard.common.logging import redact
from switchboard.common.settings import get_settings
from switchboard.worker.runtime.coalesce import Coalescer, Pending
from switchboard.worker.runtime.inflight import MAX_KNOWN_CANCELLATIONS, inflight

# Every statement here finds its rows by primary key. A status test written as equality or
# ``IN`` would match the partial queue index's predicate (or lead the business/status index),
# and a planner with no fresh statistics (a new table, a backlog that grew since the last
# analyze) would then read every live job through it to find one. Said as "not one of the
# others", no index on status can serve it; the ledger's connections also rule out scans and
# hash joins (``_connect``), whatever the table's size was when a plan was cached.
_NOT_FINAL = "jobs.status NOT IN ('succeeded', 'failed', 'dead', 'cancelled')"  # queued, running
_QUEUED = "jobs.status NOT IN ('running', 'succeeded', 'failed', 'dead', 'cancelled')"
_RUNNING = "jobs.status NOT IN ('queued', 'succeeded', 'failed', 'dead', 'cancelled')"
# A redelivered message was delivered before; if that delivery took the fast path (nothing
# recorded, see ``inflight.py``), it is counted now, so poison detection still sees it.
_DELIVERIES = "(deliveries + CASE WHEN :redelivered AND deliveries <= failures THEN 2 ELSE 1 END)"
_START = f"""
    UPDATE jobs SET
        deliveries = {_DELIVERIES},
        status = CASE WHEN {_DELIVERIES} - failures > :max THEN 'dead' ELSE 'running' END,
        attempts = CASE WHEN {_DELIVERIES} - failures > :max THEN attempts ELSE attempts + 1 END,
        finished_at = CASE WHEN {_DELIVERIES} - failures > :max THEN :now ELSE NULL END,
        last_error = CASE WHEN {_DELIVERIES} - failures > :max THEN :poison ELSE last_error END,
        started_at = :now,
        updated_at = :now
    WHERE id = :id AND {_NOT_FINAL}
    RETURNING status, attempts, deliveries, business_id
"""
# A fast-path job's row is still ``queued`` (or just marked ``running``) when it finishes: its
# delivery and attempt are recorded with its outcome.


def _fast_outcome(fast: str, started: str) -> str:
    """SET clauses recording a fast-path delivery (``fast`` true, row still queued)."""
    first = f"CASE WHEN {fast} AND jobs.status = 'queued'"
    return f"""
        attempts = attempts + {first} THEN 1 ELSE 0 END,
        deliveries = deliveries + {first} THEN 1 ELSE 0 END,
        started_at = {first} THEN {started} ELSE jobs.started_at END,"""


_FAST_OUTCOME = _fast_outcome("CAST(:fast AS boolean)", ":started")
_RAN_HERE = f"({_NOT_FINAL} AND (CAST(:fast AS boolean) OR jobs.status <> 'queued'))"
_SUCCEED = f"""
    UPDATE jobs SET status = 'succeeded', progress = 1.0, {_FAST_OUTCOME}
        finished_at = :now, updated_at = :now
    WHERE id = :id AND {_RAN_HERE}
"""
_FAIL = f"""
    UPDATE jobs SET status = :status, failures = failures + 1, last_error = :error,
        {_FAST_OUTCOME} finished_at = :finished, updated_at = :now
    WHERE id = :id AND {_RAN_HERE}
"""
_KILL = (
    "UPDATE jobs SET status = 'dead', last_error = :error, finished_at = :now, updated_at = :now "
    f"WHERE id = :id AND {_NOT_FINAL}"
)
# Batches name their jobs through ``unnest``: a nested loop of primary-key lookups. Their ids
# are a parameter, so PostgreSQL would plan each execution anew (planning the join costs it
# ~0.6 ms, twice executing it); the ledger's connections reuse one generic plan instead.
_BY_IDS = "FROM (SELECT unnest(CAST(:ids AS text[])) AS job_id) AS v WHERE jobs.id = v.job_id"
_START_MANY = PreparedStatement(
    "switchboard_ledger_start_many",
    _START.replace("WHERE id = :id AND", f"{_BY_IDS} AND").replace(
        "RETURNING status,", "RETURNING jobs.id, status,"
    ),
    {"ids": "text[]", "max": "int4", "now": "timestamptz", "poison": "text", "redelivered": "bool"},
)
_SUCCEED_MANY = PreparedStatement(
    "switchboard_ledger_succeed_many",
    f"""
    WITH done AS (
        UPDATE jobs SET status = 'succeeded', progress = 1.0, {_fast_outcome("v.fast", "v.started")}
            finished_at = :now, updated_at = :now
        FROM (SELECT unnest(CAST(:ids AS text[])) AS job_id,
                     unnest(CAST(:started AS timestamptz[])) AS started,
                     unnest(CAST(:fast AS boolean[])) AS fast) AS v
        WHERE jobs.id = v.job_id AND {_NOT_FINAL} AND (v.fast OR jobs.status <> 'queued')
        RETURNING jobs.id
    )
    SELECT id FROM jobs WHERE status = 'cancelled' AND updated_at > :since
    LIMIT {MAX_KNOWN_CANCELLATIONS + 1}
    """,
    {
        "ids": "text[]",
        "started": "timestamptz[]",
        "fast": "bool[]",
        "now": "timestamptz",
        "since": "timestamptz",
    },
)
# Fast-path jobs still running after a moment, marked so the ledger shows them.
_MARK_RUNNING = f"""
    UPDATE jobs SET status = 'running', attempts = attempts + 1, deliveries = deliveries + 1,
        started_at = v.started, updated_at = :now
    FROM (SELECT unnest(CAST(:ids AS text[])) AS job_id,
                 unnest(CAST(:started AS timestamptz[])) AS started) AS v
    WHERE jobs.id = v.job_id AND {_QUEUED}
"""
#: How far back each batch reads cancellations: covers clock differences between hosts and
#: transactions that set ``updated_at`` before they committed.
CANCELLATION_LOOKBACK = timedelta(seconds=30)
_STATUS = "SELECT status FROM jobs WHERE id = :id"
_PROGRESS = (  # a fast-path job is marked running first (``record_progress``)
    "UPDATE jobs SET progress = :progress, progress_message = :message, updated_at = :now "
    f"WHERE id = :id AND {_RUNNING} RETURNING id"
)
#: How the ledger's own connections show in ``pg_stat_activity``.
APPLICATION_NAME = "switchboard-ledger"


@dataclass(frozen=True)
class Started:
    """The ledger's answer to a delivery: run it (``running``) or dead-letter it (``dead``)."""

    status: str
    attempts: int
    deliveries: int
    business_id: int


class _PostgresConnections(threading.local):
    """Per-thread autocommit connections for single statements: ``fast`` commits asynchronously."""

    fast: psycopg.Connection[Any] | None = None
    safe: psycopg.Connection[Any] | None = None


_pg = _PostgresConnections()


def _dsn() -> str:
    return get_settings().effective_database_url.replace("postgresql+psycopg://", "postgresql://")


# The ledger's sessions, set in the connection's startup packet (no round trip of their own):
# one generic plan per statement (see _BY_IDS), and primary-key lookups only, since a generic
# plan cached while the table was small (a seq scan and a hash join were cheaper then) would
# otherwise read the whole table ever after.
_SESSION = " ".join(
    [
        "-c plan_cache_mode=force_generic_plan",
        *(
            f"-c enable_{method}=off"
            for method in ("seqscan", "bitmapscan", "hashjoin", "mergejoin")
        ),
    ]
)


#: No ledger statement waits longer (a row lock held elsewhere, a stalled disk): the RabbitMQ
#: consumer's thread writes success marks, and its connection's heartbeats wait meanwhile.
#: A statement cut off is an error like any other; its marks are tried again.
STATEMENT_TIMEOUT_MS = 10_000


def _connect(durable: bool) -> psycopg.Connection[Any]:
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
        conn = _connect(durable)
        if durable:
            _pg.safe = conn
        else:
            _pg.fast = conn
    return conn


class _BatchConnection:
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
            conn = _connect(self._durable)  # a forked process gets its own
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


def _execute(sql: str, params: dict[str, Any], *, durable: bool = True) -> Sequence[Any] | None:
    """Run one statement; return the first row if it returns any."""
    if get_engine().dialect.name != "postgresql":
        with get_engine().begin() as conn:
            result = conn.execute(text(sql), params)
            return result.first() if result.returns_rows else None
    for attempt in range(2):
        pg = _pg_connection(durable)
        try:
            cursor = pg.execute(psycopg_sql(sql), params)
            return cursor.fetchone() if cursor.description else None
        except psycopg.OperationalError:
            pg.close()  # the server restarted or the socket died: reconnect once
            if attempt:
                raise
    return None


def _run_starts(batch: list[Pending]) -> None:
    """Mark a batch of deliveries in one statement (asynchronous commit)."""
    params = {**batch[0].params, "ids": [item.params["id"] for item in batch], "redelivered": False}
    rows = _start_batches.run(params)
    by_id = {
        job_id: (status, int(attempts), int(deliveries), int(business_id))  # type: ignore[arg-type]
        for job_id, status, attempts, deliveries, business_id in rows
    }
    for item in batch:
        item.result = by_id.pop(item.params["id"], None)  # a duplicate delivery gets None


def _succeed_many(outcomes: Sequence[dict[str, Any]]) -> None:
    """Mark successes in one statement, committed before any of them is acked.

    The same statement reads the recent cancellations: what lets first deliveries start
    without a round trip of their own (``inflight.py``).
    """
    now = max(outcome["now"] for outcome in outcomes)
    params: dict[str, Param] = {
        "now": now,
        "since": now - CANCELLATION_LOOKBACK,
        "ids": [outcome["id"] for outcome in outcomes],
        "started": [(outcome["started"] or now).isoformat() for outcome in outcomes],
        "fast": ["t" if outcome["fast"] else "f" for outcome in outcomes],
    }
    read_at = time.monotonic()
    rows = _success_batches.run(params)
    inflight.learn_cancellations([str(row[0]) for row in rows], read_at=read_at)


def _run_successes(batch: list[Pending]) -> None:
    _succeed_many([item.params for item in batch])


# Two kinds of batch, each with its own connection: a thread about to run a job waits only for
# delivery marks, never behind the synchronous commit of others' successes.
_start_batches = _BatchConnection(_START_MANY, durable=False)
_success_batches = _BatchConnection(_SUCCEED_MANY, durable=True)
# Successes go through a group commit only where no RabbitMQ consumer writes them (the
# in-process broker); under load a batch waits up to 1 ms for six there.
_coalescers = {
    "start": Coalescer(_run_starts),
    "succeed": Coalescer(_run_successes, linger_s=0.001, fill=6),
}


def _submit(op: str, sql: str, params: dict[str, Any], *, durable: bool) -> Sequence[Any] | None:
    """Coalesce on PostgreSQL; elsewhere run the single statement."""
    if get_engine().dialect.name != "postgresql":
        return _execute(sql, params, durable=durable)
    try:
        return _coalescers[op].submit(op, params)  # type: ignore[no-any-return]
    except psycopg.OperationalError:
        # The server restarted: drop this thread's connections and write it directly.
        _close_thread_connections()
        return _execute(sql, params, durable=durable)


def _close_thread_connections() -> None:
    for conn in (_pg.fast, _pg.safe):
        if conn is not None:
            conn.close()


def close_connections() -> None:
    """Close the batches' connections and this thread's (the database changed: tests)."""
    _start_batches.close()
    _success_batches.close()
    _close_thread_connections()


def database_unavailable(exc: BaseException) -> bool:
    """PostgreSQL was not reached or gave up on the statement (a lost connection, a timeout):
    no fault of the rows it was given, so writing them one at a time would not help."""
    return isinstance(exc, psycopg.OperationalError)


def describe_error(exc: BaseException) -> str:
    """A short, secret-free description of an exception for the ledger and the logs."""
    return redact(f"{type(exc).__name__}: {exc}")[:1000]


def start_fast(job_id: str) -> bool:
    """Start a first delivery with no round trip if this process may (see ``inflight.py``).

    Only on PostgreSQL, whose batches keep the knowledge of cancellations fresh.
    """
    if get_engine().dialect.name != "postgresql":
        return False
    return inflight.try_fast_start(job_id, utcnow())


def mark_started(job_id: str, *, max_unfinished: int, redelivered: bool = False) -> Started | None:
    """Record a delivery; None if the job is unknown or already final (skip it).

    ``redelivered``: the broker delivered this message before (the worker died or lost its
    connection), maybe on the fast path, which recorded nothing; that delivery counts too.
    """
    poison = (
        f"dead-lettered: delivered more than {max_unfinished} times without finishing "
        "(the worker crashed or was killed while running it)"
    )
    params = {
        "id": job_id,
        "max": max_unfinished,
        "now": utcnow(),
        "poison": poison,
        "redelivered": redelivered,
    }
    if redelivered:  # rare (crash recovery): one statement of its own
        row = _execute(_START, params, durable=False)
    else:
        row = _submit("start", _START, params, durable=False)
    return Started(row[0], row[1], row[2], row[3]) if row else None


def _outcome_params(job_id: str) -> dict[str, Any]:
    fast = inflight.finish(job_id)
    started = fast.started_at if fast else None
    return {"id": job_id, "now": utcnow(), "fast": fast is not None, "started": started}


def mark_succeeded(job_id: str) -> None:
    """The job's actor returned."""
    _submit("succeed", _SUCCEED, _outcome_params(job_id), durable=True)


def success_outcome(job_id: str) -> dict[str, Any]:
    """The job's actor returned: what :func:`mark_succeeded_many` records, taken now."""
    return _outcome_params(job_id)


def mark_succeeded_many(outcomes: Sequence[dict[str, Any]]) -> None:
    """Record several :func:`success_outcome` results: one statement on PostgreSQL."""
    if not outcomes:
        return
    if get_engine().dialect.name != "postgresql":
        for outcome in outcomes:
            _execute(_SUCCEED, outcome)
        return
    _succeed_many(outcomes)


def mark_failed(job_id: str, error: str, *, status: str) -> None:
    """The actor raised: ``queued`` (retry scheduled), ``failed``, ``dead`` or ``cancelled``."""
    params = _outcome_params(job_id)
    finished: datetime | None = None if status == "queued" else params["now"]
    _execute(_FAIL, {**params, "status": status, "error": error, "finished": finished})


def forget_started(job_id: str) -> None:
    """A fast-path start that will not run after all (skipped): forget it."""
    inflight.finish(job_id)


def mark_running_due(job_id: str | None = None) -> int:
    """Mark fast-path jobs running past ``RUNNING_AFTER_S`` (or ``job_id`` now) as running.

    Called from Dramatiq's consumer loop and before a fast-path job reports progress.
    """
    due = inflight.due_running(job_id)
    if not due:
        return 0
    ids = [key for key, _ in due]
    params = {"ids": ids, "started": [started for _, started in due], "now": utcnow()}
    try:
        _execute(_MARK_RUNNING, params)
    except Exception:
        inflight.unclaim(ids)
        raise
    return len(due)


@contextmanager
def running_mark(job_id: str | None) -> Iterator[tuple[str, datetime] | None]:
    """Claim ``job_id``'s running mark, if its fast start still owes one, for the caller to
    write in a statement of its own (the same ``UPDATE`` as :func:`mark_running_due`); it is
    claimed again later if the block fails."""
    due = inflight.due_running(job_id) if job_id is not None else []
    try:
        yield due[0] if due else None
    except BaseException:
        inflight.unclaim([key for key, _ in due])
        raise


def mark_dead(job_id: str, error: str) -> None:
    """Dead-letter a job that never ran (expired before a worker reached it)."""
    _execute(_KILL, {"id": job_id, "error": error, "now": utcnow()})


def status_of(job_id: str) -> str | None:
    """The job's status, or None if the ledger has no such job."""
    row = _execute(_STATUS, {"id": job_id})
    return str(row[0]) if row else None


def record_progress(job_id: str, progress: float, message: str | None) -> bool:
    """Store progress for a running job; False if it is no longer running (cancelled)."""
    mark_running_due(job_id)  # a fast-path job's row is still queued
    params = {"id": job_id, "progress": progress, "message": message, "now": utcnow()}
    return _execute(_PROGRESS, params) is not None
