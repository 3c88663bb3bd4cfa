"""The job ledger's SQL: its state transitions, single and batched, each one statement.

``ledger.py`` runs them, through the connections of ``ledger_connections.py``.
"""

from __future__ import annotations

from switchboard.common.db.libpq import PreparedStatement
from switchboard.worker.runtime.inflight import MAX_KNOWN_CANCELLATIONS

# Every statement here finds its rows by primary key. A status test written as equality or
# ``IN`` would match the partial queue index's predicate (or lead the business/status index),
# and a planner with no fresh statistics (a new table, a backlog that grew since the last
# analyze) would then read every live job through it to find one. Said as "not one of the
# others", no index on status can serve it; the ledger's connections also rule out scans and
# hash joins (``ledger_connections.connect``), whatever the table's size was when a plan was
# cached.
_NOT_FINAL = "jobs.status NOT IN ('succeeded', 'failed', 'dead', 'cancelled')"  # queued, running
_QUEUED = "jobs.status NOT IN ('running', 'succeeded', 'failed', 'dead', 'cancelled')"
_RUNNING = "jobs.status NOT IN ('queued', 'succeeded', 'failed', 'dead', 'cancelled')"
# A job asked to stop while it ran (its worker died, or it failed and a retry was scheduled)
# is not run again: its delivery ends it ``cancelled``.
_STOPPED = "CASE WHEN cancel_requested THEN 'cancelled' ELSE 'running' END"
# A first delivery (not redelivered, not republished) follows no execution that may still run
# or that died: it starts. ``worker_id`` names the process, so a duplicate delivery of the job
# can tell whether this execution may still be running (``START_AGAIN``).
START = f"""
    UPDATE jobs SET
        status = {_STOPPED},
        attempts = CASE WHEN cancel_requested THEN attempts ELSE attempts + 1 END,
        finished_at = CASE WHEN cancel_requested THEN :now ELSE NULL END,
        deliveries = deliveries + 1, worker_id = :worker, started_at = :now, updated_at = :now
    WHERE id = :id AND {_NOT_FINAL}
    RETURNING status, attempts, deliveries, business_id
"""
# A redelivered or republished message may duplicate an execution. One still running on a live
# worker (the row is ``running`` and names another process whose heartbeat is fresh) is left
# alone: no row is returned. Otherwise the delivery starts, taking the job over, and counts the
# executions that started and never finished, this one included: ``deliveries - failures`` of
# a row that is not final. A ``queued`` row has none (a message that was only prefetched by a
# worker that died, or started on the fast path and died before its running mark, costs
# nothing); past ``:max`` the job is dead-lettered instead.
# An execution that started longer ago than its actor's time limit (and the heartbeat's
# staleness on top) no longer runs, though its worker lives: the worker lost its outcome mark
# (it stopped consuming while PostgreSQL refused it), so the row would otherwise say
# ``running`` for as long as that worker lives. It is taken over like a dead worker's.
_RUNS_ELSEWHERE = f"""({_RUNNING} AND jobs.started_at > :running_since AND EXISTS (
        SELECT 1 FROM worker_heartbeats AS h
        WHERE h.id = jobs.worker_id AND h.id <> :worker AND h.beat_at > :fresh_since))"""
# Taking over an execution that started and never finished (its worker died, or the row names
# this process) counts it; only a delivery running alone in its process may (``:alone``, the
# worker's solo gate), else a poison job running solo beside it could count it again.
_TAKES_OVER = f"({_RUNNING} AND deliveries > failures)"
_POISON = "NOT cancel_requested AND deliveries + 1 - failures > :max"
_ENDS = "(cancel_requested OR deliveries + 1 - failures > :max)"
START_AGAIN = f"""
    UPDATE jobs SET
        deliveries = deliveries + 1,
        status = CASE WHEN {_POISON} THEN 'dead' ELSE {_STOPPED} END,
        attempts = CASE WHEN {_ENDS} THEN attempts ELSE attempts + 1 END,
        finished_at = CASE WHEN {_ENDS} THEN :now ELSE NULL END,
        last_error = CASE WHEN {_POISON} THEN :poison ELSE last_error END,
        worker_id = :worker, started_at = :now, updated_at = :now
    WHERE id = :id AND {_NOT_FINAL} AND NOT {_RUNS_ELSEWHERE}
        AND (CAST(:alone AS boolean) OR NOT {_TAKES_OVER})
    RETURNING status, attempts, deliveries, business_id, deliveries - failures
"""
# Why ``START_AGAIN`` returned nothing: the job is final, unknown, still running elsewhere, or
# would be taken over (the last column) by a delivery not running alone.
HOLDER = f"""
    SELECT status, attempts, deliveries, business_id, worker_id,
           {_TAKES_OVER} AND NOT {_RUNS_ELSEWHERE}
    FROM jobs WHERE id = :id
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
# A succeeded job keeps no payload (its message: arguments, options); a failed, dead or
# cancelled one keeps it for a retry (``jobs.service.retry_job``), ids only.
SUCCEED = f"""
    UPDATE jobs SET status = 'succeeded', progress = 1.0, message = '', {_FAST_OUTCOME}
        finished_at = :now, updated_at = :now
    WHERE id = :id AND {_RAN_HERE}
