"""Parked jobs are looked up by index probes, never read whole: the SQL enqueue looks once
per queue of its batch, and the sweep lists the (business, queue) pairs that have some by
skipping through the index. Neither costs more with a bigger backlog.

``switchboard_enqueue_jobs`` (0022) asked, for each job of a batch, ``EXISTS`` (a job of the
business parked in the job's queue). PostgreSQL may plan a correlated ``EXISTS`` in a select
list as a *hashed* subplan, and does when the backlog is small as the plan is made (a
connection keeps its functions' plans until the next ``ANALYZE``): it reads every queued job of
the business to build a hash of their queues, then looks each job up in it. Under a flood,
every batch of webhooks then read the whole backlog of its business: 52,000 parked rows, 22 ms
of a 44-message batch's 35 ms, and more with every message parked. Now each distinct queue
of the batch is probed once, with a ``LATERAL … LIMIT 1`` on ``ix_jobs_parked`` (no
``EXISTS`` to hash), and so are the business's slots and limit.

The result rows are no longer matched job by job to their outbox rows (with hash joins off,
``db/planner.py``, a nested loop over both: n² for ``enqueue_many``'s 500): the outbox rows
and the parked jobs are returned side by side. Callers match rows by job id, not by order.

``switchboard_sweep_slots`` (0022), once a second in every worker process, listed the pairs
with parked jobs with ``SELECT DISTINCT`` over every parked job: 64 ms with 99,000 parked (the
whole sweep: 49 ms, now 0.7 ms). It now walks ``ix_jobs_parked`` from one pair to the next (a
recursive query, one probe per pair). Its other two statements read ``jobs`` by key too: as
planned with the server's defaults, finding the jobs of expired reservations walked every
queued job even when none had expired, and freeing the slots of finished jobs could hash
every finished job.

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-05
"""

import importlib
from collections.abc import Sequence
from types import ModuleType

from alembic import op

from switchboard.common.db.planner import function_settings

revision: str = "0024"
down_revision: str | None = "0023"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The same rule as 0022's: a job is parked when its business has jobs parked in its queue
# (they go first), or holds its limit of slots there counting the batch's own earlier jobs.
CREATE_ENQUEUE = """
CREATE OR REPLACE FUNCTION switchboard_enqueue_jobs(
    p_business_id bigint, p_now timestamptz, p_ids text[], p_queue_names text[],
    p_actor_names text[], p_max_retries integer[], p_messages text[],
    p_dedup_keys text[] DEFAULT NULL, p_dedup_window_keys text[] DEFAULT NULL,
    p_run_ids bigint[] DEFAULT NULL
) RETURNS TABLE (out_job_id text, out_outbox_id bigint, out_payload text)
LANGUAGE plpgsql VOLATILE SECURITY INVOKER AS $fn$
BEGIN
    RETURN QUERY
    WITH u AS (
        SELECT * FROM unnest(p_ids, p_queue_names, p_actor_names, p_max_retries, p_messages,
                             p_dedup_keys, p_dedup_window_keys, p_run_ids) WITH ORDINALITY
             AS u(id, queue_name, actor_name, max_retries, message, dedup_key,
                  dedup_window_key, run_id, n)
    ), queue AS MATERIALIZED (  -- once per queue of the batch, not per job
        SELECT q.queue_name, parked.found IS NOT NULL AS has_parked,
               (SELECT count(*) FROM job_slots s WHERE s.business_id = p_business_id
                AND s.queue_name = q.queue_name) AS held,
               switchboard_slot_limit(p_business_id, q.queue_name, NULL) AS max_running
        FROM (SELECT DISTINCT u.queue_name FROM u) AS q
        LEFT JOIN LATERAL (
            SELECT 1 AS found FROM jobs w WHERE w.queue_name = q.queue_name
            AND w.business_id = p_business_id AND w.parked_at IS NOT NULL
            AND w.status = 'queued' LIMIT 1
        ) AS parked ON true
    ), job AS (
        INSERT INTO jobs AS j (id, business_id, queue_name, actor_name, status, attempts,
            deliveries, failures, max_retries, run_id, dedup_key, dedup_window_key, message,
            enqueued_at, updated_at, parked_at)
        SELECT u.id, p_business_id, u.queue_name, u.actor_name, 'queued', 0, 0, 0,
               u.max_retries, u.run_id, u.dedup_key, u.dedup_window_key, u.message,
               p_now, p_now,
               CASE WHEN queue.has_parked
                    OR queue.held + row_number() OVER (PARTITION BY u.queue_name ORDER BY u.n)
                       > queue.max_running
               THEN p_now END
        FROM u JOIN queue ON queue.queue_name = u.queue_name
        ON CONFLICT DO NOTHING  -- a live job with the key, or the key's window, exists
        RETURNING j.id, j.queue_name, j.message, j.parked_at
    ), outbox_row AS (
        INSERT INTO outbox AS o (business_id, job_id, queue_name, payload, created_at)
        SELECT p_business_id, job.id, job.queue_name, job.message, p_now FROM job
        WHERE job.parked_at IS NULL
        RETURNING o.job_id, o.id, o.payload
    )
    SELECT o.job_id::text, o.id, o.payload FROM outbox_row AS o
    UNION ALL
    SELECT job.id::text, NULL::bigint, NULL::text FROM job WHERE job.parked_at IS NOT NULL;
END
$fn$
"""


