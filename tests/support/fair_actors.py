"""Actors for the fair-share tests; the worker subprocess imports this module.

Each run appends ``start``/``end`` lines (monotonic-free wall time, the business, the job) to a
log file, so the test can read the order of starts and how many of a business's jobs ran at
once across worker processes.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from switchboard.common.jobs import current_job
from switchboard.common.jobs.actor import job_actor
from switchboard.common.jobs.catalog import ActorSpec

SPAN = ActorSpec("test_fair_span_job", "test_fair", timeout_s=120, max_retries=3)
HOLD_UNTIL_KILLED = ActorSpec("test_fair_hold_job", "test_fair", timeout_s=120, max_retries=3)
FAIL_ONCE = ActorSpec("test_fair_fail_once_job", "test_fair", timeout_s=120, max_retries=3)


def _log(log: str, event: str, business_id: int) -> None:
    job = current_job()
    line = f"{time.time():.6f} {event} {business_id} {job.job_id if job else '-'} {os.getpid()}\n"
    with Path(log).open("a") as out:  # one short append: atomic across processes
        out.write(line)


@job_actor(SPAN)
def test_fair_span_job(*, business_id: int, log: str, seconds: float) -> None:
    _log(log, "start", business_id)
    time.sleep(seconds)
    _log(log, "end", business_id)


@job_actor(HOLD_UNTIL_KILLED)
def test_fair_hold_job(*, business_id: int, log: str, marker: str) -> None:
    """The first run holds its worker until the test SIGKILLs it; the next one ends."""
    _log(log, "start", business_id)
    path = Path(marker)
    if not path.exists():
        path.write_text(str(os.getpid()))
        time.sleep(120)
        raise AssertionError("the worker should have been killed")
    _log(log, "end", business_id)


@job_actor(FAIL_ONCE)
def test_fair_fail_once_job(*, business_id: int, log: str, marker: str) -> None:
    """The first run fails (its retry follows); the next one succeeds. Both log their end."""
    _log(log, "start", business_id)
    path = Path(marker)
    try:
        if not path.exists():
            path.write_text(str(os.getpid()))
            raise RuntimeError("the first run fails")
    finally:
        _log(log, "end", business_id)


def events(log: Path) -> list[tuple[float, str, int, str]]:
    """The log's lines, in time order: (time, start|end, business id, job id)."""
    if not log.exists():
        return []
    rows = []
    for line in log.read_text().splitlines():
        at, event, business, job, _pid = line.split()
        rows.append((float(at), event, int(business), job))
    return sorted(rows)


def most_at_once(log: Path, business_id: int) -> int:
    """The most jobs of ``business_id`` that ran at the same time."""
    running = most = 0
    for _, event, business, _ in events(log):
        if business != business_id:
            continue
        running += 1 if event == "start" else -1
        most = max(most, running)
    return most