"""
# A failed attempt of a job asked to stop ends it ``cancelled`` rather than ``queued`` for a retry.
_STOPS = "(cancel_requested AND :status = 'queued')"
# A job queued again (a retry) has no worker until its next start.
FAIL = f"""
    UPDATE jobs SET status = CASE WHEN {_STOPS} THEN 'cancelled' ELSE :status END,
        failures = failures + 1, last_error = :error, last_traceback = :traceback,
        {_FAST_OUTCOME} finished_at = CASE WHEN {_STOPS} THEN :now ELSE :finished END,
        updated_at = :now,
        worker_id = CASE WHEN :status = 'queued' THEN NULL ELSE jobs.worker_id END
    WHERE id = :id AND {_RAN_HERE}
"""
KILL = (
    "UPDATE jobs SET status = 'dead', last_error = :error, finished_at = :now, updated_at = :now "
    f"WHERE id = :id AND {_NOT_FINAL}"
)
# Batches name their jobs through ``unnest``: a nested loop of primary-key lookups. Their ids
# are a parameter, so PostgreSQL would plan each execution anew (planning the join costs it
# ~0.6 ms, twice executing it); the ledger's connections reuse one generic plan instead.
_BY_IDS = "FROM (SELECT unnest(CAST(:ids AS text[])) AS job_id) AS v WHERE jobs.id = v.job_id"
START_MANY = PreparedStatement(
    "switchboard_ledger_start_many",
    START.replace("WHERE id = :id AND", f"{_BY_IDS} AND").replace(
        "RETURNING status,", "RETURNING jobs.id, status,"
    ),
    {"ids": "text[]", "now": "timestamptz", "worker": "text"},
)
# A success batch also frees the slots its jobs held under fair share (``:release``, none while
# it is off: the function is then not called) and returns the parked jobs they wake (migration
# 0022's ``switchboard_release_slots``), each row ``('cancelled', id)`` or ``('woken', message)``.
# A success that matched no row although the job is not final (a ``queued`` row with no fast
# start known for it: the job would stay queued for good, its message acknowledged) comes back
# as ``('unrecorded', id)``: its row as the statement found it, before the update.
# The slots go in the successes' transaction: no statement and commit of their own per batch.
# Their advisory locks are taken after the successes' row locks, so a take of a slot for one of
# these very jobs at that moment (a duplicate delivery, parked under its lock) can deadlock
# with it; PostgreSQL ends one side within ``deadlock_timeout`` and either failure is safe: the
# batch is written again, and a take that fails lets the duplicate through to the ledger,
# which skips it as final.
SUCCEED_MANY = PreparedStatement(
    "switchboard_ledger_succeed_many",
    f"""
    WITH done AS (
        UPDATE jobs SET status = 'succeeded', progress = 1.0, message = '',
            {_fast_outcome("v.fast", "v.started")}
            finished_at = :now, updated_at = :now
        FROM (SELECT unnest(CAST(:ids AS text[])) AS job_id,
                     unnest(CAST(:started AS timestamptz[])) AS started,
                     unnest(CAST(:fast AS boolean[])) AS fast) AS v
        WHERE jobs.id = v.job_id AND {_NOT_FINAL} AND (v.fast OR jobs.status <> 'queued')
        RETURNING jobs.id
    )
    (SELECT 'cancelled', id FROM jobs WHERE status = 'cancelled' AND updated_at > :since
     LIMIT {MAX_KNOWN_CANCELLATIONS + 1})
    UNION ALL
    SELECT 'unrecorded', jobs.id
    FROM (SELECT unnest(CAST(:ids AS text[])) AS job_id) AS v, jobs
    WHERE jobs.id = v.job_id AND {_NOT_FINAL} AND jobs.id NOT IN (SELECT id FROM done)
    UNION ALL
    SELECT 'woken', w.woken_message
    FROM (SELECT WHERE cardinality(:release) > 0) AS freeing,
         LATERAL switchboard_release_slots(:release, :defaults) AS w
    """,
    {
        "ids": "text[]",
        "started": "timestamptz[]",
        "fast": "bool[]",
        "now": "timestamptz",
        "since": "timestamptz",
        "release": "text[]",
        "defaults": "jsonb",
    },
)
# Fast-path jobs still running after a moment, marked so the ledger shows them.
MARK_RUNNING = f"""
    UPDATE jobs SET status = 'running', attempts = attempts + 1, deliveries = deliveries + 1,
        worker_id = :worker, started_at = v.started, updated_at = :now
    FROM (SELECT unnest(CAST(:ids AS text[])) AS job_id,
                 unnest(CAST(:started AS timestamptz[])) AS started) AS v
    WHERE jobs.id = v.job_id AND {_QUEUED}
"""
STATUS = "SELECT status FROM jobs WHERE id = :id"
CANCEL_REQUESTED = "SELECT status = 'cancelled' OR cancel_requested FROM jobs WHERE id = :id"
PROGRESS = (  # a fast-path job is marked running first (``record_progress``)
    "UPDATE jobs SET progress = :progress, progress_message = :message, updated_at = :now "
    f"WHERE id = :id AND {_RUNNING} RETURNING cancel_requested"
)
# A worker process's heartbeat, one statement (``heartbeat.py``).
BEAT = """
    INSERT INTO worker_heartbeats
        (id, queues, started_at, beat_at, jobs_processed, threads, worker_threads)
    VALUES (:id, :queues, :started, :now, :processed, :threads, :worker_threads)
    ON CONFLICT (id) DO UPDATE SET queues = excluded.queues, started_at = excluded.started_at,
        beat_at = excluded.beat_at, threads = excluded.threads,
        worker_threads = excluded.worker_threads,
        jobs_processed = worker_heartbeats.jobs_processed + excluded.jobs_processed
"""
