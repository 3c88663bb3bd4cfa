"""The job ledger's state transitions, each one statement and one round trip.

The worker's middleware calls these on every message, so on PostgreSQL they skip the ORM and
the pool. Concurrent threads' delivery marks are coalesced into one statement per batch (see
``coalesce.py``); success marks are written in batches by the RabbitMQ consumer's own thread,
before it acknowledges their messages (``consumer.py``; coalesced like deliveries elsewhere).
Each kind of batch runs on one connection per process, as a libpq prepared statement
(``db/libpq.py``); the rarer single statements share a few connections per process
(``ledger_connections.py``). The statements themselves: ``ledger_statements.py``.
Delivery marks commit asynchronously (``synchronous_commit=off``: a PostgreSQL crash may
forget the last few hundred milliseconds of them, which only weakens poison detection for
those messages); outcomes commit synchronously before the message is acknowledged. SQLite
(embedded mode) goes through SQLAlchemy. Tenant-facing reads and cancellation: ``service.py``.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from traceback import format_exception
from typing import Any, Protocol

import psycopg

from switchboard.common.db.base import utcnow
from switchboard.common.db.engine import get_engine
from switchboard.common.db.libpq import Param
from switchboard.common.logging import get_logger, scrub
from switchboard.worker.runtime.coalesce import Coalescer, Pending
from switchboard.worker.runtime.heartbeat import worker_identity
from switchboard.worker.runtime.inflight import inflight
from switchboard.worker.runtime.ledger_connections import (
    BatchConnection,
    close_idle_connections,
    execute,
)
from switchboard.worker.runtime.ledger_statements import (
    CANCEL_REQUESTED,
    FAIL,
    HOLDER,
    KILL,
    MARK_RUNNING,
    PROGRESS,
    START,
    START_AGAIN,
    START_MANY,
    STATUS,
    SUCCEED,
    SUCCEED_MANY,
)

log = get_logger("switchboard.jobs")

#: How much of a traceback the ledger keeps (the innermost frames).
_TRACEBACK_CHARS = 4000

#: Dramatiq's time limit for an actor that sets none (``TimeLimit``'s default: 10 minutes).
DEFAULT_TIME_LIMIT_S = 600.0

#: How far back each batch reads cancellations: covers clock differences between hosts and
#: transactions that set ``updated_at`` before they committed.
CANCELLATION_LOOKBACK = timedelta(seconds=30)


@dataclass(frozen=True)
class Started:
    """The ledger's answer to a delivery: run it (``running``), dead-letter it (``dead``), end
    it (``cancelled``), leave it to the execution still running on ``worker_id`` (``busy``), or
    run it alone first: it takes over an execution whose worker died (``alone``, nothing
    recorded).
    """

    status: str
    attempts: int
    deliveries: int
    business_id: int
    worker_id: str | None = None
    #: Executions started and not finished, this one included (a redelivery's start only):
    #: more than one means an earlier execution died with its worker.
    unfinished: int = 0

    @property
    def taken_over(self) -> bool:
        return self.status == "running" and self.unfinished > 1


def _run_starts(batch: list[Pending]) -> None:
    """Mark a batch of first deliveries in one statement (asynchronous commit)."""
    params = {**batch[0].params, "ids": [item.params["id"] for item in batch]}
    rows = _start_batches.run(params)
    by_id = {
        job_id: (status, int(attempts), int(deliveries), int(business_id))  # type: ignore[arg-type]
        for job_id, status, attempts, deliveries, business_id in rows
    }
    for item in batch:
        item.result = by_id.pop(item.params["id"], None)  # a duplicate delivery gets None


def _succeed_many(outcomes: Sequence[dict[str, Any]]) -> None:
    """Mark successes in one statement, committed before any of them is acked.

    The same statement reads the recent cancellations, what lets first deliveries start
    without a round trip of their own (``inflight.py``), and frees the jobs' fair-share slots
    (:data:`slot_release`).
    """
    now = max(outcome["now"] for outcome in outcomes)
    ids = [outcome["id"] for outcome in outcomes]
    release = slot_release.held(ids) if slot_release is not None else None
    params: dict[str, Param] = {
        "now": now,
        "since": now - CANCELLATION_LOOKBACK,
        "ids": ids,
        "started": [(outcome["started"] or now).isoformat() for outcome in outcomes],
        "fast": ["t" if outcome["fast"] else "f" for outcome in outcomes],
        "release": release[0] if release else [],
        "defaults": release[1] if release else "{}",
    }
    read_at = time.monotonic()
    rows = _success_batches.run(params)
    cancelled = [str(value) for kind, value in rows if kind == "cancelled"]
    inflight.learn_cancellations(cancelled, read_at=read_at)
    woken = [str(value) for kind, value in rows if kind == "woken"]
    if woken and slot_release is not None:
        slot_release.publish(woken)
    unrecorded = [str(value) for kind, value in rows if kind == "unrecorded"]
    if unrecorded:  # a bug of ours: nothing runs these jobs again
        log.error("jobs.success_unrecorded", job_ids=unrecorded[:10], jobs=len(unrecorded))


class SlotRelease(Protocol):
    """Fair share's part in a success batch (``fair_share.py``)."""

    def held(self, job_ids: Sequence[str]) -> tuple[list[str], str] | None:
        """Of the batch's jobs, those whose slots it frees, and the deployment's limits
        (JSON) for the parked jobs they wake; None while fair share does not apply."""

    def publish(self, woken: list[str]) -> None:
        """Publish the woken jobs (their stored messages); never raises."""


