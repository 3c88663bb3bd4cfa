"""Fair share between businesses: per-business slots per queue, parked jobs, overrides.

- ``job_slots``: one row per job holding (or reserved for) one of its business's slots in
  its queue, naming the worker process that runs it (NULL: reserved for a parked job just
  published again, not yet started).
- ``jobs.parked_at``: set while a job waits for a slot with no message in the broker; a
  partial index finds a business's oldest parked jobs in a queue.
- ``businesses.job_concurrency``: the business's own limits by queue (``{"analysis": 2}``),
  over the deployment's (``JOB_BUSINESS_CONCURRENCY``…).
- ``job_limit_defaults``: the deployment's limits by queue (``*``: every other queue), as the
  workers write them when they start, for SQL that has no settings (the WhatsApp insert).

On PostgreSQL, four functions do the work under a transaction-level advisory lock per
(business, queue), so a slot is never taken twice and a released slot never misses a parked
job (``worker/runtime/fair_share.py`` calls them): ``switchboard_take_slot``,
``switchboard_wake_parked``, ``switchboard_release_slots`` and ``switchboard_sweep_slots``.
The limit of a business in a queue: its own, else ``p_defaults ->> queue``, else
``p_defaults ->> '*'``. ``switchboard_enqueue_jobs`` (0010) parks a job whose business has
jobs parked in its queue, returning it without an outbox row.

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-04
"""

import importlib
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from switchboard.common.db.rls import secure_new_table_sql
from switchboard.common.settings import get_settings

revision: str = "0022"
down_revision: str | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_PARKED = sa.text("parked_at IS NOT NULL AND status = 'queued'")

_LOCK = "PERFORM pg_advisory_xact_lock(hashtextextended({queue}, {business}))"

# ``p_defaults`` NULL (the SQL enqueue, which has no settings): the deployment's limits as the
# workers last wrote them (``job_limit_defaults``; none while fair share is off).
_LIMIT = """
CREATE OR REPLACE FUNCTION switchboard_slot_limit(p_business bigint, p_queue text,
                                                  p_defaults jsonb)
RETURNS integer LANGUAGE sql STABLE AS $$
    SELECT COALESCE(
        (SELECT (job_concurrency ->> p_queue)::integer FROM businesses WHERE id = p_business),
        (p_defaults ->> p_queue)::integer,
        (p_defaults ->> '*')::integer,
        (SELECT d.max_running FROM job_limit_defaults d WHERE d.queue_name = p_queue),
        (SELECT d.max_running FROM job_limit_defaults d WHERE d.queue_name = '*'))
$$
"""

# A delivery takes a slot of its business in its queue: ``taken``, or ``contended`` when that
# was the business's last free slot or it has jobs parked (the slot is freed as soon as the
# job ends, so the next one starts at once); or it finds its own slot held by a live worker
# (a duplicate): ``held``; or the business is at its limit and the job
# is parked (its message is acknowledged unrun; a released slot publishes it again):
# ``parked``; or the job is final or unknown: ``final`` (the ledger skips it). A job taken
# over from a dead worker (its row says running) takes a slot even at the limit.
_TAKE = f"""
CREATE OR REPLACE FUNCTION switchboard_take_slot(
    p_job text, p_business bigint, p_queue text, p_worker text, p_defaults jsonb,
    p_fresh_since timestamptz, p_message text)
RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    v_holder text;
    v_status text;
    v_held integer;
    v_limit integer;
BEGIN
    {_LOCK.format(queue="p_queue", business="p_business")};
    SELECT worker_id INTO v_holder FROM job_slots WHERE job_id = p_job;
    IF FOUND THEN
        IF v_holder IS NOT NULL AND (v_holder = p_worker OR EXISTS (
                SELECT 1 FROM worker_heartbeats h
                WHERE h.id = v_holder AND h.beat_at > p_fresh_since)) THEN
            RETURN 'held';
        END IF;
        UPDATE job_slots SET worker_id = p_worker, taken_at = now() WHERE job_id = p_job;
        RETURN 'contended';
    END IF;
    v_held := (SELECT count(*) FROM job_slots
               WHERE business_id = p_business AND queue_name = p_queue);
    v_limit := switchboard_slot_limit(p_business, p_queue, p_defaults);
    IF v_held < v_limit THEN
        INSERT INTO job_slots (job_id, business_id, queue_name, worker_id, taken_at)
        VALUES (p_job, p_business, p_queue, p_worker, now());
        IF v_held + 1 >= v_limit OR EXISTS (
                SELECT 1 FROM jobs j WHERE j.queue_name = p_queue AND j.business_id = p_business
                AND j.parked_at IS NOT NULL AND j.status = 'queued') THEN
            RETURN 'contended';
        END IF;
        RETURN 'taken';
    END IF;
    UPDATE jobs SET parked_at = now(), updated_at = now(), message = COALESCE(p_message, message)
    WHERE id = p_job AND status = 'queued';
    IF FOUND THEN
        RETURN 'parked';
    END IF;
    SELECT status INTO v_status FROM jobs WHERE id = p_job;
    IF v_status = 'running' THEN
        INSERT INTO job_slots (job_id, business_id, queue_name, worker_id, taken_at)
        VALUES (p_job, p_business, p_queue, p_worker, now());
        RETURN 'contended';
    END IF;
    RETURN 'final';
END
$$
"""