def _fair_share() -> ModuleType:
    return importlib.import_module("switchboard.common.migrations.versions.0022_fair_share_slots")


# 0022's sweep, with each of its reads of ``jobs`` a probe by key, so that the server's
# planner defaults (which it keeps, as 0022's does) cannot make it a scan: the expired
# reservations' jobs one by one by id (a join could walk every queued job to find none); a slot's
# job by its id (an ``EXISTS`` can become a hashed subplan over every finished job); the
# pairs with parked jobs by skipping from one to the next in ``ix_jobs_parked``
# (queue_name, business_id, …).
CREATE_SWEEP = f"""
CREATE OR REPLACE FUNCTION switchboard_sweep_slots(p_fresh_since timestamptz,
                                                   p_reserved_since timestamptz,
                                                   p_defaults jsonb)
RETURNS TABLE (woken_job text, woken_message text) LANGUAGE plpgsql
{_fair_share().PLANNER_DEFAULTS} AS $$
DECLARE
    r record;
    v_job text;
BEGIN
    FOR v_job IN DELETE FROM job_slots s
                 WHERE s.worker_id IS NULL AND s.taken_at < p_reserved_since
                 RETURNING s.job_id LOOP
        UPDATE jobs SET parked_at = now()
        WHERE jobs.id = v_job AND jobs.status = 'queued' AND jobs.parked_at IS NULL;
    END LOOP;
    DELETE FROM job_slots s
    WHERE (s.worker_id IS NOT NULL AND NOT EXISTS (
            SELECT 1 FROM worker_heartbeats h
            WHERE h.id = s.worker_id AND h.beat_at > p_fresh_since))
       OR (SELECT j.status FROM jobs j WHERE j.id = s.job_id)
          IN ('succeeded', 'failed', 'dead', 'cancelled');
    FOR r IN WITH RECURSIVE pair AS (
                 (SELECT j.queue_name, j.business_id FROM jobs j
                  WHERE j.parked_at IS NOT NULL AND j.status = 'queued'
                  ORDER BY j.queue_name, j.business_id LIMIT 1)
                 UNION ALL
                 SELECT next.queue_name, next.business_id
                 FROM pair, LATERAL (
                     SELECT j.queue_name, j.business_id FROM jobs j
                     WHERE j.parked_at IS NOT NULL AND j.status = 'queued'
                     AND (j.queue_name, j.business_id) > (pair.queue_name, pair.business_id)
                     ORDER BY j.queue_name, j.business_id LIMIT 1
                 ) AS next
             )
             SELECT pair.business_id, pair.queue_name FROM pair LOOP
        RETURN QUERY SELECT * FROM switchboard_wake_parked(r.business_id, r.queue_name,
                                                           p_defaults);
    END LOOP;
END
$$
"""


def _create_enqueue(sql: str) -> None:
    op.execute(sql)
    op.execute(f"ALTER FUNCTION switchboard_enqueue_jobs {function_settings()}")


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        _create_enqueue(CREATE_ENQUEUE)
        op.execute(CREATE_SWEEP)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        _create_enqueue(_fair_share().CREATE_ENQUEUE)
        op.execute(_fair_share()._SWEEP)
