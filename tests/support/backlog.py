"""A business's backlog written straight into the job ledger (thousands of rows at once), and
the SQL enqueue's arguments for a batch: for the tests and the bench that measure what a
backlog costs (``tests/integration/test_parked_backlog_reads.py``, ``bench/parked_backlog.py``)."""

from __future__ import annotations

import uuid

import psycopg

#: ``n`` jobs of a business in its ``whatsapp`` queue: parked when ``status`` is ``queued``.
_JOBS = """
    INSERT INTO jobs (id, business_id, queue_name, actor_name, status, attempts, deliveries,
        failures, max_retries, cancel_requested, message, enqueued_at, updated_at, parked_at)
    SELECT gen_random_uuid()::text, %(business)s, 'whatsapp', 'process_whatsapp_webhook_job',
        %(status)s::text, 0, 0, 0, 3, false, '{}', now(), now(),
        CASE WHEN %(status)s::text = 'queued' THEN now() END
    FROM generate_series(1, %(n)s)
"""


def add_jobs(
    conn: psycopg.Connection[tuple[object, ...]], business_id: int, n: int, status: str = "queued"
) -> None:
    """Write ``n`` jobs of the business in ``status`` (``queued``: parked, as fair share parks a
    flood's)."""
    conn.execute(_JOBS, {"business": business_id, "status": status, "n": n})


def enqueue_args(business_id: int, n: int) -> tuple[object, ...]:
    """``switchboard_enqueue_jobs``'s first arguments after ``p_now`` for ``n`` new WhatsApp
    reply jobs: business, ids, queues, actors, retries, messages."""
    return (
        business_id,
        [str(uuid.uuid4()) for _ in range(n)],
        ["whatsapp"] * n,
        ["process_whatsapp_webhook_job"] * n,
        [3] * n,
        ["{}"] * n,
    )