# Publish again the oldest parked jobs of a business in a queue, as many as it has free
# slots: each gets a reserved slot and is returned for the caller to publish. A caller that
# dies before publishing leaves a reservation the sweep expires: the job is parked again.
_WAKE = f"""
CREATE OR REPLACE FUNCTION switchboard_wake_parked(p_business bigint, p_queue text,
                                                   p_defaults jsonb)
RETURNS TABLE (woken_job text, woken_message text) LANGUAGE plpgsql AS $$
DECLARE
    v_free integer;
BEGIN
    {_LOCK.format(queue="p_queue", business="p_business")};
    v_free := switchboard_slot_limit(p_business, p_queue, p_defaults) - (
        SELECT count(*) FROM job_slots WHERE business_id = p_business AND queue_name = p_queue);
    IF v_free IS NULL OR v_free <= 0 THEN
        RETURN;
    END IF;
    RETURN QUERY
    WITH next AS (
        SELECT j.id FROM jobs j
        WHERE j.business_id = p_business AND j.queue_name = p_queue
            AND j.parked_at IS NOT NULL AND j.status = 'queued'
        ORDER BY j.enqueued_at LIMIT v_free FOR UPDATE SKIP LOCKED
    ), woken AS (
        UPDATE jobs SET parked_at = NULL, updated_at = now() FROM next
        WHERE jobs.id = next.id
        RETURNING jobs.id, jobs.business_id, jobs.queue_name, jobs.message
    ), reserved AS (
        INSERT INTO job_slots (job_id, business_id, queue_name, worker_id, taken_at)
        SELECT woken.id, woken.business_id, woken.queue_name, NULL, now() FROM woken
    )
    SELECT woken.id::text, woken.message FROM woken;
END
$$
"""

# Free the slots of finished executions; for each (business, queue) they belonged to, under
# its lock, publish its parked jobs again if it has any.
_RELEASE = f"""
CREATE OR REPLACE FUNCTION switchboard_release_slots(p_jobs text[], p_defaults jsonb)
RETURNS TABLE (woken_job text, woken_message text) LANGUAGE plpgsql AS $$
DECLARE
    v_businesses bigint[];
    v_queues text[];
BEGIN
    WITH gone AS (
        DELETE FROM job_slots WHERE job_id = ANY(p_jobs) RETURNING business_id, queue_name
    ), pairs AS (SELECT DISTINCT business_id, queue_name FROM gone)
    SELECT array_agg(business_id ORDER BY business_id, queue_name),
           array_agg(queue_name ORDER BY business_id, queue_name)
    INTO v_businesses, v_queues FROM pairs;
    FOR i IN 1 .. COALESCE(array_length(v_businesses, 1), 0) LOOP
        {_LOCK.format(queue="v_queues[i]", business="v_businesses[i]")};
        IF EXISTS (SELECT 1 FROM jobs j WHERE j.business_id = v_businesses[i]
                   AND j.queue_name = v_queues[i] AND j.parked_at IS NOT NULL
                   AND j.status = 'queued') THEN
            RETURN QUERY SELECT * FROM switchboard_wake_parked(v_businesses[i], v_queues[i],
                                                               p_defaults);
        END IF;
    END LOOP;
END
$$
"""

