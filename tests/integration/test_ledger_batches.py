"""The ledger's coalesced batches on PostgreSQL: many threads' marks, few statements."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import psycopg
import pytest
from sqlalchemy import select

from switchboard.common.db import tenant_session
from switchboard.common.jobs import enqueue
from switchboard.common.models import Job
from switchboard.common.settings import Settings
from switchboard.worker.runtime import ledger, ledger_connections
from switchboard.worker.runtime.coalesce import Pending
from tests.support.actors import NOOP
from tests.support.factories import make_business

pytestmark = pytest.mark.integration


def _queued_jobs(business_id: int, n: int) -> list[str]:
    with tenant_session(business_id):
        return [enqueue(NOOP, business_id=business_id).job_id for _ in range(n)]


def _rows(business_id: int) -> dict[str, Job]:
    with tenant_session(business_id) as session:
        return {job.id: job for job in session.execute(select(Job)).scalars()}


def test_sixteen_threads_starting_and_finishing_jobs_leave_each_succeeded_once(
    pg: Settings,
) -> None:
    business = make_business()
    ids = _queued_jobs(business.id, 200)

    def run(job_id: str) -> tuple[str, int] | None:
        started = ledger.mark_started(job_id, max_unfinished=3)
        ledger.mark_succeeded(job_id)
        return (started.status, started.attempts) if started else None

    with ThreadPoolExecutor(16) as pool:  # the worker's threads, here from the test itself
        outcomes = list(pool.map(run, ids))

    assert outcomes == [("running", 1)] * len(ids)
    rows = _rows(business.id)
    assert {(job.status, job.attempts, job.deliveries) for job in rows.values()} == {
        ("succeeded", 1, 1)
    }


def test_a_batch_delivering_one_job_twice_starts_it_once(pg: Settings) -> None:
    business = make_business()
    twice, once = _queued_jobs(business.id, 2)
    params = {"now": ledger.utcnow(), "worker": "host:1"}
    batch = [Pending("start", {**params, "id": job_id}) for job_id in (twice, twice, once)]

    ledger._run_starts(batch)

    assert [item.result is not None for item in batch] == [True, False, True]
    rows = _rows(business.id)
    assert (rows[twice].status, rows[twice].deliveries) == ("running", 1)
    assert (rows[once].status, rows[once].deliveries) == ("running", 1)


def test_a_success_mark_held_up_by_a_row_lock_gives_up_and_is_written_once_it_is_free(
    pg: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The consumer thread that writes success marks must not wait on PostgreSQL for ever:
    # its AMQP connection's heartbeats wait with it.
    monkeypatch.setattr(ledger_connections, "STATEMENT_TIMEOUT_MS", 300)
    ledger.close_connections()  # the next ones connect with the shorter timeout
    business = make_business()
    [job_id] = _queued_jobs(business.id, 1)
    assert ledger.mark_started(job_id, max_unfinished=3) is not None
    outcome = ledger.success_outcome(job_id)
    try:
        with psycopg.connect(pg.database_url.replace("+psycopg", "")) as locker:
            locker.execute("SELECT 1 FROM jobs WHERE id = %s FOR UPDATE", [job_id])
            with pytest.raises(psycopg.errors.QueryCanceled):
                ledger.mark_succeeded_many([outcome])
        ledger.mark_succeeded_many([outcome])  # the lock is gone with its transaction
    finally:
        ledger.close_connections()
    assert _rows(business.id)[job_id].status == "succeeded"
