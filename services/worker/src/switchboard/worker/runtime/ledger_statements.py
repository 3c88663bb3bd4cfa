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
# A redelivered message was delivered before; if that delivery took the fast path (nothing
# recorded, see ``inflight.py``), it is counted now, so poison detection still sees it.
_DELIVERIES = "(deliveries + CASE WHEN :redelivered AND deliveries <= failures THEN 2 ELSE 1 END)"
START = f"""
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
SUCCEED = f"""
    UPDATE jobs SET status = 'succeeded', progress = 1.0, {_FAST_OUTCOME}
        finished_at = :now, updated_at = :now
    WHERE id = :id AND {_RAN_HERE}
"""
FAIL = f"""
    UPDATE jobs SET status = :status, failures = failures + 1, last_error = :error,
        {_FAST_OUTCOME} finished_at = :finished, updated_at = :now
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
    {"ids": "text[]", "max": "int4", "now": "timestamptz", "poison": "text", "redelivered": "bool"},
)
SUCCEED_MANY = PreparedStatement(
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
MARK_RUNNING = f"""
    UPDATE jobs SET status = 'running', attempts = attempts + 1, deliveries = deliveries + 1,
        started_at = v.started, updated_at = :now
    FROM (SELECT unnest(CAST(:ids AS text[])) AS job_id,
                 unnest(CAST(:started AS timestamptz[])) AS started) AS v
    WHERE jobs.id = v.job_id AND {_QUEUED}
"""
STATUS = "SELECT status FROM jobs WHERE id = :id"
PROGRESS = (  # a fast-path job is marked running first (``record_progress``)
    "UPDATE jobs SET progress = :progress, progress_message = :message, updated_at = :now "
    f"WHERE id = :id AND {_RUNNING} RETURNING id"
)
