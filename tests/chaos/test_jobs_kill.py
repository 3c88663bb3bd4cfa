"""Chaos (1): N jobs while the worker is SIGKILLed → none lost, none applied twice."""

from __future__ import annotations

import collections
import time

import pytest

from tests.chaos.effects import applied_count, count_effects, enqueue_effects, ledger_of
from tests.chaos.stack import Stack, scale
from tests.support.factories import make_business

JOBS = scale(1_000, 10_000)
KILLS = scale(1, 3)


@pytest.mark.timeout(scale(180, 900))
def test_jobs_survive_worker_kills(stack: Stack, report) -> None:
    business = make_business()
    worker = stack.supervised_worker("chaos", processes=scale(1, 2))
    job_ids = enqueue_effects(business.id, JOBS)
    # Kill points spread over the drain: after 1/(k+1), 2/(k+1), … of the jobs are applied.
    marks = [JOBS * (k + 1) // (KILLS + 1) for k in range(KILLS)]
    deadline = time.monotonic() + scale(150, 800)
    while worker.kills < KILLS and time.monotonic() < deadline:
        if applied_count(stack, business.id) >= marks[worker.kills]:
            worker.kill()
        time.sleep(0.02)
    stack.wait_settled(business.id, timeout=scale(120, 600))

    effects = count_effects(stack, job_ids)
    ledger = ledger_of(stack, job_ids)
    statuses = collections.Counter(status for status, _, _ in ledger.values())
    report(
        "jobs-kill",
        f"{JOBS} enqueued, {worker.kills} kills, {effects.lost} lost, {effects.twice} applied twice"
        f" ({effects.applied} applied; {effects.reruns} ran again"
        f" after their effect was recorded; ledger {dict(statuses)}; other worker exits"
        f" {worker.exits})",
    )
    assert (worker.kills, worker.exits) == (KILLS, 0)
    assert effects.lost == 0
    assert effects.twice == 0
    assert statuses == {"succeeded": JOBS}