#: Set by ``fair_share.py`` when it is imported.
slot_release: SlotRelease | None = None


def _run_successes(batch: list[Pending]) -> None:
    _succeed_many([item.params for item in batch])


# Two kinds of batch, each with its own connection: a thread about to run a job waits only for
# delivery marks, never behind the synchronous commit of others' successes.
_start_batches = BatchConnection(START_MANY, durable=False)
_success_batches = BatchConnection(SUCCEED_MANY, durable=True)
# Successes go through a group commit only where no RabbitMQ consumer writes them (the
# in-process broker); under load a batch waits up to 1 ms for six there.
_coalescers = {
    "start": Coalescer(_run_starts),
    "succeed": Coalescer(_run_successes, linger_s=0.001, fill=6),
}


def _submit(op: str, sql: str, params: dict[str, Any], *, durable: bool) -> Sequence[Any] | None:
    """Coalesce on PostgreSQL; elsewhere run the single statement."""
    if get_engine().dialect.name != "postgresql":
        return execute(sql, params, durable=durable)
    try:
        return _coalescers[op].submit(op, params)  # type: ignore[no-any-return]
    except psycopg.OperationalError:
        # The server restarted: drop the idle connections and write it directly.
        close_idle_connections()
        return execute(sql, params, durable=durable)


def close_connections() -> None:
    """Close the batches' connections and the idle single ones (the database changed: tests)."""
    _start_batches.close()
    _success_batches.close()
    close_idle_connections()


def database_unavailable(exc: BaseException) -> bool:
    """PostgreSQL was not reached or gave up on the statement (a lost connection, a timeout):
    no fault of the rows it was given, so writing them one at a time would not help."""
    return isinstance(exc, psycopg.OperationalError)


def describe_error(exc: BaseException) -> str:
    """A short description of an exception for the ledger and the logs, with secrets and
    personal data masked (``scrub``)."""
    return scrub(f"{type(exc).__name__}: {exc}")[:1000]


def describe_traceback(exc: BaseException) -> str:
    """The exception's traceback for the ledger (its innermost frames, if long), masked."""
    text = "".join(format_exception(exc)).rstrip()
    return scrub(text if len(text) <= _TRACEBACK_CHARS else "…" + text[-_TRACEBACK_CHARS:])


def start_fast(job_id: str) -> bool:
    """Start a first delivery with no round trip if this process may (see ``inflight.py``).

    Only on PostgreSQL, whose batches keep the knowledge of cancellations fresh.
    """
    if get_engine().dialect.name != "postgresql":
        return False
    return inflight.try_fast_start(job_id, utcnow())


def mark_started(
    job_id: str,
    *,
    max_unfinished: int,
    redelivered: bool = False,
    stale_after_s: float = 30.0,
    alone: bool = True,
    time_limit_s: float = DEFAULT_TIME_LIMIT_S,
) -> Started | None:
    """Record a delivery's start; None if the job is unknown or already final (skip it).

    A first delivery starts (coalesced with other threads' into one statement). A
    ``redelivered`` one (RabbitMQ delivered it before, or the outbox relay republished it) may
    duplicate an execution: while one runs on another worker whose heartbeat is younger than
    ``stale_after_s``, the answer is ``busy``; otherwise it takes the job over, and once more
    than ``max_unfinished`` executions started and never finished (their worker died), the
    job is ``dead`` instead. Deliveries that never started are not counted. A delivery not
    running ``alone`` in its process takes nothing over: the answer is ``alone``, and it
    records its start once it runs alone (the worker's solo gate). An execution that started
    more than ``time_limit_s`` (the actor's) and ``stale_after_s`` ago no longer runs, whatever
    its worker's heartbeat: it is taken over too.
    """
    now = utcnow()
    if not redelivered:
        row = _submit(
            "start", START, {"id": job_id, "now": now, "worker": worker_identity()}, durable=False
        )
        return Started(row[0], row[1], row[2], row[3]) if row else None
    poison = (
        f"dead-lettered: started {max_unfinished} times without finishing "
        "(its worker died each time: killed, out of memory, or crashed)"
    )
    params = {
        "id": job_id,
        "max": max_unfinished,
        "now": now,
        "poison": poison,
        "worker": worker_identity(),
        "fresh_since": now - timedelta(seconds=stale_after_s),
        "running_since": now - timedelta(seconds=time_limit_s + stale_after_s),
        "alone": alone,
    }
    row = execute(START_AGAIN, params, durable=False)  # rare: one statement of its own
    if row:
        return Started(row[0], row[1], row[2], row[3], unfinished=row[4])
    keys = ("id", "worker", "fresh_since", "running_since")
    holder = execute(HOLDER, {key: params[key] for key in keys})
    if holder is None or holder[0] != "running":
        return None
    # A delivery already alone gets ``busy`` if the row changed between the two statements.
    return Started("alone" if holder[5] and not alone else "busy", *holder[1:5])


