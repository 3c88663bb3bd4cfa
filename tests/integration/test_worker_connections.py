"""A worker process's PostgreSQL connections are bounded by its threads, through bursts.

docs/operations.md ("PostgreSQL connections"): per worker process at most ``2 × threads + 8``:
the ledger's single statements ``threads + SPARE``, its four batch connections (starts,
successes, fair share's releases and sweeps), SQLAlchemy's pool ``threads + POOL_SPARE``.
Before, each thread (a consumer's too: one per queue) opened ledger connections of its own and
the pool was the API's, 40 + 10: a default worker held 72 after a burst.
"""

from __future__ import annotations

import time
from pathlib import Path

import psutil
import pytest

from switchboard.common.db.engine import POOL_SPARE
from switchboard.worker.runtime.ledger_connections import SPARE
from tests.support.actors import COUNT_RUNS
from tests.support.database import on_own_connection
from tests.support.factories import make_business
from tests.support.waiting import wait_for

pytestmark = pytest.mark.integration

PROCESSES, THREADS = 2, 4
BATCH_CONNECTIONS = 4
PER_PROCESS = (THREADS + SPARE) + BATCH_CONNECTIONS + (THREADS + POOL_SPARE)


def _connections(pid: int) -> int:
    """The test database's sessions opened by the worker's processes (``pg_stat_activity``)."""
    ports: list[int] = []
    for process in [psutil.Process(pid), *psutil.Process(pid).children(recursive=True)]:
        try:
            ports += [c.laddr.port for c in process.net_connections("tcp") if c.raddr]
        except psutil.NoSuchProcess:
            continue
    rows = on_own_connection(
        "SELECT count(*) FROM pg_stat_activity "
        "WHERE datname = current_database() AND client_port = ANY(%(ports)s)",
        {"ports": ports},
    )
    return int(rows[0][0])


def test_a_worker_s_connections_stay_within_its_threads_bound_through_bursts(
    pg_rabbit, start_worker, tmp_path: Path
) -> None:
    from switchboard.common.jobs import enqueue

    business = make_business()
    marker = tmp_path / "runs"
    worker = start_worker(processes=PROCESSES, threads=THREADS)  # every queue: many consumers
    bound = PROCESSES * PER_PROCESS + 1  # and the status server's, if it serves
    seen: list[int] = []
    total = 0
    for _burst in range(2):
        for _ in range(150):
            enqueue(COUNT_RUNS, business_id=business.id, marker=str(marker))
        total += 150
        deadline = time.monotonic() + 6  # the burst, then idle turns: every consumer beats
        while time.monotonic() < deadline:
            seen.append(_connections(worker.proc.pid))
            time.sleep(0.2)  # sampling, not waiting for a condition
        wait_for(
            lambda: marker.exists() and len(marker.read_text().split()) >= total,  # noqa: B023
            timeout=60,
            what="the burst to run",
        )
    assert max(seen) <= bound, f"{max(seen)} connections, bound {bound}: {seen}"
    assert len(marker.read_text().split()) == total
