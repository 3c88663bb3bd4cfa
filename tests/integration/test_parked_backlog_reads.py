"""Jobs are found by index probes, never read whole (migration 0024): the SQL enqueue and the
fair-share sweep read as many rows of ``jobs`` with a backlog of 2,000 parked jobs and 1,000
finished ones as with 20 and 10. Before, a flooding business's every webhook batch read its
whole backlog (a hashed ``EXISTS``), and so did every worker's sweep, once a second."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest

from switchboard.common.settings import Settings
from tests.support.backlog import add_jobs, enqueue_args
from tests.support.factories import make_business

pytestmark = pytest.mark.integration

#: A reservation that expired, a slot of a worker without a heartbeat, a finished job's slot.
_SLOTS = """
    INSERT INTO job_slots (job_id, business_id, queue_name, worker_id, taken_at)
    SELECT id, business_id, queue_name, worker, now() - interval '1 hour'
    FROM (SELECT id, business_id, queue_name, row_number() OVER (ORDER BY status, id) AS n
          FROM jobs) AS j
    JOIN (VALUES (1, NULL), (2, 'gone:1'), (11, 'gone:2')) AS w(n, worker) USING (n)
"""
#: Rows of ``jobs`` this transaction read: scanned, or read from any of its indexes.
_READ = """
    SELECT (SELECT COALESCE(sum(seq_tup_read), 0) FROM pg_stat_xact_user_tables
            WHERE relname = 'jobs')
         + (SELECT COALESCE(sum(pg_stat_get_xact_tuples_returned(indexrelid)), 0)
            FROM pg_index WHERE indrelid = 'jobs'::regclass)
"""
_ENQUEUE = """
    SELECT count(*), count(out_outbox_id) FROM switchboard_enqueue_jobs(
        %s, now(), %s, %s, %s, %s, %s)
"""
_SWEEP = "SELECT count(*) FROM switchboard_sweep_slots(now(), now(), '{}')"


@pytest.fixture
def dsn(new_database: Settings) -> Iterator[str]:
    yield new_database.database_url.replace("postgresql+psycopg://", "postgresql://")


def _rows_read(dsn: str, sql: str, params: tuple[object, ...] = ()) -> tuple[object, int]:
    """Run ``sql`` in a transaction of its own, rolled back: its row, and the rows of ``jobs``
    it read."""
    with psycopg.connect(dsn) as conn:
        row = conn.execute(sql, params).fetchone()
        (read,) = conn.execute(_READ).fetchone() or (0,)
        conn.rollback()
    return row, int(read)


def test_the_sql_enqueue_and_the_sweep_read_no_more_with_a_bigger_backlog(dsn: str) -> None:
    business = make_business()
    with psycopg.connect(dsn, autocommit=True) as admin:
        add_jobs(admin, business.id, 20)
        add_jobs(admin, business.id, 10, "succeeded")
        admin.execute(_SLOTS)
        small = _rows_read(dsn, _ENQUEUE, enqueue_args(business.id, 10)), _rows_read(dsn, _SWEEP)
        add_jobs(admin, business.id, 1980)
        add_jobs(admin, business.id, 1000, "succeeded")
        large = _rows_read(dsn, _ENQUEUE, enqueue_args(business.id, 10)), _rows_read(dsn, _SWEEP)

    (enqueued, enqueue_read), (swept, sweep_read) = large
    assert enqueued == (10, 0), "parked behind the business's parked jobs, no outbox row"
    assert swept == (0,), "no limits are set: nothing to wake"
    assert enqueue_read == small[0][1], f"the enqueue read {enqueue_read} rows of jobs"
    assert sweep_read == small[1][1], f"the sweep read {sweep_read} rows of jobs"
    assert enqueue_read <= 10 and sweep_read <= 10