# Slots whose worker's heartbeat went stale (killed, out of memory), reservations never
# started and slots of finished jobs (a release that failed) are freed; then every
# (business, queue) with parked jobs gets its free slots. It runs on the worker's ledger
# connection, whose session settings suit the ledger's point lookups (no sequential, bitmap,
# hash or merge plans, generic plans: ``ledger_connections.py``); under them this function's
# scans took 0.5-0.8 s with 500 jobs in the table, on a queue's consumer thread once a second
# per worker (its deliveries waited that long). So it plans with the server's defaults.
PLANNER_DEFAULTS = (
    "SET enable_seqscan = on SET enable_bitmapscan = on SET enable_hashjoin = on "
    "SET enable_mergejoin = on SET plan_cache_mode = auto"
)
_SWEEP = f"""
CREATE OR REPLACE FUNCTION switchboard_sweep_slots(p_fresh_since timestamptz,
                                                   p_reserved_since timestamptz,
                                                   p_defaults jsonb)
RETURNS TABLE (woken_job text, woken_message text) LANGUAGE plpgsql {PLANNER_DEFAULTS} AS $$
DECLARE
    r record;
BEGIN
    WITH expired AS (
        DELETE FROM job_slots s WHERE s.worker_id IS NULL AND s.taken_at < p_reserved_since
        RETURNING s.job_id
    )
    UPDATE jobs SET parked_at = now() FROM expired
    WHERE jobs.id = expired.job_id AND jobs.status = 'queued' AND jobs.parked_at IS NULL;
    DELETE FROM job_slots s
    WHERE (s.worker_id IS NOT NULL AND NOT EXISTS (
            SELECT 1 FROM worker_heartbeats h
            WHERE h.id = s.worker_id AND h.beat_at > p_fresh_since))
       OR EXISTS (SELECT 1 FROM jobs j WHERE j.id = s.job_id
                  AND j.status IN ('succeeded', 'failed', 'dead', 'cancelled'));
    FOR r IN SELECT DISTINCT j.business_id, j.queue_name FROM jobs j
             WHERE j.parked_at IS NOT NULL AND j.status = 'queued'
             ORDER BY j.queue_name, j.business_id LOOP
        RETURN QUERY SELECT * FROM switchboard_wake_parked(r.business_id, r.queue_name,
                                                           p_defaults);
    END LOOP;
END
$$
"""

