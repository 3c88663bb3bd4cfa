"""The console's ledger queries on PostgreSQL, as the application role under row-level
security: the per-minute buckets and latencies (written once for both databases), the queue
figures, the workers and discarding a job."""

from __future__ import annotations

import pytest

from switchboard.common.jobs.service import JobNotFoundError, get_job
from switchboard.common.settings import Settings
from switchboard.domain.operations import discard_job, job_series, queue_rows, worker_rows
from tests.support.factories import make_business
from tests.support.ledger_rows import heartbeat, job_in, running_on

pytestmark = pytest.mark.integration


def test_the_console_s_figures_agree_on_postgres(pg: Settings) -> None:
    business, other = make_business(), make_business()
    for status in ("succeeded", "failed", "dead"):
        job_in(business.id, status, ago_s=90, waited_s=4)
    job_in(other.id, "dead", ago_s=90)
    heartbeat("pg-host:7")
    running = running_on(business.id, "pg-host:7")

    series = job_series(business.id)
    assert {name: sum(counts) for name, counts in series.finished.items()} == {
        "succeeded": 1,
        "failed": 1,
        "dead": 1,
    }
    longest = [w for w in series.latency_max_s if w is not None]
    assert max(longest) == pytest.approx(4, abs=0.01)  # the running job waited 2 s

    test_jobs = {row.queue: row for row in queue_rows(business.id)}["test_jobs"]
    assert (test_jobs.running, test_jobs.rate_per_min, test_jobs.failed) == (1, 0.6, 2)

    workers = {row.id: row for row in worker_rows(business.id)}
    assert [job.id for job in workers["pg-host:7"].jobs] == [running]


def test_discarding_removes_only_a_finished_job_of_the_business(pg: Settings) -> None:
    business = make_business()
    dead = job_in(business.id, "dead")
    discard_job(business.id, dead)
    with pytest.raises(JobNotFoundError):
        get_job(business.id, dead)