def _outcome_params(job_id: str) -> dict[str, Any]:
    fast = inflight.finish(job_id)
    started = fast.started_at if fast else None
    return {"id": job_id, "now": utcnow(), "fast": fast is not None, "started": started}


def mark_succeeded(job_id: str) -> None:
    """The job's actor returned."""
    _submit("succeed", SUCCEED, _outcome_params(job_id), durable=True)


def success_outcome(job_id: str) -> dict[str, Any]:
    """The job's actor returned: what :func:`mark_succeeded_many` records, taken now."""
    return _outcome_params(job_id)


def mark_succeeded_many(outcomes: Sequence[dict[str, Any]]) -> None:
    """Record several :func:`success_outcome` results: one statement on PostgreSQL."""
    if not outcomes:
        return
    if get_engine().dialect.name != "postgresql":
        for outcome in outcomes:
            execute(SUCCEED, outcome)
        return
    _succeed_many(outcomes)


def failure_outcome(
    job_id: str, error: str, *, status: str, traceback: str | None = None
) -> dict[str, Any]:
    """The actor raised: what :func:`mark_outcomes` records, taken now. ``status``: ``queued``
    (retry scheduled), ``failed``, ``dead`` or ``cancelled``."""
    params = _outcome_params(job_id)
    finished: datetime | None = None if status == "queued" else params["now"]
    outcome = {"status": status, "error": error, "traceback": traceback, "finished": finished}
    return {**params, **outcome}


def expiry_outcome(job_id: str, error: str) -> dict[str, Any]:
    """A job that never ran is dead (it expired before a worker reached it): what
    :func:`mark_outcomes` records."""
    return {"id": job_id, "error": error, "now": utcnow(), "status": "dead", _NEVER_RAN: True}


#: Marks an outcome of a job that never ran (:func:`expiry_outcome`): ``KILL``, not ``FAIL``.
_NEVER_RAN = "never_ran"


def is_failure(outcome: dict[str, Any]) -> bool:
    """The outcome is not a success: one statement of its own (``mark_outcomes``)."""
    return "status" in outcome


def mark_outcomes(outcomes: Sequence[dict[str, Any]]) -> None:
    """Record outcomes (:func:`success_outcome`, :func:`failure_outcome`,
    :func:`expiry_outcome`): the successes in one statement, then each failure in its own."""
    mark_succeeded_many([outcome for outcome in outcomes if not is_failure(outcome)])
    for outcome in outcomes:
        if outcome.get(_NEVER_RAN):
            execute(KILL, {key: outcome[key] for key in ("id", "error", "now")})
        elif is_failure(outcome):
            execute(FAIL, outcome)


def mark_failed(job_id: str, error: str, *, status: str, traceback: str | None = None) -> None:
    """The actor raised: ``queued`` (retry scheduled), ``failed``, ``dead`` or ``cancelled``."""
    mark_outcomes([failure_outcome(job_id, error, status=status, traceback=traceback)])


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
    started = [at for _, at in due]
    params = {"ids": ids, "started": started, "now": utcnow(), "worker": worker_identity()}
    try:
        execute(MARK_RUNNING, params)
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
    mark_outcomes([expiry_outcome(job_id, error)])


def status_of(job_id: str) -> str | None:
    """The job's status, or None if the ledger has no such job."""
    row = execute(STATUS, {"id": job_id})
    return str(row[0]) if row else None


def record_progress(job_id: str, progress: float, message: str | None) -> bool:
    """Store progress for a running job; False if it was cancelled or asked to stop."""
    mark_running_due(job_id)  # a fast-path job's row is still queued
    params = {"id": job_id, "progress": progress, "message": message, "now": utcnow()}
    row = execute(PROGRESS, params)
    return row is not None and not row[0]


def cancel_requested(job_id: str) -> bool:
    """True if the job was cancelled, or asked to stop while it runs."""
    row = execute(CANCEL_REQUESTED, {"id": job_id})
    return row is not None and bool(row[0])