# The one SQL enqueue (0010: the WhatsApp webhook's, ``enqueue_many``'s batches) parks a job
# whose business already holds its limit of slots in the queue, or has jobs parked there (they
# go first), counting the batch's own earlier jobs in the queue: neither a flood of webhooks
# nor a batch of 500 is published whole. Parked jobs come back with no outbox row (NULL).
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
    WITH job AS (
        INSERT INTO jobs AS j (id, business_id, queue_name, actor_name, status, attempts,
            deliveries, failures, max_retries, run_id, dedup_key, dedup_window_key, message,
            enqueued_at, updated_at, parked_at)
        SELECT u.id, p_business_id, u.queue_name, u.actor_name, 'queued', 0, 0, 0,
               u.max_retries, u.run_id, u.dedup_key, u.dedup_window_key, u.message,
               p_now, p_now,
               CASE WHEN EXISTS (
                   SELECT 1 FROM jobs w WHERE w.queue_name = u.queue_name
                   AND w.business_id = p_business_id AND w.parked_at IS NOT NULL
                   AND w.status = 'queued')
               OR (SELECT count(*) FROM job_slots s WHERE s.business_id = p_business_id
                   AND s.queue_name = u.queue_name)
                  + row_number() OVER (PARTITION BY u.queue_name ORDER BY u.n)
                  > switchboard_slot_limit(p_business_id, u.queue_name, NULL)
               THEN p_now END
        FROM unnest(p_ids, p_queue_names, p_actor_names, p_max_retries, p_messages,
                    p_dedup_keys, p_dedup_window_keys, p_run_ids) WITH ORDINALITY
             AS u(id, queue_name, actor_name, max_retries, message, dedup_key,
                  dedup_window_key, run_id, n)
        ON CONFLICT DO NOTHING  -- a live job with the key, or the key's window, exists
        RETURNING j.id, j.queue_name, j.message, j.parked_at
    ), outbox_row AS (
        INSERT INTO outbox AS o (business_id, job_id, queue_name, payload, created_at)
        SELECT p_business_id, job.id, job.queue_name, job.message, p_now FROM job
        WHERE job.parked_at IS NULL
        RETURNING o.job_id, o.id, o.payload
    )
    SELECT job.id::text, outbox_row.id, outbox_row.payload
    FROM job LEFT JOIN outbox_row ON outbox_row.job_id = job.id;
END
$fn$
"""

_FUNCTIONS = {
    "switchboard_sweep_slots": "timestamptz, timestamptz, jsonb",
    "switchboard_release_slots": "text[], jsonb",
    "switchboard_wake_parked": "bigint, text, jsonb",
    "switchboard_take_slot": "text, bigint, text, text, jsonb, timestamptz, text",
    "switchboard_slot_limit": "bigint, text, jsonb",
}


def upgrade() -> None:
    op.create_table(
        "job_slots",
        sa.Column("job_id", sa.String(36), nullable=False),
        sa.Column("business_id", BIG_ID, nullable=False),
        sa.Column("queue_name", sa.String(64), nullable=False),
        sa.Column("worker_id", sa.String(120), nullable=True),
        sa.Column("taken_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("job_id", name=op.f("pk_job_slots")),
    )
    op.create_index("ix_job_slots_business_queue", "job_slots", ["business_id", "queue_name"])
    op.create_table(
        "job_limit_defaults",
        sa.Column("queue_name", sa.String(64), nullable=False),
        sa.Column("max_running", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("queue_name", name=op.f("pk_job_limit_defaults")),
    )
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("parked_at", sa.DateTime(timezone=True), nullable=True))
    op.create_index(
        "ix_jobs_parked",
        "jobs",
        ["queue_name", "business_id", "enqueued_at"],
        postgresql_where=_PARKED,
        sqlite_where=_PARKED,
    )
    with op.batch_alter_table("businesses") as batch:
        batch.add_column(sa.Column("job_concurrency", sa.JSON(), nullable=True))
    if op.get_bind().dialect.name == "postgresql":
        role = get_settings().db_app_role
        for statement in secure_new_table_sql("job_slots", role):
            op.execute(statement)
        op.execute(f"GRANT SELECT ON job_limit_defaults TO {role}")
        for sql in (_LIMIT, _TAKE, _WAKE, _RELEASE, _SWEEP, CREATE_ENQUEUE):
            op.execute(sql)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for name, args in _FUNCTIONS.items():
            op.execute(f"DROP FUNCTION IF EXISTS {name}({args})")
        previous = importlib.import_module(
            "switchboard.common.migrations.versions.0010_one_job_insert"
        )
        op.execute(previous.CREATE_ENQUEUE)
    with op.batch_alter_table("businesses") as batch:
        batch.drop_column("job_concurrency")
    op.drop_index("ix_jobs_parked", table_name="jobs")
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("parked_at")
    op.drop_table("job_limit_defaults")
    op.drop_index("ix_job_slots_business_queue", table_name="job_slots")
    op.drop_table("job_slots")
